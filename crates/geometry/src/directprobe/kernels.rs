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

/// The dot products of four rows `a` with four rows `r`, each summed exactly as
/// [`dots4_body`] sums it (eight lane sums over the chunks, the lanes added in order, then the
/// tail), so a pair's value does not depend on which tile computes it.
#[inline(always)]
fn dots4x4_body(a: [&[f64]; 4], r: [&[f64]; 4]) -> [[f64; 4]; 4] {
    const W: usize = 8;
    let mut acc = [[[0.0f64; W]; 4]; 4];
    let len = a[0].len();
    let n = len / W * W;
    for c in (0..n).step_by(W) {
        let mut x = [[0.0f64; W]; 4];
        let mut y = [[0.0f64; W]; 4];
        for k in 0..4 {
            x[k].copy_from_slice(&a[k][c..c + W]);
            y[k].copy_from_slice(&r[k][c..c + W]);
        }
        for (acc_i, xi) in acc.iter_mut().zip(&x) {
            for (acc_k, yk) in acc_i.iter_mut().zip(&y) {
                for l in 0..W {
                    acc_k[l] += xi[l] * yk[l];
                }
            }
        }
    }
    let mut out = [[0.0; 4]; 4];
    for i in 0..4 {
        for k in 0..4 {
            let mut s: f64 = acc[i][k].iter().sum();
            for c in n..len {
                s += a[i][c] * r[k][c];
            }
            out[i][k] = s;
        }
    }
    out
}

/// Running sum and maximum of one row's pair distances, fed in increasing order of the other
/// row.
#[derive(Clone, Copy, Default)]
struct RowPairs {
    sum: f64,
    max: f64,
}

impl RowPairs {
    #[inline(always)]
    fn take(&mut self, ni: f64, nj: f64, dot: f64) {
        let v = (ni + nj - 2.0 * dot).max(0.0).sqrt();
        self.sum += v;
        self.max = self.max.max(v);
    }
}

/// Rows of the other side per tile: 128 rows of 384 `f64` stay in the L2 cache while a block
/// of [`PAIR_BLOCK`] rows meets them.
const PAIR_TILE: usize = 128;
/// Rows per parallel task of [`pairwise_mean_max`] (a multiple of 4).
const PAIR_BLOCK: usize = 64;

/// Row `i`'s pair distance to row `j` (`j > i`) as the row-by-row definition sums it: rows
/// `i+1..` in groups of four through [`dots4_body`], the last `(n − i − 1) mod 4` rows by a
/// sequential dot.
#[inline(always)]
fn pair_dot(rows: &[f64], d: usize, n: usize, i: usize, j: usize) -> f64 {
    let a = &rows[i * d..(i + 1) * d];
    let b = &rows[j * d..(j + 1) * d];
    if j >= tail_start(n, i) {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    } else {
        dots4_body(a, [b, b, b, b])[0]
    }
}

/// First row whose pair with row `i` takes the sequential dot (see [`pair_dot`]).
#[inline(always)]
fn tail_start(n: usize, i: usize) -> usize {
    i + 1 + (n - i - 1) / 4 * 4
}

/// Sums and maxima of the pair distances of rows `i0..i1` (`i1 − i0` a multiple of 4, or the
/// last block) with every later row, in the same order and with the same products as the
/// row-by-row definition: tiles of four rows by four keep the other side in cache.
#[inline(always)]
fn block_pairs_body(rows: &[f64], norms: &[f64], d: usize, i0: usize, i1: usize) -> Vec<RowPairs> {
    let n = norms.len();
    let mut acc = vec![RowPairs::default(); i1 - i0];
    let row = |k: usize| &rows[k * d..(k + 1) * d];
    // Per quad of rows q..q+4: the later rows every one of them meets through `dots4_body`.
    let quads: Vec<(usize, usize, usize)> = (i0..i1)
        .step_by(4)
        .map(|q| {
            let e = (q + 4).min(i1);
            let lo = e;
            let hi = (q..e).map(|i| tail_start(n, i)).min().unwrap_or(lo).max(lo);
            (q, lo, hi)
        })
        .collect();
    // Heads: the rows of the quad itself, and whatever precedes `lo`.
    for &(q, lo, _) in &quads {
        for i in q..(q + 4).min(i1) {
            for j in i + 1..lo.min(n) {
                acc[i - i0].take(norms[i], norms[j], pair_dot(rows, d, n, i, j));
            }
        }
    }
    // The middle, tile by tile in increasing order of the later rows.
    let first = quads.first().map_or(n, |&(_, lo, _)| lo);
    let last = quads.iter().map(|&(_, _, hi)| hi).max().unwrap_or(first);
    let mut t0 = first;
    while t0 < last {
        let t1 = (t0 + PAIR_TILE).min(last);
        for &(q, lo, hi) in &quads {
            let (s, e) = (t0.max(lo), t1.min(hi));
            if s >= e {
                continue;
            }
            let m = (q + 4).min(i1) - q;
            let mut j = s;
            if m == 4 {
                let a = [row(q), row(q + 1), row(q + 2), row(q + 3)];
                while j + 4 <= e {
                    let p = dots4x4_body(a, [row(j), row(j + 1), row(j + 2), row(j + 3)]);
                    for (k, pk) in p.iter().enumerate() {
                        let r = &mut acc[q + k - i0];
                        for (c, &dot) in pk.iter().enumerate() {
                            r.take(norms[q + k], norms[j + c], dot);
                        }
                    }
                    j += 4;
                }
            }
            for jj in j..e {
                for i in q..q + m {
                    acc[i - i0].take(norms[i], norms[jj], pair_dot(rows, d, n, i, jj));
                }
            }
        }
        t0 = t1;
    }
    // Tails: from `hi` to the end.
    for &(q, _, hi) in &quads {
        for i in q..(q + 4).min(i1) {
            for j in hi.max(i + 1)..n {
                acc[i - i0].take(norms[i], norms[j], pair_dot(rows, d, n, i, j));
            }
        }
    }
    acc
}

multiversion! {
    fn block_pairs(rows: &[f64], norms: &[f64], d: usize, i0: usize, i1: usize) -> Vec<RowPairs> = block_pairs_body
}

/// The rows of `block` centred on their mean, and their squared norms.
fn centred_rows(block: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
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
    let norms = rows
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    (rows, norms)
}

/// Mean and maximum pairwise Euclidean distance among the rows of `block` (`d` columns, at
/// least two rows), from Gram entries of the rows centred on their mean. Deterministic for any
/// thread count (per-row sums added in row order); blocks of rows meet cache-sized tiles of the
/// later rows, so a cluster of 10⁴–10⁵ rows is not read from memory once per row.
pub(crate) fn pairwise_mean_max(block: &[f64], d: usize) -> (f64, f64) {
    use rayon::prelude::*;
    let n = block.len() / d;
    let (rows, norms) = centred_rows(block, d);
    let starts: Vec<usize> = (0..n).step_by(PAIR_BLOCK).collect();
    let per_row: Vec<RowPairs> = starts
        .into_par_iter()
        .flat_map_iter(|i0| block_pairs(&rows, &norms, d, i0, (i0 + PAIR_BLOCK).min(n)))
        .collect();
    let sum: f64 = per_row.iter().map(|p| p.sum).sum();
    let max = per_row.iter().map(|p| p.max).fold(0.0f64, f64::max);
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

/// [`dot_body`] of `x` with four rows at once: four independent accumulator chains, each
/// summed exactly as [`dot_body`] sums it.
#[inline(always)]
fn dot1x4_body(x: &[f64], r: [&[f64]; 4]) -> [f64; 4] {
    const W: usize = 8;
    let mut acc = [[0.0f64; W]; 4];
    let len = x.len();
    let n = len / W * W;
    for c in (0..n).step_by(W) {
        let xs = &x[c..c + W];
        for (acc_k, rk) in acc.iter_mut().zip(&r) {
            let ys = &rk[c..c + W];
            for l in 0..W {
                acc_k[l] += xs[l] * ys[l];
            }
        }
    }
    let mut out = [0.0; 4];
    for (k, a) in acc.iter().enumerate() {
        let mut t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
        for c in n..len {
            t += x[c] * r[k][c];
        }
        out[k] = t;
    }
    out
}

/// `out[k] = x · row(k)` for `k < m`, four rows at a time: every value is [`dot_body`]'s.
#[inline(always)]
fn dots_of<'r>(x: &[f64], m: usize, row: impl Fn(usize) -> &'r [f64], out: &mut [f64]) {
    let mut k = 0;
    if x.len() == row(0).len() {
        while k + 4 <= m {
            out[k..k + 4].copy_from_slice(&dot1x4_body(
                x,
                [row(k), row(k + 1), row(k + 2), row(k + 3)],
            ));
            k += 4;
        }
    }
    for (o, j) in out[k..m].iter_mut().zip(k..) {
        *o = dot_body(x, row(j));
    }
}

#[inline(always)]
fn dots_body(x: &[f64], rows: &[f64], d: usize, out: &mut [f64]) {
    let m = out.len().min(rows.len() / d);
    if m > 0 {
        dots_of(x, m, |k| &rows[k * d..(k + 1) * d], out);
    }
}

multiversion! {
    /// `out[k] = x · row k` of `rows` (row-major, `d` columns), bit-identical on every machine.
    pub(crate) fn dots(x: &[f64], rows: &[f64], d: usize, out: &mut [f64]) -> () = dots_body
}

#[inline(always)]
fn dots_at_body(x: &[f64], rows: &[f64], d: usize, idx: &[usize], out: &mut [f64]) {
    let m = out.len().min(idx.len());
    if m > 0 {
        dots_of(x, m, |k| &rows[idx[k] * d..(idx[k] + 1) * d], out);
    }
}

multiversion! {
    /// `out[k] = x · row idx[k]` of `rows`: the values [`dots`] gives those rows, bit for bit.
    pub(crate) fn dots_at(x: &[f64], rows: &[f64], d: usize, idx: &[usize], out: &mut [f64]) -> () = dots_at_body
}

#[inline(always)]
fn axpy_body(x: &mut [f64], a: f64, v: &[f64]) {
    for (xe, ve) in x.iter_mut().zip(v) {
        *xe += a * ve;
    }
}

multiversion! {
    /// `x += a · v`, element by element (a product, then a sum: the same bits at every width).
    pub(crate) fn axpy(x: &mut [f64], a: f64, v: &[f64]) -> () = axpy_body
}

/// Rows per parallel task of [`par_dots`]; smaller products run on the calling thread.
const PAR_ROWS: usize = 256;

/// [`dots`] split over the thread pool in blocks of [`PAR_ROWS`] rows when there are at least
/// two blocks: every value is computed exactly as [`dots`] computes it, so the result does not
/// depend on the number of threads. The oracle passes of the nearest-point iterations between
/// large clusters are the greedy's longest sequential stretches.
pub(crate) fn par_dots(x: &[f64], rows: &[f64], d: usize, out: &mut [f64]) {
    use rayon::prelude::*;
    if out.len() < 2 * PAR_ROWS || rayon::current_num_threads() < 2 {
        dots(x, rows, d, out);
        return;
    }
    out.par_chunks_mut(PAR_ROWS)
        .zip(rows.par_chunks(PAR_ROWS * d))
        .for_each(|(o, r)| dots(x, r, d, o));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The row-by-row definition: row `i` meets rows `i+1..` in groups of four, the last
    /// `(n − i − 1) mod 4` by a sequential dot; sums in row order.
    fn pairwise_reference(block: &[f64], d: usize) -> (f64, f64) {
        let n = block.len() / d;
        let (rows, norms) = centred_rows(block, d);
        let (mut sum, mut max) = (0.0f64, 0.0f64);
        for i in 0..n {
            let a = &rows[i * d..(i + 1) * d];
            let mut r = RowPairs::default();
            let mut j = i + 1;
            while j + 4 <= n {
                let b = |k: usize| &rows[k * d..(k + 1) * d];
                let dots = dots4_body(a, [b(j), b(j + 1), b(j + 2), b(j + 3)]);
                for (k, &dt) in dots.iter().enumerate() {
                    r.take(norms[i], norms[j + k], dt);
                }
                j += 4;
            }
            while j < n {
                let b = &rows[j * d..(j + 1) * d];
                r.take(
                    norms[i],
                    norms[j],
                    a.iter().zip(b).map(|(x, y)| x * y).sum(),
                );
                j += 1;
            }
            sum += r.sum;
            max = max.max(r.max);
        }
        (sum / (n * (n - 1) / 2) as f64, max)
    }

    #[test]
    fn tiled_pairs_are_bit_identical_to_the_row_by_row_definition() {
        let mut rng = crate::stats::Rng::new(3);
        for &(n, d) in &[
            (2, 5),
            (3, 8),
            (7, 13),
            (64, 16),
            (65, 384),
            (131, 9),
            (300, 40),
            (517, 24),
        ] {
            let block: Vec<f64> = (0..n * d).map(|_| rng.normal()).collect();
            let got = pairwise_mean_max(&block, d);
            let want = pairwise_reference(&block, d);
            assert_eq!(got.0.to_bits(), want.0.to_bits(), "mean, n {n}, d {d}");
            assert_eq!(got.1.to_bits(), want.1.to_bits(), "max, n {n}, d {d}");
        }
    }
}

/// Rows per tile of [`dots_block`]: 64 rows of 384 `f64` (192 KiB) stay in the L2 cache while
/// every quad of vectors meets them.
const BLOCK_TILE: usize = 64;

/// The dot products of four vectors `x` with four rows `r`, each summed exactly as
/// [`dot_body`] sums it (eight lanes over the chunks, the lanes added pairwise, then the tail).
#[inline(always)]
fn dots4x4_pairwise_body(x: [&[f64]; 4], r: [&[f64]; 4]) -> [[f64; 4]; 4] {
    const W: usize = 8;
    let mut acc = [[[0.0f64; W]; 4]; 4];
    let len = x[0].len();
    let n = len / W * W;
    for c in (0..n).step_by(W) {
        let mut xs = [[0.0f64; W]; 4];
        let mut ys = [[0.0f64; W]; 4];
        for k in 0..4 {
            xs[k].copy_from_slice(&x[k][c..c + W]);
            ys[k].copy_from_slice(&r[k][c..c + W]);
        }
        for (acc_i, xi) in acc.iter_mut().zip(&xs) {
            for (acc_k, yk) in acc_i.iter_mut().zip(&ys) {
                for l in 0..W {
                    acc_k[l] += xi[l] * yk[l];
                }
            }
        }
    }
    let mut out = [[0.0; 4]; 4];
    for i in 0..4 {
        for k in 0..4 {
            let a = &acc[i][k];
            let mut t = ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
            for c in n..len {
                t += x[i][c] * r[k][c];
            }
            out[i][k] = t;
        }
    }
    out
}

#[inline(always)]
fn dots_block_body(xs: &[f64], rows: &[f64], d: usize, out: &mut [f64]) {
    let (m, n) = (xs.len() / d, rows.len() / d);
    let x = |p: usize| &xs[p * d..(p + 1) * d];
    let row = |j: usize| &rows[j * d..(j + 1) * d];
    for t0 in (0..n).step_by(BLOCK_TILE) {
        let t1 = (t0 + BLOCK_TILE).min(n);
        let mut p = 0;
        while p + 4 <= m {
            let xq = [x(p), x(p + 1), x(p + 2), x(p + 3)];
            let mut j = t0;
            while j + 4 <= t1 {
                let v = dots4x4_pairwise_body(xq, [row(j), row(j + 1), row(j + 2), row(j + 3)]);
                for (i, vi) in v.iter().enumerate() {
                    out[(p + i) * n + j..(p + i) * n + j + 4].copy_from_slice(vi);
                }
                j += 4;
            }
            for jj in j..t1 {
                for (i, xi) in xq.iter().enumerate() {
                    out[(p + i) * n + jj] = dot_body(xi, row(jj));
                }
            }
            p += 4;
        }
        for pp in p..m {
            for jj in t0..t1 {
                out[pp * n + jj] = dot_body(x(pp), row(jj));
            }
        }
    }
}

multiversion! {
    /// `out[p·n + k] = x_p · row k` for the vectors `xs` (row-major, `d` columns) and the `n`
    /// rows of `rows`: every value bit-identical to [`dots`], computed in tiles of four vectors
    /// by four rows over cache-sized tiles of the rows, so the rows are read from memory once
    /// for all the vectors.
    pub(crate) fn dots_block(xs: &[f64], rows: &[f64], d: usize, out: &mut [f64]) -> () = dots_block_body
}

#[cfg(test)]
mod block_tests {
    use super::*;

    #[test]
    fn block_dots_are_bit_identical_to_dots() {
        let mut rng = crate::stats::Rng::new(11);
        for &(m, n, d) in &[
            (1, 1, 1),
            (3, 5, 7),
            (4, 4, 8),
            (5, 67, 13),
            (9, 131, 384),
            (16, 70, 31),
            (7, 3, 385),
        ] {
            let xs: Vec<f64> = (0..m * d).map(|_| rng.normal()).collect();
            let rows: Vec<f64> = (0..n * d).map(|_| rng.normal() * 1e3).collect();
            let mut got = vec![0.0; m * n];
            dots_block(&xs, &rows, d, &mut got);
            // `dots` (four rows at a time) against the row-by-row definition.
            let mut four = vec![0.0; n];
            dots(&xs[..d], &rows, d, &mut four);
            for (k, v) in four.iter().enumerate() {
                let want = dot_body(&xs[..d], &rows[k * d..(k + 1) * d]);
                assert_eq!(v.to_bits(), want.to_bits(), "dots, n {n} d {d}");
            }
            let mut want = vec![0.0; n];
            for p in 0..m {
                dots(&xs[p * d..(p + 1) * d], &rows, d, &mut want);
                for (k, w) in want.iter().enumerate() {
                    assert_eq!(got[p * n + k].to_bits(), w.to_bits(), "m {m} n {n} d {d}");
                }
            }
        }
    }
}
