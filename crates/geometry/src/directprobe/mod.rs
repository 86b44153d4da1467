//! DirectProbe (Zhou & Srikumar, NAACL 2021) with exact convex-hull tests and distances.
//!
//! * [`probe`] clusters labelled points: starting from singletons, same-label clusters are merged
//!   in order of centroid distance (ties by cluster index) iff the merged hull intersects no hull
//!   of a differently-labelled cluster; a rejected pair is never retried. This gives the same
//!   clusters as the original's current code under an exact overlap test.
//! * [`hulls_intersect`] decides hull intersection with a certificate either way.
//! * [`hull_distance`], [`point_hull_distance`]: exact minimum distances (0 when intersecting).
//! * [`predict`], [`cluster_distances`], [`label_metrics`], [`check_clusters`]: the analyses of the
//!   two papers' code; [`report`] formats them in the original tools' file layouts.
//!
//! Tolerances are relative to the pair's radius R (largest distance of a point of either set
//! from the pair's centroid): hulls closer than [`TOUCH_TOL`]·R count as intersecting.

mod cluster;
mod kernels;
mod lp;
mod mnp;
mod polish;
mod predict;
pub mod report;
mod separate;
mod span;
mod store;

use mnp::{dot, min_norm_point, min_norm_point_ws, Corral, Mnp, MnpParams};
use rayon::prelude::*;

pub use cluster::{probe, Clustering, Options, Progress, Separation, Stats};
pub use span::Span;

/// Relative distance (to the pair radius) at or below which two hulls count as intersecting.
pub const TOUCH_TOL: f64 = 1e-9;

/// When the nearest-point iteration stalls (numerically degenerate sets), hulls whose certified
/// distance is at most this fraction of the pair radius (about the precision of `f32` inputs)
/// count as touching without consulting the LP (counted in [`Stats::near_touch`]).
pub const NEAR_TOUCH: f64 = 1e-6;

/// When neither the nearest-point iteration nor the LP can decide a pair, hulls whose realised
/// distance (convex weights on both sets) is at most this fraction of the pair radius count as
/// touching (also counted in [`Stats::near_touch`]) rather than failing the probe; farther pairs
/// still fail.
pub const NEAR_TOUCH_UNDECIDED: f64 = 1e-5;

/// Relative gap ‖x‖² − min x·p ≤ ε‖x‖² at which a distance counts as converged (distance
/// accurate to about ε/2 relative).
const DIST_REL_GAP: f64 = 1e-10;

/// When the iteration stalls numerically, its certified bounds must agree within this fraction
/// of the pair radius.
const DIST_ABS_TOL: f64 = 1e-9;

/// When the iteration and the active-set polish ([`polish`]) still leave bounds apart and the
/// hulls are certified disjoint (by a hyperplane or the LP), the certified bounds lower ≤
/// distance ≤ upper are accepted if they agree within this fraction of the pair radius (far
/// below the 4 decimals the output files carry); the upper bound, a realised distance between
/// two hull points, is returned. Only hulls closer than about 1e-7 of their radius, where no
/// hyperplane can be certified within 1 % in `f64`, come to this.
const DIST_STALL_TOL: f64 = 1e-6;

/// A stalled distance between clusters certified disjoint is accepted when its certified bounds
/// agree within this fraction; farther apart, the active-set polish ([`polish`]) tightens
/// them first. The upper bound, a realised distance, is returned.
const DIST_DISJOINT_REL: f64 = 1e-2;

/// Between sets of more than [`mnp::WS_MIN_POINTS`] points whose margin the clustering
/// certified at no more than this fraction of the pair radius (nearly touching hulls), the
/// distance comes from the active-set polish ([`polish`]) first, accepted when its bounds (the
/// certified margin among them) agree within [`DIST_DISJOINT_REL`].
const NEAR_CERTIFIED: f64 = 1e-4;

/// Restarts of a stalled distance computation.
const DIST_RESTARTS: usize = 4;

/// Entering vertices of the active-set polish ([`polish`]) of a stalled distance, per
/// dimension.
const POLISH_ITER: usize = 10;

/// Errors of DirectProbe.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// Input shapes disagree or are empty.
    #[error("{0}")]
    Shape(String),
    /// A coordinate is NaN or infinite.
    #[error("row {row} (0-based) has a non-finite value in column {col}")]
    NonFinite {
        /// Row index.
        row: usize,
        /// Column index.
        col: usize,
    },
    /// Two identical vectors carry different labels, so no clustering can be clean.
    #[error(
        "rows {first} and {second} (0-based) are identical vectors with different labels \
         ({first_label} vs {second_label}): their hulls can never be separated"
    )]
    DuplicateConflict {
        /// First row.
        first: usize,
        /// Second row.
        second: usize,
        /// Label index of the first row.
        first_label: usize,
        /// Label index of the second row.
        second_label: usize,
    },
    /// A solver failed to reach a certified answer.
    #[error("numerical failure: {0}")]
    Numerical(String),
}

/// A dense row-major matrix of points, `n` rows of dimension `d`.
#[derive(Debug, Clone, PartialEq)]
pub struct Points {
    data: Vec<f64>,
    n: usize,
    d: usize,
    /// Each row's distance from the subspace its coordinates live in ([`Span::project`]).
    off_span: Option<Vec<f64>>,
    /// Precision of the coordinates (absolute; [`Span::project`] sets it, 0 otherwise): hulls
    /// closer than this count as touching in the clustering.
    precision: f64,
}

impl Points {
    /// Wraps row-major data; checks the length and that every value is finite.
    pub fn new(data: Vec<f64>, n: usize, d: usize) -> Result<Self, ProbeError> {
        if d == 0 || data.len() != n * d {
            return Err(ProbeError::Shape(format!(
                "{} values do not form {n} rows of dimension {d}",
                data.len()
            )));
        }
        if let Some(k) = data.iter().position(|v| !v.is_finite()) {
            return Err(ProbeError::NonFinite {
                row: k / d,
                col: k % d,
            });
        }
        Ok(Self {
            data,
            n,
            d,
            off_span: None,
            precision: 0.0,
        })
    }
    /// Number of points.
    pub fn len(&self) -> usize {
        self.n
    }
    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }
    /// Dimension.
    pub fn dim(&self) -> usize {
        self.d
    }
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f64] {
        &self.data[i * self.d..(i + 1) * self.d]
    }
    /// Distance of row `i` from the span its coordinates live in (0 unless [`Span::project`]
    /// made them); point–hull distances include it.
    pub fn off_span(&self, i: usize) -> f64 {
        self.off_span.as_ref().map_or(0.0, |o| o[i])
    }
    /// Precision of the coordinates: the distance below which the clustering counts two hulls
    /// as touching (besides [`TOUCH_TOL`] of their radius); 0 unless [`Span::project`] made them.
    pub fn precision(&self) -> f64 {
        self.precision
    }
    /// Copies the given rows into a contiguous buffer.
    pub fn gather(&self, idx: &[usize]) -> Vec<f64> {
        let mut out = Vec::with_capacity(idx.len() * self.d);
        for &i in idx {
            out.extend_from_slice(self.row(i));
        }
        out
    }
}

/// Certificate-backed answer to "do the two hulls intersect?".
#[derive(Debug, Clone)]
pub enum Overlap {
    /// Disjoint. `normal·a ≥ offset + margin/2` for every a in A and `≤ offset − margin/2` for
    /// every b in B (unit normal, original coordinates); `None` when the LP proved
    /// infeasibility but the nearest-point iteration produced no hyperplane.
    Disjoint {
        /// Separating hyperplane `(normal, offset, margin)`.
        hyperplane: Option<(Vec<f64>, f64, f64)>,
    },
    /// Intersecting: convex weights (row within A, weight) and (row within B, weight) whose
    /// combinations differ by `residual` in norm.
    Intersect {
        /// Weights on A.
        lambda: Vec<(usize, f64)>,
        /// Weights on B.
        mu: Vec<(usize, f64)>,
        /// ‖Aᵀλ − Bᵀμ‖.
        residual: f64,
    },
}

impl Overlap {
    /// True for [`Overlap::Intersect`].
    pub fn intersects(&self) -> bool {
        matches!(self, Overlap::Intersect { .. })
    }
}

/// Which machinery decided an overlap test (for counters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decider {
    Mnp,
    Lp,
    /// The active-set polish ([`polish`]) after the nearest-point iteration stalled.
    Polish,
    /// Undecided by the iteration; the hulls come within [`NEAR_TOUCH`] of each other.
    Near,
}

/// Rows of a point set: a gathered row-major block, or rows of [`Points`] read in place (no copy
/// before centring).
#[derive(Clone, Copy)]
pub(crate) enum Rows<'a> {
    /// A row-major block with the points' dimension.
    Block(&'a [f64]),
    /// Rows of `points` by index, in this order.
    Of(&'a Points, &'a [usize]),
}

impl<'a> Rows<'a> {
    fn slices(self, d: usize) -> Vec<&'a [f64]> {
        match self {
            Rows::Block(m) => m.chunks_exact(d).collect(),
            Rows::Of(p, idx) => idx.iter().map(|&i| p.row(i)).collect(),
        }
    }
}

/// Centres the union of two row sets on its centroid; returns (a, b, centroid, radius), the
/// centred sets as row-major blocks.
fn centre_pair(a: Rows, b: Rows, d: usize) -> (Vec<f64>, Vec<f64>, Vec<f64>, f64) {
    let (ra, rb) = (a.slices(d), b.slices(d));
    let n = ra.len() + rb.len();
    let mut c = vec![0.0; d];
    for r in ra.iter().chain(&rb) {
        for (x, v) in c.iter_mut().zip(r.iter()) {
            *x += v;
        }
    }
    c.iter_mut().for_each(|x| *x /= n as f64);
    let mut r2 = 0.0f64;
    let mut shift = |rows: &[&[f64]]| -> Vec<f64> {
        let mut out = Vec::with_capacity(rows.len() * d);
        for r in rows {
            let at = out.len();
            out.extend(r.iter().zip(&c).map(|(x, y)| x - y));
            r2 = r2.max(dot(&out[at..], &out[at..]));
        }
        out
    };
    let (ca, cb) = (shift(&ra), shift(&rb));
    (ca, cb, c, r2.sqrt())
}

/// Touching by a near-touch rule: convex weights on A and B whose points are `residual` apart.
fn near_verdict(
    lambda: Vec<(usize, f64)>,
    mu: Vec<(usize, f64)>,
    residual: f64,
) -> (Overlap, Decider, Corral) {
    (
        Overlap::Intersect {
            lambda,
            mu,
            residual,
        },
        Decider::Near,
        Vec::new(),
    )
}

/// Exact intersection test of conv(A) and conv(B) given as row-major blocks with `d` columns.
///
/// `hint` is an optional guess of a separating direction (A on the positive side); a non-empty
/// `seed` (a corral of an earlier run on subsets of A and B, in row indices of `a` and `b`) is
/// the nearest-point iteration's starting iterate. A separation found by the iteration returns
/// its corral, the seed of a later test on supersets.
pub(crate) fn overlap_blocks(
    a: Rows,
    b: Rows,
    d: usize,
    hint: Option<&[f64]>,
    floor: f64,
    seed: &[(usize, usize, f64)],
) -> Result<(Overlap, Decider, Corral), ProbeError> {
    let (ca, cb, c, radius) = centre_pair(a, b, d);
    if radius == 0.0 {
        return Ok((
            Overlap::Intersect {
                lambda: vec![(0, 1.0)],
                mu: vec![(0, 1.0)],
                residual: 0.0,
            },
            Decider::Mnp,
            Vec::new(),
        ));
    }
    let tol = (TOUCH_TOL * radius).max(floor);
    let params = MnpParams {
        stop_at_separation: true,
        overlap_tol: tol,
        sep_tol: tol,
        rel_gap: 1e-12,
        max_iter: 4 * (d + 2),
    };
    let offset_of = |w: &[f64], off: f64| off + dot(w, &c);
    // A certified answer of one nearest-point run, or what its stall leaves: the last iterate's
    // weights and the best hyperplane.
    type Undecided = (Option<mnp::Weights>, Option<(Vec<f64>, f64)>);
    let certified = |res: Mnp| -> Result<(Overlap, Decider, Corral), Undecided> {
        match res {
            Mnp::Separated {
                w,
                offset,
                gap,
                corral,
                ..
            } => {
                let o = offset_of(&w, offset);
                Ok((
                    Overlap::Disjoint {
                        hyperplane: Some((w, o, gap)),
                    },
                    Decider::Mnp,
                    corral,
                ))
            }
            Mnp::Touching {
                lambda,
                mu,
                residual,
            } => Ok((
                Overlap::Intersect {
                    lambda,
                    mu,
                    residual,
                },
                Decider::Mnp,
                Vec::new(),
            )),
            // Stalled with a positive certified margin: disjoint.
            Mnp::Stalled {
                lower,
                best: Some((w, offset)),
                ..
            } if lower > tol => {
                let o = offset_of(&w, offset);
                Ok((
                    Overlap::Disjoint {
                        hyperplane: Some((w, o, lower)),
                    },
                    Decider::Mnp,
                    Vec::new(),
                ))
            }
            Mnp::Stalled { best, near, .. } => Err((near, best)),
        }
    };
    // Undecided by the iteration: the last iterate's weights certify that the hulls come within
    // `residual` of each other; within NEAR_TOUCH of the pair radius (about the precision of
    // f32 inputs) they count as touching without the LP, which is slow and fragile on such
    // nearly degenerate sets. Otherwise the residual is returned.
    let near_touch = |(lambda, mu): mnp::Weights| -> Result<(Overlap, Decider, Corral), f64> {
        let residual = combination_residual(&ca, &cb, d, &lambda, &mu);
        if residual <= NEAR_TOUCH * radius {
            Ok(near_verdict(lambda, mu, residual))
        } else {
            Err(residual)
        }
    };
    // A seed holding half the dimension's worth of vertex pairs comes from nearly touching
    // hulls whose nearest faces nearly span the space: the pair iteration would pivot through
    // them one vertex at a time, where the active-set polish on the seed's weights decides in
    // a few steps. Undecided, the pair iteration runs as usual.
    if seed.len() >= 2 && 2 * seed.len() >= d {
        if let Some(answer) = polished(&ca, &cb, d, &mnp::marginals(seed), tol, &c) {
            return Ok(answer);
        }
    }
    // A nearest-point run, then a longer one from the best hyperplane of the first.
    let mut near: Option<mnp::Weights> = None;
    let mut start: Option<Vec<f64>> = hint.map(<[f64]>::to_vec);
    let mut seed = seed;
    for max_iter in [params.max_iter, 12 * params.max_iter] {
        let run = MnpParams { max_iter, ..params };
        match certified(min_norm_point_ws(
            &ca,
            &cb,
            d,
            &run,
            start.as_deref(),
            usize::MAX,
            std::mem::take(&mut seed),
        )) {
            Ok(answer) => return Ok(answer),
            Err((n, best)) => {
                if n.is_some() {
                    near = n;
                }
                if let Some((w, _)) = best {
                    start = Some(w);
                }
            }
        }
        // A stalled first run: on nearly touching hulls the corral of vertex pairs degenerates,
        // and the active-set polish on the weights decides most such pairs at once, before a
        // long second run and the LP.
        if max_iter == params.max_iter {
            if let Some(answer) = near
                .as_ref()
                .and_then(|from| polished(&ca, &cb, d, from, tol, &c))
            {
                return Ok(answer);
            }
        }
    }
    let mut near_residual = f64::INFINITY;
    // The weights realising the smallest distance seen, for the last rule below.
    let mut closest: Option<(mnp::Weights, f64)> = None;
    if let Some(weights) = near {
        match near_touch(weights.clone()) {
            Ok(answer) => return Ok(answer),
            Err(residual) => {
                near_residual = residual;
                closest = Some((weights, residual));
            }
        }
    }
    match lp::intersect(&ca, &cb, d) {
        lp::LpResult::Intersect { lambda, mu } => {
            let residual = combination_residual(&ca, &cb, d, &lambda, &mu);
            if residual <= 1e-5 * radius {
                return Ok((
                    Overlap::Intersect {
                        lambda,
                        mu,
                        residual,
                    },
                    Decider::Lp,
                    Vec::new(),
                ));
            }
        }
        lp::LpResult::Disjoint => {
            // Certify with a full nearest-point run when possible.
            let full = MnpParams {
                stop_at_separation: false,
                rel_gap: 1e-14,
                max_iter: 50 * (d + 2),
                ..params
            };
            let hyperplane = match min_norm_point_ws(&ca, &cb, d, &full, None, usize::MAX, &[]) {
                Mnp::Separated { w, offset, gap, .. } => {
                    let o = offset_of(&w, offset);
                    Some((w, o, gap))
                }
                _ => None,
            };
            return Ok((Overlap::Disjoint { hyperplane }, Decider::Lp, Vec::new()));
        }
        lp::LpResult::Failed(_) => {}
    }
    // Last resort: a long run on the whole sets from the centroid difference (no hint, no working
    // sets), a different path through the same problem.
    let last = MnpParams {
        max_iter: 50 * (d + 2),
        ..params
    };
    match certified(min_norm_point(&ca, &cb, d, &last, None)) {
        Ok(answer) => return Ok(answer),
        Err((Some(weights), _)) => match near_touch(weights.clone()) {
            Ok(answer) => return Ok(answer),
            Err(residual) => {
                near_residual = near_residual.min(residual);
                if closest.as_ref().is_none_or(|c| residual < c.1) {
                    closest = Some((weights, residual));
                }
            }
        },
        Err((None, _)) => {}
    }
    if let Some(((lambda, mu), residual)) = closest {
        if residual <= NEAR_TOUCH_UNDECIDED * radius {
            return Ok(near_verdict(lambda, mu, residual));
        }
    }
    Err(ProbeError::Numerical(format!(
        "no certified answer for two sets of {} and {} points: the nearest-point iteration \
         stalled (no separating hyperplane; the hulls come within {near_residual:.3e} of each \
         other, {:.1e} of the pair radius) and the intersection LP failed",
        ca.len() / d,
        cb.len() / d,
        near_residual / radius
    )))
}

fn combination_residual(
    a: &[f64],
    b: &[f64],
    d: usize,
    lambda: &[(usize, f64)],
    mu: &[(usize, f64)],
) -> f64 {
    let x = combination(a, b, d, lambda, mu);
    dot(&x, &x).sqrt()
}

/// The point Aᵀλ − Bᵀμ of weights on row blocks `a` and `b` with `d` columns.
fn combination(
    a: &[f64],
    b: &[f64],
    d: usize,
    lambda: &[(usize, f64)],
    mu: &[(usize, f64)],
) -> Vec<f64> {
    let mut x = vec![0.0; d];
    for &(i, w) in lambda {
        for (xe, v) in x.iter_mut().zip(&a[i * d..(i + 1) * d]) {
            *xe += w * v;
        }
    }
    for &(j, w) in mu {
        for (xe, v) in x.iter_mut().zip(&b[j * d..(j + 1) * d]) {
            *xe -= w * v;
        }
    }
    x
}

/// Decides whether the convex hulls of rows `a` and rows `b` of `points` intersect.
pub fn hulls_intersect(points: &Points, a: &[usize], b: &[usize]) -> Result<Overlap, ProbeError> {
    if a.is_empty() || b.is_empty() {
        return Err(ProbeError::Shape("empty point set".into()));
    }
    let ov = overlap_blocks(
        Rows::Of(points, a),
        Rows::Of(points, b),
        points.d,
        None,
        points.precision,
        &[],
    )?
    .0;
    Ok(match ov {
        Overlap::Intersect {
            lambda,
            mu,
            residual,
        } => Overlap::Intersect {
            lambda: lambda.into_iter().map(|(i, w)| (a[i], w)).collect(),
            mu: mu.into_iter().map(|(j, w)| (b[j], w)).collect(),
            residual,
        },
        other => other,
    })
}

/// Exact minimum distance between two row blocks' hulls (0 if they intersect).
///
/// A positive certified lower bound (a separating hyperplane) proves the hulls disjoint, so the
/// answer is then never 0: a stalled iteration returns its certified upper bound (a realised
/// distance between two hull points) once the bounds agree within [`DIST_DISJOINT_REL`], and
/// the LP is not consulted.
fn distance_blocks(a: &[f64], b: &[f64], d: usize) -> Result<f64, ProbeError> {
    let (ca, cb, _, radius) = centre_pair(Rows::Block(a), Rows::Block(b), d);
    Ok(distance_centred(&ca, &cb, d, radius, None, 0.0, &[])?.0)
}

/// [`distance_blocks`] on blocks already translated near the origin, `radius` the largest row
/// norm of both (the scale of the tolerances); `start` is the first direction (by default the
/// difference of the blocks' centroids). `certified`: a lower bound on the distance known
/// beforehand (the margin of a separating hyperplane, else 0) that a stalled iteration keeps;
/// the iteration itself runs as without it, so converged distances do not change. A stalled
/// iteration whose bounds are more than 1 % apart hands its last weights to the active-set
/// polish ([`polish::polish`]), which keeps the best certified bounds of both. `seed`: a
/// corral (row pairs of `ca` and `cb` with convex weights) to start from, e.g. the same pair's
/// in a nearby space. Large nearly touching pairs go to the polish first ([`NEAR_CERTIFIED`]).
/// Returns the distance and, when the iteration converged with a separating hyperplane, its
/// final corral (else empty).
fn distance_centred(
    ca: &[f64],
    cb: &[f64],
    d: usize,
    radius: f64,
    start: Option<&[f64]>,
    certified: f64,
    seed: &[(usize, usize, f64)],
) -> Result<(f64, Corral), ProbeError> {
    if radius == 0.0 {
        return Ok((0.0, Vec::new()));
    }
    let tol = TOUCH_TOL * radius;
    let large = (ca.len() + cb.len()) / d > mnp::WS_MIN_POINTS;
    if large && certified > tol && certified <= NEAR_CERTIFIED * radius {
        // Nearly touching hulls (the clustering certified a margin this small): the pair
        // iteration would crawl to a stall, the active-set polish reaches the distance directly.
        let from = extreme_pair(ca, cb, d, start);
        let p = polish::polish(ca, cb, d, &from, DIST_REL_GAP, tol, POLISH_ITER * (d + 2));
        if p.upper - certified.max(p.lower) <= DIST_DISJOINT_REL * p.upper {
            return Ok((p.upper, Vec::new()));
        }
    }
    let params = distance_params(d, radius);
    let mut res = min_norm_point_ws(ca, cb, d, &params, start, usize::MAX, seed);
    if !seed.is_empty() && matches!(res, Mnp::Stalled { .. }) {
        // A corral from another space may be degenerate in this one: start afresh.
        res = min_norm_point_ws(ca, cb, d, &params, start, usize::MAX, &[]);
    }
    settle_distance(ca, cb, d, radius, start, certified, &params, res)
}

/// The settings of [`distance_centred`]'s nearest-point runs for blocks of radius `radius`.
fn distance_params(d: usize, radius: f64) -> MnpParams {
    let tol = TOUCH_TOL * radius;
    MnpParams {
        stop_at_separation: false,
        overlap_tol: tol,
        sep_tol: tol,
        rel_gap: DIST_REL_GAP,
        max_iter: 50 * (d + 2),
    }
}

/// The rest of [`distance_centred`] after its first nearest-point run `res` (run with
/// `params` from `start`): restarts, separation and polish of a stalled run, and the rules
/// that accept its bounds.
#[allow(clippy::too_many_arguments)]
fn settle_distance(
    ca: &[f64],
    cb: &[f64],
    d: usize,
    radius: f64,
    start: Option<&[f64]>,
    certified: f64,
    params: &MnpParams,
    mut res: Mnp,
) -> Result<(f64, Corral), ProbeError> {
    let tol = TOUCH_TOL * radius;
    let (mut lo, mut up) = (certified.max(0.0), f64::INFINITY);
    // A stall from accumulated round-off in the corral: restart from the best hyperplane found,
    // keeping the best certified bounds.
    for _ in 0..DIST_RESTARTS {
        let Mnp::Stalled {
            lower,
            upper,
            best: Some((w, _)),
            ..
        } = &res
        else {
            break;
        };
        lo = lo.max(*lower);
        up = up.min(*upper);
        if lo <= tol || up - lo <= DIST_ABS_TOL * radius {
            break;
        }
        res = min_norm_point_ws(ca, cb, d, params, Some(w), usize::MAX, &[]);
    }
    let mut best_dir: Option<Vec<f64>> = None;
    if let Mnp::Stalled {
        lower, upper, best, ..
    } = &res
    {
        lo = lo.max(*lower);
        up = up.min(*upper);
        best_dir = best.as_ref().map(|(w, _)| w.clone());
    }
    if matches!(res, Mnp::Stalled { .. }) && lo <= tol {
        // Stalled without a certified positive bound: look for a separating hyperplane alone
        // (what the overlap test does), from the best direction and from the centroids. A
        // margin found bounds the distance from below, so separated hulls never get 0.
        let sep = MnpParams {
            stop_at_separation: true,
            rel_gap: 1e-12,
            ..*params
        };
        let dirs = [best_dir.as_deref(), start].into_iter().flatten().map(Some);
        for dir in dirs.chain([None]) {
            if let Mnp::Separated { gap, .. } = min_norm_point(ca, cb, d, &sep, dir) {
                lo = lo.max(gap);
                break;
            }
        }
    }
    if let Mnp::Stalled { near, .. } = &res {
        // Bounds farther apart than 1 % (nearly touching hulls, where the pair corral
        // degenerates): polish the nearest points by the active-set method on the weights.
        if !(lo > tol && up - lo <= DIST_DISJOINT_REL * up) {
            let from = near
                .clone()
                .unwrap_or_else(|| extreme_pair(ca, cb, d, best_dir.as_deref().or(start)));
            let p = polish::polish(ca, cb, d, &from, DIST_REL_GAP, tol, POLISH_ITER * (d + 2));
            lo = lo.max(p.lower);
            up = up.min(p.upper);
        }
    }
    let distance = match res {
        Mnp::Separated { upper, corral, .. } => return Ok((upper, corral)),
        Mnp::Touching { .. } => Ok(0.0),
        // Numerically converged: the certified bounds agree.
        Mnp::Stalled { .. } if lo > tol && up - lo <= DIST_ABS_TOL * radius => Ok(up),
        Mnp::Stalled { .. } if lo > tol => {
            if up.is_finite()
                && (up - lo <= DIST_DISJOINT_REL * up || up - lo <= DIST_STALL_TOL * radius)
            {
                Ok(up)
            } else {
                Err(ProbeError::Numerical(format!(
                    "hull distance of two disjoint hulls did not converge (bounds {lo:.6e} .. \
                     {up:.6e})"
                )))
            }
        }
        // No separating hyperplane and a realised distance within NEAR_TOUCH: touching, by the
        // same rule as the overlap test (the LP cannot resolve finer than `f32` inputs either).
        Mnp::Stalled { .. } if up <= NEAR_TOUCH * radius => Ok(0.0),
        Mnp::Stalled { .. } => match lp::intersect(ca, cb, d) {
            lp::LpResult::Intersect { .. } => Ok(0.0),
            lp::LpResult::Failed(msg) => Err(ProbeError::Numerical(format!(
                "hull distance: the nearest-point iteration stalled (bounds {lo:.6e} .. \
                 {up:.6e}) and the LP failed ({msg})"
            ))),
            lp::LpResult::Disjoint if up.is_finite() && up - lo <= DIST_STALL_TOL * radius => {
                Ok(up)
            }
            lp::LpResult::Disjoint => Err(ProbeError::Numerical(format!(
                "hull distance did not converge (bounds {lo:.6e} .. {up:.6e})"
            ))),
        },
    };
    Ok((distance?, Vec::new()))
}

/// The vertex pair extreme along `dir` (A's lowest, B's highest; by default along the
/// difference of the centroids) as convex weights.
fn extreme_pair(a: &[f64], b: &[f64], d: usize, dir: Option<&[f64]>) -> mnp::Weights {
    let (ra, rb): (Vec<&[f64]>, Vec<&[f64]>) =
        (a.chunks_exact(d).collect(), b.chunks_exact(d).collect());
    let dir = dir.map_or_else(|| mnp::centroid_difference(&ra, &rb, d), <[f64]>::to_vec);
    let lowest = |rows: &[&[f64]], sign: f64| {
        (0..rows.len())
            .min_by(|&i, &j| (sign * dot(&dir, rows[i])).total_cmp(&(sign * dot(&dir, rows[j]))))
            .unwrap_or(0)
    };
    (
        vec![(lowest(&ra, 1.0), 1.0)],
        vec![(lowest(&rb, -1.0), 1.0)],
    )
}

/// An overlap decision of the centred blocks `ca`, `cb` (centred at `c`) by the active-set
/// polish from the weights `from`: touching when it realises a distance within `tol`, disjoint
/// when the hyperplane normal to its nearest points separates them by more than `tol` (checked
/// on every point here), else `None`. A separation comes with the north-west-corner coupling of
/// the weights as its corral (a tree of vertex pairs), the seed of later tests.
fn polished(
    ca: &[f64],
    cb: &[f64],
    d: usize,
    from: &mnp::Weights,
    tol: f64,
    c: &[f64],
) -> Option<(Overlap, Decider, Corral)> {
    let p = polish::polish_until(ca, cb, d, from, 0.0, tol, tol, POLISH_ITER * (d + 2));
    if p.upper <= tol {
        let (lambda, mu) = p.weights;
        let residual = combination_residual(ca, cb, d, &lambda, &mu);
        let answer = Overlap::Intersect {
            lambda,
            mu,
            residual,
        };
        return Some((answer, Decider::Polish, Vec::new()));
    }
    if p.lower <= tol {
        return None;
    }
    let x = combination(ca, cb, d, &p.weights.0, &p.weights.1);
    let nx = dot(&x, &x).sqrt();
    let w: Vec<f64> = x.iter().map(|v| v / nx).collect();
    let amin = ca
        .chunks_exact(d)
        .map(|r| dot(&w, r))
        .fold(f64::INFINITY, f64::min);
    let bmax = cb
        .chunks_exact(d)
        .map(|r| dot(&w, r))
        .fold(f64::NEG_INFINITY, f64::max);
    (amin - bmax > tol).then(|| {
        let offset = (amin + bmax) / 2.0 + dot(&w, c);
        let hyperplane = Some((w, offset, amin - bmax));
        (
            Overlap::Disjoint { hyperplane },
            Decider::Polish,
            coupling(&p.weights),
        )
    })
}

/// A corral of vertex pairs with the marginals of convex weights on A and B: the north-west
/// corner coupling, whose pairs form a tree (no cycle of pairs, whose vectors would be affinely
/// dependent).
fn coupling((lambda, mu): &mnp::Weights) -> Corral {
    let mut out = Vec::with_capacity(lambda.len() + mu.len());
    let (mut i, mut j) = (0, 0);
    let (mut ra, mut rb) = (
        lambda.first().map_or(0.0, |e| e.1),
        mu.first().map_or(0.0, |e| e.1),
    );
    while i < lambda.len() && j < mu.len() {
        let w = ra.min(rb);
        if w > 0.0 {
            out.push((lambda[i].0, mu[j].0, w));
        }
        ra -= w;
        rb -= w;
        if ra <= rb {
            i += 1;
            ra = lambda.get(i).map_or(0.0, |e| e.1);
        } else {
            j += 1;
            rb = mu.get(j).map_or(0.0, |e| e.1);
        }
    }
    out
}

/// Exact minimum Euclidean distance between the hulls of rows `a` and rows `b` (0 if they
/// intersect or touch within [`TOUCH_TOL`]).
pub fn hull_distance(points: &Points, a: &[usize], b: &[usize]) -> Result<f64, ProbeError> {
    if a.is_empty() || b.is_empty() {
        return Err(ProbeError::Shape("empty point set".into()));
    }
    distance_blocks(&points.gather(a), &points.gather(b), points.d)
}

/// Exact distance from point `p` to the hull of rows `hull` (0 if inside).
pub fn point_hull_distance(points: &Points, hull: &[usize], p: &[f64]) -> Result<f64, ProbeError> {
    if hull.is_empty() || p.len() != points.d {
        return Err(ProbeError::Shape(format!(
            "point of dimension {} against a hull of {} points in dimension {}",
            p.len(),
            hull.len(),
            points.d
        )));
    }
    CentredHull::new(points.gather(hull), points.d).distance_to(p)
}

/// A hull's rows centred on their centroid once, for many point-to-hull distances.
pub(crate) struct CentredHull {
    rows: Vec<f64>,
    centre: Vec<f64>,
    /// Largest centred row norm.
    radius: f64,
    /// Squared norm of every centred row.
    norms: Vec<f64>,
    d: usize,
}

impl CentredHull {
    /// Centres `rows` (row-major, dimension `d`) on their centroid.
    pub(crate) fn new(mut rows: Vec<f64>, d: usize) -> Self {
        let n = rows.len() / d;
        let mut centre = vec![0.0; d];
        for r in rows.chunks_exact(d) {
            centre.iter_mut().zip(r).for_each(|(c, v)| *c += v);
        }
        centre.iter_mut().for_each(|c| *c /= n as f64);
        let mut norms = Vec::with_capacity(n);
        for r in rows.chunks_exact_mut(d) {
            r.iter_mut().zip(&centre).for_each(|(v, c)| *v -= c);
            norms.push(dot(r, r));
        }
        let radius = norms.iter().copied().fold(0.0f64, f64::max);
        Self {
            rows,
            centre,
            radius: radius.sqrt(),
            norms,
            d,
        }
    }

    /// Exact distance from `p` to the hull (0 if inside), as [`distance_blocks`] computes it but
    /// without copying the hull: the first direction is the centroid difference −(p − centre).
    pub(crate) fn distance_to(&self, p: &[f64]) -> Result<f64, ProbeError> {
        let q: Vec<f64> = p.iter().zip(&self.centre).map(|(x, c)| x - c).collect();
        let radius = self.radius.max(dot(&q, &q).sqrt());
        let start: Vec<f64> = q.iter().map(|v| -v).collect();
        Ok(distance_centred(&self.rows, &q, self.d, radius, Some(&start), 0.0, &[])?.0)
    }

    /// Whether [`Self::distance_to`] of `p` certainly exceeds `threshold`: the nearest-point
    /// iteration from the same start stops at the first hyperplane that separates `p` from the
    /// hull with a margin above `threshold` and above the touching rules' tolerances
    /// ([`NEAR_TOUCH`] of the radius, under which a distance may be reported as 0). `false`
    /// means undecided (the distance may still exceed `threshold`).
    pub(crate) fn farther_than(&self, p: &[f64], threshold: f64) -> bool {
        let q: Vec<f64> = p.iter().zip(&self.centre).map(|(x, c)| x - c).collect();
        let radius = self.radius.max(dot(&q, &q).sqrt());
        if radius == 0.0 {
            return false;
        }
        let params = MnpParams {
            stop_at_separation: true,
            overlap_tol: TOUCH_TOL * radius,
            sep_tol: threshold.max(NEAR_TOUCH * radius),
            rel_gap: DIST_REL_GAP,
            max_iter: 50 * (self.d + 2),
        };
        let start: Vec<f64> = q.iter().map(|v| -v).collect();
        matches!(
            min_norm_point_ws(&self.rows, &q, self.d, &params, Some(&start), usize::MAX, &[]),
            Mnp::Separated { gap, .. } if gap > params.sep_tol
        )
    }

    /// The most [`Self::distance_to`] can report for `p` when its true distance is at most
    /// `upper`: its accepted answers exceed the true distance by at most a relative
    /// [`DIST_DISJOINT_REL`] or an absolute [`DIST_STALL_TOL`] of the radius (or are 0).
    pub(crate) fn reported_at_most(&self, p: &[f64], upper: f64) -> f64 {
        let q: Vec<f64> = p.iter().zip(&self.centre).map(|(x, c)| x - c).collect();
        let radius = self.radius.max(dot(&q, &q).sqrt());
        let slack = DIST_STALL_TOL.max(DIST_ABS_TOL) * radius;
        (upper / (1.0 - DIST_DISJOINT_REL)).max(upper + slack) * (1.0 + 1e-9)
    }

    /// The Gram matrix of the centred rows (row-major, `n × n`).
    pub(crate) fn gram(&self) -> Vec<f64> {
        let n = self.norms.len();
        let mut g = vec![0.0; n * n];
        for (i, r) in self.rows.chunks_exact(self.d).enumerate() {
            kernels::dots(
                r,
                &self.rows[..(i + 1) * self.d],
                self.d,
                &mut g[i * n..i * n + i + 1],
            );
            for j in 0..i {
                g[j * n + i] = g[i * n + j];
            }
        }
        g
    }

    /// The centred rows (row-major) and the centroid.
    pub(crate) fn parts(&self) -> (&[f64], &[f64]) {
        (&self.rows, &self.centre)
    }

    /// Largest centred row norm.
    pub(crate) fn radius(&self) -> f64 {
        self.radius
    }

    /// Squared norm of centred row `i`.
    pub(crate) fn norm(&self, i: usize) -> f64 {
        self.norms[i]
    }

    /// The distance below which [`Self::distance_to`] may report 0 for `p` (the touching
    /// rules' tolerance, [`NEAR_TOUCH`] of the radius).
    pub(crate) fn touch_floor(&self, p: &[f64]) -> f64 {
        let q: Vec<f64> = p.iter().zip(&self.centre).map(|(x, c)| x - c).collect();
        NEAR_TOUCH * self.radius.max(dot(&q, &q).sqrt())
    }
}

/// Nearest-cluster prediction of one test point.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// Clusters as (cluster id, label, distance), by increasing distance (ties by cluster id).
    pub ranking: Vec<(usize, usize, f64)>,
}

impl Prediction {
    /// Predicted label: the label of the nearest cluster.
    pub fn label(&self) -> usize {
        self.ranking[0].1
    }
}

/// Test points per parallel task of [`predict`] (each task meets one cluster).
const PREDICT_CHUNK: usize = 256;

/// Distances from every test point to every cluster, ranked (the original's `points2convex`).
/// Blocks of test points meet each cluster's rows together ([`predict::distances`]); the
/// distances are those of [`point_hull_distance`], bit for bit, for any thread count.
pub fn predict(
    points: &Points,
    clustering: &Clustering,
    test: &Points,
) -> Result<Vec<Prediction>, ProbeError> {
    if test.d != points.d {
        return Err(ProbeError::Shape(format!(
            "test vectors have dimension {}, training vectors {}",
            test.d, points.d
        )));
    }
    let hulls: Vec<CentredHull> = clustering
        .clusters
        .par_iter()
        .map(|c| CentredHull::new(points.gather(&c.members), points.d))
        .collect();
    let chunks = test.n.div_ceil(PREDICT_CHUNK);
    let per_task: Vec<Vec<Result<f64, ProbeError>>> = (0..hulls.len() * chunks)
        .into_par_iter()
        .map(|task| {
            let (k, s) = (task / chunks, task % chunks * PREDICT_CHUNK);
            let rows: Vec<&[f64]> = (s..(s + PREDICT_CHUNK).min(test.n))
                .map(|t| test.row(t))
                .collect();
            predict::distances(&hulls[k], &rows)
        })
        .collect();
    let mut rankings: Vec<Vec<(usize, usize, f64)>> = (0..test.n)
        .map(|_| Vec::with_capacity(hulls.len()))
        .collect();
    for (task, dists) in per_task.into_iter().enumerate() {
        let (k, s) = (task / chunks, task % chunks * PREDICT_CHUNK);
        for (t, dist) in (s..).zip(dists) {
            let dist = dist?.hypot(test.off_span(t));
            rankings[t].push((k, clustering.clusters[k].label, dist));
        }
    }
    Ok(rankings
        .into_iter()
        .map(|mut ranking| {
            ranking.sort_by(|x, y| x.2.total_cmp(&y.2).then(x.0.cmp(&y.0)));
            Prediction { ranking }
        })
        .collect())
}

/// Hull distance between clusters `i < j` with different labels.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterDistance {
    /// First cluster id.
    pub i: usize,
    /// Second cluster id.
    pub j: usize,
    /// Exact hull distance.
    pub distance: f64,
}

/// Hull distances for every pair of clusters (among `ids`) with different labels, `i < j`.
pub fn cluster_distances(
    points: &Points,
    clusters: &[cluster::Cluster],
    ids: &[usize],
) -> Result<Vec<ClusterDistance>, ProbeError> {
    distances_from(points, clusters, ids, &[], None)
}

/// [`cluster_distances`] for the clusters of a [`probe`] run: the margin of the separating
/// hyperplane the greedy certified for a pair bounds its distance from below, so a pair the
/// clustering proved apart never gets distance 0, even where the nearest-point iteration
/// stalls on hulls that nearly touch.
pub fn clustering_distances(
    points: &Points,
    clustering: &Clustering,
    ids: &[usize],
) -> Result<Vec<ClusterDistance>, ProbeError> {
    distances_from(
        points,
        &clustering.clusters,
        ids,
        &clustering.separations,
        None,
    )
}

/// The final nearest-point corrals of cluster-pair distances (rows of each cluster's member
/// list, keyed by the pair of cluster ids): warm starts for the same clusters in a nearby
/// space, such as the same units at the next fine-tuning checkpoint. A warm-started distance
/// converges to the same criterion (relative gap 1e-10) as a cold one.
#[derive(Debug, Clone, Default)]
pub struct DistanceSeeds(std::collections::HashMap<(usize, usize), Corral>);

fn distances_from(
    points: &Points,
    clusters: &[cluster::Cluster],
    ids: &[usize],
    separations: &[Separation],
    mut seeds: Option<&mut DistanceSeeds>,
) -> Result<Vec<ClusterDistance>, ProbeError> {
    let mut pairs = Vec::new();
    for (x, &i) in ids.iter().enumerate() {
        for &j in &ids[x + 1..] {
            if clusters[i].label != clusters[j].label {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    let blocks: Vec<Option<Vec<f64>>> = (0..clusters.len())
        .map(|k| {
            ids.contains(&k)
                .then(|| points.gather(&clusters[k].members))
        })
        .collect();
    // The largest certified margin of each cluster pair (smaller id first).
    let mut margins: std::collections::HashMap<(usize, usize), f64> =
        std::collections::HashMap::new();
    for s in separations {
        let m = margins.entry((s.i.min(s.j), s.i.max(s.j))).or_insert(0.0);
        *m = m.max(s.above - s.below);
    }
    let warm = seeds.as_deref();
    let found: Vec<(ClusterDistance, Corral)> = pairs
        .into_par_iter()
        .map(|(i, j)| {
            let a = blocks[i].as_deref().expect("block of a listed cluster");
            let b = blocks[j].as_deref().expect("block of a listed cluster");
            let certified = margins.get(&(i, j)).copied().unwrap_or(0.0);
            let seed = warm
                .and_then(|s| s.0.get(&(i, j)))
                .map_or(&[][..], |c| &c[..]);
            let (ca, cb, _, radius) = centre_pair(Rows::Block(a), Rows::Block(b), points.d);
            let (distance, corral) =
                distance_centred(&ca, &cb, points.d, radius, None, certified, seed)?;
            Ok((ClusterDistance { i, j, distance }, corral))
        })
        .collect::<Result<_, ProbeError>>()?;
    Ok(found
        .into_iter()
        .map(|(cd, corral)| {
            if let Some(s) = seeds.as_deref_mut() {
                s.0.insert((cd.i, cd.j), corral);
            }
            cd
        })
        .collect())
}

/// Label-level summaries of the fine-tuning paper's code (`develop_run`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabelMetrics {
    /// Clusters with at most this many points were dropped.
    pub min_cluster_size: usize,
    /// Ids of the clusters used.
    pub kept: Vec<usize>,
    /// Ids of the clusters dropped by the size filter.
    pub dropped: Vec<usize>,
    /// `pair[a][b]`: mean hull distance over kept cluster pairs with labels {a, b}; `None` when
    /// no such pair exists (the original's +∞).
    pub pair: Vec<Vec<Option<f64>>>,
    /// `pair_min[a][b]`: smallest hull distance over kept cluster pairs with labels {a, b}
    /// (DirectProbe's own quantity; equals `pair` when each label has one cluster).
    pub pair_min: Vec<Vec<Option<f64>>>,
    /// Distance vector over label pairs a < b (0 where undefined), in label order.
    pub vec: Vec<(usize, usize, f64)>,
    /// Per label: minimum over other labels of `pair` (0 where undefined).
    pub outside_min: Vec<f64>,
    /// Per label: mean over its clusters of the mean pairwise distance inside the cluster.
    pub inside_mean: Vec<f64>,
    /// Per label: max over its clusters of the max pairwise distance inside the cluster.
    pub inside_max: Vec<f64>,
}

/// Computes [`LabelMetrics`] for `n_labels` labels, keeping clusters of more than
/// `min_cluster_size` points.
pub fn label_metrics(
    points: &Points,
    clusters: &[cluster::Cluster],
    n_labels: usize,
    min_cluster_size: usize,
) -> Result<LabelMetrics, ProbeError> {
    label_metrics_with(points, clusters, n_labels, min_cluster_size, None)
}

/// [`label_metrics`] reusing already computed cluster distances `known` (used when they cover
/// every kept pair; otherwise the distances are computed).
pub fn label_metrics_with(
    points: &Points,
    clusters: &[cluster::Cluster],
    n_labels: usize,
    min_cluster_size: usize,
    known: Option<&[ClusterDistance]>,
) -> Result<LabelMetrics, ProbeError> {
    metrics_from(
        points,
        clusters,
        n_labels,
        min_cluster_size,
        |kept| match known {
            Some(k) => {
                let keep: std::collections::HashSet<usize> = kept.iter().copied().collect();
                let have: Vec<ClusterDistance> = k
                    .iter()
                    .filter(|c| keep.contains(&c.i) && keep.contains(&c.j))
                    .cloned()
                    .collect();
                let n_pairs = kept
                    .iter()
                    .enumerate()
                    .map(|(x, &i)| {
                        kept[x + 1..]
                            .iter()
                            .filter(|&&j| clusters[i].label != clusters[j].label)
                            .count()
                    })
                    .sum::<usize>();
                if have.len() == n_pairs {
                    Ok(have)
                } else {
                    cluster_distances(points, clusters, kept)
                }
            }
            None => cluster_distances(points, clusters, kept),
        },
    )
}

/// [`label_metrics`] with the cluster distances warm-started from `seeds` (the same clusters'
/// corrals in a nearby space), which then hold this space's corrals.
pub fn label_metrics_seeded(
    points: &Points,
    clusters: &[cluster::Cluster],
    n_labels: usize,
    min_cluster_size: usize,
    seeds: &mut DistanceSeeds,
) -> Result<LabelMetrics, ProbeError> {
    metrics_from(points, clusters, n_labels, min_cluster_size, |kept| {
        distances_from(points, clusters, kept, &[], Some(seeds))
    })
}

/// [`LabelMetrics`] from the distances `distances` gives for the kept clusters.
fn metrics_from(
    points: &Points,
    clusters: &[cluster::Cluster],
    n_labels: usize,
    min_cluster_size: usize,
    distances: impl FnOnce(&[usize]) -> Result<Vec<ClusterDistance>, ProbeError>,
) -> Result<LabelMetrics, ProbeError> {
    let (kept, dropped): (Vec<usize>, Vec<usize>) =
        (0..clusters.len()).partition(|&k| clusters[k].members.len() > min_cluster_size);
    if let Some(c) = clusters.iter().find(|c| c.label >= n_labels) {
        return Err(ProbeError::Shape(format!(
            "cluster label {} out of range for {n_labels} labels",
            c.label
        )));
    }
    let dists = distances(&kept)?;
    let mut sum = vec![vec![0.0; n_labels]; n_labels];
    let mut cnt = vec![vec![0usize; n_labels]; n_labels];
    let mut pair_min: Vec<Vec<Option<f64>>> = vec![vec![None; n_labels]; n_labels];
    for cd in &dists {
        let (a, b) = (clusters[cd.i].label, clusters[cd.j].label);
        for (x, y) in [(a, b), (b, a)] {
            sum[x][y] += cd.distance;
            cnt[x][y] += 1;
            let m = &mut pair_min[x][y];
            *m = Some(m.map_or(cd.distance, |m| m.min(cd.distance)));
        }
    }
    let pair: Vec<Vec<Option<f64>>> = (0..n_labels)
        .map(|a| {
            (0..n_labels)
                .map(|b| (cnt[a][b] > 0).then(|| sum[a][b] / cnt[a][b] as f64))
                .collect()
        })
        .collect();
    let mut vec = Vec::new();
    for (a, row) in pair.iter().enumerate() {
        for (b, v) in row.iter().enumerate().skip(a + 1) {
            vec.push((a, b, v.unwrap_or(0.0)));
        }
    }
    let outside_min = (0..n_labels)
        .map(|a| {
            (0..n_labels)
                .filter(|&b| b != a)
                .filter_map(|b| pair[a][b])
                .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.min(v))))
                .unwrap_or(0.0)
        })
        .collect();
    let inside: Vec<Option<(f64, f64)>> = kept
        .par_iter()
        .map(|&k| {
            let m = &clusters[k].members;
            if m.len() < 2 {
                return None;
            }
            Some(kernels::pairwise_mean_max(&points.gather(m), points.d))
        })
        .collect();
    let mut inside_mean = vec![0.0; n_labels];
    let mut inside_max = vec![0.0; n_labels];
    let mut n_in = vec![0usize; n_labels];
    for (&k, v) in kept.iter().zip(&inside) {
        if let Some((mean, mx)) = v {
            let l = clusters[k].label;
            inside_mean[l] += mean;
            n_in[l] += 1;
            inside_max[l] = f64::max(inside_max[l], *mx);
        }
    }
    for l in 0..n_labels {
        if n_in[l] > 0 {
            inside_mean[l] /= n_in[l] as f64;
        }
    }
    Ok(LabelMetrics {
        min_cluster_size,
        kept,
        dropped,
        pair,
        pair_min,
        vec,
        outside_min,
        inside_mean,
        inside_max,
    })
}

/// A pair of differently-labelled clusters found to intersect by [`check_clusters`].
#[derive(Debug, Clone, PartialEq)]
pub struct OverlappingPair {
    /// First cluster id.
    pub i: usize,
    /// Second cluster id.
    pub j: usize,
}

/// Checks fixed clusters (e.g. from an earlier run) for overlap: every pair of clusters (among
/// `ids`) with different labels whose hulls intersect (the batch mode's `_check_overlaps`).
pub fn check_clusters(
    points: &Points,
    clusters: &[cluster::Cluster],
    ids: &[usize],
) -> Result<Vec<OverlappingPair>, ProbeError> {
    let mut pairs = Vec::new();
    for (x, &i) in ids.iter().enumerate() {
        for &j in &ids[x + 1..] {
            if clusters[i].label != clusters[j].label {
                pairs.push((i.min(j), i.max(j)));
            }
        }
    }
    let res: Result<Vec<Option<OverlappingPair>>, ProbeError> = pairs
        .into_par_iter()
        .map(|(i, j)| {
            let ov = hulls_intersect(points, &clusters[i].members, &clusters[j].members)?;
            Ok(ov.intersects().then_some(OverlappingPair { i, j }))
        })
        .collect();
    Ok(res?.into_iter().flatten().collect())
}

pub use cluster::Cluster;

#[cfg(test)]
mod tests {
    use super::*;

    /// Hulls 3e-7 of their radius apart whose nearest faces hold rank + 1 points
    /// (`directprobe_stall.json`, made by scripts/reference/directprobe_reference.py --stall):
    /// the first nearest-point run on vertex pairs stalls, and the active-set polish decides the
    /// overlap test with a separating hyperplane verified here on every point.
    #[test]
    fn a_stalled_overlap_test_is_decided_by_the_polish() {
        let f: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/directprobe_stall.json"))
                .unwrap();
        let rows = |v: &serde_json::Value| -> (Vec<f64>, usize) {
            let m = v.as_array().unwrap();
            let flat = m
                .iter()
                .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
                .collect();
            (flat, m.len())
        };
        let mut polished = 0;
        for (k, case) in f["cases"].as_array().unwrap().iter().enumerate() {
            let ((a, na), (b, _)) = (rows(&case["a"]), rows(&case["b"]));
            let d = a.len() / na;
            let want = case["distance"].as_f64().unwrap();
            let (ov, by, _) =
                overlap_blocks(Rows::Block(&a), Rows::Block(&b), d, None, 0.0, &[]).unwrap();
            let Overlap::Disjoint {
                hyperplane: Some((w, offset, gap)),
            } = ov
            else {
                panic!("case {k}: {ov:?}");
            };
            // Every point on its side, up to the rounding of products of this scale.
            let scale = a.iter().chain(&b).fold(0.0f64, |m, v| m.max(v.abs())) * (d as f64);
            let slack = 1e-13 * scale;
            let along = |r: &[f64]| dot(&w, r) - offset;
            let lowest = a.chunks_exact(d).map(along).fold(f64::INFINITY, f64::min);
            let highest = b
                .chunks_exact(d)
                .map(along)
                .fold(f64::NEG_INFINITY, f64::max);
            assert!(lowest >= gap / 2.0 - slack, "case {k}: {lowest:e} {gap:e}");
            assert!(
                highest <= -gap / 2.0 + slack,
                "case {k}: {highest:e} {gap:e}"
            );
            assert!(
                gap > 0.0 && gap <= want * (1.0 + 1e-2),
                "case {k}: margin {gap:e}, distance {want:e}"
            );
            polished += usize::from(by == Decider::Polish);
        }
        assert!(polished > 0, "no overlap test went to the polish");
    }
}
