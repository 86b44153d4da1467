//! Corpus readers into one task model.
