//! Corpus readers into one task model.
//!
//! Every format (CoNLL-U, STREUSLE, TREC, Brown, TSV/JSONL) is read into a [`Task`]: a sorted
//! label list and train/dev/test [`Split`]s of sentences and labelled [`Unit`]s. [`load`] turns
//! data settings ([`LoadSpec`]) into a task; failures are [`DataError`]s naming file and line.

pub mod csv;
pub mod error;
pub mod fs;
pub mod labels;
pub mod lines;
pub mod load;
pub mod npy;
pub mod readers;
pub mod rng;
pub mod rundir;
pub mod split;
pub mod task;

pub use error::DataError;
pub use lines::read_lines;
pub use load::{load, Files, Format, LoadSpec, TaskKind};
pub use task::{Sentence, Split, Target, Task, Unit, UnitKind, SPLIT_NAMES};
