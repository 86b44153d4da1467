//! What fine-tuning did to one weight matrix `W₀ → W₁` (`ΔW = W₁ − W₀`):
//!
//! - relative update `‖ΔW‖_F / ‖W₀‖_F`;
//! - effective rank of `ΔW` (Roy & Vetterli 2007): `exp(−Σ pₖ ln pₖ)`, `pₖ = σₖ / Σσ` over the
//!   singular values of `ΔW` itself (not centred): about r for a rank-r LoRA update spread
//!   evenly, near `min(m, n)` for an unstructured full update;
//! - intruder dimensions (Shuttleworth et al. 2024, "LoRA vs Full Fine-tuning: An Illusion of
//!   Equivalence"): among the top-[`INTRUDER_TOP_K`] left singular vectors of `W₁`, those whose
//!   largest absolute cosine similarity with any left singular vector of `W₀` is below
//!   [`INTRUDER_THRESHOLD`].
//!
//! k = 10 follows the paper's analyses, which look at the top 10 singular vectors (where LoRA's
//! intruders appear and where the pre-trained spectrum carries most of the norm). ε = 0.5: a
//! singular vector that is only a rotation of a pre-trained one keeps a cosine near 1 with it,
//! while a new direction's best cosine with the `min(m, n)` pre-trained vectors sits near chance,
//! `√(2 ln d / d)` (≈ 0.18 for d = 384, 0.35 for d = 32); 0.5 — more than 60° from every
//! pre-trained direction — separates the two well above chance for encoder widths from 64 up.
//! The paper reports counts over a range of ε with the same ordering of methods; the CSV keeps
//! each vector's best cosine so another ε can be applied afterwards.

use faer::Mat;

pub use crate::descriptors::effective_rank_of;

/// Top singular vectors of the fine-tuned matrix examined for intruder dimensions.
pub const INTRUDER_TOP_K: usize = 10;
/// A top singular vector is an intruder when its best |cosine| with the pre-trained singular
/// vectors is below this.
pub const INTRUDER_THRESHOLD: f64 = 0.5;

/// Errors of [`weight_update`].
#[derive(Debug, thiserror::Error)]
pub enum WeightError {
    /// The two matrices or the shape disagree.
    #[error("weight shapes disagree: {0}")]
    Shape(String),
    /// A NaN or infinite entry.
    #[error("weights hold a NaN or infinite value")]
    NotFinite,
    /// The SVD did not converge.
    #[error("SVD did not converge")]
    Svd,
}

/// The update of one weight matrix.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WeightUpdate {
    /// `‖ΔW‖_F`.
    pub delta_norm: f64,
    /// `‖W₀‖_F`.
    pub base_norm: f64,
    /// `‖ΔW‖_F / ‖W₀‖_F` (0 when unchanged).
    pub relative: f64,
    /// Effective rank of `ΔW`; `None` when `ΔW = 0`.
    pub effective_rank: Option<f64>,
    /// For each of the top-k left singular vectors of `W₁` (descending σ), its best |cosine|
    /// with a left singular vector of `W₀`.
    pub top_cosines: Vec<f64>,
    /// How many of `top_cosines` are below the threshold.
    pub intruders: usize,
}

fn matrix(data: &[f32], rows: usize, cols: usize) -> Mat<f64> {
    Mat::from_fn(rows, cols, |i, j| data[i * cols + j] as f64)
}

/// The update from `before` to `after`, both row-major `rows × cols` (`[out, in]` as stored),
/// with intruder dimensions among the top `k` singular vectors at threshold `eps`.
pub fn weight_update(
    before: &[f32],
    after: &[f32],
    rows: usize,
    cols: usize,
    k: usize,
    eps: f64,
) -> Result<WeightUpdate, WeightError> {
    if before.len() != rows * cols || after.len() != rows * cols {
        return Err(WeightError::Shape(format!(
            "{} and {} values for a {rows} × {cols} matrix",
            before.len(),
            after.len()
        )));
    }
    if before.iter().chain(after).any(|v| !v.is_finite()) {
        return Err(WeightError::NotFinite);
    }
    let w0 = matrix(before, rows, cols);
    let w1 = matrix(after, rows, cols);
    let delta = &w1 - &w0;
    let delta_norm = delta.norm_l2();
    let base_norm = w0.norm_l2();
    let relative = if delta_norm == 0.0 {
        0.0
    } else {
        delta_norm / base_norm
    };
    let effective_rank = if delta_norm == 0.0 {
        None
    } else {
        effective_rank_of(&delta.singular_values().map_err(|_| WeightError::Svd)?)
    };
    let svd0 = w0.thin_svd().map_err(|_| WeightError::Svd)?;
    let svd1 = w1.thin_svd().map_err(|_| WeightError::Svd)?;
    let (u0, u1) = (svd0.U(), svd1.U());
    let top = k.min(u1.ncols());
    // |U₁ᵀ U₀| for the top columns of U₁: columns are unit vectors, so entries are cosines.
    let cos = u1.subcols(0, top).transpose() * u0;
    let top_cosines: Vec<f64> = (0..top)
        .map(|i| {
            (0..cos.ncols())
                .map(|j| cos[(i, j)].abs())
                .fold(0.0, f64::max)
        })
        .collect();
    let intruders = top_cosines.iter().filter(|&&c| c < eps).count();
    Ok(WeightUpdate {
        delta_norm,
        base_norm,
        relative,
        effective_rank,
        top_cosines,
        intruders,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.normal() as f32).collect()
    }

    #[test]
    fn unchanged_weights_have_no_update_and_no_intruders() {
        let mut rng = Rng::new(1);
        let w = random(&mut rng, 24 * 16);
        let u = weight_update(&w, &w, 24, 16, 10, 0.5).unwrap();
        assert_eq!((u.relative, u.effective_rank, u.intruders), (0.0, None, 0));
        assert!(u.top_cosines.iter().all(|&c| (c - 1.0).abs() < 1e-9));
    }

    #[test]
    fn rank_one_update_has_rank_one_and_a_large_one_intrudes() {
        // W₀ = diag(10, 9, …) on the first 16 of 24 rows: its left singular vectors are e₀…e₁₅.
        let (m, n) = (24, 16);
        let mut w0 = vec![0f32; m * n];
        for i in 0..n {
            w0[i * n + i] = 10.0 - 0.5 * i as f32;
        }
        // ΔW = 50 · e₂₀ vᵀ: a new output direction (row 20, orthogonal to every e₀…e₁₅).
        let mut w1 = w0.clone();
        for j in 0..n {
            w1[20 * n + j] += 50.0 / (n as f32).sqrt();
        }
        let u = weight_update(&w0, &w1, m, n, 10, 0.5).unwrap();
        assert!((u.effective_rank.unwrap() - 1.0).abs() < 1e-9, "{u:?}");
        assert!((u.delta_norm - 50.0).abs() < 1e-4);
        // The top singular vector of W₁ is mostly e₂₀: an intruder; the rest are e₀….
        assert_eq!(u.intruders, 1, "{:?}", u.top_cosines);
        assert!(u.top_cosines[0] < 0.5);
        // A small update along an existing direction adds no intruder.
        let mut w2 = w0.clone();
        w2[3 * n + 3] += 0.1;
        let u = weight_update(&w0, &w2, m, n, 10, 0.5).unwrap();
        assert_eq!(u.intruders, 0);
        assert!((u.relative - 0.1 / u.base_norm).abs() < 1e-7);
    }

    #[test]
    fn effective_rank_matches_its_definition() {
        assert_eq!(effective_rank_of(&[0.0, 0.0]), None);
        assert!((effective_rank_of(&[2.0, 2.0, 2.0, 0.0]).unwrap() - 3.0).abs() < 1e-12);
        let p = [0.75f64, 0.25];
        let want = (-(p[0] * p[0].ln() + p[1] * p[1].ln())).exp();
        assert!((effective_rank_of(&[3.0, 1.0]).unwrap() - want).abs() < 1e-12);
    }

    #[test]
    fn bad_shapes_and_values_are_errors() {
        assert!(matches!(
            weight_update(&[0.0; 6], &[0.0; 5], 2, 3, 1, 0.5),
            Err(WeightError::Shape(_))
        ));
        assert!(matches!(
            weight_update(&[0.0, f32::NAN], &[0.0; 2], 1, 2, 1, 0.5),
            Err(WeightError::NotFinite)
        ));
    }
}
