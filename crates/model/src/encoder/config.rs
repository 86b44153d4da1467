//! `config.json` of a Hugging Face BERT checkpoint.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// Feed-forward activation (`hidden_act`).
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

/// Architecture hyper-parameters of a BERT encoder, as in transformers' `BertConfig`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BertConfig {
    /// Sub-word vocabulary size.
    pub vocab_size: i64,
    /// Width of every hidden state.
    pub hidden_size: i64,
    /// Number of transformer layers L (hidden states returned: L + 1).
    pub num_hidden_layers: i64,
    /// Attention heads per layer.
    pub num_attention_heads: i64,
    /// Width of the feed-forward layer.
    pub intermediate_size: i64,
    /// Feed-forward activation.
    #[serde(default = "default_act")]
    pub hidden_act: Activation,
    /// Dropout on embeddings and sub-layer outputs (training only).
    #[serde(default = "default_dropout")]
    pub hidden_dropout_prob: f64,
    /// Dropout on attention probabilities (training only).
    #[serde(default = "default_dropout")]
    pub attention_probs_dropout_prob: f64,
    /// Number of learned positions: the longest input, special tokens included.
    pub max_position_embeddings: i64,
    /// Number of segment (token type) embeddings.
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: i64,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// Id of the padding token.
    #[serde(default)]
    pub pad_token_id: i64,
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

impl BertConfig {
    /// Reads and validates `config.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read model config {}", path.display()))?;
        let raw: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", path.display()))?;
        Self::from_json(&raw).with_context(|| format!("invalid BERT config {}", path.display()))
    }

    /// Parses a `config.json` value and checks that it describes a supported BERT.
    pub fn from_json(raw: &serde_json::Value) -> Result<Self> {
        if let Some(t) = raw.get("position_embedding_type").and_then(|v| v.as_str()) {
            if t != "absolute" {
                bail!("position_embedding_type \"{t}\" is not supported (expected \"absolute\")");
            }
        }
        if let Some(t) = raw.get("model_type").and_then(|v| v.as_str()) {
            if t != "bert" {
                bail!("model_type \"{t}\" is not supported (expected \"bert\")");
            }
        }
        let cfg: Self = serde_json::from_value(raw.clone())?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the sizes are positive and the hidden size splits evenly into heads.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ] {
            if v <= 0 {
                bail!("{name} must be positive, found {v}");
            }
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            bail!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size,
                self.num_attention_heads
            );
        }
        if self.max_position_embeddings < 3 {
            bail!("max_position_embeddings must leave room for [CLS], [SEP] and one sub-word");
        }
        Ok(())
    }

    /// Width of one attention head.
    pub fn head_dim(&self) -> i64 {
        self.hidden_size / self.num_attention_heads
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
        let c = BertConfig::from_json(&v).unwrap();
        assert_eq!(
            (c.hidden_size, c.head_dim(), c.hidden_act),
            (384, 32, Activation::Gelu)
        );
        v["num_attention_heads"] = 5.into();
        let e = BertConfig::from_json(&v).unwrap_err().to_string();
        assert!(e.contains("not a multiple"), "{e}");
        v["num_attention_heads"] = 12.into();
        v["position_embedding_type"] = "relative_key".into();
        assert!(BertConfig::from_json(&v).is_err());
        v["position_embedding_type"] = "absolute".into();
        v.as_object_mut().unwrap().remove("hidden_size");
        let e = format!("{:#}", BertConfig::from_json(&v).unwrap_err());
        assert!(e.contains("hidden_size"), "{e}");
    }
}
