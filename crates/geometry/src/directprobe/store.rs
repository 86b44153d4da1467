//! The active clusters of one label as `f32` centroids for the greedy's distance screens, with a
//! lower-bound screen on their leading coordinates.
//!
//! A screen measures squared distances from a query centroid to the store's centroids in `f32`;
//! the greedy decides in `f64` on the survivors. Every screen first reads only the first
//! [`LOW`] coordinates of each centroid (the leading principal directions when the points come
//! from [`super::Span::project`]): their squared distance never exceeds the full one, so a
//! centroid whose partial distance is already above a threshold is skipped without reading its
//! row. On the fine-tuned layer 6 of 100,000 Brown words, 5 % of a label's singletons come within
//! the 32-coordinate bound of a point's nearest neighbour, so most rows are never read.

use super::kernels::scan_f32;
use rayon::prelude::*;

/// Coordinates read by the lower-bound screen.
pub(crate) const LOW: usize = 32;

/// Factor on a threshold under which a lower bound cannot rule a centroid out: the `f32` sums
/// over the first [`LOW`] and over all coordinates each carry a rounding error far below it.
const LB_SLACK: f32 = 1.0 + 1e-4;

/// Rows scanned per parallel task.
const CHUNK: usize = 1024;

/// The active clusters of one label: their centroids (centred on the data mean, `f32`) in one
/// contiguous block, their leading coordinates in another, and the node of each slot.
pub(crate) struct Store {
    d: usize,
    /// Leading coordinates kept per slot; 0 when the rows are short enough to scan whole.
    low: usize,
    rows: Vec<f32>,
    lead: Vec<f32>,
    /// Node id of every slot.
    pub node: Vec<usize>,
}

impl Store {
    pub fn new(d: usize) -> Self {
        Self {
            d,
            low: if d > 2 * LOW { LOW } else { 0 },
            rows: Vec::new(),
            lead: Vec::new(),
            node: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.node.len()
    }

    /// The centroid of slot `s`.
    pub fn row(&self, s: usize) -> &[f32] {
        &self.rows[s * self.d..(s + 1) * self.d]
    }

    /// Appends `node` with its centred centroid; returns its slot.
    pub fn push(&mut self, node: usize, centred: impl Iterator<Item = f32>) -> usize {
        let start = self.rows.len();
        self.rows.extend(centred);
        debug_assert_eq!(self.rows.len() - start, self.d);
        self.lead
            .extend_from_slice(&self.rows[start..start + self.low]);
        self.node.push(node);
        self.node.len() - 1
    }

    /// Removes slot `s` by moving the last slot into it; returns the node that moved there.
    pub fn swap_remove(&mut self, s: usize) -> Option<usize> {
        let (d, k) = (self.d, self.low);
        let last = self.node.len() - 1;
        let moved = (s != last).then(|| {
            self.rows.copy_within(last * d..(last + 1) * d, s * d);
            self.lead.copy_within(last * k..(last + 1) * k, s * k);
            self.node[last]
        });
        self.node.swap_remove(s);
        self.rows.truncate(last * d);
        self.lead.truncate(last * k);
        moved
    }

    /// Starts a screen of every slot from `q` (a centred `f32` centroid): the lower bounds.
    pub fn screen<'s>(&'s self, q: &'s [f32]) -> Screen<'s> {
        let n = self.len();
        let mut lb = vec![0.0f32; n];
        let (cols, data) = if self.low == 0 {
            (self.d, &self.rows)
        } else {
            (self.low, &self.lead)
        };
        lb.par_chunks_mut(CHUNK)
            .zip(data.par_chunks(CHUNK * cols))
            .for_each(|(out, rows)| scan_f32(&q[..cols], rows, cols, out));
        let full = if self.low == 0 {
            lb.clone()
        } else {
            vec![f32::NAN; n]
        };
        Screen {
            store: self,
            q,
            lb,
            full,
        }
    }
}

/// Screened squared distances from one query to every slot of a store: lower bounds for all,
/// full `f32` distances measured on demand.
pub(crate) struct Screen<'s> {
    store: &'s Store,
    q: &'s [f32],
    /// Lower bound of slot `s`'s screened squared distance (to within [`LB_SLACK`]).
    pub lb: Vec<f32>,
    full: Vec<f32>,
}

impl Screen<'_> {
    /// Whether slot `s` may lie within squared distance `t` (false: certainly beyond it).
    pub fn may_be_within(&self, s: usize, t: f32) -> bool {
        self.lb[s] <= t * LB_SLACK
    }

    /// Measures the full screened distance of every slot in `slots` (in parallel).
    pub fn measure(&mut self, slots: &[usize]) {
        let todo: Vec<usize> = slots
            .iter()
            .copied()
            .filter(|&s| self.full[s].is_nan())
            .collect();
        let (st, q) = (self.store, self.q);
        let vals: Vec<f32> = todo
            .par_iter()
            .map(|&s| {
                let mut one = [0.0f32];
                scan_f32(q, st.row(s), st.d, &mut one);
                one[0]
            })
            .collect();
        for (s, v) in todo.into_iter().zip(vals) {
            self.full[s] = v;
        }
    }

    /// The full screened squared distance of slot `s` (measured by [`Screen::measure`]).
    pub fn full(&self, s: usize) -> f32 {
        debug_assert!(!self.full[s].is_nan(), "slot {s} not measured");
        self.full[s]
    }

    /// The slots that `ok` accepts whose screened distance is within `slack` of the smallest
    /// such distance, exactly those a scan of every full row would keep, each measured; and
    /// that smallest distance. `slack` must be non-decreasing. `None` when `ok` accepts no slot.
    pub fn near_min(
        &mut self,
        ok: impl Fn(usize) -> bool + Sync,
        slack: impl Fn(f32) -> f32,
    ) -> Option<(f32, Vec<usize>)> {
        let n = self.lb.len();
        let s0 = (0..n)
            .filter(|&s| ok(s))
            .min_by(|&a, &b| self.lb[a].total_cmp(&self.lb[b]).then(a.cmp(&b)))?;
        self.measure(&[s0]);
        // Any slot nearer than slot s0 has its lower bound below s0's distance.
        let limit = slack(self.full[s0]);
        let cand: Vec<usize> = (0..n)
            .filter(|&s| ok(s) && self.may_be_within(s, limit))
            .collect();
        self.measure(&cand);
        let min = cand
            .iter()
            .map(|&s| self.full[s])
            .fold(f32::INFINITY, f32::min);
        let bound = slack(min);
        Some((
            min,
            cand.into_iter()
                .filter(|&s| self.full[s] <= bound)
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded stream of values in [-1, 1) (xorshift).
    fn values(mut x: u64) -> impl FnMut() -> f32 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        }
    }

    #[test]
    fn lower_bound_screen_keeps_what_a_full_scan_keeps() {
        let d = 100;
        let mut next = values(7);
        let mut st = Store::new(d);
        assert_eq!(st.low, LOW);
        for k in 0..3000 {
            // Leading coordinates carry most of the spread, as principal coordinates do.
            let row: Vec<f32> = (0..d)
                .map(|c| next() * if c < 10 { 4.0 } else { 0.3 })
                .collect();
            st.push(k, row.into_iter());
        }
        for s in (0..3000).step_by(7).rev() {
            st.swap_remove(s);
        }
        let slack = |s: f32| s * 1.001 + 1e-6;
        for qi in 0..20 {
            let q = st.row(qi * 11).to_vec();
            let mut full = vec![0.0f32; st.len()];
            scan_f32(&q, &st.rows, d, &mut full);
            let ok = |s: usize| !s.is_multiple_of(5) && s != qi * 11;
            let min = (0..st.len())
                .filter(|&s| ok(s))
                .map(|s| full[s])
                .fold(f32::INFINITY, f32::min);
            let want: Vec<usize> = (0..st.len())
                .filter(|&s| ok(s) && full[s] <= slack(min))
                .collect();
            let mut screen = st.screen(&q);
            for (lb, f) in screen.lb.iter().zip(&full) {
                assert!(lb <= f, "a lower bound above the distance");
            }
            let (got_min, got) = screen.near_min(ok, slack).unwrap();
            assert_eq!(got_min, min);
            assert_eq!(got, want);
            for &s in &got {
                assert_eq!(screen.full(s), full[s]);
            }
        }
    }
}
