//! Point-to-hull distances of many points in lockstep, for [`super::predict`].
//!
//! [`CentredHull::distance_to`] runs the working-set nearest-point iteration
//! ([`mnp::min_norm_point_ws`]) per point, and every round of it makes a full oracle pass over
//! the hull's rows: a matrix-vector product bound by memory. Here a block of points advances
//! round by round together, so one tiled pass ([`dots_block`]) over the rows serves the whole
//! block. Every value of the pass is bit-identical to the per-point one, and each point's run
//! is the same [`WsRun`] that [`mnp::min_norm_point_ws`] drives, so the distances are
//! bit-identical too.

use super::kernels::{dot, dots_block};
use super::mnp::{self, Mnp, WsRun};
use super::{distance_params, settle_distance, CentredHull, ProbeError};

/// Points whose runs share each full pass over a hull's rows.
const BLOCK: usize = 32;

/// One point's working-set run against a hull (the point as the single row of the second set),
/// paused before each full oracle pass.
struct Run {
    /// Position of the point in the caller's list.
    slot: usize,
    /// The point minus the hull's centroid.
    q: Vec<f64>,
    radius: f64,
    ws: WsRun,
}

impl Run {
    /// The run of point `p` against a hull of `na` centred rows (centroid `centre`, largest
    /// centred row norm `hull_radius`), or its distance 0 when the pair has radius 0. The first
    /// pass is along −q.
    fn new(slot: usize, p: &[f64], centre: &[f64], hull_radius: f64, na: usize) -> Option<Self> {
        let q: Vec<f64> = p.iter().zip(centre).map(|(x, c)| x - c).collect();
        let radius = hull_radius.max(dot(&q, &q).sqrt());
        if radius == 0.0 {
            return None;
        }
        let dir = q.iter().map(|v| -v).collect();
        let ws = WsRun::new(
            distance_params(q.len(), radius),
            dir,
            na,
            1,
            usize::MAX,
            &[],
        );
        Some(Self {
            slot,
            q,
            radius,
            ws,
        })
    }

    /// Takes the pass `ga` (the hull rows' products with the run's direction) and runs until
    /// the next pass is needed (`None`) or the run ends (its outcome).
    fn step(&mut self, rows: &[f64], d: usize, ga: &[f64]) -> Option<Mnp> {
        let gb = [dot(self.ws.dir(), &self.q)];
        self.ws.step(rows, &self.q, d, ga, &gb)
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
        active.iter().for_each(|r| xs.extend_from_slice(r.ws.dir()));
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
                        run.ws.params(),
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
