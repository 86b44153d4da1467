//! STREUSLE preposition supersenses from `.conllulex` (19 columns) or the release's `.json`.
//!
//! A unit is a strong lexical unit (a single word, or the words of a strong multi-word expression
//! sharing an SMWE group `id:pos`) whose LEXCAT is one of `P PP INF.P POSS PRON.POSS` and whose
//! SS starts with `p.`; the unit is the span of its words. The label is SS (scene role) or SS2
//! (function). Units whose label is `` `$ ``, `??` or `_` are skipped. The lexical columns of a
//! multi-word expression are read from its first word (`id:1`).

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::conllu::{check_special_id, value_of};
use super::{file_name, lines, read_utf8, Corpus, LabelCheck};
use crate::error::DataError;
use crate::task::{Sentence, Target, Unit};

/// Which supersense is the label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreusleTask {
    /// Scene role (SS).
    Role,
    /// Function (SS2).
    Function,
}

const COLUMNS: &str =
    "ID FORM LEMMA UPOS XPOS FEATS HEAD DEPREL DEPS MISC SMWE LEXCAT LEXLEMMA SS SS2 WMWE WCAT WLEMMA LEXTAG";

/// Lexical categories whose units are preposition-like.
const PREP_LEXCATS: [&str; 5] = ["P", "PP", "INF.P", "POSS", "PRON.POSS"];

/// The lexical columns of one strong lexical unit.
struct Lexical<'a> {
    lexcat: &'a str,
    ss: &'a str,
    ss2: &'a str,
}

/// The label of a lexical unit for `task`, or `None` if it is not a preposition target.
fn target_label<'a>(lex: &Lexical<'a>, task: StreusleTask) -> Option<&'a str> {
    if !PREP_LEXCATS.contains(&lex.lexcat) || !lex.ss.starts_with("p.") {
        return None;
    }
    let label = match task {
        StreusleTask::Role => lex.ss,
        StreusleTask::Function => lex.ss2,
    };
    (!matches!(label, "`$" | "??" | "_" | "")).then_some(label)
}

struct Row {
    line: usize,
    text: String,
    form: String,
    smwe: String,
    lexcat: String,
    ss: String,
    ss2: String,
}

/// Reads a `.conllulex` file, or a STREUSLE `.json` file when the name ends in `.json`.
pub fn read(path: &Path, task: StreusleTask, labels: LabelCheck) -> Result<Corpus, DataError> {
    let text = read_utf8(path)?;
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        parse_json(&text, path, task, labels)
    } else {
        parse_conllulex(&text, path, task, labels)
    }
}

/// Parses `.conllulex` text.
pub fn parse_conllulex(
    text: &str,
    path: &Path,
    task: StreusleTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let mut doc = file_name(path);
    let file = path.display().to_string();
    let mut corpus = Corpus::default();
    let mut rows: Vec<Row> = Vec::new();
    let mut sent_id = None;
    let mut start = 0;
    let flush = |rows: &mut Vec<Row>,
                 sent_id: Option<String>,
                 doc: &str,
                 start: usize,
                 corpus: &mut Corpus|
     -> Result<(), DataError> {
        if rows.is_empty() {
            return Ok(());
        }
        let sentence = corpus.sentences.len();
        let mut groups: BTreeMap<usize, Vec<(usize, usize)>> = BTreeMap::new();
        let mut units: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, row) in rows.iter().enumerate() {
            if row.smwe == "_" {
                units.push((i, vec![i]));
                continue;
            }
            let parsed = row
                .smwe
                .split_once(':')
                .and_then(|(g, p)| Some((g.parse::<usize>().ok()?, p.parse::<usize>().ok()?)));
            let Some((group, pos)) = parsed else {
                return Err(DataError::parse(
                    path,
                    row.line,
                    &row.text,
                    "an SMWE value `_` or `group:position` (e.g. `1:2`)",
                ));
            };
            groups.entry(group).or_default().push((pos, i));
        }
        for (_, mut members) in groups {
            members.sort_unstable();
            if members[0].0 != 1 {
                let row = &rows[members[0].1];
                return Err(DataError::parse(
                    path,
                    row.line,
                    &row.text,
                    "a strong MWE whose words are numbered from `:1`",
                ));
            }
            let mut words: Vec<usize> = members.iter().map(|&(_, i)| i).collect();
            let first = members[0].1;
            words.sort_unstable();
            units.push((first, words));
        }
        units.sort();
        for (first, words) in units {
            let row = &rows[first];
            let lex = Lexical {
                lexcat: &row.lexcat,
                ss: &row.ss,
                ss2: &row.ss2,
            };
            if let Some(label) = target_label(&lex, task) {
                labels.check(label, path, row.line, &row.text)?;
                corpus.units.push(Unit {
                    sentence,
                    target: Target::Span(words),
                    label: label.to_string(),
                });
            }
        }
        corpus.sentences.push(Sentence {
            words: rows.drain(..).map(|r| r.form).collect(),
            doc: doc.to_string(),
            id: sent_id,
            file: file.clone(),
            line: start,
        });
        Ok(())
    };
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            flush(&mut rows, sent_id.take(), &doc, start, &mut corpus)?;
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
        let f = super::tab_fields(line, 19, 19, COLUMNS, path, line_no)?;
        if f[0].contains('-') || f[0].contains('.') {
            check_special_id(f[0], path, line_no, line)?;
            continue;
        }
        let expected = rows.len() + 1;
        if f[0].parse::<usize>().ok() != Some(expected) {
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
            smwe: f[10].to_string(),
            lexcat: f[11].to_string(),
            ss: f[13].to_string(),
            ss2: f[14].to_string(),
        });
    }
    flush(&mut rows, sent_id, &doc, start, &mut corpus)?;
    Ok(corpus)
}

#[derive(Deserialize)]
struct JsonSentence {
    sent_id: String,
    toks: Vec<JsonToken>,
    #[serde(default)]
    swes: BTreeMap<String, JsonLexUnit>,
    #[serde(default)]
    smwes: BTreeMap<String, JsonLexUnit>,
}

#[derive(Deserialize)]
struct JsonToken {
    word: String,
}

#[derive(Deserialize)]
struct JsonLexUnit {
    #[serde(default)]
    lexcat: Option<String>,
    #[serde(default)]
    ss: Option<String>,
    #[serde(default)]
    ss2: Option<String>,
    toknums: Vec<usize>,
}

/// Parses the STREUSLE release `.json` (an array of sentences with `toks`, `swes` and `smwes`;
/// `toknums` are 1-based). Errors in a sentence name the line of its `sent_id`.
pub fn parse_json(
    text: &str,
    path: &Path,
    task: StreusleTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let sentences: Vec<JsonSentence> = serde_json::from_str(text).map_err(|e| {
        let line = e.line().max(1);
        let excerpt = text.lines().nth(line - 1).unwrap_or("");
        DataError::parse(
            path,
            line,
            excerpt,
            format!("STREUSLE JSON: an array of sentences with `sent_id`, `toks`, `swes`, `smwes` ({e})"),
        )
    })?;
    let doc = file_name(path);
    let file = path.display().to_string();
    let line_of = |sent_id: &str| {
        let needle = format!("\"{sent_id}\"");
        text.find(&needle)
            .map_or(1, |at| text[..at].matches('\n').count() + 1)
    };
    let mut corpus = Corpus::default();
    for s in sentences {
        let sentence = corpus.sentences.len();
        let n = s.toks.len();
        let line = line_of(&s.sent_id);
        let mut units: Vec<(Vec<usize>, &JsonLexUnit)> = Vec::new();
        for lu in s.swes.values().chain(s.smwes.values()) {
            if lu.toknums.is_empty() || lu.toknums.iter().any(|&t| t == 0 || t > n) {
                return Err(DataError::parse(
                    path,
                    line,
                    &s.sent_id,
                    format!(
                        "lexical units whose `toknums` lie in 1..={n}, found {:?}",
                        lu.toknums
                    ),
                ));
            }
            let mut words: Vec<usize> = lu.toknums.iter().map(|t| t - 1).collect();
            words.sort_unstable();
            units.push((words, lu));
        }
        units.sort_by(|a, b| a.0.cmp(&b.0));
        for (words, lu) in units {
            let lex = Lexical {
                lexcat: lu.lexcat.as_deref().unwrap_or("_"),
                ss: lu.ss.as_deref().unwrap_or("_"),
                ss2: lu.ss2.as_deref().unwrap_or("_"),
            };
            if let Some(label) = target_label(&lex, task) {
                labels.check(label, path, line, &s.sent_id)?;
                corpus.units.push(Unit {
                    sentence,
                    target: Target::Span(words),
                    label: label.to_string(),
                });
            }
        }
        corpus.sentences.push(Sentence {
            words: s.toks.into_iter().map(|t| t.word).collect(),
            doc: doc.clone(),
            id: Some(s.sent_id),
            file: file.clone(),
            line,
        });
    }
    Ok(corpus)
}
