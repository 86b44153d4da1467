//! Hidden states of every layer against Hugging Face transformers' real output (fixtures made by
//! scripts/reference/hf_reference.sh): the tiny random-weight BERT always, MiniLM when
//! assets/all-MiniLM-L6-v2 is present (CI's setup makes it present).

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder::{self, Encoder};

const TOL: f32 = 1e-4;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

struct Reference {
    sentences: Vec<Vec<String>>,
    input_ids: Vec<Vec<i64>>,
    word_ids: Vec<Vec<i64>>,
    layers: usize,
    hidden: usize,
    /// `[layers, total tokens, hidden]`.
    states: Vec<f32>,
}

fn reference(dir: &Path) -> Reference {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    let states = tunescope_data::npy::read_f32(dir.join("hidden.npy")).unwrap();
    let get = |k: &str| -> Vec<Vec<serde_json::Value>> {
        serde_json::from_value(meta[k].clone()).unwrap()
    };
    let ints = |k: &str| -> Vec<Vec<i64>> {
        get(k)
            .iter()
            .map(|r| r.iter().map(|v| v.as_i64().unwrap()).collect())
            .collect()
    };
    let r = Reference {
        sentences: get("sentences")
            .iter()
            .map(|r| r.iter().map(|v| v.as_str().unwrap().to_string()).collect())
            .collect(),
        input_ids: ints("input_ids"),
        word_ids: ints("word_ids"),
        layers: meta["layers"].as_u64().unwrap() as usize,
        hidden: meta["hidden_size"].as_u64().unwrap() as usize,
        states: states.data,
    };
    assert_eq!(
        states.shape,
        vec![r.layers, r.input_ids.iter().map(Vec::len).sum(), r.hidden]
    );
    r
}

/// Tokenizes like HF, runs the sentences as one padded batch and compares all layers.
fn check_parity(model_dir: &Path, fixture: &Path) {
    tch::set_num_threads(1);
    let r = reference(fixture);
    let enc: Encoder = encoder::load(model_dir, Device::Cpu).unwrap();
    assert_eq!(enc.config.num_hidden_layers as usize + 1, r.layers);
    // Tokenization: ids and word ids agree with HF's fast tokenizer.
    let mut windows = Vec::new();
    for (s, words) in r.sentences.iter().enumerate() {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let e = enc.tokenizer.encode(&words).unwrap();
        assert_eq!(e.windows.len(), 1);
        let w = e.windows.into_iter().next().unwrap();
        assert_eq!(w.ids, r.input_ids[s], "sentence {s}");
        let mut word_ids = vec![-1i64; w.ids.len()];
        for p in &w.words {
            word_ids[p.start..p.end].fill(p.word as i64);
        }
        assert_eq!(word_ids, r.word_ids[s], "sentence {s}");
        windows.push(w.ids);
    }
    let t = windows.iter().map(Vec::len).max().unwrap();
    let mut ids = vec![0i64; windows.len() * t];
    let mut mask = vec![0i64; windows.len() * t];
    for (b, w) in windows.iter().enumerate() {
        ids[b * t..b * t + w.len()].copy_from_slice(w);
        mask[b * t..b * t + w.len()].fill(1);
    }
    let b = windows.len() as i64;
    let ids = Tensor::from_slice(&ids).view([b, t as i64]);
    let mask = Tensor::from_slice(&mask).view([b, t as i64]);
    let states = tch::no_grad(|| enc.model.forward_t(&ids, &mask, false));
    assert_eq!(states.len(), r.layers);
    let n_tok: usize = windows.iter().map(Vec::len).sum();
    let mut worst = 0f32;
    for (l, st) in states.iter().enumerate() {
        assert_eq!(st.size(), vec![b, t as i64, r.hidden as i64]);
        let st = st.to_kind(Kind::Float);
        let mut offset = 0;
        for (s, w) in windows.iter().enumerate() {
            let got = st
                .get(s as i64)
                .narrow(0, 0, w.len() as i64)
                .contiguous()
                .view(-1);
            let got = Vec::<f32>::try_from(&got).unwrap();
            let start = (l * n_tok + offset) * r.hidden;
            let want = &r.states[start..start + w.len() * r.hidden];
            for (g, e) in got.iter().zip(want) {
                worst = worst.max((g - e).abs());
            }
            offset += w.len();
        }
        assert!(worst <= TOL, "layer {l}: max |diff| {worst} > {TOL}");
    }
    eprintln!(
        "{}: max |diff| over all layers {worst:e}",
        model_dir.display()
    );
}

#[test]
fn tiny_bert_matches_transformers_on_every_layer() {
    let f = fixtures().join("tiny-bert");
    check_parity(&f.join("model"), &f);
}

#[test]
fn minilm_matches_transformers_on_every_layer() {
    let model = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/all-MiniLM-L6-v2");
    if !model.join("model.safetensors").is_file() {
        eprintln!(
            "skipping: {} not present (run scripts/setup-assets.sh)",
            model.display()
        );
        return;
    }
    check_parity(&model, &fixtures().join("minilm"));
}

/// A tunescope-written LoRA adapter directory (base merged on load) against the real PEFT's
/// un-merged forward of the same adapter (fixture made by scripts/reference/peft_reference.sh).
#[test]
fn lora_adapter_matches_peft_on_every_layer() {
    let f = fixtures().join("peft-lora");
    check_parity(&f.join("adapter"), &f);
}
