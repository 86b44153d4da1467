//! One module per subcommand.
pub mod embed;
pub mod data;
pub mod directprobe;
pub mod finetune;
pub mod probe;
