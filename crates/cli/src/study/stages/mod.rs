//! The stages of a study, one module each. A stage module holds its `Settings` (everything the
//! stage reads that can change its result, serialisable: the plan hashes exactly this struct
//! with the keys of the stages it reads from), `settings(...)` (how a config resolves to it,
//! used only by the plan) and `run(...)`, which receives the settings and typed locations, never
//! the config — so nothing a stage reads can be missing from its key.
//!
//! Every output is written under a temporary name and renamed into place, so an interrupted
//! stage leaves either its previous complete output or none.

pub mod arms;
pub mod compare;
pub mod cross;
pub mod data;
pub mod directprobe;
pub mod dynamics;
pub mod examples;
pub mod extract;
pub mod finetune;
pub mod mdl;
pub mod memorisation;
pub mod probe;
pub mod report;
pub mod seeds;
pub mod similarity;
pub mod weights;
