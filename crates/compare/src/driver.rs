//! Walks a run directory, reuses the probe and DirectProbe artifacts already there, computes the
//! missing ones, and assembles [`CompareResults`].

use crate::analysis::{
    centroid_movement, difference_pca, distance_change, label_centroids, similarity_indices,
    spatial_similarity, DistanceSpace, LabelledVectors, UndefinedPairs,
};
use crate::dp::{self, DirectProbeSettings, DirectProbeSummary};
use crate::findings::check_findings;
use crate::io::{self, FINETUNED, PRETRAINED};
use crate::layer_analyses;
use crate::results::{
    CkaLayers, CompareResults, LabelDistanceLayer, LabelDistanceRow, MovementLayer, Sampling,
    SimilarityLayer, TableARow,
};
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use tunescope_data::rundir::RunDir;
use tunescope_geometry::similarity::{cka_matrix, CkaEstimator, RsaOptions};
use tunescope_geometry::stats::Rng;
use tunescope_model::probe::{ProbeConfig, ProbeReport};

/// Settings of a comparison (the CLI maps `[probe]`, `[directprobe]` and `[compare]` onto it).
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Layers to compare; `None` = every layer with representations for both versions.
    pub layers: Option<Vec<usize>>,
    /// DirectProbe size filter, per-split row cap and sample seed.
    pub directprobe: DirectProbeSettings,
    /// Train missing classifier probes with these settings; `None` leaves them out (noted).
    pub probe: Option<ProbeConfig>,
    /// Split whose rows the similarity indices (CKA, RSA, Procrustes) use.
    pub similarity_split: String,
    /// At most this many rows of that split for CKA and Procrustes (seeded sample).
    pub similarity_max_units: Option<usize>,
    /// RSA row sample (size, seed) within those rows.
    pub rsa: RsaOptions,
    /// Seed of the similarity row sample.
    pub seed: u64,
    /// How label pairs without a distance enter the spatial similarities (default: written
    /// as 0, the authors' convention).
    pub undefined_pairs: UndefinedPairs,
}

impl Default for CompareOptions {
    /// All layers, size filter 5, no DirectProbe cap, no probe training, similarity indices on
    /// 5,000 test rows (RSA on 2,000 of them), seed 42.
    fn default() -> Self {
        CompareOptions {
            layers: None,
            directprobe: DirectProbeSettings {
                min_cluster_size: 5,
                max_units: None,
                seed: 42,
            },
            probe: None,
            similarity_split: "test".into(),
            similarity_max_units: Some(5000),
            rsa: RsaOptions {
                seed: 42,
                ..RsaOptions::default()
            },
            seed: 42,
            undefined_pairs: UndefinedPairs::Zero,
        }
    }
}

/// What a run computed afresh and what it reused (a second run over the same directory should
/// compute nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// DirectProbe clusterings computed.
    pub directprobe_computed: usize,
    /// DirectProbe results reused from `label_metrics.json`.
    pub directprobe_reused: usize,
    /// Fixed clusterings (a `clusters.txt` from elsewhere) re-measured without clustering.
    pub directprobe_remeasured: usize,
    /// Classifier-probe families trained.
    pub probes_trained: usize,
    /// Classifier-probe results reused from `probe/<model>/layer-<k>.json`.
    pub probes_reused: usize,
}

/// Per split: the row label names and the sorted label list.
struct Labels {
    names: Vec<String>,
    per_split: Vec<Vec<String>>,
}

fn read_labels(run: &RunDir, models: &[&str]) -> Result<Labels> {
    let mut per_split = Vec::new();
    let mut all = BTreeSet::new();
    for split in io::SPLITS {
        let dir = run.reps_split(PRETRAINED, split);
        let names = io::read_label_names(&dir)?;
        for &m in &models[1..] {
            let other = run.reps_split(m, split);
            let theirs = io::read_label_names(&other)?;
            ensure!(
                theirs == names,
                "{} and {} differ: both versions must describe the same units",
                dir.join("labels.txt").display(),
                other.join("labels.txt").display()
            );
        }
        all.extend(names.iter().cloned());
        per_split.push(names);
    }
    Ok(Labels {
        names: all.into_iter().collect(),
        per_split,
    })
}

fn split_index(split: &str) -> Result<usize> {
    io::SPLITS
        .iter()
        .position(|s| *s == split)
        .with_context(|| format!("unknown split {split:?} (expected train, dev or test)"))
}

fn load(
    run: &RunDir,
    model: &str,
    split: &str,
    layer: usize,
    labels: &Labels,
) -> Result<LabelledVectors> {
    let names = &labels.per_split[split_index(split)?];
    io::read_layer(&run.layer_file(model, split, layer), names, &labels.names)
}

/// Loads or computes the DirectProbe summary of one model × split × layer.
fn directprobe(
    (run, labels, settings): (&RunDir, &Labels, DirectProbeSettings),
    (model, split, layer): (&str, &str, usize),
    v: &LabelledVectors,
    work: &mut Work,
) -> Result<DirectProbeSummary> {
    let dir = run.directprobe_dir(model, split, layer);
    let ctx = || format!("DirectProbe on {model} {split} layer {layer}");
    if let Some(s) = dp::load_summary(&dir, &labels.names, v.rows, &settings)? {
        work.directprobe_reused += 1;
        return Ok(s);
    }
    let uncapped = settings.max_units.is_none_or(|c| c >= v.rows);
    if uncapped {
        if let Some(assignment) = dp::load_assignment(&dir, v.rows)? {
            let (summary, _, _) =
                dp::remeasure(v, &labels.names, settings, &assignment).with_context(ctx)?;
            dp::write_summary(&dir, &summary)?;
            work.directprobe_remeasured += 1;
            return Ok(summary);
        }
    }
    let (summary, clustering, metrics, rows) =
        dp::run(v, &labels.names, settings).with_context(ctx)?;
    dp::write_artifacts(&dir, &summary, &clustering, &metrics, &rows)?;
    work.directprobe_computed += 1;
    tracing::info!(
        "{model} {split} layer {layer}: {} clusters for {} labels",
        summary.n_clusters,
        summary.n_labels
    );
    Ok(summary)
}

/// Loads or trains the classifier probes of one model × layer; `Err` text is the probe note.
fn probe_report(
    run: &RunDir,
    model: &str,
    layer: usize,
    labels: &Labels,
    config: Option<&ProbeConfig>,
    work: &mut Work,
) -> Result<std::result::Result<ProbeReport, String>> {
    let path = run.probe_file(model, layer);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let r: ProbeReport = serde_json::from_str(&text)
            .with_context(|| format!("{}: expected a classifier-probe report", path.display()))?;
        work.probes_reused += 1;
        return Ok(Ok(r));
    }
    let Some(cfg) = config else {
        return Ok(Err(format!(
            "no {} and probe training is off",
            path.display()
        )));
    };
    let sets = io::SPLITS
        .iter()
        .map(|s| load(run, model, s, layer, labels))
        .collect::<Result<Vec<_>>>()?;
    let report = crate::analysis::train_probes(&sets, None, cfg)
        .with_context(|| format!("classifier probes on {model} layer {layer}"))?;
    std::fs::create_dir_all(path.parent().expect("probe file has a parent"))
        .with_context(|| format!("creating the directory of {}", path.display()))?;
    report.write_json(&path)?;
    work.probes_trained += 1;
    Ok(Ok(report))
}

fn table_row(
    layer: usize,
    model: &str,
    train: &DirectProbeSummary,
    test: &DirectProbeSummary,
    probe: &std::result::Result<ProbeReport, String>,
    mode: UndefinedPairs,
) -> TableARow {
    let pct = |v: Option<f64>| v.map(|v| 100.0 * v);
    let (acc_mean, acc_std, best_hidden, probe_note) = match probe {
        Ok(r) => (
            pct(r.best.test_mean),
            pct(r.best.test_std),
            Some(r.best.hidden.clone()),
            r.best
                .test_mean
                .is_none()
                .then(|| "probe report has no test accuracy".to_string()),
        ),
        Err(note) => (None, None, None, Some(note.clone())),
    };
    let probe = probe.as_ref().ok();
    let linear = probe.and_then(|r| r.linear.as_ref());
    TableARow {
        layer,
        version: model.to_string(),
        acc_mean,
        acc_std,
        best_hidden,
        best_l2: probe.map(|r| r.best.l2),
        probe_selected_on: probe.map(|r| r.selected_on.clone()),
        linear_acc_mean: linear.and_then(|l| pct(l.test_mean)),
        linear_acc_std: linear.and_then(|l| pct(l.test_std)),
        linear_l2: linear.map(|l| l.l2),
        probe_note,
        n_clusters: train.n_clusters,
        n_labels: train.n_labels,
        linear: train.linear,
        min_distance: train.min_distance(),
        min_cluster_pair_distance: train.min_cluster_pair_distance(),
        train_rows_used: train.rows_used,
        train_rows_total: train.rows_total,
        train_test_similarity: spatial_similarity(
            DistanceSpace {
                pair: &train.pair,
                linear: train.linear,
            },
            DistanceSpace {
                pair: &test.pair,
                linear: test.linear,
            },
            ("train", "test"),
            mode,
        ),
        min_cluster_size: train.settings.min_cluster_size,
        clusters_dropped: train.clusters_dropped,
        test_clusters_dropped: test.clusters_dropped,
        conflict_rows_dropped: train.conflict_rows_dropped,
        selectivity: None,
        mdl_compression: None,
    }
}

/// Layers present for every model's every split, ascending.
fn available_layers(run: &RunDir, models: &[&str]) -> Result<Vec<usize>> {
    let mut common: Option<BTreeSet<usize>> = None;
    for m in models {
        for s in io::SPLITS {
            let l: BTreeSet<usize> = io::layers_in(&run.reps_split(m, s))?.into_iter().collect();
            common = Some(match common {
                None => l,
                Some(c) => c.intersection(&l).copied().collect(),
            });
        }
    }
    Ok(common.unwrap_or_default().into_iter().collect())
}

/// Computes every comparison for the run directory `run` and returns the results (not yet
/// written; see [`CompareResults::write`]) with the work done.
pub fn compare(run: &RunDir, opts: &CompareOptions) -> Result<(CompareResults, Work)> {
    let reps = run.reps(PRETRAINED);
    if !reps.is_dir() {
        bail!(
            "{}: no pre-trained representations (expected reps/{PRETRAINED}/<split>/layer-<k>.npy \
             and labels.txt; run the extraction first)",
            reps.display()
        );
    }
    let has_finetuned = run.reps(FINETUNED).is_dir();
    let models: Vec<&str> = if has_finetuned {
        vec![PRETRAINED, FINETUNED]
    } else {
        vec![PRETRAINED]
    };
    let labels = read_labels(run, &models)?;
    let available = available_layers(run, &models)?;
    let layers = match &opts.layers {
        None => available.clone(),
        Some(want) => {
            for &l in want {
                if !available.contains(&l) {
                    let missing = models
                        .iter()
                        .flat_map(|m| io::SPLITS.map(|s| run.layer_file(m, s, l)))
                        .find(|p| !p.exists())
                        .expect("an unavailable layer misses a file");
                    bail!(
                        "layer {l} requested but {} does not exist",
                        missing.display()
                    );
                }
            }
            want.clone()
        }
    };
    ensure!(
        !layers.is_empty(),
        "{}: no layer-<k>.npy present for every split{}",
        reps.display(),
        if has_finetuned {
            " of both versions"
        } else {
            ""
        }
    );
    let mut notes = Vec::new();
    if !has_finetuned {
        notes.push(format!(
            "no reps/{FINETUNED}/: only the pre-trained columns are computed; movement, \
             before/after distances and similarity indices need a fine-tuned model"
        ));
    }
    let sim_split = opts.similarity_split.as_str();
    let sim_total = labels.per_split[split_index(sim_split)?].len();
    let sim_rows = match opts.similarity_max_units {
        Some(cap) => Rng::new(opts.seed).sample_indices(sim_total, cap),
        None => (0..sim_total).collect(),
    };
    let n_labels = labels.names.len();
    let mut work = Work::default();
    let mut table_a = Vec::new();
    let mut label_distances = Vec::new();
    let mut layer_movement = Vec::new();
    let mut similarity = Vec::new();
    let mut sim_pre = Vec::new();
    let mut sim_post = Vec::new();
    let mut measured: Vec<Vec<_>> = vec![Vec::new(); models.len()];
    for &layer in &layers {
        let mut train_dp = Vec::new();
        let mut centroids = Vec::new();
        for &m in &models {
            let train = load(run, m, "train", layer, &labels)?;
            let test = load(run, m, "test", layer, &labels)?;
            let ctx = (run, &labels, opts.directprobe);
            let dp_train = directprobe(ctx, (m, "train", layer), &train, &mut work)?;
            let dp_test = directprobe(ctx, (m, "test", layer), &test, &mut work)?;
            let probe = probe_report(run, m, layer, &labels, opts.probe.as_ref(), &mut work)?;
            let mut row = table_row(layer, m, &dp_train, &dp_test, &probe, opts.undefined_pairs);
            crate::measures::add_table_a_columns(run, &mut row, probe.as_ref().ok())?;
            table_a.push(row);
            centroids.push(label_centroids(&train, n_labels));
            let sim = if sim_split == "test" {
                test
            } else {
                load(run, m, sim_split, layer, &labels)?
            };
            if !layer_analyses::LAYER_ANALYSES.is_empty() {
                let sim_labels: Vec<usize> = sim_rows.iter().map(|&i| sim.labels[i]).collect();
                let v = usize::from(m != PRETRAINED);
                measured[v].push(layer_analyses::measure(&layer_analyses::LayerInput {
                    x: &sim.matrix(&sim_rows),
                    labels: &sim_labels,
                }));
            }
            if has_finetuned {
                let x = sim.matrix(&sim_rows);
                if m == PRETRAINED {
                    sim_pre.push(x);
                } else {
                    sim_post.push(x);
                }
            }
            train_dp.push(dp_train);
        }
        let before = &train_dp[0];
        let after = train_dp.get(1);
        let (om_b, om_a) = (before.outside_min(), after.map(|a| a.outside_min()));
        let rows = (0..n_labels)
            .map(|l| LabelDistanceRow {
                label: labels.names[l].clone(),
                outside_min_before: om_b[l],
                outside_min_after: om_a.as_ref().and_then(|v| v[l]),
                inside_mean_before: before.inside_mean[l],
                inside_mean_after: after.and_then(|a| a.inside_mean[l]),
                inside_max_before: before.inside_max[l],
                inside_max_after: after.and_then(|a| a.inside_max[l]),
            })
            .collect();
        label_distances.push(LabelDistanceLayer {
            layer,
            labels: rows,
            change: om_a.as_ref().map(|a| distance_change(&om_b, a)),
            min_cluster_size: opts.directprobe.min_cluster_size,
            clusters_dropped_before: before.clusters_dropped,
            clusters_dropped_after: after.map(|a| a.clusters_dropped),
            pair_before: before.pair.clone(),
            pair_after: after.map(|a| a.pair.clone()),
        });
        if let Some(after) = after {
            let moved = centroid_movement(&centroids[0], &centroids[1]);
            let displacement: Vec<Option<f64>> =
                moved.iter().map(|m| m.as_ref().map(|m| m.0)).collect();
            let defined: Vec<f64> = displacement.iter().flatten().copied().collect();
            let diffs: Vec<Option<Vec<f64>>> = moved.into_iter().map(|m| m.map(|m| m.1)).collect();
            let (difference_pca, pca_note) = match difference_pca(&diffs) {
                Ok(p) => (Some(p), None),
                Err(e) => (None, Some(e)),
            };
            layer_movement.push(MovementLayer {
                layer,
                mean_displacement: (!defined.is_empty())
                    .then(|| defined.iter().sum::<f64>() / defined.len() as f64),
                displacement,
                difference_pca,
                pca_note,
            });
            let x = sim_pre.last().expect("pre-trained rows of this layer");
            let y = sim_post.last().expect("fine-tuned rows of this layer");
            similarity.push(SimilarityLayer {
                layer,
                spatial: spatial_similarity(
                    DistanceSpace {
                        pair: &before.pair,
                        linear: before.linear,
                    },
                    DistanceSpace {
                        pair: &after.pair,
                        linear: after.linear,
                    },
                    (PRETRAINED, FINETUNED),
                    opts.undefined_pairs,
                ),
                indices: similarity_indices(x, y, &opts.rsa),
            });
        }
    }
    let cka_layers = if has_finetuned {
        match cka_matrix(&sim_pre, &sim_post, CkaEstimator::Biased) {
            Ok(m) => Some(CkaLayers {
                rows: layers.clone(),
                cols: layers.clone(),
                values: (0..m.rows()).map(|i| m.row(i).to_vec()).collect(),
                n_rows: sim_rows.len(),
            }),
            // A degenerate layer (every row the same vector) has no CKA with anything.
            Err(e) => {
                notes.push(format!("layer × layer CKA not computed: {e}"));
                None
            }
        }
    } else {
        None
    };
    let layer_measures = layer_analyses::assemble(&layers, &measured, &models);
    let mut results = CompareResults {
        labels: labels.names,
        layers,
        has_finetuned,
        sampling: Sampling {
            directprobe: opts.directprobe,
            similarity_split: opts.similarity_split.clone(),
            similarity_rows: sim_rows.len(),
            similarity_rows_total: sim_total,
            rsa_sample: opts.rsa.sample,
            rsa_seed: opts.rsa.seed,
        },
        table_a,
        label_distances,
        layer_movement,
        similarity,
        cka_layers,
        layer_measures,
        findings: Vec::new(),
        notes,
    };
    results.findings = check_findings(&results);
    Ok((results, work))
}

/// [`compare`], then writes the results to `<run>/compare/`.
pub fn compare_and_write(run: &RunDir, opts: &CompareOptions) -> Result<(CompareResults, Work)> {
    let (results, work) = compare(run, opts)?;
    results.write(&run.compare())?;
    Ok((results, work))
}
