//! The task model every reader produces: sentences, units (what gets a vector and a label) and
//! splits.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

/// What one unit is attached to, which decides how its vector is formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnitKind {
    /// One word (POS tagging).
    Token,
    /// A dependent word and its head word (dependency relation).
    Pair,
    /// One or more words forming a lexical unit (preposition supersense).
    Span,
    /// The whole sentence (classification).
    Sentence,
}

impl UnitKind {
    /// The lowercase name used in configs, JSON and reports.
    pub fn name(self) -> &'static str {
        match self {
            UnitKind::Token => "token",
            UnitKind::Pair => "pair",
            UnitKind::Span => "span",
            UnitKind::Sentence => "sentence",
        }
    }
}

/// Where a unit sits in its sentence; word indices are 0-based into [`Sentence::words`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// One word.
    Token(usize),
    /// A dependent and its syntactic head.
    Pair {
        /// Index of the dependent word.
        dependent: usize,
        /// Index of the head word (never the root).
        head: usize,
    },
    /// Word indices of a (possibly discontiguous, multi-word) lexical unit, ascending.
    Span(Vec<usize>),
    /// The whole sentence.
    Sentence,
}

impl Target {
    /// The unit kind this target belongs to.
    pub fn kind(&self) -> UnitKind {
        match self {
            Target::Token(_) => UnitKind::Token,
            Target::Pair { .. } => UnitKind::Pair,
            Target::Span(_) => UnitKind::Span,
            Target::Sentence => UnitKind::Sentence,
        }
    }
}

/// One labelled unit of a split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unit {
    /// Index into the split's [`Split::sentences`].
    pub sentence: usize,
    /// Which words the unit covers.
    pub target: Target,
    /// The gold label.
    pub label: String,
}

/// One sentence (or question/text), already tokenised into words, with its provenance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sentence {
    /// The words, as in the corpus.
    pub words: Vec<String>,
    /// Document the sentence belongs to (Brown file name, CoNLL-U `newdoc id`, or the file name).
    pub doc: String,
    /// Corpus sentence id where the format has one (CoNLL-U `sent_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// File the sentence was read from.
    pub file: String,
    /// 1-based line where the sentence starts in that file.
    pub line: usize,
}

/// The sentences and units of one split; units are ordered by sentence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    /// Sentences in corpus order.
    pub sentences: Vec<Sentence>,
    /// Units in sentence order; `unit.sentence` indexes `sentences`.
    pub units: Vec<Unit>,
}

impl Split {
    /// Number of words over all sentences.
    pub fn tokens(&self) -> usize {
        self.sentences.iter().map(|s| s.words.len()).sum()
    }

    /// Length in words of the longest sentence (0 for an empty split).
    pub fn longest_sentence(&self) -> usize {
        self.sentences
            .iter()
            .map(|s| s.words.len())
            .max()
            .unwrap_or(0)
    }

    /// How many units carry each label.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for unit in &self.units {
            *counts.entry(unit.label.as_str()).or_insert(0) += 1;
        }
        counts
            .into_iter()
            .map(|(l, n)| (l.to_string(), n))
            .collect()
    }

    /// Whether the split has no sentences.
    pub fn is_empty(&self) -> bool {
        self.sentences.is_empty()
    }
}

/// Names of the three splits, in order.
pub const SPLIT_NAMES: [&str; 3] = ["train", "dev", "test"];

/// A probing / fine-tuning task: labelled units over train, dev and test sentences.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Task name (e.g. `upos`, `brown-genre`).
    pub name: String,
    /// What every unit is attached to.
    pub unit_kind: UnitKind,
    /// Sorted label list; a label's index in this list is its class id.
    pub labels: Vec<String>,
    /// Training split.
    pub train: Split,
    /// Development split (model selection, early stopping).
    pub dev: Split,
    /// Test split.
    pub test: Split,
}

impl Task {
    /// Builds a task whose label list is the sorted union of `extra_labels` and every label
    /// used in the splits.
    pub fn new(
        name: impl Into<String>,
        unit_kind: UnitKind,
        train: Split,
        dev: Split,
        test: Split,
        extra_labels: &[String],
    ) -> Self {
        let mut labels: BTreeSet<String> = extra_labels.iter().cloned().collect();
        for split in [&train, &dev, &test] {
            labels.extend(split.units.iter().map(|u| u.label.clone()));
        }
        Task {
            name: name.into(),
            unit_kind,
            labels: labels.into_iter().collect(),
            train,
            dev,
            test,
        }
    }

    /// Class id of `label`: its position in the sorted label list.
    pub fn label_index(&self, label: &str) -> Option<usize> {
        self.labels.binary_search_by(|l| l.as_str().cmp(label)).ok()
    }

    /// The splits with their names, in train, dev, test order.
    pub fn splits(&self) -> [(&'static str, &Split); 3] {
        [
            ("train", &self.train),
            ("dev", &self.dev),
            ("test", &self.test),
        ]
    }

    /// Unit count per label over all splits; every label of the label list is present.
    pub fn label_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = vec![0usize; self.labels.len()];
        let mut others: BTreeMap<String, usize> = BTreeMap::new();
        for (_, split) in self.splits() {
            for unit in &split.units {
                match self.label_index(&unit.label) {
                    Some(i) => counts[i] += 1,
                    None => *others.entry(unit.label.clone()).or_insert(0) += 1,
                }
            }
        }
        others.extend(self.labels.iter().cloned().zip(counts));
        others
    }

    /// Problems a user should know about before training: empty splits, splits without units,
    /// and labels of dev/test that never occur in train.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (name, split) in self.splits() {
            if split.sentences.is_empty() {
                out.push(format!("{name} split is empty"));
            } else if split.units.is_empty() {
                out.push(format!(
                    "{name} split has {} sentences but no units",
                    split.sentences.len()
                ));
            }
        }
        let train = self.train.label_counts();
        for (name, split) in [("dev", &self.dev), ("test", &self.test)] {
            let unseen: BTreeMap<String, usize> = split
                .label_counts()
                .into_iter()
                .filter(|(l, _)| !train.contains_key(l))
                .collect();
            if !unseen.is_empty() {
                let list: Vec<String> = unseen.iter().map(|(l, n)| format!("{l} ({n})")).collect();
                out.push(format!(
                    "{} label(s) of {name} never occur in train: {}",
                    unseen.len(),
                    list.join(", ")
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentence(words: &[&str]) -> Sentence {
        Sentence {
            words: words.iter().map(|w| w.to_string()).collect(),
            doc: "d".into(),
            id: None,
            file: "f".into(),
            line: 1,
        }
    }

    fn unit(sentence: usize, word: usize, label: &str) -> Unit {
        Unit {
            sentence,
            target: Target::Token(word),
            label: label.into(),
        }
    }

    #[test]
    fn labels_are_sorted_union_and_index_by_position() {
        let train = Split {
            sentences: vec![sentence(&["a", "b"])],
            units: vec![unit(0, 0, "NOUN"), unit(0, 1, "ADJ")],
        };
        let test = Split {
            sentences: vec![sentence(&["c"])],
            units: vec![unit(0, 0, "VERB")],
        };
        let task = Task::new(
            "t",
            UnitKind::Token,
            train,
            Split::default(),
            test,
            &["X".into()],
        );
        assert_eq!(task.labels, ["ADJ", "NOUN", "VERB", "X"]);
        assert_eq!(task.label_index("NOUN"), Some(1));
        assert_eq!(task.label_index("nope"), None);
        assert_eq!(task.label_counts()["X"], 0);
        let warnings = task.warnings();
        assert_eq!(
            warnings,
            [
                "dev split is empty",
                "1 label(s) of test never occur in train: VERB (1)"
            ]
        );
    }

    #[test]
    fn unit_serialises_as_compact_json() {
        let u = Unit {
            sentence: 2,
            target: Target::Pair {
                dependent: 1,
                head: 3,
            },
            label: "nmod:poss".into(),
        };
        let json = serde_json::to_string(&u).unwrap();
        assert_eq!(
            json,
            r#"{"sentence":2,"target":{"pair":{"dependent":1,"head":3}},"label":"nmod:poss"}"#
        );
        let back: Unit = serde_json::from_str(&json).unwrap();
        assert_eq!(back, u);
        let s = serde_json::to_string(&Target::Span(vec![4, 5])).unwrap();
        assert_eq!(s, r#"{"span":[4,5]}"#);
        assert_eq!(
            serde_json::to_string(&Target::Sentence).unwrap(),
            r#""sentence""#
        );
    }
}
