//! The hull-intersection LP: λ ≥ 0, μ ≥ 0, Σλ = Σμ = 1, Aᵀλ = Bᵀμ, solved by microlp's simplex.
//!
//! Coordinates are centred on the pair's centroid, scaled by the pair's radius and expressed in
//! an orthonormal basis of the span of the centred points (so rank-deficient data give no
//! redundant rows): at most d + 2 rows, usually far fewer.

use super::mnp::dot;
use microlp::{ComparisonOp, OptimizationDirection, Problem};

/// Result of the intersection LP.
pub(crate) enum LpResult {
    /// Feasible: convex weights on A and B (index, weight).
    Intersect {
        lambda: Vec<(usize, f64)>,
        mu: Vec<(usize, f64)>,
    },
    /// Infeasible: the hulls are disjoint.
    Disjoint,
    /// The solver failed numerically.
    Failed(String),
}

/// Decides whether conv(A) and conv(B) intersect (`a`, `b` row-major with `d` columns).
pub(crate) fn intersect(a: &[f64], b: &[f64], d: usize) -> LpResult {
    let a: Vec<&[f64]> = a.chunks_exact(d).collect();
    let b: Vec<&[f64]> = b.chunks_exact(d).collect();
    let n = a.len() + b.len();
    let rows = || a.iter().chain(b.iter());
    let mut c = vec![0.0; d];
    for r in rows() {
        for (x, v) in c.iter_mut().zip(r.iter()) {
            *x += v / n as f64;
        }
    }
    let centred: Vec<Vec<f64>> = rows()
        .map(|r| r.iter().zip(&c).map(|(x, y)| x - y).collect())
        .collect();
    let radius = centred
        .iter()
        .map(|v| dot(v, v).sqrt())
        .fold(0.0f64, f64::max);
    if radius == 0.0 {
        return LpResult::Intersect {
            lambda: vec![(0, 1.0)],
            mu: vec![(0, 1.0)],
        };
    }
    // Orthonormal basis of the span (modified Gram–Schmidt, relative threshold).
    let mut basis: Vec<Vec<f64>> = Vec::new();
    for v in &centred {
        let mut r: Vec<f64> = v.iter().map(|x| x / radius).collect();
        for _ in 0..2 {
            for q in &basis {
                let t = dot(q, &r);
                for (re, qe) in r.iter_mut().zip(q) {
                    *re -= t * qe;
                }
            }
        }
        let nr = dot(&r, &r).sqrt();
        if nr > 1e-9 {
            r.iter_mut().for_each(|x| *x /= nr);
            basis.push(r);
        }
        if basis.len() == d {
            break;
        }
    }
    let coords: Vec<Vec<f64>> = centred
        .iter()
        .map(|v| {
            basis
                .iter()
                .map(|q| {
                    let x = dot(q, v) / radius;
                    // Round-off of the projection, not data: keeps the LP well scaled.
                    if x.abs() < 1e-12 {
                        0.0
                    } else {
                        x
                    }
                })
                .collect()
        })
        .collect();
    let mut pb = Problem::new(OptimizationDirection::Minimize);
    let vars: Vec<_> = (0..n).map(|_| pb.add_var(0.0, (0.0, 1.0))).collect();
    let la = a.len();
    pb.add_constraint(
        vars[..la]
            .iter()
            .map(|&v| (v, 1.0))
            .collect::<Vec<_>>()
            .as_slice(),
        ComparisonOp::Eq,
        1.0,
    );
    pb.add_constraint(
        vars[la..]
            .iter()
            .map(|&v| (v, 1.0))
            .collect::<Vec<_>>()
            .as_slice(),
        ComparisonOp::Eq,
        1.0,
    );
    for k in 0..basis.len() {
        let terms: Vec<_> = coords
            .iter()
            .enumerate()
            .filter_map(|(i, row)| {
                let x = row[k];
                let s = if i < la { x } else { -x };
                (s != 0.0).then_some((vars[i], s))
            })
            .collect();
        pb.add_constraint(terms.as_slice(), ComparisonOp::Eq, 0.0);
    }
    match pb.solve() {
        Ok(out) => match out.into_solution() {
            Ok(sol) => {
                let pick = |range: std::ops::Range<usize>, off: usize| -> Vec<(usize, f64)> {
                    range
                        .filter_map(|i| {
                            let v = sol.var_value(vars[i]);
                            (v > 0.0).then_some((i - off, v))
                        })
                        .collect()
                };
                LpResult::Intersect {
                    lambda: pick(0..la, 0),
                    mu: pick(la..n, la),
                }
            }
            Err(e) => LpResult::Failed(format!("{e:?}")),
        },
        Err(microlp::Error::Infeasible) => LpResult::Disjoint,
        Err(e) => LpResult::Failed(e.to_string()),
    }
}
