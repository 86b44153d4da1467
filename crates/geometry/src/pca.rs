//! Principal component analysis: fit on one point set, project any other with the same columns
//! (the dynamics analyses fit on the label centroids of all checkpoints, then project each).

use crate::linalg::{gram_centered, symmetric_eigen, LinalgError, Matrix};

/// Errors of [`Pca`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PcaError {
    /// A linear-algebra failure (non-finite input, no convergence).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// Fewer than two rows.
    #[error("PCA needs at least 2 rows, got {0}")]
    TooFewRows(usize),
    /// `k` is zero or exceeds `min(n, d)`.
    #[error("cannot fit {requested} components to a {rows}x{cols} matrix")]
    BadComponentCount {
        /// Components requested.
        requested: usize,
        /// Rows of the data.
        rows: usize,
        /// Columns of the data.
        cols: usize,
    },
    /// All rows are equal, so explained-variance ratios are undefined.
    #[error("data has zero total variance")]
    ZeroVariance,
    /// With `n < d` the axes come from the Gram matrix and are undefined beyond its rank.
    #[error("component {index} has zero variance (data of rank {rank} < requested components)")]
    RankDeficient {
        /// First undefined component.
        index: usize,
        /// Numerical rank found.
        rank: usize,
    },
    /// Projected data has a different number of columns than the fitted data.
    #[error("data has {got} columns, the PCA was fitted on {expected}")]
    ColumnMismatch {
        /// Fitted dimension.
        expected: usize,
        /// Given dimension.
        got: usize,
    },
}

/// A fitted PCA: mean, the top-`k` principal axes and their variances.
#[derive(Debug, Clone, PartialEq)]
pub struct Pca {
    mean: Vec<f64>,
    components: Matrix,
    explained_variance: Vec<f64>,
    explained_variance_ratio: Vec<f64>,
    total_variance: f64,
}

impl Pca {
    /// Fits the top `k` principal axes of `x` (`[n × d]`, `n ≥ 2`, `1 ≤ k ≤ min(n, d)`).
    ///
    /// Axes are the eigenvectors of the covariance `C = X_cᵀX_c/(n−1)` (for `n < d`, of the Gram
    /// matrix `X_cX_cᵀ`, mapped back by `v = X_cᵀu/‖X_cᵀu‖`), ordered by decreasing variance `λ`.
    /// Sign convention: each axis's entry of largest magnitude (first on ties) is positive.
    /// Explained-variance ratio `λ_i / tr(C)` with `tr(C) = ‖X_c‖²_F/(n−1)`.
    pub fn fit(x: &Matrix, k: usize) -> Result<Self, PcaError> {
        let (n, d) = x.shape();
        if n < 2 {
            return Err(PcaError::TooFewRows(n));
        }
        if k == 0 || k > n.min(d) {
            return Err(PcaError::BadComponentCount {
                requested: k,
                rows: n,
                cols: d,
            });
        }
        x.check_finite()?;
        let mean = x.column_means();
        let denom = (n - 1) as f64;
        let total_variance = x
            .row_iter()
            .map(|r| {
                r.iter()
                    .zip(&mean)
                    .map(|(v, m)| (v - m) * (v - m))
                    .sum::<f64>()
            })
            .sum::<f64>()
            / denom;
        if total_variance == 0.0 {
            return Err(PcaError::ZeroVariance);
        }
        let (mut components, explained_variance) = if d <= n {
            let mut cov = gram_centered(x, Some(&mean));
            cov.scale(1.0 / denom);
            let eig = symmetric_eigen(&cov)?;
            let idx: Vec<usize> = (0..k).collect();
            (
                eig.vectors.select_rows(&idx),
                eig.values[..k].iter().map(|&l| l.max(0.0)).collect(),
            )
        } else {
            Self::axes_from_gram(x, &mean, k, denom, total_variance)?
        };
        for i in 0..k {
            let row = components.row_mut(i);
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if v.abs() > row[best].abs() {
                    best = j;
                }
            }
            if row[best] < 0.0 {
                row.iter_mut().for_each(|v| *v = -*v);
            }
        }
        let explained_variance_ratio = explained_variance
            .iter()
            .map(|l: &f64| l / total_variance)
            .collect();
        Ok(Self {
            mean,
            components,
            explained_variance,
            explained_variance_ratio,
            total_variance,
        })
    }

    /// Axes for `n < d` from the eigenvectors `u` of `X_cX_cᵀ` (`n × n`).
    fn axes_from_gram(
        x: &Matrix,
        mean: &[f64],
        k: usize,
        denom: f64,
        total_variance: f64,
    ) -> Result<(Matrix, Vec<f64>), PcaError> {
        let xct = x.centered().transpose(); // d × n
        let gram = gram_centered(&xct, None); // n × n
        let eig = symmetric_eigen(&gram)?;
        let tiny = 1e-12 * total_variance * denom;
        let rank = eig.values.iter().filter(|&&l| l > tiny).count();
        if k > rank {
            return Err(PcaError::RankDeficient { index: rank, rank });
        }
        let d = mean.len();
        let mut comps = Matrix::zeros(k, d);
        for i in 0..k {
            let u = eig.vectors.row(i);
            let out = comps.row_mut(i);
            for (j, o) in out.iter_mut().enumerate() {
                *o = xct.row(j).iter().zip(u).map(|(a, b)| a * b).sum();
            }
            let norm = out.iter().map(|v| v * v).sum::<f64>().sqrt();
            out.iter_mut().for_each(|v| *v /= norm);
        }
        let var = eig.values[..k].iter().map(|&l| l / denom).collect();
        Ok((comps, var))
    }

    /// Projects rows onto the axes: `(X − 1μᵀ) Vᵀ`, `[m × k]`, with the fitted mean `μ`.
    pub fn transform(&self, x: &Matrix) -> Result<Matrix, PcaError> {
        let d = self.mean.len();
        if x.cols() != d {
            return Err(PcaError::ColumnMismatch {
                expected: d,
                got: x.cols(),
            });
        }
        x.check_finite()?;
        let k = self.components.rows();
        let mut out = Matrix::zeros(x.rows(), k);
        let mut buf = vec![0.0; d];
        for (i, r) in x.row_iter().enumerate() {
            for ((b, v), m) in buf.iter_mut().zip(r).zip(&self.mean) {
                *b = v - m;
            }
            for (c, o) in out.row_mut(i).iter_mut().enumerate() {
                *o = self
                    .components
                    .row(c)
                    .iter()
                    .zip(&buf)
                    .map(|(a, b)| a * b)
                    .sum();
            }
        }
        Ok(out)
    }

    /// [`Pca::fit`] followed by [`Pca::transform`] of the same data.
    pub fn fit_transform(x: &Matrix, k: usize) -> Result<(Self, Matrix), PcaError> {
        let p = Self::fit(x, k)?;
        let t = p.transform(x)?;
        Ok((p, t))
    }

    /// Column means of the fitted data.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }

    /// Principal axes as rows (`k × d`, orthonormal).
    pub fn components(&self) -> &Matrix {
        &self.components
    }

    /// Variance along each axis, `λ_i` (denominator `n − 1`).
    pub fn explained_variance(&self) -> &[f64] {
        &self.explained_variance
    }

    /// `λ_i / tr(C)`: share of the total variance along each axis.
    pub fn explained_variance_ratio(&self) -> &[f64] {
        &self.explained_variance_ratio
    }

    /// Total variance `tr(C) = ‖X_c‖²_F/(n−1)` of the fitted data.
    pub fn total_variance(&self) -> f64 {
        self.total_variance
    }
}
