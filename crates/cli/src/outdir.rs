//! The one rule every command with `--out DIR` follows (`embed`, `probe`, `directprobe`):
//!
//! * an existing `DIR` that holds anything is refused unless `--force` is given, so that a
//!   second run never mixes its files with an earlier run's;
//! * outputs are written into a fresh hidden staging directory beside `DIR`
//!   (`.DIR.partial-<pid>`) and swapped in as a whole when complete; with `--force` the old
//!   `DIR` is replaced (its previous files are removed);
//! * a failed or interrupted run removes its staging directory; one left by a process that was
//!   killed outright is swept by the next run (its process id no longer exists), as are the
//!   `.NAME.tmp-<pid>` files of dead processes inside `DIR`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// Whether process `pid` is alive (Linux: `/proc/<pid>` exists).
fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// The process id in a temporary name `…<marker><pid>`, if it has that shape.
fn owner(name: &str, marker: &str) -> Option<u32> {
    let (_, pid) = name.rsplit_once(marker)?;
    pid.parse().ok()
}

/// Removes temporary entries of dead processes in `dir` whose names start with `.` and carry
/// `marker` followed by a process id; returns how many were removed.
fn sweep(dir: &Path, prefix: &str, marker: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with(prefix) {
            continue;
        }
        let Some(pid) = owner(&name, marker) else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let p = e.path();
        let removed = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
        if removed.is_ok() {
            tracing::info!("removed {} left by an interrupted run", p.display());
            n += 1;
        }
    }
    n
}

/// `out` split into its parent directory and file name.
fn parent_and_name(out: &Path) -> Result<(PathBuf, String)> {
    let name = out
        .file_name()
        .with_context(|| format!("--out {}: not a directory name", out.display()))?
        .to_string_lossy()
        .into_owned();
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    Ok((parent, name))
}

/// Checks that `out` may be written (sweeping what dead runs left there first): it must not
/// exist, or be a directory that is empty, or `force` must be set.
pub fn check(out: &Path, force: bool) -> Result<()> {
    let (parent, name) = parent_and_name(out)?;
    sweep(&parent, &format!(".{name}.partial-"), ".partial-");
    if !out.exists() {
        return Ok(());
    }
    if !out.is_dir() {
        bail!("--out {}: exists and is not a directory", out.display());
    }
    sweep(out, ".", ".tmp-");
    let empty = std::fs::read_dir(out)
        .with_context(|| format!("cannot read {}", out.display()))?
        .next()
        .is_none();
    if !empty && !force {
        bail!(
            "--out {} is not empty (an earlier run's outputs?); pass --force to replace it as a \
             whole, or choose another directory",
            out.display()
        );
    }
    Ok(())
}

/// A staging directory for a command's outputs, swapped into place by [`Staging::commit`] and
/// removed if dropped before that (error, or unwinding after an interruption).
#[derive(Debug)]
pub struct Staging {
    out: PathBuf,
    tmp: PathBuf,
    done: bool,
}

impl Staging {
    /// Checks `out` (see [`check`]) and creates a fresh staging directory beside it.
    pub fn begin(out: &Path, force: bool) -> Result<Staging> {
        check(out, force)?;
        let (parent, name) = parent_and_name(out)?;
        std::fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let tmp = parent.join(format!(".{name}.partial-{}", std::process::id()));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)
                .with_context(|| format!("cannot remove {}", tmp.display()))?;
        }
        std::fs::create_dir(&tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
        Ok(Staging {
            out: out.to_path_buf(),
            tmp,
            done: false,
        })
    }

    /// Where the outputs are written until [`Staging::commit`].
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Moves the finished outputs to `out`, replacing what was there (allowed by [`check`]).
    pub fn commit(mut self) -> Result<()> {
        if self.out.exists() {
            let (parent, name) = parent_and_name(&self.out)?;
            let old = parent.join(format!(".{name}.replaced.partial-{}", std::process::id()));
            std::fs::rename(&self.out, &old)
                .with_context(|| format!("cannot move {} aside", self.out.display()))?;
            std::fs::rename(&self.tmp, &self.out)
                .with_context(|| format!("cannot move the outputs into {}", self.out.display()))?;
            std::fs::remove_dir_all(&old)
                .with_context(|| format!("cannot remove {}", old.display()))?;
        } else {
            std::fs::rename(&self.tmp, &self.out)
                .with_context(|| format!("cannot move the outputs into {}", self.out.display()))?;
        }
        self.done = true;
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("tunescope-outdir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn refuses_a_non_empty_directory_and_replaces_it_with_force() {
        let d = scratch("force");
        let out = d.join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("layer-3.npy"), "old").unwrap();
        let e = Staging::begin(&out, false).unwrap_err().to_string();
        assert!(e.contains("is not empty") && e.contains("--force"), "{e}");
        let s = Staging::begin(&out, true).unwrap();
        std::fs::write(s.path().join("layer-0.npy"), "new").unwrap();
        s.commit().unwrap();
        let names: Vec<_> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["layer-0.npy"]);
        // Nothing but `out` is left beside it.
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_dropped_staging_directory_leaves_nothing_and_stale_ones_are_swept() {
        let d = scratch("sweep");
        let out = d.join("out");
        {
            let s = Staging::begin(&out, false).unwrap();
            std::fs::write(s.path().join("x"), "partial").unwrap();
        }
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 0);
        // A dead process's staging directory and temporary file (pid beyond pid_max).
        std::fs::create_dir_all(d.join(".out.partial-4999999")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join(".layer-0.npy.tmp-4999999"), "junk").unwrap();
        check(&out, false).unwrap();
        assert!(!d.join(".out.partial-4999999").exists());
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 0);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
