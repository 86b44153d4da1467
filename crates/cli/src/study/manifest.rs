//! `manifest.json`: what a run directory holds — the resolved config, and for every stage its
//! key (content hash of its inputs), status, outputs and time — rewritten atomically after every
//! stage.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Version of the manifest layout.
pub const MANIFEST_VERSION: u32 = 1;

/// Whether a stage finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Started and not finished (interrupted).
    Running,
    /// Stopped with an error (in the record's `error`).
    Failed,
    /// Finished; its outputs are complete.
    Done,
}

/// One stage's record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageRecord {
    /// Hash of the stage's declared inputs.
    pub key: String,
    /// Running or done.
    pub status: Status,
    /// The declared inputs the key was computed from (settings and upstream keys).
    pub inputs: serde_json::Value,
    /// Output paths, relative to the run directory.
    pub outputs: Vec<String>,
    /// Wall time of the last run, in seconds.
    pub seconds: f64,
    /// A short result summary (stage specific).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub summary: serde_json::Value,
    /// Why the stage failed (status `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version.
    pub manifest_version: u32,
    /// `tunescope`.
    pub tool: String,
    /// Versions of the tool and of the workspace crates that ran the study.
    pub versions: BTreeMap<String, String>,
    /// Study name.
    pub study: String,
    /// The resolved configuration.
    pub config: serde_json::Value,
    /// Seeds in effect (data split, fine-tuning, probes).
    pub seeds: serde_json::Value,
    /// Stage records by stage id, e.g. `probe/finetuned/layer-6`.
    pub stages: BTreeMap<String, StageRecord>,
}

impl Manifest {
    /// Reads `path`; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<Manifest>> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let m: Manifest = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a tunescope manifest; remove it or choose another study.out",
                path.display()
            )
        })?;
        if m.manifest_version != MANIFEST_VERSION {
            bail!(
                "{} has manifest version {}, this tunescope writes {MANIFEST_VERSION}",
                path.display(),
                m.manifest_version
            );
        }
        Ok(Some(m))
    }

    /// Writes the manifest atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        let mut bytes = serde_json::to_vec_pretty(self)?;
        bytes.push(b'\n');
        write_atomic(path, &bytes)
    }
}

/// Writes `bytes` to `path` through a temporary sibling and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let result = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
