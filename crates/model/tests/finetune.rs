//! Fine-tuning end to end on a tiny random BERT and a synthetic token task: learning, seeded
//! determinism, resume after a crash or a stop request, the HF-layout output and the input checks.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tch::{nn, Device, Tensor};
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};
use tunescope_model::encoder::{save_weights, EncoderConfig, Model};
use tunescope_model::finetune::{
    batch::Rng, finetune, train::build_model, FinetuneConfig, Interrupted, Job, Method, Outcome,
    Progress, Quiet,
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
    for (cfg, expect) in [
        (
            FinetuneConfig {
                method: Method::Lora,
                lora_targets: vec!["q_lin".into()],
                ..config()
            },
            "\"q_lin\" names no linear layer of this bert model",
        ),
        (
            FinetuneConfig {
                method: Method::Freeze,
                freeze_layers: 3,
                ..config()
            },
            "freeze_layers = 3 exceeds the model's 2 layers",
        ),
        (
            FinetuneConfig {
                method: Method::Freeze,
                ..config()
            },
            "needs finetune.freeze_layers",
        ),
        (
            FinetuneConfig {
                freeze_layers: 1,
                ..config()
            },
            "only used with method = \"freeze\"",
        ),
    ] {
        check(&good, &root.join("bert"), cfg, expect);
    }
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

/// Named tensors of a safetensors file, by name.
fn tensors(path: &Path) -> std::collections::BTreeMap<String, Tensor> {
    Tensor::read_safetensors(path)
        .unwrap()
        .into_iter()
        .collect()
}

/// Raw bytes of every tensor of a safetensors file, by name.
fn raw(path: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, v.data().to_vec()))
        .collect()
}

#[test]
fn lora_learns_trains_only_adapters_and_head_and_merges_exactly() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = scratch("lora");
    let base = root.join("bert");
    tiny_bert(&base);
    let task = task();
    let cfg = FinetuneConfig {
        method: Method::Lora,
        lora_r: 4,
        lora_alpha: 8.0,
        lora_dropout: 0.1,
        lr: 2e-2,
        epochs: 12,
        ..config()
    };
    let out = run(&task, &base, &root.join("run"), cfg.clone(), &mut Quiet).unwrap();
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
    // 2 layers × {query, value} × (A [4, 32] + B [32, 4]) + head (32 × 4 + 4).
    assert_eq!(out.trained_parameters, 2 * 2 * 2 * 4 * 32 + 32 * 4 + 4);

    // PEFT's layout and names.
    let adir = root.join("run/models/adapter");
    let acfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(adir.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(acfg["peft_type"], "LORA");
    assert_eq!(acfg["r"], 4);
    assert_eq!(acfg["lora_alpha"], 8.0);
    assert_eq!(
        acfg["target_modules"],
        serde_json::json!(["query", "value"])
    );
    assert_eq!(
        acfg["base_model_name_or_path"],
        std::fs::canonicalize(&base).unwrap().to_str().unwrap()
    );
    let adapter = tensors(&adir.join("adapter_model.safetensors"));
    let mut expected = Vec::new();
    for l in 0..2 {
        for m in ["query", "value"] {
            for ab in ["A", "B"] {
                expected.push(format!(
                    "base_model.model.encoder.layer.{l}.attention.self.{m}.lora_{ab}.weight"
                ));
            }
        }
    }
    expected.sort();
    assert_eq!(adapter.keys().cloned().collect::<Vec<_>>(), expected);

    // A and B moved from their initialisation (A Kaiming-uniform within ±1/√32, B zero).
    let init = build_model(&base, UnitKind::Token, 4, &cfg).unwrap();
    let init_lora: std::collections::BTreeMap<String, Tensor> =
        init.encoder.lora_parameters(&init.vs).into_iter().collect();
    assert_eq!(init_lora.len(), 8);
    for (name, t0) in &init_lora {
        let t1 = &adapter[&format!("base_model.model.{name}")];
        if name.contains("lora_A") {
            assert!(t0.abs().max().double_value(&[]) <= 1.0 / 32f64.sqrt());
            assert!(t0.abs().max().double_value(&[]) > 0.5 / 32f64.sqrt());
        } else {
            assert_eq!(t0.abs().max().double_value(&[]), 0.0);
        }
        assert!(!t0.equal(t1), "{name} did not change");
    }
    // The base encoder in the last training state is the pre-trained one, byte for byte.
    let base_raw = raw(&base.join("model.safetensors"));
    let state_raw = raw(&root.join("run/finetune-state/weights.safetensors"));
    for (name, bytes) in &base_raw {
        assert_eq!(&state_raw[name], bytes, "{name} changed");
    }
    let head = tensors(&root.join("run/models/finetuned/head.safetensors"));
    let head0 = init.head.linear.ws.detach();
    assert!(!head["classifier.weight"].equal(&head0), "head unchanged");

    // The merged model is W + (alpha / r) · B A exactly; every other tensor is the base's.
    let merged = tensors(&root.join("run/models/finetuned/model.safetensors"));
    let base_t = tensors(&base.join("model.safetensors"));
    assert_eq!(merged.len(), base_t.len());
    for (name, w) in &base_t {
        let module = name.strip_suffix(".weight").unwrap_or("");
        match adapter.get(&format!("base_model.model.{module}.lora_A.weight")) {
            Some(a) => {
                let b = &adapter[&format!("base_model.model.{module}.lora_B.weight")];
                let want = w + b.matmul(a) * 2.0;
                assert!(merged[name].equal(&want), "{name} is not W + 2 BA");
                assert!(!merged[name].equal(w));
            }
            None => assert!(merged[name].equal(w), "{name} changed"),
        }
    }

    // The adapter directory loads as an encoder (base + merged adapter) identical to the merged
    // model, and its head is saved beside it.
    let from_adapter = tunescope_model::encoder::load(&adir, Device::Cpu).unwrap();
    let from_merged =
        tunescope_model::encoder::load(root.join("run/models/finetuned"), Device::Cpu).unwrap();
    let a = from_adapter.model.parameters(&from_adapter.vs);
    let m = from_merged.model.parameters(&from_merged.vs);
    assert_eq!(a.len(), m.len());
    for ((na, ta), (nm, tm)) in a.iter().zip(&m) {
        assert_eq!(na, nm);
        assert!(
            ta.equal(tm),
            "{na} differs between adapter and merged model"
        );
    }
    assert_ne!(from_adapter.weights_sha256, from_merged.weights_sha256);
    assert!(tensors(&adir.join("head.safetensors"))["classifier.weight"]
        .equal(&head["classifier.weight"]));
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn freeze_run_keeps_embeddings_and_bottom_layers_byte_identical() {
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let root = scratch("freeze");
    let base = root.join("bert");
    tiny_bert(&base);
    let task = task();
    let cfg = FinetuneConfig {
        method: Method::Freeze,
        freeze_layers: 1,
        epochs: 2,
        ..config()
    };
    run(&task, &base, &root.join("run"), cfg, &mut Quiet).unwrap();
    let before = raw(&base.join("model.safetensors"));
    let after = raw(&root.join("run/models/finetuned/model.safetensors"));
    let mut changed = 0;
    for (name, bytes) in &before {
        let frozen = name.starts_with("embeddings.") || name.starts_with("encoder.layer.0.");
        if frozen || name.starts_with("pooler.") {
            assert_eq!(&after[name], bytes, "frozen {name} changed");
        } else if &after[name] != bytes {
            changed += 1;
        }
    }
    // Every tensor of layer 1 (16 of them) is trained.
    assert_eq!(changed, 16);
    assert!(!root.join("run/models/adapter").exists());
    std::fs::remove_dir_all(root).unwrap();
}
