//! Label files beside vector files (`probe`, `directprobe`): text (one label per line) or an
//! integer `.npy`, and the one rule both probes apply to them: every split's labels are of the
//! same kind, and labels of an evaluation split that train lacks are reported.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

use crate::{npy, read_lines};

/// What a label file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelKind {
    /// Text, one label per line.
    Text,
    /// An integer `.npy` array of shape `[n]` or `[n, 1]`.
    Integer,
}

impl LabelKind {
    fn describe(self) -> &'static str {
        match self {
            LabelKind::Text => "text labels (one per line)",
            LabelKind::Integer => "integer .npy labels",
        }
    }
}

/// Labels read from one file, as strings, with their kind and origin.
#[derive(Debug, Clone)]
pub struct LabelFile {
    /// The file read.
    pub path: PathBuf,
    /// Text or integer.
    pub kind: LabelKind,
    /// One label per row, integers rendered in decimal.
    pub names: Vec<String>,
}

/// Reads labels: an integer `.npy` (by extension) or a text file of one label per line.
pub fn read_label_file(path: &Path) -> Result<LabelFile> {
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
    {
        let a = npy::read_i64(path)?;
        if a.shape.len() != 1 && !(a.shape.len() == 2 && a.shape[1] == 1) {
            bail!(
                "{}: labels must be a 1-D integer array (shape [n] or [n, 1]), got shape {:?}",
                path.display(),
                a.shape
            );
        }
        return Ok(LabelFile {
            path: path.to_path_buf(),
            kind: LabelKind::Integer,
            names: a.data.iter().map(i64::to_string).collect(),
        });
    }
    Ok(LabelFile {
        path: path.to_path_buf(),
        kind: LabelKind::Text,
        names: read_lines(path, "label")?,
    })
}

/// Refuses a mix of text and integer label files: `"3"` in a text file and `3` in an `.npy`
/// would otherwise silently become one class or two, depending on the tool.
pub fn check_same_kind(files: &[&LabelFile]) -> Result<()> {
    if let Some(first) = files.first() {
        if let Some(other) = files.iter().find(|f| f.kind != first.kind) {
            bail!(
                "{} holds {} but {} holds {}: give every split's labels in the same form",
                first.path.display(),
                first.kind.describe(),
                other.path.display(),
                other.kind.describe()
            );
        }
    }
    Ok(())
}

/// The warning for an evaluation split (`name`) whose rows carry labels absent from train,
/// or `None` when every label was seen in train.
pub fn unseen_warning(name: &str, train: &LabelFile, eval: &LabelFile) -> Option<String> {
    let seen: BTreeSet<&str> = train.names.iter().map(String::as_str).collect();
    let missing: Vec<&str> = eval
        .names
        .iter()
        .map(String::as_str)
        .filter(|l| !seen.contains(l))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let kinds: BTreeSet<&str> = missing.iter().copied().collect();
    let shown: Vec<&str> = kinds.iter().take(5).copied().collect();
    Some(format!(
        "{} of {} {name} rows ({}) have labels absent from train ({}{}); they count as errors",
        missing.len(),
        eval.names.len(),
        eval.path.display(),
        shown.join(", "),
        if kinds.len() > 5 { ", …" } else { "" }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_kinds_are_refused_and_unseen_labels_reported() {
        let dir = std::env::temp_dir().join(format!("tunescope-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("y.txt"), "1\n0\n").unwrap();
        npy::write_i64(dir.join("y.npy"), &[2], &[1, 0]).unwrap();
        let text = read_label_file(&dir.join("y.txt")).unwrap();
        let int = read_label_file(&dir.join("y.npy")).unwrap();
        assert_eq!((text.kind, int.kind), (LabelKind::Text, LabelKind::Integer));
        assert_eq!(text.names, int.names);
        check_same_kind(&[&text, &text]).unwrap();
        let e = check_same_kind(&[&int, &text]).unwrap_err().to_string();
        assert!(e.contains("y.npy holds integer .npy labels but"), "{e}");
        assert!(e.contains("y.txt holds text labels"), "{e}");
        std::fs::write(dir.join("t.txt"), "1\n7\n7\n").unwrap();
        let test = read_label_file(&dir.join("t.txt")).unwrap();
        let w = unseen_warning("test", &text, &test).unwrap();
        assert!(w.starts_with("2 of 3 test rows"), "{w}");
        assert!(w.contains("absent from train (7)"), "{w}");
        assert!(unseen_warning("test", &text, &text).is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
