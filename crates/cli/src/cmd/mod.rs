//! One module per subcommand.
pub mod data;
pub mod directprobe;
pub mod probe;
