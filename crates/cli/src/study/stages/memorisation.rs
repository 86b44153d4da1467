//! The memorisation experiment (`docs/experiments.md`): an 80:20 subtrain/subtest split of
//! the training sentences, a probe trained on subtrain only, its accuracy curves on subtrain,
//! subtest and test before and after fine-tuning, into `experiments/memorisation/`
//! (`memorisation.json`, `curves.csv`), and its section of the report.

use std::path::Path;

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::experiments::{self as ex, MemoCurves};
use tunescope_data::csv::table;
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_model::finetune::train::Outcome;
use tunescope_model::probe::{self, ProbeConfig};
use tunescope_report as rep;

use super::data::read_task;
use super::extract::{label_list, load_layer};
use super::probe::probe_config;
use crate::config::Config;
use crate::study::display::Display;
use crate::study::rundir::{read_json, read_required, ModelRef};

/// What the memorisation stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Layer probed.
    pub layer: usize,
    /// Fraction of the training sentences in subtrain.
    pub subtrain: f64,
    /// Seed of the sentence split (`study.seed`).
    pub seed: u64,
    /// The probe: one shape (`memorisation.hidden`, default two layers of the first
    /// `probe.grid` width), no L2 penalty, `memorisation.epochs` epochs, no early stopping, no
    /// control task.
    pub probe: ProbeConfig,
}

/// The memorisation settings of `config` with the analysed `layers`.
pub fn settings(config: &Config, layers: &[usize]) -> Settings {
    let m = &config.memorisation;
    let g = config.probe.grid[0];
    Settings {
        layer: config.experiment_layer(m.layer, layers),
        subtrain: m.subtrain,
        seed: config.study.seed,
        probe: ProbeConfig {
            shapes: vec![m.hidden.clone().unwrap_or_else(|| vec![g, g])],
            l2: vec![0.0],
            max_epochs: m.epochs,
            patience: None,
            control: false,
            ..probe_config(config)
        },
    }
}

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
    /// Subtest units fine-tuning never saw (cut off by `model.max_subwords`): the premise
    /// "subtest was seen by fine-tuning" fails for them.
    #[serde(default)]
    pub subtest_unseen_by_finetuning: usize,
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
    let report = probe::run_rows(
        v[0].probe_rows(None),
        dev.probe_rows(None),
        Some(v[2].probe_rows(None)),
        &[
            ("subtrain", v[0].probe_rows(None)),
            ("subtest", v[1].probe_rows(None)),
            ("test", v[2].probe_rows(None)),
        ],
        cfg,
    )?;
    let c = &report.best.curves;
    Ok(MemoCurves::mean_of(
        &c["subtrain"],
        &c["subtest"],
        &c["test"],
    ))
}

/// Runs the memorisation stage on the run directory `out`, into
/// `out/experiments/memorisation/`.
pub fn run(s: &Settings, out: &Path, display: &Display) -> Result<Value> {
    let layer = s.layer;
    let labels = label_list(out)?;
    let task = read_task(out)?;
    let (sub_s, test_s) = ex::split_sentences(task.train.sentences.len(), s.subtrain, s.seed);
    let mut in_sub = vec![false; task.train.sentences.len()];
    for &s in &sub_s {
        in_sub[s] = true;
    }
    let (sub_rows, test_rows): (Vec<usize>, Vec<usize>) =
        (0..task.train.units.len()).partition(|&i| in_sub[task.train.units[i].sentence]);
    let cfg = &s.probe;
    let hidden = cfg.shapes[0].clone();
    let mut curves = Vec::new();
    for model in [ModelRef::Pretrained, ModelRef::Finetuned] {
        display.message(format!(
            "{}: probe {hidden:?} on {} subtrain units, {} epochs",
            model.name(),
            sub_rows.len(),
            cfg.max_epochs
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
        curves.push(memo_curves(&sets, &dev, cfg)?);
    }
    let outcome: Outcome = read_required(&out.join("finetune.json"))?;
    let unseen: std::collections::HashSet<usize> = outcome.train_unseen.iter().copied().collect();
    let subtest_unseen = test_rows.iter().filter(|r| unseen.contains(r)).count();
    if subtest_unseen > 0 {
        display.message(format!(
            "{subtest_unseen} of {} subtest units were not seen by fine-tuning (cut off by model.max_subwords)",
            test_rows.len()
        ));
    }
    let after = curves.pop().expect("two curves");
    let before = curves.pop().expect("two curves");
    let test_units = task.test.units.len();
    let result = MemorisationResult {
        layer,
        hidden,
        seeds: cfg.seeds.clone(),
        sentences: [sub_s.len(), test_s.len()],
        subtest_unseen_by_finetuning: subtest_unseen,
        units: [sub_rows.len(), test_rows.len(), test_units],
        gap_before: before.final_gap(),
        gap_after: after.final_gap(),
        before,
        after,
    };
    replace_dir::<anyhow::Error>(&out.join("experiments/memorisation"), |tmp| {
        write_atomic(
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
        Ok(write_atomic(
            &tmp.join("curves.csv"),
            table(&["encoder", "subset", "epoch", "accuracy"], &rows),
        )?)
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
pub fn report_section(out: &Path) -> Result<Option<rep::Memorisation>> {
    let Some(r) =
        read_json::<MemorisationResult>(&out.join("experiments/memorisation/memorisation.json"))?
    else {
        return Ok(None);
    };
    Ok(Some(rep::Memorisation {
        epochs: (1..=r.before.subtrain.len().max(r.after.subtrain.len())).collect(),
        before: r.before,
        after: r.after,
        subtest_unseen: r.subtest_unseen_by_finetuning,
        subtest_units: r.units[1],
    }))
}
