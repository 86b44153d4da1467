//! CoNLL-U (Universal Dependencies): POS from UPOS or XPOS, or dependency relations.
//!
//! Comments (`#`) are skipped apart from `# sent_id = …` and `# newdoc id = …`, which become the
//! sentence id and document. Multi-word token ranges (`3-4`) and empty nodes (`8.1`) are skipped;
//! words must be numbered 1, 2, 3, … within a sentence. A `_` label (or `_` head for DEP) marks an
//! unannotated word, which gets no unit.

use std::path::Path;

use super::{file_name, lines, read_utf8, tab_fields, Corpus, LabelCheck};
use crate::error::DataError;
use crate::task::{Sentence, Target, Unit};

/// What a CoNLL-U file is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConlluTask {
    /// One token unit per word, label = UPOS (column 4).
    Upos,
    /// One token unit per word, label = XPOS (column 5).
    Xpos,
    /// One pair unit per word whose head is not the root, label = full DEPREL (`nmod:poss`).
    Dep,
}

const COLUMNS: &str = "ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC";

/// One word line kept until its sentence is complete.
struct Row {
    line: usize,
    text: String,
    form: String,
    upos: String,
    xpos: String,
    head: String,
    deprel: String,
}

/// Reads one CoNLL-U file.
pub fn read(path: &Path, task: ConlluTask, labels: LabelCheck) -> Result<Corpus, DataError> {
    let text = read_utf8(path)?;
    parse(&text, path, task, labels)
}

/// Parses CoNLL-U `text`; `path` is used for provenance and errors.
pub fn parse(
    text: &str,
    path: &Path,
    task: ConlluTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let file = path.display().to_string();
    let mut doc = file_name(path);
    let mut corpus = Corpus::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut sent_id: Option<String> = None;
    let mut start = 0;
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            flush(
                &mut corpus,
                &mut rows,
                sent_id.take(),
                &doc,
                &file,
                start,
                path,
                task,
                labels,
            )?;
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let comment = comment.trim();
            if let Some(id) = value_of(comment, "sent_id") {
                sent_id = Some(id.to_string());
            } else if let Some(id) = value_of(comment, "newdoc id") {
                doc = id.to_string();
            }
            continue;
        }
        let f = tab_fields(line, 10, 10, COLUMNS, path, line_no)?;
        let id = f[0];
        if id.contains('-') || id.contains('.') {
            check_special_id(id, path, line_no, line)?;
            continue;
        }
        let expected = rows.len() + 1;
        if id.parse::<usize>().ok() != Some(expected) {
            return Err(DataError::parse(
                path,
                line_no,
                line,
                format!("word ID {expected} (IDs count 1, 2, 3, … within a sentence)"),
            ));
        }
        if rows.is_empty() {
            start = line_no;
        }
        rows.push(Row {
            line: line_no,
            text: line.to_string(),
            form: f[1].to_string(),
            upos: f[3].to_string(),
            xpos: f[4].to_string(),
            head: f[6].to_string(),
            deprel: f[7].to_string(),
        });
    }
    flush(
        &mut corpus,
        &mut rows,
        sent_id,
        &doc,
        &file,
        start,
        path,
        task,
        labels,
    )?;
    Ok(corpus)
}

/// `value` of a `key = value` comment.
pub(crate) fn value_of<'a>(comment: &'a str, key: &str) -> Option<&'a str> {
    let rest = comment.strip_prefix(key)?.trim_start();
    Some(rest.strip_prefix('=')?.trim())
}

/// Validates a multi-word token range `a-b` or empty node `a.b` ID.
pub(crate) fn check_special_id(
    id: &str,
    path: &Path,
    line_no: usize,
    line: &str,
) -> Result<(), DataError> {
    let (a, b) = id
        .split_once('-')
        .or_else(|| id.split_once('.'))
        .unwrap_or((id, ""));
    if a.parse::<usize>().is_ok() && b.parse::<usize>().is_ok() {
        Ok(())
    } else {
        Err(DataError::parse(
            path,
            line_no,
            line,
            "an ID that is a number, a range `3-4` or an empty node `8.1`",
        ))
    }
}

#[allow(clippy::too_many_arguments)]
fn flush(
    corpus: &mut Corpus,
    rows: &mut Vec<Row>,
    sent_id: Option<String>,
    doc: &str,
    file: &str,
    start: usize,
    path: &Path,
    task: ConlluTask,
    labels: LabelCheck,
) -> Result<(), DataError> {
    if rows.is_empty() {
        return Ok(());
    }
    let sentence = corpus.sentences.len();
    let n = rows.len();
    for (i, row) in rows.iter().enumerate() {
        // HEAD is checked for every task (docs/data.md): a head outside 0..=n is a broken tree
        // whatever the task reads from it.
        let head = match row.head.as_str() {
            "_" => None,
            h => match h.parse::<usize>() {
                Ok(h) if h <= n => Some(h),
                _ => {
                    return Err(DataError::parse(
                        path,
                        row.line,
                        &row.text,
                        format!("a HEAD between 0 and {n} (the sentence's word count) or `_`"),
                    ))
                }
            },
        };
        let (target, label) = match task {
            ConlluTask::Upos | ConlluTask::Xpos => {
                let tag = if task == ConlluTask::Upos {
                    &row.upos
                } else {
                    &row.xpos
                };
                (Target::Token(i), tag)
            }
            ConlluTask::Dep => {
                let Some(head) = head.filter(|&h| h > 0) else {
                    continue;
                };
                (
                    Target::Pair {
                        dependent: i,
                        head: head - 1,
                    },
                    &row.deprel,
                )
            }
        };
        if label == "_" {
            continue;
        }
        labels.check(label, path, row.line, &row.text)?;
        corpus.units.push(Unit {
            sentence,
            target,
            label: label.clone(),
        });
    }
    corpus.sentences.push(Sentence {
        words: rows.drain(..).map(|r| r.form).collect(),
        doc: doc.to_string(),
        id: sent_id,
        file: file.to_string(),
        line: start,
    });
    Ok(())
}
