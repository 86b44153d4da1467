//! Nearest points of two nearly touching hulls by a primal active-set method on the weights.
//!
//! Wolfe's iteration ([`super::mnp`]) works on vertex *pairs* a_i − b_j of the Minkowski
//! difference and solves its affine minimiser from their Gram matrix. Where the nearest faces
//! of two hulls together span nearly the whole space (real encoder spaces: 243 + 141 support
//! points in 383 dimensions), a corral of pairs acquires cycles (a₁ − b₁, a₁ − b₂, a₂ − b₁,
//! a₂ − b₂ are affinely dependent) and the squared condition number of the Gram matrix loses the
//! minimiser: the iteration stalls with bounds far apart.
//!
//! Here the unknowns are the weights λ on A and μ on B themselves. On a support S_A, S_B with
//! base vertices a₀, b₀ the affine minimiser solves the least-squares problem
//! min ‖(a₀ − b₀) + Σ α_k (a_k − a₀) − Σ β_l (b_l − b₀)‖ by a QR factorisation of the difference
//! columns (Gram–Schmidt twice, updated when a vertex enters or leaves; no squaring of the
//! condition number), plus one step of iterative refinement. The outer loop is Wolfe's: the
//! most violating point of either set enters, the minor cycle steps back to feasibility and
//! drops vertices whose weight vanishes. Every bound is certified as in [`super::mnp`]: the
//! upper bound is ‖Aᵀλ − Bᵀμ‖ for convex weights, the lower bound the margin of the hyperplane
//! normal to that point, verified on every point.

use super::kernels::{axpy, dot, dots, dots_at, par_dots};
use super::mnp::{add_extreme, Weights, WS_ADD, WS_MIN_POINTS};

/// A difference column whose component orthogonal to the factor's columns is below this
/// fraction of its norm is dependent on them (numerically in their span).
const DEPENDENT: f64 = 1e-14;

/// Outcome of [`polish`]: certified bounds lower ≤ distance ≤ upper (`upper` realised by
/// the convex weights `weights` on A and B, `lower` the margin of a hyperplane verified on every
/// point).
#[derive(Debug, Clone)]
pub(crate) struct Polished {
    pub lower: f64,
    pub upper: f64,
    pub weights: Weights,
}

/// Which set a support vertex belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    A,
    B,
}

/// Thin QR factor of the difference columns: `q` holds the orthonormal columns as rows of a
/// row-major block (`d` long each), `r[c]` the upper-triangular column c (length c + 1).
struct Qr {
    d: usize,
    q: Vec<f64>,
    r: Vec<Vec<f64>>,
}

impl Qr {
    fn new(d: usize) -> Self {
        Self {
            d,
            q: Vec::new(),
            r: Vec::new(),
        }
    }

    /// Orthonormal column `c`.
    fn col(&self, c: usize) -> &[f64] {
        &self.q[c * self.d..(c + 1) * self.d]
    }

    /// Appends column `v` by classical Gram–Schmidt applied twice (each pass one product with
    /// the whole factor); false (and nothing changed) if `v` is numerically in the span of the
    /// current columns.
    fn push(&mut self, v: &[f64]) -> bool {
        let norm = dot(v, v).sqrt();
        let m = self.r.len();
        let mut w = v.to_vec();
        let mut coef = vec![0.0; m];
        let mut t = vec![0.0; m];
        for _ in 0..2 {
            dots(&w, &self.q, self.d, &mut t);
            for (c, &tc) in t.iter().enumerate() {
                coef[c] += tc;
                axpy(&mut w, -tc, self.col(c));
            }
        }
        let rho = dot(&w, &w).sqrt();
        if rho.is_nan() || rho <= DEPENDENT * norm {
            return false;
        }
        w.iter_mut().for_each(|x| *x /= rho);
        coef.push(rho);
        self.q.extend_from_slice(&w);
        self.r.push(coef);
        true
    }

    /// Factors the longest prefix of `cols` whose columns are independent (each keeps more than
    /// [`DEPENDENT`] of its norm outside the span of the earlier ones) into an empty factor by
    /// blocked Householder reflections (`O(k²d)` in matrix products, where one column at a time
    /// is matrix–vector products); returns its length.
    fn factor_prefix(&mut self, cols: &[Vec<f64>]) -> usize {
        use faer::linalg::householder as hh;
        use faer::linalg::qr::no_pivoting::factor as qr;
        use faer::{dyn_stack::MemBuffer, dyn_stack::MemStack, Conj, Mat, Par};
        debug_assert!(self.r.is_empty());
        let (d, n) = (self.d, cols.len().min(self.d));
        if n == 0 {
            return 0;
        }
        let mut a = Mat::<f64>::from_fn(d, n, |r, c| cols[c][r]);
        let bs = qr::recommended_blocksize::<f64>(d, n);
        let mut coeff = Mat::<f64>::zeros(bs, n);
        let mut mem = MemBuffer::new(qr::qr_in_place_scratch::<f64>(
            d,
            n,
            bs,
            Par::Seq,
            Default::default(),
        ));
        qr::qr_in_place(
            a.as_mut(),
            coeff.as_mut(),
            Par::Seq,
            MemStack::new(&mut mem),
            Default::default(),
        );
        let k = (0..n)
            .find(|&c| {
                let rho = a[(c, c)].abs();
                rho.is_nan() || rho <= DEPENDENT * dot(&cols[c], &cols[c]).sqrt()
            })
            .unwrap_or(n);
        if k == 0 {
            return 0;
        }
        // The first k columns of Q: reflectors after the k-th leave them unchanged.
        let mut q = Mat::<f64>::from_fn(d, n, |r, c| if r == c { 1.0 } else { 0.0 });
        let mut mem = MemBuffer::new(
            hh::apply_block_householder_sequence_on_the_left_in_place_scratch::<f64>(d, bs, n),
        );
        hh::apply_block_householder_sequence_on_the_left_in_place_with_conj(
            a.as_ref(),
            coeff.as_ref(),
            Conj::No,
            q.as_mut(),
            Par::Seq,
            MemStack::new(&mut mem),
        );
        self.q = Vec::with_capacity(d * d);
        for c in 0..k {
            self.q.extend((0..d).map(|r| q[(r, c)]));
            self.r.push((0..=c).map(|m| a[(m, c)]).collect());
        }
        k
    }

    /// Deletes column `j`, restoring the triangular form by Givens rotations (`O(k² + dk)`).
    fn remove(&mut self, j: usize) {
        let d = self.d;
        self.r.remove(j);
        let m = self.r.len();
        for i in j..m {
            let (x, y) = (self.r[i][i], self.r[i][i + 1]);
            let h = x.hypot(y);
            let (cs, sn) = if h == 0.0 { (1.0, 0.0) } else { (x / h, y / h) };
            for col in self.r[i..].iter_mut() {
                let (u, v) = (col[i], col[i + 1]);
                col[i] = cs * u + sn * v;
                col[i + 1] = cs * v - sn * u;
            }
            self.r[i].truncate(i + 1);
            let (lo, hi) = self.q.split_at_mut((i + 1) * d);
            for (u, v) in lo[i * d..].iter_mut().zip(hi[..d].iter_mut()) {
                let (a, b) = (*u, *v);
                *u = cs * a + sn * b;
                *v = cs * b - sn * a;
            }
        }
        self.q.truncate(m * d);
    }

    /// Least-squares coefficients γ minimising ‖e + Σ γ_c D_c‖ (the columns factored here).
    fn solve(&self, e: &[f64]) -> Vec<f64> {
        let m = self.r.len();
        let mut y = vec![0.0; m];
        dots(e, &self.q, self.d, &mut y);
        y.iter_mut().for_each(|v| *v = -*v);
        for i in (0..m).rev() {
            y[i] /= self.r[i][i];
            let (head, tail) = y.split_at_mut(i);
            axpy(head, -tail[0], &self.r[i][..i]);
        }
        y
    }
}

/// The support: base vertices first on each side, then the factored difference columns.
struct Support<'a> {
    a: &'a [f64],
    b: &'a [f64],
    d: usize,
    /// Base rows of A and B and their weights.
    base: (usize, usize),
    base_w: (f64, f64),
    /// Non-base vertices, in factor column order: side, row, weight.
    cols: Vec<(Side, usize, f64)>,
    qr: Qr,
    /// Whether [`Support::build`] factors the longest independent prefix at once (blocked
    /// Householder) rather than one column at a time (Gram–Schmidt twice).
    blocked: bool,
}

impl<'a> Support<'a> {
    fn row(&self, side: Side, i: usize) -> &'a [f64] {
        let (m, d) = (if side == Side::A { self.a } else { self.b }, self.d);
        &m[i * d..(i + 1) * d]
    }

    /// The difference column of vertex (side, row): a − a₀, or b₀ − b.
    fn column(&self, side: Side, i: usize) -> Vec<f64> {
        let (v, base) = match side {
            Side::A => (self.row(Side::A, i), self.row(Side::A, self.base.0)),
            Side::B => (self.row(Side::B, self.base.1), self.row(Side::B, i)),
        };
        v.iter().zip(base).map(|(x, y)| x - y).collect()
    }

    /// Builds the support of `lambda`, `mu` (weights > 0), heaviest vertices first; vertices
    /// dependent on earlier ones are left out (their weight goes to the base). `blocked`: see
    /// [`Support::blocked`].
    fn build(
        a: &'a [f64],
        b: &'a [f64],
        d: usize,
        lambda: &[(usize, f64)],
        mu: &[(usize, f64)],
        blocked: bool,
    ) -> Self {
        let heaviest = |w: &[(usize, f64)]| {
            let mut v: Vec<(usize, f64)> = w.iter().copied().filter(|e| e.1 > 0.0).collect();
            v.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
            if v.is_empty() {
                v.push((0, 1.0));
            }
            v
        };
        let (la, mb) = (heaviest(lambda), heaviest(mu));
        let mut s = Support {
            a,
            b,
            d,
            base: (la[0].0, mb[0].0),
            base_w: (la[0].1, mb[0].1),
            cols: Vec::new(),
            qr: Qr::new(d),
            blocked,
        };
        // Interleave the sides by weight so that both keep their heaviest vertices.
        let mut rest: Vec<(Side, usize, f64)> = la[1..]
            .iter()
            .map(|&(i, w)| (Side::A, i, w))
            .chain(mb[1..].iter().map(|&(j, w)| (Side::B, j, w)))
            .collect();
        rest.sort_by(|x, y| y.2.total_cmp(&x.2).then(x.1.cmp(&y.1)));
        // The longest independent prefix is factored at once by blocked Householder
        // reflections; the rest is added one column at a time, dependent ones left out.
        let k0 = if blocked {
            let cols: Vec<Vec<f64>> = rest.iter().map(|&(side, i, _)| s.column(side, i)).collect();
            s.qr.factor_prefix(&cols)
        } else {
            0
        };
        s.cols.extend_from_slice(&rest[..k0]);
        for (side, i, w) in rest.drain(k0..) {
            if !s.add(side, i, w) {
                match side {
                    Side::A => s.base_w.0 += w,
                    Side::B => s.base_w.1 += w,
                }
            }
        }
        s
    }

    fn add(&mut self, side: Side, i: usize, w: f64) -> bool {
        let v = self.column(side, i);
        let ok = self.qr.push(&v);
        if ok {
            self.cols.push((side, i, w));
        }
        ok
    }

    /// Adds the more violating of A's candidate `(row, violation)` and B's (A's on a tie),
    /// if its violation is positive; false if none entered.
    fn enter(&mut self, (i, va): (usize, f64), (j, vb): (usize, f64)) -> bool {
        if va >= vb && va > 0.0 {
            self.add(Side::A, i, 0.0)
        } else if vb > 0.0 {
            self.add(Side::B, j, 0.0)
        } else {
            false
        }
    }

    fn weights(&self) -> Weights {
        let mut lambda = vec![(self.base.0, self.base_w.0)];
        let mut mu = vec![(self.base.1, self.base_w.1)];
        for &(side, i, w) in &self.cols {
            match side {
                Side::A => lambda.push((i, w)),
                Side::B => mu.push((i, w)),
            }
        }
        (lambda, mu)
    }

    /// The realised point Aᵀλ − Bᵀμ of the current weights (each side normalised to sum 1).
    fn point(&self) -> Vec<f64> {
        let (lambda, mu) = self.weights();
        let (ta, tb) = (
            lambda.iter().map(|e| e.1).sum::<f64>(),
            mu.iter().map(|e| e.1).sum::<f64>(),
        );
        let mut x = vec![0.0; self.d];
        for &(i, w) in &lambda {
            axpy(&mut x, w / ta, self.row(Side::A, i));
        }
        for &(j, w) in &mu {
            axpy(&mut x, -(w / tb), self.row(Side::B, j));
        }
        x
    }

    /// The affine minimiser's weights on the current support (base weights first, then the
    /// columns'), with one step of iterative refinement from the explicit columns.
    fn affine_min(&self) -> (f64, f64, Vec<f64>) {
        let v0: Vec<f64> = self
            .row(Side::A, self.base.0)
            .iter()
            .zip(self.row(Side::B, self.base.1))
            .map(|(x, y)| x - y)
            .collect();
        let mut g = self.qr.solve(&v0);
        // e = v₀ + Σ γ_c D_c from the rows: D_c = a_i − a₀ or b₀ − b_j.
        let mut e = v0;
        let (mut sa, mut sb) = (0.0, 0.0);
        for (&gc, &(side, i, _)) in g.iter().zip(&self.cols) {
            match side {
                Side::A => {
                    axpy(&mut e, gc, self.row(Side::A, i));
                    sa += gc;
                }
                Side::B => {
                    axpy(&mut e, -gc, self.row(Side::B, i));
                    sb += gc;
                }
            }
        }
        axpy(&mut e, -sa, self.row(Side::A, self.base.0));
        axpy(&mut e, sb, self.row(Side::B, self.base.1));
        let dg = self.qr.solve(&e);
        g.iter_mut().zip(&dg).for_each(|(x, y)| *x += y);
        let (mut wa, mut wb) = (1.0, 1.0);
        for (gc, &(side, _, _)) in g.iter().zip(&self.cols) {
            match side {
                Side::A => wa -= gc,
                Side::B => wb -= gc,
            }
        }
        (wa, wb, g)
    }

    /// Removes the vertices whose weight is not positive; a vanished base is
    /// replaced by the side's heaviest vertex and the factor rebuilt.
    fn drop_zeros(&mut self) {
        let base_gone = self.base_w.0 <= 0.0 || self.base_w.1 <= 0.0;
        if base_gone {
            let (lambda, mu) = self.weights();
            let keep = |w: Vec<(usize, f64)>| -> Vec<(usize, f64)> {
                w.into_iter().filter(|e| e.1 > 0.0).collect()
            };
            *self = Support::build(
                self.a,
                self.b,
                self.d,
                &keep(lambda),
                &keep(mu),
                self.blocked,
            );
            return;
        }
        for c in (0..self.cols.len()).rev() {
            if self.cols[c].2 <= 0.0 {
                self.cols.remove(c);
                self.qr.remove(c);
            }
        }
    }
}

/// Polishes the nearest points of conv(A) and conv(B) (row-major `a`, `b` with `d` columns,
/// centred near the origin) from the convex weights `start`: runs until the certified bounds
/// agree within `rel_gap`, no point violates optimality, the distance stops decreasing, or
/// after `max_iter` entering vertices. Returns the best bounds met; `upper` at or below `touch`
/// ends the run (the hulls touch).
pub(crate) fn polish(
    a: &[f64],
    b: &[f64],
    d: usize,
    start: &Weights,
    rel_gap: f64,
    touch: f64,
    max_iter: usize,
) -> Polished {
    polish_until(a, b, d, start, rel_gap, touch, f64::INFINITY, max_iter)
}

/// [`polish`] that also stops once the certified lower bound exceeds `apart`: an overlap test
/// needs only to know whether the hulls come within `touch` or stay more than `apart` apart.
/// On more than [`WS_MIN_POINTS`] points in all, the steps between full passes take their
/// entering points from working sets; bounds come from full passes only.
///
/// The starting support is factored by blocked Householder reflections; where that leaves an
/// overlap decision open (bounds straddling `touch`..`apart` with `apart` finite), the run is
/// repeated with the support factored one column at a time, whose rounding differs and which
/// decides some borderline pairs the first does not (a pair of 790 and 7,444 real points whose
/// distance, 3.06e-6, is within 0.5 % of the precision floor); its result is taken when it
/// decides.
#[allow(clippy::too_many_arguments)]
pub(crate) fn polish_until(
    a: &[f64],
    b: &[f64],
    d: usize,
    start: &Weights,
    rel_gap: f64,
    touch: f64,
    apart: f64,
    max_iter: usize,
) -> Polished {
    let stop = Stop {
        rel_gap,
        touch,
        apart,
        max_iter,
    };
    let first = polish_run(a, b, d, start, stop, true);
    let open = first.upper > touch && first.lower <= apart && apart.is_finite();
    if !open {
        return first;
    }
    let second = polish_run(a, b, d, start, stop, false);
    if second.upper <= touch || second.lower > apart {
        second
    } else {
        first
    }
}

/// When [`polish_run`] stops: see [`polish_until`].
#[derive(Clone, Copy)]
struct Stop {
    rel_gap: f64,
    touch: f64,
    apart: f64,
    max_iter: usize,
}

/// One run of [`polish_until`], its starting support factored blocked or not.
fn polish_run(
    a: &[f64],
    b: &[f64],
    d: usize,
    start: &Weights,
    stop: Stop,
    blocked: bool,
) -> Polished {
    let Stop {
        rel_gap,
        touch,
        apart,
        max_iter,
    } = stop;
    let mut s = Support::build(a, b, d, &start.0, &start.1, blocked);
    let (na, nb) = (a.len() / d, b.len() / d);
    let (mut ga, mut gb) = (vec![0.0; na], vec![0.0; nb]);
    // Large sets: between full passes, entering vertices come from working sets (the support
    // and the strongest violators of the last full pass); only a full pass certifies a bound
    // or ends the run.
    let mut ws = (na + nb > WS_MIN_POINTS).then(|| {
        let mut w = (Working::new(na), Working::new(nb));
        start.0.iter().for_each(|e| w.0.add(e.0));
        start.1.iter().for_each(|e| w.1.add(e.0));
        w
    });
    let mut first = true;
    // Whether the last vertex entered was the most violating of a full pass: only then does a
    // step that fails to decrease the distance end the run (a working set's vertex may fail
    // where a stronger violator outside it would not).
    let mut entered_by_full = true;
    let mut best = Polished {
        lower: 0.0,
        upper: f64::INFINITY,
        weights: s.weights(),
    };
    for _ in 0..max_iter {
        // Minor cycle: move to the affine minimiser, stepping back to the simplices' faces.
        loop {
            let (wa, wb, g) = s.affine_min();
            let cur: Vec<f64> = [s.base_w.0, s.base_w.1]
                .into_iter()
                .chain(s.cols.iter().map(|c| c.2))
                .collect();
            let new: Vec<f64> = [wa, wb].into_iter().chain(g).collect();
            if new.iter().all(|&w| w > 0.0) {
                s.base_w = (new[0], new[1]);
                s.cols.iter_mut().zip(&new[2..]).for_each(|(c, &w)| c.2 = w);
                break;
            }
            let mut theta = 1.0f64;
            for (&w, &n) in cur.iter().zip(&new) {
                if n <= 0.0 {
                    theta = theta.min(w / (w - n));
                }
            }
            let mut step: Vec<f64> = cur
                .iter()
                .zip(&new)
                .map(|(&w, &n)| w + theta * (n - w))
                .collect();
            // At least the vertex that limited the step leaves.
            let (kmin, _) =
                step.iter().enumerate().fold(
                    (0, f64::INFINITY),
                    |m, (k, &w)| if w < m.1 { (k, w) } else { m },
                );
            step[kmin] = 0.0;
            s.base_w = (step[0], step[1]);
            s.cols
                .iter_mut()
                .zip(&step[2..])
                .for_each(|(c, &w)| c.2 = w);
            s.drop_zeros();
        }
        let x = s.point();
        let up = dot(&x, &x).sqrt();
        let improved = up < best.upper * (1.0 - 1e-13);
        if up < best.upper {
            best.upper = up;
            best.weights = s.weights();
        }
        if up <= touch {
            return best;
        }
        let (lambda, mu) = s.weights();
        if let (Some((wa, wb)), false, true) = (ws.as_mut(), first, improved) {
            lambda.iter().for_each(|e| wa.add(e.0));
            mu.iter().for_each(|e| wb.add(e.0));
            wa.values(&x, a, d, &mut ga);
            wb.values(&x, b, d, &mut gb);
            let pa = lambda.iter().map(|&(i, w)| w * ga[i]).sum::<f64>();
            let pb = mu.iter().map(|&(j, w)| w * gb[j]).sum::<f64>();
            let va = outside_of(&ga, &wa.rows, &lambda, |g| pa - g);
            let vb = outside_of(&gb, &wb.rows, &mu, |g| g - pb);
            if s.enter(va, vb) {
                entered_by_full = false;
                continue;
            }
        }
        first = false;
        par_dots(&x, a, d, &mut ga);
        par_dots(&x, b, d, &mut gb);
        let amin = ga.iter().copied().fold(f64::INFINITY, f64::min);
        let bmax = gb.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        best.lower = best.lower.max((amin - bmax) / up);
        if best.lower > apart {
            return best;
        }
        // Converged, or no progress from a full pass's vertex: it left at once (the violations
        // are at the level of the affine minimiser's rounding).
        if best.upper - best.lower <= rel_gap * best.upper || (!improved && entered_by_full) {
            return best;
        }
        // The support's mean values along x (all equal at an exact affine minimiser); the
        // point outside the support farthest beyond them on either side enters.
        let pa = lambda.iter().map(|&(i, w)| w * ga[i]).sum::<f64>();
        let pb = mu.iter().map(|&(j, w)| w * gb[j]).sum::<f64>();
        let va = outside(&ga, &lambda, |g| pa - g);
        let vb = outside(&gb, &mu, |g| g - pb);
        if let Some((wa, wb)) = ws.as_mut() {
            wa.strongest(&ga, false, pa);
            wb.strongest(&gb, true, pb);
        }
        if !s.enter(va, vb) {
            return best;
        }
        entered_by_full = true;
    }
    best
}

/// A working set of rows of one side.
struct Working {
    rows: Vec<usize>,
    member: Vec<bool>,
    vals: Vec<f64>,
}

impl Working {
    fn new(n: usize) -> Self {
        Self {
            rows: Vec::new(),
            member: vec![false; n],
            vals: Vec::new(),
        }
    }

    fn add(&mut self, i: usize) {
        if !self.member[i] {
            self.member[i] = true;
            self.rows.push(i);
        }
    }

    /// `g[i] = x·row i` for the working rows (the values a full pass gives them).
    fn values(&mut self, x: &[f64], rows: &[f64], d: usize, g: &mut [f64]) {
        self.vals.resize(self.rows.len(), 0.0);
        dots_at(x, rows, d, &self.rows, &mut self.vals);
        for (&i, &v) in self.rows.iter().zip(&self.vals) {
            g[i] = v;
        }
    }

    /// Adds the [`WS_ADD`] rows outside it with the smallest values in `g` below `bound`
    /// (`largest`: the largest above it).
    fn strongest(&mut self, g: &[f64], largest: bool, bound: f64) {
        add_extreme(g, &mut self.member, &mut self.rows, WS_ADD, largest, bound);
    }
}

/// [`outside`] over the rows `rows` only.
fn outside_of(
    g: &[f64],
    rows: &[usize],
    support: &[(usize, f64)],
    violation: impl Fn(f64) -> f64,
) -> (usize, f64) {
    let inside: std::collections::HashSet<usize> = support.iter().map(|e| e.0).collect();
    best_outside(
        rows.iter().map(|&i| (i, g[i])),
        |i| inside.contains(&i),
        violation,
    )
}

/// The point outside the support (`support`: rows with weights) with the largest
/// `violation` of its value in `g`, and that violation (−∞ if every point is in the support).
fn outside(g: &[f64], support: &[(usize, f64)], violation: impl Fn(f64) -> f64) -> (usize, f64) {
    let mut inside = vec![false; g.len()];
    support.iter().for_each(|e| inside[e.0] = true);
    best_outside(g.iter().copied().enumerate(), |i| inside[i], violation)
}

/// The first of the (row, value) pairs not `inside` with the largest `violation` of its value.
fn best_outside(
    vals: impl Iterator<Item = (usize, f64)>,
    inside: impl Fn(usize) -> bool,
    violation: impl Fn(f64) -> f64,
) -> (usize, f64) {
    let mut best = (0, f64::NEG_INFINITY);
    for (i, v) in vals {
        let x = violation(v);
        if x > best.1 && !inside(i) {
            best = (i, x);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Rng;

    /// The blocked factor of a prefix stops at the first dependent column, reproduces the
    /// columns before it with orthonormal Q, and solves as the column-by-column factor does.
    #[test]
    fn blocked_prefix_factor_matches_the_incremental_one() {
        let (d, k) = (40, 30);
        let mut rng = Rng::new(5);
        let mut cols: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        // Column 20 is a combination of columns 3 and 7.
        cols[20] = (0..d)
            .map(|r| 0.5 * cols[3][r] - 2.0 * cols[7][r])
            .collect();
        let mut blocked = Qr::new(d);
        assert_eq!(blocked.factor_prefix(&cols), 20);
        let mut one = Qr::new(d);
        assert!(cols[..20].iter().all(|c| one.push(c)));
        assert!(!one.push(&cols[20]) && !blocked.push(&cols[20]));
        for (c, col) in cols[..20].iter().enumerate() {
            for (r, want) in col.iter().enumerate() {
                let v: f64 = (0..=c).map(|m| blocked.col(m)[r] * blocked.r[c][m]).sum();
                assert!((v - want).abs() < 1e-12, "column {c}, row {r}");
            }
            for m in 0..20 {
                let want = if m == c { 1.0 } else { 0.0 };
                assert!((dot(blocked.col(c), blocked.col(m)) - want).abs() < 1e-12);
            }
        }
        let e: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        for (x, y) in blocked.solve(&e).iter().zip(one.solve(&e)) {
            assert!((x - y).abs() < 1e-10 * (1.0 + y.abs()), "{x} vs {y}");
        }
        // More columns than rows: at most d are factored.
        let wide: Vec<Vec<f64>> = (0..d + 3)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        assert_eq!(Qr::new(d).factor_prefix(&wide), d);
    }

    /// Columns pushed and removed keep Q orthonormal and QR equal to the remaining columns.
    #[test]
    fn updated_factor_reproduces_its_columns() {
        let (d, k) = (9, 6);
        let mut rng = Rng::new(3);
        let cols: Vec<Vec<f64>> = (0..k)
            .map(|_| (0..d).map(|_| rng.normal()).collect())
            .collect();
        let mut qr = Qr::new(d);
        assert!(cols.iter().all(|c| qr.push(c)));
        // A combination of the columns is dependent.
        let sum: Vec<f64> = (0..d).map(|r| cols.iter().map(|c| c[r]).sum()).collect();
        assert!(!qr.push(&sum));
        qr.remove(2);
        qr.remove(0);
        let kept = [1, 3, 4, 5];
        assert_eq!(qr.r.len(), kept.len());
        for (c, &orig) in kept.iter().enumerate() {
            for (r, want) in cols[orig].iter().enumerate() {
                let v: f64 = (0..=c).map(|m| qr.col(m)[r] * qr.r[c][m]).sum();
                assert!((v - want).abs() < 1e-12, "column {orig}, row {r}");
            }
            for m in 0..kept.len() {
                let want = if m == c { 1.0 } else { 0.0 };
                assert!((dot(qr.col(c), qr.col(m)) - want).abs() < 1e-12);
            }
        }
        // Least squares: the residual is orthogonal to the columns.
        let e: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let g = qr.solve(&e);
        let mut res = e.clone();
        for (gc, &orig) in g.iter().zip(&kept) {
            res.iter_mut()
                .zip(&cols[orig])
                .for_each(|(x, v)| *x += gc * v);
        }
        assert!(kept.iter().all(|&o| dot(&res, &cols[o]).abs() < 1e-10));
    }
}
