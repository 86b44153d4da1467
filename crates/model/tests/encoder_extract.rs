//! Task extraction: unit vectors per split and layer, labels, units, content-key skipping.

use std::path::{Path, PathBuf};

use tch::Device;
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};
use tunescope_model::encoder::{self, SentencePool, WordPool};
use tunescope_model::extract::{extract_task, Embedder, ExtractOutcome, TaskExtractOptions};

fn tiny() -> encoder::Encoder {
    tch::set_num_threads(1);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert/model");
    encoder::load(dir, Device::Cpu).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-extract-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn sentence(text: &str) -> Sentence {
    Sentence {
        words: text.split(' ').map(str::to_string).collect(),
        doc: "d".into(),
        id: None,
        file: "f".into(),
        line: 1,
    }
}

const TEXTS: [&str; 3] = [
    "the quick brown fox jumps",
    "dogs were running quickly",
    "hello world",
];

fn split(units: Vec<Unit>) -> Split {
    Split {
        sentences: TEXTS.iter().map(|t| sentence(t)).collect(),
        units,
    }
}

fn unit(sentence: usize, target: Target, label: &str) -> Unit {
    Unit {
        sentence,
        target,
        label: label.into(),
    }
}

fn opts(layers: Vec<usize>) -> TaskExtractOptions {
    TaskExtractOptions {
        word_pool: WordPool::Mean,
        sentence_pool: SentencePool::Cls,
        layers,
        batch_size: 2,
        chunk_words: 5,
    }
}

/// Word vectors `[words, hidden]` of one layer for the three sentences.
fn words(enc: &encoder::Encoder, layer: usize, pool: WordPool) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let e = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        vec![layer],
        pool,
        8,
        Device::Cpu,
    )
    .unwrap();
    let s: Vec<Vec<&str>> = TEXTS.iter().map(|t| t.split(' ').collect()).collect();
    let v = e.embed(&s).unwrap();
    let rows = |t: tch::Tensor| -> Vec<Vec<f32>> {
        (0..t.size()[0])
            .map(|i| Vec::<f32>::try_from(&t.get(i)).unwrap())
            .collect()
    };
    (rows(v.words.get(0)), rows(v.cls.get(0)))
}

fn close(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= 1e-5)
}

#[test]
fn token_pair_span_and_sentence_units() {
    let enc = tiny();
    let (w, cls) = words(&enc, 2, WordPool::Mean);
    // Word offsets: sentence 0 → 0, sentence 1 → 5, sentence 2 → 9.
    let token = Task::new(
        "pos",
        UnitKind::Token,
        split(vec![
            unit(0, Target::Token(1), "ADJ"),
            unit(2, Target::Token(0), "UH"),
        ]),
        split(vec![unit(1, Target::Token(3), "ADV")]),
        split(vec![]),
        &[],
    );
    let out = scratch("token");
    assert!(matches!(
        extract_task(&enc, &token, &out, &opts(vec![0, 2])).unwrap(),
        ExtractOutcome::Written(_)
    ));
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    assert_eq!(a.shape, vec![2, 32]);
    assert!(close(a.row(0), &w[1]) && close(a.row(1), &w[9]));
    assert_eq!(
        std::fs::read_to_string(out.join("train/labels.txt")).unwrap(),
        "ADJ\nUH\n"
    );
    let units = std::fs::read_to_string(out.join("dev/units.jsonl")).unwrap();
    let u: Unit = serde_json::from_str(units.lines().next().unwrap()).unwrap();
    assert_eq!(u, unit(1, Target::Token(3), "ADV"));
    let test = tunescope_data::npy::read_f32(out.join("test/layer-0.npy")).unwrap();
    assert_eq!(test.shape, vec![0, 32]);
    // Unchanged inputs are skipped; a changed setting re-extracts.
    assert!(matches!(
        extract_task(&enc, &token, &out, &opts(vec![0, 2])).unwrap(),
        ExtractOutcome::Skipped(_)
    ));
    let mut first = opts(vec![0, 2]);
    first.word_pool = WordPool::First;
    assert!(matches!(
        extract_task(&enc, &token, &out, &first).unwrap(),
        ExtractOutcome::Written(_)
    ));

    let pair = Task::new(
        "dep",
        UnitKind::Pair,
        split(vec![unit(
            1,
            Target::Pair {
                dependent: 0,
                head: 2,
            },
            "nsubj",
        )]),
        split(vec![]),
        split(vec![]),
        &[],
    );
    let out = scratch("pair");
    extract_task(&enc, &pair, &out, &opts(vec![2])).unwrap();
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    assert_eq!(a.shape, vec![1, 64]);
    assert!(close(&a.row(0)[..32], &w[5]) && close(&a.row(0)[32..], &w[7]));

    let span = Task::new(
        "ps",
        UnitKind::Span,
        split(vec![unit(0, Target::Span(vec![1, 3]), "p.X")]),
        split(vec![]),
        split(vec![]),
        &[],
    );
    let out = scratch("span");
    extract_task(&enc, &span, &out, &opts(vec![2])).unwrap();
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    let mean: Vec<f32> = (0..32).map(|d| (w[1][d] + w[3][d]) / 2.0).collect();
    assert!(close(a.row(0), &mean));

    let sent = Task::new(
        "genre",
        UnitKind::Sentence,
        split(vec![
            unit(0, Target::Sentence, "a"),
            unit(2, Target::Sentence, "b"),
        ]),
        split(vec![]),
        split(vec![]),
        &[],
    );
    let out = scratch("sentence");
    extract_task(&enc, &sent, &out, &opts(vec![2])).unwrap();
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    assert!(close(a.row(0), &cls[0]) && close(a.row(1), &cls[2]));
    let mut mean_opts = opts(vec![2]);
    mean_opts.sentence_pool = SentencePool::Mean;
    extract_task(&enc, &sent, &out, &mean_opts).unwrap();
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    let mean: Vec<f32> = (0..32).map(|d| (w[9][d] + w[10][d]) / 2.0).collect();
    assert!(close(a.row(1), &mean));
}

#[test]
fn bad_units_are_errors() {
    let enc = tiny();
    let task = Task::new(
        "pos",
        UnitKind::Token,
        split(vec![unit(1, Target::Token(7), "X")]),
        split(vec![]),
        split(vec![]),
        &[],
    );
    let out = scratch("bad");
    let e = extract_task(&enc, &task, &out, &opts(vec![0]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("train unit 0") && e.contains("4 words"), "{e}");
    assert!(!out.join("train/layer-0.npy").exists());
}
