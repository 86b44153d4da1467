//! BERT (`bert`), and RoBERTa / XLM-R (`roberta`, `xlm-roberta`), which have the same modules and
//! differ only in their position ids (see [`super::embeddings`]): embeddings, `encoder.layer.*`
//! and the pooler.

use tch::{nn, Tensor};

use super::config::EncoderConfig;
use super::embeddings::Embeddings;
use super::layer::BertLayer;
use super::linear::{linear, Linear};
use super::model::stack;

/// The stack of transformer layers (`encoder.layer.<i>`), shared with ELECTRA.
#[derive(Debug)]
pub struct BertEncoder {
    layers: Vec<BertLayer>,
}

impl BertEncoder {
    /// Creates the parameters under `p` (normally `encoder`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let p = p / "layer";
        Self {
            layers: (0..cfg.num_hidden_layers)
                .map(|i| BertLayer::new(&p / i, cfg))
                .collect(),
        }
    }

    /// The input `xs` followed by every layer's output.
    pub fn forward_t(&self, xs: Tensor, mask: Option<&Tensor>, train: bool) -> Vec<Tensor> {
        stack(xs, &self.layers, |l, xs| l.forward_t(xs, mask, train))
    }
}

/// `pooler.dense` + tanh on the first token, kept so checkpoints round-trip 1:1 (unused by the
/// studies).
#[derive(Debug)]
pub struct BertPooler {
    dense: Linear,
}

impl BertPooler {
    /// Creates the parameters under `p` (normally `pooler`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            dense: linear(p / "dense", cfg.hidden_size, cfg.hidden_size, cfg),
        }
    }

    /// `tanh(dense(hidden[:, 0]))` of a last hidden state `[batch, seq, hidden]`.
    pub fn forward(&self, last_hidden: &Tensor) -> Tensor {
        self.dense
            .forward_t(&last_hidden.select(1, 0), false)
            .tanh()
    }
}

/// transformers' `BertModel`, `RobertaModel` and `XLMRobertaModel`.
#[derive(Debug)]
pub struct Bert {
    embeddings: Embeddings,
    encoder: BertEncoder,
    pooler: BertPooler,
}

impl Bert {
    /// Creates the parameters under `p`.
    pub fn new(p: &nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            embeddings: Embeddings::new(p / "embeddings", cfg),
            encoder: BertEncoder::new(p / "encoder", cfg),
            pooler: BertPooler::new(p / "pooler", cfg),
        }
    }

    /// All L + 1 hidden states (see [`super::Model::forward_t`]).
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mask: Option<&Tensor>,
        train: bool,
    ) -> Vec<Tensor> {
        let xs = self.embeddings.forward_t(input_ids, attention_mask, train);
        self.encoder.forward_t(xs, mask, train)
    }

    /// The pooler output for a last hidden state (transformers' `pooler_output`).
    pub fn pool(&self, last_hidden: &Tensor) -> Tensor {
        self.pooler.forward(last_hidden)
    }
}
