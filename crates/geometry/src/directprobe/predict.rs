//! Point-to-hull distances of many points in lockstep, for [`super::predict`].
//!
//! [`CentredHull::distance_to`] runs the working-set nearest-point iteration
//! ([`mnp::min_norm_point_ws`]) per point, and every round of it makes a full oracle pass over
//! the hull's rows: a matrix-vector product bound by memory. Here a block of points advances
//! round by round together, so one tiled pass ([`dots_block`]) over the rows serves the whole
//! block. Every value of the pass is bit-identical to the per-point one, and each point's run
//! repeats [`mnp::min_norm_point_ws`] step for step, so the distances are bit-identical too.

use super::kernels::{dot, dots_block};
use super::mnp::{self, Corral, Mnp, MnpParams, Weights};
use super::{distance_params, settle_distance, CentredHull, ProbeError};

/// Points whose runs share each full pass over a hull's rows.
const BLOCK: usize = 32;

/// One point's working-set run against a hull (the point as the single row of the second set),
/// paused before each full oracle pass along `dir`.
struct Run {
    /// Position of the point in the caller's list.
    slot: usize,
    /// The point minus the hull's centroid.
    q: Vec<f64>,
    radius: f64,
    params: MnpParams,
    /// Direction of the pending pass: −q first, then the subproblem's unit normal.
    dir: Vec<f64>,
    /// Whether the first pass (along −q) has been taken.
    started: bool,
    in_a: Vec<bool>,
    wa: Vec<usize>,
    in_b: Vec<bool>,
    wb: Vec<usize>,
    /// The subproblem's last corral, in working-set positions.
    warm: Corral,
    lower: f64,
    upper: f64,
    best: Option<(Vec<f64>, f64)>,
    sub_separated: bool,
    sub_near: Option<Weights>,
}

impl Run {
    /// The run of point `p` against a hull of `na` centred rows (centroid `centre`, largest
    /// centred row norm `hull_radius`), or its distance 0 when the pair has radius 0.
    fn new(slot: usize, p: &[f64], centre: &[f64], hull_radius: f64, na: usize) -> Option<Self> {
        let q: Vec<f64> = p.iter().zip(centre).map(|(x, c)| x - c).collect();
        let radius = hull_radius.max(dot(&q, &q).sqrt());
        if radius == 0.0 {
            return None;
        }
        let dir = q.iter().map(|v| -v).collect();
        Some(Self {
            slot,
            params: distance_params(q.len(), radius),
            q,
            radius,
            dir,
            started: false,
            in_a: vec![false; na],
            wa: Vec::new(),
            in_b: vec![false],
            wb: Vec::new(),
            warm: Vec::new(),
            lower: 0.0,
            upper: f64::INFINITY,
            best: None,
            sub_separated: false,
            sub_near: None,
        })
    }

    /// Takes the pass `ga` (the hull rows' products with `dir`) and runs until the next pass
    /// is needed (`None`, `dir` set) or the run ends (its outcome).
    fn step(&mut self, rows: &[f64], d: usize, ga: &[f64]) -> Option<Mnp> {
        let gb = [dot(&self.dir, &self.q)];
        if !self.started {
            self.started = true;
            mnp::add_extreme(
                ga,
                &mut self.in_a,
                &mut self.wa,
                mnp::WS_INIT,
                false,
                f64::INFINITY,
            );
            mnp::add_extreme(
                &gb,
                &mut self.in_b,
                &mut self.wb,
                mnp::WS_INIT,
                true,
                f64::NEG_INFINITY,
            );
        } else if let Some(end) = self.after_pass(ga, &gb) {
            return Some(end);
        }
        self.subproblem(rows, d)
    }

    /// The checks of a round after its full pass along the subproblem's normal `dir`.
    fn after_pass(&mut self, ga: &[f64], gb: &[f64]) -> Option<Mnp> {
        let p = &self.params;
        let (_, amin) = mnp::argmin(ga.iter().copied());
        let (_, bmax) = mnp::argmax(gb.iter().copied());
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
        let sa_min = self.wa.iter().map(|&i| ga[i]).fold(f64::INFINITY, f64::min);
        let sb_max = self
            .wb
            .iter()
            .map(|&j| gb[j])
            .fold(f64::NEG_INFINITY, f64::max);
        let tol = 1e-12 * upper.max(p.sep_tol);
        let added = mnp::add_extreme(
            ga,
            &mut self.in_a,
            &mut self.wa,
            mnp::WS_ADD,
            false,
            sa_min - tol,
        ) + mnp::add_extreme(
            gb,
            &mut self.in_b,
            &mut self.wb,
            mnp::WS_ADD,
            true,
            sb_max + tol,
        );
        if added == 0 && self.sub_separated && gap > p.sep_tol {
            return Some(self.separated(amin, bmax, gap));
        }
        if added == 0 || converged {
            return Some(Mnp::Stalled {
                lower: self.lower,
                upper,
                best: self.best.take(),
                near: self.sub_near.take(),
            });
        }
        None
    }

    /// The run's outcome when the pass along `dir` (extremes `amin` on the hull, `bmax` at
    /// the point) certifies the hyperplane.
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

    /// Wolfe's algorithm on the working sets from `dir`; sets `dir` to the normal for the next
    /// pass, or returns the run's outcome.
    fn subproblem(&mut self, rows: &[f64], d: usize) -> Option<Mnp> {
        let gather = |set: &[usize], src: &[f64]| {
            let mut out = Vec::with_capacity(set.len() * d);
            set.iter()
                .for_each(|&i| out.extend_from_slice(&src[i * d..(i + 1) * d]));
            out
        };
        let (sa, sb) = (gather(&self.wa, rows), gather(&self.wb, &self.q));
        let sub =
            mnp::min_norm_point_from(&sa, &sb, d, &self.params, Some(&self.dir), &mut self.warm);
        self.sub_separated = matches!(sub, Mnp::Separated { .. });
        self.sub_near = None;
        let (w, sub_upper) = match sub {
            Mnp::Touching {
                lambda,
                mu,
                residual,
            } => {
                let (lambda, mu) = mnp::remap(lambda, mu, &self.wa, &self.wb);
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
                self.sub_near = near.map(|(l, m)| mnp::remap(l, m, &self.wa, &self.wb));
                (w, u)
            }
            Mnp::Stalled { upper: u, near, .. } => {
                return Some(Mnp::Stalled {
                    lower: self.lower,
                    upper: self.upper.min(u),
                    best: self.best.take(),
                    near: near.map(|(l, m)| mnp::remap(l, m, &self.wa, &self.wb)),
                });
            }
        };
        self.upper = self.upper.min(sub_upper);
        self.dir = w;
        None
    }
}

/// The distances from `points` to the hull, bit-identical to [`CentredHull::distance_to`] of
/// each: hulls small enough for a single Wolfe run go point by point; larger ones run blocks of
/// [`BLOCK`] points in lockstep (a finished point's place goes to the next), each round's full
/// oracle pass one tiled product of the block's directions with the rows.
pub(super) fn distances(hull: &CentredHull, points: &[&[f64]]) -> Vec<Result<f64, ProbeError>> {
    let (rows, centre) = hull.parts();
    let d = hull.d;
    let na = rows.len() / d;
    if na < mnp::WS_MIN_POINTS {
        return points.iter().map(|p| hull.distance_to(p)).collect();
    }
    let mut out: Vec<Option<Result<f64, ProbeError>>> = (0..points.len()).map(|_| None).collect();
    let mut pending = points.iter().enumerate();
    let mut active: Vec<Run> = Vec::with_capacity(BLOCK);
    let (mut xs, mut g) = (Vec::new(), Vec::new());
    loop {
        while active.len() < BLOCK {
            let Some((slot, p)) = pending.next() else {
                break;
            };
            match Run::new(slot, p, centre, hull.radius, na) {
                Some(run) => active.push(run),
                None => out[slot] = Some(Ok(0.0)),
            }
        }
        if active.is_empty() {
            break;
        }
        xs.clear();
        active.iter().for_each(|r| xs.extend_from_slice(&r.dir));
        g.resize(active.len() * na, 0.0);
        dots_block(&xs, rows, d, &mut g);
        let mut next = Vec::with_capacity(BLOCK);
        for (mut run, ga) in active.into_iter().zip(g.chunks_exact(na)) {
            match run.step(rows, d, ga) {
                None => next.push(run),
                Some(res) => {
                    let start: Vec<f64> = run.q.iter().map(|v| -v).collect();
                    let settled = settle_distance(
                        rows,
                        &run.q,
                        d,
                        run.radius,
                        Some(&start),
                        0.0,
                        &run.params,
                        res,
                    );
                    out[run.slot] = Some(settled.map(|r| r.0));
                }
            }
        }
        active = next;
    }
    out.into_iter()
        .map(|r| r.expect("every point ran"))
        .collect()
}
