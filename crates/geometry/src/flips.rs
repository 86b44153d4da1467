//! Per-example view of a before/after comparison: for every test unit, its predicted label
//! before and after fine-tuning (e.g. DirectProbe's nearest-cluster prediction at one layer),
//! whether it flipped (right → wrong, wrong → right), with caller-supplied context (sentence,
//! word, split); counts per layer and split, seeded samples of each kind, and a CSV writer.

use crate::directprobe::{CentredHull, Clustering, Points, ProbeError};
use crate::stats::Rng;
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;
use tunescope_data::csv::field as csv_field;

/// How a unit's prediction changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Correct before and after.
    StayedRight,
    /// Wrong before and after (possibly with a different wrong label).
    StayedWrong,
    /// Correct before, wrong after.
    RightToWrong,
    /// Wrong before, correct after.
    WrongToRight,
}

impl Change {
    /// From correctness before and after.
    pub fn of(right_before: bool, right_after: bool) -> Self {
        match (right_before, right_after) {
            (true, true) => Change::StayedRight,
            (false, false) => Change::StayedWrong,
            (true, false) => Change::RightToWrong,
            (false, true) => Change::WrongToRight,
        }
    }

    /// The CSV / JSON name (`stayed_right`, `stayed_wrong`, `right_to_wrong`, `wrong_to_right`).
    pub fn name(self) -> &'static str {
        match self {
            Change::StayedRight => "stayed_right",
            Change::StayedWrong => "stayed_wrong",
            Change::RightToWrong => "right_to_wrong",
            Change::WrongToRight => "wrong_to_right",
        }
    }

    /// Whether the prediction's correctness changed.
    pub fn flipped(self) -> bool {
        matches!(self, Change::RightToWrong | Change::WrongToRight)
    }
}

/// Context of one unit, supplied by the caller (it knows the task's sentences).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnitContext {
    /// Split the unit belongs to (e.g. `test`, or `subtrain` / `subtest` in the memorisation
    /// experiment).
    pub split: String,
    /// The sentence, space-joined tokens.
    pub sentence: String,
    /// The probed word (empty for sentence-level tasks).
    pub word: String,
}

/// One unit at one layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlipRecord {
    /// Layer index.
    pub layer: usize,
    /// Row of the unit in its split.
    pub unit: usize,
    /// Split, sentence and word.
    #[serde(flatten)]
    pub context: UnitContext,
    /// Gold label.
    pub gold: String,
    /// Predicted label before fine-tuning.
    pub before: String,
    /// Predicted label after fine-tuning.
    pub after: String,
    /// What happened.
    pub change: Change,
}

/// Errors of [`flip_records`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlipError {
    /// Inputs describe different numbers of units.
    #[error("{what} has {got} entries but gold has {expected}")]
    Length {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// Units (gold labels).
        expected: usize,
    },
}

/// Flip records of one layer: unit `i` has gold `gold[i]`, predictions `before[i]`, `after[i]`
/// and context `context[i]`; all four must have the same length.
pub fn flip_records(
    layer: usize,
    gold: &[String],
    before: &[String],
    after: &[String],
    context: &[UnitContext],
) -> Result<Vec<FlipRecord>, FlipError> {
    for (what, got) in [
        ("before", before.len()),
        ("after", after.len()),
        ("context", context.len()),
    ] {
        if got != gold.len() {
            return Err(FlipError::Length {
                what,
                got,
                expected: gold.len(),
            });
        }
    }
    Ok((0..gold.len())
        .map(|i| FlipRecord {
            layer,
            unit: i,
            context: context[i].clone(),
            gold: gold[i].clone(),
            before: before[i].clone(),
            after: after[i].clone(),
            change: Change::of(before[i] == gold[i], after[i] == gold[i]),
        })
        .collect())
}

/// Units of each kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FlipCounts {
    /// Correct before and after.
    pub stayed_right: usize,
    /// Wrong before and after.
    pub stayed_wrong: usize,
    /// Correct before, wrong after.
    pub right_to_wrong: usize,
    /// Wrong before, correct after.
    pub wrong_to_right: usize,
}

impl FlipCounts {
    fn add(&mut self, c: Change) {
        *match c {
            Change::StayedRight => &mut self.stayed_right,
            Change::StayedWrong => &mut self.stayed_wrong,
            Change::RightToWrong => &mut self.right_to_wrong,
            Change::WrongToRight => &mut self.wrong_to_right,
        } += 1;
    }
}

/// Counts per `(layer, split)`.
pub fn count_flips(records: &[FlipRecord]) -> BTreeMap<(usize, String), FlipCounts> {
    let mut out: BTreeMap<(usize, String), FlipCounts> = BTreeMap::new();
    for r in records {
        out.entry((r.layer, r.context.split.clone()))
            .or_default()
            .add(r.change);
    }
    out
}

/// Up to `n` records of kind `change`, drawn uniformly without replacement (seeded), returned in
/// input order.
pub fn sample_flips(
    records: &[FlipRecord],
    change: Change,
    n: usize,
    seed: u64,
) -> Vec<&FlipRecord> {
    let of_kind: Vec<&FlipRecord> = records.iter().filter(|r| r.change == change).collect();
    Rng::new(seed)
        .sample_indices(of_kind.len(), n)
        .into_iter()
        .map(|i| of_kind[i])
        .collect()
}

/// Frank–Wolfe on the distance from a point `q` to the hull of centred rows, in the rows'
/// Gram space: every step costs O(rows) instead of O(rows × dimension), and every iterate
/// certifies a lower bound (the margin of the hyperplane normal to `q − y`) and an upper bound
/// (`‖q − y‖`, `y` a point of the hull) on the distance, with a margin for round-off.
struct Wolfe<'a> {
    gram: &'a [f64],
    /// `q·x_i`.
    a: Vec<f64>,
    /// `Σ_j λ_j G_ij`.
    g: Vec<f64>,
    /// `λ·a`, `λᵀGλ`, `‖q‖²`.
    la: f64,
    lgl: f64,
    qq: f64,
    /// Round-off allowance on squared quantities.
    eps: f64,
    lower: f64,
    upper: f64,
}

impl<'a> Wolfe<'a> {
    /// Starts at row `start` (λ = e_start).
    fn new(gram: &'a [f64], a: Vec<f64>, qq: f64, radius: f64, start: usize) -> Self {
        let n = a.len();
        let g = gram[start * n..(start + 1) * n].to_vec();
        let eps = 1e-10 * qq.max(radius * radius) * (1.0 + (n as f64).sqrt());
        let mut w = Wolfe {
            gram,
            la: a[start],
            lgl: gram[start * n + start],
            a,
            g,
            qq,
            eps,
            lower: 0.0,
            upper: f64::INFINITY,
        };
        w.step();
        w
    }

    /// Updates the bounds at the current iterate and takes one step; false when converged.
    fn step(&mut self) -> bool {
        let n = self.a.len();
        let f = self.lgl - 2.0 * self.la + self.qq;
        self.upper = self.upper.min((f.max(0.0) + self.eps).sqrt());
        let (mut s, mut best) = (0, f64::INFINITY);
        for (i, (gi, ai)) in self.g.iter().zip(&self.a).enumerate() {
            if gi - ai < best {
                (s, best) = (i, gi - ai);
            }
        }
        // w = q − y: w·q = qq − λ·a, max_i w·x_i = −(g_s − a_s).
        if f > self.eps {
            let lower = (self.qq - self.la + best - self.eps) / (f + self.eps).sqrt();
            self.lower = self.lower.max(lower);
        }
        // Exact line search towards row s.
        let (gs, as_) = (self.g[s], self.a[s]);
        let num = (as_ - self.la) - (gs - self.lgl);
        let den = self.gram[s * n + s] - 2.0 * gs + self.lgl;
        if num <= 0.0 || den <= 0.0 {
            return false;
        }
        let t = (num / den).min(1.0);
        let row = &self.gram[s * n..(s + 1) * n];
        self.g
            .iter_mut()
            .zip(row)
            .for_each(|(gi, ri)| *gi = (1.0 - t) * *gi + t * ri);
        self.lgl = (1.0 - t) * (1.0 - t) * self.lgl + 2.0 * t * (1.0 - t) * gs + t * t * row[s];
        self.la = (1.0 - t) * self.la + t * as_;
        true
    }

    /// Runs up to `steps` steps, stopping once the lower bound exceeds `above`.
    fn run(&mut self, steps: usize, above: f64) {
        for _ in 0..steps {
            if self.lower > above || !self.step() {
                break;
            }
        }
    }
}

/// Hulls larger than this get no Gram matrix (its size grows with the square).
const GRAM_MAX_ROWS: usize = 4096;

/// DirectProbe's nearest-cluster label of every row of `test`: the label of the cluster (of
/// `clustering` over `points`) whose convex hull is nearest, ties to the lower cluster id — the
/// label of [`crate::directprobe::predict`]'s first ranked cluster, without ranking them all.
///
/// Per test point, one pass over every cluster's rows gives the products, and with them bounds
/// on every hull distance (the nearest row; the hyperplane normal to the point minus the
/// centroid). Where these leave the decision open, a few cheap Frank–Wolfe steps in the Gram
/// space of the cluster's rows (the Gram matrix made when first needed) tighten them, with
/// certified bounds. When every other cluster's lower bound exceeds the most `predict` can
/// report for the cluster with the smallest upper bound, that cluster wins without a
/// nearest-point run (the common case). Otherwise the clusters are visited smallest upper
/// bound first: the first gets its exact hull distance `best`, computed as `predict` computes
/// it; every other cluster whose lower bound does not clear `best` is offered to the
/// nearest-point iteration with the question "is the hull farther than `best`?", which stops
/// at the first separating hyperplane with a larger margin. Only clusters it cannot rule out
/// get their exact distance, with a relative margin of 1e-6 for the solver's tolerance; the
/// smallest exact distance wins, ties to the lower cluster id. Runs in parallel over the test
/// rows.
pub fn nearest_cluster_labels(
    points: &Points,
    clustering: &Clustering,
    test: &Points,
) -> Result<Vec<usize>, ProbeError> {
    labels_with(points, clustering, test, GRAM_MAX_ROWS)
}

/// [`nearest_cluster_labels`] with Gram matrices for hulls of at most `gram_max` rows.
fn labels_with(
    points: &Points,
    clustering: &Clustering,
    test: &Points,
    gram_max: usize,
) -> Result<Vec<usize>, ProbeError> {
    let d = points.dim();
    if test.dim() != d {
        return Err(ProbeError::Shape(format!(
            "test vectors have dimension {}, training vectors {d}",
            test.dim()
        )));
    }
    if clustering.clusters.is_empty() {
        return Err(ProbeError::Shape("no clusters to predict from".into()));
    }
    let hulls: Vec<CentredHull> = clustering
        .clusters
        .par_iter()
        .map(|c| CentredHull::new(points.gather(&c.members), d))
        .collect();
    // Gram matrices of the hulls small enough for one, made when a test point first needs it.
    let grams: Vec<Option<OnceLock<Vec<f64>>>> = clustering
        .clusters
        .iter()
        .map(|c| (c.members.len() <= gram_max).then(OnceLock::new))
        .collect();
    // Every hull's centred rows as a matrix, and their products with the centroid: a block of
    // test points meets a hull in one matrix product, `q·x = p·x − c·x`.
    let mats: Vec<(Mat<f64>, Vec<f64>)> = hulls
        .par_iter()
        .map(|h| {
            let (rows, centre) = h.parts();
            let n = rows.len() / d;
            let cx = rows.chunks_exact(d).map(|r| dot(r, centre)).collect();
            (Mat::from_fn(n, d, |i, j| rows[i * d + j]), cx)
        })
        .collect();
    let ids: Vec<usize> = (0..test.len()).collect();
    let blocks: Vec<Vec<usize>> = ids
        .par_chunks(BLOCK)
        .map(|ts| {
            let pm = Mat::from_fn(d, ts.len(), |j, i| test.row(ts[i])[j]);
            let prods: Vec<Mat<f64>> = mats
                .iter()
                .map(|(x, _)| {
                    let mut c = Mat::<f64>::zeros(x.nrows(), ts.len());
                    matmul(
                        c.as_mut(),
                        Accum::Replace,
                        x.as_ref(),
                        pm.as_ref(),
                        1.0,
                        Par::Seq,
                    );
                    c
                })
                .collect();
            ts.iter()
                .enumerate()
                .map(|(i, &t)| {
                    let p = test.row(t);
                    let products = |k: usize| -> (f64, Vec<f64>) {
                        let centre = hulls[k].parts().1;
                        let qq: f64 = p.iter().zip(centre).map(|(x, c)| (x - c) * (x - c)).sum();
                        let a = prods[k]
                            .col_as_slice(i)
                            .iter()
                            .zip(&mats[k].1)
                            .map(|(px, cx)| px - cx)
                            .collect();
                        (qq, a)
                    };
                    label_of(&hulls, &grams, clustering, p, dot(p, p), products)
                })
                .collect()
        })
        .collect::<Result<Vec<_>, ProbeError>>()?;
    Ok(blocks.concat())
}

/// Test points per matrix product with each hull's rows.
const BLOCK: usize = 64;

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The nearest cluster's label for the point `p` (squared norm `pp`), given `products(k)`: `‖q‖²`
/// and the products `q·x` with hull `k`'s centred rows (`q` = `p` − its centroid).
fn label_of(
    hulls: &[CentredHull],
    grams: &[Option<OnceLock<Vec<f64>>>],
    clustering: &Clustering,
    p: &[f64],
    pp: f64,
    products: impl Fn(usize) -> (f64, Vec<f64>),
) -> Result<usize, ProbeError> {
    // (upper bound, lower bound, cluster id) of every hull distance: first the bounds the
    // products give at once (the nearest row; the hyperplane normal to `p` − the centroid),
    // then Frank–Wolfe steps only where they can change the decision.
    let mut bounds: Vec<(f64, f64, usize)> = Vec::with_capacity(hulls.len());
    let mut products_of: Vec<Option<(f64, Vec<f64>, usize)>> = Vec::with_capacity(hulls.len());
    for (k, h) in hulls.iter().enumerate() {
        let (qq, a) = products(k);
        let near = (0..a.len())
            .min_by(|&i, &j| {
                let di = h.norm(i) - 2.0 * a[i];
                let dj = h.norm(j) - 2.0 * a[j];
                di.total_cmp(&dj)
            })
            .unwrap_or(0);
        let reach = a.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lower = if qq > 0.0 {
            (qq - reach) / qq.sqrt()
        } else {
            0.0
        };
        let upper = (qq - 2.0 * a[near] + h.norm(near)).max(0.0).sqrt();
        bounds.push((upper * (1.0 + 1e-9), lower * (1.0 - 1e-9), k));
        products_of.push(Some((qq, a, near)));
    }
    let mut solvers: Vec<Option<Wolfe>> = (0..hulls.len()).map(|_| None).collect();
    // Frank–Wolfe steps on hull `b.2` (the first `FW_STEPS` regardless, then up to `FW_MORE`
    // until its lower bound exceeds `above`), tightening its bounds.
    let mut refine = |b: &mut (f64, f64, usize), above: f64| {
        let k = b.2;
        let Some(gram) = &grams[k] else { return };
        if solvers[k].is_none() {
            let gram = gram.get_or_init(|| hulls[k].gram());
            let (qq, a, near) = products_of[k].take().expect("products of each hull");
            let mut w = Wolfe::new(gram, a, qq, hulls[k].radius().max(pp.sqrt()), near);
            w.run(FW_STEPS, f64::INFINITY);
            solvers[k] = Some(w);
        }
        let w = solvers[k].as_mut().expect("solver just made");
        w.run(FW_MORE, above);
        b.0 = b.0.min(w.upper);
        b.1 = b.1.max(w.lower);
    };
    let clear = |lower: f64, k: usize, above: f64| lower > above && lower > hulls[k].touch_floor(p);
    // Every hull that may still be the nearest gets the first steps, as the nearest's upper
    // bound decides how much the others must be refined.
    let nearest_upper = bounds.iter().map(|b| b.0).fold(f64::INFINITY, f64::min);
    for b in bounds.iter_mut().filter(|b| b.1 <= nearest_upper) {
        refine(b, f64::NEG_INFINITY);
    }
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.2.cmp(&b.2)));
    let (upper, _, first) = bounds[0];
    let ceiling = hulls[first].reported_at_most(p, upper);
    // Steps on the clusters the first does not clear yet.
    for b in bounds[1..].iter_mut() {
        if !clear(b.1, b.2, ceiling) {
            refine(b, ceiling.max(hulls[b.2].touch_floor(p)));
        }
    }
    if bounds[1..]
        .iter()
        .all(|&(_, lower, k)| clear(lower, k, ceiling))
    {
        return Ok(clustering.clusters[first].label);
    }
    let mut best = (f64::INFINITY, usize::MAX);
    for (_, lower, k) in bounds {
        if best.0.is_finite() {
            let above = best.0 * (1.0 + 1e-6) + 1e-12;
            if clear(lower, k, above) || hulls[k].farther_than(p, above) {
                continue;
            }
        }
        let dist = hulls[k].distance_to(p)?;
        if dist < best.0 || (dist == best.0 && k < best.1) {
            best = (dist, k);
        }
    }
    Ok(clustering.clusters[best.1].label)
}

/// Frank–Wolfe steps on a hull whose first bounds leave the decision open.
const FW_STEPS: usize = 20;
/// Further steps on a hull that the first decision leaves open.
const FW_MORE: usize = 200;

/// Header of [`write_flips_csv`].
pub const CSV_HEADER: &str = "layer,split,unit,sentence,word,gold,before,after,change";

/// Writes `records` as CSV ([`CSV_HEADER`], one row per record) atomically: a temporary file
/// next to `path`, then a rename.
pub fn write_flips_csv(path: &Path, records: &[FlipRecord]) -> std::io::Result<()> {
    tunescope_data::fs::write_atomic_with(path, |w| {
        writeln!(w, "{CSV_HEADER}")?;
        for r in records {
            writeln!(
                w,
                "{},{},{},{},{},{},{},{},{}",
                r.layer,
                csv_field(&r.context.split),
                r.unit,
                csv_field(&r.context.sentence),
                csv_field(&r.context.word),
                csv_field(&r.gold),
                csv_field(&r.before),
                csv_field(&r.after),
                r.change.name()
            )?;
        }
        Ok(())
    })
    .map_err(|e| e.source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pruned_prediction_matches_the_full_ranking() {
        use crate::directprobe::{predict, probe, Options};
        // Three labelled Gaussian blobs in 6-D, overlapping enough for several clusters.
        let mut rng = Rng::new(7);
        let (n, d) = (240, 6);
        let mut data = Vec::new();
        let mut labels = Vec::new();
        for i in 0..n {
            let l = i % 3;
            for j in 0..d {
                let centre = if j == l { 2.0 } else { 0.0 };
                data.push(centre + rng.normal());
            }
            labels.push(l);
        }
        let points = Points::new(data, n, d).unwrap();
        let clustering = probe(&points, &labels, &Options::default()).unwrap();
        assert!(clustering.clusters.len() >= 3);
        // Far and spread test points, training points (inside their hulls, distance 0) and
        // midpoints of training points with different labels (near ties between hulls).
        let mut test_data: Vec<f64> = (0..150 * d).map(|_| 1.5 * rng.normal() + 0.5).collect();
        for i in 0..40 {
            test_data.extend_from_slice(points.row(i * 5));
            let (a, b) = (points.row(i), points.row(i + 1));
            test_data.extend(a.iter().zip(b).map(|(x, y)| 0.5 * (x + y)));
        }
        let test = Points::new(test_data, 230, d).unwrap();
        let full: Vec<usize> = predict(&points, &clustering, &test)
            .unwrap()
            .iter()
            .map(|p| p.label())
            .collect();
        assert_eq!(
            nearest_cluster_labels(&points, &clustering, &test).unwrap(),
            full
        );
        // Without the Gram-space bounds (hulls too large for a Gram matrix).
        assert_eq!(labels_with(&points, &clustering, &test, 0).unwrap(), full);
        // A training point lies in its own cluster's hull.
        let own = Points::new(points.row(5).to_vec(), 1, d).unwrap();
        assert_eq!(
            nearest_cluster_labels(&points, &clustering, &own).unwrap(),
            [labels[5]]
        );
    }

    fn strings(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn records_count_and_csv() {
        let gold = strings(&["N", "V", "N", "ADJ"]);
        let before = strings(&["N", "N", "V", "ADJ"]);
        let after = strings(&["V", "V", "ADV", "ADJ"]);
        let ctx: Vec<UnitContext> = (0..4)
            .map(|i| UnitContext {
                split: if i < 2 { "subtrain" } else { "test" }.into(),
                sentence: format!("the \"dog\", {i}"),
                word: "dog".into(),
            })
            .collect();
        let r = flip_records(3, &gold, &before, &after, &ctx).unwrap();
        let kinds: Vec<Change> = r.iter().map(|x| x.change).collect();
        assert_eq!(
            kinds,
            [
                Change::RightToWrong,
                Change::WrongToRight,
                Change::StayedWrong,
                Change::StayedRight
            ]
        );
        let counts = count_flips(&r);
        assert_eq!(counts[&(3, "subtrain".into())].right_to_wrong, 1);
        assert_eq!(counts[&(3, "subtrain".into())].wrong_to_right, 1);
        assert_eq!(counts[&(3, "test".into())].stayed_wrong, 1);
        assert_eq!(sample_flips(&r, Change::WrongToRight, 5, 1)[0].unit, 1);
        assert!(sample_flips(&r, Change::RightToWrong, 0, 1).is_empty());

        let dir = std::env::temp_dir().join(format!("tunescope-flips-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("examples.csv");
        write_flips_csv(&path, &r).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            "3,subtrain,0,\"the \"\"dog\"\", 0\",dog,N,N,V,right_to_wrong"
        );
        assert_eq!(lines.len(), 5);
        assert!(!tunescope_data::fs::temp_sibling(&dir.join("examples.csv")).exists());
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            flip_records(0, &gold, &before[..3], &after, &ctx),
            Err(FlipError::Length {
                what: "before",
                got: 3,
                expected: 4
            })
        );
    }
}
