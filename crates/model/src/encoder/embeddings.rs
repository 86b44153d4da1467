//! `embeddings.*`: word + position (+ token-type) embeddings, then LayerNorm and dropout. Shared
//! by every family: DistilBERT has no token types; RoBERTa and XLM-R count positions from
//! `pad_token_id + 1`; ELECTRA's width is its `embedding_size`.

use tch::{nn, nn::Module, Kind, Tensor};

use super::config::EncoderConfig;

/// Input embeddings (transformers' `BertEmbeddings`, `RobertaEmbeddings`, DistilBERT's
/// `Embeddings`, `ElectraEmbeddings`).
#[derive(Debug)]
pub struct Embeddings {
    word_embeddings: nn::Embedding,
    position_embeddings: nn::Embedding,
    token_type_embeddings: Option<nn::Embedding>,
    layer_norm: nn::LayerNorm,
    dropout: f64,
    /// RoBERTa's `padding_idx`: positions are `padding_idx + 1, ...` over non-pad tokens.
    padding_idx: Option<i64>,
}

impl Embeddings {
    /// Creates the parameters under `p` (normally `embeddings`).
    pub fn new(p: nn::Path, cfg: &EncoderConfig) -> Self {
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let e = cfg.embedding_size;
        let ln = nn::LayerNormConfig {
            eps: cfg.layer_norm_eps,
            ..Default::default()
        };
        Self {
            word_embeddings: nn::embedding(&p / "word_embeddings", cfg.vocab_size, e, init),
            position_embeddings: nn::embedding(
                &p / "position_embeddings",
                cfg.max_position_embeddings,
                e,
                init,
            ),
            token_type_embeddings: (cfg.type_vocab_size > 0)
                .then(|| nn::embedding(&p / "token_type_embeddings", cfg.type_vocab_size, e, init)),
            layer_norm: nn::layer_norm(&p / "LayerNorm", vec![e], ln),
            dropout: cfg.hidden_dropout_prob,
            padding_idx: (cfg.first_position() > 0).then_some(cfg.pad_token_id),
        }
    }

    /// `input_ids` and `attention_mask`: `[batch, seq]` int64 (right-padded). Token types are
    /// all 0. Returns `[batch, seq, width]`.
    pub fn forward_t(&self, input_ids: &Tensor, attention_mask: &Tensor, train: bool) -> Tensor {
        let positions = match self.padding_idx {
            None => {
                let seq = input_ids.size()[1];
                Tensor::arange(seq, (Kind::Int64, input_ids.device())).unsqueeze(0)
            }
            // transformers' create_position_ids_from_input_ids; the mask also excludes padding
            // made with another id (what it yields there is never used).
            Some(pad) => {
                let real = input_ids.ne(pad).to_kind(Kind::Int64) * attention_mask.ne(0);
                real.cumsum(1, Kind::Int64) * &real + pad
            }
        };
        let mut xs =
            self.word_embeddings.forward(input_ids) + self.position_embeddings.forward(&positions);
        if let Some(types) = &self.token_type_embeddings {
            xs += types.forward(&input_ids.zeros_like());
        }
        self.layer_norm.forward(&xs).dropout(self.dropout, train)
    }
}
