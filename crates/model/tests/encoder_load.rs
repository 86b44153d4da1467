//! Loading and saving HF directories: tokenizer fallback, `bert.` prefix, clear errors,
//! round trip, dropout only in training.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder::{self, load_weights, EncoderConfig, Model};

/// libtorch's random generator is process-wide and tests run on parallel threads: every test
/// here that builds a model (random initialisation draws from it) holds this lock, so the
/// seeded-dropout test sees no interleaved draws.
fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn tiny_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert/model")
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-encoder-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A copy of the tiny model directory with only the listed files.
fn copy_of(name: &str, files: &[&str]) -> PathBuf {
    let d = scratch(name);
    for f in files {
        std::fs::copy(tiny_dir().join(f), d.join(f)).unwrap();
    }
    d
}

fn batch() -> (Tensor, Tensor) {
    let ids = Tensor::from_slice(&[2i64, 5, 8, 9, 3, 2, 41, 3, 0, 0]).view([2, 5]);
    let mask = Tensor::from_slice(&[1i64, 1, 1, 1, 1, 1, 1, 1, 0, 0]).view([2, 5]);
    (ids, mask)
}

fn max_diff(a: &[Tensor], b: &[Tensor]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs().max().double_value(&[]))
        .fold(0.0, f64::max)
}

fn err_of(r: anyhow::Result<encoder::Encoder>) -> String {
    format!("{:#}", r.expect_err("loading should fail"))
}

#[test]
fn vocab_txt_fallback_tokenizes_like_tokenizer_json() {
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let d = copy_of(
        "vocab",
        &[
            "config.json",
            "model.safetensors",
            "vocab.txt",
            "tokenizer_config.json",
        ],
    );
    let a = encoder::load(tiny_dir(), Device::Cpu).unwrap();
    let b = encoder::load(&d, Device::Cpu).unwrap();
    for s in [
        "The quick brown fox",
        "Unbelievable ! Dogs were running",
        "I don't know zebra",
    ] {
        let words: Vec<&str> = s.split(' ').collect();
        assert_eq!(
            a.tokenizer.encode(&words).unwrap(),
            b.tokenizer.encode(&words).unwrap(),
            "{s}"
        );
    }
    // do_lower_case = false is honoured: upper-case words no longer match the vocabulary.
    let cfg = d.join("tokenizer_config.json");
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg).unwrap()).unwrap();
    v["do_lower_case"] = false.into();
    std::fs::write(&cfg, v.to_string()).unwrap();
    let c = encoder::load(&d, Device::Cpu).unwrap();
    let unk = c.tokenizer.inner().token_to_id("[UNK]").unwrap() as i64;
    let e = c.tokenizer.encode(&["The", "the"]).unwrap();
    assert_eq!(e.windows[0].ids[1], unk);
    assert_ne!(e.windows[0].ids[2], unk);
}

#[test]
fn missing_files_and_pickles_are_clear_errors() {
    let _rng = rng_lock();
    let d = copy_of("missing", &["model.safetensors", "tokenizer.json"]);
    assert!(err_of(encoder::load(&d, Device::Cpu)).contains("missing config.json"));
    std::fs::copy(tiny_dir().join("config.json"), d.join("config.json")).unwrap();
    std::fs::remove_file(d.join("model.safetensors")).unwrap();
    assert!(err_of(encoder::load(&d, Device::Cpu)).contains("missing model.safetensors"));
    std::fs::write(d.join("pytorch_model.bin"), b"PK\x03\x04 not unpickled").unwrap();
    let e = err_of(encoder::load(&d, Device::Cpu));
    assert!(
        e.contains("pytorch_model.bin") && e.contains("safe_serialization=True"),
        "{e}"
    );
    std::fs::copy(
        tiny_dir().join("model.safetensors"),
        d.join("model.safetensors"),
    )
    .unwrap();
    std::fs::remove_file(d.join("tokenizer.json")).unwrap();
    let e = err_of(encoder::load(&d, Device::Cpu));
    assert!(
        e.contains("tokenizer.json") && e.contains("vocab.txt"),
        "{e}"
    );
    let e = err_of(encoder::load(d.join("nope"), Device::Cpu));
    assert!(e.contains("does not exist"), "{e}");
    // A truncated weights file is refused with its name, not a panic.
    std::fs::copy(tiny_dir().join("tokenizer.json"), d.join("tokenizer.json")).unwrap();
    let bytes = std::fs::read(tiny_dir().join("model.safetensors")).unwrap();
    std::fs::write(d.join("model.safetensors"), &bytes[..bytes.len() / 2]).unwrap();
    let e = err_of(encoder::load(&d, Device::Cpu));
    assert!(
        e.contains("model.safetensors is not a valid safetensors file"),
        "{e}"
    );
    // Another model_type is refused with the list of supported ones.
    let mut cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(tiny_dir().join("config.json")).unwrap()).unwrap();
    cfg["model_type"] = "deberta-v2".into();
    std::fs::write(d.join("config.json"), cfg.to_string()).unwrap();
    let e = err_of(encoder::load(&d, Device::Cpu));
    assert!(
        e.contains("config.json")
            && e.contains(
                "model_type \"deberta-v2\" is not supported (supported: bert, roberta, \
                 xlm-roberta, distilbert, electra)"
            ),
        "{e}"
    );
}

/// Rewrites the tiny checkpoint with `f` applied to its (name, tensor) list.
fn rewrite(name: &str, f: impl Fn(Vec<(String, Tensor)>) -> Vec<(String, Tensor)>) -> PathBuf {
    let d = copy_of(name, &["config.json", "tokenizer.json"]);
    let tensors = Tensor::read_safetensors(tiny_dir().join("model.safetensors")).unwrap();
    Tensor::write_safetensors(&f(tensors), d.join("model.safetensors")).unwrap();
    d
}

#[test]
fn bert_prefix_missing_tensor_and_wrong_shape() {
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let reference = encoder::load(tiny_dir(), Device::Cpu).unwrap();
    let (ids, mask) = batch();
    let want = tch::no_grad(|| reference.model.forward_t(&ids, &mask, false));

    let prefixed = rewrite("prefix", |t| {
        let mut t: Vec<_> = t
            .into_iter()
            .map(|(n, x)| (format!("bert.{n}"), x))
            .collect();
        t.push((
            "classifier.weight".into(),
            Tensor::zeros([3, 32], (Kind::Float, Device::Cpu)),
        ));
        t
    });
    let p = encoder::load(&prefixed, Device::Cpu).unwrap();
    assert_eq!(
        max_diff(
            &want,
            &tch::no_grad(|| p.model.forward_t(&ids, &mask, false))
        ),
        0.0
    );

    let missing = rewrite("missing-tensor", |t| {
        t.into_iter()
            .filter(|(n, _)| n != "encoder.layer.1.output.dense.weight")
            .collect()
    });
    let e = err_of(encoder::load(&missing, Device::Cpu));
    assert!(
        e.contains("missing tensor encoder.layer.1.output.dense.weight") && e.contains("[32, 48]"),
        "{e}"
    );

    let wrong = rewrite("wrong-shape", |t| {
        t.into_iter()
            .map(|(n, x)| {
                if n.ends_with("intermediate.dense.bias") {
                    (n, x.narrow(0, 0, 40))
                } else {
                    (n, x)
                }
            })
            .collect()
    });
    let e = err_of(encoder::load(&wrong, Device::Cpu));
    assert!(e.contains("has shape [40], expected [48]"), "{e}");
}

#[test]
fn save_round_trips_names_and_outputs() {
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let a = encoder::load(tiny_dir(), Device::Cpu).unwrap();
    let out = scratch("saved");
    a.save(&out).unwrap();
    let b = encoder::load(&out, Device::Cpu).unwrap();
    let (ids, mask) = batch();
    let (x, y) = tch::no_grad(|| {
        (
            a.model.forward_t(&ids, &mask, false),
            b.model.forward_t(&ids, &mask, false),
        )
    });
    assert_eq!(max_diff(&x, &y), 0.0);
    let mut src: Vec<String> = Tensor::read_safetensors(tiny_dir().join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    let mut saved: Vec<String> = Tensor::read_safetensors(out.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|p| p.0)
        .collect();
    src.sort();
    saved.sort();
    assert_eq!(src, saved);
    for f in [
        "config.json",
        "tokenizer.json",
        "vocab.txt",
        "tokenizer_config.json",
    ] {
        assert!(out.join(f).is_file(), "{f} not saved");
    }
    assert_eq!(
        b.weights_sha256,
        encoder::file_sha256(&out.join("model.safetensors")).unwrap()
    );
}

#[test]
fn dropout_only_in_training_and_seeded() {
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let cfg = EncoderConfig::from_file(&tiny_dir().join("config.json")).unwrap();
    let vs = tch::nn::VarStore::new(Device::Cpu);
    let bert = Model::new(&(vs.root() / "bert"), &cfg);
    load_weights(&vs, &bert, &tiny_dir().join("model.safetensors")).unwrap();
    let (ids, mask) = batch();
    let eval1 = tch::no_grad(|| bert.forward_t(&ids, &mask, false));
    let eval2 = tch::no_grad(|| bert.forward_t(&ids, &mask, false));
    assert_eq!(eval1.len(), 4);
    assert_eq!(max_diff(&eval1, &eval2), 0.0);
    tch::manual_seed(7);
    let train1 = tch::no_grad(|| bert.forward_t(&ids, &mask, true));
    tch::manual_seed(7);
    let train2 = tch::no_grad(|| bert.forward_t(&ids, &mask, true));
    let train3 = tch::no_grad(|| bert.forward_t(&ids, &mask, true));
    assert_eq!(max_diff(&train1, &train2), 0.0);
    assert!(max_diff(&train1, &train3) > 1e-3);
    assert!(max_diff(&eval1, &train1) > 1e-3);
    // Gradients flow to the encoder's parameters in training mode.
    let loss = bert
        .forward_t(&ids, &mask, true)
        .last()
        .unwrap()
        .pow_tensor_scalar(2)
        .mean(Kind::Float);
    loss.backward();
    let g = vs.variables()["bert.encoder.layer.0.attention.self.query.weight"].grad();
    assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
}
