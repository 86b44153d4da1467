//! Generic formats for data of your own: TSV `label<TAB>text` (sentence classification) and JSONL
//! with one object per line, `{"tokens": […], "tags": […]}` (token tagging) or
//! `{"text": "…", "label": "…"}` (sentence classification). Text is split into words at
//! whitespace. Other keys in a JSON object are ignored; blank lines are skipped.

use std::path::Path;

use serde::Deserialize;

use super::{file_name, lines, read_utf8, Corpus, LabelCheck};
use crate::error::DataError;
use crate::task::{Sentence, Target, Unit};

/// Whether lines carry one label per token or one per sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GenericTask {
    /// `{"tokens": […], "tags": […]}` (JSONL only).
    Tagging,
    /// `label<TAB>text` (TSV) or `{"text": …, "label": …}` (JSONL).
    Classification,
}

/// Reads a TSV file of `label<TAB>text` lines.
pub fn read_tsv(path: &Path, labels: LabelCheck) -> Result<Corpus, DataError> {
    let text = read_utf8(path)?;
    parse_tsv(&text, path, labels)
}

/// Parses TSV `text`; trailing tabs and spaces are ignored.
pub fn parse_tsv(text: &str, path: &Path, labels: LabelCheck) -> Result<Corpus, DataError> {
    let mut out = Builder::new(path);
    for (line_no, line) in lines(text) {
        let trimmed = line.trim_end_matches([' ', '\t']);
        if trimmed.trim().is_empty() {
            continue;
        }
        let (label, text) = match trimmed.split_once('\t') {
            Some((l, t)) if !l.trim().is_empty() && !t.trim().is_empty() && !t.contains('\t') => {
                (l.trim(), t)
            }
            _ => {
                return Err(DataError::parse(
                    path,
                    line_no,
                    line,
                    "2 tab-separated columns `label<TAB>text`, both non-empty",
                ))
            }
        };
        labels.check(label, path, line_no, line)?;
        out.sentence(
            words(text),
            vec![(Target::Sentence, label.to_string())],
            line_no,
        );
    }
    Ok(out.corpus)
}

#[derive(Deserialize)]
struct TaggedLine {
    tokens: Vec<String>,
    tags: Vec<String>,
}

#[derive(Deserialize)]
struct LabelledLine {
    text: String,
    label: String,
}

/// Reads a JSONL file for `task`.
pub fn read_jsonl(path: &Path, task: GenericTask, labels: LabelCheck) -> Result<Corpus, DataError> {
    let text = read_utf8(path)?;
    parse_jsonl(&text, path, task, labels)
}

/// Parses JSONL `text` for `task`.
pub fn parse_jsonl(
    text: &str,
    path: &Path,
    task: GenericTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let mut out = Builder::new(path);
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let (words, units) = match task {
            GenericTask::Tagging => {
                let rec: TaggedLine = serde_json::from_str(line).map_err(|e| {
                    DataError::parse(
                        path,
                        line_no,
                        line,
                        format!(
                            r#"a JSON object {{"tokens": [strings], "tags": [strings]}} ({e})"#
                        ),
                    )
                })?;
                if rec.tokens.len() != rec.tags.len() || rec.tokens.is_empty() {
                    return Err(DataError::parse(
                        path,
                        line_no,
                        line,
                        format!(
                            "as many tags as tokens, at least one (found {} tokens, {} tags)",
                            rec.tokens.len(),
                            rec.tags.len()
                        ),
                    ));
                }
                if let Some(bad) = rec
                    .tokens
                    .iter()
                    .find(|t| t.is_empty() || t.contains(char::is_whitespace))
                {
                    return Err(DataError::parse(
                        path,
                        line_no,
                        line,
                        format!("non-empty tokens without whitespace, not {bad:?}"),
                    ));
                }
                let mut units = Vec::with_capacity(rec.tags.len());
                for (i, tag) in rec.tags.into_iter().enumerate() {
                    labels.check(&tag, path, line_no, line)?;
                    units.push((Target::Token(i), tag));
                }
                (rec.tokens, units)
            }
            GenericTask::Classification => {
                let rec: LabelledLine = serde_json::from_str(line).map_err(|e| {
                    DataError::parse(
                        path,
                        line_no,
                        line,
                        format!(r#"a JSON object {{"text": string, "label": string}} ({e})"#),
                    )
                })?;
                let w = words(&rec.text);
                if w.is_empty() || rec.label.is_empty() {
                    return Err(DataError::parse(
                        path,
                        line_no,
                        line,
                        "a non-empty \"text\" and \"label\"",
                    ));
                }
                labels.check(&rec.label, path, line_no, line)?;
                (w, vec![(Target::Sentence, rec.label)])
            }
        };
        out.sentence(words, units, line_no);
    }
    Ok(out.corpus)
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(String::from).collect()
}

struct Builder {
    corpus: Corpus,
    doc: String,
    file: String,
}

impl Builder {
    fn new(path: &Path) -> Self {
        Builder {
            corpus: Corpus::default(),
            doc: file_name(path),
            file: path.display().to_string(),
        }
    }

    fn sentence(&mut self, words: Vec<String>, units: Vec<(Target, String)>, line: usize) {
        let sentence = self.corpus.sentences.len();
        self.corpus
            .units
            .extend(units.into_iter().map(|(target, label)| Unit {
                sentence,
                target,
                label,
            }));
        self.corpus.sentences.push(Sentence {
            words,
            doc: self.doc.clone(),
            id: None,
            file: self.file.clone(),
            line,
        });
    }
}
