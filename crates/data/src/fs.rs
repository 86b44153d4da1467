//! Atomic file writes and directory swaps: the one implementation every crate uses, so readers
//! (and a resumed run) see an old file or the whole new one, never a half-written one.
//!
//! Temporary names follow one pattern, `.NAME.tmp-<pid>` beside the target, which is what the
//! commands' `--out` sweep (`crates/cli/src/outdir.rs`) recognises as left by a dead process.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// An I/O failure on a named path.
#[derive(Debug, thiserror::Error)]
#[error("cannot {action} {}", path.display())]
pub struct FsError {
    /// What was being done ("write", "create", "move aside", ...).
    pub action: &'static str,
    /// The path it was done to.
    pub path: PathBuf,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

impl FsError {
    fn new<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> FsError + 'a {
        move |source| FsError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// `path`'s sibling with `suffix` appended to its file name (`a/b.json` + `.old` → `a/b.json.old`).
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The temporary sibling a write of `path` goes through: `.NAME.tmp-<pid>`.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes what `fill` writes to `path` atomically: into [`temp_sibling`], synced, then renamed.
/// The temporary file is removed when `fill` or the rename fails.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> io::Result<()>,
) -> Result<(), FsError> {
    let tmp = temp_sibling(path);
    let result = (|| {
        let mut w = BufWriter::new(File::create(&tmp)?);
        fill(&mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(FsError::new("write", path))
}

/// Writes `bytes` to `path` atomically (see [`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: impl AsRef<[u8]>) -> Result<(), FsError> {
    write_atomic_with(path, |w| w.write_all(bytes.as_ref()))
}

/// Fills a fresh temporary directory `<dir>.tmp` with `fill`, then puts it at `dir` (an older
/// `dir` is moved to `<dir>.old` for the moment of the swap, then removed), so `dir` is never
/// seen half-written. The temporary directory is removed when `fill` fails. A `<dir>.old` left
/// by a swap interrupted between its two renames is what [`recover_dir`] restores.
pub fn replace_dir<E: From<FsError>>(
    dir: &Path,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = sibling(dir, ".tmp");
    let old = sibling(dir, ".old");
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(FsError::new("create", parent))?;
    }
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(FsError::new("remove", &tmp))?;
    }
    std::fs::create_dir_all(&tmp).map_err(FsError::new("create", &tmp))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(FsError::new("remove", &old))?;
        }
        std::fs::rename(dir, &old).map_err(FsError::new("move aside", dir))?;
    }
    if let Err(e) = std::fs::rename(&tmp, dir) {
        if old.exists() {
            let _ = std::fs::rename(&old, dir);
        }
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(FsError::new("move into place", dir)(e).into());
    }
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(FsError::new("remove", &old))?;
    }
    Ok(())
}

/// Restores `dir` from `<dir>.old` when a [`replace_dir`] was interrupted between its renames.
pub fn recover_dir(dir: &Path) -> Result<(), FsError> {
    let old = sibling(dir, ".old");
    if !dir.exists() && old.exists() {
        std::fs::rename(&old, dir).map_err(FsError::new("restore", dir))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("tunescope-fs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_failed_write_keeps_the_old_file_and_leaves_no_temporary() {
        let d = scratch("write");
        let p = d.join("a.txt");
        write_atomic(&p, "old").unwrap();
        let e = write_atomic_with(&p, |w| {
            w.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .unwrap_err();
        assert!(e.to_string().contains("a.txt"), "{e}");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(entries(&d), ["a.txt"]);
        write_atomic(&p, "new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn replace_dir_swaps_whole_directories_and_recovers_an_interrupted_swap() {
        let d = scratch("dir");
        let out = d.join("out");
        replace_dir::<FsError>(&out, |t| write_atomic(&t.join("x"), "1")).unwrap();
        let failed = replace_dir::<FsError>(&out, |t| {
            write_atomic(&t.join("y"), "2")?;
            Err(FsError::new("fill", t)(io::Error::other("stop")))
        });
        assert!(failed.is_err());
        assert_eq!(entries(&d), ["out"]);
        assert_eq!(entries(&out), ["x"]);
        replace_dir::<FsError>(&out, |t| write_atomic(&t.join("y"), "2")).unwrap();
        assert_eq!(entries(&out), ["y"]);
        std::fs::rename(&out, sibling(&out, ".old")).unwrap();
        recover_dir(&out).unwrap();
        assert_eq!(entries(&out), ["y"]);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
