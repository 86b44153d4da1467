//! Geometry of labelled point sets: DirectProbe, similarity indices, statistics.
pub mod directprobe;
pub mod linalg;
pub mod pca;
pub mod similarity;
pub mod stats;
