//! The shared, content-addressed stage cache (`study.cache`): `<cache>/<stage key>/` holds a
//! finished stage's outputs (`files/`, same relative paths as in a run directory) and its
//! manifest record (`record.json`). Studies with the same stage key — e.g. the seeds of one
//! model × task in a grid — compute the stage once and link the result into their run
//! directories.
//!
//! Only stages whose outputs do not depend on fine-tuning are shared (data, and the pre-trained
//! encoder's extraction, probes and DirectProbe): those are the ones grid cells have in common.
//! Entries appear by an atomic rename, so concurrent jobs never see half an entry; when two
//! jobs finish the same stage, the first rename wins and the other copy is dropped.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::manifest::StageRecord;
use super::plan::{Kind, Planned};
use tunescope_data::fs::write_atomic;
use tunescope_data::rundir::ModelRef;

/// Whether `stage`'s result is shared through the cache.
pub fn shareable(stage: &Planned) -> bool {
    match &stage.kind {
        Kind::Data(_) => true,
        Kind::Extract(m, _) | Kind::Probe(m, _) | Kind::Mdl(m, _) | Kind::DirectProbe(m, _) => {
            *m == ModelRef::Pretrained
        }
        _ => false,
    }
}

fn entry(cache: &Path, key: &str) -> PathBuf {
    cache.join(key)
}

/// Links (or copies) `src` — a file or a directory tree — to `dst`.
fn link_tree(src: &Path, dst: &Path) -> Result<()> {
    if src.is_dir() {
        std::fs::create_dir_all(dst).with_context(|| format!("cannot create {}", dst.display()))?;
        for e in std::fs::read_dir(src).with_context(|| format!("cannot list {}", src.display()))? {
            let e = e?;
            link_tree(&e.path(), &dst.join(e.file_name()))?;
        }
        Ok(())
    } else {
        // Outputs are only ever replaced by rename, never rewritten in place, so a hard link
        // is as safe as a copy; fall back to copying across file systems.
        std::fs::hard_link(src, dst)
            .or_else(|_| std::fs::copy(src, dst).map(|_| ()))
            .with_context(|| format!("cannot copy {} to {}", src.display(), dst.display()))
    }
}

fn remove_any(p: &Path) -> Result<()> {
    if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else if p.exists() {
        std::fs::remove_file(p)
    } else {
        Ok(())
    }
    .with_context(|| format!("cannot remove {}", p.display()))
}

/// Puts a cached result of `stage` into the run directory `out`; returns its record, or
/// `None` when the cache has no entry for the stage's key.
pub fn restore(cache: &Path, stage: &Planned, out: &Path) -> Result<Option<StageRecord>> {
    let dir = entry(cache, &stage.key);
    let rp = dir.join("record.json");
    if !rp.is_file() {
        return Ok(None);
    }
    let record: StageRecord = serde_json::from_slice(
        &std::fs::read(&rp).with_context(|| format!("cannot read {}", rp.display()))?,
    )
    .with_context(|| format!("{} is not a stage record", rp.display()))?;
    for o in &stage.outputs {
        let src = dir.join("files").join(o);
        let dst = out.join(o);
        let tmp = dst.with_file_name(format!(
            ".{}.from-cache-{}",
            dst.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        remove_any(&tmp)?;
        link_tree(&src, &tmp)?;
        remove_any(&dst)?;
        std::fs::rename(&tmp, &dst)
            .with_context(|| format!("cannot move {} to {}", tmp.display(), dst.display()))?;
    }
    Ok(Some(record))
}

/// Stores a finished stage's outputs and record under its key (no-op when already there).
pub fn store(cache: &Path, stage: &Planned, out: &Path, record: &StageRecord) -> Result<()> {
    let dir = entry(cache, &stage.key);
    if dir.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let tmp = cache.join(format!(".{}.tmp-{}", stage.key, std::process::id()));
    remove_any(&tmp)?;
    for o in &stage.outputs {
        let dst = tmp.join("files").join(o);
        if let Some(parent) = dst.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        link_tree(&out.join(o), &dst)?;
    }
    write_atomic(
        &tmp.join("record.json"),
        &serde_json::to_vec_pretty(record)?,
    )?;
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another job stored the same key first; its entry is equivalent.
        remove_any(&tmp)?;
    }
    Ok(())
}
