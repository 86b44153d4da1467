//! Content hashing for stage keys: SHA-256 of canonical JSON and of files and directories.
//!
//! File contents are hashed once and remembered by (path, size, modification time) in
//! `<run>/.cache/file-hashes.json`, so re-planning a study does not re-read model weights or a
//! corpus that has not changed.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256 of the canonical (key-sorted, compact) JSON of `value`.
pub fn hash_json(value: &serde_json::Value) -> String {
    sha256_hex(canonical(value).as_bytes())
}

/// Compact JSON with object keys sorted at every level.
pub fn canonical(value: &serde_json::Value) -> String {
    fn sort(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let sorted: BTreeMap<&String, serde_json::Value> =
                    m.iter().map(|(k, v)| (k, sort(v))).collect();
                serde_json::Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    sort(value).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    size: u64,
    mtime_ns: u128,
    sha256: String,
}

/// Remembered file hashes, keyed by absolute path.
#[derive(Debug, Default)]
pub struct HashCache {
    path: Option<PathBuf>,
    entries: BTreeMap<PathBuf, Entry>,
    dirty: bool,
}

impl HashCache {
    /// Loads the cache stored at `path` (an unreadable or missing file starts empty).
    pub fn open(path: &Path) -> Self {
        let entries = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashCache {
            path: Some(path.to_path_buf()),
            entries,
            dirty: false,
        }
    }

    /// A cache that is never written.
    #[cfg(test)]
    pub fn in_memory() -> Self {
        HashCache::default()
    }

    /// Writes the cache back if it changed (atomically).
    pub fn save(&mut self) -> Result<()> {
        if let (true, Some(path)) = (self.dirty, &self.path) {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            tunescope_data::fs::write_atomic(path, &serde_json::to_vec_pretty(&self.entries)?)?;
            self.dirty = false;
        }
        Ok(())
    }

    /// SHA-256 of one file's contents (from the cache when size and mtime are unchanged).
    pub fn file(&mut self, path: &Path) -> Result<String> {
        let abs = std::path::absolute(path)
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        let meta =
            std::fs::metadata(&abs).with_context(|| format!("cannot read {}", path.display()))?;
        let size = meta.len();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        if let Some(e) = self.entries.get(&abs) {
            if e.size == size && e.mtime_ns == mtime_ns {
                return Ok(e.sha256.clone());
            }
        }
        let mut f =
            std::fs::File::open(&abs).with_context(|| format!("cannot open {}", path.display()))?;
        let mut h = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
        let sha256 = hex(&h.finalize());
        self.entries.insert(
            abs,
            Entry {
                size,
                mtime_ns,
                sha256: sha256.clone(),
            },
        );
        self.dirty = true;
        Ok(sha256)
    }

    /// SHA-256 of a file, or of a directory tree (sorted relative paths and their file hashes;
    /// hidden entries are skipped).
    pub fn path(&mut self, path: &Path) -> Result<String> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_dir() {
            return self.file(path);
        }
        let mut files = Vec::new();
        walk(path, path, &mut files)?;
        files.sort();
        let mut listing = String::new();
        for rel in files {
            let h = self.file(&path.join(&rel))?;
            listing.push_str(&format!("{h}  {}\n", rel.display()));
        }
        Ok(sha256_hex(listing.as_bytes()))
    }
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let p = entry.path();
        if std::fs::metadata(&p)?.is_dir() {
            walk(root, &p, out)?;
        } else {
            out.push(p.strip_prefix(root).expect("under root").to_path_buf());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_ignores_key_order() {
        let a = serde_json::json!({"b": 1, "a": {"y": [1, 2], "x": null}});
        let b = serde_json::json!({"a": {"x": null, "y": [1, 2]}, "b": 1});
        assert_eq!(hash_json(&a), hash_json(&b));
        assert_ne!(hash_json(&a), hash_json(&serde_json::json!({"b": 2})));
        assert_eq!(canonical(&b), r#"{"a":{"x":null,"y":[1,2]},"b":1}"#);
    }

    #[test]
    fn directory_hash_follows_contents_and_names() {
        let d = std::env::temp_dir().join(format!("tunescope-hash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("sub")).unwrap();
        std::fs::write(d.join("a.txt"), "one").unwrap();
        std::fs::write(d.join("sub/b.txt"), "two").unwrap();
        let mut cache = HashCache::in_memory();
        let h1 = cache.path(&d).unwrap();
        assert_eq!(cache.path(&d).unwrap(), h1);
        assert_eq!(
            cache.file(&d.join("a.txt")).unwrap(),
            sha256_hex(b"one"),
            "file hash is the plain SHA-256"
        );
        std::fs::write(d.join("sub/b.txt"), "twO").unwrap();
        let h2 = HashCache::in_memory().path(&d).unwrap();
        assert_ne!(h1, h2);
        std::fs::rename(d.join("a.txt"), d.join("c.txt")).unwrap();
        assert_ne!(HashCache::in_memory().path(&d).unwrap(), h2);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
