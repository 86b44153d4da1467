//! Dense layers, with an optional LoRA adapter computed as Hugging Face PEFT computes it
//! (`peft/tuners/lora/layer.py`, `Linear.forward`): `y = W x + b + (alpha / r) · B A dropout(x)`
//! with `A` (`lora_A.weight`, `[r, in]`) drawn Kaiming-uniform (`a = √5`, i.e. U(±1/√in)) and
//! `B` (`lora_B.weight`, `[out, r]`) zero, so training starts at the pre-trained function.
//!
//! Which layers get an adapter is decided by the module's name, as PEFT matches
//! `target_modules`: a module is a target when its dotted name equals an entry or ends with
//! `.` + the entry (`query` matches `encoder.layer.3.attention.self.query`).

use tch::{nn, Tensor};

use super::config::{EncoderConfig, Family};

/// LoRA settings of an encoder (never read from `config.json`).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank r of the update B A.
    pub r: i64,
    /// Scaling numerator alpha (the update is scaled by alpha / r).
    pub alpha: f64,
    /// Dropout on the adapter's input (training only).
    pub dropout: f64,
    /// Module names (or dotted name suffixes) that get an adapter.
    pub targets: Vec<String>,
}

impl LoraConfig {
    /// `alpha / r`, PEFT's `scaling` (without rsLoRA).
    pub fn scale(&self) -> f64 {
        self.alpha / self.r as f64
    }

    /// Whether the module named `module` (dotted path) is a target, by PEFT's list rule.
    pub fn matches(&self, module: &str) -> bool {
        targets_match(&self.targets, module)
    }
}

/// PEFT's rule for a list of `target_modules`: the name itself or a `.`-separated suffix.
pub fn targets_match(targets: &[String], module: &str) -> bool {
    targets
        .iter()
        .any(|t| module == t || module.ends_with(&format!(".{t}")))
}

impl Family {
    /// PEFT's default LoRA targets for the family (its query and value projections).
    pub fn lora_default_targets(self) -> [&'static str; 2] {
        match self {
            Family::DistilBert => ["q_lin", "v_lin"],
            _ => ["query", "value"],
        }
    }
}

/// The adapter of one layer.
#[derive(Debug)]
struct Adapter {
    a: Tensor,
    b: Tensor,
    scale: f64,
    dropout: f64,
}

/// A dense layer (`<module>.weight` `[out, in]`, `<module>.bias`), with a LoRA adapter
/// (`<module>.lora_A.weight`, `<module>.lora_B.weight`) when the module is a target of
/// `cfg.lora`.
#[derive(Debug)]
pub struct Linear {
    base: nn::Linear,
    lora: Option<Adapter>,
}

/// Creates a dense layer under `p` (weights N(0, 0.02), zero bias, as transformers
/// initialises them) plus its adapter if `cfg.lora` targets it.
pub(crate) fn linear(p: nn::Path, inp: i64, out: i64, cfg: &EncoderConfig) -> Linear {
    let init = nn::LinearConfig {
        ws_init: nn::Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        },
        bs_init: Some(nn::Init::Const(0.0)),
        bias: true,
    };
    let module = p.components().collect::<Vec<_>>().join(".");
    let lora = cfg.lora.as_ref().filter(|l| l.matches(&module)).map(|l| {
        let bound = 1.0 / (inp as f64).sqrt();
        Adapter {
            a: (&p / "lora_A").var(
                "weight",
                &[l.r, inp],
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            ),
            b: (&p / "lora_B").var("weight", &[out, l.r], nn::Init::Const(0.0)),
            scale: l.scale(),
            dropout: l.dropout,
        }
    });
    Linear {
        base: nn::linear(p, inp, out, init),
        lora,
    }
}

impl Linear {
    /// `W x + b`, plus `scale · B A dropout(x)` with an adapter (dropout only when `train`).
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let ys = xs.apply(&self.base);
        match &self.lora {
            None => ys,
            Some(l) => {
                let low = xs.dropout(l.dropout, train).linear::<&Tensor>(&l.a, None);
                ys + low.linear::<&Tensor>(&l.b, None) * l.scale
            }
        }
    }
}

/// Whether a variable name belongs to a LoRA adapter (`….lora_A.weight`, `….lora_B.weight`).
pub fn is_lora(name: &str) -> bool {
    name.contains(".lora_A.") || name.contains(".lora_B.")
}

/// The merged weight `W + scale · (B A)`, in PEFT's order of operations
/// (`get_delta_weight`: `(B @ A) * scaling`, then added to the base weight).
pub fn merge(w: &Tensor, a: &Tensor, b: &Tensor, scale: f64) -> Tensor {
    w + b.matmul(a) * scale
}
