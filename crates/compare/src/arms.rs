//! The fine-tuning arms in the report: each arm's Table A rows and per-run sections (per-layer
//! curves, movement, CKA, dynamics, memorisation), and the side-by-side section — head
//! accuracies, training times, parameters trained, per-layer curves with one line per arm and
//! the weight-space figures — read from each arm's run directory. With several fine-tuning
//! seeds, a branch's accuracies, time and per-layer curves are the means its seeds stage wrote.

use anyhow::{Context, Result};
use tunescope_model::finetune::Outcome;
use tunescope_report as rep;

use crate::seeds::{Estimate, SeedSummary};
use crate::weights::WeightSpace;
use crate::CompareResults;
use tunescope_data::rundir::{read_json, RunDir};

/// One fine-tuning branch as the report sees it.
#[derive(Debug, Clone)]
pub struct Branch {
    /// `main` for the study's own fine-tuning, else the arm's name.
    pub name: String,
    /// The method and its settings as the report states them.
    pub method: String,
    /// The branch's run directory.
    pub out: RunDir,
}

/// The model column of arm `arm`'s Table A rows: the study's model, then ` · arm <name>`.
pub fn arm_model(model: &str, arm: &str) -> String {
    format!("{model} · arm {arm}")
}

/// The arm a Table A row's model column names ([`arm_model`]); `None` for the study's own rows.
pub fn arm_of(model: &str) -> Option<&str> {
    model.rsplit_once(" · arm ").map(|(_, arm)| arm)
}

/// Mean fine-tuning seconds over the replicates the seeds stage summarised in `out` (the branch
/// itself, then `seeds/seed-<s>/`); `None` without a summary or when a replicate lacks its
/// `finetune.json`.
fn mean_seconds(out: &RunDir, summary: Option<&SeedSummary>) -> Result<Option<f64>> {
    let Some(s) = summary else {
        return Ok(None);
    };
    let mut secs = Vec::new();
    for (r, &seed) in s.seeds.iter().enumerate() {
        let dir = if r == 0 {
            out.clone()
        } else {
            out.replicate(seed)
        };
        match read_json::<Outcome>(&dir.finetune_outcome())? {
            Some(o) => secs.push(o.seconds),
            None => return Ok(None),
        }
    }
    Ok(Some(secs.iter().sum::<f64>() / secs.len().max(1) as f64))
}

/// The weight-space view written into `out/weights/`, if any.
pub fn read_weights(out: &RunDir) -> Result<Option<WeightSpace>> {
    read_json(&out.weights_json()).context("weight-space results")
}

/// Adds every arm's Table A rows (fine-tuned) and run section to `table_a` and `runs`, and
/// returns the side-by-side section. `branches[0]` is the study's own run and `runs[0]` its
/// section; the others are the arms, in order; `task` and `model` name the study's.
pub fn add_arms(
    branches: &[Branch],
    task: &str,
    model: &str,
    table_a: &mut Vec<rep::TableAEntry>,
    runs: &mut Vec<rep::TaskModelReport>,
) -> Result<rep::Arms> {
    for b in &branches[1..] {
        let out = &b.out;
        let results =
            CompareResults::read(&out.compare()).with_context(|| format!("arm {}", b.name))?;
        let (rows, mut run) = crate::report_sections(&results, task, &arm_model(model, &b.name));
        table_a.extend(
            rows.into_iter()
                .filter(|r| r.version() == rep::Version::FineTuned),
        );
        if let Some(l) = &mut run.layers {
            crate::seeds::add_bands(out, l)?;
        }
        run.dynamics = crate::dynamics::report_section(out)?;
        crate::seeds::add_dynamics_bands(out, &mut run.dynamics)?;
        run.memorisation = crate::memorisation::report_section(out)?;
        runs.push(run);
    }
    let mut arms = rep::Arms::default();
    // Per-layer curves: the main run's x axis; every run analyses the same layers.
    let layers = runs
        .first()
        .and_then(|r| r.layers.as_ref())
        .map(|l| l.layers.clone())
        .unwrap_or_default();
    arms.layers = layers.clone();
    type Pick = fn(&rep::LayerSeries) -> Option<&rep::Series>;
    type Spec = (
        &'static str,
        &'static str,
        &'static str,
        Pick,
        Option<Pick>,
        &'static str,
    );
    let specs: [Spec; 4] = [
        (
            "probe-accuracy",
            "Probe accuracy per layer, by fine-tuning method",
            "accuracy (%)",
            |l| l.probe_accuracy.as_ref().map(|b| &b.after),
            Some(|l| l.probe_accuracy.as_ref().map(|b| &b.before)),
            "Classifier-probe test accuracy per layer after each arm's fine-tuning (dashed: \
             pre-trained).",
        ),
        (
            "clusters",
            "DirectProbe clusters per layer, by fine-tuning method",
            "number of clusters",
            |l| l.clusters.as_ref().map(|b| &b.after),
            Some(|l| l.clusters.as_ref().map(|b| &b.before)),
            "DirectProbe clusters on the training set after each arm's fine-tuning (dashed: \
             pre-trained); one per label means linearly separable.",
        ),
        (
            "min-distance",
            "Minimum distance between label clusters, by fine-tuning method",
            "minimum distance",
            |l| l.min_distance.as_ref().map(|b| &b.after),
            Some(|l| l.min_distance.as_ref().map(|b| &b.before)),
            "Minimum distance between clusters of different labels after each arm's \
             fine-tuning (dashed: pre-trained).",
        ),
        (
            "cka",
            "CKA pre-trained vs fine-tuned, by fine-tuning method",
            "linear CKA",
            |l| l.cka_pre_post.as_ref(),
            None,
            "Linear CKA between each layer's pre-trained and fine-tuned representations, per \
             arm: how much of the layer each method changed (1 = unchanged up to rotation and \
             scale).",
        ),
    ];
    for (key, title, y, after, before, caption) in specs {
        let mut lines = Vec::new();
        if let Some(s) = before.and_then(|f| runs[0].layers.as_ref().and_then(f)) {
            lines.push(rep::NamedCurve {
                name: "pre-trained".into(),
                values: s.values.clone(),
            });
        }
        // `runs` holds the study's run, then one per arm, in the order of `branches`.
        for (b, run) in branches.iter().zip(runs.iter()) {
            if let Some(s) = run.layers.as_ref().and_then(after) {
                lines.push(rep::NamedCurve {
                    name: b.name.clone(),
                    values: s.values.clone(),
                });
            }
        }
        if lines.len() > 1 || (before.is_none() && !lines.is_empty()) {
            arms.curves.push(rep::ArmCurves {
                key: key.into(),
                title: title.into(),
                y_label: y.into(),
                caption: caption.into(),
                lines,
            });
        }
    }
    let mut movement = Vec::new();
    for b in branches {
        let out = &b.out;
        let results = CompareResults::read(&out.compare())?;
        // With several seeds: the seeds stage's means (`seeds/summary/` of the branch).
        let summary: Option<SeedSummary> =
            read_json(&out.seeds_summary().join(crate::seeds::SUMMARY_FILE))?;
        movement.push(rep::NamedCurve {
            name: b.name.clone(),
            values: layers
                .iter()
                .map(|l| match &summary {
                    Some(s) => s
                        .layers
                        .iter()
                        .find(|x| x.layer == *l)
                        .and_then(|x| x.mean_displacement.mean),
                    None => results
                        .layer_movement
                        .iter()
                        .find(|m| m.layer == *l)
                        .and_then(|m| m.mean_displacement),
                })
                .map(|v| v.unwrap_or(f64::NAN))
                .collect(),
        });
        let outcome: Option<Outcome> = read_json(&out.finetune_outcome())?;
        let head = |pick: fn(&SeedSummary) -> &Option<Estimate>, own: Option<f64>| match summary
            .as_ref()
            .and_then(|s| pick(s).as_ref())
        {
            Some(e) => (e.mean, e.lower.zip(e.upper)),
            None => (own, None),
        };
        let (dev_accuracy, dev_interval) = head(
            |s| &s.head_dev_accuracy,
            outcome.as_ref().map(|o| o.dev.accuracy),
        );
        let (test_accuracy, test_interval) = head(
            |s| &s.head_test_accuracy,
            outcome.as_ref().map(|o| o.test.accuracy),
        );
        let ws = read_weights(out)?;
        arms.rows.push(rep::ArmRow {
            name: b.name.clone(),
            method: b.method.clone(),
            trained_parameters: outcome
                .as_ref()
                .map(|o| o.trained_parameters)
                .filter(|&p| p > 0),
            seeds: summary.as_ref().map_or(1, |s| s.seeds.len()),
            dev_accuracy,
            dev_interval,
            test_accuracy,
            test_interval,
            seconds: mean_seconds(out, summary.as_ref())?
                .or_else(|| outcome.as_ref().map(|o| o.seconds)),
            movement_spearman: ws.as_ref().and_then(|w| w.movement_spearman),
            intruders: ws
                .as_ref()
                .map(|w| w.rows.iter().map(|r| r.update.intruders).sum()),
        });
        if let Some(ws) = ws {
            let wl: Vec<usize> = ws.layer_relative.iter().map(|x| x.0).collect();
            arms.weight_layers = wl.clone();
            let modules: Vec<String> = ws
                .rows
                .iter()
                .filter(|r| r.layer == wl[0])
                .map(|r| r.module.clone())
                .collect();
            let curve = |f: &dyn Fn(&crate::weights::WeightRow) -> f64| {
                modules
                    .iter()
                    .map(|m| rep::NamedCurve {
                        name: m.clone(),
                        values: wl
                            .iter()
                            .map(|l| {
                                ws.rows
                                    .iter()
                                    .find(|r| r.layer == *l && &r.module == m)
                                    .map_or(f64::NAN, f)
                            })
                            .collect(),
                    })
                    .collect()
            };
            arms.weights.push(rep::ArmWeights {
                arm: b.name.clone(),
                relative: curve(&|r| r.update.relative),
                effective_rank: curve(&|r| r.update.effective_rank.unwrap_or(f64::NAN)),
                intruders: curve(&|r| r.update.intruders as f64),
            });
        }
    }
    if !layers.is_empty() {
        arms.curves.push(rep::ArmCurves {
            key: "movement".into(),
            title: "Layer movement, by fine-tuning method".into(),
            y_label: "mean centroid displacement".into(),
            caption: "Mean distance each label's train centroid moved between the pre-trained \
                      and the fine-tuned encoder, per layer and arm."
                .into(),
            lines: movement,
        });
    }
    Ok(arms)
}
