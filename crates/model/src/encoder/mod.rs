//! A BERT encoder on libtorch whose modules mirror the Hugging Face checkpoint layout.
//!
//! - [`config`]: `config.json` → [`BertConfig`]
//! - [`embeddings`], [`attention`], [`layer`], [`model`]: the network ([`Bert`])
//! - [`load`]: HF directory ↔ [`Encoder`] (safetensors both ways)
//! - [`tokenize`]: pre-tokenized words → sub-word windows ([`WordTokenizer`])
//! - [`pool`]: word / sentence / pair / span vectors
//! - [`device`]: `cpu` / `cuda:N` and thread count

pub mod attention;
pub mod config;
pub mod device;
pub mod embeddings;
pub mod layer;
pub mod load;
pub mod model;
pub mod pool;
pub mod tokenize;

pub use config::{Activation, BertConfig};
pub use device::{parse_device, set_threads};
pub use load::{file_sha256, load, load_weights, resolve, save_pretrained, save_weights, Encoder};
pub use model::Bert;
pub use pool::{SentencePool, SubwordSpan, WordPool};
pub use tokenize::{EncodedSentence, Window, WordPlacement, WordTokenizer};
