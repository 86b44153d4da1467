//! LoRA adapters in Hugging Face PEFT's directory layout:
//!
//! - `adapter_config.json`: `peft_type: "LORA"`, `r`, `lora_alpha`, `lora_dropout`,
//!   `target_modules`, `base_model_name_or_path`, and PEFT's other LoRA fields at the values
//!   tunescope computes with (no rsLoRA, DoRA, bias or per-module rank);
//! - `adapter_model.safetensors`: `base_model.model.<module>.lora_A.weight` `[r, in]` and
//!   `base_model.model.<module>.lora_B.weight` `[out, r]` (PEFT's `get_peft_model_state_dict`
//!   names, the adapter name removed), f32.
//!
//! `peft.PeftModel.from_pretrained(AutoModel.from_pretrained(base), dir)` loads such a
//! directory; [`read_adapter`] reads one (PEFT-written ones included) and [`merge_into`] folds it
//! into an encoder's weights.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use tch::{nn, Kind, Tensor};

use super::linear::{merge, LoraConfig};
use super::model::Model;

/// The adapter's settings file.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// The adapter's weights file.
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";
/// PEFT's prefix of a base model's module names inside `PeftModel`.
pub const PEFT_PREFIX: &str = "base_model.model.";

/// Whether `dir` holds a PEFT adapter (an `adapter_config.json`).
pub fn is_adapter_dir(dir: &Path) -> bool {
    dir.join(ADAPTER_CONFIG).is_file()
}

/// `adapter_config.json` for `lora` on the base model `base`.
pub fn adapter_config(lora: &LoraConfig, base: &str) -> serde_json::Value {
    let mut targets = lora.targets.clone();
    targets.sort();
    serde_json::json!({
        "peft_type": "LORA",
        "task_type": null,
        "base_model_name_or_path": base,
        "r": lora.r,
        "lora_alpha": lora.alpha,
        "lora_dropout": lora.dropout,
        "target_modules": targets,
        "bias": "none",
        "fan_in_fan_out": false,
        "use_rslora": false,
        "use_dora": false,
        "init_lora_weights": true,
        "modules_to_save": null,
        "rank_pattern": {},
        "alpha_pattern": {},
        "inference_mode": true,
        "revision": null,
        "auto_mapping": null,
    })
}

/// Writes `model`'s adapters (built in `vs` with LoRA) into the existing directory `out` in
/// PEFT's layout, naming `base` as the base model.
pub fn write_adapter(vs: &nn::VarStore, model: &Model, base: &str, out: &Path) -> Result<()> {
    let lora = model
        .config()
        .lora
        .as_ref()
        .context("the model has no LoRA adapters to save")?;
    let tensors: Vec<(String, Tensor)> = model
        .lora_parameters(vs)
        .into_iter()
        .map(|(name, t)| {
            let t = t.detach().to_kind(Kind::Float).contiguous();
            (format!("{PEFT_PREFIX}{name}"), t)
        })
        .collect();
    let path = out.join(ADAPTER_WEIGHTS);
    Tensor::write_safetensors(&tensors, &path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    let path = out.join(ADAPTER_CONFIG);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&adapter_config(lora, base))?,
    )
    .with_context(|| format!("cannot write {}", path.display()))
}

/// A LoRA adapter as read from a PEFT directory.
#[derive(Debug)]
pub struct Adapter {
    /// `base_model_name_or_path` as written.
    pub base: String,
    /// Rank, alpha, dropout and targets.
    pub lora: LoraConfig,
    /// The factor of B A (`alpha / r`, or `alpha / √r` with rsLoRA).
    pub scale: f64,
    /// `(A, B)` per module name (base-model names, e.g. `encoder.layer.0.attention.self.query`).
    pub modules: BTreeMap<String, (Tensor, Tensor)>,
    /// SHA-256 (hex) of `adapter_model.safetensors`.
    pub weights_sha256: String,
}

impl Adapter {
    /// The base model directory: `base_model_name_or_path` as given when it is a directory,
    /// otherwise relative to the adapter directory `dir`; `None` when neither exists (a hub
    /// id, resolved by the caller).
    pub fn base_dir(&self, dir: &Path) -> Option<PathBuf> {
        let given = Path::new(&self.base);
        if given.is_dir() {
            return Some(given.to_path_buf());
        }
        let rel = dir.join(given);
        rel.is_dir().then_some(rel)
    }
}

/// Reads a PEFT LoRA adapter directory; settings tunescope cannot merge exactly (DoRA, LoRA
/// biases, `fan_in_fan_out`, per-module ranks or alphas) are refused with the file named.
pub fn read_adapter(dir: &Path) -> Result<Adapter> {
    let cfg_path = dir.join(ADAPTER_CONFIG);
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("cannot read {}", cfg_path.display()))?;
    let json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?;
    let field = |k: &str| json.get(k).filter(|v| !v.is_null());
    let bad = |what: String| anyhow!("{}: {what}", cfg_path.display());
    match field("peft_type").and_then(|v| v.as_str()) {
        Some("LORA") => {}
        other => return Err(bad(format!("peft_type is {other:?}, expected \"LORA\""))),
    }
    let r = field("r")
        .and_then(|v| v.as_i64())
        .filter(|&r| r > 0)
        .ok_or_else(|| bad("r must be a positive integer".into()))?;
    let alpha = field("lora_alpha")
        .and_then(|v| v.as_f64())
        .ok_or_else(|| bad("lora_alpha must be a number".into()))?;
    let dropout = field("lora_dropout")
        .and_then(|v| v.as_f64())
        .unwrap_or(0.0);
    let base = field("base_model_name_or_path")
        .and_then(|v| v.as_str())
        .ok_or_else(|| bad("base_model_name_or_path is missing".into()))?
        .to_string();
    let targets: Vec<String> = match field("target_modules") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(String::from))
            .collect::<Option<_>>()
            .ok_or_else(|| bad("target_modules must be strings".into()))?,
        _ => return Err(bad("target_modules is missing".into())),
    };
    for (key, refused) in [("use_dora", "DoRA"), ("fan_in_fan_out", "fan_in_fan_out")] {
        if field(key).and_then(|v| v.as_bool()) == Some(true) {
            return Err(bad(format!("{refused} adapters are not supported")));
        }
    }
    if field("bias").and_then(|v| v.as_str()).unwrap_or("none") != "none" {
        return Err(bad("only bias = \"none\" adapters are supported".into()));
    }
    for key in ["rank_pattern", "alpha_pattern"] {
        if field(key)
            .and_then(|v| v.as_object())
            .is_some_and(|m| !m.is_empty())
        {
            return Err(bad(format!("{key} (per-module ranks) is not supported")));
        }
    }
    let rslora = field("use_rslora").and_then(|v| v.as_bool()) == Some(true);
    let scale = if rslora {
        alpha / (r as f64).sqrt()
    } else {
        alpha / r as f64
    };

    let wpath = dir.join(ADAPTER_WEIGHTS);
    if !wpath.is_file() {
        bail!("{}: missing {ADAPTER_WEIGHTS}", dir.display());
    }
    let weights_sha256 = super::load::file_sha256(&wpath)?;
    let tensors = Tensor::read_safetensors(&wpath)
        .with_context(|| format!("cannot read {}", wpath.display()))?;
    let mut halves: BTreeMap<String, [Option<Tensor>; 2]> = BTreeMap::new();
    for (key, t) in tensors {
        let name = key.strip_prefix(PEFT_PREFIX).unwrap_or(&key);
        let (module, side) = if let Some(m) = name.strip_suffix(".lora_A.weight") {
            (m, 0)
        } else if let Some(m) = name.strip_suffix(".lora_B.weight") {
            (m, 1)
        } else {
            bail!(
                "{}: tensor {key} is not a LoRA weight (expected …lora_A.weight or …lora_B.weight)",
                wpath.display()
            );
        };
        halves.entry(module.to_string()).or_default()[side] = Some(t.to_kind(Kind::Float));
    }
    let mut modules = BTreeMap::new();
    for (module, [a, b]) in halves {
        let (Some(a), Some(b)) = (a, b) else {
            bail!(
                "{}: {module} has only one of lora_A and lora_B",
                wpath.display()
            );
        };
        if a.size()[0] != r || b.size()[1] != r {
            bail!(
                "{}: {module} has lora_A {:?} and lora_B {:?}, expected rank r = {r}",
                wpath.display(),
                a.size(),
                b.size()
            );
        }
        modules.insert(module, (a, b));
    }
    if modules.is_empty() {
        bail!("{}: no LoRA weights", wpath.display());
    }
    Ok(Adapter {
        base,
        lora: LoraConfig {
            r,
            alpha,
            dropout,
            targets,
        },
        scale,
        modules,
        weights_sha256,
    })
}

/// Adds every module's `scale · B A` to its weight in `model` (built in `vs`, without LoRA):
/// the merged model PEFT's `merge_and_unload` gives.
pub fn merge_into(vs: &nn::VarStore, model: &Model, adapter: &Adapter) -> Result<()> {
    let params: BTreeMap<String, Tensor> = model.parameters(vs).into_iter().collect();
    tch::no_grad(|| {
        for (module, (a, b)) in &adapter.modules {
            let name = format!("{module}.weight");
            let mut w = params
                .get(&name)
                .with_context(|| format!("the adapter's module {module} is not in the base model"))?
                .shallow_clone();
            let (out, inp) = (w.size()[0], w.size()[1]);
            if a.size()[1] != inp || b.size()[0] != out {
                bail!(
                    "the adapter's {module} has lora_A {:?} and lora_B {:?}, the base weight {:?}",
                    a.size(),
                    b.size(),
                    w.size()
                );
            }
            let merged = merge(&w, a, b, adapter.scale);
            w.copy_(&merged);
        }
        Ok(())
    })
}
