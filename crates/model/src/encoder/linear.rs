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
        self.adapt(xs.apply(&self.base), xs, train)
    }

    /// Whether the base weight and bias are frozen (no gradient asked for).
    fn frozen(&self) -> bool {
        !self.base.ws.requires_grad() && self.base.bs.as_ref().is_none_or(|b| !b.requires_grad())
    }

    /// `ys` (the base output `W x + b` for `xs`) plus the adapter's `scale · B A dropout(x)`.
    ///
    /// The update is `(A dropout(x)) (scale · B)ᵀ`: two small products (B A is never formed),
    /// the second one accumulated onto `ys` inside the GEMM (`addmm`), with the scale folded
    /// into the `[out, r]` matrix B rather than applied to the `[tokens, out]` output.
    fn adapt(&self, ys: Tensor, xs: &Tensor, train: bool) -> Tensor {
        let Some(l) = &self.lora else {
            return ys;
        };
        let low = if train && l.dropout > 0.0 {
            xs.dropout(l.dropout, true).linear::<&Tensor>(&l.a, None)
        } else {
            xs.linear::<&Tensor>(&l.a, None)
        };
        let size = ys.size();
        let (out, r) = (size[size.len() - 1], l.a.size()[0]);
        ys.reshape([-1, out])
            .addmm(&low.reshape([-1, r]), &(&l.b * l.scale).tr())
            .view(size.as_slice())
    }
}

/// The outputs of dense layers that read the same input `xs` (attention's query, key and
/// value), each as [`Linear::forward_t`] computes it.
///
/// While training with every base weight frozen (LoRA, frozen layers) the base products are one
/// GEMM over the concatenated weights, so the input is read once forward and its gradient is one
/// product backward; the adapters are then added layer by layer. Otherwise (full fine-tuning,
/// inference) each layer runs on its own, as before.
pub fn project<const N: usize>(layers: [&Linear; N], xs: &Tensor, train: bool) -> [Tensor; N] {
    let fuse = train && layers.iter().all(|l| l.frozen() && l.base.bs.is_some());
    if !fuse {
        return layers.map(|l| l.forward_t(xs, train));
    }
    let ws: Vec<&Tensor> = layers.iter().map(|l| &l.base.ws).collect();
    let bs: Vec<&Tensor> = layers.iter().filter_map(|l| l.base.bs.as_ref()).collect();
    let sizes: Vec<i64> = layers.iter().map(|l| l.base.ws.size()[0]).collect();
    let fused = xs.linear(&Tensor::cat(&ws, 0), Some(Tensor::cat(&bs, 0)));
    let mut parts = fused.split_with_sizes(sizes.as_slice(), -1).into_iter();
    layers.map(|l| l.adapt(parts.next().expect("one part per layer"), xs, train))
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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// The fused, frozen-base projection with adapters equals PEFT's formula layer by layer:
    /// `W x + b + scale · B (A x)` on the targets, `W x + b` elsewhere; gradients reach only the
    /// adapters.
    #[test]
    fn frozen_projection_matches_the_lora_formula() {
        tch::set_num_threads(1);
        tch::manual_seed(3);
        let mut cfg = EncoderConfig::from_json(&serde_json::json!({
            "model_type": "bert", "hidden_size": 8, "intermediate_size": 16,
            "max_position_embeddings": 16, "num_attention_heads": 2, "num_hidden_layers": 1,
            "type_vocab_size": 2, "vocab_size": 10
        }))
        .unwrap();
        cfg.lora = Some(LoraConfig {
            r: 2,
            alpha: 3.0,
            dropout: 0.0,
            targets: vec!["query".into(), "value".into()],
        });
        let vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root() / "self";
        let layers = ["query", "key", "value"].map(|m| linear(&p / m, 8, 8, &cfg));
        for (name, mut t) in vs.variables() {
            if name.contains(".lora_B.") {
                tch::no_grad(|| t.copy_(&Tensor::randn([8, 2], (Kind::Float, Device::Cpu))));
            } else if !is_lora(&name) {
                let _ = t.set_requires_grad(false);
            }
        }
        let x = Tensor::randn([3, 5, 8], (Kind::Float, Device::Cpu));
        let [q, k, v] = project([&layers[0], &layers[1], &layers[2]], &x, true);
        let var = |n: &str| vs.variables()[n].shallow_clone();
        let plain = |m: &str| {
            x.matmul(&var(&format!("self.{m}.weight")).tr()) + var(&format!("self.{m}.bias"))
        };
        let lora = |m: &str| {
            let a = var(&format!("self.{m}.lora_A.weight"));
            let b = var(&format!("self.{m}.lora_B.weight"));
            plain(m) + x.matmul(&a.tr()).matmul(&b.tr()) * 1.5
        };
        for (got, want) in [(&q, lora("query")), (&k, plain("key")), (&v, lora("value"))] {
            let diff = (got - want).abs().max().double_value(&[]);
            assert!(diff < 1e-5, "{diff}");
        }
        (q.sum(Kind::Float) + k.sum(Kind::Float) + v.sum(Kind::Float)).backward();
        for (name, t) in vs.variables() {
            assert_eq!(t.grad().defined(), is_lora(&name), "{name}");
        }
    }
}
