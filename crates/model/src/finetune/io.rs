//! The `train_log.jsonl` writer (atomic writes are `tunescope_data::fs`).

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;

use tunescope_data::fs::write_atomic;

use anyhow::{Context, Result};
use serde::Serialize;

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
    use std::path::PathBuf;

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
}
