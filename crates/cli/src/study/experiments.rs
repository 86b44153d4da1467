//! The experiment stages: dynamics over the fine-tuning checkpoints, the memorisation split and
//! the cross-task tables (`docs/experiments.md`), and their sections of the report.
//!
//! * `experiments/dynamics/`: `dynamics.json`, `min_distance.csv`, `layer_similarity.csv`,
//!   `centroid_paths.csv`;
//! * `experiments/memorisation/`: `memorisation.json`, `curves.csv`;
//! * `cross/<name>/result/`: `table.json`, `table.csv`, the encoders' vectors of the other task
//!   (`reps/`) and their DirectProbe summaries (`directprobe/`).

use std::path::{Path, PathBuf};

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tunescope_compare::analysis::{label_centroids, LabelledVectors};
use tunescope_compare::dp::{self as cdp, DirectProbeSummary};
use tunescope_compare::experiments::{self as ex, CrossTaskRow, MemoCurves};
use tunescope_compare::io::{self as cio, csv, num};
use tunescope_data::Task;
use tunescope_model::finetune::io::write_dir_atomic;
use tunescope_model::finetune::train::Outcome;
use tunescope_model::probe::{self, ProbeConfig, ProbeInput, ProbeReport};
use tunescope_report as rep;

use super::plan::{checkpoints, ModelRef, Planned};
use super::stages::{
    directprobe_settings, label_list, load_layer, probe_config, read_task, train_probes,
};
use super::Display;
use crate::config::Config;

// ---------------------------------------------------------------- dynamics

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
    /// `min_distance[snapshot][label]`: the label's minimum distance to the other labels.
    pub min_distance: Vec<Vec<Option<f64>>>,
    /// Pearson correlation of each snapshot's label-pair distances with the pre-trained ones.
    pub pearson: Vec<Option<f64>>,
    /// Per snapshot: label pairs whose fixed clusters touch or overlap (distance 0). The
    /// authors' batch mode writes zeros for a whole snapshot with any overlap; here the other
    /// distances are kept and the overlaps counted.
    pub overlapping_pairs: Vec<usize>,
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
}

/// Reads a JSON file written by an earlier stage; `Ok(None)` when it does not exist.
pub fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let t =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", p.display()))?;
    Ok(Some(t))
}

/// [`read_json`] of a file that must exist.
fn read_required<T: serde::de::DeserializeOwned>(p: &Path) -> Result<T> {
    read_json(p)?.with_context(|| format!("cannot read {}: it does not exist", p.display()))
}

/// Label-pair distances at most this are counted as touching or overlapping clusters.
const OVERLAP_TOL: f64 = 1e-9;

/// The trajectory: pre-trained, every checkpoint, and the fine-tuned model when it was kept
/// after the last checkpoint.
fn snapshots(out: &Path) -> Result<Vec<Snapshot>> {
    let mut s = vec![Snapshot {
        update: 0,
        model: ModelRef::Pretrained.name(),
    }];
    let ckpts = checkpoints(out)?;
    s.extend(ckpts.iter().map(|&u| Snapshot {
        update: u,
        model: ModelRef::Checkpoint(u).name(),
    }));
    let outcome: Outcome = read_required(&out.join("finetune.json"))?;
    if ckpts.last().is_none_or(|&u| outcome.best_update > u) {
        s.push(Snapshot {
            update: outcome.best_update,
            model: ModelRef::Finetuned.name(),
        });
    }
    Ok(s)
}

/// Runs the dynamics stage.
pub fn run_dynamics(config: &Config, stage: &Planned, display: &Display) -> Result<Value> {
    let out = &config.study.out;
    let labels = label_list(out)?;
    let settings = directprobe_settings(config);
    let snaps = snapshots(out)?;
    let mut layers = Vec::new();
    for &layer in &stage.layers {
        display.message(format!("layer {layer}: {} snapshots", snaps.len()));
        let dp_dir = cio::directprobe_dir(out, &ModelRef::Pretrained.name(), "train", layer);
        // Snapshot 0 is the pre-trained space: its rows and labels fix what every later
        // snapshot must hold, and its DirectProbe clusters are the ones re-measured.
        let mut fixed: Option<(Vec<usize>, Vec<usize>, Vec<usize>)> = None;
        let mut min_distance = Vec::new();
        let mut pearson = Vec::new();
        let mut overlapping_pairs = Vec::new();
        let mut centroids = Vec::new();
        let mut first: Option<DirectProbeSummary> = None;
        let mut clusters = 0;
        for snap in &snaps {
            let v = load_layer(out, &snap.model, "train", layer, &labels)?;
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
            let (summary, _, clustering) =
                cdp::remeasure(&v.select(rows), &labels, settings, assignment)
                    .with_context(|| format!("measuring {} layer {layer}", snap.model))?;
            clusters = clustering.n_clusters();
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
            pearson.push(
                first
                    .as_ref()
                    .map_or(Some(1.0), |f| ex::pair_pearson(&f.pair, &summary.pair)),
            );
            centroids.push(label_centroids(&v, labels.len()));
            first.get_or_insert(summary);
        }
        let first = first.expect("at least the pre-trained snapshot");
        let path_labels: Vec<usize> = if config.dynamics.path_labels.is_empty() {
            ex::closest_labels(&first.pair, 3)
        } else {
            config
                .dynamics
                .path_labels
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
        layers.push(LayerDynamics {
            layer,
            clusters,
            linear: first.linear,
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
    let result = DynamicsResult {
        most_increased: most.iter().map(|&l| labels[l].clone()).collect(),
        least_increased: least.iter().map(|&l| labels[l].clone()).collect(),
        summary_layer: last.layer,
        labels,
        snapshots: snaps,
        layers,
    };
    write_dir_atomic(&out.join("experiments/dynamics"), |tmp| {
        write_dynamics(tmp, &result)
    })?;
    Ok(json!({
        "snapshots": result.snapshots.iter().map(|s| s.update).collect::<Vec<_>>(),
        "most_increased": result.most_increased,
        "least_increased": result.least_increased,
    }))
}

fn write_dynamics(dir: &Path, r: &DynamicsResult) -> Result<()> {
    cio::write_atomic(
        &dir.join("dynamics.json"),
        &(serde_json::to_string_pretty(r)? + "\n"),
    )?;
    let (mut md, mut sim, mut paths) = (Vec::new(), Vec::new(), Vec::new());
    for l in &r.layers {
        for (s, snap) in r.snapshots.iter().enumerate() {
            sim.push(vec![
                l.layer.to_string(),
                snap.update.to_string(),
                num(l.pearson[s]),
                l.overlapping_pairs[s].to_string(),
            ]);
            for (k, name) in r.labels.iter().enumerate() {
                md.push(vec![
                    l.layer.to_string(),
                    snap.update.to_string(),
                    name.clone(),
                    num(l.min_distance[s][k]),
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
    cio::write_atomic(
        &dir.join("min_distance.csv"),
        &csv(&["layer", "update", "label", "min_distance"], &md),
    )?;
    cio::write_atomic(
        &dir.join("layer_similarity.csv"),
        &csv(
            &[
                "layer",
                "update",
                "pearson_with_pretrained",
                "overlapping_pairs",
            ],
            &sim,
        ),
    )?;
    cio::write_atomic(
        &dir.join("centroid_paths.csv"),
        &csv(&["layer", "update", "label", "pc1", "pc2"], &paths),
    )
}

/// The report's dynamics section from `experiments/dynamics/dynamics.json`, if present.
pub fn dynamics_report(out: &Path) -> Result<Option<rep::Dynamics>> {
    let Some(r) = read_json::<DynamicsResult>(&out.join("experiments/dynamics/dynamics.json"))?
    else {
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
                name: format!("layer {}", l.layer),
                values: l.pearson.iter().map(|v| v.unwrap_or(f64::NAN)).collect(),
            })
            .collect(),
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
    }))
}

// ---------------------------------------------------------------- memorisation

/// `experiments/memorisation/memorisation.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemorisationResult {
    /// Layer probed.
    pub layer: usize,
    /// Hidden sizes of the probe.
    pub hidden: Vec<usize>,
    /// Probe seeds.
    pub seeds: Vec<u64>,
    /// Training sentences in subtrain / subtest.
    pub sentences: [usize; 2],
    /// Units in subtrain / subtest / test.
    pub units: [usize; 3],
    /// Mean curves on the pre-trained encoder.
    pub before: MemoCurves,
    /// Mean curves on the fine-tuned encoder.
    pub after: MemoCurves,
    /// Subtest − test after the last epoch, before fine-tuning.
    pub gap_before: Option<f64>,
    /// Subtest − test after the last epoch, after fine-tuning.
    pub gap_after: Option<f64>,
}

fn memo_curves(
    v: &[LabelledVectors; 3],
    dev: &LabelledVectors,
    cfg: &ProbeConfig,
) -> Result<MemoCurves> {
    let xs = v
        .iter()
        .map(|s| probe::matrix(&s.data, s.rows, s.dim))
        .collect::<Result<Vec<_>>>()?;
    let xd = probe::matrix(&dev.data, dev.rows, dev.dim)?;
    let split = |k: usize| probe::Split {
        x: &xs[k],
        labels: &v[k].labels,
        types: None,
    };
    let curve = |k: usize, name: &str| probe::CurveSet {
        name: name.into(),
        x: &xs[k],
        labels: &v[k].labels,
    };
    let input = ProbeInput {
        train: split(0),
        dev: probe::Split {
            x: &xd,
            labels: &dev.labels,
            types: None,
        },
        test: Some(split(2)),
        curves: vec![curve(0, "subtrain"), curve(1, "subtest"), curve(2, "test")],
    };
    let report = probe::run(&input, cfg)?;
    let c = &report.best.curves;
    Ok(MemoCurves::mean_of(
        &c["subtrain"],
        &c["subtest"],
        &c["test"],
    ))
}

/// Runs the memorisation stage.
pub fn run_memorisation(config: &Config, stage: &Planned, display: &Display) -> Result<Value> {
    let out = &config.study.out;
    let m = &config.memorisation;
    let layer = config.experiment_layer(m.layer, &stage.layers);
    let labels = label_list(out)?;
    let task = read_task(out)?;
    let (sub_s, test_s) =
        ex::split_sentences(task.train.sentences.len(), m.subtrain, config.study.seed);
    let mut in_sub = vec![false; task.train.sentences.len()];
    for &s in &sub_s {
        in_sub[s] = true;
    }
    let (sub_rows, test_rows): (Vec<usize>, Vec<usize>) =
        (0..task.train.units.len()).partition(|&i| in_sub[task.train.units[i].sentence]);
    let g = config.probe.grid[0];
    let hidden = m.hidden.clone().unwrap_or_else(|| vec![g, g]);
    let cfg = ProbeConfig {
        shapes: vec![hidden.clone()],
        max_epochs: m.epochs,
        patience: None,
        control: false,
        ..probe_config(config)
    };
    let mut curves = Vec::new();
    for model in [ModelRef::Pretrained, ModelRef::Finetuned] {
        display.message(format!(
            "{}: probe {hidden:?} on {} subtrain units, {} epochs",
            model.name(),
            sub_rows.len(),
            m.epochs
        ));
        let train = load_layer(out, &model.name(), "train", layer, &labels)?;
        ensure!(
            train.rows == task.train.units.len(),
            "reps/{}/train has {} rows for {} training units",
            model.name(),
            train.rows,
            task.train.units.len()
        );
        let sets = [
            train.select(&sub_rows),
            train.select(&test_rows),
            load_layer(out, &model.name(), "test", layer, &labels)?,
        ];
        let dev = load_layer(out, &model.name(), "dev", layer, &labels)?;
        curves.push(memo_curves(&sets, &dev, &cfg)?);
    }
    let after = curves.pop().expect("two curves");
    let before = curves.pop().expect("two curves");
    let test_units = task.test.units.len();
    let result = MemorisationResult {
        layer,
        hidden,
        seeds: cfg.seeds.clone(),
        sentences: [sub_s.len(), test_s.len()],
        units: [sub_rows.len(), test_rows.len(), test_units],
        gap_before: before.final_gap(),
        gap_after: after.final_gap(),
        before,
        after,
    };
    write_dir_atomic(&out.join("experiments/memorisation"), |tmp| {
        cio::write_atomic(
            &tmp.join("memorisation.json"),
            &(serde_json::to_string_pretty(&result)? + "\n"),
        )?;
        let mut rows = Vec::new();
        for (model, c) in [("pretrained", &result.before), ("finetuned", &result.after)] {
            for (subset, v) in [
                ("subtrain", &c.subtrain),
                ("subtest", &c.subtest),
                ("test", &c.test),
            ] {
                for (e, a) in v.iter().enumerate() {
                    rows.push(vec![
                        model.to_string(),
                        subset.to_string(),
                        (e + 1).to_string(),
                        a.to_string(),
                    ]);
                }
            }
        }
        cio::write_atomic(
            &tmp.join("curves.csv"),
            &csv(&["encoder", "subset", "epoch", "accuracy"], &rows),
        )
    })?;
    Ok(json!({
        "layer": layer,
        "gap_before": result.gap_before,
        "gap_after": result.gap_after,
        "final_before": [result.before.subtrain.last(), result.before.subtest.last(), result.before.test.last()],
        "final_after": [result.after.subtrain.last(), result.after.subtest.last(), result.after.test.last()],
    }))
}

/// The report's memorisation section, if computed.
pub fn memorisation_report(out: &Path) -> Result<Option<rep::Memorisation>> {
    let Some(r) =
        read_json::<MemorisationResult>(&out.join("experiments/memorisation/memorisation.json"))?
    else {
        return Ok(None);
    };
    let conv = |c: &MemoCurves| rep::MemoCurves {
        subtrain: c.subtrain.clone(),
        subtest: c.subtest.clone(),
        test: c.test.clone(),
    };
    Ok(Some(rep::Memorisation {
        epochs: (1..=r.before.subtrain.len().max(r.after.subtrain.len())).collect(),
        before: conv(&r.before),
        after: conv(&r.after),
    }))
}

// ---------------------------------------------------------------- cross-task

/// The cross-task entry named `name`.
fn entry<'a>(config: &'a Config, name: &str) -> Result<&'a crate::config::CrossTask> {
    config
        .cross_task
        .iter()
        .find(|e| e.name == name)
        .with_context(|| format!("no [[cross_task]] named {name:?}"))
}

/// Runs `cross/<name>/data`.
pub fn run_cross_data(config: &Config, name: &str) -> Result<Value> {
    let sub = config.cross_config(entry(config, name)?);
    std::fs::create_dir_all(&sub.study.out)
        .with_context(|| format!("cannot create {}", sub.study.out.display()))?;
    super::stages::run_data(&sub)
}

/// Runs `cross/<name>/finetune`.
pub fn run_cross_finetune(
    config: &Config,
    name: &str,
    stage: &Planned,
    display: &Display,
) -> Result<Value> {
    let sub = config.cross_config(entry(config, name)?);
    super::stages::run_finetune(&sub, stage, display)
}

/// One encoder's DirectProbe on a task's (sampled) train split and its classifier-probe test
/// accuracy, at one layer.
struct Probed {
    summary: DirectProbeSummary,
    acc: Option<f64>,
}

/// [`Probed`] for the vectors in `root/reps/<tag>/<split>/`.
fn probe_space(
    config: &Config,
    root: &Path,
    tag: &str,
    layer: usize,
    labels: &[String],
) -> Result<Probed> {
    let load = |split: &str| load_layer(root, tag, split, layer, labels);
    let train = load("train")?;
    let (summary, ..) = cdp::run(&train, labels, directprobe_settings(config))
        .with_context(|| format!("DirectProbe on {tag}"))?;
    let acc = if config.probe.enabled {
        let sets = [train, load("dev")?, load("test")?];
        let cfg = ProbeConfig {
            control: false,
            ..probe_config(config)
        };
        train_probes(&sets, None, &cfg)?.best.test_mean
    } else {
        None
    };
    Ok(Probed { summary, acc })
}

/// The study's own DirectProbe summary and probe accuracy of `model` at `layer` (task X).
fn main_space(config: &Config, model: &ModelRef, layer: usize) -> Result<Probed> {
    let out = &config.study.out;
    let summary: DirectProbeSummary = read_required(
        &cio::directprobe_dir(out, &model.name(), "train", layer).join(cdp::SUMMARY_FILE),
    )?;
    let acc = if config.probe.enabled {
        read_json::<ProbeReport>(&cio::probe_file(out, &model.name(), layer))?
            .and_then(|r| r.best.test_mean)
    } else {
        None
    };
    Ok(Probed { summary, acc })
}

/// Runs `cross/<name>`: task Y probed with the pre-trained encoder, the encoder fine-tuned on the
/// study's task X and (with `finetune`) the one fine-tuned on Y, which also probes X.
pub fn run_cross_task(
    config: &Config,
    name: &str,
    stage: &Planned,
    display: &Display,
) -> Result<Value> {
    let e = entry(config, name)?;
    let sub = config.cross_config(e);
    let out = &config.study.out;
    let layer = config.experiment_layer(None, &stage.layers);
    let x_task = read_task(out)?;
    let y_task = read_task(&sub.study.out)?;
    let (x, y) = (x_task.name.clone(), y_task.name.clone());
    let x_labels = label_list(out)?;
    let y_ft: Option<PathBuf> = e.finetune.then(|| sub.study.out.join("models/finetuned"));
    let result = out.join(format!("cross/{name}/result"));
    let mut rows = Vec::new();
    write_dir_atomic(&result, |tmp| {
        let extract = |task: &Task, conf: &Config, dir: &Path, tag: &str| -> Result<()> {
            super::extract::extract(
                conf,
                task,
                dir,
                &[layer],
                &tunescope_data::SPLIT_NAMES,
                &tmp.join("reps").join(tag),
                tag,
                display,
            )
            .map(drop)
        };
        let mut encoders: Vec<(Option<String>, PathBuf)> = vec![
            (None, stage.pretrained.clone()),
            (Some(x.clone()), out.join("models/finetuned")),
        ];
        if let Some(d) = &y_ft {
            encoders.push((Some(y.clone()), d.clone()));
        }
        let mut pre_min: Option<Vec<Option<f64>>> = None;
        let mut summaries = serde_json::Map::new();
        for (on, dir) in &encoders {
            let tag = format!("{}-on-{y}", on.as_deref().unwrap_or("pretrained"));
            display.message(format!("{name}: {tag}"));
            extract(&y_task, &sub, dir, &tag)?;
            let p = probe_space(&sub, tmp, &tag, layer, &y_task.labels)?;
            let min = p.summary.outside_min();
            rows.push(CrossTaskRow::new(
                on.as_deref(),
                &y,
                layer,
                pre_min.as_deref().filter(|_| on.is_some()),
                &min,
                p.acc,
                Some(p.summary.n_clusters),
            ));
            pre_min.get_or_insert(min);
            summaries.insert(tag, serde_json::to_value(&p.summary)?);
        }
        let pre_x = main_space(config, &ModelRef::Pretrained, layer)?;
        let ft_x = main_space(config, &ModelRef::Finetuned, layer)?;
        let x_min = pre_x.summary.outside_min();
        rows.push(CrossTaskRow::new(
            None,
            &x,
            layer,
            None,
            &x_min,
            pre_x.acc,
            Some(pre_x.summary.n_clusters),
        ));
        rows.push(CrossTaskRow::new(
            Some(&x),
            &x,
            layer,
            Some(&x_min),
            &ft_x.summary.outside_min(),
            ft_x.acc,
            Some(ft_x.summary.n_clusters),
        ));
        if let Some(d) = &y_ft {
            let tag = format!("{y}-on-{x}");
            display.message(format!("{name}: {tag}"));
            extract(&x_task, config, d, &tag)?;
            let p = probe_space(config, tmp, &tag, layer, &x_labels)?;
            rows.push(CrossTaskRow::new(
                Some(&y),
                &x,
                layer,
                Some(&x_min),
                &p.summary.outside_min(),
                p.acc,
                Some(p.summary.n_clusters),
            ));
            summaries.insert(tag, serde_json::to_value(&p.summary)?);
        }
        cio::write_atomic(
            &tmp.join("directprobe.json"),
            &(serde_json::to_string_pretty(&summaries)? + "\n"),
        )?;
        cio::write_atomic(
            &tmp.join("table.json"),
            &(serde_json::to_string_pretty(&rows)? + "\n"),
        )?;
        cio::write_atomic(&tmp.join("table.csv"), &cross_csv(&rows))
    })?;
    Ok(json!({"rows": rows.iter().map(|r| json!({
        "finetuned_on": r.finetuned_on,
        "probing": r.probing,
        "n_inc": r.change.as_ref().map(|c| c.n_grew),
        "n_dec": r.change.as_ref().map(|c| c.n_shrank),
        "mean_change": r.change.as_ref().and_then(|c| c.mean_change),
        "acc": r.acc,
    })).collect::<Vec<_>>()}))
}

fn cross_csv(rows: &[CrossTaskRow]) -> String {
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let c = r.change.as_ref();
            vec![
                r.finetuned_on.clone().unwrap_or_else(|| "-".into()),
                r.probing.clone(),
                r.layer.to_string(),
                c.map_or(String::new(), |c| c.n_grew.to_string()),
                c.map_or(String::new(), |c| c.n_shrank.to_string()),
                num(c.and_then(|c| c.mean_change)),
                num(r.acc),
                r.n_clusters.map_or(String::new(), |n| n.to_string()),
            ]
        })
        .collect();
    csv(
        &[
            "finetuned_on",
            "probing",
            "layer",
            "n_inc",
            "n_dec",
            "mean_change",
            "probe_acc",
            "directprobe_clusters",
        ],
        &body,
    )
}

/// The report's cross-task table over every entry (rows deduplicated), if any was computed.
pub fn cross_task_report(config: &Config) -> Result<Option<Vec<rep::CrossTaskRow>>> {
    let mut rows: Vec<rep::CrossTaskRow> = Vec::new();
    for e in &config.cross_task {
        let p = config
            .study
            .out
            .join(format!("cross/{}/result/table.json", e.name));
        let Some(table) = read_json::<Vec<CrossTaskRow>>(&p)? else {
            continue;
        };
        for r in table {
            let row = rep::CrossTaskRow {
                finetuned_on: r.finetuned_on.clone(),
                probing: r.probing.clone(),
                n_inc: r.change.as_ref().map(|c| c.n_grew),
                n_dec: r.change.as_ref().map(|c| c.n_shrank),
                mean_change: r.change.as_ref().and_then(|c| c.mean_change),
                acc: r.acc.map(|a| 100.0 * a),
            };
            if !rows
                .iter()
                .any(|o| o.finetuned_on == row.finetuned_on && o.probing == row.probing)
            {
                rows.push(row);
            }
        }
    }
    rows.sort_by(|a, b| {
        (a.probing.as_str(), a.finetuned_on.is_some())
            .cmp(&(b.probing.as_str(), b.finetuned_on.is_some()))
    });
    Ok((!rows.is_empty()).then_some(rows))
}
