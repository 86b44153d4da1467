//! Weights in and out: training-state snapshots, and the Hugging Face layout of a fine-tuned
//! model (`config.json` with `id2label`, `model.safetensors` with the names of the family's
//! base model — `BertModel`, `RobertaModel`, `DistilBertModel`, ... —, the tokenizer files, and
//! the head in `head.safetensors`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::{nn, Tensor};
use tunescope_data::Task;

use super::config::FinetuneConfig;
use super::train::Model;
use crate::encoder::save_pretrained;
use tunescope_data::fs::replace_dir;

/// Named tensors sorted by name.
pub fn sorted(vars: HashMap<String, Tensor>) -> Vec<(String, Tensor)> {
    let mut v: Vec<_> = vars.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Writes named tensors as one safetensors file (made contiguous).
pub fn write_named(path: &Path, tensors: &[(String, Tensor)]) -> Result<()> {
    let owned: Vec<(String, Tensor)> = tensors
        .iter()
        .map(|(n, t)| (n.clone(), t.contiguous()))
        .collect();
    Tensor::write_safetensors(&owned, path)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// A deep copy of every variable (the best model so far).
pub fn snapshot(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    tch::no_grad(|| {
        sorted(vs.variables())
            .into_iter()
            .map(|(n, t)| (n, t.detach().copy()))
            .collect()
    })
}

/// Copies `tensors` into the variables of the same name; every variable must be present.
pub fn restore(vs: &nn::VarStore, tensors: &[(String, Tensor)]) -> Result<()> {
    let by_name: HashMap<&str, &Tensor> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
    tch::no_grad(|| {
        for (name, mut var) in vs.variables() {
            let src = by_name
                .get(name.as_str())
                .with_context(|| format!("saved weights lack {name}"))?;
            if src.size() != var.size() {
                bail!(
                    "saved {name} has shape {:?}, the model {:?}",
                    src.size(),
                    var.size()
                );
            }
            var.copy_(src);
        }
        Ok(())
    })
}

/// [`restore`] from a safetensors file.
pub fn load_into(vs: &nn::VarStore, path: &Path) -> Result<()> {
    let tensors = Tensor::read_safetensors(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    restore(vs, &tensors)
}

/// Saves the model's current encoder and head at `out` in HF layout, atomically:
/// `transformers.AutoModel.from_pretrained(out)` loads the encoder (the family's base model); the head is in
/// `head.safetensors` (`classifier.weight`, `classifier.bias`), the labels in `config.json`.
pub fn save_hf(model: &Model, task: &Task, cfg: &FinetuneConfig, out: &Path) -> Result<()> {
    let mut config = model.config_json.clone();
    let obj = config
        .as_object_mut()
        .context("config.json is not a JSON object")?;
    let id2label: serde_json::Map<String, serde_json::Value> = task
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone().into()))
        .collect();
    let label2id: serde_json::Map<String, serde_json::Value> = task
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.clone(), i.into()))
        .collect();
    obj.insert("id2label".into(), id2label.into());
    obj.insert("label2id".into(), label2id.into());
    let ec = &model.encoder_config;
    obj.insert(
        "architectures".into(),
        serde_json::json!([ec.family.model_class()]),
    );
    let [hidden_key, attention_key] = ec.family.dropout_keys();
    obj.insert(hidden_key.into(), ec.hidden_dropout_prob.into());
    obj.insert(attention_key.into(), ec.attention_probs_dropout_prob.into());
    obj.insert(
        "tunescope".into(),
        serde_json::json!({
            "task": task.name,
            "unit_kind": task.unit_kind.name(),
            "head": "head.safetensors",
            "word_pool": cfg.word_pool,
            "sentence_pool": cfg.sentence_pool,
        }),
    );
    let head: Vec<(String, Tensor)> = sorted(model.vs.variables())
        .into_iter()
        .filter(|(n, _)| n.starts_with("classifier."))
        .collect();
    replace_dir::<anyhow::Error>(out, |tmp| {
        save_pretrained(
            &model.vs,
            &model.encoder,
            &config,
            &model.tokenizer,
            &model.side_files,
            tmp,
        )?;
        write_named(&tmp.join("head.safetensors"), &head)
    })
}
