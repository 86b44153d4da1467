//! Descriptive statistics, correlations, a seeded RNG, a percentile bootstrap and a paired
//! sign-flip permutation test. Everything is deterministic given its seed.

use std::fmt;

/// Which of two inputs a [`StatsError`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The first argument.
    First,
    /// The second argument.
    Second,
    /// Both arguments.
    Both,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::First => "first",
            Side::Second => "second",
            Side::Both => "both",
        })
    }
}

/// Why a statistic is undefined for its input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Fewer values than the statistic needs.
    #[error("need at least {needed} values, got {got}")]
    TooFew {
        /// Minimum number of values.
        needed: usize,
        /// Number given.
        got: usize,
    },
    /// Paired inputs of different lengths.
    #[error("paired inputs have lengths {first} and {second}")]
    LengthMismatch {
        /// Length of the first input.
        first: usize,
        /// Length of the second input.
        second: usize,
    },
    /// A correlation with a constant input (zero variance) is undefined.
    #[error("{0} input is constant; correlation is undefined")]
    Constant(Side),
    /// NaN or infinity in the input.
    #[error("non-finite value at index {index} of the {side} input")]
    NonFinite {
        /// Input holding it.
        side: Side,
        /// Its position.
        index: usize,
    },
    /// A parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(String),
}

fn check_finite(xs: &[f64], side: Side) -> Result<(), StatsError> {
    match xs.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(StatsError::NonFinite { side, index }),
        None => Ok(()),
    }
}

fn check_pair(x: &[f64], y: &[f64], needed: usize) -> Result<(), StatsError> {
    if x.len() != y.len() {
        return Err(StatsError::LengthMismatch {
            first: x.len(),
            second: y.len(),
        });
    }
    if x.len() < needed {
        return Err(StatsError::TooFew {
            needed,
            got: x.len(),
        });
    }
    check_finite(x, Side::First)?;
    check_finite(y, Side::Second)
}

/// Arithmetic mean `(1/n) Σ x_i`; needs `n ≥ 1`.
pub fn mean(xs: &[f64]) -> Result<f64, StatsError> {
    if xs.is_empty() {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    Ok(xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Variance `Σ (x_i − x̄)² / (n − ddof)` (two-pass); needs `n > ddof`. `ddof = 1` is the
/// unbiased sample variance, `ddof = 0` the population variance (numpy's default).
pub fn variance(xs: &[f64], ddof: usize) -> Result<f64, StatsError> {
    if xs.len() <= ddof || xs.is_empty() {
        return Err(StatsError::TooFew {
            needed: ddof + 1,
            got: xs.len(),
        });
    }
    let m = mean(xs)?;
    let ss: f64 = xs.iter().map(|v| (v - m) * (v - m)).sum();
    Ok(ss / (xs.len() - ddof) as f64)
}

/// Standard deviation `sqrt(variance(xs, ddof))`.
pub fn std_dev(xs: &[f64], ddof: usize) -> Result<f64, StatsError> {
    variance(xs, ddof).map(f64::sqrt)
}

/// Quantile of **sorted** data with linear interpolation between order statistics
/// (Hyndman & Fan type 7, numpy's default): position `h = q·(n − 1)`,
/// `x_⌊h⌋ + (h − ⌊h⌋)(x_⌊h⌋+1 − x_⌊h⌋)`.
pub fn quantile_sorted(sorted: &[f64], q: f64) -> Result<f64, StatsError> {
    if sorted.is_empty() {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    if !(0.0..=1.0).contains(&q) {
        return Err(StatsError::InvalidParameter(format!(
            "quantile {q} outside [0, 1]"
        )));
    }
    let h = q * (sorted.len() - 1) as f64;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    Ok(sorted[lo] + (h - lo as f64) * (sorted[hi] - sorted[lo]))
}

/// Pearson correlation `r = Σ(x−x̄)(y−ȳ) / sqrt(Σ(x−x̄)² Σ(y−ȳ)²)`, clamped to `[−1, 1]`.
///
/// Undefined, with the reason, for unequal lengths, `n < 2`, non-finite values, or an input whose
/// values are all equal.
pub fn pearson(x: &[f64], y: &[f64]) -> Result<f64, StatsError> {
    check_pair(x, y, 2)?;
    let const_x = x.iter().all(|&v| v == x[0]);
    let const_y = y.iter().all(|&v| v == y[0]);
    match (const_x, const_y) {
        (true, true) => return Err(StatsError::Constant(Side::Both)),
        (true, false) => return Err(StatsError::Constant(Side::First)),
        (false, true) => return Err(StatsError::Constant(Side::Second)),
        (false, false) => {}
    }
    let n = x.len() as f64;
    let mx = x.iter().sum::<f64>() / n;
    let my = y.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (&a, &b) in x.iter().zip(y) {
        let (da, db) = (a - mx, b - my);
        sxy += da * db;
        sxx += da * da;
        syy += db * db;
    }
    Ok((sxy / (sxx * syy).sqrt()).clamp(-1.0, 1.0))
}

/// Ranks `1..=n` with ties given the average of the ranks they span (scipy's `rankdata`
/// "average" method). Values must be finite.
pub fn average_ranks(xs: &[f64]) -> Result<Vec<f64>, StatsError> {
    check_finite(xs, Side::First)?;
    let mut order: Vec<usize> = (0..xs.len()).collect();
    order.sort_unstable_by(|&i, &j| xs[i].total_cmp(&xs[j]));
    let mut ranks = vec![0.0; xs.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && xs[order[end]] == xs[order[start]] {
            end += 1;
        }
        // Positions start..end hold ranks start+1..=end; their mean is (start + 1 + end) / 2.
        let r = (start + 1 + end) as f64 / 2.0;
        for &i in &order[start..end] {
            ranks[i] = r;
        }
        start = end;
    }
    Ok(ranks)
}

/// Spearman rank correlation: [`pearson`] of the tie-averaged ranks ([`average_ranks`]).
pub fn spearman(x: &[f64], y: &[f64]) -> Result<f64, StatsError> {
    check_pair(x, y, 2)?;
    pearson(&average_ranks(x)?, &average_ranks(y)?)
}

pub use tunescope_data::rng::{splitmix64, Xoshiro256 as Rng};

/// A point estimate with a confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfidenceInterval {
    /// The statistic on the original sample.
    pub estimate: f64,
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
    /// Nominal coverage, e.g. `0.95`.
    pub level: f64,
}

/// Percentile bootstrap CI of the mean (Efron & Tibshirani 1993, §13.3); see [`bootstrap_ci`].
pub fn bootstrap_mean_ci(
    xs: &[f64],
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval, StatsError> {
    bootstrap_ci(
        xs,
        |s| s.iter().sum::<f64>() / s.len() as f64,
        level,
        resamples,
        seed,
    )
}

/// Percentile bootstrap CI of any statistic of one sample (Efron & Tibshirani 1993, §13.3):
/// `resamples` values of `statistic` on `n` draws with replacement (seeded [`Rng`], drawn in
/// order), bounds at their type-7 quantiles ([`quantile_sorted`]) `(1 − level)/2` and
/// `(1 + level)/2`; `estimate` is the statistic of `xs` itself. A non-finite resampled value is
/// an error.
pub fn bootstrap_ci(
    xs: &[f64],
    statistic: impl Fn(&[f64]) -> f64,
    level: f64,
    resamples: usize,
    seed: u64,
) -> Result<ConfidenceInterval, StatsError> {
    if xs.is_empty() {
        return Err(StatsError::TooFew { needed: 1, got: 0 });
    }
    check_finite(xs, Side::First)?;
    if !(level > 0.0 && level < 1.0) {
        return Err(StatsError::InvalidParameter(format!(
            "level {level} outside (0, 1)"
        )));
    }
    if resamples == 0 {
        return Err(StatsError::InvalidParameter(
            "resamples must be positive".into(),
        ));
    }
    let n = xs.len();
    let mut rng = Rng::new(seed);
    let mut buf = vec![0.0; n];
    let mut values = Vec::with_capacity(resamples);
    for _ in 0..resamples {
        for b in buf.iter_mut() {
            *b = xs[rng.below(n as u64) as usize];
        }
        values.push(statistic(&buf));
    }
    check_finite(&values, Side::First)?;
    values.sort_unstable_by(f64::total_cmp);
    let alpha = (1.0 - level) / 2.0;
    Ok(ConfidenceInterval {
        estimate: statistic(xs),
        lower: quantile_sorted(&values, alpha)?,
        upper: quantile_sorted(&values, 1.0 - alpha)?,
        level,
    })
}

/// Result of [`paired_permutation_test`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PermutationTest {
    /// Observed mean difference `(1/n) Σ (a_i − b_i)`.
    pub mean_difference: f64,
    /// Two-sided p-value.
    pub p_value: f64,
    /// Whether all `2ⁿ` sign patterns were enumerated.
    pub exact: bool,
    /// Number of sign patterns evaluated (`2ⁿ`, or the Monte Carlo resamples).
    pub permutations: u64,
}

/// Largest `n` for which [`paired_permutation_test`] enumerates all `2ⁿ` sign flips.
pub const EXACT_PERMUTATION_MAX_N: usize = 16;

/// Paired two-sided sign-flip permutation test of `H0: E[a − b] = 0`.
///
/// With `d_i = a_i − b_i` and `T(s) = |Σ s_i d_i|` for signs `s ∈ {±1}ⁿ`:
/// for `n ≤ 16` the exact `p = #{s : T(s) ≥ T(1)} / 2ⁿ`; otherwise `resamples` seeded random sign
/// vectors give `p = (1 + #{T(s) ≥ T(1)}) / (1 + resamples)` (Phipson & Smyth 2010). Ties are
/// counted with a relative tolerance of `1e-12·Σ|d_i|`.
pub fn paired_permutation_test(
    a: &[f64],
    b: &[f64],
    resamples: usize,
    seed: u64,
) -> Result<PermutationTest, StatsError> {
    check_pair(a, b, 1)?;
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    let n = d.len();
    let total: f64 = d.iter().sum();
    let observed = total.abs();
    let tol = 1e-12 * d.iter().map(|v| v.abs()).sum::<f64>();
    let extreme = |t: f64| t.abs() >= observed - tol;
    let mean_difference = total / n as f64;
    if n <= EXACT_PERMUTATION_MAX_N {
        let patterns = 1u64 << n;
        let count = (0..patterns)
            .filter(|mask| {
                let t: f64 = d
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| if (mask >> i) & 1 == 1 { -v } else { v })
                    .sum();
                extreme(t)
            })
            .count();
        return Ok(PermutationTest {
            mean_difference,
            p_value: count as f64 / patterns as f64,
            exact: true,
            permutations: patterns,
        });
    }
    if resamples == 0 {
        return Err(StatsError::InvalidParameter(
            "resamples must be positive".into(),
        ));
    }
    let mut rng = Rng::new(seed);
    let mut count = 0usize;
    for _ in 0..resamples {
        let mut t = 0.0;
        let mut bits = 0u64;
        for (i, &v) in d.iter().enumerate() {
            if i % 64 == 0 {
                bits = rng.next_u64();
            }
            t += if bits & 1 == 1 { -v } else { v };
            bits >>= 1;
        }
        if extreme(t) {
            count += 1;
        }
    }
    Ok(PermutationTest {
        mean_difference,
        p_value: (1 + count) as f64 / (1 + resamples) as f64,
        exact: false,
        permutations: resamples as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pearson_reports_why_undefined() {
        assert_eq!(
            pearson(&[1.0], &[2.0]),
            Err(StatsError::TooFew { needed: 2, got: 1 })
        );
        assert_eq!(
            pearson(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
            Err(StatsError::Constant(Side::First))
        );
        assert_eq!(
            pearson(&[1.0, 2.0, 3.0], &[4.0, 4.0, 4.0]),
            Err(StatsError::Constant(Side::Second))
        );
        assert_eq!(
            pearson(&[1.0, 1.0], &[4.0, 4.0]),
            Err(StatsError::Constant(Side::Both))
        );
        assert!(matches!(
            pearson(&[1.0, 2.0], &[1.0]),
            Err(StatsError::LengthMismatch { .. })
        ));
        assert!(matches!(
            pearson(&[1.0, f64::NAN], &[1.0, 2.0]),
            Err(StatsError::NonFinite {
                side: Side::First,
                index: 1
            })
        ));
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[2.0, 4.0, 6.0]), Ok(1.0));
        assert_eq!(pearson(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Ok(-1.0));
    }

    #[test]
    fn ranks_average_ties() {
        let r = average_ranks(&[10.0, 20.0, 10.0, 30.0, 20.0, 20.0]).unwrap();
        assert_eq!(r, vec![1.5, 4.0, 1.5, 6.0, 4.0, 4.0]);
    }

    #[test]
    fn variance_and_quantile_small_cases() {
        let xs = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(mean(&xs), Ok(5.0));
        assert_eq!(std_dev(&xs, 0), Ok(2.0));
        assert!((variance(&xs, 1).unwrap() - 32.0 / 7.0).abs() < 1e-15);
        assert!(variance(&[1.0], 1).is_err());
        assert!(mean(&[]).is_err());
        let s = [1.0, 2.0, 4.0, 8.0];
        assert_eq!(quantile_sorted(&s, 0.0), Ok(1.0));
        assert_eq!(quantile_sorted(&s, 1.0), Ok(8.0));
        assert_eq!(quantile_sorted(&s, 0.5), Ok(3.0));
        assert!(quantile_sorted(&s, 1.5).is_err());
    }

    #[test]
    fn rng_below_and_sampling_are_in_range_and_uniform() {
        let mut rng = Rng::new(7);
        let mut counts = [0usize; 6];
        for _ in 0..60_000 {
            counts[rng.below(6) as usize] += 1;
        }
        for c in counts {
            assert!((9_500..10_500).contains(&c), "{counts:?}");
        }
        let s = rng.sample_indices(100, 30);
        assert_eq!(s.len(), 30);
        assert!(s.windows(2).all(|w| w[0] < w[1]) && s[29] < 100);
        assert_eq!(rng.sample_indices(5, 9), vec![0, 1, 2, 3, 4]);
        let mut v: Vec<u32> = (0..50).collect();
        rng.shuffle(&mut v);
        assert_ne!(v, (0..50).collect::<Vec<_>>());
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
        let z: Vec<f64> = (0..20_000).map(|_| rng.normal()).collect();
        assert!(mean(&z).unwrap().abs() < 0.03);
        assert!((std_dev(&z, 1).unwrap() - 1.0).abs() < 0.03);
    }
}
