//! TREC question classification (`train_5500.label`, `TREC_10.label`): one question per line,
//! `COARSE:fine question words …`, Latin-1 encoded.

use std::path::Path;

use super::{file_name, lines, read_latin1, Corpus, LabelCheck};
use crate::error::DataError;
use crate::task::{Sentence, Target, Unit};

/// Which TREC label granularity to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrecTask {
    /// The 50 fine labels, written `COARSE:fine` (e.g. `NUM:date`).
    Fine,
    /// The 6 coarse labels (`ABBR DESC ENTY HUM LOC NUM`).
    Coarse,
}

/// Reads one TREC file (decoded as Latin-1, so any bytes are text).
pub fn read(path: &Path, task: TrecTask, labels: LabelCheck) -> Result<Corpus, DataError> {
    let text = read_latin1(path)?;
    parse(&text, path, task, labels)
}

/// Parses TREC `text`; blank lines are skipped.
pub fn parse(
    text: &str,
    path: &Path,
    task: TrecTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let doc = file_name(path);
    let file = path.display().to_string();
    let mut corpus = Corpus::default();
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let (label, question) = line
            .trim()
            .split_once([' ', '\t'])
            .unwrap_or((line.trim(), ""));
        let (coarse, fine) = label.split_once(':').unwrap_or(("", ""));
        if coarse.is_empty() || fine.is_empty() || !coarse.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(DataError::parse(
                path,
                line_no,
                line,
                "a label `COARSE:fine` (e.g. `NUM:date`) at the start of the line",
            ));
        }
        let words: Vec<String> = question.split_whitespace().map(String::from).collect();
        if words.is_empty() {
            return Err(DataError::parse(
                path,
                line_no,
                line,
                "a question after the label",
            ));
        }
        let label = match task {
            TrecTask::Fine => label,
            TrecTask::Coarse => coarse,
        };
        labels.check(label, path, line_no, line)?;
        corpus.units.push(Unit {
            sentence: corpus.sentences.len(),
            target: Target::Sentence,
            label: label.to_string(),
        });
        corpus.sentences.push(Sentence {
            words,
            doc: doc.clone(),
            id: None,
            file: file.clone(),
            line: line_no,
        });
    }
    Ok(corpus)
}
