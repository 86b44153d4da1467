//! Geometry of labelled point sets: DirectProbe, similarity indices, statistics.
