//! Geometry descriptors of one point cloud `X: [n × d]` (one row per unit): TwoNN intrinsic
//! dimension, anisotropy, effective rank and, with labels, neural collapse NC1 and the k-NN
//! label accuracy.

use crate::linalg::{
    centred_faer, gram_centered, smaller_gram, symmetric_eigen, symmetric_eigenvalues, LinalgError,
    Matrix,
};
use crate::similarity::sum4;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a descriptor is undefined for its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DescriptorError {
    /// A linear-algebra failure (non-finite input, shape).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// Too few (distinct) points.
    #[error("need at least {needed} {what}, got {got}")]
    TooFew {
        /// What is counted (e.g. "distinct points").
        what: &'static str,
        /// Minimum.
        needed: usize,
        /// Given.
        got: usize,
    },
    /// A row of zero norm (cosine undefined).
    #[error("row {0} has zero norm; cosine undefined")]
    ZeroNorm(usize),
    /// Labels and rows differ in number.
    #[error("{rows} rows but {labels} labels")]
    LabelCount {
        /// Rows of the matrix.
        rows: usize,
        /// Labels given.
        labels: usize,
    },
    /// The quantity is degenerate for this input (e.g. every point equidistant).
    #[error("{0}")]
    Degenerate(String),
}

/// TwoNN estimate (Facco et al. 2017).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TwoNn {
    /// Maximum-likelihood intrinsic dimension `n / Σ ln(r₂/r₁)`.
    pub dimension: f64,
    /// Distinct points used.
    pub points: usize,
    /// Rows dropped as exact duplicates of an earlier row.
    pub duplicates: usize,
}

/// TwoNN intrinsic dimension (Facco et al. 2017, maximum-likelihood form): exact duplicate rows
/// are removed (first kept), then for each of the `n` remaining points `μ = r₂/r₁`, the ratio of
/// the Euclidean distances to its second and first nearest neighbour, and `d = n / Σ ln μ`.
/// Brute force, `O(n²·d)`, parallel over points. Needs 3 distinct points.
pub fn two_nn(x: &Matrix) -> Result<TwoNn, DescriptorError> {
    x.check_finite()?;
    let mut order: Vec<usize> = (0..x.rows()).collect();
    let lex = |&i: &usize, &j: &usize| {
        x.row(i)
            .iter()
            .zip(x.row(j))
            .map(|(a, b)| a.total_cmp(b))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    };
    order.sort_by(|i, j| lex(i, j).then(i.cmp(j)));
    let mut keep: Vec<usize> = Vec::with_capacity(order.len());
    for (pos, &i) in order.iter().enumerate() {
        if pos == 0 || lex(&order[pos - 1], &i).is_ne() {
            keep.push(i);
        }
    }
    keep.sort_unstable();
    let n = keep.len();
    if n < 3 {
        return Err(DescriptorError::TooFew {
            what: "distinct points",
            needed: 3,
            got: n,
        });
    }
    let pts = x.select_rows(&keep);
    let sum_log: f64 = (0..n)
        .into_par_iter()
        .map(|i| {
            let a = pts.row(i);
            let (mut s1, mut s2) = (f64::INFINITY, f64::INFINITY);
            for j in (0..n).filter(|&j| j != i) {
                let s = sum4(a, pts.row(j), |u, v| (u - v) * (u - v));
                if s < s1 {
                    s2 = s1;
                    s1 = s;
                } else if s < s2 {
                    s2 = s;
                }
            }
            (s2.sqrt() / s1.sqrt()).ln()
        })
        .collect::<Vec<f64>>()
        .iter()
        .sum();
    if sum_log <= 0.0 {
        return Err(DescriptorError::Degenerate(
            "every point's two nearest neighbours are equidistant; TwoNN dimension undefined"
                .into(),
        ));
    }
    Ok(TwoNn {
        dimension: n as f64 / sum_log,
        points: n,
        duplicates: x.rows() - n,
    })
}

/// Anisotropy (Ethayarajh 2019): the mean cosine similarity over all `n(n−1)/2` pairs of rows,
/// exactly, via `Σ_{i≠j} uᵢ·uⱼ = ‖Σ uᵢ‖² − Σ ‖uᵢ‖²` for the unit rows `uᵢ` (`O(n·d)`, so no pair
/// sampling is needed at any size). Near 0 for an isotropic cloud, near 1 for a narrow cone.
pub fn anisotropy(x: &Matrix) -> Result<f64, DescriptorError> {
    x.check_finite()?;
    let n = x.rows();
    if n < 2 {
        return Err(DescriptorError::TooFew {
            what: "rows",
            needed: 2,
            got: n,
        });
    }
    let mut sum = vec![0.0; x.cols()];
    let mut self_sq = 0.0;
    for (i, r) in x.row_iter().enumerate() {
        let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
        if norm == 0.0 {
            return Err(DescriptorError::ZeroNorm(i));
        }
        let mut sq = 0.0;
        for (s, v) in sum.iter_mut().zip(r) {
            let u = v / norm;
            *s += u;
            sq += u * u;
        }
        self_sq += sq;
    }
    let total: f64 = sum.iter().map(|s| s * s).sum();
    Ok((total - self_sq) / (n as f64 * (n as f64 - 1.0)))
}

/// Singular values of the column-centred `X`, descending, with those at or below
/// `sqrt(max(n, d)·ε)·σ₁` set to 0: they come from the eigenvalues of the smaller Gram matrix,
/// whose rounding puts an exact zero singular value at about that level.
pub fn centred_singular_values(x: &Matrix) -> Result<Vec<f64>, DescriptorError> {
    x.check_finite()?;
    let c = x.centered();
    let gram = if c.rows() >= c.cols() {
        gram_centered(&c, None)
    } else {
        gram_centered(&c.transpose(), None)
    };
    Ok(floored_singular_values(
        &symmetric_eigenvalues(&gram)?,
        x.rows().max(x.cols()),
    ))
}

/// `sqrt(max(λ, 0))` of the Gram eigenvalues `lambda` (descending), those at or below
/// `sqrt(size·ε)·σ₁` set to 0 (see [`centred_singular_values`]).
fn floored_singular_values(lambda: &[f64], size: usize) -> Vec<f64> {
    let mut s: Vec<f64> = lambda.iter().map(|&l| l.max(0.0).sqrt()).collect();
    let floor = s.first().copied().unwrap_or(0.0) * (size as f64 * f64::EPSILON).sqrt();
    s.iter_mut().filter(|v| **v <= floor).for_each(|v| *v = 0.0);
    s
}

/// Effective rank (Roy & Vetterli 2007): `exp(−Σ pₖ ln pₖ)` with `pₖ = σₖ / Σ σ` the normalised
/// singular values of the column-centred `X` ([`centred_singular_values`]; `0 ln 0 = 0`). In
/// `[1, min(n, d)]`. Needs 2 rows and non-zero variance.
pub fn effective_rank(x: &Matrix) -> Result<f64, DescriptorError> {
    if x.rows() < 2 {
        return Err(DescriptorError::TooFew {
            what: "rows",
            needed: 2,
            got: x.rows(),
        });
    }
    effective_rank_of(&centred_singular_values(x)?).ok_or_else(|| {
        DescriptorError::Degenerate("all rows are equal; effective rank undefined".into())
    })
}

/// [`effective_rank`] with the smaller Gram matrix from faer's blocked product, run
/// sequentially, instead of this crate's parallel [`gram_centered`]: the same value to rounding.
/// For code that computes it many times from parallel workers (the dynamics' snapshots);
/// `tunescope geometry` keeps [`effective_rank`].
pub fn effective_rank_blocked(x: &Matrix) -> Result<f64, DescriptorError> {
    if x.rows() < 2 {
        return Err(DescriptorError::TooFew {
            what: "rows",
            needed: 2,
            got: x.rows(),
        });
    }
    x.check_finite()?;
    let g = smaller_gram(centred_faer(x, &x.column_means()).as_ref());
    let mut lambda = g
        .self_adjoint_eigenvalues(faer::Side::Lower)
        .map_err(|_| LinalgError::NoConvergence)?;
    lambda.sort_by(|a, b| b.total_cmp(a));
    let s = floored_singular_values(&lambda, x.rows().max(x.cols()));
    effective_rank_of(&s).ok_or_else(|| {
        DescriptorError::Degenerate("all rows are equal; effective rank undefined".into())
    })
}

/// Effective rank `exp(−Σ pₖ ln pₖ)`, `pₖ = σₖ / Σ σ`, of the singular values `s`
/// (`0 ln 0 = 0`); `None` when all are zero.
pub fn effective_rank_of(s: &[f64]) -> Option<f64> {
    let total: f64 = s.iter().sum();
    if total <= 0.0 {
        return None;
    }
    let entropy: f64 = s
        .iter()
        .filter(|&&v| v > 0.0)
        .map(|&v| {
            let p = v / total;
            -p * p.ln()
        })
        .sum();
    Some(entropy.exp())
}

/// Relative cut-off of [`nc1`]'s pseudo-inverse: directions of `Σ_B` with an eigenvalue at or
/// below this fraction of the largest are dropped (`numpy.linalg.pinv(Σ_B, rcond=1e-10)`).
pub const NC1_RCOND: f64 = 1e-10;

/// Neural collapse NC1 (Papyan, Han & Donoho 2020): `tr(Σ_W Σ_B⁺) / C`, with `C` the classes
/// present, `Σ_W = (1/N) Σᵢ (hᵢ − μ_{c(i)})(hᵢ − μ_{c(i)})ᵀ` the within-class covariance
/// averaged over all `N` rows, `Σ_B = (1/C) Σ_c (μ_c − μ_G)(μ_c − μ_G)ᵀ` the between-class
/// covariance of the class means around the global mean `μ_G` of all rows, and `⁺` the
/// Moore–Penrose pseudo-inverse ([`NC1_RCOND`]). Smaller means tighter classes relative to their
/// spread; 0 when every row sits on its class mean.
///
/// Computed in the `C`-dimensional span of the class means (`O(N·d·C + C³)`, no `d × d`
/// matrix): with `M` the `C × d` matrix of centred class means and `M Mᵀ = V Λ Vᵀ`,
/// `tr(Σ_W Σ_B⁺) = C Σ_{λₖ>0} vₖᵀ M Σ_W Mᵀ vₖ / λₖ²`. Needs 2 classes.
pub fn nc1(x: &Matrix, labels: &[usize]) -> Result<f64, DescriptorError> {
    x.check_finite()?;
    if labels.len() != x.rows() {
        return Err(DescriptorError::LabelCount {
            rows: x.rows(),
            labels: labels.len(),
        });
    }
    let classes: BTreeMap<usize, usize> = labels
        .iter()
        .copied()
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .enumerate()
        .map(|(i, l)| (l, i))
        .collect();
    let c = classes.len();
    if c < 2 {
        return Err(DescriptorError::TooFew {
            what: "classes",
            needed: 2,
            got: c,
        });
    }
    let d = x.cols();
    let global = x.column_means();
    let mut means = Matrix::zeros(c, d);
    let mut counts = vec![0usize; c];
    for (r, l) in x.row_iter().zip(labels) {
        let k = classes[l];
        counts[k] += 1;
        for (m, v) in means.row_mut(k).iter_mut().zip(r) {
            *m += v;
        }
    }
    for (k, &count) in counts.iter().enumerate() {
        means.row_mut(k).iter_mut().for_each(|m| *m /= count as f64);
    }
    let mut within = x.clone();
    for (i, l) in labels.iter().enumerate() {
        let k = classes[l];
        for (v, m) in within.row_mut(i).iter_mut().zip(means.row(k)) {
            *v -= m;
        }
    }
    for k in 0..c {
        for (m, g) in means.row_mut(k).iter_mut().zip(&global) {
            *m -= g;
        }
    }
    // W = Z Mᵀ (N × C); M Σ_W Mᵀ = WᵀW / N.
    let w = within.matmul(&means.transpose())?;
    let mut msm = gram_centered(&w, None);
    msm.scale(1.0 / x.rows() as f64);
    let eig = symmetric_eigen(&gram_centered(&means.transpose(), None))?;
    let top = eig.values.first().copied().unwrap_or(0.0);
    if top <= 0.0 {
        return Err(DescriptorError::Degenerate(
            "all class means coincide; NC1 undefined".into(),
        ));
    }
    let mut trace = 0.0;
    for (k, &lambda) in eig.values.iter().enumerate() {
        if lambda <= NC1_RCOND * top {
            continue;
        }
        let v = eig.vectors.row(k);
        let mut quad = 0.0;
        for i in 0..c {
            quad += v[i] * msm.row(i).iter().zip(v).map(|(a, b)| a * b).sum::<f64>();
        }
        trace += c as f64 * quad / (lambda * lambda);
    }
    Ok(trace / c as f64)
}

/// Leave-one-out k-nearest-neighbour label accuracy: each row's label predicted by a vote of
/// its `k` nearest other rows (rows L2-normalised, Euclidean distance, i.e. cosine
/// neighbourhoods as in [`crate::similarity::mutual_knn`]; ties in distance to the lower row
/// index), the most frequent label winning and a tie in votes going to the tied label met
/// first in nearest-first order; the score is the fraction of rows predicted right, in
/// `[0, 1]`. A probe with nothing to train: how label-pure the neighbourhoods of the space
/// are. Cost `O(n²·d)`, parallel over rows. Needs `1 ≤ k < n` and no zero row.
pub fn knn_accuracy(x: &Matrix, labels: &[usize], k: usize) -> Result<f64, DescriptorError> {
    if labels.len() != x.rows() {
        return Err(DescriptorError::LabelCount {
            rows: x.rows(),
            labels: labels.len(),
        });
    }
    if x.rows() <= k {
        return Err(DescriptorError::TooFew {
            what: "rows (k + 1)",
            needed: k + 1,
            got: x.rows(),
        });
    }
    let knn = crate::similarity::KnnCandidates::new(x, k, crate::stats::Side::First).map_err(
        |e| match e {
            crate::similarity::SimilarityError::ZeroNorm { row, .. } => {
                DescriptorError::ZeroNorm(row)
            }
            other => DescriptorError::Degenerate(other.to_string()),
        },
    )?;
    let right = (0..x.rows())
        .filter(|&i| {
            // (label, votes) in the order the labels are first met, nearest first.
            let mut votes: Vec<(usize, usize)> = Vec::with_capacity(k);
            for j in knn.neighbours(i) {
                match votes.iter_mut().find(|(l, _)| *l == labels[j]) {
                    Some(v) => v.1 += 1,
                    None => votes.push((labels[j], 1)),
                }
            }
            let most = votes.iter().map(|v| v.1).max().unwrap_or(0);
            votes.iter().find(|v| v.1 == most).map(|v| v.0) == Some(labels[i])
        })
        .count();
    Ok(right as f64 / x.rows() as f64)
}

/// Settings of [`describe`] (a study stage holds one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DescriptorSettings {
    /// Skip the `O(n²·d)` TwoNN estimate (e.g. for very large clouds).
    pub skip_intrinsic_dimension: bool,
}

/// All descriptors of one point cloud; serialises to `geometry.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Descriptors {
    /// Rows of the input.
    pub rows: usize,
    /// Columns of the input.
    pub dim: usize,
    /// TwoNN estimate ([`two_nn`]), unless skipped.
    pub intrinsic_dimension: Option<TwoNn>,
    /// Mean pairwise cosine ([`anisotropy`]).
    pub anisotropy: f64,
    /// Roy & Vetterli effective rank ([`effective_rank`]).
    pub effective_rank: f64,
    /// NC1 ([`nc1`]) when labels were given.
    pub nc1: Option<f64>,
    /// Classes in the labels, when given.
    pub classes: Option<usize>,
}

/// Every descriptor of `x` (NC1 only with `labels`, one per row).
pub fn describe(
    x: &Matrix,
    labels: Option<&[usize]>,
    settings: &DescriptorSettings,
) -> Result<Descriptors, DescriptorError> {
    let intrinsic_dimension = if settings.skip_intrinsic_dimension {
        None
    } else {
        Some(two_nn(x)?)
    };
    let nc1 = labels.map(|l| nc1(x, l)).transpose()?;
    Ok(Descriptors {
        rows: x.rows(),
        dim: x.cols(),
        intrinsic_dimension,
        anisotropy: anisotropy(x)?,
        effective_rank: effective_rank(x)?,
        nc1,
        classes: labels.map(|l| l.iter().collect::<std::collections::BTreeSet<_>>().len()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knn_accuracy_votes_among_cosine_neighbours() {
        // Two directions: rows near (1, 0) labelled 0, near (0, 1) labelled 1; row 5 points
        // along (1, 0) but is labelled 1. With k = 1 it and row 0 (whose nearest row it is)
        // are wrong.
        let x = Matrix::new(
            6,
            2,
            vec![1.0, 0.1, 2.0, 0.0, 3.0, -0.1, 0.1, 1.0, 0.0, 2.0, 1.0, 0.05],
        )
        .unwrap();
        let labels = [0, 0, 0, 1, 1, 1];
        assert_eq!(knn_accuracy(&x, &labels, 1).unwrap(), 4.0 / 6.0);
        let acc = knn_accuracy(&x, &labels, 2).unwrap();
        let brute = brute_force(&x, &labels, 2);
        assert_eq!(acc, brute);
        // Scaling a row changes no cosine neighbourhood.
        let mut scaled = x.clone();
        scaled.row_mut(4).iter_mut().for_each(|v| *v *= 10.0);
        assert_eq!(knn_accuracy(&scaled, &labels, 2).unwrap(), acc);
        // A tie in votes goes to the label of the nearer neighbour: rows 0 and 1 each see one
        // vote for label 1 (nearer) and one for label 0.
        let t = Matrix::new(3, 2, vec![1.0, 0.0, 1.0, 0.1, 1.0, -0.3]).unwrap();
        assert_eq!(knn_accuracy(&t, &[1, 1, 0], 2).unwrap(), 2.0 / 3.0);
        assert!(matches!(
            knn_accuracy(&x, &labels, 6),
            Err(DescriptorError::TooFew { needed: 7, .. })
        ));
        let zero = Matrix::new(3, 2, vec![1.0, 0.0, 0.0, 0.0, 0.0, 1.0]).unwrap();
        assert_eq!(
            knn_accuracy(&zero, &[0, 1, 1], 1),
            Err(DescriptorError::ZeroNorm(1))
        );
        assert!(knn_accuracy(&x, &labels[..5], 1).is_err());
    }

    /// The same score by sorting every row's cosine distances.
    fn brute_force(x: &Matrix, labels: &[usize], k: usize) -> f64 {
        let unit: Vec<Vec<f64>> = x
            .row_iter()
            .map(|r| {
                let n = r.iter().map(|v| v * v).sum::<f64>().sqrt();
                r.iter().map(|v| v / n).collect()
            })
            .collect();
        let mut right = 0;
        for i in 0..unit.len() {
            let mut d: Vec<(f64, usize)> = (0..unit.len())
                .filter(|&j| j != i)
                .map(|j| {
                    let s: f64 = unit[i]
                        .iter()
                        .zip(&unit[j])
                        .map(|(a, b)| (a - b).powi(2))
                        .sum();
                    (s, j)
                })
                .collect();
            d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let near: Vec<usize> = d[..k].iter().map(|p| labels[p.1]).collect();
            let count = |l: usize| near.iter().filter(|&&m| m == l).count();
            let most = near.iter().map(|&l| count(l)).max().unwrap();
            let pick = near.iter().copied().find(|&l| count(l) == most).unwrap();
            right += usize::from(pick == labels[i]);
        }
        right as f64 / unit.len() as f64
    }
}
