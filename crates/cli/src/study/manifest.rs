//! `manifest.json`: what a run directory holds — the resolved config, and for every stage its
//! key (content hash of its inputs), status, outputs and time — rewritten atomically after every
//! stage.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tunescope_data::fs::write_atomic;

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
        Ok(write_atomic(path, &bytes)?)
    }
}
