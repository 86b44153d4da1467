//! A fine-tuned model saved by `tunescope finetune` loads in Hugging Face transformers with the
//! same hidden states, for every family: the fixtures (scripts/reference/finetune_reference.py)
//! are the CLI's real output on a tiny task plus what `transformers.AutoModel.from_pretrained`
//! computed from it.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `dir`: the fixture (reference.json, hidden.npy, finetuned/); `base`: the model it started from.
fn check(dir: &Path, base: &Path, class: &str) {
    tch::set_num_threads(1);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    // transformers found every encoder weight under the names we wrote, and nothing else.
    assert_eq!(meta["model_class"], class);
    for k in ["missing_keys", "unexpected_keys", "mismatched_keys"] {
        assert_eq!(meta[k], serde_json::json!([]), "{class}: {k}");
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("finetuned/config.json")).unwrap()).unwrap();
    assert_eq!(meta["id2label"], cfg["id2label"]);
    assert_eq!(cfg["id2label"]["0"], "T0");
    assert_eq!(cfg["architectures"], serde_json::json!([class]));

    let enc = encoder::load(dir.join("finetuned"), Device::Cpu).unwrap();
    let sentences: Vec<Vec<String>> = serde_json::from_value(meta["sentences"].clone()).unwrap();
    let want_ids: Vec<Vec<i64>> = serde_json::from_value(meta["input_ids"].clone()).unwrap();
    let hidden = meta["hidden_size"].as_u64().unwrap() as usize;
    let reference = tunescope_data::npy::read_f32(dir.join("hidden.npy")).unwrap();
    let n_tok: usize = want_ids.iter().map(Vec::len).sum();
    assert_eq!(
        reference.shape,
        vec![enc.config.num_hidden_layers as usize + 1, n_tok, hidden]
    );

    let mut offset = 0;
    let mut worst = 0f32;
    for (s, words) in sentences.iter().enumerate() {
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let ids = enc.tokenizer.encode(&words).unwrap().windows.remove(0).ids;
        assert_eq!(ids, want_ids[s], "{class} sentence {s}");
        let n = ids.len();
        let input = Tensor::from_slice(&ids).view([1, n as i64]);
        let states = tch::no_grad(|| enc.model.forward_t(&input, &input.ones_like(), false));
        for (l, st) in states.iter().enumerate() {
            let got = Vec::<f32>::try_from(st.to_kind(Kind::Float).view(-1)).unwrap();
            let start = (l * n_tok + offset) * hidden;
            for (g, e) in got.iter().zip(&reference.data[start..start + n * hidden]) {
                worst = worst.max((g - e).abs());
            }
        }
        offset += n;
    }
    assert!(worst <= 1e-4, "{class}: max |diff| {worst}");

    // And it is really fine-tuned: every weight matrix of the last layer moved away from the
    // model it started from, under the same names.
    let base = encoder::load(base, Device::Cpu).unwrap();
    let a = enc.model.parameters(&enc.vs);
    let b = base.model.parameters(&base.vs);
    assert_eq!(
        a.iter().map(|p| &p.0).collect::<Vec<_>>(),
        b.iter().map(|p| &p.0).collect::<Vec<_>>()
    );
    let moved = a
        .iter()
        .zip(&b)
        .filter(|(x, y)| (&x.1 - &y.1).abs().max().double_value(&[]) > 1e-4)
        .count();
    assert!(
        moved * 2 > a.len(),
        "{class}: only {moved} of {} moved",
        a.len()
    );
}

#[test]
fn finetuned_bert_matches_transformers_hidden_states() {
    let f = fixtures();
    check(
        &f.join("finetune-tiny"),
        &f.join("tiny-bert/model"),
        "BertModel",
    );
}

#[test]
fn finetuned_families_match_transformers_hidden_states() {
    for (family, class) in [
        ("roberta", "RobertaModel"),
        ("xlm-roberta", "XLMRobertaModel"),
        ("distilbert", "DistilBertModel"),
        ("electra", "ElectraModel"),
    ] {
        let f = fixtures().join("families").join(family);
        check(&f.join("finetune"), &f.join("model"), class);
    }
}
