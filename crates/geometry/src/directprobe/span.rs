//! The affine span of a training set at the precision of its coordinates.
//!
//! Every hidden state of a BERT-family encoder leaves a LayerNorm, whose output lies on an affine
//! hyperplane (its centred coordinates, divided by the gain, sum to zero); mean pooling keeps
//! that. Stored as `f32`, the points leave the hyperplane only by rounding, a few 1e-8 of their
//! norm. Exact hull tests in the full space then chase that rounding: two hulls 3e-7 of the
//! radius apart inside the hyperplane can look touching, and the nearest-point iteration stalls
//! on corrals that need the rounding direction to close. DirectProbe therefore works in the
//! span of the directions along which the data vary by more than the rounding of their
//! coordinates ([`Span::fit`]), and measures test points with their distance from that span.

use super::kernels::dot;
use super::{Points, ProbeError};
use crate::linalg::{gram_centered, symmetric_eigen, Matrix};
use rayon::prelude::*;

/// A direction is dropped when no training point's centred coordinate along it exceeds this
/// many unit roundoffs of the largest point norm (rounding moves a point by at most one).
const ROUNDING_FACTOR: f64 = 4.0;

/// The numerical affine span of a training set (see the module documentation).
#[derive(Debug, Clone)]
pub struct Span {
    centre: Vec<f64>,
    /// Orthonormal basis of the kept directions as rows (`rank × d`), then of the dropped
    /// ones; `None` when every direction is kept (the points are used as given).
    basis: Option<Vec<f64>>,
    rank: usize,
    d: usize,
    tolerance: f64,
}

impl Span {
    /// Finds the directions along which `points` vary only by the rounding of their
    /// coordinates: `f32` rounding when every coordinate is an `f32` value, else `f64`'s.
    /// A direction `v` (an eigenvector of the centred scatter matrix) is dropped when every
    /// point has `|(x − c)·v| ≤ 4 u max‖x‖` (`c` the centroid, `u` the unit roundoff).
    pub fn fit(points: &Points) -> Result<Self, ProbeError> {
        let (n, d) = (points.len(), points.dim());
        let f32_values = points.data.iter().all(|&v| f64::from(v as f32) == v);
        let unit = if f32_values {
            f64::from(f32::EPSILON) / 2.0
        } else {
            f64::EPSILON / 2.0
        };
        let max_norm = (0..n)
            .map(|i| dot(points.row(i), points.row(i)))
            .fold(0.0f64, f64::max)
            .sqrt();
        let tolerance = ROUNDING_FACTOR * unit * max_norm;
        let whole = |centre| Span {
            centre,
            basis: None,
            rank: d,
            d,
            tolerance,
        };
        let m = Matrix::new(n, d, points.data.clone()).map_err(numerical)?;
        let centre = m.column_means();
        if n < 2 || tolerance == 0.0 {
            return Ok(whole(centre));
        }
        let eig = symmetric_eigen(&gram_centered(&m, Some(&centre))).map_err(numerical)?;
        // Smallest eigenvalues first; a direction can only be rounding when its root mean
        // square coordinate is within the tolerance, and then every coordinate must be.
        let mut dropped = 0;
        for k in (0..d).rev() {
            if eig.values[k] > tolerance * tolerance * n as f64 {
                break;
            }
            let v = eig.vectors.row(k);
            let reach = (0..n)
                .into_par_iter()
                .map(|i| {
                    let x = points.row(i);
                    x.iter()
                        .zip(&centre)
                        .zip(v)
                        .map(|((a, c), w)| (a - c) * w)
                        .sum::<f64>()
                        .abs()
                })
                .reduce(|| 0.0, f64::max);
            if reach > tolerance {
                break;
            }
            dropped += 1;
        }
        if dropped == 0 {
            return Ok(whole(centre));
        }
        let rank = d - dropped;
        let basis = eig.vectors.as_slice().to_vec();
        Ok(Span {
            centre,
            basis: Some(basis),
            rank,
            d,
            tolerance,
        })
    }

    /// Number of directions dropped as rounding (0: the points are used as given).
    pub fn dropped(&self) -> usize {
        self.d - self.rank
    }

    /// Largest coordinate along a dropped direction that counts as rounding.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// The points in the span's coordinates (centred, in the orthonormal basis of the kept
    /// directions), each with its distance from the span; the points themselves when nothing
    /// is dropped. Distances between projected points never exceed the originals'.
    pub fn project(&self, points: &Points) -> Result<Points, ProbeError> {
        if points.dim() != self.d {
            return Err(ProbeError::Shape(format!(
                "vectors have dimension {}, training vectors {}",
                points.dim(),
                self.d
            )));
        }
        let Some(basis) = &self.basis else {
            let mut out = points.clone();
            out.precision = self.tolerance;
            return Ok(out);
        };
        let (d, r) = (self.d, self.rank);
        let rows: Vec<(Vec<f64>, f64)> = (0..points.len())
            .into_par_iter()
            .map(|i| {
                let x: Vec<f64> = points
                    .row(i)
                    .iter()
                    .zip(&self.centre)
                    .map(|(a, c)| a - c)
                    .collect();
                let (kept, dropped) = basis.split_at(r * d);
                let y: Vec<f64> = kept.chunks_exact(d).map(|v| dot(v, &x)).collect();
                let off = dropped
                    .chunks_exact(d)
                    .map(|v| dot(v, &x).powi(2))
                    .sum::<f64>()
                    .sqrt();
                (y, off)
            })
            .collect();
        let mut data = Vec::with_capacity(points.len() * r);
        let mut off_span = Vec::with_capacity(points.len());
        for (y, off) in rows {
            data.extend_from_slice(&y);
            off_span.push(off);
        }
        let mut out = Points::new(data, points.len(), r)?;
        out.off_span = Some(off_span);
        out.precision = self.tolerance;
        Ok(out)
    }
}

fn numerical(e: crate::linalg::LinalgError) -> ProbeError {
    ProbeError::Numerical(format!("span of the training points: {e}"))
}
