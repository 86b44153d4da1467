//! Corpus readers into one task model.

pub mod npy;
