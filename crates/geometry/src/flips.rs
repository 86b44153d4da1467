//! Per-example view of a before/after comparison: for every test unit, its predicted label
//! before and after fine-tuning (e.g. DirectProbe's nearest-cluster prediction at one layer),
//! whether it flipped (right → wrong, wrong → right), with caller-supplied context (sentence,
//! word, split); counts per layer and split, seeded samples of each kind, and a CSV writer.

use crate::directprobe::{point_hull_distance, Clustering, Points, ProbeError};
use crate::stats::Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
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

/// DirectProbe's nearest-cluster label of every row of `test`: the label of the cluster (of
/// `clustering` over `points`) whose convex hull is nearest, ties to the lower cluster id — the
/// label of [`crate::directprobe::predict`]'s first ranked cluster, without ranking them all.
///
/// Each cluster `C` with centroid `c` gets the lower bound `w·p − max_{x∈C} w·x` of its hull
/// distance (`w` the unit vector from `c` to the point `p`: every hull point `y` has
/// `w·y ≤ max w·x`, so `‖p − y‖ ≥ w·(p − y)`); exact hull distances are computed in the order of
/// these bounds until the next bound exceeds the best distance found (with a relative margin
/// of 1e-6 for the solver's tolerance). Runs in parallel over the test rows.
pub fn nearest_cluster_labels(
    points: &Points,
    clustering: &Clustering,
    test: &Points,
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
    let blocks: Vec<Vec<f64>> = clustering
        .clusters
        .iter()
        .map(|c| points.gather(&c.members))
        .collect();
    let centroids: Vec<Vec<f64>> = blocks
        .iter()
        .map(|b| {
            let n = (b.len() / d) as f64;
            let mut c = vec![0.0; d];
            for row in b.chunks_exact(d) {
                c.iter_mut().zip(row).for_each(|(s, x)| *s += x);
            }
            c.iter_mut().for_each(|s| *s /= n);
            c
        })
        .collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    (0..test.len())
        .into_par_iter()
        .map(|t| {
            let p = test.row(t);
            let mut order: Vec<(f64, usize)> = centroids
                .iter()
                .zip(&blocks)
                .enumerate()
                .map(|(k, (c, b))| {
                    let w: Vec<f64> = p.iter().zip(c).map(|(x, y)| x - y).collect();
                    let norm = dot(&w, &w).sqrt();
                    if norm == 0.0 {
                        return (0.0, k);
                    }
                    let reach = b
                        .chunks_exact(d)
                        .map(|x| dot(&w, x))
                        .fold(f64::NEG_INFINITY, f64::max);
                    (((dot(&w, p) - reach) / norm).max(0.0), k)
                })
                .collect();
            order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            let mut best = (f64::INFINITY, usize::MAX);
            for (bound, k) in order {
                if bound > best.0 * (1.0 + 1e-6) + 1e-12 {
                    break;
                }
                let dist = point_hull_distance(points, &clustering.clusters[k].members, p)?;
                if dist < best.0 || (dist == best.0 && k < best.1) {
                    best = (dist, k);
                }
            }
            Ok(clustering.clusters[best.1].label)
        })
        .collect()
}

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
        let test_data: Vec<f64> = (0..150 * d).map(|_| 1.5 * rng.normal() + 0.5).collect();
        let test = Points::new(test_data, 150, d).unwrap();
        let full: Vec<usize> = predict(&points, &clustering, &test)
            .unwrap()
            .iter()
            .map(|p| p.label())
            .collect();
        assert_eq!(
            nearest_cluster_labels(&points, &clustering, &test).unwrap(),
            full
        );
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
