//! Representation similarity indices between two representations of the same `n` inputs
//! (`X: [n × d1]`, `Y: [n × d2]`, row `i` of both describing input `i`): linear CKA (biased and
//! debiased), RSA, the orthogonal Procrustes distance (squared and angular), mutual k-nearest
//! neighbours, plus layer × layer CKA matrices. Permutation-null calibration of these indices
//! is in [`crate::calibrated`].

use crate::linalg::{cross_product_centered, gram_centered, nuclear_norm, LinalgError, Matrix};
use crate::stats::{spearman, Rng, Side, StatsError};
use rayon::prelude::*;

/// Errors of the similarity indices.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimilarityError {
    /// A linear-algebra failure (shape, non-finite input).
    #[error(transparent)]
    Linalg(#[from] LinalgError),
    /// The final correlation is undefined (e.g. all distances equal).
    #[error(transparent)]
    Stats(#[from] StatsError),
    /// The two representations do not describe the same number of inputs.
    #[error("representations have {first} and {second} rows; paired rows are required")]
    RowMismatch {
        /// Rows of the first input.
        first: usize,
        /// Rows of the second input.
        second: usize,
    },
    /// Too few rows for the index.
    #[error("need at least {needed} rows, got {got}")]
    TooFewRows {
        /// Minimum rows.
        needed: usize,
        /// Rows given.
        got: usize,
    },
    /// A representation whose rows are all equal (after centring it is zero).
    #[error("{0} representation has zero variance")]
    ZeroVariance(Side),
    /// Cosine distance with a zero row.
    #[error("row {row} of the {side} representation has zero norm; cosine distance undefined")]
    ZeroNorm {
        /// Input holding it.
        side: Side,
        /// Row index (within the RSA sample's source matrix).
        row: usize,
    },
    /// An entry of a list given to [`cka_matrix`] / [`cka_self_matrix`] failed.
    #[error("entry {index} of the {list} list: {source}")]
    Entry {
        /// Which list (`First` = `xs`, `Second` = `ys`).
        list: Side,
        /// Position in that list (e.g. the layer).
        index: usize,
        /// What went wrong with it.
        source: Box<SimilarityError>,
    },
    /// The SVD of the permutation engine did not converge (does not happen for finite input).
    #[error("singular value decomposition did not converge")]
    SvdNoConvergence,
    /// A setting is out of range (e.g. `k` not below the number of rows).
    #[error("invalid setting: {0}")]
    Setting(String),
    /// The unbiased HSIC of an input with itself came out non-positive (tiny or degenerate `n`).
    #[error("debiased HSIC of the {side} representation with itself is {value}; CKA undefined")]
    NonPositiveSelfHsic {
        /// Input concerned.
        side: Side,
        /// The estimate.
        value: f64,
    },
}

/// Which HSIC estimator CKA uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CkaEstimator {
    /// Biased (V-statistic) HSIC: Kornblith et al. 2019's linear CKA.
    #[default]
    Biased,
    /// Unbiased HSIC (Song et al. 2012): debiased CKA (Davari et al. 2022).
    Debiased,
}

/// Per-representation quantities reused by every pair it takes part in.
pub(crate) struct Prepared<'a> {
    m: &'a Matrix,
    pub(crate) mean: Vec<f64>,
    /// Squared norms of the centred rows, `s_i = ‖x_i − μ‖²`.
    pub(crate) row_sq: Vec<f64>,
    /// `Σ s_i = ‖X_c‖²_F`.
    pub(crate) total_sq: f64,
    /// `sqrt(HSIC(X, X))` up to the estimator's constant factor.
    pub(crate) self_norm: f64,
}

pub(crate) fn prepare<'a>(
    m: &'a Matrix,
    estimator: CkaEstimator,
    side: Side,
) -> Result<Prepared<'a>, SimilarityError> {
    let needed = match estimator {
        CkaEstimator::Biased => 2,
        CkaEstimator::Debiased => 4,
    };
    let mut p = centre_stats(m, side, needed)?;
    let xtx: f64 = gram_centered(m, Some(&p.mean))
        .as_slice()
        .iter()
        .map(|v| v * v)
        .sum();
    p.self_norm = match estimator {
        CkaEstimator::Biased => xtx.sqrt(),
        CkaEstimator::Debiased => {
            let h = debiased_hsic_scaled(xtx, &p, &p);
            if h <= 0.0 || !h.is_finite() {
                return Err(SimilarityError::NonPositiveSelfHsic { side, value: h });
            }
            h.sqrt()
        }
    };
    if p.self_norm == 0.0 {
        return Err(SimilarityError::ZeroVariance(side));
    }
    Ok(p)
}

/// Column means and centred row norms (no self term yet: `self_norm` is 0).
fn centre_stats(m: &Matrix, side: Side, needed: usize) -> Result<Prepared<'_>, SimilarityError> {
    if m.rows() < needed {
        return Err(SimilarityError::TooFewRows {
            needed,
            got: m.rows(),
        });
    }
    m.check_finite()?;
    let mean = m.column_means();
    let row_sq: Vec<f64> = m
        .row_iter()
        .map(|r| r.iter().zip(&mean).map(|(v, c)| (v - c) * (v - c)).sum())
        .collect();
    let total_sq: f64 = row_sq.iter().sum();
    if total_sq == 0.0 {
        return Err(SimilarityError::ZeroVariance(side));
    }
    Ok(Prepared {
        m,
        mean,
        row_sq,
        total_sq,
        self_norm: 0.0,
    })
}

/// `‖X_cᵀ Y_c‖²_F`, which equals `tr(K_c L_c)` for the centred linear kernels.
fn centered_cross_sq(x: &Prepared, y: &Prepared) -> Result<f64, LinalgError> {
    let c = cross_product_centered(x.m, Some(&x.mean), y.m, Some(&y.mean))?;
    Ok(c.as_slice().iter().map(|v| v * v).sum())
}

/// `n(n−3)·HSIC₁(X, Y)` for linear kernels on centred features, in closed form:
/// `‖X_cᵀY_c‖²_F − n/(n−2)·sₓ·s_y + ‖X_c‖²_F‖Y_c‖²_F/((n−1)(n−2))`, with `s` the centred
/// row squared norms. This equals Song et al.'s estimator on the `n × n` Gram matrices
/// (Kornblith's `_debiased_dot_product_similarity_helper`); the estimator is invariant to
/// translating the features, so centring first changes nothing but rounding.
pub(crate) fn debiased_hsic_scaled(xty: f64, x: &Prepared, y: &Prepared) -> f64 {
    let sxsy: f64 = x.row_sq.iter().zip(&y.row_sq).map(|(a, b)| a * b).sum();
    debiased_hsic_terms(xty, sxsy, x, y)
}

/// [`debiased_hsic_scaled`] from its data-dependent terms: `xty = ‖X_cᵀY_c‖²_F` and
/// `sxsy = Σ_i s_x,i·s_y,i` (for a row permutation of `Y`, both change; the totals do not).
pub(crate) fn debiased_hsic_terms(xty: f64, sxsy: f64, x: &Prepared, y: &Prepared) -> f64 {
    debiased_hsic_of(x.row_sq.len(), xty, sxsy, x.total_sq, y.total_sq)
}

/// [`debiased_hsic_terms`] from plain numbers: `n` rows and the totals `‖X_c‖²_F`, `‖Y_c‖²_F`.
pub(crate) fn debiased_hsic_of(n: usize, xty: f64, sxsy: f64, tx: f64, ty: f64) -> f64 {
    let n = n as f64;
    xty - n / (n - 2.0) * sxsy + tx * ty / ((n - 1.0) * (n - 2.0))
}

fn cka_prepared(
    x: &Prepared,
    y: &Prepared,
    estimator: CkaEstimator,
) -> Result<f64, SimilarityError> {
    let xty = centered_cross_sq(x, y)?;
    let num = match estimator {
        CkaEstimator::Biased => xty,
        CkaEstimator::Debiased => debiased_hsic_scaled(xty, x, y),
    };
    Ok(num / (x.self_norm * y.self_norm))
}

pub(crate) fn check_rows(x: &Matrix, y: &Matrix) -> Result<(), SimilarityError> {
    if x.rows() != y.rows() {
        return Err(SimilarityError::RowMismatch {
            first: x.rows(),
            second: y.rows(),
        });
    }
    Ok(())
}

/// Linear CKA (Kornblith et al. 2019, eq. 5) with the chosen HSIC estimator.
///
/// Biased: `‖X_cᵀY_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F)` with column-centred `X_c`, `Y_c`; in `[0, 1]`,
/// invariant to orthogonal transforms, isotropic scaling and translation.
/// Debiased: `HSIC₁(K, L) / sqrt(HSIC₁(K, K) HSIC₁(L, L))` with Song et al. 2012's unbiased
/// estimator (see [`debiased_linear_cka`]); may be slightly negative.
///
/// Both cost `O(n·(d1 + d2)²)` time and `O(d1·d2)` extra memory, parallel over row chunks.
pub fn cka(x: &Matrix, y: &Matrix, estimator: CkaEstimator) -> Result<f64, SimilarityError> {
    check_rows(x, y)?;
    let px = prepare(x, estimator, Side::First)?;
    let py = prepare(y, estimator, Side::Second)?;
    cka_prepared(&px, &py, estimator)
}

/// Biased linear CKA, `‖X_cᵀY_c‖²_F / (‖X_cᵀX_c‖_F ‖Y_cᵀY_c‖_F)` (Kornblith et al. 2019); see [`cka`].
pub fn linear_cka(x: &Matrix, y: &Matrix) -> Result<f64, SimilarityError> {
    cka(x, y, CkaEstimator::Biased)
}

/// Debiased linear CKA (Davari et al. 2022; Kornblith's notebook `debiased=True`).
///
/// With `K = XXᵀ`, `L = YYᵀ`, `K̃`, `L̃` their copies with zeroed diagonals, Song et al. 2012's
/// unbiased `HSIC₁ = [tr(K̃L̃) + 1ᵀK̃1·1ᵀL̃1/((n−1)(n−2)) − 2/(n−2)·1ᵀK̃L̃1] / (n(n−3))`, and
/// `CKA = HSIC₁(K, L)/sqrt(HSIC₁(K, K)·HSIC₁(L, L))`. Computed exactly without `n × n` matrices
/// via the closed form in feature space (`O(n·d²)`). Needs `n ≥ 4`.
pub fn debiased_linear_cka(x: &Matrix, y: &Matrix) -> Result<f64, SimilarityError> {
    cka(x, y, CkaEstimator::Debiased)
}

/// CKA for every pair `(xs[i], ys[j])`, returned as an `xs.len() × ys.len()` matrix (e.g. the
/// layers of a pre-trained vs a fine-tuned encoder on the same inputs). Each input's own terms are
/// computed once; pairs run in parallel. All matrices must have the same number of rows.
pub fn cka_matrix(
    xs: &[Matrix],
    ys: &[Matrix],
    estimator: CkaEstimator,
) -> Result<Matrix, SimilarityError> {
    let (px, py) = prepare_lists(xs, ys, estimator)?;
    let pairs: Vec<(usize, usize)> = (0..xs.len())
        .flat_map(|i| (0..ys.len()).map(move |j| (i, j)))
        .collect();
    let values: Vec<f64> = pairs
        .par_iter()
        .map(|&(i, j)| cka_prepared(&px[i], &py[j], estimator))
        .collect::<Result<_, _>>()?;
    Ok(Matrix::new(xs.len(), ys.len(), values)?)
}

/// Symmetric CKA matrix of one list (e.g. all layers of one encoder): entry `(i, j)` is
/// `CKA(xs[i], xs[j])`; only `i ≤ j` is computed (in parallel) and mirrored.
pub fn cka_self_matrix(xs: &[Matrix], estimator: CkaEstimator) -> Result<Matrix, SimilarityError> {
    let (px, _) = prepare_lists(xs, &[], estimator)?;
    let k = xs.len();
    let pairs: Vec<(usize, usize)> = (0..k).flat_map(|i| (i..k).map(move |j| (i, j))).collect();
    let values: Vec<f64> = pairs
        .par_iter()
        .map(|&(i, j)| cka_prepared(&px[i], &px[j], estimator))
        .collect::<Result<_, _>>()?;
    let mut out = Matrix::zeros(k, k);
    for (&(i, j), &v) in pairs.iter().zip(&values) {
        out[(i, j)] = v;
        out[(j, i)] = v;
    }
    Ok(out)
}

type PreparedLists<'a> = (Vec<Prepared<'a>>, Vec<Prepared<'a>>);

fn prepare_lists<'a>(
    xs: &'a [Matrix],
    ys: &'a [Matrix],
    estimator: CkaEstimator,
) -> Result<PreparedLists<'a>, SimilarityError> {
    if let Some(first) = xs.first().or(ys.first()) {
        for m in xs.iter().chain(ys) {
            check_rows(first, m)?;
        }
    }
    let prep = |ms: &'a [Matrix], list: Side| {
        ms.par_iter()
            .enumerate()
            .map(|(index, m)| {
                prepare(m, estimator, list).map_err(|e| SimilarityError::Entry {
                    list,
                    index,
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>, _>>()
    };
    let px = prep(xs, Side::First)?;
    let py = prep(ys, Side::Second)?;
    Ok((px, py))
}

/// Dissimilarity between two rows for RSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistanceMetric {
    /// `‖a − b‖₂`.
    #[default]
    Euclidean,
    /// `1 − a·b / (‖a‖‖b‖)` (scipy's `cosine`); undefined for a zero row.
    Cosine,
}

/// Settings of [`rsa`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsaOptions {
    /// Rows used: a seeded uniform sample of this many rows (all rows when `n ≤ sample`).
    pub sample: usize,
    /// Seed of the row sample ([`Rng`]).
    pub seed: u64,
    /// Distance inside each representation.
    pub metric: DistanceMetric,
}

impl Default for RsaOptions {
    /// 2,000 rows, seed 0, Euclidean distance.
    fn default() -> Self {
        Self {
            sample: 2000,
            seed: 0,
            metric: DistanceMetric::Euclidean,
        }
    }
}

/// The rows [`rsa`] uses for `n` inputs: `Rng::new(seed).sample_indices(n, sample)`, ascending.
pub fn rsa_sample_rows(n: usize, options: &RsaOptions) -> Vec<usize> {
    Rng::new(options.seed).sample_indices(n, options.sample)
}

/// Condensed pairwise distance vector of the rows (scipy `pdist` order: `(0,1), (0,2), …,
/// (0,m−1), (1,2), …`), length `m(m−1)/2`; rows are processed in parallel.
pub fn pairwise_distances(x: &Matrix, metric: DistanceMetric) -> Result<Vec<f64>, SimilarityError> {
    x.check_finite()?;
    let m = x.rows();
    let norms: Vec<f64> = x
        .row_iter()
        .map(|r| r.iter().map(|v| v * v).sum::<f64>().sqrt())
        .collect();
    if metric == DistanceMetric::Cosine {
        if let Some(row) = norms.iter().position(|&v| v == 0.0) {
            return Err(SimilarityError::ZeroNorm {
                side: Side::First,
                row,
            });
        }
    }
    let rows: Vec<Vec<f64>> = (0..m)
        .into_par_iter()
        .map(|i| {
            let a = x.row(i);
            (i + 1..m)
                .map(|j| {
                    let b = x.row(j);
                    match metric {
                        DistanceMetric::Euclidean => sum4(a, b, |u, v| (u - v) * (u - v)).sqrt(),
                        DistanceMetric::Cosine => {
                            1.0 - sum4(a, b, |u, v| u * v) / (norms[i] * norms[j])
                        }
                    }
                })
                .collect()
        })
        .collect();
    Ok(rows.concat())
}

/// `Σ f(a_k, b_k)` with four interleaved partial sums, so the loop vectorises.
#[inline]
pub(crate) fn sum4(a: &[f64], b: &[f64], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut acc = [0.0; 4];
    let (mut ca, mut cb) = (a.chunks_exact(4), b.chunks_exact(4));
    for (x, y) in (&mut ca).zip(&mut cb) {
        for k in 0..4 {
            acc[k] += f(x[k], y[k]);
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&u, &v)| f(u, v))
        .sum();
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// Representational similarity analysis (Kriegeskorte et al. 2008): Spearman correlation
/// (tie-averaged ranks) between the condensed distance vectors of `X` and `Y` over the same
/// sampled rows ([`rsa_sample_rows`]). Cost `O(m²·(d1 + d2) + m² log m)` for `m` sampled rows.
pub fn rsa(x: &Matrix, y: &Matrix, options: &RsaOptions) -> Result<f64, SimilarityError> {
    let (dx, dy) = rsa_distances(x, y, options)?;
    Ok(spearman(&dx, &dy)?)
}

/// The two condensed distance vectors [`rsa`] correlates.
pub(crate) fn rsa_distances(
    x: &Matrix,
    y: &Matrix,
    options: &RsaOptions,
) -> Result<(Vec<f64>, Vec<f64>), SimilarityError> {
    check_rows(x, y)?;
    let dx = rsa_side_distances(x, options, Side::First)?;
    let dy = rsa_side_distances(y, options, Side::Second)?;
    Ok((dx, dy))
}

/// The condensed distance vector of one side's RSA sample ([`rsa_sample_rows`]); `side` names
/// the input in errors.
pub(crate) fn rsa_side_distances(
    x: &Matrix,
    options: &RsaOptions,
    side: Side,
) -> Result<Vec<f64>, SimilarityError> {
    if x.rows() < 3 || options.sample < 3 {
        return Err(SimilarityError::TooFewRows {
            needed: 3,
            got: x.rows().min(options.sample),
        });
    }
    let rows = rsa_sample_rows(x.rows(), options);
    pairwise_distances(&x.select_rows(&rows), options.metric).map_err(|e| relabel(e, side, &rows))
}

/// Maps a zero-norm row of a sample back to the input side and row.
fn relabel(e: SimilarityError, side: Side, rows: &[usize]) -> SimilarityError {
    match e {
        SimilarityError::ZeroNorm { row, .. } => SimilarityError::ZeroNorm {
            side,
            row: rows[row],
        },
        other => other,
    }
}

/// Orthogonal Procrustes distance (Ding et al. 2021, §2; Schönemann 1966).
///
/// Centre the columns of both, scale each to unit Frobenius norm (`X̂ = X_c/‖X_c‖_F`), then
/// `d = ‖X̂‖²_F + ‖Ŷ‖²_F − 2‖X̂ᵀŶ‖_* = 2 − 2‖X̂ᵀŶ‖_*`, which is `min_Q ‖X̂Q − Ŷ‖²_F` over
/// orthogonal `Q` (for `d1 ≠ d2` the nuclear norm of the `d1 × d2` cross-product is still used).
/// Ranges over `[0, 2]`; rounding below 0 is clamped. Cost `O(n·d1·d2 + min(d1, d2)³)`.
pub fn procrustes_distance(x: &Matrix, y: &Matrix) -> Result<f64, SimilarityError> {
    check_rows(x, y)?;
    let px = centre_stats(x, Side::First, 2)?;
    let py = centre_stats(y, Side::Second, 2)?;
    let mut c = cross_product_centered(x, Some(&px.mean), y, Some(&py.mean))?;
    c.scale(1.0 / (px.total_sq.sqrt() * py.total_sq.sqrt()));
    Ok((2.0 - 2.0 * nuclear_norm(&c)?).max(0.0))
}

/// Angular Procrustes distance (Williams et al. 2021, eq. 4): centre the columns of both, scale
/// each to unit Frobenius norm, `arccos ‖X̂ᵀŶ‖_*` (the nuclear norm clamped to `[0, 1]`).
/// A metric on shapes, in `[0, π/2]`; 0 iff `Y` is a rotated, scaled, translated copy of `X`.
/// Related to [`procrustes_distance`] `d` by `arccos(1 − d/2)`. Near 0 the `arccos` amplifies
/// rounding: a space against itself gives about `1e-8`, not exactly 0.
pub fn procrustes_angular(x: &Matrix, y: &Matrix) -> Result<f64, SimilarityError> {
    check_rows(x, y)?;
    let px = centre_stats(x, Side::First, 2)?;
    let py = centre_stats(y, Side::Second, 2)?;
    let c = cross_product_centered(x, Some(&px.mean), y, Some(&py.mean))?;
    let nuclear = nuclear_norm(&c)? / (px.total_sq.sqrt() * py.total_sq.sqrt());
    Ok(nuclear.clamp(0.0, 1.0).acos())
}

/// Neighbour candidates of every row of one space (rows L2-normalised, Euclidean distance, the
/// row itself excluded): for row `i`, every `(squared distance, j)` with a distance at most the
/// `k`-th smallest, sorted by distance then index. Holding the whole tie group at the `k`-th
/// distance lets a permuted copy of the space break ties by its own row order exactly.
pub(crate) struct KnnCandidates {
    pub(crate) k: usize,
    pub(crate) lists: Vec<Vec<(f64, usize)>>,
    /// Per row, how many candidates lie strictly closer than the `k`-th distance.
    pub(crate) inside: Vec<usize>,
}

impl KnnCandidates {
    /// Candidates of `x`'s rows; needs `1 ≤ k < n` and no zero row.
    pub(crate) fn new(x: &Matrix, k: usize, side: Side) -> Result<Self, SimilarityError> {
        let n = x.rows();
        if k == 0 || k >= n {
            return Err(SimilarityError::Setting(format!(
                "k = {k} nearest neighbours needs 1 <= k < rows = {n}"
            )));
        }
        x.check_finite()?;
        let mut unit = x.clone();
        for i in 0..n {
            let r = unit.row_mut(i);
            let norm = r.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm == 0.0 {
                return Err(SimilarityError::ZeroNorm { side, row: i });
            }
            r.iter_mut().for_each(|v| *v /= norm);
        }
        let lists: Vec<Vec<(f64, usize)>> = (0..n)
            .into_par_iter()
            .map(|i| {
                let a = unit.row(i);
                let mut d: Vec<(f64, usize)> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| (sum4(a, unit.row(j), |u, v| (u - v) * (u - v)), j))
                    .collect();
                let by =
                    |p: &(f64, usize), q: &(f64, usize)| p.0.total_cmp(&q.0).then(p.1.cmp(&q.1));
                d.select_nth_unstable_by(k - 1, by);
                let kth = d[k - 1].0;
                let mut keep: Vec<(f64, usize)> =
                    d.into_iter().filter(|&(dist, _)| dist <= kth).collect();
                keep.sort_unstable_by(by);
                keep
            })
            .collect();
        let inside = lists
            .iter()
            .map(|l| {
                let kth = l[k - 1].0;
                l.iter().take_while(|&&(dist, _)| dist < kth).count()
            })
            .collect();
        Ok(Self { k, lists, inside })
    }

    /// The `k` neighbours of row `i` (ties to the lower index).
    pub(crate) fn neighbours(&self, i: usize) -> impl Iterator<Item = usize> + '_ {
        self.lists[i][..self.k].iter().map(|&(_, j)| j)
    }
}

/// Mutual k-nearest-neighbour alignment (Huh et al. 2024, "The platonic representation
/// hypothesis"): rows L2-normalised, `N_X(i)` the `k` nearest rows of row `i` by Euclidean
/// distance in `X` (itself excluded, ties to the lower index), and the score the mean over rows
/// of `|N_X(i) ∩ N_Y(i)| / k`, in `[0, 1]`. Invariant to rotations and isotropic scaling (not to
/// translation). Cost `O(n²·(d1 + d2))`, parallel over rows.
pub fn mutual_knn(x: &Matrix, y: &Matrix, k: usize) -> Result<f64, SimilarityError> {
    check_rows(x, y)?;
    let nx = KnnCandidates::new(x, k, Side::First)?;
    let ny = KnnCandidates::new(y, k, Side::Second)?;
    let n = x.rows();
    let mut mark = vec![usize::MAX; n];
    let mut total = 0usize;
    for i in 0..n {
        nx.neighbours(i).for_each(|j| mark[j] = i);
        total += ny.neighbours(i).filter(|&j| mark[j] == i).count();
    }
    Ok(total as f64 / (n * k) as f64)
}
