//! Encoders on libtorch whose modules mirror the Hugging Face checkpoint layout: BERT, RoBERTa,
//! XLM-R, DistilBERT and ELECTRA.
//!
//! - [`config`]: `config.json` → [`EncoderConfig`] and its [`Family`]
//! - [`embeddings`], [`attention`], [`layer`]: the shared building blocks; [`linear`]: dense
//!   layers with PEFT's LoRA adapters
//! - [`bert`] (BERT, RoBERTa, XLM-R), [`electra`], [`distilbert`]: one file per family whose
//!   modules differ; [`model`]: [`Model`], any of them
//! - [`load`]: HF directory ↔ [`Encoder`] (safetensors both ways); [`adapter`]: PEFT LoRA
//!   adapter directories
//! - [`tokenize`]: pre-tokenized words → sub-word windows ([`WordTokenizer`])
//! - [`pool`]: word / sentence / pair / span vectors
//! - [`device`]: `cpu` / `cuda:N` and thread count

pub mod adapter;
pub mod attention;
pub mod bert;
pub mod config;
pub mod device;
pub mod distilbert;
pub mod electra;
pub mod embeddings;
pub mod layer;
pub mod linear;
pub mod load;
pub mod model;
pub mod pool;
pub mod tokenize;

pub use config::{Activation, EncoderConfig, Family};
pub use device::{parse_device, set_threads};
pub use linear::{is_lora, LoraConfig};
pub use load::{
    file_sha256, load, load_weights, resolve, save_pretrained, save_weights, side_files, Encoder,
};
pub use model::Model;
pub use pool::{SentencePool, SubwordSpan, WordPool};
pub use tokenize::{EncodedSentence, Window, WordPlacement, WordTokenizer};
