//! Arbitrary bytes never make a reader panic: they parse or give a `DataError` (or, for
//! `.npy` files, an `NpyError`).
//!
//! Each property runs `TUNESCOPE_FUZZ_CASES` cases (default 512), e.g. a long run:
//! `TUNESCOPE_FUZZ_CASES=200000 cargo test --release -p tunescope-data --test no_panic`.

use std::path::Path;

use proptest::prelude::*;
use tunescope_data::npy;
use tunescope_data::readers::{
    brown::{self, BrownTask},
    conllu::{self, ConlluTask},
    generic::{self, GenericTask},
    streusle::{self, StreusleTask},
    trec::{self, TrecTask},
    LabelCheck,
};

/// Cases per property: `TUNESCOPE_FUZZ_CASES`, or 512.
fn cases() -> u32 {
    std::env::var("TUNESCOPE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

/// Where the `.npy` property writes its files: `/dev/shm` when present (memory-backed; a
/// file round trip on a disk-backed temporary directory can cost 100× more), else the system's
/// temporary directory.
fn fuzz_dir() -> std::path::PathBuf {
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    }
}

/// `.npy` files: a valid or nearly valid header (any version, dtype, order, shape; header length
/// right or wrong) followed by random data bytes, or random bytes after the magic.
fn npy_bytes() -> impl Strategy<Value = Vec<u8>> {
    let dict = (
        prop::sample::select(vec!["<f4", "<f8", "<i4", "<i8", ">f4", "|u1", "<c8", ""]),
        prop::sample::select(vec!["False", "True", "0", ""]),
        prop::collection::vec(
            prop_oneof![
                Just("0".to_string()),
                Just("1".to_string()),
                Just("18446744073709551615".to_string()),
                Just("4294967296".to_string()),
                Just("-1".to_string()),
                Just("".to_string()),
                Just("2L".to_string()),
                (0usize..6).prop_map(|n| n.to_string()),
            ],
            0..4,
        ),
        any::<bool>(),
    )
        .prop_map(|(descr, order, dims, trailing)| {
            let shape = if dims.len() == 1 && trailing {
                format!("({},)", dims[0])
            } else {
                format!("({})", dims.join(", "))
            };
            format!("{{'descr': '{descr}', 'fortran_order': {order}, 'shape': {shape}, }}")
        });
    prop_oneof![
        3 => (
            0u8..5,
            dict,
            -3i32..3,
            prop::collection::vec(any::<u8>(), 0..96),
        )
            .prop_map(|(version, dict, skew, data)| {
                let mut b = b"\x93NUMPY".to_vec();
                b.push(version);
                b.push(0);
                let len = (dict.len() as i64 + i64::from(skew)).max(0) as u64;
                if version >= 2 {
                    b.extend_from_slice(&(len as u32).to_le_bytes());
                } else {
                    b.extend_from_slice(&(len as u16).to_le_bytes());
                }
                b.extend_from_slice(dict.as_bytes());
                b.extend_from_slice(&data);
                b
            }),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(|tail| {
            let mut b = b"\x93NUMPY".to_vec();
            b.extend_from_slice(&tail);
            b
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

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
    #![proptest_config(ProptestConfig::with_cases(cases()))]

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
    fn npy_reader_never_panics(bytes in npy_bytes()) {
        let path = fuzz_dir().join(
            format!("tunescope-fuzz-{}-{:?}.npy", std::process::id(), std::thread::current().id())
                .replace(['(', ')'], ""),
        );
        std::fs::write(&path, &bytes).unwrap();
        let _ = npy::read_header(&path);
        let _ = npy::read_f32(&path);
        let _ = npy::read_f64(&path);
        let _ = npy::read_f32_matrix(&path);
        let _ = npy::read_f64_matrix(&path);
        let ints = npy::read_i64(&path);
        let _ = tunescope_data::labels::read_label_file(&path);
        std::fs::remove_file(&path).unwrap();
        if let Ok(a) = ints {
            prop_assert_eq!(a.data.len(), a.shape.iter().product::<usize>());
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
