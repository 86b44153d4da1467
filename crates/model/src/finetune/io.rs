//! Atomic file and directory writes, and the `train_log.jsonl` writer.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// Writes `bytes` to `path` through a temporary file and a rename, so readers see the old file
/// or the whole new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = sibling(path, ".tmp");
    let mut f =
        fs::File::create(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

/// Fills a fresh temporary directory with `fill`, then puts it at `dir` (replacing an older one),
/// so `dir` is never seen half-written. A leftover `<dir>.old` from an interrupted swap is
/// what [`recover_dir`] restores.
pub fn write_dir_atomic(dir: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tmp = sibling(dir, ".tmp");
    let old = sibling(dir, ".old");
    if tmp.exists() {
        fs::remove_dir_all(&tmp).with_context(|| format!("cannot remove {}", tmp.display()))?;
    }
    fs::create_dir_all(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    fill(&tmp)?;
    if dir.exists() {
        if old.exists() {
            fs::remove_dir_all(&old)?;
        }
        fs::rename(dir, &old).with_context(|| format!("cannot move {} aside", dir.display()))?;
    }
    fs::rename(&tmp, dir)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), dir.display()))?;
    if old.exists() {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

/// Restores `dir` from `<dir>.old` when a replacement was interrupted between its two renames.
pub fn recover_dir(dir: &Path) -> Result<()> {
    let old = sibling(dir, ".old");
    if !dir.exists() && old.exists() {
        fs::rename(&old, dir).with_context(|| format!("cannot restore {}", dir.display()))?;
    }
    Ok(())
}

/// Appends one JSON record per line to `train_log.jsonl`, flushed after every record.
pub struct JsonLog {
    file: fs::File,
}

impl JsonLog {
    /// Opens `path` for appending, first dropping records whose `"update"` is above
    /// `keep_through` (those a resumed run will redo); `None` starts an empty log.
    pub fn open(path: &Path, keep_through: Option<u64>) -> Result<Self> {
        let kept = match (keep_through, path.exists()) {
            (Some(limit), true) => {
                let f = fs::File::open(path)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                let mut kept = String::new();
                for line in BufReader::new(f).lines() {
                    let line = line?;
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                        continue;
                    };
                    if v.get("update")
                        .and_then(|u| u.as_u64())
                        .is_some_and(|u| u <= limit)
                    {
                        kept.push_str(&line);
                        kept.push('\n');
                    }
                }
                kept
            }
            _ => String::new(),
        };
        write_atomic(path, kept.as_bytes())?;
        let file = fs::OpenOptions::new()
            .append(true)
            .open(path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(JsonLog { file })
    }

    /// Appends `record` as one line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> Result<()> {
        let mut line = serde_json::to_vec(record)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tunescope-ft-io-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn log_resume_keeps_only_records_up_to_the_checkpoint() {
        let d = scratch("log");
        let p = d.join("train_log.jsonl");
        let mut log = JsonLog::open(&p, None).unwrap();
        for u in 1..=5u64 {
            log.write(&serde_json::json!({"update": u})).unwrap();
        }
        drop(log);
        let mut log = JsonLog::open(&p, Some(3)).unwrap();
        log.write(&serde_json::json!({"update": 4, "again": true}))
            .unwrap();
        let text = fs::read_to_string(&p).unwrap();
        assert_eq!(
            text,
            "{\"update\":1}\n{\"update\":2}\n{\"update\":3}\n{\"again\":true,\"update\":4}\n"
        );
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn dir_replacement_is_whole_or_nothing() {
        let d = scratch("dir");
        let target = d.join("state");
        write_dir_atomic(&target, |t| Ok(fs::write(t.join("a"), "1")?)).unwrap();
        let err = write_dir_atomic(&target, |t| {
            fs::write(t.join("a"), "2")?;
            anyhow::bail!("interrupted")
        });
        assert!(err.is_err());
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "1");
        write_dir_atomic(&target, |t| Ok(fs::write(t.join("a"), "3")?)).unwrap();
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "3");
        fs::rename(&target, d.join("state.old")).unwrap();
        recover_dir(&target).unwrap();
        assert_eq!(fs::read_to_string(target.join("a")).unwrap(), "3");
        fs::remove_dir_all(d).unwrap();
    }
}
