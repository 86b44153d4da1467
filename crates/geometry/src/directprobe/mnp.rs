//! Wolfe's minimum-norm-point algorithm on the Minkowski difference conv(A) − conv(B).
//!
//! The iterate is x = Σ w_k (a_{i_k} − b_{j_k}) over a small "corral" of point pairs, so every
//! iterate carries explicit convex weights λ (on A) and μ (on B) with Aᵀλ − Bᵀμ = x. Each major
//! step queries the linear minimisation oracle min_a x·a − max_b x·b over all points, which
//! doubles as a separating-hyperplane check: when it is positive, the hyperplane normal x
//! separates the sets with a margin verified on every point.

/// Outcome of a minimum-norm-point run.
#[derive(Debug, Clone)]
pub(crate) enum Mnp {
    /// A hyperplane `w·p = offset` with `w·a ≥ offset + gap/2` on A and `≤ offset − gap/2` on B
    /// (|w| = 1), verified on all points; `upper` is ‖x‖ at that point (an upper bound on the
    /// distance) and `gap` a lower bound on it.
    Separated {
        w: Vec<f64>,
        offset: f64,
        gap: f64,
        upper: f64,
        /// The corral at that point: (index in A, index in B, convex weight); a warm start for
        /// a later run on supersets of A and B.
        corral: Corral,
    },
    /// Points of both hulls closer than the overlap tolerance: convex weights on A and B
    /// (index, weight) with ‖Aᵀλ − Bᵀμ‖ = `residual`.
    Touching {
        lambda: Vec<(usize, f64)>,
        mu: Vec<(usize, f64)>,
        residual: f64,
    },
    /// The iteration stopped without a decision (iteration cap or numerical stall), with bounds
    /// on the distance and the hyperplane (unit normal, offset) attaining `lower` when positive.
    Stalled {
        lower: f64,
        upper: f64,
        best: Option<(Vec<f64>, f64)>,
        /// Convex weights on A and B of the last iterate (a point of the Minkowski difference
        /// whose norm is at most `upper`), when the corral is not empty.
        near: Option<Weights>,
    },
}

/// Vertex pairs (index in A, index in B) of the Minkowski difference with convex weights.
pub(crate) type Corral = Vec<(usize, usize, f64)>;

/// Convex weights (index, weight) on A and on B.
pub(crate) type Weights = (Vec<(usize, f64)>, Vec<(usize, f64)>);

/// Settings for one run.
#[derive(Clone, Copy)]
pub(crate) struct MnpParams {
    /// Stop as soon as a separating hyperplane with margin > `sep_tol` is verified.
    pub stop_at_separation: bool,
    /// Residual at or below which the hulls are declared to touch (absolute).
    pub overlap_tol: f64,
    /// Margin above which a hyperplane counts as separating (absolute).
    pub sep_tol: f64,
    /// Relative duality gap at which a distance is considered converged.
    pub rel_gap: f64,
    /// Major-iteration cap.
    pub max_iter: usize,
}

pub(crate) use super::kernels::dot;
use super::kernels::{axpy, par_dots};

/// Squared norm of the affine minimiser, relative to ‖v_0‖², below which it is refined.
const REFINE_BELOW: f64 = 1e-8;

/// Cholesky factorisation in place (lower triangle, row-major n×n); false if not positive
/// definite within a relative pivot threshold.
pub(crate) fn cholesky(m: &mut [f64], n: usize) -> bool {
    let maxd = (0..n).map(|i| m[i * n + i]).fold(0.0f64, f64::max);
    for j in 0..n {
        let mut s = m[j * n + j];
        for k in 0..j {
            s -= m[j * n + k] * m[j * n + k];
        }
        if s <= 1e-13 * maxd.max(f64::MIN_POSITIVE) {
            return false;
        }
        let l = s.sqrt();
        m[j * n + j] = l;
        for i in j + 1..n {
            let mut t = m[i * n + j];
            for k in 0..j {
                t -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = t / l;
        }
    }
    true
}

pub(crate) fn chol_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= l[i * n + k] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= l[k * n + i] * b[k];
        }
        b[i] = s / l[i * n + i];
    }
}

/// Incrementally maintained Cholesky factor of the shifted Gram matrix's trailing block
/// `m[k][l] = h[k+1][l+1]` (see [`affine_min`]): a vertex added to the corral appends one row
/// (`O(s²)`); a removal deletes its row by Givens rotations ([`Chol::retain`]).
struct Chol {
    /// Lower-triangular rows; row `k` holds `k + 1` entries. `None`: to be rebuilt.
    rows: Option<Vec<Vec<f64>>>,
    maxd: f64,
}

impl Chol {
    fn new() -> Self {
        Self {
            rows: Some(Vec::new()),
            maxd: 0.0,
        }
    }

    /// Follows the corral to the vertices marked in `keep` (index 0 is the base vertex, row
    /// `k` of the factor belongs to vertex `k + 1`). Dropping the base changes every shifted
    /// entry, so the factor is rebuilt; any other vertex is deleted from the factor in `O(s²)`
    /// by Givens rotations (rather than refactoring the rows after it in `O(s³)`).
    fn retain(&mut self, keep: &[bool]) {
        if !keep[0] {
            self.rows = None;
            return;
        }
        let Some(rows) = &mut self.rows else {
            return;
        };
        for r in (1..keep.len()).rev().filter(|&r| !keep[r]) {
            let r = r - 1;
            if r >= rows.len() {
                continue;
            }
            rows.remove(r);
            // Rows r.. now carry one entry past the diagonal: rotate columns (k, k + 1) to zero
            // it, row by row, keeping the diagonal positive.
            for k in r..rows.len() {
                let (a, b) = (rows[k][k], rows[k][k + 1]);
                let h = a.hypot(b);
                if h == 0.0 {
                    self.rows = None;
                    return;
                }
                let (c, s) = (a / h, b / h);
                for row in rows[k..].iter_mut() {
                    let (x, y) = (row[k], row[k + 1]);
                    row[k] = c * x + s * y;
                    row[k + 1] = c * y - s * x;
                }
                rows[k].truncate(k + 1);
            }
        }
    }

    /// Brings the factor to the `n = s − 1` rows of `h` (s×s); false if not positive definite
    /// within a relative pivot threshold.
    fn update(&mut self, h: &Gram, s: usize) -> bool {
        let n = s - 1;
        let rows = self.rows.get_or_insert_with(Vec::new);
        if rows.len() > n {
            rows.clear();
        }
        if rows.is_empty() {
            self.maxd = (1..s).map(|k| h[k][k]).fold(0.0f64, f64::max);
        }
        while rows.len() < n {
            let k = rows.len();
            let mut row = Vec::with_capacity(k + 1);
            for j in 0..k {
                let t = h[k + 1][j + 1] - dot(&row, &rows[j][..j]);
                row.push(t / rows[j][j]);
            }
            let dk = h[k + 1][k + 1];
            self.maxd = self.maxd.max(dk);
            let piv = dk - dot(&row, &row);
            if piv <= 1e-13 * self.maxd.max(f64::MIN_POSITIVE) {
                self.rows = None;
                return false;
            }
            row.push(piv.sqrt());
            rows.push(row);
        }
        true
    }

    fn solve(&self, b: &mut [f64]) {
        let l = self.rows.as_ref().expect("factor is current");
        let n = b.len();
        for i in 0..n {
            b[i] = (b[i] - dot(&l[i][..i], &b[..i])) / l[i][i];
        }
        // Lᵀ y = b by columns of Lᵀ (rows of L), so the inner loop runs along contiguous rows.
        for i in (0..n).rev() {
            b[i] /= l[i][i];
            let (head, tail) = b.split_at_mut(i);
            // x − v·bᵢ, written as x + (−bᵢ)·v (the same bits).
            axpy(head, -tail[0], &l[i][..i]);
        }
    }
}

/// Affine minimiser of ‖Σ α_k v_k‖ with Σ α_k = 1. `h` (s×s) is the shifted Gram matrix:
/// `h[k][l] = Δ_k·Δ_l` for k, l ≥ 1 and `h[k][0] = Δ_k·v_0`, with Δ_k = v_k − v_0 computed
/// explicitly (no cancellation between large Gram entries). `chol` is the factor of its
/// trailing block, brought up to date here.
///
/// The normal equations square the condition number of the corral, which loses a minimiser
/// whose norm is below about 1e-4 of the vertices' norms (nearly touching hulls). There one step
/// of iterative refinement (corrected semi-normal equations: the residual and its gradient
/// recomputed from the explicit vectors `v_0` and `Δ_k`, solved with the same factor) restores
/// the accuracy of a QR solve.
fn affine_min(
    h: &Gram,
    s: usize,
    chol: &mut Chol,
    vecs: &[Vec<f64>],
    deltas: &[Vec<f64>],
) -> Option<Vec<f64>> {
    if s == 1 {
        return Some(vec![1.0]);
    }
    if !chol.update(h, s) {
        return None;
    }
    let mut rhs: Vec<f64> = (1..s).map(|k| -h[k][0]).collect();
    chol.solve(&mut rhs);
    let mut r = vecs[0].clone();
    for (ak, dk) in rhs.iter().zip(&deltas[1..]) {
        axpy(&mut r, *ak, dk);
    }
    if dot(&r, &r) < REFINE_BELOW * h[0][0] {
        let mut g: Vec<f64> = deltas[1..].iter().map(|dk| dot(dk, &r)).collect();
        chol.solve(&mut g);
        rhs.iter_mut().zip(&g).for_each(|(a, c)| *a -= c);
    }
    let mut alpha = Vec::with_capacity(s);
    alpha.push(1.0 - rhs.iter().sum::<f64>());
    alpha.extend_from_slice(&rhs);
    Some(alpha)
}

/// The shifted Gram matrix (see [`affine_min`]), symmetric, by rows of its lower triangle: row
/// `k` holds `h[k][0..=k]`, so a new vertex appends one row instead of copying the matrix.
type Gram = Vec<Vec<f64>>;

/// Shifted Gram matrix (see [`affine_min`]) and the differences Δ_k, from scratch.
fn shifted_gram(vecs: &[Vec<f64>]) -> (Vec<Vec<f64>>, Gram) {
    let s = vecs.len();
    let deltas: Vec<Vec<f64>> = vecs
        .iter()
        .map(|v| v.iter().zip(&vecs[0]).map(|(x, y)| x - y).collect())
        .collect();
    let mut h: Gram = Vec::with_capacity(s);
    h.push(vec![dot(&vecs[0], &vecs[0])]);
    for k in 1..s {
        let mut row = Vec::with_capacity(k + 1);
        row.push(dot(&deltas[k], &vecs[0]));
        row.extend((1..=k).map(|l| dot(&deltas[k], &deltas[l])));
        h.push(row);
    }
    (deltas, h)
}

/// Runs Wolfe's algorithm for conv(A) − conv(B); `a` and `b` are row-major with `d` columns
/// (ideally centred on the pair's centroid, for accuracy). The first vertex pair is the one
/// extreme along `start` (a guess of the A-minus-B direction), or along the centroid difference.
pub(crate) fn min_norm_point(
    a: &[f64],
    b: &[f64],
    d: usize,
    p: &MnpParams,
    start: Option<&[f64]>,
) -> Mnp {
    min_norm_point_from(a, b, d, p, start, &mut Vec::new())
}

/// [`min_norm_point`] that starts from the corral `warm` (vertex pairs and convex weights, e.g.
/// the last corral of a run on subsets of the same sets) when it is not empty, and leaves the
/// corral of its last completed major iteration there.
pub(super) fn min_norm_point_from(
    a: &[f64],
    b: &[f64],
    d: usize,
    p: &MnpParams,
    start: Option<&[f64]>,
    warm: &mut Vec<(usize, usize, f64)>,
) -> Mnp {
    let (a_flat, b_flat) = (a, b);
    let a: Vec<&[f64]> = a.chunks_exact(d).collect();
    let b: Vec<&[f64]> = b.chunks_exact(d).collect();
    let dir = match start {
        Some(s) => s.to_vec(),
        None => centroid_difference(&a, &b, d),
    };
    let mut ga = vec![0.0; a.len()];
    let mut gb = vec![0.0; b.len()];
    par_dots(&dir, a_flat, d, &mut ga);
    par_dots(&dir, b_flat, d, &mut gb);
    let (i0, amin) = argmin(ga.iter().copied());
    let (j0, bmax) = argmax(gb.iter().copied());
    // The starting direction itself may already separate the sets.
    let nd = dot(&dir, &dir).sqrt();
    if p.stop_at_separation && nd > 0.0 && (amin - bmax) / nd > p.sep_tol {
        return Mnp::Separated {
            w: dir.iter().map(|v| v / nd).collect(),
            offset: (amin + bmax) / (2.0 * nd),
            gap: (amin - bmax) / nd,
            upper: f64::INFINITY,
            corral: if warm.is_empty() {
                vec![(i0, j0, 1.0)]
            } else {
                warm.clone()
            },
        };
    }
    let diff =
        |i: usize, j: usize| -> Vec<f64> { a[i].iter().zip(b[j]).map(|(x, y)| x - y).collect() };
    let mut corral: Vec<(usize, usize)> = vec![(i0, j0)];
    let mut vecs: Vec<Vec<f64>> = vec![diff(i0, j0)];
    let mut gram: Gram = vec![vec![dot(&vecs[0], &vecs[0])]];
    let mut deltas: Vec<Vec<f64>> = vec![vec![0.0; d]];
    let mut w: Vec<f64> = vec![1.0];
    let mut chol = Chol::new();
    if !warm.is_empty() {
        let tot: f64 = warm.iter().map(|e| e.2).sum();
        corral = warm.iter().map(|e| (e.0, e.1)).collect();
        w = warm.iter().map(|e| e.2 / tot).collect();
        vecs = corral.iter().map(|&(i, j)| diff(i, j)).collect();
        (deltas, gram) = shifted_gram(&vecs);
    }
    let mut x = vec![0.0; d];
    for (wk, v) in w.iter().zip(&vecs) {
        axpy(&mut x, *wk, v);
    }
    let mut lower = 0.0f64;
    let mut upper = f64::INFINITY;
    let mut best: Option<(Vec<f64>, f64)> = None;
    for _ in 0..p.max_iter {
        let xx = dot(&x, &x);
        if xx.sqrt() <= p.overlap_tol {
            return touching(&corral, &w, xx.sqrt());
        }
        par_dots(&x, a_flat, d, &mut ga);
        par_dots(&x, b_flat, d, &mut gb);
        let (i, amin) = argmin(ga.iter().copied());
        let (j, bmax) = argmax(gb.iter().copied());
        let lo = amin - bmax;
        let nx = xx.sqrt();
        let gap = lo / nx;
        let converged = xx - lo <= p.rel_gap * xx;
        if gap > p.sep_tol && (p.stop_at_separation || converged) {
            return Mnp::Separated {
                w: x.iter().map(|v| v / nx).collect(),
                offset: (amin + bmax) / (2.0 * nx),
                gap,
                upper: nx,
                corral: corral
                    .iter()
                    .zip(&w)
                    .map(|(&(i, j), &wk)| (i, j, wk))
                    .collect(),
            };
        }
        if gap > lower {
            lower = gap;
            best = Some((
                x.iter().map(|v| v / nx).collect(),
                (amin + bmax) / (2.0 * nx),
            ));
        }
        upper = nx;
        if converged || corral.contains(&(i, j)) {
            // Converged at a point farther than the overlap tolerance but the margin does not
            // clear the separation tolerance: undecided here.
            return Mnp::Stalled {
                lower,
                upper,
                best,
                near: Some(weights_of(&corral, &w)),
            };
        }
        // Add the new vertex and run the minor cycle.
        let v = diff(i, j);
        let dv: Vec<f64> = v.iter().zip(&vecs[0]).map(|(x, y)| x - y).collect();
        let s = corral.len();
        let mut row = Vec::with_capacity(s + 1);
        row.push(dot(&dv, &vecs[0]));
        row.extend((1..s).map(|r| dot(&deltas[r], &dv)));
        row.push(dot(&dv, &dv));
        gram.push(row);
        corral.push((i, j));
        vecs.push(v);
        deltas.push(dv);
        w.push(0.0);
        loop {
            let s = corral.len();
            let Some(alpha) = affine_min(&gram, s, &mut chol, &vecs, &deltas) else {
                return Mnp::Stalled {
                    lower,
                    upper,
                    best,
                    near: Some(weights_of(&corral, &w)),
                };
            };
            if alpha.iter().all(|&al| al > 1e-12) {
                w = alpha;
                break;
            }
            let mut theta = 1.0f64;
            for (wk, ak) in w.iter().zip(&alpha) {
                if *ak <= 1e-12 {
                    let t = wk / (wk - ak);
                    if t < theta {
                        theta = t;
                    }
                }
            }
            for (wk, ak) in w.iter_mut().zip(&alpha) {
                *wk += theta * (ak - *wk);
            }
            // Drop vanished vertices (at least the one that hit zero). The factor keeps the
            // rows before the first dropped vertex.
            let mut keep: Vec<bool> = w.iter().map(|&wk| wk > 1e-14).collect();
            if keep.iter().all(|&k| k) {
                let (kmin, _) = argmin(w.iter().copied());
                keep[kmin] = false;
            }
            chol.retain(&keep);
            compact(
                &keep,
                &mut w,
                &mut corral,
                &mut vecs,
                &mut deltas,
                &mut gram,
            );
            if corral.is_empty() {
                return Mnp::Stalled {
                    lower,
                    upper,
                    best,
                    near: None,
                };
            }
            let tot: f64 = w.iter().sum();
            for wk in w.iter_mut() {
                *wk /= tot;
            }
        }
        x.iter_mut().for_each(|v| *v = 0.0);
        for (wk, v) in w.iter().zip(&vecs) {
            axpy(&mut x, *wk, v);
        }
        warm.clear();
        warm.extend(corral.iter().zip(&w).map(|(&(i, j), &wk)| (i, j, wk)));
    }
    Mnp::Stalled {
        lower,
        upper,
        best,
        near: Some(weights_of(&corral, &w)),
    }
}

/// Keeps the marked corral vertices (in place); rebuilds the shifted Gram matrix when the base
/// vertex goes.
fn compact(
    keep: &[bool],
    w: &mut Vec<f64>,
    corral: &mut Vec<(usize, usize)>,
    vecs: &mut Vec<Vec<f64>>,
    deltas: &mut Vec<Vec<f64>>,
    gram: &mut Gram,
) {
    fn retain_marked<T>(v: &mut Vec<T>, keep: &[bool]) {
        let mut k = 0;
        v.retain(|_| {
            k += 1;
            keep[k - 1]
        });
    }
    retain_marked(w, keep);
    retain_marked(corral, keep);
    retain_marked(vecs, keep);
    if vecs.is_empty() {
        deltas.clear();
        gram.clear();
    } else if keep[0] {
        retain_marked(gram, keep);
        for row in gram.iter_mut() {
            retain_marked(row, keep);
        }
        retain_marked(deltas, keep);
    } else {
        let (dl, g) = shifted_gram(vecs);
        *deltas = dl;
        *gram = g;
    }
}

fn touching(corral: &[(usize, usize)], w: &[f64], residual: f64) -> Mnp {
    let (lambda, mu) = weights_of(corral, w);
    Mnp::Touching {
        lambda,
        mu,
        residual,
    }
}

/// The convex weights on A and B of the iterate Σ w_k (a_{i_k} − b_{j_k}).
fn weights_of(corral: &[(usize, usize)], w: &[f64]) -> Weights {
    let mut lambda: Vec<(usize, f64)> = Vec::new();
    let mut mu: Vec<(usize, f64)> = Vec::new();
    for (&(i, j), &wk) in corral.iter().zip(w) {
        add_weight(&mut lambda, i, wk);
        add_weight(&mut mu, j, wk);
    }
    lambda.sort_by_key(|e| e.0);
    mu.sort_by_key(|e| e.0);
    (lambda, mu)
}

/// The convex weights on A and B that a corral of vertex pairs puts on each point.
pub(super) fn marginals(corral: &[(usize, usize, f64)]) -> Weights {
    let pairs: Vec<(usize, usize)> = corral.iter().map(|e| (e.0, e.1)).collect();
    let w: Vec<f64> = corral.iter().map(|e| e.2).collect();
    weights_of(&pairs, &w)
}

fn add_weight(v: &mut Vec<(usize, f64)>, i: usize, w: f64) {
    match v.iter_mut().find(|e| e.0 == i) {
        Some(e) => e.1 += w,
        None => v.push((i, w)),
    }
}

pub(super) fn argmin(it: impl Iterator<Item = f64>) -> (usize, f64) {
    let mut best = (0, f64::INFINITY);
    for (i, v) in it.enumerate() {
        if v < best.1 {
            best = (i, v);
        }
    }
    best
}

pub(super) fn argmax(it: impl Iterator<Item = f64>) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in it.enumerate() {
        if v > best.1 {
            best = (i, v);
        }
    }
    best
}

/// Sets with more points than this in total are solved through working sets.
pub(super) const WS_MIN_POINTS: usize = 512;
/// Initial working-set size per side.
pub(super) const WS_INIT: usize = 64;
/// Violators added per side and round.
pub(super) const WS_ADD: usize = 64;

/// [`min_norm_point`] for large sets by column generation: Wolfe's algorithm runs on working
/// subsets of A and B; one full pass of the linear minimisation oracle then verifies the answer
/// on every point, or adds the most violating points and repeats. Certificates keep their
/// meaning: weights index the full `a` and `b`, hyperplanes and bounds are verified on all points.
/// A non-empty `seed` (a corral of an earlier run on subsets of A and B, in indices of `a` and
/// `b`) is the starting iterate.
pub(crate) fn min_norm_point_ws(
    a: &[f64],
    b: &[f64],
    d: usize,
    p: &MnpParams,
    start: Option<&[f64]>,
    max_rounds: usize,
    seed: &[(usize, usize, f64)],
) -> Mnp {
    let (na, nb) = (a.len() / d, b.len() / d);
    if na + nb <= WS_MIN_POINTS {
        return min_norm_point_from(a, b, d, p, start, &mut seed.to_vec());
    }
    let dir = match start {
        Some(s) => s.to_vec(),
        None => {
            let ar: Vec<&[f64]> = a.chunks_exact(d).collect();
            let br: Vec<&[f64]> = b.chunks_exact(d).collect();
            centroid_difference(&ar, &br, d)
        }
    };
    let mut run = WsRun::new(*p, dir, na, nb, max_rounds, seed);
    let (mut ga, mut gb) = (vec![0.0; na], vec![0.0; nb]);
    loop {
        par_dots(run.dir(), a, d, &mut ga);
        par_dots(run.dir(), b, d, &mut gb);
        if let Some(end) = run.step(a, b, d, &ga, &gb) {
            return end;
        }
    }
}

/// [`min_norm_point_ws`] as a run paused before each full oracle pass along [`WsRun::dir`]:
/// the caller makes the pass (so that batched prediction can make the passes of many runs as
/// one tiled product) and hands its values to [`WsRun::step`].
pub(super) struct WsRun {
    params: MnpParams,
    max_rounds: usize,
    /// Subproblems solved so far.
    rounds: usize,
    /// Direction of the pending pass: the start first, then the subproblem's unit normal.
    dir: Vec<f64>,
    /// Whether the first pass has been taken.
    started: bool,
    in_a: Vec<bool>,
    wa: Vec<usize>,
    in_b: Vec<bool>,
    wb: Vec<usize>,
    /// The subproblem's last corral, in working-set positions (the sets only grow, so
    /// positions stay valid): each round resumes from it.
    warm: Corral,
    lower: f64,
    upper: f64,
    best: Option<(Vec<f64>, f64)>,
    sub_separated: bool,
    sub_near: Option<Weights>,
}

impl WsRun {
    /// A run on sets of `na` and `nb` points from direction `dir`, starting from the corral
    /// `seed` (indices of the whole sets) when it is not empty.
    pub(super) fn new(
        params: MnpParams,
        dir: Vec<f64>,
        na: usize,
        nb: usize,
        max_rounds: usize,
        seed: &[(usize, usize, f64)],
    ) -> Self {
        let mut run = Self {
            params,
            max_rounds,
            rounds: 0,
            dir,
            started: false,
            in_a: vec![false; na],
            wa: Vec::new(),
            in_b: vec![false; nb],
            wb: Vec::new(),
            warm: Vec::with_capacity(seed.len()),
            lower: 0.0,
            upper: f64::INFINITY,
            best: None,
            sub_separated: false,
            sub_near: None,
        };
        let pos = |v: usize, member: &mut [bool], set: &mut Vec<usize>| {
            if !member[v] {
                member[v] = true;
                set.push(v);
            }
            set.iter().position(|&e| e == v).expect("just added")
        };
        for &(i, j, x) in seed {
            let pi = pos(i, &mut run.in_a, &mut run.wa);
            let pj = pos(j, &mut run.in_b, &mut run.wb);
            run.warm.push((pi, pj, x));
        }
        run
    }

    /// The direction of the pending full pass.
    pub(super) fn dir(&self) -> &[f64] {
        &self.dir
    }

    /// The run's settings.
    pub(super) fn params(&self) -> &MnpParams {
        &self.params
    }

    /// Takes the pending pass (`ga`, `gb`: the products of the rows of `a` and `b` with
    /// [`WsRun::dir`]) and runs until the next pass is needed (`None`) or the run ends.
    pub(super) fn step(
        &mut self,
        a: &[f64],
        b: &[f64],
        d: usize,
        ga: &[f64],
        gb: &[f64],
    ) -> Option<Mnp> {
        if !self.started {
            self.started = true;
            add_extreme(
                ga,
                &mut self.in_a,
                &mut self.wa,
                WS_INIT,
                false,
                f64::INFINITY,
            );
            add_extreme(
                gb,
                &mut self.in_b,
                &mut self.wb,
                WS_INIT,
                true,
                f64::NEG_INFINITY,
            );
        } else if let Some(end) = self.after_pass(ga, gb) {
            return Some(end);
        }
        self.subproblem(a, b, d)
    }

    /// The checks of a round after its full pass along the subproblem's normal.
    fn after_pass(&mut self, ga: &[f64], gb: &[f64]) -> Option<Mnp> {
        let p = &self.params;
        let (_, amin) = argmin(ga.iter().copied());
        let (_, bmax) = argmax(gb.iter().copied());
        let gap = amin - bmax;
        if gap > self.lower {
            self.lower = gap;
            self.best = Some((self.dir.clone(), (amin + bmax) / 2.0));
        }
        let upper = self.upper;
        let converged = upper.is_finite() && upper - gap <= p.rel_gap * upper;
        if gap > p.sep_tol && (p.stop_at_separation || converged) {
            return Some(self.separated(amin, bmax, gap));
        }
        // Points beyond the working sets' support values along the normal violate the
        // subproblem's optimality for the whole sets.
        let sa_min = self.wa.iter().map(|&i| ga[i]).fold(f64::INFINITY, f64::min);
        let sb_max = self
            .wb
            .iter()
            .map(|&j| gb[j])
            .fold(f64::NEG_INFINITY, f64::max);
        let tol = 1e-12 * upper.max(p.sep_tol);
        let added = add_extreme(
            ga,
            &mut self.in_a,
            &mut self.wa,
            WS_ADD,
            false,
            sa_min - tol,
        ) + add_extreme(gb, &mut self.in_b, &mut self.wb, WS_ADD, true, sb_max + tol);
        // No point beyond the working sets: the subproblem's answer holds for the whole sets.
        if added == 0 && self.sub_separated && gap > p.sep_tol {
            return Some(self.separated(amin, bmax, gap));
        }
        if added == 0 || converged || self.rounds >= self.max_rounds {
            return Some(Mnp::Stalled {
                lower: self.lower,
                upper,
                best: self.best.take(),
                near: self.sub_near.take(),
            });
        }
        None
    }

    /// The outcome when the pass along the normal (extremes `amin` on A, `bmax` on B)
    /// certifies the hyperplane.
    fn separated(&self, amin: f64, bmax: f64, gap: f64) -> Mnp {
        Mnp::Separated {
            offset: (amin + bmax) / 2.0,
            w: self.dir.clone(),
            gap,
            upper: self.upper,
            corral: self
                .warm
                .iter()
                .map(|&(i, j, x)| (self.wa[i], self.wb[j], x))
                .collect(),
        }
    }

    /// Wolfe's algorithm on the working sets from the current direction; sets the direction
    /// of the next pass, or returns the run's outcome.
    fn subproblem(&mut self, a: &[f64], b: &[f64], d: usize) -> Option<Mnp> {
        let gather = |set: &[usize], src: &[f64]| {
            let mut out = Vec::with_capacity(set.len() * d);
            set.iter()
                .for_each(|&i| out.extend_from_slice(&src[i * d..(i + 1) * d]));
            out
        };
        let (sa, sb) = (gather(&self.wa, a), gather(&self.wb, b));
        let sub = min_norm_point_from(&sa, &sb, d, &self.params, Some(&self.dir), &mut self.warm);
        self.rounds += 1;
        self.sub_separated = matches!(sub, Mnp::Separated { .. });
        self.sub_near = None;
        let (w, sub_upper) = match sub {
            // Points of subsets: a certificate for the whole sets.
            Mnp::Touching {
                lambda,
                mu,
                residual,
            } => {
                let (lambda, mu) = remap(lambda, mu, &self.wa, &self.wb);
                return Some(Mnp::Touching {
                    lambda,
                    mu,
                    residual,
                });
            }
            Mnp::Separated { w, upper, .. } => (w, upper),
            Mnp::Stalled {
                upper: u,
                best: Some((w, _)),
                near,
                ..
            } => {
                self.sub_near = near.map(|(l, m)| remap(l, m, &self.wa, &self.wb));
                (w, u)
            }
            Mnp::Stalled { upper: u, near, .. } => {
                return Some(Mnp::Stalled {
                    lower: self.lower,
                    upper: self.upper.min(u),
                    best: self.best.take(),
                    near: near.map(|(l, m)| remap(l, m, &self.wa, &self.wb)),
                });
            }
        };
        self.upper = self.upper.min(sub_upper);
        self.dir = w;
        None
    }
}

/// Weights on working-set positions mapped back to rows of the whole sets.
pub(super) fn remap(
    lambda: Vec<(usize, f64)>,
    mu: Vec<(usize, f64)>,
    wa: &[usize],
    wb: &[usize],
) -> Weights {
    let mut lambda: Vec<(usize, f64)> = lambda.into_iter().map(|(i, x)| (wa[i], x)).collect();
    let mut mu: Vec<(usize, f64)> = mu.into_iter().map(|(j, x)| (wb[j], x)).collect();
    lambda.sort_by_key(|e| e.0);
    mu.sort_by_key(|e| e.0);
    (lambda, mu)
}

/// The centroid of `a` minus the centroid of `b`.
pub(crate) fn centroid_difference(a: &[&[f64]], b: &[&[f64]], d: usize) -> Vec<f64> {
    let mean = |rows: &[&[f64]]| {
        let mut m = vec![0.0; d];
        for r in rows {
            m.iter_mut().zip(r.iter()).for_each(|(x, v)| *x += v);
        }
        let inv = 1.0 / rows.len() as f64;
        m.iter_mut().for_each(|x| *x *= inv);
        m
    };
    let (ma, mb) = (mean(a), mean(b));
    ma.iter().zip(&mb).map(|(x, y)| x - y).collect()
}

/// Adds to the working set up to `k` points not yet in it, the smallest values of `g` below
/// `bound` (or, with `largest`, the largest above it); returns how many were added.
pub(super) fn add_extreme(
    g: &[f64],
    member: &mut [bool],
    set: &mut Vec<usize>,
    k: usize,
    largest: bool,
    bound: f64,
) -> usize {
    let mut cand: Vec<usize> = (0..g.len())
        .filter(|&i| !member[i] && if largest { g[i] > bound } else { g[i] < bound })
        .collect();
    let key = |i: &usize| if largest { -g[*i] } else { g[*i] };
    if cand.len() > k {
        cand.select_nth_unstable_by(k, |x, y| key(x).total_cmp(&key(y)).then(x.cmp(y)));
        cand.truncate(k);
    }
    cand.sort_unstable();
    for &i in &cand {
        member[i] = true;
        set.push(i);
    }
    cand.len()
}
