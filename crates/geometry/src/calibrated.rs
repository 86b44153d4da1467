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
//!
//! [`ShapeReference`] runs the same engine for mutual k-NN, Procrustes and RSA of one
//! representation against many (the dynamics experiment's pre-trained space against every
//! checkpoint), preparing the reference once; [`crate::cka_null`] does the same for the CKAs.

use crate::linalg::{centred_faer, smaller_gram, Matrix};
use crate::similarity::{
    check_rows, debiased_hsic_terms, prepare, rsa_sample_rows, rsa_side_distances, CkaEstimator,
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

/// One representation's share of the mutual k-NN, angular Procrustes and RSA nulls, computed
/// once however many representations it is compared with: its column-centred copy (faer,
/// column-major, for the per-permutation cross product), `‖X_c‖²_F`, its neighbour candidates
/// and the centred tie-averaged ranks of its RSA sample's distances.
struct ShapeSide {
    centred: Mat<f64>,
    total_sq: f64,
    knn: KnnCandidates,
    rsa_ranks: Vec<f64>,
    /// `Σ rsa_ranks²`.
    rsa_ss: f64,
}

impl ShapeSide {
    fn new(m: &Matrix, s: &NullSettings, side: Side) -> Result<Self, SimilarityError> {
        if m.rows() < 2 {
            return Err(SimilarityError::TooFewRows {
                needed: 2,
                got: m.rows(),
            });
        }
        m.check_finite()?;
        let mean = m.column_means();
        // The same sum, in the same order, as the CKAs' `Prepared::total_sq`.
        let total_sq: f64 = m
            .row_iter()
            .map(|r| {
                r.iter()
                    .zip(&mean)
                    .map(|(v, c)| (v - c) * (v - c))
                    .sum::<f64>()
            })
            .sum();
        if total_sq == 0.0 {
            return Err(SimilarityError::ZeroVariance(side));
        }
        let d = rsa_side_distances(m, &s.rsa, side)?;
        let mid = (d.len() + 1) as f64 / 2.0;
        let rsa_ranks: Vec<f64> = average_ranks(&d)?.into_iter().map(|r| r - mid).collect();
        Ok(ShapeSide {
            centred: centred_faer(m, &mean),
            total_sq,
            knn: KnnCandidates::new(m, s.k, side)?,
            rsa_ss: rsa_ranks.iter().map(|x| x * x).sum(),
            rsa_ranks,
        })
    }
}

/// RSA of a pair of [`ShapeSide`]s: `A`'s condensed centred ranks and `B`'s as a full `m × m`
/// matrix, so a permutation of `B`'s sampled rows is a gather.
struct RsaPair<'a> {
    m: usize,
    /// Whether the sample is every row (then the RSA null uses the same permutation as the rest).
    all_rows: bool,
    first: &'a [f64],
    second_full: Vec<f64>,
    denominator: f64,
}

impl<'a> RsaPair<'a> {
    fn new(a: &'a ShapeSide, b: &ShapeSide, n: usize, options: &RsaOptions) -> Self {
        let m = rsa_sample_rows(n, options).len();
        let second = &b.rsa_ranks;
        let mut second_full = vec![0.0; m * m];
        let mut idx = 0;
        for i in 0..m {
            for j in i + 1..m {
                second_full[i * m + j] = second[idx];
                second_full[j * m + i] = second[idx];
                idx += 1;
            }
        }
        RsaPair {
            m,
            all_rows: m == n,
            first: &a.rsa_ranks,
            second_full,
            denominator: (a.rsa_ss * b.rsa_ss).sqrt(),
        }
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

    /// Permutation `index` of the null: `B`'s rows and, when RSA samples fewer rows than `n`,
    /// its own permutation of the sampled rows (the next draws of the same stream).
    fn draw(&self, seed: u64, index: usize, n: usize) -> (Vec<usize>, Vec<usize>) {
        let mut rng = permutation_rng(seed, index);
        let mut perm: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut perm);
        let sigma = if self.all_rows {
            perm.clone()
        } else {
            let mut sigma: Vec<usize> = (0..self.m).collect();
            rng.shuffle(&mut sigma);
            sigma
        };
        (perm, sigma)
    }
}

/// `A_cᵀ P B_c` for the row permutation `perm` of `B` (faer's GEMM).
fn permuted_cross(a: &ShapeSide, b: &ShapeSide, perm: &[usize]) -> Mat<f64> {
    let (n, d1, d2) = (perm.len(), a.centred.ncols(), b.centred.ncols());
    let mut bp = Mat::<f64>::zeros(n, d2);
    for j in 0..d2 {
        let src = b.centred.col_as_slice(j);
        for (dst, &p) in bp.col_as_slice_mut(j).iter_mut().zip(perm) {
            *dst = src[p];
        }
    }
    let mut c = Mat::<f64>::zeros(d1, d2);
    matmul(
        c.as_mut(),
        Accum::Replace,
        a.centred.transpose(),
        bp.as_ref(),
        1.0,
        Par::Seq,
    );
    c
}

/// The angular Procrustes distance from the cross product `c = A_cᵀ P B_c`. `exact_svd`: the
/// nuclear norm from an SVD (for the observed value) rather than from the Gram matrix's
/// eigenvalues (for the null).
fn procrustes_of(
    c: &Mat<f64>,
    a: &ShapeSide,
    b: &ShapeSide,
    exact_svd: bool,
) -> Result<f64, SimilarityError> {
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
    let nuclear = nuclear / (a.total_sq.sqrt() * b.total_sq.sqrt());
    Ok(nuclear.clamp(0.0, 1.0).acos())
}

/// Mutual k-NN with `B` permuted: the neighbours of unit `i` in the permuted `B` are the
/// neighbours of `B`'s row `perm[i]`, renamed by the inverse permutation, with ties at the
/// `k`-th distance broken by the renamed (lower) index.
fn permuted_mutual_knn(na: &KnnCandidates, nb: &KnnCandidates, perm: &[usize]) -> f64 {
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

/// Everything a permutation re-uses: the CKAs' self terms and both sides' shares.
struct NullModel<'a> {
    biased: (Prepared<'a>, Prepared<'a>),
    debiased: (Prepared<'a>, Prepared<'a>),
    a: ShapeSide,
    b: ShapeSide,
}

/// The index values for one permutation of `B`'s rows, in [`CalibratedSimilarity`] order.
type Row = [f64; 5];

impl<'a> NullModel<'a> {
    fn new(a: &'a Matrix, b: &'a Matrix, s: &NullSettings) -> Result<Self, SimilarityError> {
        Ok(NullModel {
            biased: (
                prepare(a, CkaEstimator::Biased, Side::First)?,
                prepare(b, CkaEstimator::Biased, Side::Second)?,
            ),
            debiased: (
                prepare(a, CkaEstimator::Debiased, Side::First)?,
                prepare(b, CkaEstimator::Debiased, Side::Second)?,
            ),
            a: ShapeSide::new(a, s, Side::First)?,
            b: ShapeSide::new(b, s, Side::Second)?,
        })
    }

    /// All five indices with `B`'s row `i` replaced by row `perm[i]`; `sigma` permutes RSA's
    /// sampled rows. `exact_svd`: see [`procrustes_of`].
    fn evaluate(
        &self,
        rsa: &RsaPair,
        perm: &[usize],
        sigma: &[usize],
        exact_svd: bool,
    ) -> Result<Row, SimilarityError> {
        let (pa, pb) = &self.biased;
        let c = permuted_cross(&self.a, &self.b, perm);
        let xty = c.squared_norm_l2();
        let linear = xty / (pa.self_norm * pb.self_norm);
        let (da, db) = &self.debiased;
        let sxsy: f64 = perm
            .iter()
            .zip(&da.row_sq)
            .map(|(&p, sx)| sx * db.row_sq[p])
            .sum();
        let debiased = debiased_hsic_terms(xty, sxsy, da, db) / (da.self_norm * db.self_norm);
        Ok([
            linear,
            debiased,
            permuted_mutual_knn(&self.a.knn, &self.b.knn, perm),
            procrustes_of(&c, &self.a, &self.b, exact_svd)?,
            rsa.statistic(sigma),
        ])
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
    let rsa = RsaPair::new(&model.a, &model.b, n, &settings.rsa);
    // The engine at the identity permutation computes what the public functions do (up to
    // rounding: faer's GEMM and SVD) without their setup a second time.
    let identity: Vec<usize> = (0..n).collect();
    let mut values = model.evaluate(&rsa, &identity, &identity[..rsa.m], true)?;
    values[4] = values[4].clamp(-1.0, 1.0);
    let rows: Vec<Row> = (0..settings.permutations)
        .into_par_iter()
        .map(|index| {
            let (perm, sigma) = rsa.draw(settings.seed, index, n);
            model.evaluate(&rsa, &perm, &sigma, false)
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

/// Mutual k-NN, angular Procrustes and RSA of one reference representation against another,
/// with their permutation nulls ([`ShapeReference::against`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ShapeScores {
    /// Mutual k-NN alignment, a similarity in `[0, 1]`.
    pub mutual_knn: CalibratedScore,
    /// Angular Procrustes distance, a distance in `[0, π/2]`.
    pub procrustes_angular: CalibratedScore,
    /// RSA (Spearman correlation of the distance matrices), a similarity.
    pub rsa: CalibratedScore,
}

/// A reference representation `A: [n × d]` prepared once for mutual k-NN, angular Procrustes
/// and RSA against many others of the same rows (e.g. the pre-trained space against every
/// fine-tuning checkpoint): its centring, neighbour candidates and RSA ranks are computed once.
/// Values, nulls and p-values are those of [`calibrated_similarity`] with the same settings
/// (the same permutations, the same engine).
pub struct ShapeReference {
    side: ShapeSide,
    n: usize,
    settings: NullSettings,
}

impl ShapeReference {
    /// Prepares `a` with `settings`' `k`, RSA options, seed and permutations (errors as
    /// [`calibrated_similarity`]'s for `A`).
    pub fn new(a: &Matrix, settings: &NullSettings) -> Result<Self, SimilarityError> {
        Ok(ShapeReference {
            side: ShapeSide::new(a, settings, Side::First)?,
            n: a.rows(),
            settings: *settings,
        })
    }

    /// The three indices of the reference against `b` (same rows). Mutual k-NN and RSA get the
    /// null of `settings.permutations` permutations; Procrustes, whose permutations each cost a
    /// `d1 × d2` product and the eigenvalues of a `min(d1, d2)`-square Gram matrix, gets the
    /// first `procrustes_permutations` of them (at most `settings.permutations`): its values are
    /// those of [`calibrated_similarity`] with that many permutations.
    pub fn against(
        &self,
        b: &Matrix,
        procrustes_permutations: usize,
    ) -> Result<ShapeScores, SimilarityError> {
        if b.rows() != self.n {
            return Err(SimilarityError::RowMismatch {
                first: self.n,
                second: b.rows(),
            });
        }
        let s = &self.settings;
        let other = ShapeSide::new(b, s, Side::Second)?;
        let (a, n) = (&self.side, self.n);
        let rsa = RsaPair::new(a, &other, n, &s.rsa);
        let identity: Vec<usize> = (0..n).collect();
        let knn = permuted_mutual_knn(&a.knn, &other.knn, &identity);
        let procrustes = procrustes_of(&permuted_cross(a, &other, &identity), a, &other, true)?;
        let rsa_value = rsa.statistic(&identity[..rsa.m]).clamp(-1.0, 1.0);
        let procrustes_permutations = procrustes_permutations.min(s.permutations);
        let rows: Vec<[f64; 3]> = (0..s.permutations)
            .into_par_iter()
            .map(|index| {
                let (perm, sigma) = rsa.draw(s.seed, index, n);
                let procrustes = if index < procrustes_permutations {
                    procrustes_of(&permuted_cross(a, &other, &perm), a, &other, false)?
                } else {
                    f64::NAN
                };
                Ok([
                    permuted_mutual_knn(&a.knn, &other.knn, &perm),
                    procrustes,
                    rsa.statistic(&sigma),
                ])
            })
            .collect::<Result<_, SimilarityError>>()?;
        let null =
            |m: usize, count: usize| -> Vec<f64> { rows[..count].iter().map(|r| r[m]).collect() };
        Ok(ShapeScores {
            mutual_knn: CalibratedScore::from_null(
                knn,
                MeasureKind::Similarity,
                &null(0, rows.len()),
            ),
            procrustes_angular: CalibratedScore::from_null(
                procrustes,
                MeasureKind::Distance,
                &null(1, procrustes_permutations),
            ),
            rsa: CalibratedScore::from_null(
                rsa_value,
                MeasureKind::Similarity,
                &null(2, rows.len()),
            ),
        })
    }
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
    let rsa = RsaPair::new(&model.a, &model.b, a.rows(), &settings.rsa);
    if !rsa.all_rows {
        return Err(SimilarityError::Setting(
            "permuted_indices needs RSA on every row".into(),
        ));
    }
    model.evaluate(&rsa, perm, perm, false)
}
