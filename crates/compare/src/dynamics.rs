//! The dynamics experiment (`docs/experiments.md`) on a run directory: the pre-trained
//! DirectProbe clusters re-measured at every fine-tuning checkpoint ([`compute`]), its files
//! under `experiments/dynamics/` ([`write`]: `dynamics.json`, `min_distance.csv`,
//! `layer_similarity.csv`, `centroid_paths.csv`) and its section of the report
//! ([`report_section`]). With [`Settings::measures`] enabled, the measures of
//! [`crate::dynamics_measures`] at every snapshot too (`measures.csv`, `measure_rows.txt`).

use std::path::Path;

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use tunescope_data::csv::{opt_num, table};
use tunescope_data::fs::write_atomic;
use tunescope_model::finetune::train::Outcome;
use tunescope_report as rep;

use crate::analysis::{label_centroids, UndefinedPairs};
use crate::dp::{self as cdp, DirectProbeSettings, DirectProbeSummary};
use crate::dynamics_measures as dm;
use crate::experiments as ex;
use crate::io::{label_list, load_layer};
use tunescope_data::rundir::{read_json, read_required, ModelRef, RunDir};

/// What the dynamics experiment reads (besides the checkpoints fine-tuning wrote).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Layers measured.
    pub layers: Vec<usize>,
    /// Labels whose centroid paths are drawn (`dynamics.path_labels`; empty = the 3 closest).
    pub path_labels: Vec<String>,
    /// DirectProbe settings of the re-measurement.
    pub directprobe: DirectProbeSettings,
    /// Label pairs without a distance in the correlations (`compare.undefined_pairs`).
    pub undefined_pairs: UndefinedPairs,
    /// Similarity to the pre-trained space and geometry descriptors at every snapshot.
    pub measures: dm::Settings,
}

/// One point of the fine-tuning trajectory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    /// Updates trained (0 = pre-trained).
    pub update: u64,
    /// Representation directory under `reps/`.
    pub model: String,
}

/// The pre-trained clusters of one layer re-measured at every snapshot.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerDynamics {
    /// Hidden-state index.
    pub layer: usize,
    /// DirectProbe clusters of the pre-trained training sample (fixed over the snapshots).
    pub clusters: usize,
    /// Whether those clusters are one per label.
    pub linear: bool,
    /// Per snapshot: whether the re-measured space is linear (one kept cluster per label). The
    /// paper defines the similarity only then; a `false` marks a Pearson value to read with
    /// care.
    pub linear_at: Vec<bool>,
    /// Per snapshot: label pairs without a distance on either side of the correlation.
    pub pairs_undefined: Vec<usize>,
    /// `min_distance[snapshot][label]`: the label's minimum distance to the other labels.
    pub min_distance: Vec<Vec<Option<f64>>>,
    /// Pearson correlation of each snapshot's label-pair distances with the pre-trained ones.
    pub pearson: Vec<Option<f64>>,
    /// Per snapshot: label pairs whose fixed clusters touch or overlap (distance 0). The
    /// authors' batch mode writes zeros for a whole snapshot with any overlap; here the other
    /// distances are kept and the overlaps counted.
    pub overlapping_pairs: Vec<usize>,
    /// Why a Pearson value of this layer is qualified (a non-linear space).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pearson_note: Option<String>,
    /// Labels whose centroid paths are given, and `paths[label][snapshot]` in one 2-D PCA.
    pub path_labels: Vec<usize>,
    /// Centroid paths (train split, all units).
    pub paths: Vec<Vec<[f64; 2]>>,
    /// Why the paths are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paths_note: Option<String>,
}

/// `experiments/dynamics/dynamics.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsResult {
    /// Label names.
    pub labels: Vec<String>,
    /// How label pairs without a distance entered the correlations (`zero`: as 0; `drop`).
    pub undefined_pairs: UndefinedPairs,
    /// Snapshots in update order.
    pub snapshots: Vec<Snapshot>,
    /// One entry per analysed layer.
    pub layers: Vec<LayerDynamics>,
    /// Layer of the most/least increased labels (the last one).
    pub summary_layer: usize,
    /// The three labels whose minimum distance grew most at `summary_layer`.
    pub most_increased: Vec<String>,
    /// The three labels whose minimum distance grew least.
    pub least_increased: Vec<String>,
    /// Layers left out, and why (a degenerate pre-trained space has no clusters to follow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The measures at every snapshot, when computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<dm::DynamicsMeasures>,
    /// The train rows the measures use.
    #[serde(skip)]
    pub measure_rows: Vec<usize>,
    /// Measurements taken rather than made: pre-trained snapshots whose distances the
    /// DirectProbe stage had measured, and snapshots whose vectors equal the previous
    /// snapshot's bit for bit.
    #[serde(skip)]
    pub reused: Reused,
}

/// Snapshot measurements [`compute`] took as they were, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Reused {
    /// Pre-trained snapshots: the DirectProbe stage's summary of the same clusters.
    pub from_directprobe: usize,
    /// Snapshots with the previous snapshot's vectors (e.g. hidden state 0 under LoRA).
    pub same_as_previous: usize,
}

/// The result file in the experiment's directory.
pub const RESULT_FILE: &str = "dynamics.json";

/// Label-pair distances at most this are counted as touching or overlapping clusters.
const OVERLAP_TOL: f64 = 1e-9;

/// The trajectory: pre-trained, every checkpoint, and the fine-tuned model when it was kept
/// after the last checkpoint.
pub fn snapshots(run: &RunDir) -> Result<Vec<Snapshot>> {
    let mut s = vec![Snapshot {
        update: 0,
        model: ModelRef::Pretrained.name(),
    }];
    let ckpts = run.checkpoints()?;
    s.extend(ckpts.iter().map(|&u| Snapshot {
        update: u,
        model: ModelRef::Checkpoint(u).name(),
    }));
    let outcome: Outcome = read_required(&run.finetune_outcome())?;
    if ckpts.last().is_none_or(|&u| outcome.best_update > u) {
        s.push(Snapshot {
            update: outcome.best_update,
            model: ModelRef::Finetuned.name(),
        });
    }
    Ok(s)
}

/// The dynamics of the run directory `out`: every layer of `s` re-measured at every snapshot;
/// `progress` receives one message per layer.
pub fn compute(s: &Settings, run: &RunDir, progress: &dyn Fn(String)) -> Result<DynamicsResult> {
    let labels = label_list(run)?;
    let settings = s.directprobe;
    let snaps = snapshots(run)?;
    let mut layers = Vec::new();
    let mut notes = Vec::new();
    let mut measured = Vec::new();
    let mut measure_rows: Option<(Vec<usize>, usize)> = None;
    let mut measure_seconds = 0.0;
    let mut reused = Reused::default();
    for &layer in &s.layers {
        progress(format!("layer {layer}: {} snapshots", snaps.len()));
        let dp_dir = run.directprobe_dir(&ModelRef::Pretrained.name(), "train", layer);
        let pre: DirectProbeSummary = read_required(&dp_dir.join(cdp::SUMMARY_FILE))?;
        if let Some(why) = &pre.degenerate {
            notes.push(format!("layer {layer} left out: {why}"));
            continue;
        }
        // Snapshot 0 is the pre-trained space: its rows and labels fix what every later
        // snapshot must hold, and its DirectProbe clusters are the ones re-measured.
        let mut fixed: Option<(Vec<usize>, Vec<usize>, Vec<usize>)> = None;
        let mut min_distance = Vec::new();
        let mut pearson = Vec::new();
        let mut linear_at = Vec::new();
        let mut pairs_undefined = Vec::new();
        let mut overlapping_pairs = Vec::new();
        let mut centroids = Vec::new();
        let mut first: Option<DirectProbeSummary> = None;
        let mut clusters = 0;
        // Each snapshot's hull distances start from the previous snapshot's nearest points.
        let mut seeds = tunescope_geometry::directprobe::DistanceSeeds::default();
        let mut tracker = s.measures.enabled.then(|| dm::LayerTracker::new(layer));
        // The previous snapshot's vectors and what was measured on them.
        let mut previous: Option<(Vec<f32>, DirectProbeSummary)> = None;
        for snap in &snaps {
            let v = load_layer(run, &snap.model, "train", layer, &labels)?;
            if let Some(t) = tracker.as_mut() {
                let (rows, _) = measure_rows
                    .get_or_insert_with(|| (dm::sample_rows(&s.measures, v.rows), v.rows));
                t.add(&s.measures, &v, rows, snap.update);
            }
            let (rows, assignment, pre_labels) = match &fixed {
                Some(f) => f,
                None => {
                    let rows = cdp::load_rows(&dp_dir, v.rows)?;
                    let assignment =
                        cdp::load_assignment(&dp_dir, rows.len())?.with_context(|| {
                            format!(
                                "{}: expected one cluster id per clustered row ({})",
                                dp_dir.join("clusters.txt").display(),
                                rows.len()
                            )
                        })?;
                    fixed.insert((rows, assignment, v.labels.clone()))
                }
            };
            ensure!(
                v.labels == *pre_labels,
                "reps/{}/train layer {layer} does not hold the pre-trained rows",
                snap.model
            );
            let summary = match &previous {
                // The pre-trained space: the DirectProbe stage measured these very clusters
                // (the next snapshot's distances then start cold).
                None if snap.model == ModelRef::Pretrained.name() && pre.settings == settings => {
                    reused.from_directprobe += 1;
                    pre.clone()
                }
                // The same vectors as the snapshot before (e.g. the embeddings' output under
                // LoRA): the same measurement.
                Some((data, summary)) if same_bits(data, &v.data) => {
                    reused.same_as_previous += 1;
                    summary.clone()
                }
                _ => {
                    cdp::remeasure_seeded(
                        &v.select(rows),
                        &labels,
                        settings,
                        assignment,
                        &mut seeds,
                    )
                    .with_context(|| format!("measuring {} layer {layer}", snap.model))?
                    .0
                }
            };
            clusters = summary.n_clusters;
            min_distance.push(summary.outside_min());
            overlapping_pairs.push(
                summary
                    .pair
                    .iter()
                    .enumerate()
                    .flat_map(|(a, row)| row.iter().skip(a + 1))
                    .filter(|d| d.is_some_and(|d| d <= OVERLAP_TOL))
                    .count(),
            );
            let base = first.as_ref().unwrap_or(&summary);
            let (r, undefined) = ex::pair_pearson(&base.pair, &summary.pair, s.undefined_pairs);
            pearson.push(if first.is_none() { Some(1.0) } else { r });
            pairs_undefined.push(undefined);
            linear_at.push(summary.linear);
            centroids.push(label_centroids(&v, labels.len()));
            first.get_or_insert_with(|| summary.clone());
            previous = Some((v.data, summary));
        }
        let first = first.expect("at least the pre-trained snapshot");
        if let Some(t) = tracker {
            let (m, seconds) = t.finish();
            measured.push(m);
            measure_seconds += seconds;
        }
        let path_labels: Vec<usize> = if s.path_labels.is_empty() {
            ex::closest_labels(&first.pair, 3)
        } else {
            s.path_labels
                .iter()
                .map(|l| {
                    labels
                        .binary_search(l)
                        .map_err(|_| anyhow::anyhow!("[dynamics] path_labels: unknown label {l:?}"))
                })
                .collect::<Result<_>>()?
        };
        let (paths, paths_note) = match ex::centroid_paths(&centroids, &path_labels) {
            Ok(p) => (p, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        let pearson_note = (!first.linear).then(|| {
            format!(
                "not linear: {} clusters for {} labels; the paper defines the similarity only for \
                 one cluster per label",
                first.n_clusters, first.n_labels
            )
        });
        layers.push(LayerDynamics {
            layer,
            clusters,
            linear: first.linear,
            linear_at,
            pairs_undefined,
            pearson_note,
            min_distance,
            pearson,
            overlapping_pairs,
            path_labels,
            paths,
            paths_note,
        });
    }
    let last = layers.last().context("no layers analysed")?;
    let (most, least) = ex::most_and_least_increased(
        &last.min_distance[0],
        last.min_distance.last().expect("snapshots"),
        3,
    );
    Ok(DynamicsResult {
        most_increased: most.iter().map(|&l| labels[l].clone()).collect(),
        least_increased: least.iter().map(|&l| labels[l].clone()).collect(),
        summary_layer: last.layer,
        labels,
        undefined_pairs: s.undefined_pairs,
        snapshots: snaps,
        layers,
        notes,
        measures: measure_rows
            .as_ref()
            .map(|(rows, total)| dm::DynamicsMeasures {
                split: "train".into(),
                units: rows.len(),
                units_total: *total,
                permutations: s.measures.permutations,
                procrustes_permutations: s
                    .measures
                    .procrustes_permutations
                    .min(s.measures.permutations),
                k: s.measures.k,
                seed: s.measures.seed,
                layers: measured,
                seconds: measure_seconds,
            }),
        measure_rows: measure_rows.map(|(rows, _)| rows).unwrap_or_default(),
        reused,
    })
}

/// Whether two vectors hold the same values bit for bit.
fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// Writes `r` into `dir` (the files of `experiments/dynamics/`).
pub fn write(dir: &Path, r: &DynamicsResult) -> Result<()> {
    write_atomic(
        &dir.join(RESULT_FILE),
        &(serde_json::to_string_pretty(r)? + "\n"),
    )?;
    let (mut md, mut sim, mut paths) = (Vec::new(), Vec::new(), Vec::new());
    for l in &r.layers {
        for (s, snap) in r.snapshots.iter().enumerate() {
            sim.push(vec![
                l.layer.to_string(),
                snap.update.to_string(),
                opt_num(l.pearson[s]),
                l.linear_at[s].to_string(),
                r.undefined_pairs.as_str().into(),
                l.pairs_undefined[s].to_string(),
                l.overlapping_pairs[s].to_string(),
            ]);
            for (k, name) in r.labels.iter().enumerate() {
                md.push(vec![
                    l.layer.to_string(),
                    snap.update.to_string(),
                    name.clone(),
                    opt_num(l.min_distance[s][k]),
                ]);
            }
            for (j, &k) in l.path_labels.iter().enumerate() {
                if let Some(p) = l.paths.get(j) {
                    paths.push(vec![
                        l.layer.to_string(),
                        snap.update.to_string(),
                        r.labels[k].clone(),
                        p[s][0].to_string(),
                        p[s][1].to_string(),
                    ]);
                }
            }
        }
    }
    write_atomic(
        &dir.join("min_distance.csv"),
        table(&["layer", "update", "label", "min_distance"], &md),
    )?;
    write_atomic(
        &dir.join("layer_similarity.csv"),
        table(
            &[
                "layer",
                "update",
                "pearson_with_pretrained",
                "linear",
                "undefined_pairs",
                "pairs_undefined",
                "overlapping_pairs",
            ],
            &sim,
        ),
    )?;
    if let Some(m) = &r.measures {
        let updates: Vec<u64> = r.snapshots.iter().map(|s| s.update).collect();
        write_atomic(&dir.join(dm::CSV_FILE), dm::csv(m, &updates))?;
        write_atomic(&dir.join(dm::ROWS_FILE), dm::rows_text(&r.measure_rows))?;
    }
    Ok(write_atomic(
        &dir.join("centroid_paths.csv"),
        table(&["layer", "update", "label", "pc1", "pc2"], &paths),
    )?)
}

/// The report's dynamics section from `experiments/dynamics/dynamics.json`, if present.
pub fn report_section(run: &RunDir) -> Result<Option<rep::Dynamics>> {
    let Some(r) = read_json::<DynamicsResult>(&run.dynamics().join(RESULT_FILE))? else {
        return Ok(None);
    };
    let Some(last) = r.layers.iter().find(|l| l.layer == r.summary_layer) else {
        return Ok(None);
    };
    let curve = |name: &String| {
        let k = r.labels.iter().position(|l| l == name).expect("a label");
        rep::NamedCurve {
            name: name.clone(),
            values: last
                .min_distance
                .iter()
                .map(|s| s[k].unwrap_or(f64::NAN))
                .collect(),
        }
    };
    let first_transformer = r.layers.iter().find(|l| l.layer >= 1).map(|l| l.layer);
    Ok(Some(rep::Dynamics {
        layer: r.summary_layer,
        updates: r.snapshots.iter().map(|s| s.update).collect(),
        most_increased: r.most_increased.iter().map(curve).collect(),
        least_increased: r.least_increased.iter().map(curve).collect(),
        layer_similarity: r
            .layers
            .iter()
            .map(|l| rep::NamedCurve {
                name: if l.linear_at.iter().all(|&x| x) {
                    format!("layer {}", l.layer)
                } else {
                    format!("layer {} (not linear)", l.layer)
                },
                values: l.pearson.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            })
            .collect(),
        similarity_note: Some(format!(
            "Label pairs without a distance: {} ({}); at most {} such pair(s) in a snapshot.",
            r.undefined_pairs.as_str(),
            match r.undefined_pairs {
                UndefinedPairs::Zero => "written as 0, the authors' convention",
                UndefinedPairs::Drop => "left out",
            },
            r.layers
                .iter()
                .flat_map(|l| l.pairs_undefined.iter().copied())
                .max()
                .unwrap_or(0)
        )),
        centroid_paths: r
            .layers
            .iter()
            .filter(|l| Some(l.layer) == first_transformer || l.layer == r.summary_layer)
            .filter(|l| !l.paths.is_empty())
            .map(|l| rep::CentroidPaths {
                layer: l.layer,
                paths: l
                    .path_labels
                    .iter()
                    .zip(&l.paths)
                    .map(|(&k, p)| rep::CentroidPath {
                        label: r.labels[k].clone(),
                        points: p.clone(),
                    })
                    .collect(),
            })
            .collect(),
        measures: r.measures.as_ref().map(dm::report),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(layer: usize, linear: bool) -> LayerDynamics {
        LayerDynamics {
            layer,
            clusters: if linear { 2 } else { 5 },
            linear,
            linear_at: vec![linear; 2],
            pairs_undefined: vec![0, 1],
            pearson_note: (!linear).then(|| "not linear".into()),
            min_distance: vec![vec![Some(1.0), Some(1.0)]; 2],
            pearson: vec![Some(1.0), Some(0.5)],
            overlapping_pairs: vec![0, 0],
            path_labels: Vec::new(),
            paths: Vec::new(),
            paths_note: None,
        }
    }

    #[test]
    fn non_linear_layers_are_marked_and_the_undefined_pairs_stated() {
        let dir = std::env::temp_dir().join(format!("tunescope-dyn-{}", std::process::id()));
        let run = RunDir::new(&dir);
        let exp = run.dynamics();
        std::fs::create_dir_all(&exp).unwrap();
        let r = DynamicsResult {
            labels: vec!["A".into(), "B".into()],
            undefined_pairs: UndefinedPairs::Zero,
            snapshots: vec![
                Snapshot {
                    update: 0,
                    model: "pretrained".into(),
                },
                Snapshot {
                    update: 10,
                    model: "finetuned".into(),
                },
            ],
            layers: vec![layer(1, false), layer(2, true)],
            summary_layer: 2,
            most_increased: vec!["A".into()],
            least_increased: vec!["B".into()],
            notes: Vec::new(),
            measures: None,
            measure_rows: Vec::new(),
            reused: Reused::default(),
        };
        write(&exp, &r).unwrap();
        let section = report_section(&run).unwrap().unwrap();
        let names: Vec<&str> = section
            .layer_similarity
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        assert_eq!(names, ["layer 1 (not linear)", "layer 2"]);
        let note = section.similarity_note.unwrap();
        assert!(
            note.contains("zero (written as 0") && note.contains("at most 1"),
            "{note}"
        );
        let csv = std::fs::read_to_string(exp.join("layer_similarity.csv")).unwrap();
        assert!(csv.starts_with(
            "layer,update,pearson_with_pretrained,linear,undefined_pairs,pairs_undefined,"
        ));
        assert!(csv.contains("\n1,10,0.5,false,zero,1,0\n"), "{csv}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
