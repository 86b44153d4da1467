//! The clustering driver: checked greedy merging from singletons.

use super::mnp::dot;
use super::{overlap_blocks, Decider, Overlap, Points, ProbeError, TOUCH_TOL};
use rayon::prelude::*;
use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};

/// Overlap tests run in batches of this size (in parallel within a batch); a batch that finds
/// an overlap ends the candidate's checks. Fixed, so counters do not depend on thread count.
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
    /// Clusters active now (final count at the end).
    pub active: usize,
}

/// Live progress, passed to [`Options::progress`] after every examined candidate.
pub type Progress = Stats;

/// Options of [`probe`].
#[derive(Default)]
pub struct Options<'a> {
    /// Called with the counters after each examined candidate pair.
    pub progress: Option<&'a (dyn Fn(&Progress) + Sync)>,
}

/// Result of [`probe`].
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Clustering {
    /// Clusters, ids consecutive in creation order (the original's `clusters.txt` numbering).
    pub clusters: Vec<Cluster>,
    /// Cluster id of every training point.
    pub assignment: Vec<usize>,
    /// Counters of the run (zero for a clustering built by [`Clustering::from_assignment`]).
    pub stats: Stats,
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
    members: Vec<usize>,
    label: usize,
    centroid: Vec<f64>,
    radius: f64,
    active: bool,
}

/// Separating hyperplane of a cluster pair: `w·x ≥ lo_pos` on cluster `pos`, `≤ hi_neg` on the
/// other, with `lo_pos > hi_neg`.
struct HPlane {
    w: Vec<f64>,
    lo_pos: f64,
    hi_neg: f64,
    pos: usize,
}

enum PairResult {
    Separable(Option<HPlane>),
    Intersect(Vec<usize>, Vec<usize>),
}

fn dist2(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
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
    let mut nodes: Vec<Node> = (0..n)
        .map(|i| Node {
            members: vec![i],
            label: labels[i],
            centroid: points.row(i).to_vec(),
            radius: 0.0,
            active: true,
        })
        .collect();
    let mut by_label: Vec<Vec<usize>> = vec![Vec::new(); n_labels];
    for (i, &l) in labels.iter().enumerate() {
        by_label[l].push(i);
    }
    let mut owner: Vec<usize> = (0..n).collect();
    let initial: Vec<Reverse<Key>> = by_label
        .iter()
        .flat_map(|g| {
            (0..g.len())
                .into_par_iter()
                .flat_map_iter(|x| {
                    (x + 1..g.len()).map(move |y| {
                        Reverse(Key {
                            dist2: dist2(points.row(g[x]), points.row(g[y])),
                            i: g[x],
                            j: g[y],
                        })
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let mut heap = BinaryHeap::from(initial);
    let mut planes: HashMap<(usize, usize), HPlane> = HashMap::new();
    let mut plane_partners: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut blacklist: Vec<(Vec<usize>, Vec<usize>)> = Vec::new();
    let mut stats = Stats {
        active: n,
        ..Stats::default()
    };

    while let Some(Reverse(Key { i: p, j: q, .. })) = heap.pop() {
        if !nodes[p].active || !nodes[q].active {
            continue;
        }
        stats.candidates += 1;
        let label = nodes[p].label;
        let mut members = Vec::with_capacity(nodes[p].members.len() + nodes[q].members.len());
        members.extend_from_slice(&nodes[p].members);
        members.extend_from_slice(&nodes[q].members);
        members.sort_unstable();
        let (np, nq) = (nodes[p].members.len() as f64, nodes[q].members.len() as f64);
        let centroid: Vec<f64> = nodes[p]
            .centroid
            .iter()
            .zip(&nodes[q].centroid)
            .map(|(a, b)| (np * a + nq * b) / (np + nq))
            .collect();
        let radius = members
            .iter()
            .map(|&m| dist2(points.row(m), &centroid))
            .fold(0.0f64, f64::max)
            .sqrt();

        // Differently-labelled active clusters whose bounding spheres meet the candidate's.
        let others: Vec<usize> = by_label
            .iter()
            .enumerate()
            .filter(|(l, _)| *l != label)
            .flat_map(|(_, g)| g.iter().copied())
            .collect();
        let mut near: Vec<(f64, usize)> = others
            .par_iter()
            .filter_map(|&k| {
                let dk = dist2(&nodes[k].centroid, &centroid).sqrt();
                let rr = nodes[k].radius + radius;
                (dk < rr + TOUCH_TOL * (rr + dk)).then_some((dk, k))
            })
            .collect();
        stats.sphere_pruned += others.len() - near.len();
        near.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));

        // Known overlapping subsets: a superset of an intersecting pair intersects.
        let in_t = |x: usize| owner[x] == p || owner[x] == q;
        let black = blacklist.iter().any(|(s1, s2)| {
            [(s1, s2), (s2, s1)].iter().any(|(x, y)| {
                x.iter().all(|&v| in_t(v)) && {
                    let k = owner[y[0]];
                    nodes[k].label != label && y.iter().all(|&v| owner[v] == k)
                }
            })
        });
        let mut accepted = !black;
        let mut new_planes: Vec<(usize, HPlane)> = Vec::new();
        if black {
            stats.blacklist_hits += 1;
        } else {
            let block_t = points.gather(&members);
            for batch in near.chunks(BATCH) {
                let results: Vec<Result<(PairResult, Option<Decider>), ProbeError>> = batch
                    .par_iter()
                    .map(|&(dk, k)| {
                        let tol = TOUCH_TOL * (radius + nodes[k].radius + dk);
                        // Re-check a parent's hyperplane on the other parent, smaller side first.
                        let order = if nodes[q].members.len() <= nodes[p].members.len() {
                            [(p, q), (q, p)]
                        } else {
                            [(q, p), (p, q)]
                        };
                        let mut hint: Option<Vec<f64>> = None;
                        for (par, other) in order {
                            if let Some(h) = planes.get(&key(par, k)) {
                                if let Some(h2) =
                                    extend_plane(h, par, other, k, &nodes, points, tol)
                                {
                                    return Ok((PairResult::Separable(Some(h2)), None));
                                }
                                if hint.is_none() {
                                    // Failed, but still a good first direction (t positive).
                                    let sign = if h.pos == par { 1.0 } else { -1.0 };
                                    hint = Some(h.w.iter().map(|v| sign * v).collect());
                                }
                            }
                        }
                        let block_k = points.gather(&nodes[k].members);
                        let (ov, by) = overlap_blocks(&block_t, &block_k, d, hint.as_deref())?;
                        Ok((
                            match ov {
                                Overlap::Disjoint { hyperplane } => {
                                    PairResult::Separable(hyperplane.map(|(w, off, gap)| HPlane {
                                        w,
                                        lo_pos: off + gap / 2.0,
                                        hi_neg: off - gap / 2.0,
                                        pos: usize::MAX,
                                    }))
                                }
                                Overlap::Intersect { lambda, mu, .. } => PairResult::Intersect(
                                    lambda.iter().map(|e| members[e.0]).collect(),
                                    mu.iter().map(|e| nodes[k].members[e.0]).collect(),
                                ),
                            },
                            Some(by),
                        ))
                    })
                    .collect();
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
                    }
                    match res {
                        PairResult::Separable(Some(h)) => new_planes.push((k, h)),
                        PairResult::Separable(None) => {}
                        PairResult::Intersect(s1, s2) => {
                            hit = true;
                            blacklist.push((s1, s2));
                        }
                    }
                }
                if hit {
                    accepted = false;
                    break;
                }
            }
        }

        if accepted {
            let m = nodes.len();
            for x in [p, q] {
                nodes[x].active = false;
                for partner in std::mem::take(&mut plane_partners[x]) {
                    planes.remove(&key(x, partner));
                }
            }
            for &v in &members {
                owner[v] = m;
            }
            by_label[label].retain(|&c| c != p && c != q);
            let same: Vec<usize> = by_label[label].clone();
            let new_pairs: Vec<Reverse<Key>> = same
                .par_iter()
                .map(|&v| {
                    Reverse(Key {
                        dist2: dist2(&nodes[v].centroid, &centroid),
                        i: v,
                        j: m,
                    })
                })
                .collect();
            heap.extend(new_pairs);
            by_label[label].push(m);
            nodes.push(Node {
                members,
                label,
                centroid,
                radius,
                active: true,
            });
            plane_partners.push(Vec::new());
            for (k, mut h) in new_planes {
                if h.pos == usize::MAX {
                    h.pos = m;
                }
                planes.insert(key(m, k), h);
                plane_partners[m].push(k);
                plane_partners[k].push(m);
            }
            stats.merges += 1;
            stats.active -= 1;
        } else {
            stats.rejected += 1;
        }
        if let Some(cb) = opts.progress {
            cb(&stats);
        }
    }

    let mut assignment = vec![0usize; n];
    let mut clusters = Vec::with_capacity(stats.active);
    for node in nodes.into_iter().filter(|x| x.active) {
        for &v in &node.members {
            assignment[v] = clusters.len();
        }
        clusters.push(Cluster {
            members: node.members,
            label: node.label,
        });
    }
    Ok(Clustering {
        clusters,
        assignment,
        stats,
    })
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
    let vals = nodes[other]
        .members
        .iter()
        .map(|&v| dot(&h.w, points.row(v)));
    if h.pos == parent {
        let lo = vals.fold(h.lo_pos, f64::min);
        (lo - h.hi_neg > tol).then(|| HPlane {
            w: h.w.clone(),
            lo_pos: lo,
            hi_neg: h.hi_neg,
            pos: usize::MAX,
        })
    } else {
        debug_assert_eq!(h.pos, k);
        let hi = vals.fold(h.hi_neg, f64::max);
        (h.lo_pos - hi > tol).then(|| HPlane {
            w: h.w.clone(),
            lo_pos: h.lo_pos,
            hi_neg: hi,
            pos: k,
        })
    }
}
