//! Arbitrary bytes never make a reader panic: they parse or give a `DataError`.

use std::path::Path;

use proptest::prelude::*;
use tunescope_data::readers::{
    brown::{self, BrownTask},
    conllu::{self, ConlluTask},
    generic::{self, GenericTask},
    streusle::{self, StreusleTask},
    trec::{self, TrecTask},
    LabelCheck,
};

/// Cases per property; each property runs this many random inputs.
const CASES: u32 = 512;

/// Bytes biased towards the characters the formats give meaning to.
fn input() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(vec![
                "\t", "\n", "\r\n", "#", " ", "_", "-", ".", ":", "/", "1", "2", "0", "p.", "`$",
                "{", "}", "[", "]", "\"", ",", "tokens", "tags", "text", "label", "NUM:date ", "1:2",
            ])
            .prop_map(String::from),
            1 => any::<String>(),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    #[test]
    fn conllu_never_panics(text in input()) {
        for task in [ConlluTask::Upos, ConlluTask::Xpos, ConlluTask::Dep] {
            let _ = conllu::parse(&text, Path::new("x.conllu"), task, LabelCheck(None));
        }
    }

    #[test]
    fn streusle_never_panics(text in input()) {
        for task in [StreusleTask::Role, StreusleTask::Function] {
            let _ = streusle::parse_conllulex(&text, Path::new("x.conllulex"), task, LabelCheck(None));
            let _ = streusle::parse_json(&text, Path::new("x.json"), task, LabelCheck(None));
        }
    }

    #[test]
    fn trec_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text: String = bytes.iter().map(|&b| char::from(b)).collect();
        for task in [TrecTask::Fine, TrecTask::Coarse] {
            let _ = trec::parse(&text, Path::new("x.label"), task, LabelCheck(None));
        }
    }

    #[test]
    fn brown_never_panics(text in input()) {
        for task in [BrownTask::Pos, BrownTask::Universal, BrownTask::Genre] {
            let _ = brown::parse(&text, Path::new("ca01"), task, LabelCheck(None));
        }
    }

    #[test]
    fn generic_never_panics(text in input()) {
        let _ = generic::parse_tsv(&text, Path::new("x.tsv"), LabelCheck(None));
        for task in [GenericTask::Tagging, GenericTask::Classification] {
            let _ = generic::parse_jsonl(&text, Path::new("x.jsonl"), task, LabelCheck(None));
        }
    }
}

/// Invalid UTF-8 from disk is a located error, not a panic.
#[test]
fn invalid_utf8_is_an_error_with_its_line() {
    let dir = std::env::temp_dir().join(format!("tunescope-data-utf8-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.conllu");
    std::fs::write(&path, b"# ok\n1\tA\xff\n").unwrap();
    let e = conllu::read(&path, ConlluTask::Upos, LabelCheck(None)).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.line(), Some(2));
    assert!(e.to_string().contains("expected UTF-8 text"), "{e}");
}
