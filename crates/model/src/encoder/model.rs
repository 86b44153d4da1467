//! [`Model`]: the encoder of any supported family, returning every hidden state; its parameters
//! are the `VarStore` variables under its path, named as in the family's checkpoints.

use tch::{nn, Kind, Tensor};

use super::bert::Bert;
use super::config::{EncoderConfig, Family};
use super::distilbert::DistilBert;
use super::electra::Electra;
use super::linear::{is_lora, merge};

/// The family-specific network.
#[derive(Debug)]
enum Net {
    Bert(Bert),
    Electra(Electra),
    DistilBert(DistilBert),
}

/// An encoder (transformers' `AutoModel` of a supported family) whose parameter names mirror
/// the checkpoint's.
///
/// Built on a [`nn::Path`], so it can live in a `VarStore` next to a task head and be trained.
#[derive(Debug)]
pub struct Model {
    net: Net,
    config: EncoderConfig,
    /// The path it was built under, `a.b.` (empty at the root).
    prefix: String,
}

impl Model {
    /// Creates a randomly initialised encoder (N(0, 0.02) weights, zero biases, unit LayerNorm)
    /// under `p`; load weights with [`crate::encoder::load_weights`].
    pub fn new(p: &nn::Path, cfg: &EncoderConfig) -> Self {
        let net = match cfg.family {
            Family::Bert | Family::Roberta | Family::XlmRoberta => Net::Bert(Bert::new(p, cfg)),
            Family::Electra => Net::Electra(Electra::new(p, cfg)),
            Family::DistilBert => Net::DistilBert(DistilBert::new(p, cfg)),
        };
        let prefix: String = p.components().map(|c| format!("{c}.")).collect();
        Self {
            net,
            config: cfg.clone(),
            prefix,
        }
    }

    /// The architecture this encoder was built with.
    pub fn config(&self) -> &EncoderConfig {
        &self.config
    }

    /// All L + 1 hidden states `[batch, seq, hidden]` (index 0 = embedding output) for
    /// `input_ids` (int64 `[batch, seq]`) and `attention_mask` (`[batch, seq]`, nonzero = real
    /// token; padding at the end of a row). Token types are all 0. Dropout is active only when
    /// `train` is true.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        train: bool,
    ) -> Vec<Tensor> {
        let keep = attention_mask.to_kind(Kind::Bool);
        // A batch without padding needs no mask, which lets attention take its fused kernel.
        let mask =
            (!bool::try_from(keep.all()).unwrap_or(false)).then(|| keep.unsqueeze(1).unsqueeze(1));
        let mask = mask.as_ref();
        match &self.net {
            Net::Bert(m) => m.forward_t(input_ids, attention_mask, mask, train),
            Net::Electra(m) => m.forward_t(input_ids, attention_mask, mask, train),
            Net::DistilBert(m) => m.forward_t(input_ids, attention_mask, mask, train),
        }
    }

    /// The pooler output for a last hidden state (transformers' `pooler_output`), for the
    /// families that have a pooler (BERT, RoBERTa, XLM-R).
    pub fn pool(&self, last_hidden: &Tensor) -> Option<Tensor> {
        match &self.net {
            Net::Bert(m) => Some(m.pool(last_hidden)),
            _ => None,
        }
    }

    /// Every variable of the encoder in `vs` (the store it was built in), LoRA adapters
    /// included, with its name without prefix, sorted by name. Other variables of `vs` (a task
    /// head) are left out.
    fn variables(&self, vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let modules = self.config.family.modules();
        let mut out: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter_map(|(name, t)| {
                let local = name.strip_prefix(&self.prefix)?;
                let top = local.split('.').next()?;
                modules.contains(&top).then(|| (local.to_string(), t))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Every parameter of the base encoder with its checkpoint name (no prefix), sorted by
    /// name; LoRA adapters and other variables of `vs` are left out.
    pub fn parameters(&self, vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let mut out = self.variables(vs);
        out.retain(|(name, _)| !is_lora(name));
        out
    }

    /// The LoRA adapters' variables (`<module>.lora_A.weight`, `<module>.lora_B.weight`),
    /// sorted by name; empty without LoRA.
    pub fn lora_parameters(&self, vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let mut out = self.variables(vs);
        out.retain(|(name, _)| is_lora(name));
        out
    }

    /// [`Model::parameters`] with every adapter merged into its layer's weight,
    /// `W + (alpha / r) · B A` (see [`merge`]); the plain parameters without LoRA.
    pub fn merged_parameters(&self, vs: &nn::VarStore) -> Vec<(String, Tensor)> {
        let lora: std::collections::HashMap<String, Tensor> =
            self.lora_parameters(vs).into_iter().collect();
        let Some(cfg) = &self.config.lora else {
            return self.parameters(vs);
        };
        tch::no_grad(|| {
            self.parameters(vs)
                .into_iter()
                .map(|(name, w)| {
                    let module = name.strip_suffix(".weight").unwrap_or("");
                    let a = lora.get(&format!("{module}.lora_A.weight"));
                    let b = lora.get(&format!("{module}.lora_B.weight"));
                    match (a, b) {
                        (Some(a), Some(b)) => {
                            let merged = merge(&w, a, b, cfg.scale());
                            (name, merged)
                        }
                        _ => (name, w),
                    }
                })
                .collect()
        })
    }
}

/// The transformer layer (0-based) a parameter name belongs to (`encoder.layer.<i>.…`,
/// DistilBERT's `transformer.layer.<i>.…`); `None` for embeddings, pooler and heads.
pub fn layer_of(name: &str) -> Option<usize> {
    let mut parts = name.split('.');
    while let Some(p) = parts.next() {
        if p == "layer" {
            return parts.next()?.parse().ok();
        }
    }
    None
}

/// Runs `xs` through `layers` in turn: the input followed by every layer's output.
pub(crate) fn stack<L>(xs: Tensor, layers: &[L], f: impl Fn(&L, &Tensor) -> Tensor) -> Vec<Tensor> {
    let mut states = Vec::with_capacity(layers.len() + 1);
    let mut xs = xs;
    for layer in layers {
        let next = f(layer, &xs);
        states.push(xs);
        xs = next;
    }
    states.push(xs);
    states
}
