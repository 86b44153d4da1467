//! [`Model`]: the encoder of any supported family, returning every hidden state; its parameters
//! are the `VarStore` variables under its path, named as in the family's checkpoints.

use tch::{nn, Kind, Tensor};

use super::bert::Bert;
use super::config::{EncoderConfig, Family};
use super::distilbert::DistilBert;
use super::electra::Electra;

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

    /// Every parameter of the encoder in `vs` (the store it was built in) with its checkpoint
    /// name (no prefix), sorted by name. Other variables of `vs` (a task head) are left out.
    pub fn parameters(&self, vs: &nn::VarStore) -> Vec<(String, Tensor)> {
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
