//! DirectProbe on one split at one layer, summarised for the comparisons, and its artifacts in
//! the run directory (`directprobe/<model>/<split>/layer-<k>/`).
//!
//! The directory holds the original tools' files (`clusters.txt`, `vec.txt`, `outside_min.txt`,
//! `inside_mean.txt`, `inside_max.txt`), `rows.txt` (the split rows that were clustered, one per
//! line, when a cap or a conflict left some out), `metrics.json` (the `directprobe` command's
//! summary keys) and `label_metrics.json` (a full-precision [`DirectProbeSummary`], written
//! last). A directory whose `label_metrics.json` matches the requested settings is reused as is;
//! one with only a `clusters.txt` over every row of the split (e.g. from `tunescope directprobe`)
//! has its fixed clusters re-measured without clustering again.

use crate::analysis::LabelledVectors;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tunescope_data::fs::write_atomic;
use tunescope_geometry::directprobe::{self as dp, report, Clustering, LabelMetrics, Points};
use tunescope_geometry::stats::Rng;

/// Settings that decide a DirectProbe result (a stored result is reused only when they match).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectProbeSettings {
    /// Label metrics leave out clusters with at most this many points (the paper's code: 5).
    pub min_cluster_size: usize,
    /// Cluster at most this many rows of the split (seeded uniform sample); `None` = all rows.
    pub max_units: Option<usize>,
    /// Seed of the row sample.
    pub seed: u64,
}

/// What DirectProbe found on one split at one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DirectProbeSummary {
    /// Settings used.
    pub settings: DirectProbeSettings,
    /// Label names, indexing `pair`, `inside_mean`, `inside_max`.
    pub labels: Vec<String>,
    /// Rows of the split.
    pub rows_total: usize,
    /// Rows clustered (after the cap and after leaving out conflicting duplicates).
    pub rows_used: usize,
    /// Rows left out because an identical vector elsewhere in the sample has a different label
    /// (DirectProbe cannot separate them; the original code would loop forever).
    pub conflict_rows_dropped: usize,
    /// Number of DirectProbe clusters.
    pub n_clusters: usize,
    /// Number of labels present among the clustered rows.
    pub n_labels: usize,
    /// One cluster per label present: a linear classifier fits the clustered rows.
    pub linear: bool,
    /// Clusters left out of the label metrics by the size filter (≤ `min_cluster_size` points).
    pub clusters_dropped: usize,
    /// Points in those clusters.
    pub points_dropped: usize,
    /// `pair[a][b]`: mean hull distance over kept cluster pairs with labels {a, b}; `None` when
    /// undefined (the paper's code writes 0).
    pub pair: Vec<Vec<Option<f64>>>,
    /// `pair_min[a][b]`: smallest hull distance over kept cluster pairs with labels {a, b};
    /// `None` when undefined. Equals `pair` in a linear space (one cluster per label).
    #[serde(default)]
    pub pair_min: Vec<Vec<Option<f64>>>,
    /// Per label: mean pairwise distance inside its kept clusters; `None` when undefined.
    pub inside_mean: Vec<Option<f64>>,
    /// Per label: largest pairwise distance inside its kept clusters; `None` when undefined.
    pub inside_max: Vec<Option<f64>>,
    /// Directions dropped as `f32` rounding before clustering (e.g. the normal of the
    /// LayerNorm hyperplane every hidden state lies on; docs/directprobe.md).
    #[serde(default)]
    pub span_dropped: usize,
    /// Why nothing was clustered: every sampled row shares its exact vector with a row of
    /// another label (e.g. `cls` pooling at layer 0, where every sentence has the same vector).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degenerate: Option<String>,
}

impl DirectProbeSummary {
    /// Per label: minimum distance to the other labels (`outside_min`); `None` when the label has
    /// no defined pair (the paper's code writes 0).
    pub fn outside_min(&self) -> Vec<Option<f64>> {
        self.pair
            .iter()
            .enumerate()
            .map(|(a, row)| {
                row.iter()
                    .enumerate()
                    .filter(|&(b, _)| b != a)
                    .filter_map(|(_, d)| *d)
                    .reduce(f64::min)
            })
            .collect()
    }

    /// The "min distance" of the space: the smallest label-pair *mean* distance, i.e. the
    /// smallest `pair[a][b]` (each the mean hull distance over the kept cluster pairs of labels a
    /// and b, after the `min_cluster_size` filter). It is the smallest hull distance between
    /// two labels only when the space is linear.
    pub fn min_distance(&self) -> Option<f64> {
        self.outside_min().into_iter().flatten().reduce(f64::min)
    }

    /// The smallest hull distance between any two kept clusters of different labels
    /// (DirectProbe's per-cluster-pair minimum; equals [`Self::min_distance`] when linear).
    pub fn min_cluster_pair_distance(&self) -> Option<f64> {
        self.pair_min
            .iter()
            .flatten()
            .flatten()
            .copied()
            .reduce(f64::min)
    }
}

/// Rows to cluster: a seeded sample of at most `max_units` rows (ascending), all when unset.
pub fn sample_rows(rows: usize, settings: &DirectProbeSettings) -> Vec<usize> {
    match settings.max_units {
        Some(cap) => Rng::new(settings.seed).sample_indices(rows, cap),
        None => (0..rows).collect(),
    }
}

/// Rows (among `rows`) whose exact vector also occurs with a different label among `rows`.
fn conflicting_rows(v: &LabelledVectors, rows: &[usize]) -> Vec<usize> {
    let mut groups: HashMap<Vec<u32>, Vec<usize>> = HashMap::new();
    for &r in rows {
        let key = v.row(r).iter().map(|x| (x + 0.0).to_bits()).collect();
        groups.entry(key).or_default().push(r);
    }
    let mut out: Vec<usize> = groups
        .into_values()
        .filter(|g| g.iter().any(|&r| v.labels[r] != v.labels[g[0]]))
        .flatten()
        .collect();
    out.sort_unstable();
    out
}

/// The rows of `v` as DirectProbe points, as given.
pub fn raw_points(v: &LabelledVectors) -> Result<Points> {
    let data = v.data.iter().map(|&x| f64::from(x)).collect();
    Points::new(data, v.rows, v.dim).map_err(|e| anyhow::anyhow!("{e}"))
}

/// The rows of `v` as DirectProbe points, and the span they are clustered in: the directions
/// along which they vary by more than `f32` rounding (coordinates in that span).
pub fn points_of(v: &LabelledVectors) -> Result<(Points, dp::Span)> {
    let points = raw_points(v)?;
    let span = dp::Span::fit(&points).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((span.project(&points)?, span))
}

fn summarise(
    settings: DirectProbeSettings,
    labels: &[String],
    rows_total: usize,
    conflict_rows_dropped: usize,
    used: &LabelledVectors,
    clustering: &Clustering,
    metrics: &LabelMetrics,
) -> DirectProbeSummary {
    let mut present: Vec<usize> = used.labels.clone();
    present.sort_unstable();
    present.dedup();
    let defined = |v: &[f64], l: usize| {
        metrics
            .kept
            .iter()
            .any(|&k| clustering.clusters[k].label == l && clustering.clusters[k].members.len() > 1)
            .then_some(v[l])
    };
    DirectProbeSummary {
        settings,
        labels: labels.to_vec(),
        rows_total,
        rows_used: used.rows,
        conflict_rows_dropped,
        n_clusters: clustering.n_clusters(),
        n_labels: present.len(),
        linear: clustering.n_clusters() == present.len(),
        clusters_dropped: metrics.dropped.len(),
        points_dropped: metrics
            .dropped
            .iter()
            .map(|&k| clustering.clusters[k].members.len())
            .sum(),
        pair: metrics.pair.clone(),
        pair_min: metrics.pair_min.clone(),
        inside_mean: (0..labels.len())
            .map(|l| defined(&metrics.inside_mean, l))
            .collect(),
        inside_max: (0..labels.len())
            .map(|l| defined(&metrics.inside_max, l))
            .collect(),
        span_dropped: 0,
        degenerate: None,
    }
}

/// Runs DirectProbe on the sampled rows of `v` (labels index `labels`) and measures the result;
/// also returns the clustering, the label metrics and the rows clustered. Rows whose vector also
/// occurs with another label are left out first (and counted).
pub fn run(
    v: &LabelledVectors,
    labels: &[String],
    settings: DirectProbeSettings,
) -> Result<(DirectProbeSummary, Clustering, LabelMetrics, Vec<usize>)> {
    let sampled = sample_rows(v.rows, &settings);
    let conflicts = conflicting_rows(v, &sampled);
    let rows: Vec<usize> = if conflicts.is_empty() {
        sampled
    } else {
        sampled
            .into_iter()
            .filter(|r| conflicts.binary_search(r).is_err())
            .collect()
    };
    if rows.is_empty() {
        return Ok(degenerate(v, labels, settings, conflicts.len()));
    }
    let used = v.select(&rows);
    let (points, span) = points_of(&used)?;
    let clustering = dp::probe(&points, &used.labels, &dp::Options::default())?;
    let kept: Vec<usize> = (0..clustering.n_clusters())
        .filter(|&k| clustering.clusters[k].members.len() > settings.min_cluster_size)
        .collect();
    let dists = dp::clustering_distances(&points, &clustering, &kept)?;
    let metrics = dp::label_metrics_with(
        &points,
        &clustering.clusters,
        labels.len(),
        settings.min_cluster_size,
        Some(&dists),
    )?;
    let mut summary = summarise(
        settings,
        labels,
        v.rows,
        conflicts.len(),
        &used,
        &clustering,
        &metrics,
    );
    summary.span_dropped = span.dropped();
    Ok((summary, clustering, metrics, rows))
}

/// The result for a sample in which every row shares its vector with a row of another label:
/// no clusters, no distances, and the reason in [`DirectProbeSummary::degenerate`].
fn degenerate(
    v: &LabelledVectors,
    labels: &[String],
    settings: DirectProbeSettings,
    conflicts: usize,
) -> (DirectProbeSummary, Clustering, LabelMetrics, Vec<usize>) {
    let n = labels.len();
    let summary = DirectProbeSummary {
        settings,
        labels: labels.to_vec(),
        rows_total: v.rows,
        rows_used: 0,
        conflict_rows_dropped: conflicts,
        n_clusters: 0,
        n_labels: 0,
        linear: false,
        clusters_dropped: 0,
        points_dropped: 0,
        pair: vec![vec![None; n]; n],
        pair_min: vec![vec![None; n]; n],
        inside_mean: vec![None; n],
        inside_max: vec![None; n],
        span_dropped: 0,
        degenerate: Some(format!(
            "degenerate space: each of the {conflicts} sampled rows shares its exact vector with a \
             row of another label, so DirectProbe has nothing to cluster"
        )),
    };
    let clustering = Clustering {
        clusters: Vec::new(),
        assignment: Vec::new(),
        stats: Default::default(),
        separations: Vec::new(),
    };
    let metrics = LabelMetrics {
        min_cluster_size: settings.min_cluster_size,
        kept: Vec::new(),
        dropped: Vec::new(),
        pair: vec![vec![None; n]; n],
        pair_min: vec![vec![None; n]; n],
        vec: (0..n)
            .flat_map(|a| (a + 1..n).map(move |b| (a, b, 0.0)))
            .collect(),
        outside_min: vec![0.0; n],
        inside_mean: vec![0.0; n],
        inside_max: vec![0.0; n],
    };
    (summary, clustering, metrics, Vec::new())
}

/// Measures a fixed clustering (one cluster id per row of `v`) without clustering again.
pub fn remeasure(
    v: &LabelledVectors,
    labels: &[String],
    settings: DirectProbeSettings,
    assignment: &[usize],
) -> Result<(DirectProbeSummary, LabelMetrics, Clustering)> {
    remeasure_seeded(
        v,
        labels,
        settings,
        assignment,
        &mut dp::DistanceSeeds::default(),
    )
}

/// [`remeasure`] with the hull distances warm-started from `seeds` (the same clustering
/// measured in a nearby space, e.g. the previous checkpoint), which then hold this space's.
pub fn remeasure_seeded(
    v: &LabelledVectors,
    labels: &[String],
    settings: DirectProbeSettings,
    assignment: &[usize],
    seeds: &mut dp::DistanceSeeds,
) -> Result<(DirectProbeSummary, LabelMetrics, Clustering)> {
    let clustering = Clustering::from_assignment(assignment, &v.labels)?;
    let (points, span) = points_of(v)?;
    let metrics = dp::label_metrics_seeded(
        &points,
        &clustering.clusters,
        labels.len(),
        settings.min_cluster_size,
        seeds,
    )?;
    let mut summary = summarise(settings, labels, v.rows, 0, v, &clustering, &metrics);
    summary.span_dropped = span.dropped();
    Ok((summary, metrics, clustering))
}

/// Name of the full-precision summary file in a DirectProbe directory.
pub const SUMMARY_FILE: &str = "label_metrics.json";

/// Reads a reusable summary from `dir`: `label_metrics.json` with the same settings, labels and
/// row count. `Ok(None)` when absent or stale.
pub fn load_summary(
    dir: &Path,
    labels: &[String],
    rows_total: usize,
    settings: &DirectProbeSettings,
) -> Result<Option<DirectProbeSummary>> {
    let path = dir.join(SUMMARY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let s: DirectProbeSummary = serde_json::from_str(&text).with_context(|| {
        format!(
            "{}: not a DirectProbe summary written by `tunescope compare` (delete it to recompute)",
            path.display()
        )
    })?;
    Ok((s.settings == *settings && s.labels == labels && s.rows_total == rows_total).then_some(s))
}

/// The split rows a DirectProbe directory clustered: `rows.txt` (written when a cap or a conflict
/// left rows out), else all `rows_total` rows.
pub fn load_rows(dir: &Path, rows_total: usize) -> Result<Vec<usize>> {
    let path = dir.join("rows.txt");
    if !path.exists() {
        return Ok((0..rows_total).collect());
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    text.lines()
        .enumerate()
        .map(|(i, l)| {
            let r: usize = l.trim().parse().with_context(|| {
                format!(
                    "{}:{}: expected a row index, found {l:?}",
                    path.display(),
                    i + 1
                )
            })?;
            if r >= rows_total {
                bail!(
                    "{}:{}: row {r} is beyond the split's {rows_total} rows",
                    path.display(),
                    i + 1
                );
            }
            Ok(r)
        })
        .collect()
}

/// Reads `clusters.txt` from `dir` when it assigns every one of `rows` rows a cluster id.
pub fn load_assignment(dir: &Path, rows: usize) -> Result<Option<Vec<usize>>> {
    let path = dir.join("clusters.txt");
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let ids = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            l.trim().parse::<usize>().with_context(|| {
                format!(
                    "{}:{}: expected a cluster id (non-negative integer), found {l:?}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((ids.len() == rows).then_some(ids))
}

/// Writes a fresh result's files into `dir` (atomically, `label_metrics.json` last).
pub fn write_artifacts(
    dir: &Path,
    summary: &DirectProbeSummary,
    clustering: &Clustering,
    metrics: &LabelMetrics,
    rows: &[usize],
) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let names = &summary.labels;
    write_atomic(&dir.join("clusters.txt"), report::clusters_txt(clustering))?;
    let rows_file = dir.join("rows.txt");
    if rows.len() != summary.rows_total {
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        write_atomic(&rows_file, &text)?;
    } else if rows_file.exists() {
        std::fs::remove_file(&rows_file)
            .with_context(|| format!("removing the stale {}", rows_file.display()))?;
    }
    let zero = |v: &[Option<f64>]| v.iter().map(|x| x.unwrap_or(0.0)).collect::<Vec<_>>();
    write_atomic(&dir.join("vec.txt"), report::vec_txt(metrics, names))?;
    write_atomic(
        &dir.join("outside_min.txt"),
        report::per_label_txt(&zero(&summary.outside_min()), names),
    )?;
    write_atomic(
        &dir.join("inside_mean.txt"),
        report::per_label_txt(&zero(&summary.inside_mean), names),
    )?;
    write_atomic(
        &dir.join("inside_max.txt"),
        report::per_label_txt(&zero(&summary.inside_max), names),
    )?;
    let json = serde_json::json!({
        "n_points": summary.rows_used,
        "n_clusters": summary.n_clusters,
        "n_labels": summary.n_labels,
        "linear": summary.linear,
        "min_distance": summary.min_distance(),
        "min_cluster_size": summary.settings.min_cluster_size,
        "clusters_dropped_by_size": summary.clusters_dropped,
        "rows_total": summary.rows_total,
        "conflict_rows_dropped": summary.conflict_rows_dropped,
        "max_units": summary.settings.max_units,
        "seed": summary.settings.seed,
    });
    write_atomic(
        &dir.join("metrics.json"),
        &(serde_json::to_string_pretty(&json)? + "\n"),
    )?;
    Ok(write_atomic(
        &dir.join(SUMMARY_FILE),
        &(serde_json::to_string_pretty(summary)? + "\n"),
    )?)
}

/// Writes only `label_metrics.json` (for a directory whose clusters came from elsewhere).
pub fn write_summary(dir: &Path, summary: &DirectProbeSummary) -> Result<()> {
    Ok(write_atomic(
        &dir.join(SUMMARY_FILE),
        &(serde_json::to_string_pretty(summary)? + "\n"),
    )?)
}
