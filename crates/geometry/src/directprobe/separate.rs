//! Label-level separators: one hyperplane per pair of labels, computed once before clustering.
//!
//! For labels l < m the hyperplane `w·x = θ` (unit `w`) puts label l on the positive side. A
//! point on its own label's side by more than the margin is *clear* of the other label; the rest
//! are *zone* points. Two clusters of l and m whose points are all clear lie strictly on opposite
//! sides, so their hulls are disjoint without a test. When the nearest-point iteration certifies
//! that the whole labels' hulls are disjoint, the pair has no zone points at all (no merge of
//! either label can ever meet the other); otherwise the hyperplane is a Fisher discriminant with
//! the threshold that misplaces the fewest points, so the zones are the confusable points.

use super::mnp::{chol_solve, cholesky, dot, min_norm_point_ws, Mnp, MnpParams};
use super::{Points, TOUCH_TOL};
use crate::linalg::{gram_centered, Matrix};
use rayon::prelude::*;

/// Working-set rounds allowed when certifying that two whole labels are disjoint.
const CERTIFY_ROUNDS: usize = 40;

/// The separator of one label pair.
pub(crate) struct PairSep {
    /// The whole labels' hulls are certified disjoint.
    pub disjoint: bool,
    /// Zone points (row indices) of the lower label, then of the higher label.
    pub zone: [Vec<usize>; 2],
    /// The hyperplane's unit normal (lower label on the positive side); empty when the pair is
    /// certified disjoint or has no discriminant.
    pub normal: Vec<f64>,
}

/// Separators of every label pair (l < m at `l * n_labels + m`).
pub(crate) struct Separators {
    n_labels: usize,
    pairs: Vec<Option<PairSep>>,
}

impl Separators {
    /// The separator of labels `l` and `m` (either order); `None` when one label is empty.
    pub fn get(&self, l: usize, m: usize) -> Option<&PairSep> {
        let (a, b) = (l.min(m), l.max(m));
        self.pairs[a * self.n_labels + b].as_ref()
    }

    /// True when labels `l` and `m` are certified disjoint (or one is empty).
    pub fn disjoint(&self, l: usize, m: usize) -> bool {
        self.get(l, m).is_none_or(|p| p.disjoint)
    }

    /// The pair hyperplane's unit normal oriented with label `l` on the positive side (a good
    /// first direction for separating a cluster of `l` from one of `m`).
    pub fn normal(&self, l: usize, m: usize) -> Option<Vec<f64>> {
        let p = self.get(l, m)?;
        if p.normal.is_empty() {
            return None;
        }
        let sign = if l < m { 1.0 } else { -1.0 };
        Some(p.normal.iter().map(|v| sign * v).collect())
    }

    /// Zone points of label `l` with respect to label `m`.
    pub fn zone(&self, l: usize, m: usize) -> &[usize] {
        match self.get(l, m) {
            Some(p) => &p.zone[usize::from(l > m)],
            None => &[],
        }
    }
}

/// Per label: its rows centred on the data's centroid (gathered once, shared by every pair),
/// their mean and their scatter matrix (for the discriminant).
struct LabelBlock {
    rows: Matrix,
    mean: Vec<f64>,
    scatter: Matrix,
}

/// Computes the separators of all label pairs; `centre` is the data's centroid and `scale`
/// bounds the distance of every point from it (the margin is relative to it). `exhaustive`
/// certifies nothing: every pair is undecided and every point is in every zone.
pub(crate) fn separators(
    points: &Points,
    by_label: &[Vec<usize>],
    centre: &[f64],
    scale: f64,
    exhaustive: bool,
) -> Separators {
    let n_labels = by_label.len();
    let d = points.dim();
    let stats: Vec<Option<LabelBlock>> = by_label
        .par_iter()
        .map(|g| {
            if g.is_empty() || exhaustive {
                return None;
            }
            let data: Vec<f64> = g
                .iter()
                .flat_map(|&i| points.row(i).iter().zip(centre).map(|(x, c)| x - c))
                .collect();
            let rows = Matrix::new(g.len(), d, data).expect("gathered rows");
            let mean = rows.column_means();
            let scatter = gram_centered(&rows, Some(&mean));
            Some(LabelBlock {
                rows,
                mean,
                scatter,
            })
        })
        .collect();
    let margin = (4.0 * TOUCH_TOL * scale).max(points.precision());
    let pairs: Vec<(usize, usize)> = (0..n_labels)
        .flat_map(|l| (l + 1..n_labels).map(move |m| (l, m)))
        .collect();
    let seps: Vec<Option<PairSep>> = pairs
        .par_iter()
        .map(|&(l, m)| {
            if by_label[l].is_empty() || by_label[m].is_empty() {
                return None;
            }
            if exhaustive {
                return Some(PairSep {
                    disjoint: false,
                    zone: [by_label[l].clone(), by_label[m].clone()],
                    normal: Vec::new(),
                });
            }
            let (Some(sl), Some(sm)) = (&stats[l], &stats[m]) else {
                return None;
            };
            Some(pair(points, &by_label[l], &by_label[m], sl, sm, margin))
        })
        .collect();
    let mut all = (0..n_labels * n_labels).map(|_| None).collect::<Vec<_>>();
    for (&(l, m), s) in pairs.iter().zip(seps) {
        all[l * n_labels + m] = s;
    }
    Separators {
        n_labels,
        pairs: all,
    }
}

fn pair(
    points: &Points,
    a: &[usize],
    b: &[usize],
    sa: &LabelBlock,
    sb: &LabelBlock,
    margin: f64,
) -> PairSep {
    let d = points.dim();
    let (ca, cb) = (sa.rows.as_slice(), sb.rows.as_slice());
    // Fisher discriminant: (S_a + S_b + δI) w = μ_a − μ_b (the mean difference if singular).
    let mut s: Vec<f64> = sa
        .scatter
        .as_slice()
        .iter()
        .zip(sb.scatter.as_slice())
        .map(|(x, y)| x + y)
        .collect();
    let trace: f64 = (0..d).map(|i| s[i * d + i]).sum();
    let ridge = 1e-6 * trace / d as f64 + f64::MIN_POSITIVE;
    for i in 0..d {
        s[i * d + i] += ridge;
    }
    let mut w: Vec<f64> = sa.mean.iter().zip(&sb.mean).map(|(x, y)| x - y).collect();
    if cholesky(&mut s, d) {
        chol_solve(&s, d, &mut w);
    }
    let norm = dot(&w, &w).sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return PairSep {
            disjoint: false,
            zone: [a.to_vec(), b.to_vec()],
            normal: Vec::new(),
        };
    }
    w.iter_mut().for_each(|x| *x /= norm);
    // Certify disjointness, starting from the discriminant (which settles most linear pairs at
    // once: the iteration first checks its starting direction on every point).
    let params = MnpParams {
        stop_at_separation: true,
        overlap_tol: margin,
        sep_tol: 4.0 * margin,
        rel_gap: 1e-12,
        max_iter: 4 * (d + 2),
    };
    if let Mnp::Separated { .. } =
        min_norm_point_ws(ca, cb, d, &params, Some(&w), CERTIFY_ROUNDS, &[])
    {
        return PairSep {
            disjoint: true,
            zone: [Vec::new(), Vec::new()],
            normal: Vec::new(),
        };
    }
    let pa: Vec<f64> = ca.chunks_exact(d).map(|r| dot(&w, r)).collect();
    let pb: Vec<f64> = cb.chunks_exact(d).map(|r| dot(&w, r)).collect();
    let theta = best_threshold(&pa, &pb);
    PairSep {
        disjoint: false,
        zone: [
            a.iter()
                .zip(&pa)
                .filter(|(_, &v)| v <= theta + margin)
                .map(|(&i, _)| i)
                .collect(),
            b.iter()
                .zip(&pb)
                .filter(|(_, &v)| v >= theta - margin)
                .map(|(&i, _)| i)
                .collect(),
        ],
        normal: w,
    }
}

/// The threshold θ minimising #{a ≤ θ} + #{b ≥ θ} (midway between neighbouring values).
fn best_threshold(pa: &[f64], pb: &[f64]) -> f64 {
    let mut v: Vec<(f64, bool)> = pa
        .iter()
        .map(|&x| (x, true))
        .chain(pb.iter().map(|&x| (x, false)))
        .collect();
    v.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    // Threshold below v[k]: errors = #a before k + #b from k on.
    let mut a_before = 0usize;
    let mut b_from = pb.len();
    let (mut best, mut best_k) = (usize::MAX, 0usize);
    for k in 0..=v.len() {
        let err = a_before + b_from;
        if err < best {
            best = err;
            best_k = k;
        }
        if k < v.len() {
            if v[k].1 {
                a_before += 1;
            } else {
                b_from -= 1;
            }
        }
    }
    match best_k {
        0 => v[0].0 - 1.0,
        k if k == v.len() => v[k - 1].0 + 1.0,
        k => 0.5 * (v[k - 1].0 + v[k].0),
    }
}
