//! Same-run comparison of the hand-ported symmetric eigen-solver (`linalg::symmetric_eigen*`,
//! EISPACK tred2 + tql2) with faer's `self_adjoint_eigen*` on random Gram matrices of the sizes
//! the study uses (PCA of a label's centroids, Gram matrices of hidden size 128–768).
//!
//!     cargo run --release -p tunescope-geometry --example eigen_bench [-- REPEATS]
//!
//! Prints per size: median seconds of each, the ratio hand/faer (> 1: faer is faster), the
//! largest eigenvalue difference relative to the largest eigenvalue, and whether the values are
//! bit-identical (the study's outputs need bit-identical numbers to stay byte-identical).

use std::time::Instant;

use faer::{Mat, Side};
use tunescope_geometry::linalg::{gram_centered, symmetric_eigen, symmetric_eigenvalues, Matrix};
use tunescope_geometry::stats::Rng;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn time<T>(repeats: usize, mut f: impl FnMut() -> T) -> (f64, T) {
    let mut out = f();
    let mut t = Vec::new();
    for _ in 0..repeats {
        let s = Instant::now();
        out = f();
        t.push(s.elapsed().as_secs_f64());
    }
    (median(t), out)
}

fn main() {
    let repeats: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5);
    println!("size  what         hand_s     faer_s     hand/faer  max_rel_diff  identical");
    for &d in &[32usize, 128, 384, 768] {
        let mut rng = Rng::new(d as u64);
        let rows = 2 * d;
        let x = Matrix::new(rows, d, (0..rows * d).map(|_| rng.normal()).collect()).unwrap();
        let g = gram_centered(&x, None);
        let f = Mat::<f64>::from_fn(d, d, |i, j| g[(i, j)]);
        let (th, hv) = time(repeats, || symmetric_eigenvalues(&g).unwrap());
        let (tf, fv) = time(repeats, || {
            let mut v = f.self_adjoint_eigenvalues(Side::Lower).unwrap();
            v.sort_by(|a, b| b.total_cmp(a));
            v
        });
        report(d, "values", th, tf, &hv, &fv);
        let (th, he) = time(repeats.min(3), || symmetric_eigen(&g).unwrap());
        let (tf, fe) = time(repeats.min(3), || {
            f.self_adjoint_eigen(Side::Lower).unwrap()
        });
        let mut fvals: Vec<f64> = (0..d).map(|i| fe.S()[i]).collect();
        fvals.sort_by(|a, b| b.total_cmp(a));
        report(d, "vectors", th, tf, &he.values, &fvals);
    }
}

fn report(d: usize, what: &str, th: f64, tf: f64, h: &[f64], f: &[f64]) {
    let top = h[0].abs().max(f64::MIN_POSITIVE);
    let diff = h
        .iter()
        .zip(f)
        .map(|(a, b)| (a - b).abs() / top)
        .fold(0.0, f64::max);
    let same = h.iter().zip(f).all(|(a, b)| a.to_bits() == b.to_bits());
    println!(
        "{d:<5} {what:<10} {th:>10.5} {tf:>10.5} {:>10.2}  {diff:>12.2e}  {same}",
        th / tf
    );
}
