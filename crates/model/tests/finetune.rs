//! Fine-tuning end to end on a tiny random BERT and a synthetic token task: learning, seeded
//! determinism, resume after a crash or a stop request, the HF-layout output and the input checks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tch::{nn, Device, Tensor};
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};
use tunescope_model::encoder::{save_weights, EncoderConfig, Model};
use tunescope_model::finetune::{
    batch::Rng, finetune, FinetuneConfig, Interrupted, Job, Outcome, Progress, Quiet,
};

/// libtorch's generator is process-global: runs must not interleave.
static SERIAL: Mutex<()> = Mutex::new(());

const WORDS: usize = 24;

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-ft-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A random-weight BERT (2 layers, hidden 32) in HF layout with a word-level vocabulary.
fn tiny_bert(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let mut vocab = vec![
        "[PAD]".to_string(),
        "[UNK]".into(),
        "[CLS]".into(),
        "[SEP]".into(),
        "[MASK]".into(),
    ];
    vocab.extend((0..WORDS).map(|i| format!("w{i}")));
    std::fs::write(dir.join("vocab.txt"), vocab.join("\n") + "\n").unwrap();
    let config = serde_json::json!({
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": vocab.len(),
        "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 64, "hidden_act": "gelu", "max_position_embeddings": 64,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    });
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string_pretty(&config).unwrap(),
    )
    .unwrap();
    tch::manual_seed(1234);
    let vs = nn::VarStore::new(Device::Cpu);
    let bert = Model::new(&vs.root(), &EncoderConfig::from_json(&config).unwrap());
    save_weights(&vs, &bert, &dir.join("model.safetensors")).unwrap();
}

/// Sentences of 3–10 words `w<i>`; word `w<i>` is labelled `L<i mod 4>`.
fn split(n: usize, seed: u64) -> Split {
    let mut rng = Rng::new(seed);
    let mut sentences = Vec::new();
    let mut units = Vec::new();
    for s in 0..n {
        let len = 3 + rng.below(8);
        let ids: Vec<usize> = (0..len).map(|_| rng.below(WORDS)).collect();
        for (w, &i) in ids.iter().enumerate() {
            units.push(Unit {
                sentence: s,
                target: Target::Token(w),
                label: format!("L{}", i % 4),
            });
        }
        let words = ids.iter().map(|i| format!("w{i}")).collect();
        sentences.push(Sentence {
            words,
            doc: "d".into(),
            id: None,
            file: "synthetic".into(),
            line: s + 1,
        });
    }
    Split { sentences, units }
}

fn task() -> Task {
    let train = split(64, 1);
    // Dev is the train split itself, so the dev score is the train accuracy.
    Task::new(
        "synthetic",
        UnitKind::Token,
        train.clone(),
        train,
        split(16, 2),
        &[],
    )
}

fn config() -> FinetuneConfig {
    FinetuneConfig {
        lr: 3e-3,
        epochs: 6,
        batch_size: 8,
        dropout: 0.1,
        log_every: 2,
        seed: 7,
        max_len: 32,
        ..Default::default()
    }
}

fn run(
    task: &Task,
    model: &Path,
    run_dir: &Path,
    config: FinetuneConfig,
    progress: &mut dyn Progress,
) -> anyhow::Result<Outcome> {
    tch::set_num_threads(1);
    finetune(
        &Job {
            task,
            model_dir: model.to_path_buf(),
            run_dir: run_dir.to_path_buf(),
            config,
        },
        progress,
    )
}

fn weights(run_dir: &Path) -> Vec<u8> {
    let mut bytes = std::fs::read(run_dir.join("models/finetuned/model.safetensors")).unwrap();
    bytes.extend(std::fs::read(run_dir.join("models/finetuned/head.safetensors")).unwrap());
    bytes
}

#[test]
fn learns_tiny_token_task_and_saves_hf_layout() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = scratch("learn");
    tiny_bert(&root.join("bert"));
    let task = task();
    let out = run(
        &task,
        &root.join("bert"),
        &root.join("run"),
        FinetuneConfig {
            checkpoint_every: 12,
            ..config()
        },
        &mut Quiet,
    )
    .unwrap();
    assert!(
        out.dev.accuracy >= 0.95,
        "train accuracy {}",
        out.dev.accuracy
    );
    assert!(
        out.test.accuracy >= 0.9,
        "test accuracy {}",
        out.test.accuracy
    );
    assert_eq!(out.updates, 6 * 8);

    let fin = root.join("run/models/finetuned");
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fin.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["id2label"]["2"], "L2");
    assert_eq!(cfg["label2id"]["L3"], 3);
    for f in [
        "model.safetensors",
        "head.safetensors",
        "tokenizer.json",
        "vocab.txt",
    ] {
        assert!(fin.join(f).is_file(), "{f} missing");
    }
    let names: Vec<String> = Tensor::read_safetensors(fin.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert!(
        names.contains(&"encoder.layer.1.output.LayerNorm.weight".to_string()),
        "{names:?}"
    );
    assert!(names.iter().all(|n| !n.starts_with("classifier")));
    // Checkpoints every 12 updates, the resolved settings and one log record per 2 updates.
    for u in [12, 24, 36, 48] {
        assert!(
            root.join(format!("run/models/ckpt-{u}/model.safetensors"))
                .is_file(),
            "ckpt-{u}"
        );
    }
    let resolved: FinetuneConfig =
        serde_json::from_slice(&std::fs::read(root.join("run/finetune_config.json")).unwrap())
            .unwrap();
    assert_eq!(resolved.checkpoint_every, 12);
    let log = std::fs::read_to_string(root.join("run/train_log.jsonl")).unwrap();
    let train_records = log
        .lines()
        .filter(|l| l.contains("\"kind\":\"train\""))
        .count();
    let evals = log
        .lines()
        .filter(|l| l.contains("\"kind\":\"eval\""))
        .count();
    assert_eq!((train_records, evals), (24, 6 + 1));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn same_seed_gives_identical_weights_and_resume_reaches_them() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = scratch("seed");
    tiny_bert(&root.join("bert"));
    let task = task();
    let cfg = FinetuneConfig {
        epochs: 2,
        state_every: 3,
        ..config()
    };
    run(
        &task,
        &root.join("bert"),
        &root.join("a"),
        cfg.clone(),
        &mut Quiet,
    )
    .unwrap();
    run(
        &task,
        &root.join("bert"),
        &root.join("b"),
        cfg.clone(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(weights(&root.join("a")), weights(&root.join("b")));
    run(
        &task,
        &root.join("bert"),
        &root.join("c"),
        FinetuneConfig {
            seed: 8,
            ..cfg.clone()
        },
        &mut Quiet,
    )
    .unwrap();
    assert_ne!(weights(&root.join("a")), weights(&root.join("c")));

    // A crash at update 11 (after the state of update 9 was saved, mid-epoch 2) ...
    struct CrashAt(u64);
    impl Progress for CrashAt {
        fn update(&mut self, rec: &tunescope_model::finetune::train::StepRecord) {
            assert!(rec.update != self.0, "simulated crash");
        }
    }
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(
            &task,
            &root.join("bert"),
            &root.join("r"),
            cfg.clone(),
            &mut CrashAt(11),
        )
    }));
    assert!(crashed.is_err());
    assert!(!root.join("r/models/finetuned").exists());
    // ... then a rerun continues from update 9 to the uninterrupted run's weights and log.
    let out = run(
        &task,
        &root.join("bert"),
        &root.join("r"),
        cfg.clone(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(out.updates, 16);
    assert_eq!(weights(&root.join("a")), weights(&root.join("r")));
    let updates = |d: &str| -> Vec<(String, u64)> {
        std::fs::read_to_string(root.join(d).join("train_log.jsonl"))
            .unwrap()
            .lines()
            .map(|l| {
                let v: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    v["kind"].as_str().unwrap().to_string(),
                    v["update"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    assert_eq!(updates("a"), updates("r"));
    // A stop request (Ctrl-C) after update 5, which is no scheduled state update, saves the
    // state there, writes no final model, and the rerun reaches the same weights and log.
    struct StopAfter(u64, u64);
    impl Progress for StopAfter {
        fn update(&mut self, rec: &tunescope_model::finetune::train::StepRecord) {
            self.1 = rec.update;
        }
        fn stop_requested(&mut self) -> bool {
            self.1 >= self.0
        }
    }
    let e = run(
        &task,
        &root.join("bert"),
        &root.join("t"),
        cfg.clone(),
        &mut StopAfter(5, 0),
    )
    .unwrap_err();
    let stopped = e
        .downcast_ref::<Interrupted>()
        .expect("an Interrupted error");
    assert_eq!((stopped.update, stopped.total), (5, 16));
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("t/finetune-state/state.json")).unwrap())
            .unwrap();
    assert_eq!(state["update"], 5);
    assert!(!root.join("t/models/finetuned").exists());
    assert!(!root.join("t/finetune.json").exists());
    let out = run(
        &task,
        &root.join("bert"),
        &root.join("t"),
        cfg.clone(),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(out.updates, 16);
    assert_eq!(weights(&root.join("a")), weights(&root.join("t")));
    assert_eq!(updates("a"), updates("t"));
    // A different setting does not silently continue someone else's run.
    let _ = std::fs::remove_dir_all(root.join("r/models"));
    let crashed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(
            &task,
            &root.join("bert"),
            &root.join("s"),
            cfg.clone(),
            &mut CrashAt(4),
        )
    }));
    assert!(crashed.is_err());
    let e = run(
        &task,
        &root.join("bert"),
        &root.join("s"),
        FinetuneConfig { lr: 1e-3, ..cfg },
        &mut Quiet,
    )
    .unwrap_err();
    assert!(e.to_string().contains("other settings"), "{e}");
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn bad_inputs_fail_before_training_and_write_nothing() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = scratch("bad");
    tiny_bert(&root.join("bert"));
    let good = task();
    let check = |task: &Task, model: &Path, cfg: FinetuneConfig, expect: &str| {
        let dir = root.join("run");
        let e = format!("{:#}", run(task, model, &dir, cfg, &mut Quiet).unwrap_err());
        assert!(e.contains(expect), "{e}");
        assert!(!dir.exists(), "{expect}: output written");
    };
    let mut t = good.clone();
    t.dev.units[0].label = "NEW".into();
    t = Task::new("synthetic", UnitKind::Token, t.train, t.dev, t.test, &[]);
    check(&t, &root.join("bert"), config(), "never seen in train: NEW");
    let t = Task::new(
        "synthetic",
        UnitKind::Token,
        Split::default(),
        good.dev.clone(),
        good.test.clone(),
        &[],
    );
    check(&t, &root.join("bert"), config(), "empty train split");
    check(
        &good,
        &root.join("bert"),
        FinetuneConfig {
            head: Some(UnitKind::Pair),
            ..config()
        },
        "does not fit task",
    );
    check(
        &good,
        &root.join("bert"),
        FinetuneConfig {
            batch_size: 0,
            ..config()
        },
        "batch_size",
    );
    check(
        &good,
        &root.join("bert"),
        FinetuneConfig {
            max_len: 512,
            ..config()
        },
        "exceeds the model's 64 positions",
    );
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::copy(
        root.join("bert/config.json"),
        root.join("empty/config.json"),
    )
    .unwrap();
    check(
        &good,
        &root.join("empty"),
        config(),
        "missing model.safetensors",
    );
    std::fs::remove_dir_all(root).unwrap();
}
