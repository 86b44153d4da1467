//! The clustering driver: checked greedy merging from singletons.
//!
//! The greedy definition (same-label clusters merged in order of centroid distance, a merge
//! accepted iff the merged hull meets no hull of another label's active cluster, a rejected pair
//! never retried) is followed exactly, with work skipped only where a certificate decides it:
//!
//! * **Label components.** Label-level separators ([`super::separate`]) certify pairs of labels
//!   whose whole hulls are disjoint. Merges of a label can then never be rejected because of the
//!   other, so the greedy runs independently on each connected component of the "not certified
//!   disjoint" graph, and a label alone in its component (every label, in a linear space) ends as
//!   one cluster without any merging or test.
//! * **Zones.** Within a component, a candidate whose points are all clear of label m (on its own
//!   side of the pair's hyperplane) is tested only against the clusters of m that hold zone
//!   points; every other cluster of m lies strictly on the other side.
//! * **Nearest neighbours.** Candidates come from each cluster's nearest same-label neighbour
//!   (a lazy heap), screened in `f32` and measured exactly in `f64`, instead of a heap of all
//!   pairs; the pop order is the same `(distance, i, j)` order.
//!
//! Final clusters are numbered by their smallest member row, so the numbering does not depend
//! on the order in which components were processed.

use super::kernels::{dist2, scan_f32, SCREEN_SLACK};
use super::mnp::dot;
use super::separate::{separators, Separators};
use super::store::Store;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use super::{overlap_blocks, Decider, Overlap, Points, ProbeError, Rows, TOUCH_TOL};
use rayon::prelude::*;
use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeSet, BinaryHeap, HashMap, HashSet};

/// Batches per task of a candidate's first stages (its parents' planes re-checked): the
/// greedy's thread runs the first task, the others are spawned, so that the re-checks share the
/// threads with the overlap tests.
const SEGMENT: usize = 8;

/// A candidate's pair tests are read in batches of this size: a batch that finds an overlap
/// ends the candidate's checks (its other tests still count). Fixed, so counters do not depend
/// on thread count.
const BATCH: usize = 8;

/// A final cluster: its points (sorted) and label.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Cluster {
    /// Row indices of the member points, ascending.
    pub members: Vec<usize>,
    /// Label index (the majority label; clusters built by [`probe`] are pure).
    pub label: usize,
}

/// Counters of one [`probe`] run.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Stats {
    /// Candidate pairs examined (both clusters active).
    pub candidates: usize,
    /// Accepted merges.
    pub merges: usize,
    /// Rejected merges.
    pub rejected: usize,
    /// Differently-labelled clusters excluded by the bounding-sphere test.
    pub sphere_pruned: usize,
    /// Candidates rejected from a known overlapping subset pair.
    pub blacklist_hits: usize,
    /// Pair tests settled by re-checking a parent's separating hyperplane.
    pub hyperplane_hits: usize,
    /// Pair tests settled by the nearest-point iteration with a separating hyperplane.
    pub mnp_separated: usize,
    /// Pair tests settled by the nearest-point iteration with an intersection point.
    pub mnp_intersect: usize,
    /// Intersection LPs solved.
    pub lp_calls: usize,
    /// LPs that found the hulls intersecting.
    pub lp_intersect: usize,
    /// Pair tests decided by the active-set polish after the nearest-point iteration stalled
    /// (either way).
    pub polished: usize,
    /// Pairs on which the nearest-point iteration stalled, counted as touching because their
    /// certified distance is within [`super::NEAR_TOUCH`] of the pair radius (no LP).
    pub near_touch: usize,
    /// Clusters active now (final count at the end).
    pub active: usize,
    /// Connected components of labels whose hulls are not certified disjoint.
    pub components: usize,
    /// Labels alone in their component: one cluster each, no merge tested.
    pub settled_labels: usize,
    /// Cluster tests skipped because the label-pair hyperplane separates the two clusters.
    pub zone_skipped: usize,
}

/// Live progress, passed to [`Options::progress`] after every examined candidate.
pub type Progress = Stats;

/// Options of [`probe`].
#[derive(Default)]
pub struct Options<'a> {
    /// Called with the counters after each examined candidate pair.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
    /// Test every candidate against every other label's clusters (no label-level certificates:
    /// one component, every point in every zone) and start every nearest-point iteration cold
    /// (no corral carried over from a parent's test). Same clusters, much slower; for
    /// verification.
    pub exhaustive: bool,
}

/// Result of [`probe`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Clustering {
    /// Clusters, ids consecutive in the order of their smallest member row.
    pub clusters: Vec<Cluster>,
    /// Cluster id of every training point.
    pub assignment: Vec<usize>,
    /// Counters of the run (zero for a clustering built by [`Clustering::from_assignment`]).
    pub stats: Stats,
    /// The separating hyperplanes the greedy holds between final clusters of different labels
    /// (empty for a clustering built by [`Clustering::from_assignment`]): lower bounds on their
    /// hull distances that [`super::clustering_distances`] starts from.
    #[serde(skip)]
    pub separations: Vec<Separation>,
}

/// A hyperplane certified to separate two final clusters: `normal·x ≥ above` on every point of
/// cluster `i` and `≤ below` on every point of cluster `j` (unit normal, `above > below`, in
/// the coordinates of the clustered points). Its margin `above − below` bounds the clusters'
/// hull distance from below.
#[derive(Debug, Clone, PartialEq)]
pub struct Separation {
    /// Cluster on the positive side.
    pub i: usize,
    /// Cluster on the negative side.
    pub j: usize,
    /// Unit normal.
    pub normal: Arc<[f64]>,
    /// Smallest value of `normal·x` over cluster `i`'s points (at least).
    pub above: f64,
    /// Largest value of `normal·x` over cluster `j`'s points (at most).
    pub below: f64,
}

impl Clustering {
    /// Number of clusters.
    pub fn n_clusters(&self) -> usize {
        self.clusters.len()
    }

    /// Builds a fixed clustering from per-point cluster ids (as read from `clusters.txt`); each
    /// cluster's label is its majority label (ties: smallest label index).
    pub fn from_assignment(assignment: &[usize], labels: &[usize]) -> Result<Self, ProbeError> {
        if assignment.len() != labels.len() {
            return Err(ProbeError::Shape(format!(
                "{} cluster ids for {} labels",
                assignment.len(),
                labels.len()
            )));
        }
        let k = assignment.iter().max().map_or(0, |m| m + 1);
        let mut members = vec![Vec::new(); k];
        for (i, &c) in assignment.iter().enumerate() {
            members[c].push(i);
        }
        let mut clusters = Vec::with_capacity(k);
        for (id, m) in members.into_iter().enumerate() {
            if m.is_empty() {
                return Err(ProbeError::Shape(format!(
                    "cluster id {id} has no points (ids must be consecutive from 0)"
                )));
            }
            let mut counts: HashMap<usize, usize> = HashMap::new();
            for &i in &m {
                *counts.entry(labels[i]).or_default() += 1;
            }
            let label = counts
                .into_iter()
                .max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0)))
                .map(|e| e.0)
                .expect("non-empty cluster");
            clusters.push(Cluster { members: m, label });
        }
        Ok(Self {
            clusters,
            assignment: assignment.to_vec(),
            stats: Stats::default(),
            separations: Vec::new(),
        })
    }
}

/// A candidate pair ordered by centroid distance, then cluster indices.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Key {
    dist2: f64,
    i: usize,
    j: usize,
}
impl Eq for Key {}
impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Key {
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist2
            .total_cmp(&o.dist2)
            .then(self.i.cmp(&o.i))
            .then(self.j.cmp(&o.j))
    }
}

struct Node {
    /// Member rows (in merge order; sorted only in the final clusters).
    members: Vec<usize>,
    label: usize,
    centroid: Vec<f64>,
    /// Upper bound on the largest distance of a member from the centroid.
    radius: f64,
    active: bool,
    /// Position in its label's active store, while active.
    slot: usize,
    /// Per component label (by position): members in the zone of that label's pair.
    zone: Vec<u32>,
}

/// Separating hyperplane of a cluster pair: `w·x ≥ lo_pos` on cluster `pos`, `≤ hi_neg` on the
/// other, with `lo_pos > hi_neg`.
///
/// Planes re-checked on a merged cluster share the normal and the seed of the plane they extend.
struct HPlane {
    w: Arc<[f64]>,
    lo_pos: f64,
    hi_neg: f64,
    pos: usize,
    /// The nearest-point corral that found the plane: (row on the `pos` side, row on the other
    /// side, convex weight); it starts the iteration of a later test of a merged cluster.
    seed: Option<Arc<[(usize, usize, f64)]>>,
}

enum PairResult {
    Separable(Option<HPlane>),
    Intersect(Vec<usize>, Vec<usize>),
}

/// A pair test's outcome and what decided it (`None`: a parent's hyperplane).
type Tested = (PairResult, Option<Decider>);

/// A plane held between two final clusters: (a member row on its positive side, one on its
/// negative side, unit normal, above, below); see [`Separation`].
type HeldPlane = (usize, usize, Arc<[f64]>, f64, f64);

/// Hashes node-id pairs for the greedy's maps by a multiply-rotate mix (the default SipHash
/// took a tenth of the clustering time on lookups of separating planes).
#[derive(Default, Clone, Copy)]
struct PairHasher(u64);

impl std::hash::Hasher for PairHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.write_u64(u64::from(b)));
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type PairHash = std::hash::BuildHasherDefault<PairHasher>;

/// Squared distances within this of `s` (the screened minimum, from a query of norm `qn`) are
/// measured exactly: the `f32` screen's error is far below it.
fn screen_slack(s: f32, qn: f32) -> f32 {
    s * (1.0 + SCREEN_SLACK) + 1e-5 * s.sqrt() * (2.0 * qn + 1.0) + 1e-30
}

fn key(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

/// Runs DirectProbe's clustering on `points` with per-point label indices `labels`.
///
/// Errors on mismatched lengths, an empty input, or identical vectors with different labels
/// (naming the two rows). Deterministic: the clusters do not depend on the thread count.
pub fn probe(points: &Points, labels: &[usize], opts: &Options) -> Result<Clustering, ProbeError> {
    let n = points.len();
    let d = points.dim();
    if labels.len() != n {
        return Err(ProbeError::Shape(format!(
            "{n} vectors but {} labels",
            labels.len()
        )));
    }
    if n == 0 {
        return Err(ProbeError::Shape("no training points".into()));
    }
    let mut seen: HashMap<Vec<u64>, usize> = HashMap::with_capacity(n);
    for i in 0..n {
        let bits: Vec<u64> = points.row(i).iter().map(|v| (v + 0.0).to_bits()).collect();
        match seen.get(&bits) {
            Some(&f) if labels[f] != labels[i] => {
                return Err(ProbeError::DuplicateConflict {
                    first: f,
                    second: i,
                    first_label: labels[f],
                    second_label: labels[i],
                })
            }
            Some(_) => {}
            None => {
                seen.insert(bits, i);
            }
        }
    }
    drop(seen);
    let n_labels = labels.iter().max().map_or(0, |m| m + 1);
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); n_labels];
    for (i, &l) in labels.iter().enumerate() {
        by_label[l].push(i);
    }
    let mut mean = vec![0.0; d];
    for i in 0..n {
        for (m, v) in mean.iter_mut().zip(points.row(i)) {
            *m += v;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let scale = (0..n)
        .map(|i| dist2(points.row(i), &mean))
        .fold(0.0f64, f64::max)
        .sqrt();
    let seps = separators(points, &by_label, &mean, scale, opts.exhaustive);

    // Components of the "not certified disjoint" label graph (union-find).
    let mut parent: Vec<usize> = (0..n_labels).collect();
    fn find(p: &mut [usize], x: usize) -> usize {
        let mut r = x;
        while p[r] != r {
            r = p[r];
        }
        p[x] = r;
        r
    }
    for l in 0..n_labels {
        for m in l + 1..n_labels {
            if !seps.disjoint(l, m) {
                let (a, b) = (find(&mut parent, l), find(&mut parent, m));
                parent[a.max(b)] = a.min(b);
            }
        }
    }
    let mut comps: Vec<Vec<usize>> = vec![Vec::new(); n_labels];
    for l in (0..n_labels).filter(|&l| !by_label[l].is_empty()) {
        let r = find(&mut parent, l);
        comps[r].push(l);
    }
    comps.retain(|c| !c.is_empty());
    let mut stats = Stats {
        active: n,
        components: comps.len(),
        ..Stats::default()
    };
    let mut clusters: Vec<Cluster> = Vec::new();
    // Separations between final clusters, by a member row of each (cluster ids come last).
    let mut held: Vec<HeldPlane> = Vec::new();
    for comp in &comps {
        if let [l] = comp[..] {
            // Alone in its component: every merge of the label is accepted.
            let k = by_label[l].len();
            stats.candidates += k - 1;
            stats.merges += k - 1;
            stats.active -= k - 1;
            stats.settled_labels += 1;
            clusters.push(Cluster {
                members: by_label[l].clone(),
                label: l,
            });
            if let Some(cb) = opts.progress {
                cb(&stats);
            }
            continue;
        }
        let mut g = Greedy::new(points, labels, &by_label, comp, &seps, &mean);
        g.run(&mut stats, opts)?;
        let (cs, seps) = g.into_clusters();
        clusters.extend(cs);
        held.extend(seps);
    }
    for c in clusters.iter_mut() {
        c.members.sort_unstable();
    }
    clusters.sort_by_key(|c| c.members[0]);
    let mut assignment = vec![0usize; n];
    for (id, c) in clusters.iter().enumerate() {
        for &v in &c.members {
            assignment[v] = id;
        }
    }
    stats.active = clusters.len();
    held.sort_by_key(|e| (e.0, e.1));
    let separations = held
        .into_iter()
        .map(|(a, b, normal, above, below)| Separation {
            i: assignment[a],
            j: assignment[b],
            normal,
            above,
            below,
        })
        .collect();
    Ok(Clustering {
        clusters,
        assignment,
        stats,
        separations,
    })
}

/// The greedy on one component of labels. Node ids are local: the component's points in
/// ascending row order first, then merged clusters in creation order (the relative order of
/// the full run's ids, so ties break the same way).
struct Greedy<'a> {
    points: &'a Points,
    seps: &'a Separators,
    /// Component labels; a node's `zone` is indexed by position in this list.
    comp: Vec<usize>,
    /// Position of a label in `comp`.
    pos: HashMap<usize, usize>,
    mean: &'a [f64],
    nodes: Vec<Node>,
    stores: Vec<Store>,
    /// Node of every row of the component (`usize::MAX` elsewhere).
    owner: Vec<usize>,
    /// `zone_sets[a][b]`: active nodes of label `comp[a]` with zone points of pair (a, b).
    zone_sets: Vec<Vec<BTreeSet<usize>>>,
    nn: Vec<Option<Key>>,
    heap: BinaryHeap<Reverse<(Key, usize)>>,
    rejected: HashSet<(usize, usize), PairHash>,
    planes: HashMap<(usize, usize), HPlane, PairHash>,
    /// Per node: the nodes it holds a plane with, so that its planes leave `planes` when it
    /// merges. Entries of partners merged away since may remain (their planes are gone); they
    /// are dropped when the list is full, before it grows.
    plane_partners: Vec<Vec<usize>>,
    /// Pairs of row sets (of different labels) whose hulls meet: a candidate holding one set,
    /// tested against an active cluster holding the other, is rejected without a test.
    blacklist: Vec<(Vec<usize>, Vec<usize>)>,
    /// Per node: the blacklist entries with a side starting in one of its rows (moved to the
    /// merged node on a merge), so a candidate looks only at entries that can apply to it.
    black_of: Vec<Vec<usize>>,
}

impl<'a> Greedy<'a> {
    fn new(
        points: &'a Points,
        labels: &[usize],
        by_label: &[Vec<usize>],
        comp: &[usize],
        seps: &'a Separators,
        mean: &'a [f64],
    ) -> Self {
        let pos: HashMap<usize, usize> = comp.iter().enumerate().map(|(i, &l)| (l, i)).collect();
        let mut rows: Vec<usize> = comp
            .iter()
            .flat_map(|&l| by_label[l].iter().copied())
            .collect();
        rows.sort_unstable();
        let mut owner = vec![usize::MAX; points.len()];
        for (k, &r) in rows.iter().enumerate() {
            owner[r] = k;
        }
        let c = comp.len();
        let mut nodes: Vec<Node> = rows
            .iter()
            .map(|&r| Node {
                members: vec![r],
                label: labels[r],
                centroid: points.row(r).to_vec(),
                radius: 0.0,
                active: true,
                slot: 0,
                zone: vec![0; c],
            })
            .collect();
        let mut zone_sets = vec![vec![BTreeSet::new(); c]; c];
        for (a, &l) in comp.iter().enumerate() {
            for (b, &m) in comp.iter().enumerate() {
                if a != b {
                    for &r in seps.zone(l, m) {
                        nodes[owner[r]].zone[b] = 1;
                        zone_sets[a][b].insert(owner[r]);
                    }
                }
            }
        }
        let d = points.dim();
        let mut stores: Vec<Store> = (0..c).map(|_| Store::new(d)).collect();
        for (k, node) in nodes.iter_mut().enumerate() {
            let centred = node.centroid.iter().zip(mean).map(|(x, m)| (x - m) as f32);
            node.slot = stores[pos[&node.label]].push(k, centred);
        }
        let n_nodes = nodes.len();
        Self {
            points,
            seps,
            comp: comp.to_vec(),
            pos,
            mean,
            nodes,
            stores,
            owner,
            zone_sets,
            nn: vec![None; n_nodes],
            heap: BinaryHeap::new(),
            rejected: HashSet::default(),
            planes: HashMap::default(),
            plane_partners: vec![Vec::new(); n_nodes],
            blacklist: Vec::new(),
            black_of: vec![Vec::new(); n_nodes],
        }
    }

    /// The smallest `(distance, i, j)` key of node `a` with an active node of its label whose
    /// pair was never rejected.
    fn nearest(&self, a: usize) -> Option<Key> {
        let st = &self.stores[self.pos[&self.nodes[a].label]];
        let q: Vec<f32> = self.nodes[a]
            .centroid
            .iter()
            .zip(self.mean)
            .map(|(x, m)| (x - m) as f32)
            .collect();
        let qn = q.iter().map(|v| v * v).sum::<f32>().sqrt();
        let ok = |s: usize| {
            let b = st.node[s];
            b != a && !self.rejected.contains(&(a.min(b), a.max(b)))
        };
        let (_, near) = st.screen(&q).near_min(ok, |s| screen_slack(s, qn))?;
        near.into_iter()
            .map(|s| {
                let b = st.node[s];
                Key {
                    dist2: dist2(&self.nodes[a].centroid, &self.nodes[b].centroid),
                    i: a.min(b),
                    j: a.max(b),
                }
            })
            .min()
    }

    fn push_nn(&mut self, a: usize) {
        self.nn[a] = self.nearest(a);
        if let Some(k) = self.nn[a] {
            self.heap.push(Reverse((k, a)));
        }
    }

    fn run(&mut self, stats: &mut Stats, opts: &Options) -> Result<(), ProbeError> {
        let initial: Vec<Option<Key>> = (0..self.nodes.len())
            .into_par_iter()
            .map(|a| self.nearest(a))
            .collect();
        for (a, k) in initial.into_iter().enumerate() {
            self.nn[a] = k;
            if let Some(k) = k {
                self.heap.push(Reverse((k, a)));
            }
        }
        while let Some(Reverse((key, a))) = self.heap.pop() {
            if !self.nodes[a].active || self.nn[a] != Some(key) {
                continue;
            }
            let (p, q) = (key.i, key.j);
            let other = if p == a { q } else { p };
            if !self.nodes[other].active {
                self.push_nn(a);
                continue;
            }
            stats.candidates += 1;
            if self.examine(p, q, stats, !opts.exhaustive)? {
                stats.merges += 1;
                stats.active -= 1;
            } else {
                stats.rejected += 1;
                self.rejected.insert((p, q));
                self.push_nn(p);
                self.push_nn(q);
            }
            if let Some(cb) = opts.progress {
                cb(stats);
            }
        }
        Ok(())
    }

    /// Tests the candidate `p ∪ q` and merges it if it meets no other label's cluster.
    ///
    /// With `warm`, a test that needs the nearest-point iteration starts from the corral that
    /// separated a parent from the same cluster.
    fn examine(
        &mut self,
        p: usize,
        q: usize,
        stats: &mut Stats,
        warm: bool,
    ) -> Result<bool, ProbeError> {
        let points = self.points;
        let d = points.dim();
        let floor = points.precision();
        let nodes = &self.nodes;
        let label = nodes[p].label;
        let la = self.pos[&label];
        let (np, nq) = (nodes[p].members.len() as f64, nodes[q].members.len() as f64);
        let centroid: Vec<f64> = nodes[p]
            .centroid
            .iter()
            .zip(&nodes[q].centroid)
            .map(|(a, b)| (np * a + nq * b) / (np + nq))
            .collect();
        let radius = f64::max(
            nodes[p].radius + dist2(&nodes[p].centroid, &centroid).sqrt(),
            nodes[q].radius + dist2(&nodes[q].centroid, &centroid).sqrt(),
        );
        let zone: Vec<u32> = nodes[p]
            .zone
            .iter()
            .zip(&nodes[q].zone)
            .map(|(x, y)| x + y)
            .collect();
        // A known meeting pair inside the candidate and an active cluster of another label
        // that the candidate's tests would reach (below): rejected before any screen.
        let black = self.blacklisted(p, q);
        if let Some(k) = black {
            let b = self.pos[&nodes[k].label];
            let reached = !self.seps.disjoint(label, nodes[k].label)
                && (zone[b] > 0 || self.zone_sets[b][la].contains(&k))
                && {
                    let rr = nodes[k].radius + radius;
                    let dk = dist2(&nodes[k].centroid, &centroid).sqrt();
                    dk < rr + TOUCH_TOL * (rr + dk) + floor
                };
            if reached {
                stats.blacklist_hits += 1;
                return Ok(false);
            }
        }

        // Clusters of other labels that the pair hyperplanes do not already separate, and of
        // those the ones whose bounding sphere meets the candidate's (the exact `f64` test below):
        // screened in `f32` on the stores' centroids, measured in `f64` only where the screen's
        // error bound straddles the threshold. `near` is in screened-distance order.
        let c32: Vec<f32> = centroid
            .iter()
            .zip(self.mean)
            .map(|(x, m)| (x - m) as f32)
            .collect();
        let qn = c32.iter().map(|v| v * v).sum::<f32>().sqrt();
        // A screened distance and a bound on its error (rounding of the centroids to f32 and of
        // the f32 sum), both far below these terms.
        let screened = |s32: f32| {
            let d32 = s32.sqrt();
            (d32, 1e-3 * d32 + 1e-5 * (2.0 * qn + d32 + 1.0))
        };
        // Certainly apart at screened squared distance `s32` (or any larger one).
        let apart = |k: usize, s32: f32| {
            let (d32, err) = screened(s32);
            let rr = nodes[k].radius + radius;
            let reach = rr + TOUCH_TOL * (rr + f64::from(d32 + err)) + floor;
            f64::from(d32 - err) * (1.0 - 1e-6) > reach
        };
        let sphere = |k: usize, s32: f32| -> Option<(f32, usize)> {
            if apart(k, s32) {
                return None;
            }
            let (d32, err) = screened(s32);
            let rr = nodes[k].radius + radius;
            if f64::from(d32 + err) * (1.0 + 1e-6) < rr + floor {
                return Some((d32, k));
            }
            let dk = dist2(&nodes[k].centroid, &centroid).sqrt();
            (dk < rr + TOUCH_TOL * (rr + dk) + floor).then_some((d32, k))
        };
        let mut near: Vec<(f32, usize)> = Vec::new();
        let mut considered = 0usize;
        for (b, &m) in self.comp.iter().enumerate() {
            if b == la || self.seps.disjoint(label, m) {
                continue;
            }
            let st = &self.stores[b];
            if zone[b] == 0 {
                let z = &self.zone_sets[b][la];
                stats.zone_skipped += st.node.len() - z.len();
                considered += z.len();
                let mut one = [0.0f32];
                for &k in z {
                    let slot = nodes[k].slot;
                    scan_f32(&c32, st.row(slot), d, &mut one);
                    near.extend(sphere(k, one[0]));
                }
            } else {
                considered += st.len();
                let mut screen = st.screen(&c32);
                // Certainly apart on the leading coordinates alone: not measured further.
                let open: Vec<usize> = (0..st.len())
                    .filter(|&s| !apart(st.node[s], screen.lb[s]))
                    .collect();
                screen.measure(&open);
                near.extend(
                    open.into_iter()
                        .filter_map(|s| sphere(st.node[s], screen.full(s))),
                );
            }
        }
        stats.sphere_pruned += considered - near.len();
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        let mut accepted = true;
        let mut new_planes: Vec<(usize, HPlane)> = Vec::new();
        if !near.is_empty() {
            // Known overlapping subsets: a superset of an intersecting pair intersects.
            if black.is_some() {
                stats.blacklist_hits += 1;
                accepted = false;
            } else {
                let mut members =
                    Vec::with_capacity(nodes[p].members.len() + nodes[q].members.len());
                members.extend_from_slice(&nodes[p].members);
                members.extend_from_slice(&nodes[q].members);
                let planes = &self.planes;
                let seps = self.seps;
                // A test's first stage: a parent's hyperplane re-checked on the other parent,
                // smaller side first. It settles most tests, cheaply, so it runs here (a parallel
                // batch of such tests cost more in scheduling than it saved); what it leaves is a
                // first direction and the parents' seeds.
                type Left<'h> = (Option<Vec<f64>>, Vec<(usize, &'h HPlane)>);
                let order = if nodes[q].members.len() <= nodes[p].members.len() {
                    [(p, q), (q, p)]
                } else {
                    [(q, p), (p, q)]
                };
                // The parents' planes with every cluster to test, looked up at once: lookups
                // missing the cache overlap, where one before each re-check waited in turn.
                let held: Vec<[Option<&HPlane>; 2]> = near
                    .iter()
                    .map(|&(_, k)| order.map(|(par, _)| planes.get(&key(par, k))))
                    .collect();
                let first = |at: usize| -> Result<HPlane, Left> {
                    let (dk, k) = near[at];
                    let tol = (TOUCH_TOL * (radius + nodes[k].radius + f64::from(dk))).max(floor);
                    let mut hint: Option<Vec<f64>> = None;
                    let mut seeds: Vec<(usize, &HPlane)> = Vec::new();
                    for ((par, other), h) in order.into_iter().zip(held[at]) {
                        if let Some(h) = h {
                            if let Some(h2) = extend_plane(h, par, other, k, nodes, points, tol) {
                                return Ok(h2);
                            }
                            if hint.is_none() {
                                // Failed, but still a good first direction (t positive).
                                let sign = if h.pos == par { 1.0 } else { -1.0 };
                                hint = Some(h.w.iter().map(|v| sign * v).collect());
                            }
                            if warm {
                                seeds.push((par, h));
                            }
                        }
                    }
                    Err((hint, seeds))
                };
                // The second stage: the overlap test of the hulls.
                let second = |k: usize, (hint, seeds): Left| -> Result<Tested, ProbeError> {
                    // The label pair's discriminant separates most of both labels.
                    let hint = hint.or_else(|| seps.normal(label, nodes[k].label));
                    let seed = best_seed(&seeds, &members, &nodes[k].members, points);
                    let (ov, by, corral) = overlap_blocks(
                        Rows::Of(points, &members),
                        Rows::Of(points, &nodes[k].members),
                        d,
                        hint.as_deref(),
                        floor,
                        &seed,
                    )?;
                    Ok((
                        match ov {
                            Overlap::Disjoint { hyperplane } => {
                                PairResult::Separable(hyperplane.map(|(w, off, gap)| HPlane {
                                    w: w.into(),
                                    lo_pos: off + gap / 2.0,
                                    hi_neg: off - gap / 2.0,
                                    pos: usize::MAX,
                                    seed: (!corral.is_empty()).then(|| {
                                        corral
                                            .iter()
                                            .map(|&(i, j, x)| (members[i], nodes[k].members[j], x))
                                            .collect()
                                    }),
                                }))
                            }
                            Overlap::Intersect { lambda, mu, .. } => PairResult::Intersect(
                                lambda.iter().map(|e| members[e.0]).collect(),
                                mu.iter().map(|e| nodes[k].members[e.0]).collect(),
                            ),
                        },
                        Some(by),
                    ))
                };
                // The batches' first stages run in segments of SEGMENT batches (the first here,
                // the others spawned); the overlap tests they leave are spawned as they are found
                // (run at once on one thread), so re-checks and tests share the threads. The
                // batches are then read in order up to the first that finds an overlap, exactly
                // as if each batch had been tested in turn: a test's outcome depends only on its
                // clusters. Tests and first stages of batches past a known overlap are skipped.
                let inline = rayon::current_num_threads() < 2;
                let overlap_at = AtomicUsize::new(usize::MAX);
                let slots: Vec<OnceLock<Result<Tested, ProbeError>>> =
                    (0..near.len()).map(|_| OnceLock::new()).collect();
                // One batch's first stage: the tests it leaves, as (position in `near`, its left-over).
                let batch_first = |b: usize| -> Vec<(usize, Left)> {
                    let mut left = Vec::new();
                    for (at, slot) in slots.iter().enumerate().skip(b * BATCH).take(BATCH) {
                        match first(at) {
                            Ok(h) => {
                                let _ = slot.set(Ok((PairResult::Separable(Some(h)), None)));
                            }
                            Err(l) => left.push((at, l)),
                        }
                    }
                    left
                };
                let test = |(at, l): (usize, Left)| {
                    let b = at / BATCH;
                    if overlap_at.load(Relaxed) < b {
                        return;
                    }
                    let r = second(near[at].1, l);
                    if !matches!(r, Ok((PairResult::Separable(_), _))) {
                        overlap_at.fetch_min(b, Relaxed);
                    }
                    let _ = slots[at].set(r);
                };
                let batches = near.len().div_ceil(BATCH);
                let job = Segments {
                    overlap_at: &overlap_at,
                    batch_first: &batch_first,
                    test: &test,
                    inline,
                };
                rayon::scope_fifo(|scope| {
                    for s0 in (0..batches).step_by(SEGMENT) {
                        let range = s0..(s0 + SEGMENT).min(batches);
                        if inline || s0 == 0 {
                            job.run(scope, range);
                        } else {
                            let job = &job;
                            scope.spawn_fifo(move |sc| job.run(sc, range));
                        }
                    }
                });
                let mut slots = slots.into_iter();
                for batch in near.chunks(BATCH) {
                    let results = slots
                        .by_ref()
                        .take(batch.len())
                        .map(|r| r.into_inner().expect("every test decided"));
                    let mut hit = false;
                    for (r, &(_, k)) in results.into_iter().zip(batch) {
                        let (res, by) = r?;
                        let intersect = matches!(res, PairResult::Intersect(..));
                        match by {
                            None => stats.hyperplane_hits += 1,
                            Some(Decider::Mnp) if intersect => stats.mnp_intersect += 1,
                            Some(Decider::Mnp) => stats.mnp_separated += 1,
                            Some(Decider::Lp) => {
                                stats.lp_calls += 1;
                                if intersect {
                                    stats.lp_intersect += 1;
                                }
                            }
                            Some(Decider::Polish) => stats.polished += 1,
                            Some(Decider::Near) => stats.near_touch += 1,
                        }
                        match res {
                            PairResult::Separable(Some(h)) => new_planes.push((k, h)),
                            PairResult::Separable(None) => {}
                            PairResult::Intersect(s1, s2) => {
                                hit = true;
                                let e = self.blacklist.len();
                                let (a, b) = (self.owner[s1[0]], self.owner[s2[0]]);
                                self.black_of[a].push(e);
                                if b != a {
                                    self.black_of[b].push(e);
                                }
                                self.blacklist.push((s1, s2));
                            }
                        }
                    }
                    if hit {
                        accepted = false;
                        break;
                    }
                }
            }
        }
        if accepted {
            self.merge(p, q, centroid, radius, zone, new_planes);
        }
        Ok(accepted)
    }

    /// An active cluster of another label that holds one side of a blacklist entry whose
    /// other side lies in the candidate `p ∪ q`, if any (the first such entry).
    fn blacklisted(&self, p: usize, q: usize) -> Option<usize> {
        let owner = &self.owner;
        let label = self.nodes[p].label;
        let in_t = |x: usize| owner[x] == p || owner[x] == q;
        let mut entries: Vec<usize> = self.black_of[p]
            .iter()
            .chain(&self.black_of[q])
            .copied()
            .collect();
        entries.sort_unstable();
        entries.dedup();
        entries.into_iter().find_map(|e| {
            let (s1, s2) = &self.blacklist[e];
            [(s1, s2), (s2, s1)].into_iter().find_map(|(x, y)| {
                let k = owner[y[0]];
                (x.iter().all(|&v| in_t(v))
                    && k != usize::MAX
                    && self.nodes[k].label != label
                    && y.iter().all(|&v| owner[v] == k))
                .then_some(k)
            })
        })
    }

    fn deactivate(&mut self, x: usize) {
        let la = self.pos[&self.nodes[x].label];
        if let Some(moved) = self.stores[la].swap_remove(self.nodes[x].slot) {
            self.nodes[moved].slot = self.nodes[x].slot;
        }
        self.nodes[x].active = false;
        // Only active clusters' centroids are read again (100,000 singletons hold 300 MB).
        self.nodes[x].centroid = Vec::new();
        for (b, &z) in self.nodes[x].zone.iter().enumerate() {
            if z > 0 {
                self.zone_sets[la][b].remove(&x);
            }
        }
        for partner in std::mem::take(&mut self.plane_partners[x]) {
            self.planes.remove(&key(x, partner));
        }
    }

    fn merge(
        &mut self,
        p: usize,
        q: usize,
        centroid: Vec<f64>,
        radius: f64,
        zone: Vec<u32>,
        new_planes: Vec<(usize, HPlane)>,
    ) {
        let m = self.nodes.len();
        let label = self.nodes[p].label;
        let la = self.pos[&label];
        self.deactivate(p);
        self.deactivate(q);
        // Small-to-large: the larger member list takes the smaller one.
        let (big, small) = if self.nodes[p].members.len() >= self.nodes[q].members.len() {
            (p, q)
        } else {
            (q, p)
        };
        let mut members = std::mem::take(&mut self.nodes[big].members);
        members.extend(std::mem::take(&mut self.nodes[small].members));
        for &v in &members {
            self.owner[v] = m;
        }
        for (b, &z) in zone.iter().enumerate() {
            if z > 0 {
                self.zone_sets[la][b].insert(m);
            }
        }
        let centred = centroid
            .iter()
            .zip(self.mean)
            .map(|(x, mu)| (x - mu) as f32);
        let slot = self.stores[la].push(m, centred);
        self.nodes.push(Node {
            members,
            label,
            centroid,
            radius,
            active: true,
            slot,
            zone,
        });
        self.plane_partners.push(Vec::new());
        let mut black = std::mem::take(&mut self.black_of[big]);
        black.append(&mut self.black_of[small]);
        self.black_of.push(black);
        self.nn.push(None);
        for (k, mut h) in new_planes {
            if h.pos == usize::MAX {
                h.pos = m;
            }
            self.planes.insert(key(m, k), h);
            self.plane_partners[m].push(k);
            let list = &mut self.plane_partners[k];
            if list.len() == list.capacity() {
                // Without this, long-lived clusters' lists held 25 million stale entries at
                // 50,000 units.
                let nodes = &self.nodes;
                list.retain(|&x| nodes[x].active);
            }
            list.push(m);
        }
        // The new cluster's nearest neighbour, and every neighbour for which it is nearer than
        // the current nearest: screened in f32, decided in f64.
        let st = &self.stores[la];
        let qv = st.row(slot);
        let qn = qv.iter().map(|v| v * v).sum::<f32>().sqrt();
        let slack = |s: f32| screen_slack(s, qn);
        let mut screen = st.screen(qv);
        let bound_m = screen
            .near_min(|s| st.node[s] != m, slack)
            .map_or(f32::NEG_INFINITY, |(min, _)| slack(min));
        let thresholds: Vec<(usize, f32)> = (0..st.len())
            .filter(|&s| st.node[s] != m)
            .map(|s| {
                let cur = self.nn[st.node[s]].map_or(f32::INFINITY, |k| k.dist2 as f32);
                (s, bound_m.max(slack(cur)))
            })
            .filter(|&(s, t)| screen.may_be_within(s, t))
            .collect();
        let slots: Vec<usize> = thresholds.iter().map(|e| e.0).collect();
        screen.measure(&slots);
        let mut best: Option<Key> = None;
        let mut updates: Vec<(usize, Key)> = Vec::new();
        for (s, t) in thresholds {
            let v = st.node[s];
            if screen.full(s) > t {
                continue;
            }
            let k = Key {
                dist2: dist2(&self.nodes[v].centroid, &self.nodes[m].centroid),
                i: v,
                j: m,
            };
            if best.is_none_or(|b| k < b) {
                best = Some(k);
            }
            if self.nn[v].is_none_or(|c| k < c) {
                updates.push((v, k));
            }
        }
        for (v, k) in updates {
            self.nn[v] = Some(k);
            self.heap.push(Reverse((k, v)));
        }
        self.nn[m] = best;
        if let Some(k) = best {
            self.heap.push(Reverse((k, m)));
        }
    }

    /// The active clusters, and the planes held between them as (a member row on the positive
    /// side, one on the negative side, normal, above, below).
    fn into_clusters(self) -> (Vec<Cluster>, Vec<HeldPlane>) {
        let seps = self
            .planes
            .iter()
            .filter(|((x, k), _)| self.nodes[*x].active && self.nodes[*k].active)
            .map(|(&(x, k), h)| {
                let neg = if h.pos == x { k } else { x };
                let row = |v: usize| self.nodes[v].members[0];
                (row(h.pos), row(neg), h.w.clone(), h.lo_pos, h.hi_neg)
            })
            .collect();
        let clusters = self
            .nodes
            .into_iter()
            .filter(|x| x.active)
            .map(|x| Cluster {
                members: x.members,
                label: x.label,
            })
            .collect();
        (clusters, seps)
    }
}

/// A run of a candidate's batches: their first stages in order (stopping past a known overlap),
/// the overlap tests they leave spawned (or run at once on one thread).
struct Segments<'j, B, T> {
    overlap_at: &'j AtomicUsize,
    batch_first: &'j B,
    test: &'j T,
    inline: bool,
}

impl<'j, L: Send + 'j, B, T> Segments<'j, B, T>
where
    B: Fn(usize) -> Vec<L> + Sync,
    T: Fn(L) + Sync,
{
    fn run(&self, scope: &rayon::ScopeFifo<'j>, batches: std::ops::Range<usize>) {
        for b in batches {
            if self.overlap_at.load(Relaxed) < b {
                return;
            }
            for l in (self.batch_first)(b) {
                if self.inline {
                    (self.test)(l);
                } else {
                    let test = self.test;
                    scope.spawn_fifo(move |_| test(l));
                }
            }
        }
    }
}

/// The corral of a parent's plane with `k` whose point of the Minkowski difference is shortest,
/// as (position in `t`, position in `k_rows`, weight): the starting iterate for the candidate
/// `t` (the parents' rows) against `k`. Empty when no parent's plane carries a corral.
fn best_seed(
    seeds: &[(usize, &HPlane)],
    t: &[usize],
    k_rows: &[usize],
    points: &Points,
) -> Vec<(usize, usize, f64)> {
    let oriented = |&(par, h): &(usize, &HPlane)| {
        let seed = h.seed.as_ref()?;
        let flip = h.pos != par;
        Some(
            seed.iter()
                .map(|&(i, j, x)| if flip { (j, i, x) } else { (i, j, x) })
                .collect::<Vec<_>>(),
        )
    };
    let norm = |c: &[(usize, usize, f64)]| {
        let mut x = vec![0.0; points.dim()];
        for &(i, j, w) in c {
            for ((xe, a), b) in x.iter_mut().zip(points.row(i)).zip(points.row(j)) {
                *xe += w * (a - b);
            }
        }
        dot(&x, &x)
    };
    let Some(best) = seeds
        .iter()
        .filter_map(oriented)
        .map(|c| (norm(&c), c))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
    else {
        return Vec::new();
    };
    let position = |rows: &[usize], side: &mut dyn Iterator<Item = usize>| {
        let mut at: HashMap<usize, usize> = side.map(|r| (r, usize::MAX)).collect();
        for (p, r) in rows.iter().enumerate() {
            if let Some(e) = at.get_mut(r) {
                *e = p;
            }
        }
        at
    };
    let at_t = position(t, &mut best.iter().map(|e| e.0));
    let at_k = position(k_rows, &mut best.iter().map(|e| e.1));
    let mapped: Vec<(usize, usize, f64)> = best
        .iter()
        .map(|&(i, j, x)| (at_t[&i], at_k[&j], x))
        .collect();
    if mapped
        .iter()
        .any(|e| e.0 == usize::MAX || e.1 == usize::MAX)
    {
        debug_assert!(false, "a seed row outside its clusters");
        return Vec::new();
    }
    mapped
}

/// Re-checks the separating hyperplane of (`parent`, `k`) on the points of `other`, the other
/// parent of the candidate; returns the hyperplane for (candidate, `k`) if it still separates.
fn extend_plane(
    h: &HPlane,
    parent: usize,
    other: usize,
    k: usize,
    nodes: &[Node],
    points: &Points,
    tol: f64,
) -> Option<HPlane> {
    // The plane fails as soon as one value comes within `tol` of the other side: rounding is
    // monotonic, so min(x, v) − c ≤ v − c and the verdict is the full fold's.
    let mut vals = nodes[other]
        .members
        .iter()
        .map(|&v| dot(&h.w, points.row(v)));
    if h.pos == parent {
        let lo = vals.try_fold(h.lo_pos, |lo, v| (v - h.hi_neg > tol).then(|| lo.min(v)))?;
        (lo - h.hi_neg > tol).then(|| HPlane {
            w: h.w.clone(),
            lo_pos: lo,
            hi_neg: h.hi_neg,
            pos: usize::MAX,
            seed: h.seed.clone(),
        })
    } else {
        debug_assert_eq!(h.pos, k);
        let hi = vals.try_fold(h.hi_neg, |hi, v| (h.lo_pos - v > tol).then(|| hi.max(v)))?;
        (h.lo_pos - hi > tol).then(|| HPlane {
            w: h.w.clone(),
            lo_pos: h.lo_pos,
            hi_neg: hi,
            pos: k,
            seed: h.seed.clone(),
        })
    }
}
