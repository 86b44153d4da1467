//! `attention.*`: multi-head self-attention with a padding mask, and its output sub-layer.

use tch::{nn, nn::Module, Tensor};

use super::config::EncoderConfig;
use super::linear::{linear, project, Linear};

/// Query/key/value projections (`attention.self`).
#[derive(Debug)]
pub struct BertSelfAttention {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: i64,
    head_dim: i64,
    dropout: f64,
}

impl BertSelfAttention {
    /// Creates the parameters under `p` (normally `attention.self`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let h = cfg.hidden_size;
        Self {
            query: linear(&p / "query", h, h, cfg),
            key: linear(&p / "key", h, h, cfg),
            value: linear(&p / "value", h, h, cfg),
            heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            dropout: cfg.attention_probs_dropout_prob,
        }
    }

    /// `xs`: `[batch, seq, hidden]`; `mask`: bool `[batch, 1, 1, seq]`, true where a key may be
    /// attended to (`None`: every key). Returns the concatenated heads, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let qkv = project([&self.query, &self.key, &self.value], xs, train);
        let p = if train { self.dropout } else { 0.0 };
        attend(qkv, self.heads, self.head_dim, mask, p)
    }
}

/// Scaled dot-product attention of projected queries, keys and values (`[batch, seq, hidden]`
/// each) split into `heads` heads, with attention dropout `p`; returns the concatenated heads.
pub(crate) fn attend(
    [q, k, v]: [Tensor; 3],
    heads: i64,
    head_dim: i64,
    mask: Option<&Tensor>,
    p: f64,
) -> Tensor {
    let (b, t, h) = q.size3().expect("hidden states are [batch, seq, hidden]");
    let split = |x: Tensor| x.view([b, t, heads, head_dim]).transpose(1, 2);
    let (q, k, v) = (split(q), split(k), split(v));
    let ctx = Tensor::scaled_dot_product_attention(&q, &k, &v, mask, p, false, None, false);
    ctx.transpose(1, 2).contiguous().view([b, t, h])
}

/// Output projection, dropout and residual LayerNorm (`attention.output`).
#[derive(Debug)]
pub struct BertSelfOutput {
    dense: Linear,
    layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertSelfOutput {
    /// Creates the parameters under `p` (normally `attention.output`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let h = cfg.hidden_size;
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        Self {
            dense: linear(&p / "dense", h, h, cfg),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![h], ln),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `LayerNorm(dropout(dense(xs)) + input)`.
    pub fn forward_t(&self, xs: &Tensor, input: &Tensor, train: bool) -> Tensor {
        let ys = self.dense.forward_t(xs, train).dropout(self.dropout, train);
        self.layer_norm.forward(&(ys + input))
    }
}

/// Self-attention plus its output sub-layer (`attention`).
#[derive(Debug)]
pub struct BertAttention {
    self_attention: BertSelfAttention,
    output: BertSelfOutput,
}

impl BertAttention {
    /// Creates the parameters under `p` (normally `encoder.layer.<i>.attention`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            self_attention: BertSelfAttention::new(&p / "self", cfg),
            output: BertSelfOutput::new(&p / "output", cfg),
        }
    }

    /// Attention block output, `[batch, seq, hidden]`.
    pub fn forward_t(&self, xs: &Tensor, mask: Option<&Tensor>, train: bool) -> Tensor {
        let ctx = self.self_attention.forward_t(xs, mask, train);
        self.output.forward_t(&ctx, xs, train)
    }
}
