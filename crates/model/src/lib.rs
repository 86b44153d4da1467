//! BERT on libtorch: the encoder and its loading/saving, sub-word alignment, pooling,
//! extraction of representations, fine-tuning and classifier probes.

pub mod encoder;
pub mod extract;
pub mod finetune;
pub mod memory;
pub mod probe;
