//! DistilBERT (`distilbert`): embeddings without token types, then `transformer.layer.<i>` with
//! DistilBERT's own module names (`attention.{q,k,v,out}_lin`, `sa_layer_norm`, `ffn.lin1/2`,
//! `output_layer_norm`); no pooler. The arithmetic is BERT's post-LayerNorm layer.

use tch::{nn, nn::Module, Tensor};

use super::attention::attend;
use super::config::{Activation, EncoderConfig};
use super::embeddings::Embeddings;
use super::layer::activate;
use super::linear::{linear, project, Linear};
use super::model::stack;

/// `attention`: multi-head self-attention (transformers' `DistilBertSelfAttention`).
#[derive(Debug)]
pub struct MultiHeadSelfAttention {
    q_lin: Linear,
    k_lin: Linear,
    v_lin: Linear,
    out_lin: Linear,
    heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl MultiHeadSelfAttention {
    /// Creates the parameters under `p` (normally `attention`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let h = cfg.hidden_size;
        Self {
            q_lin: linear(&p / "q_lin", h, h, cfg),
            k_lin: linear(&p / "k_lin", h, h, cfg),
            v_lin: linear(&p / "v_lin", h, h, cfg),
            out_lin: linear(&p / "out_lin", h, h, cfg),
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            dropout: cfg.attention_probs_dropout_prob,
        }
    }

    /// `out_lin` of the attended values, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let qkv = project([&self.q_lin, &self.k_lin, &self.v_lin], xs, train);
        let p = if train { self.dropout } else { 0.0 };
        self.out_lin
            .forward_t(&attend(qkv, self.heads, self.head_dim, mask, p), train)
    }
}

/// `ffn`: `lin2(act(lin1(xs)))` and dropout.
#[derive(Debug)]
pub struct Ffn {
    lin1: Linear,
    lin2: Linear,
    act: Activation,
    dropout: f64,
}

impl Ffn {
    /// Creates the parameters under `p` (normally `ffn`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            lin1: linear(&p / "lin1", cfg.hidden_size, cfg.intermediate_size, cfg),
            lin2: linear(&p / "lin2", cfg.intermediate_size, cfg.hidden_size, cfg),
            act: cfg.hidden_act,
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// Feed-forward output before the residual, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.lin2
            .forward_t(&activate(&self.lin1.forward_t(xs, train), self.act), train)
            .dropout(self.dropout, train)
    }
}

/// `transformer.layer.<i>` (transformers' `TransformerBlock`).
#[derive(Debug)]
pub struct TransformerBlock {
    attention: MultiHeadSelfAttention,
    sa_layer_norm: nn::LayerNorm,
    ffn: Ffn,
    output_layer_norm: nn::LayerNorm,
}

impl TransformerBlock {
    /// Creates the parameters under `p`.
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        let h = vec![cfg.hidden_size];
        Self {
            attention: MultiHeadSelfAttention::new(&p / "attention", cfg),
            sa_layer_norm: nn::layer_norm(&p / "sa_layer_norm", h.clone(), ln),
            ffn: Ffn::new(&p / "ffn", cfg),
            output_layer_norm: nn::layer_norm(&p / "output_layer_norm", h, ln),
        }
    }

    /// Layer output, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let sa = self
            .sa_layer_norm
            .forward(&(self.attention.forward_t(xs, mask, train) + xs));
        self.output_layer_norm
            .forward(&(self.ffn.forward_t(&sa, train) + &sa))
    }
}

/// transformers' `DistilBertModel`.
#[derive(Debug)]
pub struct DistilBert {
    embeddings: Embeddings,
    layers: Vec<TransformerBlock>,
}

impl DistilBert {
    /// Creates the parameters under `p`.
    pub fn new(p: &nn::Path, cfg: &EncoderConfig) -> Self {
        let t = p / "transformer" / "layer";
        Self {
            embeddings: Embeddings::new(p / "embeddings", cfg),
            layers: (0..cfg.num_hidden_layers)
                .map(|i| TransformerBlock::new(&t / i, cfg))
                .collect(),
        }
    }

    /// All L + 1 hidden states (index 0 = embedding output).
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mask: Option<&Tensor>,
        train: bool,
    ) -> Vec<Tensor> {
        let xs = self.embeddings.forward_t(input_ids, attention_mask, train);
        stack(xs, &self.layers, |l, xs| l.forward_t(xs, mask, train))
    }
}
