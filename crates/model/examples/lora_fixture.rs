//! Writes a LoRA adapter for the PEFT parity fixture (scripts/reference/peft_reference.sh runs
//! it): the tiny BERT fixture with adapters on `query`, `value` and `attention.output.dense`
//! (r = 4, alpha = 8), A and B drawn at random (seed 0; B non-zero, as after training), saved by
//! tunescope's own writers:
//!
//! - `ADAPTER_DIR`: PEFT's layout, `base_model_name_or_path` = the tiny BERT relative to it;
//! - `MERGED_DIR`: the merged model in HF layout.
//!
//! `cargo run --release -p tunescope-model --example lora_fixture -- BASE_DIR ADAPTER_DIR MERGED_DIR`

use std::path::PathBuf;

use anyhow::{Context, Result};
use tch::Tensor;
use tunescope_data::UnitKind;
use tunescope_model::encoder::adapter::write_adapter;
use tunescope_model::encoder::save_pretrained;
use tunescope_model::finetune::train::build_model;
use tunescope_model::finetune::{FinetuneConfig, Method};

fn main() -> Result<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [base, adapter, merged] = &args[..] else {
        anyhow::bail!("usage: lora_fixture BASE_DIR ADAPTER_DIR MERGED_DIR");
    };
    let cfg = FinetuneConfig {
        method: Method::Lora,
        lora_r: 4,
        lora_alpha: 8.0,
        lora_targets: vec![
            "query".into(),
            "value".into(),
            "attention.output.dense".into(),
        ],
        max_len: 24,
        seed: 0,
        ..FinetuneConfig::default()
    };
    let model = build_model(base, UnitKind::Token, 2, &cfg)?;
    tch::manual_seed(0);
    tch::no_grad(|| {
        for (_, mut t) in model.encoder.lora_parameters(&model.vs) {
            t.copy_(&(Tensor::randn_like(&t) * 0.3));
        }
    });
    std::fs::create_dir_all(adapter)?;
    std::fs::create_dir_all(merged)?;
    let rel = pathdiff(base, adapter).context("base and adapter must be relative paths")?;
    write_adapter(&model.vs, &model.encoder, &rel, adapter)?;
    save_pretrained(
        &model.vs,
        &model.encoder,
        &model.config_json,
        &model.tokenizer,
        &model.side_files,
        merged,
    )?;
    println!("wrote {} and {}", adapter.display(), merged.display());
    Ok(())
}

/// `base` relative to the directory `from` (both relative to the same working directory).
fn pathdiff(base: &std::path::Path, from: &std::path::Path) -> Option<String> {
    let (b, f): (Vec<_>, Vec<_>) = (base.components().collect(), from.components().collect());
    let common = b.iter().zip(&f).take_while(|(x, y)| x == y).count();
    let mut p = PathBuf::new();
    for _ in common..f.len() {
        p.push("..");
    }
    p.extend(&b[common..]);
    Some(p.to_str()?.to_string())
}
