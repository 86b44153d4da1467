//! The compare stage: how fine-tuning changed a BERT encoder's representation space, layer by
//! layer (Zhou & Srikumar, ACL 2022; DirectProbe, NAACL 2021).
//!
//! * [`analysis`]: the comparisons on in-memory matrices (centroid movement, distance changes,
//!   spatial similarity, CKA/RSA/Procrustes), reusable by the dynamics and cross-task studies.
//! * [`dp`]: DirectProbe on one split × layer, summarised, with its run-directory artifacts.
//! * [`experiments`]: dynamics over checkpoints, the memorisation split, the cross-task table,
//!   on in-memory results; [`dynamics`], [`memorisation`], [`cross`], [`examples`] run them on a
//!   run directory and write their result files; [`arms`] assembles the arms' report section.
//! * [`dynamics_measures`]: the similarity to the pre-trained space and the geometry
//!   descriptors at every snapshot of the dynamics.
//! * [`seeds`]: statistics over fine-tuning seeds (bootstrap intervals, permutation tests).
//! * [`layer_analyses`]: the registry of per-layer analyses `compare` runs at every layer.
//! * [`compare`]: walks a run directory, reuses artifacts, computes the rest; [`CompareResults`]
//!   writes `compare/*.json` and `compare/*.csv` (documented in `docs/compare.md`).
//! * [`terminal_table`], [`report_sections`]: the terminal summary and the report's sections.

pub mod analysis;
pub mod arms;
pub mod cross;
pub mod dp;
mod driver;
pub mod dynamics;
pub mod dynamics_measures;
pub mod examples;
pub mod experiments;
mod findings;
pub mod io;
pub mod layer_analyses;
pub mod measures;
pub mod memorisation;
pub mod paper;
mod report;
pub mod results;
pub mod seeds;
mod table;
pub mod weights;

pub use driver::{compare, compare_and_write, CompareOptions, Work};
pub use findings::check_findings;
pub use report::report_sections;
pub use results::CompareResults;
pub use table::terminal_table;
