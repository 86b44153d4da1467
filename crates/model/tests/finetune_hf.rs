//! A fine-tuned model saved by `tunescope finetune` loads in Hugging Face transformers with the
//! same hidden states: the fixture (scripts/reference/finetune_reference.py) is the CLI's real
//! output on a tiny task plus what `transformers.AutoModel.from_pretrained` computed from it.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/finetune-tiny")
}

#[test]
fn finetuned_directory_matches_transformers_hidden_states() {
    tch::set_num_threads(1);
    let dir = fixture();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
            .unwrap();
    // transformers found every encoder weight under the names we wrote, and nothing else.
    assert_eq!(meta["model_class"], "BertModel");
    for k in ["missing_keys", "unexpected_keys", "mismatched_keys"] {
        assert_eq!(meta[k], serde_json::json!([]), "{k}");
    }
    let cfg: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("finetuned/config.json")).unwrap()).unwrap();
    assert_eq!(meta["id2label"], cfg["id2label"]);
    assert_eq!(cfg["id2label"]["0"], "T0");

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
        assert_eq!(ids, want_ids[s], "sentence {s}");
        let n = ids.len();
        let input = Tensor::from_slice(&ids).view([1, n as i64]);
        let states = tch::no_grad(|| enc.bert.forward_t(&input, &input.ones_like(), false));
        for (l, st) in states.iter().enumerate() {
            let got = Vec::<f32>::try_from(st.to_kind(Kind::Float).view(-1)).unwrap();
            let start = (l * n_tok + offset) * hidden;
            for (g, e) in got.iter().zip(&reference.data[start..start + n * hidden]) {
                worst = worst.max((g - e).abs());
            }
        }
        offset += n;
    }
    assert!(worst <= 1e-4, "max |diff| {worst}");

    // And it is really fine-tuned: the weights moved away from the tiny BERT it started from.
    let base = encoder::load(dir.join("../tiny-bert/model"), Device::Cpu).unwrap();
    let a = &enc.bert.named_parameters()[0];
    let b = &base.bert.named_parameters()[0];
    assert_eq!(a.0, b.0);
    assert!((&a.1 - &b.1).abs().max().double_value(&[]) > 1e-4);
}
