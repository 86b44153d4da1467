//! One module per subcommand.
pub mod compare;
pub mod data;
pub mod directprobe;
pub mod embed;
pub mod finetune;
pub mod geometry;
pub mod plan;
pub mod probe;
pub mod similarity;
pub mod study;
