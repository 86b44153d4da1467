//! `embeddings.*`: word + position + token-type embeddings, then LayerNorm and dropout.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::BertConfig;

/// BERT's input embeddings (transformers' `BertEmbeddings`).
#[derive(Debug)]
pub struct BertEmbeddings {
    pub(crate) word_embeddings: nn::Embedding,
    pub(crate) position_embeddings: nn::Embedding,
    pub(crate) token_type_embeddings: nn::Embedding,
    pub(crate) layer_norm: nn::LayerNorm,
    dropout: f64,
}

impl BertEmbeddings {
    /// Creates the parameters under `p` (normally `embeddings`).
    pub fn new(p: nn::Path, cfg: &BertConfig) -> Self {
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let h = cfg.hidden_size;
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        Self {
            word_embeddings: nn::embedding(&p / "word_embeddings", cfg.vocab_size, h, init),
            position_embeddings: nn::embedding(
                &p / "position_embeddings",
                cfg.max_position_embeddings,
                h,
                init,
            ),
            token_type_embeddings: nn::embedding(
                &p / "token_type_embeddings",
                cfg.type_vocab_size,
                h,
                init,
            ),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![h], ln),
            dropout: cfg.hidden_dropout_prob,
        }
    }

    /// `input_ids` and `token_type_ids`: `[batch, seq]` int64. Returns `[batch, seq, hidden]`.
    pub fn forward_t(&self, input_ids: &Tensor, token_type_ids: &Tensor, train: bool) -> Tensor {
        let seq = input_ids.size()[1];
        let positions = Tensor::arange(seq, (Kind::Int64, input_ids.device())).unsqueeze(0);
        let xs = self.word_embeddings.forward(input_ids)
            + self.position_embeddings.forward(&positions)
            + self.token_type_embeddings.forward(token_type_ids);
        self.layer_norm.forward(&xs).dropout(self.dropout, train)
    }
}
