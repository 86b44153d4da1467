//! Linear and debiased CKA of many representations against one reference, each with its
//! permutation null, through the `n × n` Gram matrices of the centred rows: for a trajectory
//! (e.g. every fine-tuning checkpoint against the pre-trained space) the reference's Gram matrix
//! and self terms are computed once.
//!
//! With `K = A_cA_cᵀ` and `L = B_cB_cᵀ`, the cross term of both CKAs under a row permutation
//! `π` of `B` is `‖A_cᵀPB_c‖²_F = Σᵢⱼ Kᵢⱼ L_{π(i)π(j)}`: a gather of `n²/2` entries per
//! permutation where [`crate::calibrated`]'s engine needs an `n·d₁·d₂` matrix product (it
//! computes three more indices from that product). The permutations are those of
//! [`crate::calibrated::null_permutation`], so the values, nulls and p-values are those of
//! [`crate::calibrated::calibrated_similarity`]'s `linear_cka` and `debiased_cka` up to
//! rounding.

use crate::calibrated::{null_permutation, CalibratedScore, MeasureKind};
use crate::linalg::{centred_faer, row_gram, Matrix};
use crate::similarity::{debiased_hsic_of, SimilarityError};
use crate::stats::Side;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Most rows a [`CkaReference`] takes: its Gram matrix holds `n²` numbers (200 MB at 5,000).
pub const MAX_ROWS: usize = 5000;

/// Linear and debiased CKA of one representation against the reference, with their nulls.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CkaScores {
    /// Biased linear CKA (Kornblith et al. 2019), a similarity in `[0, 1]`.
    pub linear_cka: CalibratedScore,
    /// Debiased linear CKA (unbiased HSIC), a similarity near 0 by chance.
    pub debiased_cka: CalibratedScore,
}

/// One side's Gram matrix of the centred rows and its self terms.
struct Side2 {
    gram: Vec<f64>,
    /// Squared norms of the centred rows.
    row_sq: Vec<f64>,
    /// `‖X_c‖²_F`.
    total_sq: f64,
    /// `‖X_cᵀX_c‖_F` (biased CKA's self term).
    norm_biased: f64,
    /// `sqrt(n(n−3)·HSIC₁(X, X))` (debiased CKA's self term).
    norm_debiased: f64,
}

impl Side2 {
    /// The Gram matrix of `m`'s centred rows and, from it, both CKAs' self terms (the checks
    /// and values of [`crate::similarity::linear_cka`] / [`crate::similarity::debiased_linear_cka`]).
    fn new(m: &Matrix, side: Side) -> Result<Self, SimilarityError> {
        let n = m.rows();
        if n > MAX_ROWS {
            return Err(SimilarityError::Setting(format!(
                "{n} rows; the Gram-matrix null takes at most {MAX_ROWS}"
            )));
        }
        if n < 4 {
            return Err(SimilarityError::TooFewRows { needed: 4, got: n });
        }
        m.check_finite()?;
        let g = row_gram(centred_faer(m, &m.column_means()).as_ref());
        let gram: Vec<f64> = (0..n)
            .flat_map(|i| (0..n).map(move |j| (i, j)))
            .map(|(i, j)| g[(i.min(j), i.max(j))])
            .collect();
        let row_sq: Vec<f64> = (0..n).map(|i| gram[i * n + i]).collect();
        let total_sq: f64 = row_sq.iter().sum();
        if total_sq == 0.0 {
            return Err(SimilarityError::ZeroVariance(side));
        }
        // ‖X_cᵀX_c‖²_F = ‖K‖²_F.
        let kk: f64 = gram.iter().map(|v| v * v).sum();
        let ss: f64 = row_sq.iter().map(|v| v * v).sum();
        let h = debiased_hsic_of(n, kk, ss, total_sq, total_sq);
        if h <= 0.0 || !h.is_finite() {
            return Err(SimilarityError::NonPositiveSelfHsic { side, value: h });
        }
        Ok(Side2 {
            gram,
            row_sq,
            total_sq,
            norm_biased: kk.sqrt(),
            norm_debiased: h.sqrt(),
        })
    }
}

/// The reference representation `A: [n × d]` of [`CkaReference::against`].
pub struct CkaReference {
    a: Side2,
    n: usize,
}

impl CkaReference {
    /// Prepares `a` (at least 4 rows, at most [`MAX_ROWS`], finite, not constant).
    pub fn new(a: &Matrix) -> Result<Self, SimilarityError> {
        Ok(CkaReference {
            n: a.rows(),
            a: Side2::new(a, Side::First)?,
        })
    }

    /// Rows of the reference.
    pub fn rows(&self) -> usize {
        self.n
    }

    /// Linear and debiased CKA of the reference against `b` (same rows), each with its null
    /// over `permutations` seeded row permutations of `b` (permutation `i` is
    /// [`null_permutation`]`(seed, i, n)`, as in [`crate::calibrated::calibrated_similarity`]).
    /// Permutations run in parallel; the result does not depend on the thread count.
    pub fn against(
        &self,
        b: &Matrix,
        permutations: usize,
        seed: u64,
    ) -> Result<CkaScores, SimilarityError> {
        if b.rows() != self.n {
            return Err(SimilarityError::RowMismatch {
                first: self.n,
                second: b.rows(),
            });
        }
        let b = Side2::new(b, Side::Second)?;
        let n = self.n;
        let identity: Vec<usize> = (0..n).collect();
        let [linear, debiased] = self.evaluate(&b, &identity);
        let null: Vec<[f64; 2]> = (0..permutations)
            .into_par_iter()
            .map(|i| self.evaluate(&b, &null_permutation(seed, i, n)))
            .collect();
        let score = |value: f64, k: usize| {
            let values: Vec<f64> = null.iter().map(|r| r[k]).collect();
            CalibratedScore::from_null(value, MeasureKind::Similarity, &values)
        };
        Ok(CkaScores {
            linear_cka: score(linear, 0),
            debiased_cka: score(debiased, 1),
        })
    }

    /// Both CKAs with `B`'s row `i` replaced by row `perm[i]`.
    fn evaluate(&self, b: &Side2, perm: &[usize]) -> [f64; 2] {
        let n = self.n;
        let (k, l) = (&self.a.gram, &b.gram);
        let mut off = 0.0;
        let mut diag = 0.0;
        for (i, &p) in perm.iter().enumerate() {
            let krow = &k[i * n..(i + 1) * n];
            let lrow = &l[p * n..(p + 1) * n];
            diag += krow[i] * lrow[p];
            off += krow[i + 1..]
                .iter()
                .zip(&perm[i + 1..])
                .map(|(x, &q)| x * lrow[q])
                .sum::<f64>();
        }
        let xty = diag + 2.0 * off;
        let (a, b) = (&self.a, b);
        let linear = xty / (a.norm_biased * b.norm_biased);
        let sxsy: f64 = perm
            .iter()
            .zip(&a.row_sq)
            .map(|(&p, sx)| sx * b.row_sq[p])
            .sum();
        let debiased = debiased_hsic_of(n, xty, sxsy, a.total_sq, b.total_sq)
            / (a.norm_debiased * b.norm_debiased);
        [linear, debiased]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calibrated::{calibrated_similarity, NullSettings};
    use crate::stats::Rng;

    fn gaussian(n: usize, d: usize, seed: u64) -> Matrix {
        let mut r = Rng::new(seed);
        Matrix::new(n, d, (0..n * d).map(|_| r.normal()).collect()).unwrap()
    }

    fn close(a: Option<f64>, b: Option<f64>, what: &str) {
        let (a, b) = (a.unwrap(), b.unwrap());
        assert!(
            (a - b).abs() <= 1e-9 * a.abs().max(1.0),
            "{what}: {a} vs {b}"
        );
    }

    #[test]
    fn matches_the_calibrated_engine_value_null_and_p() {
        let a = gaussian(60, 7, 1);
        let noise = gaussian(60, 5, 2);
        // B shares a direction with A, so CKA is well above its null.
        let b = Matrix::new(
            60,
            5,
            (0..60)
                .flat_map(|i| (0..5).map(move |j| (i, j)))
                .map(|(i, j)| 0.5 * noise.row(i)[j] + if j == 0 { a.row(i)[0] } else { 0.0 })
                .collect(),
        )
        .unwrap();
        let settings = NullSettings {
            permutations: 50,
            k: 5,
            seed: 9,
            ..NullSettings::default()
        };
        let want = calibrated_similarity(&a, &b, &settings).unwrap();
        let got = CkaReference::new(&a).unwrap().against(&b, 50, 9).unwrap();
        for (g, w, what) in [
            (got.linear_cka, want.linear_cka, "linear"),
            (got.debiased_cka, want.debiased_cka, "debiased"),
        ] {
            close(Some(g.value), Some(w.value), what);
            close(g.null_mean, w.null_mean, what);
            close(g.null_std, w.null_std, what);
            close(g.calibrated, w.calibrated, what);
            assert_eq!(g.p_value, w.p_value, "{what}");
            assert_eq!(g.kind, MeasureKind::Similarity);
        }
        assert!(got.debiased_cka.p_value.unwrap() < 0.05);
    }

    #[test]
    fn a_space_against_itself_is_one_with_the_smallest_p() {
        let a = gaussian(40, 6, 3);
        let s = CkaReference::new(&a).unwrap().against(&a, 30, 0).unwrap();
        assert!((s.debiased_cka.value - 1.0).abs() < 1e-12);
        assert!((s.linear_cka.value - 1.0).abs() < 1e-12);
        assert_eq!(s.debiased_cka.p_value, Some(1.0 / 31.0));
    }

    #[test]
    fn mismatched_rows_and_constant_spaces_are_errors() {
        let a = gaussian(10, 3, 4);
        let r = CkaReference::new(&a).unwrap();
        assert!(matches!(
            r.against(&gaussian(9, 3, 5), 0, 0),
            Err(SimilarityError::RowMismatch { .. })
        ));
        let flat = Matrix::new(10, 2, vec![1.0; 20]).unwrap();
        assert!(matches!(
            r.against(&flat, 0, 0),
            Err(SimilarityError::ZeroVariance(Side::Second))
        ));
    }
}
