//! `config.json` of a Hugging Face encoder checkpoint: the model family and its architecture.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use super::linear::LoraConfig;

/// Feed-forward activation (`hidden_act`, DistilBERT's `activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// Exact (erf) GELU, transformers' `gelu`.
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
    /// `relu`.
    #[serde(rename = "relu")]
    Relu,
}

/// The supported encoder families (`model_type` in `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `bert` (also the default when `model_type` is absent).
    Bert,
    /// `roberta`: BERT layers, positions counted from `pad_token_id + 1`.
    Roberta,
    /// `xlm-roberta`: the RoBERTa architecture with a SentencePiece tokenizer.
    XlmRoberta,
    /// `distilbert`: its own module names, no token types, no pooler.
    DistilBert,
    /// `electra` (the discriminator): BERT layers, `embeddings_project` when
    /// `embedding_size != hidden_size`, no pooler.
    Electra,
}

impl Family {
    /// Every supported family.
    pub const ALL: [Family; 5] = [
        Family::Bert,
        Family::Roberta,
        Family::XlmRoberta,
        Family::DistilBert,
        Family::Electra,
    ];

    /// The `model_type` string of `config.json`.
    pub fn model_type(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::Roberta => "roberta",
            Family::XlmRoberta => "xlm-roberta",
            Family::DistilBert => "distilbert",
            Family::Electra => "electra",
        }
    }

    /// The supported `model_type`s, comma-separated (for help texts and errors).
    pub fn supported() -> String {
        Self::ALL.map(Family::model_type).join(", ")
    }

    /// Parses a `model_type`; an unsupported one is an error listing the supported types.
    pub fn from_model_type(t: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.model_type() == t)
            .with_context(|| {
                format!(
                    "model_type \"{t}\" is not supported (supported: {})",
                    Self::supported()
                )
            })
    }

    /// The family of the model directory `dir`, from its `config.json`.
    pub fn of_dir(dir: &Path) -> Result<Self> {
        Ok(EncoderConfig::from_file(&dir.join("config.json"))?.family)
    }

    /// transformers' base-model class (`AutoModel` of this family).
    pub fn model_class(self) -> &'static str {
        match self {
            Family::Bert => "BertModel",
            Family::Roberta => "RobertaModel",
            Family::XlmRoberta => "XLMRobertaModel",
            Family::DistilBert => "DistilBertModel",
            Family::Electra => "ElectraModel",
        }
    }

    /// Prefix of the encoder's tensors in task checkpoints (`bert.`, `roberta.`, ...).
    pub fn checkpoint_prefix(self) -> &'static str {
        match self {
            Family::Bert => "bert.",
            Family::Roberta | Family::XlmRoberta => "roberta.",
            Family::DistilBert => "distilbert.",
            Family::Electra => "electra.",
        }
    }

    /// Top-level modules of the base model (the first component of every tensor name).
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Family::Bert | Family::Roberta | Family::XlmRoberta => {
                &["embeddings", "encoder", "pooler"]
            }
            Family::DistilBert => &["embeddings", "transformer"],
            Family::Electra => &["embeddings", "embeddings_project", "encoder"],
        }
    }

    /// The weight matrices of transformer layer `i` by role (`Q`, `K`, `V`, attention output
    /// `O`, `FFN in`, `FFN out`): their checkpoint names.
    pub fn layer_weights(self, i: usize) -> [(&'static str, String); 6] {
        let names = match self {
            Family::DistilBert => [
                "attention.q_lin",
                "attention.k_lin",
                "attention.v_lin",
                "attention.out_lin",
                "ffn.lin1",
                "ffn.lin2",
            ],
            _ => [
                "attention.self.query",
                "attention.self.key",
                "attention.self.value",
                "attention.output.dense",
                "intermediate.dense",
                "output.dense",
            ],
        };
        let stack = match self {
            Family::DistilBert => "transformer",
            _ => "encoder",
        };
        let roles = ["Q", "K", "V", "O", "FFN in", "FFN out"];
        std::array::from_fn(|k| (roles[k], format!("{stack}.layer.{i}.{}.weight", names[k])))
    }

    /// `config.json` keys of the hidden and the attention dropout.
    pub fn dropout_keys(self) -> [&'static str; 2] {
        match self {
            Family::DistilBert => ["dropout", "attention_dropout"],
            _ => ["hidden_dropout_prob", "attention_probs_dropout_prob"],
        }
    }

    /// Default sentence-start, separator and unknown tokens of the family's tokenizer.
    pub fn default_special_tokens(self) -> [&'static str; 3] {
        match self {
            Family::Roberta | Family::XlmRoberta => ["<s>", "</s>", "<unk>"],
            _ => ["[CLS]", "[SEP]", "[UNK]"],
        }
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.model_type())
    }
}

/// Architecture hyper-parameters of an encoder, in BERT's terms whatever the family's own keys.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    /// Model family (`model_type`).
    pub family: Family,
    /// Sub-word vocabulary size.
    pub vocab_size: i64,
    /// Width of every hidden state.
    pub hidden_size: i64,
    /// Width of the embeddings (ELECTRA's `embedding_size`; otherwise `hidden_size`).
    pub embedding_size: i64,
    /// Number of transformer layers L (hidden states returned: L + 1).
    pub num_hidden_layers: i64,
    /// Attention heads per layer.
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// Feed-forward activation.
    pub hidden_act: Activation,
    /// Dropout on embeddings and sub-layer outputs (training only).
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (training only).
    pub attention_probs_dropout_prob: f64,
    /// Number of learned positions (RoBERTa's include `pad_token_id + 1` unused ones).
    pub max_position_embeddings: i64,
    /// Number of segment (token type) embeddings; 0 for DistilBERT, which has none.
    pub type_vocab_size: i64,
    /// LayerNorm epsilon.
    pub layer_norm_eps: f64,
    /// Id of the padding token (RoBERTa's `padding_idx`).
    pub pad_token_id: i64,
    /// LoRA adapters on the target layers (set by fine-tuning; never read from `config.json`).
    pub lora: Option<LoraConfig>,
}

/// The keys of BERT, RoBERTa, XLM-R and ELECTRA configs.
#[derive(Deserialize)]
struct BertJson {
    vocab_size: i64,
    hidden_size: i64,
    embedding_size: Option<i64>,
    num_hidden_layers: i64,
    num_attention_heads: i64,
    intermediate_size: i64,
    #[serde(default = "default_act")]
    hidden_act: Activation,
    #[serde(default = "default_dropout")]
    hidden_dropout_prob: f64,
    #[serde(default = "default_dropout")]
    attention_probs_dropout_prob: f64,
    max_position_embeddings: i64,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: i64,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    pad_token_id: Option<i64>,
}

/// The keys of DistilBERT configs.
#[derive(Deserialize)]
struct DistilBertJson {
    vocab_size: i64,
    dim: i64,
    n_layers: i64,
    n_heads: i64,
    hidden_dim: i64,
    #[serde(default = "default_act")]
    activation: Activation,
    #[serde(default = "default_dropout")]
    dropout: f64,
    #[serde(default = "default_dropout")]
    attention_dropout: f64,
    max_position_embeddings: i64,
    #[serde(default)]
    pad_token_id: i64,
}

fn default_act() -> Activation {
    Activation::Gelu
}
fn default_dropout() -> f64 {
    0.1
}
fn default_type_vocab() -> i64 {
    2
}
fn default_eps() -> f64 {
    1e-12
}

impl EncoderConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model config {}", path.display()))?;
        let raw: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        Self::from_json(&raw).with_context(|| format!("invalid model config {}", path.display()))
    }

    /// Parses a `config.json` value of a supported family (no `model_type`: BERT).
    pub fn from_json(raw: &serde_json::Value) -> Result<Self> {
        let family = match raw.get("model_type").and_then(|v| v.as_str()) {
            Some(t) => Family::from_model_type(t)?,
            None => Family::Bert,
        };
        if let Some(t) = raw.get("position_embedding_type").and_then(|v| v.as_str()) {
            if t != "absolute" {
                bail!("position_embedding_type \"{t}\" is not supported (expected \"absolute\")");
            }
        }
        let cfg = if family == Family::DistilBert {
            let c: DistilBertJson = serde_json::from_value(raw.clone())?;
            Self {
                family,
                vocab_size: c.vocab_size,
                hidden_size: c.dim,
                embedding_size: c.dim,
                num_hidden_layers: c.n_layers,
                num_attention_heads: c.n_heads,
                intermediate_size: c.hidden_dim,
                hidden_act: c.activation,
                hidden_dropout_prob: c.dropout,
                attention_probs_dropout_prob: c.attention_dropout,
                max_position_embeddings: c.max_position_embeddings,
                type_vocab_size: 0,
                layer_norm_eps: 1e-12,
                pad_token_id: c.pad_token_id,
                lora: None,
            }
        } else {
            let c: BertJson = serde_json::from_value(raw.clone())?;
            let default_pad = match family {
                Family::Roberta | Family::XlmRoberta => 1,
                _ => 0,
            };
            Self {
                family,
                vocab_size: c.vocab_size,
                hidden_size: c.hidden_size,
                embedding_size: match family {
                    Family::Electra => c.embedding_size.unwrap_or(c.hidden_size),
                    _ => c.hidden_size,
                },
                num_hidden_layers: c.num_hidden_layers,
                num_attention_heads: c.num_attention_heads,
                intermediate_size: c.intermediate_size,
                hidden_act: c.hidden_act,
                hidden_dropout_prob: c.hidden_dropout_prob,
                attention_probs_dropout_prob: c.attention_probs_dropout_prob,
                max_position_embeddings: c.max_position_embeddings,
                type_vocab_size: c.type_vocab_size,
                layer_norm_eps: c.layer_norm_eps,
                pad_token_id: c.pad_token_id.unwrap_or(default_pad),
                lora: None,
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the sizes are positive and the hidden size splits evenly into heads.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("embedding_size", self.embedding_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ] {
            if v <= 0 {
                bail!("{name} must be positive, found {v}");
            }
        }
        if self.type_vocab_size < 0
            || (self.type_vocab_size == 0 && self.family != Family::DistilBert)
        {
            bail!(
                "type_vocab_size must be positive, found {}",
                self.type_vocab_size
            );
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if self.pad_token_id < 0 || self.pad_token_id >= self.vocab_size {
            bail!(
                "pad_token_id {} lies outside the vocabulary of {}",
                self.pad_token_id,
                self.vocab_size
            );
        }
        if self.max_len() < 3 {
            bail!(
                "max_position_embeddings {} must leave room for the two special tokens and one \
                 sub-word",
                self.max_position_embeddings
            );
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
    }

    /// The first position id: `pad_token_id + 1` for RoBERTa and XLM-R, else 0.
    pub fn first_position(&self) -> i64 {
        match self.family {
            Family::Roberta | Family::XlmRoberta => self.pad_token_id + 1,
            _ => 0,
        }
    }

    /// Longest model input, special tokens included (`max_position_embeddings` minus the
    /// positions RoBERTa never uses).
    pub fn max_len(&self) -> i64 {
        self.max_position_embeddings - self.first_position()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_minilm_style_config_and_rejects_bad_ones() {
        let mut v = serde_json::json!({
            "hidden_act": "gelu", "hidden_size": 384, "intermediate_size": 1536,
            "layer_norm_eps": 1e-12, "max_position_embeddings": 512, "model_type": "bert",
            "num_attention_heads": 12, "num_hidden_layers": 6, "type_vocab_size": 2,
            "vocab_size": 30522, "position_embedding_type": "absolute"
        });
        let c = EncoderConfig::from_json(&v).unwrap();
        assert_eq!(
            (c.hidden_size, c.head_dim(), c.hidden_act, c.max_len()),
            (384, 32, Activation::Gelu, 512)
        );
        v["num_attention_heads"] = 5.into();
        let e = EncoderConfig::from_json(&v).unwrap_err().to_string();
        assert!(e.contains("not a multiple"), "{e}");
        v["num_attention_heads"] = 12.into();
        v["position_embedding_type"] = "relative_key".into();
        assert!(EncoderConfig::from_json(&v).is_err());
        v["position_embedding_type"] = "absolute".into();
        v.as_object_mut().unwrap().remove("hidden_size");
        let e = format!("{:#}", EncoderConfig::from_json(&v).unwrap_err());
        assert!(e.contains("hidden_size"), "{e}");
    }

    #[test]
    fn each_family_reads_its_own_keys() {
        let roberta = serde_json::json!({
            "model_type": "roberta", "hidden_size": 768, "intermediate_size": 3072,
            "max_position_embeddings": 514, "num_attention_heads": 12, "num_hidden_layers": 12,
            "type_vocab_size": 1, "vocab_size": 50265, "pad_token_id": 1
        });
        let c = EncoderConfig::from_json(&roberta).unwrap();
        assert_eq!(
            (c.family, c.first_position(), c.max_len()),
            (Family::Roberta, 2, 512)
        );
        let distil = serde_json::json!({
            "model_type": "distilbert", "dim": 768, "hidden_dim": 3072, "n_heads": 12,
            "n_layers": 6, "max_position_embeddings": 512, "vocab_size": 30522,
            "activation": "gelu", "dropout": 0.1, "attention_dropout": 0.2
        });
        let c = EncoderConfig::from_json(&distil).unwrap();
        assert_eq!(
            (
                c.hidden_size,
                c.intermediate_size,
                c.num_hidden_layers,
                c.type_vocab_size
            ),
            (768, 3072, 6, 0)
        );
        assert_eq!(c.attention_probs_dropout_prob, 0.2);
        let electra = serde_json::json!({
            "model_type": "electra", "embedding_size": 128, "hidden_size": 256,
            "intermediate_size": 1024, "max_position_embeddings": 512, "num_attention_heads": 4,
            "num_hidden_layers": 12, "vocab_size": 30522
        });
        let c = EncoderConfig::from_json(&electra).unwrap();
        assert_eq!((c.embedding_size, c.hidden_size), (128, 256));
        let gpt = serde_json::json!({"model_type": "gpt2"});
        let e = EncoderConfig::from_json(&gpt).unwrap_err().to_string();
        assert!(
            e.contains("\"gpt2\"") && e.contains("bert, roberta, xlm-roberta, distilbert, electra"),
            "{e}"
        );
    }
}
