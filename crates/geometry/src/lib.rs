//! Geometry of labelled point sets: DirectProbe, similarity indices (with permutation nulls),
//! geometry descriptors, statistics.
pub mod calibrated;
pub mod cka_null;
pub mod descriptors;
pub mod directprobe;
pub mod flips;
pub mod linalg;
pub mod pca;
pub mod similarity;
pub mod stats;
pub mod weights;
