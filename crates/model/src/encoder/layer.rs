//! `encoder.layer.<i>`: one transformer layer (attention block, then feed-forward block).

use tch::{nn, nn::Module, Tensor};

use super::attention::BertAttention;
use super::config::{Activation, EncoderConfig};
use super::linear::{linear, Linear};

/// First feed-forward projection and activation (`intermediate`).
#[derive(Debug)]
pub struct BertIntermediate {
    dense: Linear,
    act: Activation,
}

impl BertIntermediate {
    /// Creates the parameters under `p` (normally `intermediate`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            dense: linear(&p / "dense", cfg.hidden_size, cfg.intermediate_size, cfg),
            act: cfg.hidden_act,
        }
    }

    /// `act(dense(xs))`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        activate(&self.dense.forward_t(xs, train), self.act)
    }
}

/// The feed-forward activation.
pub(crate) fn activate(xs: &Tensor, act: Activation) -> Tensor {
    match act {
        Activation::Gelu => xs.gelu("none"),
        Activation::GeluTanh => xs.gelu("tanh"),
        Activation::Relu => xs.relu(),
    }
}

/// Second feed-forward projection, dropout and residual LayerNorm (`output`).
#[derive(Debug)]
pub struct BertOutput {
    dense: Linear,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertOutput {
    /// Creates the parameters under `p` (normally `output`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        Self {
            dense: linear(&p / "dense", cfg.intermediate_size, cfg.hidden_size, cfg),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![cfg.hidden_size], ln),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `LayerNorm(dropout(dense(xs)) + input)`.
    pub fn forward_t(&self, xs: &Tensor, input: &Tensor, train: bool) -> Tensor {
        let ys = self.dense.forward_t(xs, train).dropout(self.dropout, train);
        self.layer_norm.forward(&(ys + input))
    }
}

/// One transformer layer (transformers' `BertLayer`).
#[derive(Debug)]
pub struct BertLayer {
    attention: BertAttention,
    intermediate: BertIntermediate,
    output: BertOutput,
}

impl BertLayer {
    /// Creates the parameters under `p` (normally `encoder.layer.<i>`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            attention: BertAttention::new(&p / "attention", cfg),
            intermediate: BertIntermediate::new(&p / "intermediate", cfg),
            output: BertOutput::new(&p / "output", cfg),
        }
    }

    /// Layer output, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let att = self.attention.forward_t(xs, mask, train);
        let mid = self.intermediate.forward_t(&att, train);
        self.output.forward_t(&mid, &att, train)
    }
}
