//! Permutation-null calibration of the similarity indices (Gröger et al. 2026: raw scores rise
//! with depth and width alone, so a score needs its chance level).
//!
//! For paired representations `A: [n × d1]`, `B: [n × d2]` (row `i` of both is unit `i`),
//! [`calibrated_similarity`] reports linear CKA, debiased CKA, mutual k-NN, the angular
//! Procrustes distance and RSA, each with the distribution of the same index when the rows of
//! `B` are permuted (seeded): `p = (1 + #{null at least as extreme}) / (N + 1)` and
//! `calibrated = (value − null mean) / null std`.
//!
//! Each permutation costs one `d1 × d2` cross product (shared by both CKAs and Procrustes: the
//! centring of `B` and all self terms are permutation-invariant; faer's GEMM), the eigenvalues
//! of its smaller Gram matrix for Procrustes' nuclear norm, an `O(n·k)`
//! neighbour-set intersection and an `O(m²)` gather of precomputed distance ranks for RSA;
//! permutations run in parallel and each draws from its own seeded stream, so results do not
//! depend on the thread count.

use crate::linalg::{centred_faer, smaller_gram, Matrix};
use crate::similarity::{
    check_rows, debiased_hsic_terms, prepare, rsa_distances, rsa_sample_rows, CkaEstimator,
    KnnCandidates, Prepared, RsaOptions, SimilarityError,
};
#[cfg(doc)]
use crate::similarity::{debiased_linear_cka, linear_cka, mutual_knn, procrustes_angular, rsa};
use crate::stats::{average_ranks, Rng, Side};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Whether larger values mean more alike (`similarity`) or less alike (`distance`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MeasureKind {
    /// Larger is more alike; "at least as extreme" means `null ≥ value`.
    Similarity,
    /// Smaller is more alike; "at least as extreme" means `null ≤ value`.
    Distance,
}

/// One index with its permutation null.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibratedScore {
    /// The index on the paired rows.
    pub value: f64,
    /// Similarity or distance.
    pub kind: MeasureKind,
    /// Mean of the index over the permutations (`None` without permutations).
    pub null_mean: Option<f64>,
    /// Sample (n − 1) standard deviation over the permutations (`None` below 2 permutations).
    pub null_std: Option<f64>,
    /// `(1 + #{null at least as extreme as value}) / (N + 1)` (Phipson & Smyth 2010); ties
    /// within `1e-12·max(1, |value|)` count as at least as extreme.
    pub p_value: Option<f64>,
    /// `(value − null_mean) / null_std` (`None` when the null std is 0 or undefined); negative
    /// for a distance below chance.
    pub calibrated: Option<f64>,
}

impl CalibratedScore {
    /// Summarises `null` (the index under each permutation) around the observed `value`.
    pub fn from_null(value: f64, kind: MeasureKind, null: &[f64]) -> Self {
        let n = null.len();
        let null_mean = (n > 0).then(|| null.iter().sum::<f64>() / n as f64);
        let null_std = null_mean
            .filter(|_| n > 1)
            .map(|m| (null.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / (n - 1) as f64).sqrt());
        let tol = 1e-12 * value.abs().max(1.0);
        let extreme = null
            .iter()
            .filter(|&&v| match kind {
                MeasureKind::Similarity => v >= value - tol,
                MeasureKind::Distance => v <= value + tol,
            })
            .count();
        CalibratedScore {
            value,
            kind,
            null_mean,
            null_std,
            p_value: (n > 0).then(|| (1 + extreme) as f64 / (n + 1) as f64),
            calibrated: null_mean
                .zip(null_std)
                .filter(|&(_, s)| s > 0.0)
                .map(|(m, s)| (value - m) / s),
        }
    }
}

/// Settings of [`calibrated_similarity`] (one study stage can hold it as is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NullSettings {
    /// Number of row permutations of `B` (0: values only).
    pub permutations: usize,
    /// Neighbours of the mutual k-NN index.
    pub k: usize,
    /// Seed of the permutations ([`null_permutation`]).
    pub seed: u64,
    /// RSA's row sample and distance. When it samples fewer rows than `n`, the RSA null permutes
    /// the sampled rows of `B` among themselves (a Mantel test on the sample).
    pub rsa: RsaOptions,
}

impl Default for NullSettings {
    /// 1,000 permutations, `k = 10`, seed 0, RSA on up to 2,000 rows with Euclidean distance.
    fn default() -> Self {
        NullSettings {
            permutations: 1000,
            k: 10,
            seed: 0,
            rsa: RsaOptions::default(),
        }
    }
}

/// The five calibrated indices of one pair of representations.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CalibratedSimilarity {
    /// Biased linear CKA (Kornblith et al. 2019), a similarity in `[0, 1]`.
    pub linear_cka: CalibratedScore,
    /// Debiased linear CKA (unbiased HSIC, Song et al. 2012), a similarity near 0 by chance.
    pub debiased_cka: CalibratedScore,
    /// Mutual k-NN alignment (Huh et al. 2024), a similarity in `[0, 1]`.
    pub mutual_knn: CalibratedScore,
    /// Angular Procrustes distance (Williams et al. 2021), a distance in `[0, π/2]`.
    pub procrustes_angular: CalibratedScore,
    /// Spearman correlation of the distance matrices (Kriegeskorte et al. 2008), a similarity.
    pub rsa: CalibratedScore,
}

/// Permutation `index` of `0..n` in the null of seed `seed`: a Fisher–Yates shuffle driven by
/// the `index`-th output of `Rng::new(seed)`, so every permutation can be drawn on its own.
/// Row `i` of the permuted `B` is row `π[i]` of `B`.
pub fn null_permutation(seed: u64, index: usize, n: usize) -> Vec<usize> {
    let mut rng = permutation_rng(seed, index);
    let mut p: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut p);
    p
}

fn permutation_rng(seed: u64, index: usize) -> Rng {
    // Stream seeds: the outputs of a SplitMix64 walk from `seed`, one per permutation.
    let mut state = seed.wrapping_add((index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    Rng::new(crate::stats::splitmix64(&mut state))
}

/// Everything a permutation re-uses: centring, self terms, neighbour candidates, RSA ranks.
struct NullModel<'a> {
    /// Column-centred `A` and `B` (faer, column-major) for the per-permutation GEMM.
    a_centred: Mat<f64>,
    b_centred: Mat<f64>,
    biased: (Prepared<'a>, Prepared<'a>),
    debiased: (Prepared<'a>, Prepared<'a>),
    knn: (KnnCandidates, KnnCandidates),
    rsa: RsaRanks,
}

/// Centred tie-averaged ranks of both condensed distance vectors; `B`'s as a full `m × m`
/// matrix so a permutation of its rows is a gather.
struct RsaRanks {
    m: usize,
    /// Whether the sample is every row (then the RSA null uses the same permutation as the rest).
    all_rows: bool,
    first: Vec<f64>,
    second_full: Vec<f64>,
    denominator: f64,
}

impl RsaRanks {
    fn new(a: &Matrix, b: &Matrix, options: &RsaOptions) -> Result<Self, SimilarityError> {
        let (dx, dy) = rsa_distances(a, b, options)?;
        let m = rsa_sample_rows(a.rows(), options).len();
        let centred = |d: &[f64]| -> Result<Vec<f64>, SimilarityError> {
            let mid = (d.len() + 1) as f64 / 2.0;
            Ok(average_ranks(d)?.into_iter().map(|r| r - mid).collect())
        };
        let (first, second) = (centred(&dx)?, centred(&dy)?);
        let ss = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>();
        let denominator = (ss(&first) * ss(&second)).sqrt();
        let mut second_full = vec![0.0; m * m];
        let mut idx = 0;
        for i in 0..m {
            for j in i + 1..m {
                second_full[i * m + j] = second[idx];
                second_full[j * m + i] = second[idx];
                idx += 1;
            }
        }
        Ok(RsaRanks {
            m,
            all_rows: m == a.rows(),
            first,
            second_full,
            denominator,
        })
    }

    /// Spearman correlation with the sampled rows of `B` permuted by `sigma` (length `m`).
    fn statistic(&self, sigma: &[usize]) -> f64 {
        let m = self.m;
        let mut acc = 0.0;
        let mut idx = 0;
        for i in 0..m {
            let row = &self.second_full[sigma[i] * m..(sigma[i] + 1) * m];
            let len = m - i - 1;
            let first = &self.first[idx..idx + len];
            acc += first
                .iter()
                .zip(&sigma[i + 1..])
                .map(|(x, &j)| x * row[j])
                .sum::<f64>();
            idx += len;
        }
        acc / self.denominator
    }
}

/// The index values for one permutation of `B`'s rows, in [`CalibratedSimilarity`] order.
type Row = [f64; 5];

impl<'a> NullModel<'a> {
    fn new(a: &'a Matrix, b: &'a Matrix, s: &NullSettings) -> Result<Self, SimilarityError> {
        let biased = (
            prepare(a, CkaEstimator::Biased, Side::First)?,
            prepare(b, CkaEstimator::Biased, Side::Second)?,
        );
        Ok(NullModel {
            a_centred: centred_faer(a, &biased.0.mean),
            b_centred: centred_faer(b, &biased.1.mean),
            biased,
            debiased: (
                prepare(a, CkaEstimator::Debiased, Side::First)?,
                prepare(b, CkaEstimator::Debiased, Side::Second)?,
            ),
            knn: (
                KnnCandidates::new(a, s.k, Side::First)?,
                KnnCandidates::new(b, s.k, Side::Second)?,
            ),
            rsa: RsaRanks::new(a, b, &s.rsa)?,
        })
    }

    /// All five indices with `B`'s row `i` replaced by row `perm[i]`; `sigma` permutes RSA's
    /// sampled rows. `exact_svd`: Procrustes' nuclear norm from an SVD (for the observed
    /// value) rather than from the Gram matrix's eigenvalues (for the null).
    fn evaluate(
        &self,
        perm: &[usize],
        sigma: &[usize],
        exact_svd: bool,
    ) -> Result<Row, SimilarityError> {
        let (pa, pb) = &self.biased;
        let (n, d1, d2) = (perm.len(), self.a_centred.ncols(), self.b_centred.ncols());
        let mut bp = Mat::<f64>::zeros(n, d2);
        for j in 0..d2 {
            let src = self.b_centred.col_as_slice(j);
            for (dst, &p) in bp.col_as_slice_mut(j).iter_mut().zip(perm) {
                *dst = src[p];
            }
        }
        let mut c = Mat::<f64>::zeros(d1, d2);
        matmul(
            c.as_mut(),
            Accum::Replace,
            self.a_centred.transpose(),
            bp.as_ref(),
            1.0,
            Par::Seq,
        );
        let xty = c.squared_norm_l2();
        let linear = xty / (pa.self_norm * pb.self_norm);
        let (da, db) = &self.debiased;
        let sxsy: f64 = perm
            .iter()
            .zip(&da.row_sq)
            .map(|(&p, sx)| sx * db.row_sq[p])
            .sum();
        let debiased = debiased_hsic_terms(xty, sxsy, da, db) / (da.self_norm * db.self_norm);
        let nuclear = if exact_svd {
            c.singular_values()
                .map_err(|_| SimilarityError::SvdNoConvergence)?
                .iter()
                .sum::<f64>()
        } else {
            // σ(C)² are the eigenvalues of the smaller Gram matrix: a third of an SVD's time,
            // with an absolute error of about sqrt(ε)·σ₁ on small singular values.
            smaller_gram(c.as_ref())
                .self_adjoint_eigenvalues(faer::Side::Lower)
                .map_err(|_| SimilarityError::SvdNoConvergence)?
                .iter()
                .map(|&l| l.max(0.0).sqrt())
                .sum::<f64>()
        };
        let nuclear = nuclear / (pa.total_sq.sqrt() * pb.total_sq.sqrt());
        let procrustes = nuclear.clamp(0.0, 1.0).acos();
        Ok([
            linear,
            debiased,
            self.mutual_knn(perm),
            procrustes,
            self.rsa.statistic(sigma),
        ])
    }

    /// Mutual k-NN with `B` permuted: the neighbours of unit `i` in the permuted `B` are the
    /// neighbours of `B`'s row `perm[i]`, renamed by the inverse permutation, with ties at the
    /// `k`-th distance broken by the renamed (lower) index.
    fn mutual_knn(&self, perm: &[usize]) -> f64 {
        let (na, nb) = &self.knn;
        let n = perm.len();
        let k = na.k;
        let mut inverse = vec![0; n];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let mut mark = vec![usize::MAX; n];
        let mut boundary = Vec::new();
        let mut total = 0usize;
        for (i, &p) in perm.iter().enumerate() {
            na.neighbours(i).for_each(|j| mark[j] = i);
            let list = &nb.lists[p];
            let inside = nb.inside[p];
            let renamed = |&(_, j): &(f64, usize)| inverse[j];
            if list.len() == k {
                total += list.iter().map(renamed).filter(|&j| mark[j] == i).count();
            } else {
                total += list[..inside]
                    .iter()
                    .map(renamed)
                    .filter(|&j| mark[j] == i)
                    .count();
                boundary.clear();
                boundary.extend(list[inside..].iter().map(renamed));
                boundary.sort_unstable();
                total += boundary[..k - inside]
                    .iter()
                    .filter(|&&j| mark[j] == i)
                    .count();
            }
        }
        total as f64 / (n * k) as f64
    }
}

/// Linear CKA, debiased CKA, mutual k-NN, angular Procrustes and RSA of `A` vs `B`, each with
/// its permutation null over `settings.permutations` seeded row permutations of `B`
/// ([`null_permutation`]).
///
/// The values are those of [`linear_cka`], [`debiased_linear_cka`], [`mutual_knn`],
/// [`procrustes_angular`] and [`rsa`] up to rounding (computed by the permutation engine at the
/// identity; Procrustes' singular values come from an SVD, more accurate for small singular
/// values than [`procrustes_angular`]'s Gram-matrix eigenvalues, which the null uses for speed). Errors: row mismatch, fewer than 4 rows (debiased CKA),
/// `k ≥ n`, a zero row (k-NN normalisation), zero variance, non-finite input.
pub fn calibrated_similarity(
    a: &Matrix,
    b: &Matrix,
    settings: &NullSettings,
) -> Result<CalibratedSimilarity, SimilarityError> {
    check_rows(a, b)?;
    let model = NullModel::new(a, b, settings)?;
    let n = a.rows();
    // The engine at the identity permutation computes what the public functions do (up to
    // rounding: faer's GEMM and SVD) without their setup a second time.
    let identity: Vec<usize> = (0..n).collect();
    let mut values = model.evaluate(&identity, &identity[..model.rsa.m], true)?;
    values[4] = values[4].clamp(-1.0, 1.0);
    let rows: Vec<Row> = (0..settings.permutations)
        .into_par_iter()
        .map(|index| {
            let mut rng = permutation_rng(settings.seed, index);
            let mut perm: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut perm);
            if model.rsa.all_rows {
                model.evaluate(&perm, &perm, false)
            } else {
                let mut sigma: Vec<usize> = (0..model.rsa.m).collect();
                rng.shuffle(&mut sigma);
                model.evaluate(&perm, &sigma, false)
            }
        })
        .collect::<Result<_, _>>()?;
    let kinds = [
        MeasureKind::Similarity,
        MeasureKind::Similarity,
        MeasureKind::Similarity,
        MeasureKind::Distance,
        MeasureKind::Similarity,
    ];
    let score = |m: usize| {
        let null: Vec<f64> = rows.iter().map(|r| r[m]).collect();
        CalibratedScore::from_null(values[m], kinds[m], &null)
    };
    Ok(CalibratedSimilarity {
        linear_cka: score(0),
        debiased_cka: score(1),
        mutual_knn: score(2),
        procrustes_angular: score(3),
        rsa: score(4),
    })
}

/// The five indices of `A` vs `B` with `B`'s rows permuted by `perm` (row `i` ← row `perm[i]`),
/// computed by the permutation engine of [`calibrated_similarity`] (for checks: the identity
/// permutation reproduces the values). RSA must use every row (`n ≤ settings.rsa.sample`).
pub fn permuted_indices(
    a: &Matrix,
    b: &Matrix,
    perm: &[usize],
    settings: &NullSettings,
) -> Result<[f64; 5], SimilarityError> {
    check_rows(a, b)?;
    let model = NullModel::new(a, b, settings)?;
    let mut sorted = perm.to_vec();
    sorted.sort_unstable();
    if sorted != (0..a.rows()).collect::<Vec<_>>() {
        return Err(SimilarityError::Setting(
            "perm is not a permutation of the rows".into(),
        ));
    }
    if !model.rsa.all_rows {
        return Err(SimilarityError::Setting(
            "permuted_indices needs RSA on every row".into(),
        ));
    }
    model.evaluate(perm, perm, false)
}
