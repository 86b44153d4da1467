//! Every reader on small fixtures: exact words, units and labels, and exact error locations.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use tunescope_data::readers::{
    brown::{self, BrownTask},
    conllu::{self, ConlluTask},
    generic::{self, GenericTask},
    streusle::{self, StreusleTask},
    trec::{self, TrecTask},
    Corpus, LabelCheck,
};
use tunescope_data::{load, DataError, Files, Format, LoadSpec, Target, TaskKind};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn words(c: &Corpus, s: usize) -> Vec<&str> {
    c.sentences[s].words.iter().map(String::as_str).collect()
}

fn units(c: &Corpus) -> Vec<(usize, Target, &str)> {
    c.units
        .iter()
        .map(|u| (u.sentence, u.target.clone(), u.label.as_str()))
        .collect()
}

/// The (file name, line) of a parse error.
fn location(e: &DataError) -> (String, usize) {
    match e {
        DataError::Parse { path, line, .. } => (
            path.file_name().unwrap().to_string_lossy().into_owned(),
            *line,
        ),
        other => panic!("expected a parse error, got {other}"),
    }
}

fn set(labels: &[&str]) -> BTreeSet<String> {
    labels.iter().map(|s| s.to_string()).collect()
}

#[test]
fn conllu_upos_skips_ranges_and_empty_nodes() {
    let c = conllu::read(
        &fixture("sample.conllu"),
        ConlluTask::Upos,
        LabelCheck(None),
    )
    .unwrap();
    assert_eq!(c.sentences.len(), 2);
    assert_eq!(words(&c, 0), ["Bob", "'s", "dog", "ca", "n't", "bark", "."]);
    assert_eq!(c.sentences[0].doc, "weblog-1");
    assert_eq!(c.sentences[0].id.as_deref(), Some("s1"));
    assert_eq!(c.sentences[0].line, 4);
    assert_eq!(c.sentences[1].doc, "weblog-1");
    let labels: Vec<&str> = c.units.iter().map(|u| u.label.as_str()).collect();
    // "there" has UPOS `_`: unannotated, no unit.
    assert_eq!(
        labels,
        ["PROPN", "PART", "NOUN", "AUX", "PART", "VERB", "PUNCT", "INTJ"]
    );
    assert_eq!(c.units[7].sentence, 1);
    assert_eq!(c.units[7].target, Target::Token(0));
    let x = conllu::read(
        &fixture("sample.conllu"),
        ConlluTask::Xpos,
        LabelCheck(None),
    )
    .unwrap();
    assert_eq!(x.units.len(), 9);
    assert_eq!(x.units[8].label, "RB");
}

#[test]
fn conllu_dep_pairs_exclude_root_and_keep_subtypes() {
    let c = conllu::read(&fixture("sample.conllu"), ConlluTask::Dep, LabelCheck(None)).unwrap();
    assert_eq!(
        units(&c)[..3],
        [
            (
                0,
                Target::Pair {
                    dependent: 0,
                    head: 2
                },
                "nmod:poss"
            ),
            (
                0,
                Target::Pair {
                    dependent: 1,
                    head: 0
                },
                "case"
            ),
            (
                0,
                Target::Pair {
                    dependent: 2,
                    head: 5
                },
                "nsubj"
            ),
        ]
    );
    // Sentence 1: 5 non-root words; sentence 2: "there" has DEPREL `_`.
    assert_eq!(c.units.len(), 6);
    assert!(c.units.iter().all(|u| u.label != "root"));
}

#[test]
fn conllu_crlf_trailing_tabs_and_missing_final_newline() {
    let c = conllu::read(&fixture("crlf.conllu"), ConlluTask::Upos, LabelCheck(None)).unwrap();
    assert_eq!(words(&c, 0), ["Yes", "!"]);
    assert_eq!(
        units(&c),
        [
            (0, Target::Token(0), "INTJ"),
            (0, Target::Token(1), "PUNCT")
        ]
    );
}

#[test]
fn conllu_errors_name_file_and_line() {
    let e = conllu::read(
        &fixture("few-columns.conllu"),
        ConlluTask::Upos,
        LabelCheck(None),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("few-columns.conllu".into(), 4));
    assert!(
        e.to_string().contains("expected 10 tab-separated columns"),
        "{e}"
    );
    assert!(e.to_string().contains("not 7"), "{e}");
    // A HEAD outside 0..n is an error for every task, not only `dep` (docs/data.md).
    for task in [ConlluTask::Dep, ConlluTask::Upos, ConlluTask::Xpos] {
        let e = conllu::read(&fixture("bad-head.conllu"), task, LabelCheck(None)).unwrap_err();
        assert_eq!(location(&e), ("bad-head.conllu".into(), 2), "{task:?}");
        assert!(e.to_string().contains("a HEAD between 0 and 2"), "{e}");
    }
    let e = conllu::read(
        &fixture("bad-id.conllu"),
        ConlluTask::Upos,
        LabelCheck(None),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("bad-id.conllu".into(), 2));
    let allowed = set(&["PROPN", "PART", "NOUN", "AUX", "VERB", "INTJ"]);
    let e = conllu::read(
        &fixture("sample.conllu"),
        ConlluTask::Upos,
        LabelCheck(Some(&allowed)),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("sample.conllu".into(), 12));
    assert!(e.to_string().contains("`PUNCT` is not in it"), "{e}");
    let e = conllu::read(
        &fixture("missing.conllu"),
        ConlluTask::Upos,
        LabelCheck(None),
    )
    .unwrap_err();
    assert!(matches!(e, DataError::Io { .. }));
    assert!(e.to_string().contains("missing.conllu"), "{e}");
}

#[test]
fn streusle_conllulex_role_and_function() {
    let path = fixture("sample.conllulex");
    let role = streusle::read(&path, StreusleTask::Role, LabelCheck(None)).unwrap();
    assert_eq!(role.sentences[0].words.len(), 12);
    assert_eq!(
        units(&role),
        [
            (0, Target::Span(vec![2]), "p.Goal"),
            (0, Target::Span(vec![4, 5]), "p.Explanation"),
            (0, Target::Span(vec![6]), "p.SocialRel"),
        ]
    );
    let fxn = streusle::read(&path, StreusleTask::Function, LabelCheck(None)).unwrap();
    let labels: Vec<&str> = fxn.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels, ["p.Goal", "p.Explanation", "p.Gestalt"]);
    let e = streusle::read(
        &fixture("few-columns.conllulex"),
        StreusleTask::Role,
        LabelCheck(None),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("few-columns.conllulex".into(), 2));
    assert!(e.to_string().contains("19 tab-separated columns"), "{e}");
}

#[test]
fn streusle_json_matches_conllulex_semantics() {
    let c = streusle::read(
        &fixture("sample.json"),
        StreusleTask::Role,
        LabelCheck(None),
    )
    .unwrap();
    assert_eq!(
        words(&c, 0),
        ["I", "went", "to", "school", "because", "of", "it"]
    );
    assert_eq!(c.sentences[0].id.as_deref(), Some("ewt-1"));
    assert_eq!(
        units(&c),
        [
            (0, Target::Span(vec![2]), "p.Goal"),
            (0, Target::Span(vec![4, 5]), "p.Explanation"),
        ]
    );
}

#[test]
fn trec_latin1_fine_and_coarse() {
    let path = fixture("sample.label");
    let c = trec::read(&path, TrecTask::Fine, LabelCheck(None)).unwrap();
    assert_eq!(c.sentences.len(), 3);
    assert_eq!(words(&c, 1), ["Who", "wrote", "«", "François", "»", "?"]);
    let labels: Vec<&str> = c.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels, ["NUM:date", "HUM:ind", "LOC:city"]);
    assert!(c.units.iter().all(|u| u.target == Target::Sentence));
    let coarse = trec::read(&path, TrecTask::Coarse, LabelCheck(None)).unwrap();
    let labels: Vec<&str> = coarse.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(labels, ["NUM", "HUM", "LOC"]);
    let e = trec::read(&fixture("bad.label"), TrecTask::Fine, LabelCheck(None)).unwrap_err();
    assert_eq!(location(&e), ("bad.label".into(), 2));
    assert!(e.to_string().contains("COARSE:fine"), "{e}");
}

#[test]
fn brown_words_split_at_last_slash_and_tags_normalised() {
    let dir = fixture("brown");
    let pos = brown::read_dir(&dir, BrownTask::Pos, LabelCheck(None)).unwrap();
    assert_eq!(pos.sentences.len(), 4);
    assert_eq!(words(&pos, 1), ["It", "isn't", "1/2", "mile", "."]);
    assert_eq!(pos.sentences[1].doc, "ca01");
    assert_eq!(pos.sentences[1].line, 6);
    let tags: Vec<&str> = pos.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(
        tags,
        [
            "at", "np", "nn", "vbd", ".", "pps", "bez", "cd", "nn", ".", "ppss", "rb", ".", "at",
            "nn", "."
        ]
    );
    let uni = brown::read_dir(&dir, BrownTask::Universal, LabelCheck(None)).unwrap();
    let tags: Vec<&str> = uni.units.iter().map(|u| u.label.as_str()).collect();
    assert_eq!(
        tags,
        [
            "DET", "NOUN", "NOUN", "VERB", ".", "PRON", "VERB", "NUM", "NOUN", ".", "PRON", "ADV",
            ".", "X", "X", "."
        ]
    );
    let genre = brown::read_dir(&dir, BrownTask::Genre, LabelCheck(None)).unwrap();
    assert_eq!(
        units(&genre).iter().map(|u| u.2).collect::<Vec<_>>(),
        ["a", "a", "a", "b"]
    );
    assert_eq!(
        genre.units[3],
        tunescope_data::Unit {
            sentence: 3,
            target: Target::Sentence,
            label: "b".into()
        }
    );
    let e = brown::read_dir(&fixture("brown-bad"), BrownTask::Pos, LabelCheck(None)).unwrap_err();
    assert_eq!(location(&e), ("ca01".into(), 2));
    assert!(
        e.to_string().contains("tokens `word/tag`, not `said`"),
        "{e}"
    );
    let e = brown::read_dir(&fixture("."), BrownTask::Pos, LabelCheck(None)).unwrap_err();
    assert!(e.to_string().contains("no Brown corpus files"), "{e}");
}

#[test]
fn tsv_and_jsonl() {
    let c = generic::read_tsv(&fixture("sample.tsv"), LabelCheck(None)).unwrap();
    assert_eq!(words(&c, 0), ["great", "movie"]);
    assert_eq!(words(&c, 1), ["awful", ",", "really"]);
    assert_eq!(
        units(&c),
        [(0, Target::Sentence, "pos"), (1, Target::Sentence, "neg")]
    );
    let e = generic::read_tsv(&fixture("bad.tsv"), LabelCheck(None)).unwrap_err();
    assert_eq!(location(&e), ("bad.tsv".into(), 2));
    let e =
        generic::read_tsv(&fixture("sample.tsv"), LabelCheck(Some(&set(&["pos"])))).unwrap_err();
    assert_eq!(location(&e), ("sample.tsv".into(), 2));

    let t = generic::read_jsonl(
        &fixture("tagging.jsonl"),
        GenericTask::Tagging,
        LabelCheck(None),
    )
    .unwrap();
    assert_eq!(words(&t, 1), ["Sleeps"]);
    assert_eq!(t.sentences[1].line, 3);
    assert_eq!(
        units(&t),
        [
            (0, Target::Token(0), "DET"),
            (0, Target::Token(1), "NOUN"),
            (1, Target::Token(0), "VERB")
        ]
    );
    let e = generic::read_jsonl(
        &fixture("bad-tagging.jsonl"),
        GenericTask::Tagging,
        LabelCheck(None),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("bad-tagging.jsonl".into(), 2));
    assert!(e.to_string().contains("as many tags as tokens"), "{e}");
    let e = generic::read_jsonl(
        &fixture("tagging.jsonl"),
        GenericTask::Classification,
        LabelCheck(None),
    )
    .unwrap_err();
    assert_eq!(location(&e), ("tagging.jsonl".into(), 1));
    let s = generic::read_jsonl(
        &fixture("classify.jsonl"),
        GenericTask::Classification,
        LabelCheck(None),
    )
    .unwrap();
    assert_eq!(
        units(&s),
        [
            (0, Target::Sentence, "question"),
            (1, Target::Sentence, "statement")
        ]
    );
}

fn spec(format: Format, task: TaskKind, files: Files) -> LoadSpec {
    LoadSpec {
        format,
        task,
        files,
        fractions: [0.8, 0.1, 0.1],
        seed: 1,
        max_sentences: None,
        labels: None,
        single_word_units: false,
    }
}

#[test]
fn streusle_can_keep_single_token_prepositions_only() {
    let files = || Files::Separate {
        train: fixture("sample.conllulex"),
        dev: Some(fixture("sample.conllulex")),
        test: Some(fixture("sample.conllulex")),
    };
    let all = load(&spec(Format::Streusle, TaskKind::PsRole, files())).unwrap();
    let single = load(&LoadSpec {
        single_word_units: true,
        ..spec(Format::Streusle, TaskKind::PsRole, files())
    })
    .unwrap();
    let targets = |t: &tunescope_data::Task| -> Vec<Target> {
        t.train.units.iter().map(|u| u.target.clone()).collect()
    };
    assert!(targets(&all).contains(&Target::Span(vec![4, 5])));
    assert_eq!(
        targets(&single),
        [Target::Span(vec![2]), Target::Span(vec![6])],
        "the multi-word `because of` is left out"
    );
    let e = LoadSpec {
        single_word_units: true,
        ..spec(
            Format::Conllu,
            TaskKind::Upos,
            Files::Single(fixture("sample.conllu")),
        )
    }
    .validate()
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("single_word_units is for span tasks"),
        "{e}"
    );
}

#[test]
fn load_separate_files_and_closed_label_set() {
    let mut s = spec(
        Format::Conllu,
        TaskKind::Upos,
        Files::Separate {
            train: fixture("sample.conllu"),
            dev: Some(fixture("crlf.conllu")),
            test: Some(fixture("crlf.conllu")),
        },
    );
    s.labels = Some(
        [
            "ADJ", "AUX", "INTJ", "NOUN", "PART", "PROPN", "PUNCT", "VERB",
        ]
        .map(String::from)
        .to_vec(),
    );
    let task = load(&s).unwrap();
    assert_eq!(task.train.sentences.len(), 2);
    assert_eq!(task.dev.sentences.len(), 1);
    assert_eq!(task.labels.len(), 8);
    assert_eq!(task.label_counts()["ADJ"], 0);
    assert_eq!(task.unit_kind, tunescope_data::UnitKind::Token);
    s.task = TaskKind::TrecFine;
    let e = load(&s).unwrap_err();
    assert!(e.to_string().contains("task `trec-fine` cannot be read from format `conllu`; expected one of: upos, xpos, dep"), "{e}");
}

#[test]
fn load_brown_directory_splits_by_document() {
    let task = load(&spec(
        Format::Brown,
        TaskKind::BrownGenre,
        Files::Single(fixture("brown")),
    ))
    .unwrap();
    // Per genre, the first three files go to train: all fixture files are train.
    assert_eq!(task.train.sentences.len(), 4);
    assert!(task.dev.is_empty() && task.test.is_empty());
    assert_eq!(task.labels, ["a", "b"]);
    assert_eq!(
        task.warnings(),
        ["dev split is empty", "test split is empty"]
    );
}

#[test]
fn seeded_split_and_subsample_are_deterministic() {
    let s = spec(
        Format::Trec,
        TaskKind::TrecCoarse,
        Files::Single(fixture("sample.label")),
    );
    let mut s = LoadSpec {
        fractions: [0.34, 0.33, 0.33],
        ..s
    };
    let a = load(&s).unwrap();
    assert_eq!(a, load(&s).unwrap());
    assert_eq!(
        (
            a.train.sentences.len(),
            a.dev.sentences.len(),
            a.test.sentences.len()
        ),
        (1, 1, 1)
    );
    s.max_sentences = Some(1);
    s.fractions = [1.0, 0.0, 0.0];
    let b = load(&s).unwrap();
    assert_eq!(b.train.sentences.len(), 1);
    assert_eq!(b.train.units.len(), 1);
    assert_eq!(b.train.units[0].sentence, 0);
}
