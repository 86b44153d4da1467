//! One module per corpus format. Every reader returns a [`Corpus`]: sentences in file order and
//! their labelled units, which [`crate::load`] then partitions into splits.

pub mod brown;
pub mod conllu;
pub mod generic;
pub mod streusle;
pub mod trec;

use std::collections::BTreeSet;
use std::path::Path;

use crate::error::DataError;
use crate::task::{Sentence, Unit};

/// Sentences read from one or more files, with units whose `sentence` indexes `sentences`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Corpus {
    /// Sentences in file order.
    pub sentences: Vec<Sentence>,
    /// Units in sentence order.
    pub units: Vec<Unit>,
}

impl Corpus {
    /// Appends `other`, re-indexing its units.
    pub fn extend(&mut self, other: Corpus) {
        let offset = self.sentences.len();
        self.sentences.extend(other.sentences);
        self.units.extend(other.units.into_iter().map(|mut u| {
            u.sentence += offset;
            u
        }));
    }
}

/// The closed label set a reader checks every label against, when one is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LabelCheck<'a>(pub Option<&'a BTreeSet<String>>);

impl LabelCheck<'_> {
    /// Accepts `label` if no set is configured or the set contains it; otherwise a parse error
    /// at `line` of `path` showing `text`.
    pub fn check(
        &self,
        label: &str,
        path: &Path,
        line: usize,
        text: &str,
    ) -> Result<(), DataError> {
        match self.0 {
            Some(set) if !set.contains(label) => Err(DataError::parse(
                path,
                line,
                text,
                format!("a label from the configured set (`{label}` is not in it)"),
            )),
            _ => Ok(()),
        }
    }
}

/// Reads `path` as UTF-8; invalid bytes are an error naming their line.
pub(crate) fn read_utf8(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let at = e.utf8_error().valid_up_to();
        let line = bytes[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let start = bytes[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let end = bytes[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |p| at + p);
        DataError::parse(
            path,
            line,
            &String::from_utf8_lossy(&bytes[start..end]),
            "UTF-8 text",
        )
    })
}

/// Reads `path` as Latin-1 (every byte is one character), as TREC files are encoded.
pub(crate) fn read_latin1(path: &Path) -> Result<String, DataError> {
    let bytes = std::fs::read(path).map_err(|e| DataError::io(path, e))?;
    Ok(bytes.iter().map(|&b| char::from(b)).collect())
}

/// Lines with their 1-based numbers; a trailing `\r` (CRLF files) is removed, and a missing final
/// newline is fine.
pub(crate) fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix('\r').unwrap_or(l)))
}

/// The file name of `path` for provenance (`doc` defaults).
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Splits a tab-separated line into exactly `n` fields: trailing empty fields beyond `n`
/// (trailing tabs) are dropped, and missing trailing fields beyond `required` are `_`.
/// Errors when fewer than `required` or more than `n` non-empty fields are present.
pub(crate) fn tab_fields<'a>(
    line: &'a str,
    n: usize,
    required: usize,
    names: &str,
    path: &Path,
    line_no: usize,
) -> Result<Vec<&'a str>, DataError> {
    let mut fields: Vec<&str> = line.split('\t').collect();
    while fields.len() > n && fields.last() == Some(&"") {
        fields.pop();
    }
    if fields.len() < required || fields.len() > n {
        return Err(DataError::parse(
            path,
            line_no,
            line,
            format!("{n} tab-separated columns ({names}), not {}", fields.len()),
        ));
    }
    while fields.len() < n {
        fields.push("_");
    }
    for f in fields.iter_mut() {
        if f.is_empty() {
            *f = "_";
        }
    }
    Ok(fields)
}
