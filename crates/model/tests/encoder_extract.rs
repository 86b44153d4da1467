//! Task extraction: unit vectors per split and layer, labels, units, unit validation.

use std::path::{Path, PathBuf};

use tch::Device;
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};
use tunescope_model::encoder::{self, SentencePool, WordPool};
use tunescope_model::extract::{extract_task, Embedder, TaskExtractOptions};

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

/// Extracts every split of `task` into `out`; returns the unit counts.
fn run(enc: &encoder::Encoder, task: &Task, out: &Path, o: &TaskExtractOptions) -> Vec<usize> {
    let mut sentences = 0;
    let counts = extract_task(enc, task, &["train", "dev", "test"], out, o, &mut |k| {
        sentences += k
    })
    .unwrap();
    assert_eq!(
        sentences,
        3 * TEXTS.len(),
        "progress counts every split's sentences"
    );
    counts.into_iter().map(|(_, n)| n).collect()
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
    assert_eq!(run(&enc, &token, &out, &opts(vec![0, 2])), [2, 1, 0]);
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
    let ids = tunescope_data::npy::read_i64(out.join("train/labels.npy")).unwrap();
    assert_eq!(
        ids.data,
        [
            token.label_index("ADJ").unwrap() as i64,
            token.label_index("UH").unwrap() as i64
        ]
    );
    let test = tunescope_data::npy::read_f32(out.join("test/layer-0.npy")).unwrap();
    assert_eq!(test.shape[0], 0);
    // A second extraction replaces the first as a whole.
    let mut first = opts(vec![0]);
    first.word_pool = WordPool::First;
    run(&enc, &token, &out, &first);
    assert!(!out.join("train/layer-2.npy").exists());

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
    run(&enc, &pair, &out, &opts(vec![2]));
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
    run(&enc, &span, &out, &opts(vec![2]));
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
    run(&enc, &sent, &out, &opts(vec![2]));
    let a = tunescope_data::npy::read_f32(out.join("train/layer-2.npy")).unwrap();
    assert!(close(a.row(0), &cls[0]) && close(a.row(1), &cls[2]));
    let mut mean_opts = opts(vec![2]);
    mean_opts.sentence_pool = SentencePool::Mean;
    run(&enc, &sent, &out, &mean_opts);
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
    let e = extract_task(&enc, &task, &["train"], &out, &opts(vec![0]), &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(e.contains("train unit 0") && e.contains("4 words"), "{e}");
    assert!(!out.join("train/layer-0.npy").exists());
}
