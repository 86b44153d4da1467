//! Same-run comparison of the hand-ported symmetric eigen-solver (`linalg::symmetric_eigen*`,
//! EISPACK tred2 + tql2) with faer's self-adjoint eigen-decomposition (sequential, sorted
//! descending, each eigenvector's largest-magnitude entry positive), on the matrices the study
//! decomposes: centred scatter matrices of LayerNorm-like, low-rank, `f32`-rounded points (what
//! DirectProbe's span and PCA decompose; hidden sizes 384 and 768) and the small Gram matrices
//! of class means (NC1, PCA of centroids).
//!
//!     cargo run --release -p tunescope-geometry --example eigen_bench [-- REPEATS [LAYER.npy]]
//!
//! Prints per size: median seconds of each solver for eigenvalues only and for the full
//! decomposition, the ratio hand/faer (> 1: faer is faster), each solver's residual
//! `‖A Vᵀ − Vᵀ Λ‖_F / ‖A‖_F` and orthogonality `max |V Vᵀ − I|`, and the largest eigenvalue
//! difference between them relative to `‖A‖₂`; then both against numpy.linalg.eigh on
//! crates/geometry/tests/fixtures/eigen.json (scripts/reference/eigen_reference.py). With a
//! `layer-<k>.npy` of a run directory (`f32`, rows × hidden) its scatter matrix is timed too, and
//! the eigenvalues under DirectProbe's span screen are counted for both.

use std::time::Instant;

use faer::diag::Diag;
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::{Mat, Par};
use tunescope_geometry::linalg::{
    gram_centered, symmetric_eigen, symmetric_eigenvalues, Matrix, SymmetricEigen,
};
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

/// faer's decomposition under the candidate convention (the one `linalg` would adopt).
fn faer_eigen(a: &Matrix, vectors: bool) -> SymmetricEigen {
    let n = a.rows();
    let f = Mat::<f64>::from_fn(n, n, |i, j| 0.5 * (a[(i, j)] + a[(j, i)]));
    let mut s = Diag::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(if vectors { n } else { 0 }, if vectors { n } else { 0 });
    let compute = if vectors {
        ComputeEigenvectors::Yes
    } else {
        ComputeEigenvectors::No
    };
    let mut mem = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        compute,
        Par::Seq,
        Default::default(),
    ));
    self_adjoint_evd(
        f.as_ref(),
        s.as_mut(),
        vectors.then(|| u.as_mut()),
        Par::Seq,
        MemStack::new(&mut mem),
        Default::default(),
    )
    .expect("faer eigen-decomposition");
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| s[j].total_cmp(&s[i]).then(i.cmp(&j)));
    let values = order.iter().map(|&i| s[i]).collect();
    let mut data = Vec::with_capacity(if vectors { n * n } else { 0 });
    if vectors {
        for &i in &order {
            let col = u.col(i);
            let mut big = 0;
            for k in 0..n {
                if col[k].abs() > col[big].abs() {
                    big = k;
                }
            }
            let sign = if col[big] < 0.0 { -1.0 } else { 1.0 };
            data.extend((0..n).map(|k| sign * col[k]));
        }
    }
    let rows = if vectors { n } else { 0 };
    SymmetricEigen {
        values,
        vectors: Matrix::new(rows, rows, data).unwrap(),
    }
}

/// The hand port under the same sign convention (it leaves signs as the algorithm does).
fn hand_eigen(a: &Matrix) -> SymmetricEigen {
    let mut e = symmetric_eigen(a).unwrap();
    let n = a.rows();
    for i in 0..n {
        let row = e.vectors.row_mut(i);
        let mut big = 0;
        for k in 0..n {
            if row[k].abs() > row[big].abs() {
                big = k;
            }
        }
        if row[big] < 0.0 {
            row.iter_mut().for_each(|v| *v = -*v);
        }
    }
    e
}

fn to_faer(m: &Matrix) -> Mat<f64> {
    Mat::from_fn(m.rows(), m.cols(), |i, j| m[(i, j)])
}

/// `(‖A Vᵀ − Vᵀ Λ‖_F / ‖A‖_F, max |V Vᵀ − I|)` with eigenvectors as rows of `V`.
fn accuracy(a: &Matrix, e: &SymmetricEigen) -> (f64, f64) {
    let n = a.rows();
    let (fa, fv) = (to_faer(a), to_faer(&e.vectors));
    let av = &fa * fv.transpose();
    let mut res = 0.0;
    for j in 0..n {
        for i in 0..n {
            let r = av[(i, j)] - fv[(j, i)] * e.values[j];
            res += r * r;
        }
    }
    let vvt = &fv * fv.transpose();
    let mut orth: f64 = 0.0;
    for i in 0..n {
        for j in 0..n {
            let want = if i == j { 1.0 } else { 0.0 };
            orth = orth.max((vvt[(i, j)] - want).abs());
        }
    }
    (res.sqrt() / a.frobenius_norm(), orth)
}

/// LayerNorm-like points: rank `d/2` signal with a power-law spectrum plus 1e-3 noise, each row
/// centred (its coordinates sum to zero) and scaled to norm `sqrt(d)`, rounded to `f32`.
fn layernorm_like(n: usize, d: usize, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    let r = (d / 2).max(1);
    let basis: Vec<f64> = (0..r * d).map(|_| rng.normal()).collect();
    let mut data = Vec::with_capacity(n * d);
    for _ in 0..n {
        let z: Vec<f64> = (0..r)
            .map(|k| rng.normal() / ((k + 1) as f64).sqrt())
            .collect();
        let mut row: Vec<f64> = (0..d)
            .map(|j| (0..r).map(|k| z[k] * basis[k * d + j]).sum::<f64>() + 1e-3 * rng.normal())
            .collect();
        let mean = row.iter().sum::<f64>() / d as f64;
        row.iter_mut().for_each(|v| *v -= mean);
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt() / (d as f64).sqrt();
        data.extend(row.iter().map(|v| f64::from((v / norm) as f32)));
    }
    Matrix::new(n, d, data).unwrap()
}

/// A 2-D little-endian `f32` `.npy` (the run directory's `layer-<k>.npy`).
fn read_npy(path: &str) -> Matrix {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{path}: not a .npy file");
    let (start, header_len) = if bytes[6] == 1 {
        (10, u16::from_le_bytes([bytes[8], bytes[9]]) as usize)
    } else {
        (
            12,
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len]).unwrap();
    assert!(header.contains("'<f4'") && header.contains("'fortran_order': False"));
    let shape = &header[header.find("'shape': (").unwrap() + 10..];
    let dims: Vec<usize> = shape[..shape.find(')').unwrap()]
        .split(',')
        .filter_map(|t| t.trim().parse().ok())
        .collect();
    let body = &bytes[start + header_len..];
    let data: Vec<f64> = body
        .chunks_exact(4)
        .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
        .collect();
    Matrix::new(dims[0], dims[1], data).unwrap()
}

fn bench(label: &str, a: &Matrix, repeats: usize) {
    let d = a.rows();
    let (th, hv) = time(repeats, || symmetric_eigenvalues(a).unwrap());
    let (tf, fv) = time(repeats, || faer_eigen(a, false).values);
    let top = hv[0].abs().max(hv[d - 1].abs()).max(f64::MIN_POSITIVE);
    let vdiff = hv
        .iter()
        .zip(&fv)
        .map(|(x, y)| (x - y).abs() / top)
        .fold(0.0, f64::max);
    println!(
        "{label:<16} {d:>4} values  {th:>9.5} {tf:>9.5} {:>7.2}x  {:>22}  {:>22}  {vdiff:>9.1e}",
        th / tf,
        "",
        ""
    );
    let (th, he) = time(repeats, || hand_eigen(a));
    let (tf, fe) = time(repeats, || faer_eigen(a, true));
    let (hr, ho) = accuracy(a, &he);
    let (fr, fo) = accuracy(a, &fe);
    let vdiff = he
        .values
        .iter()
        .zip(&fe.values)
        .map(|(x, y)| (x - y).abs() / top)
        .fold(0.0, f64::max);
    println!(
        "{label:<16} {d:>4} vectors {th:>9.5} {tf:>9.5} {:>7.2}x  {hr:>9.1e} / {ho:>9.1e}  {fr:>9.1e} / {fo:>9.1e}  {vdiff:>9.1e}",
        th / tf
    );
}

fn against_numpy() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/eigen.json");
    let fx: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    println!("\nagainst numpy.linalg.eigh (tests/fixtures/eigen.json): max |λ − λ_np| / ‖A‖₂, max |v − v_np| over separated eigenvalues");
    println!("case          hand_values  faer_values  hand_vectors  faer_vectors");
    for c in fx["cases"].as_array().unwrap() {
        let num = |v: &serde_json::Value| -> Vec<f64> {
            v.as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_f64().unwrap())
                .collect()
        };
        let d = c["cols"].as_u64().unwrap() as usize;
        let a = if let Some(m) = c.get("matrix") {
            Matrix::new(d, d, num(m)).unwrap()
        } else {
            let n = c["rows"].as_u64().unwrap() as usize;
            let x = Matrix::new(n, d, num(&c["x"])).unwrap();
            gram_centered(&x, None)
        };
        let want = num(&c["values"]);
        let top = want[0].abs().max(want[d - 1].abs());
        let distinct: Vec<usize> = c["distinct"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as usize)
            .collect();
        let vecs: Vec<Vec<f64>> = c["vectors"].as_array().unwrap().iter().map(num).collect();
        let score = |e: &SymmetricEigen| {
            let dv = e
                .values
                .iter()
                .zip(&want)
                .map(|(x, y)| (x - y).abs() / top)
                .fold(0.0, f64::max);
            let dvec = distinct
                .iter()
                .zip(&vecs)
                .flat_map(|(&i, w)| e.vectors.row(i).iter().zip(w).map(|(x, y)| (x - y).abs()))
                .fold(0.0, f64::max);
            (dv, dvec)
        };
        let (hv, hx) = score(&hand_eigen(&a));
        let (fv, fx_) = score(&faer_eigen(&a, true));
        println!(
            "{:<12} {hv:>12.1e} {fv:>12.1e} {hx:>13.1e} {fx_:>13.1e}",
            c["name"].as_str().unwrap()
        );
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let repeats: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    let npy = args.next();
    println!(
        "what             size what    hand_s    faer_s  hand/faer  hand resid / orth        faer resid / orth        max|Δλ|/‖A‖"
    );
    for &(n, d) in &[
        (64usize, 12usize),
        (128, 48),
        (256, 128),
        (2000, 384),
        (3000, 768),
    ] {
        let x = layernorm_like(n, d, d as u64);
        bench(
            &format!("layernorm n{n}"),
            &gram_centered(&x, Some(&x.column_means())),
            repeats,
        );
    }
    if let Some(path) = npy {
        let x = read_npy(&path);
        println!("{path}: {} x {}", x.rows(), x.cols());
        let scatter = gram_centered(&x, Some(&x.column_means()));
        bench("npy scatter", &scatter, repeats);
        // DirectProbe's span screens the eigenvalues at or below n·tol² (directprobe/span.rs).
        let max_norm = x
            .row_iter()
            .map(|r| r.iter().map(|v| v * v).sum::<f64>())
            .fold(0.0, f64::max)
            .sqrt();
        let tol = 4.0 * f64::from(f32::EPSILON) / 2.0 * max_norm;
        let screen = tol * tol * x.rows() as f64;
        let below = |v: &[f64]| v.iter().filter(|&&l| l <= screen).count();
        println!(
            "span screen n·tol² = {screen:.3e}: eigenvalues below it, hand {} faer {}",
            below(&symmetric_eigenvalues(&scatter).unwrap()),
            below(&faer_eigen(&scatter, false).values)
        );
    }
    against_numpy();
}
