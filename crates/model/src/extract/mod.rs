//! Extracting representations: streaming sentence embedding and per-task unit vectors.

pub mod embed;
pub mod file;
pub mod task;

pub use embed::{ChunkVectors, Embedder};
pub use file::{embed_file, parse_layers, EmbedFileOptions, EmbedPool, EmbedSummary};
pub use task::{extract_task, TaskExtractOptions};
