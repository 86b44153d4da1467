//! Squared-distance kernels for candidate generation: an `f32` screen over many rows (compiled
//! for the widest vectors the machine has, AVX-512 or AVX2, chosen at run time), whose
//! survivors are re-measured exactly in `f64`.

/// Defines `$name` as a dispatcher that runs `$body` compiled for AVX-512F, or for AVX2 + FMA,
/// whichever the CPU has (checked at run time), else the portable build. Rust never contracts
/// `a * b + c` into a fused multiply-add, so every variant gives bit-identical results.
macro_rules! multiversion {
    ($(#[$doc:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident) => {
        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret {
                    $body($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU supports AVX-512F (checked above).
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU supports AVX2 and FMA (checked above).
                    return unsafe { avx2($($arg),*) };
                }
            }
            $body($($arg),*)
        }
    };
}

/// Relative slack of the `f32` screen: an `f32` squared distance over a few hundred coordinates
/// is within about 1e-5 relative of the `f64` one; anything within this factor of the screened
/// minimum is re-measured exactly.
pub(crate) const SCREEN_SLACK: f32 = 1e-3;

#[inline(always)]
fn dist2_f32_body(a: &[f32], b: &[f32]) -> f32 {
    const W: usize = 16;
    let mut acc = [0.0f32; W];
    let n = a.len() / W * W;
    for (x, y) in a[..n].chunks_exact(W).zip(b[..n].chunks_exact(W)) {
        for k in 0..W {
            let t = x[k] - y[k];
            acc[k] += t * t;
        }
    }
    let mut s: f32 = acc.iter().sum();
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        s += (x - y) * (x - y);
    }
    s
}

#[inline(always)]
fn scan_body(q: &[f32], rows: &[f32], d: usize, out: &mut [f32]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(d)) {
        *o = dist2_f32_body(q, r);
    }
}

multiversion! {
    /// `out[k]` = squared distance (`f32`) from `q` to row `k` of `rows` (row-major, `d` columns).
    pub(crate) fn scan_f32(q: &[f32], rows: &[f32], d: usize, out: &mut [f32]) -> () = scan_body
}

/// Exact squared Euclidean distance in `f64` (sequential sum of squared differences).
pub(crate) fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

#[inline(always)]
fn dots4_body(a: &[f64], r: [&[f64]; 4]) -> [f64; 4] {
    const W: usize = 8;
    let mut acc = [[0.0f64; W]; 4];
    let n = a.len() / W * W;
    for c in (0..n).step_by(W) {
        let x = &a[c..c + W];
        for (acc_k, rk) in acc.iter_mut().zip(&r) {
            let y = &rk[c..c + W];
            for l in 0..W {
                acc_k[l] += x[l] * y[l];
            }
        }
    }
    let mut out = [0.0; 4];
    for k in 0..4 {
        let mut s: f64 = acc[k].iter().sum();
        for c in n..a.len() {
            s += a[c] * r[k][c];
        }
        out[k] = s;
    }
    out
}

/// Sum and maximum of the Euclidean distances between row `i` and rows `i+1..` of `rows`
/// (centred, with squared norms `norms`).
#[inline(always)]
fn row_pairs_body(rows: &[f64], norms: &[f64], d: usize, i: usize) -> (f64, f64) {
    let a = &rows[i * d..(i + 1) * d];
    let n = norms.len();
    let (mut sum, mut max) = (0.0f64, 0.0f64);
    let mut j = i + 1;
    let mut take = |j: usize, dot: f64| {
        let d2 = (norms[i] + norms[j] - 2.0 * dot).max(0.0);
        let v = d2.sqrt();
        sum += v;
        max = max.max(v);
    };
    while j + 4 <= n {
        let r = [
            &rows[j * d..(j + 1) * d],
            &rows[(j + 1) * d..(j + 2) * d],
            &rows[(j + 2) * d..(j + 3) * d],
            &rows[(j + 3) * d..(j + 4) * d],
        ];
        let dots = dots4_body(a, r);
        for (k, &dt) in dots.iter().enumerate() {
            take(j + k, dt);
        }
        j += 4;
    }
    while j < n {
        let b = &rows[j * d..(j + 1) * d];
        take(j, a.iter().zip(b).map(|(x, y)| x * y).sum());
        j += 1;
    }
    (sum, max)
}

multiversion! {
    fn row_pairs(rows: &[f64], norms: &[f64], d: usize, i: usize) -> (f64, f64) = row_pairs_body
}

/// Mean and maximum pairwise Euclidean distance among the rows of `block` (`d` columns, at
/// least two rows), from Gram entries of the rows centred on their mean. Deterministic for any
/// thread count (per-row sums added in row order).
pub(crate) fn pairwise_mean_max(block: &[f64], d: usize) -> (f64, f64) {
    use rayon::prelude::*;
    let n = block.len() / d;
    let mut mean = vec![0.0; d];
    for r in block.chunks_exact(d) {
        for (m, v) in mean.iter_mut().zip(r) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let rows: Vec<f64> = block
        .chunks_exact(d)
        .flat_map(|r| r.iter().zip(&mean).map(|(x, m)| x - m))
        .collect();
    let norms: Vec<f64> = rows
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let per_row: Vec<(f64, f64)> = (0..n)
        .into_par_iter()
        .with_min_len(16)
        .map(|i| row_pairs(&rows, &norms, d, i))
        .collect();
    let sum: f64 = per_row.iter().map(|p| p.0).sum();
    let max = per_row.iter().map(|p| p.1).fold(0.0f64, f64::max);
    (sum / (n * (n - 1) / 2) as f64, max)
}

/// Dot product with a fixed summation order (eight lane sums, added pairwise, then the tail),
/// so the result is bit-identical whichever vector width runs it.
#[inline(always)]
fn dot_body(a: &[f64], b: &[f64]) -> f64 {
    const W: usize = 8;
    let mut acc = [0.0f64; W];
    let n = a.len() / W * W;
    for (x, y) in a[..n].chunks_exact(W).zip(b[..n].chunks_exact(W)) {
        for l in 0..W {
            acc[l] += x[l] * y[l];
        }
    }
    let mut t = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (x, y) in a[n..].iter().zip(&b[n..]) {
        t += x * y;
    }
    t
}

#[inline(always)]
fn dots_body(x: &[f64], rows: &[f64], d: usize, out: &mut [f64]) {
    for (o, r) in out.iter_mut().zip(rows.chunks_exact(d)) {
        *o = dot_body(x, r);
    }
}

multiversion! {
    /// `out[k] = x · row k` of `rows` (row-major, `d` columns), bit-identical on every machine.
    pub(crate) fn dots(x: &[f64], rows: &[f64], d: usize, out: &mut [f64]) -> () = dots_body
}

/// Dot product of two vectors (see [`dots`]).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    if a.is_empty() {
        return 0.0;
    }
    let mut out = [0.0];
    dots(a, b, a.len(), &mut out);
    out[0]
}
