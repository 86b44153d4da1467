//! Fine-tuning an encoder plus a task head, HF Trainer-style (AdamW with decoupled weight decay,
//! linear warm-up and decay, gradient clipping, gradient accumulation, dropout), with seeded
//! determinism, dev-based model selection, HF-layout checkpoints and exact resume.
//!
//! Start reading at [`train::finetune`]: the whole loop is in that one function.

pub mod batch;
pub mod config;
pub mod head;
pub mod io;
pub mod metrics;
pub mod optim;
pub mod prep;
pub mod save;
pub mod train;

pub use config::{FinetuneConfig, Method};
pub use metrics::Scores;
pub use train::{finetune, Interrupted, Job, Outcome, Progress, Quiet};
