//! One module per subcommand.
pub mod embed;
pub mod data;
pub mod directprobe;
pub mod compare;
pub mod finetune;
pub mod probe;
pub mod plan;
pub mod study;
