//! ELECTRA (`electra`, the discriminator's `ElectraModel`): BERT layers on embeddings of width
//! `embedding_size`, projected to `hidden_size` by `embeddings_project` when the two differ; no
//! pooler.

use tch::{nn, Tensor};

use super::bert::BertEncoder;
use super::config::EncoderConfig;
use super::embeddings::Embeddings;
use super::linear::{linear, Linear};

/// transformers' `ElectraModel`.
#[derive(Debug)]
pub struct Electra {
    embeddings: Embeddings,
    embeddings_project: Option<Linear>,
    encoder: BertEncoder,
}

impl Electra {
    /// Creates the parameters under `p`.
    pub fn new(p: &nn::Path, cfg: &EncoderConfig) -> Self {
        Self {
            embeddings: Embeddings::new(p / "embeddings", cfg),
            embeddings_project: (cfg.embedding_size != cfg.hidden_size).then(|| {
                linear(
                    p / "embeddings_project",
                    cfg.embedding_size,
                    cfg.hidden_size,
                    cfg,
                )
            }),
            encoder: BertEncoder::new(p / "encoder", cfg),
        }
    }

    /// All L + 1 hidden states; index 0 is the (projected) embedding output, as in transformers.
    pub fn forward_t(
        &self,
        input_ids: &Tensor,
        attention_mask: &Tensor,
        mask: Option<&Tensor>,
        train: bool,
    ) -> Vec<Tensor> {
        let mut xs = self.embeddings.forward_t(input_ids, attention_mask, train);
        if let Some(project) = &self.embeddings_project {
            xs = project.forward_t(&xs, train);
        }
        self.encoder.forward_t(xs, mask, train)
    }
}
