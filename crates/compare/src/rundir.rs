//! Names inside a run directory that the study's stages share: the representation sources
//! (`ModelRef`), the fine-tuning checkpoints and the replicates' directories.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

/// A representation source: the pre-trained encoder, the fine-tuned one, or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `model.path`.
    Pretrained,
    /// `models/finetuned/`.
    Finetuned,
    /// `models/ckpt-<update>/`.
    Checkpoint(u64),
}

impl ModelRef {
    /// Directory name under `reps/`, `probe/`, `directprobe/`.
    pub fn name(&self) -> String {
        match self {
            ModelRef::Pretrained => "pretrained".into(),
            ModelRef::Finetuned => "finetuned".into(),
            ModelRef::Checkpoint(u) => format!("ckpt-{u}"),
        }
    }

    /// The encoder directory, for the run directory `out`.
    pub fn dir(&self, out: &Path, pretrained: &Path) -> PathBuf {
        match self {
            ModelRef::Pretrained => pretrained.to_path_buf(),
            ModelRef::Finetuned => out.join("models/finetuned"),
            ModelRef::Checkpoint(u) => out.join(format!("models/ckpt-{u}")),
        }
    }
}

/// Checkpoints written by the fine-tuning stage into `out`, ascending by update.
pub fn checkpoints(out: &Path) -> Result<Vec<u64>> {
    let dir = out.join("models");
    let mut v = Vec::new();
    if dir.is_dir() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(u) = name.strip_prefix("ckpt-").and_then(|u| u.parse().ok()) {
                v.push(u);
            }
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Run directory of fine-tuning replicate `seed` (`seeds/seed-<seed>/`).
pub fn replicate_dir(main: &Path, seed: u64) -> PathBuf {
    main.join("seeds").join(format!("seed-{seed}"))
}

/// Run directory of cross-task entry `name` (`cross/<name>/`).
pub fn cross_dir(main: &Path, name: &str) -> PathBuf {
    main.join("cross").join(name)
}

/// Reads a JSON file written by an earlier stage; `Ok(None)` when it does not exist.
pub fn read_json<T: DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let t =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", p.display()))?;
    Ok(Some(t))
}

/// [`read_json`] of a file that must exist.
pub fn read_required<T: DeserializeOwned>(p: &Path) -> Result<T> {
    read_json(p)?.with_context(|| format!("cannot read {}: it does not exist", p.display()))
}
