//! The memorisation experiment (`docs/experiments.md`) on a run directory: an 80:20
//! subtrain/subtest split of the training sentences, a probe trained on subtrain only, its
//! accuracy curves on subtrain, subtest and test before and after fine-tuning ([`compute`]), its
//! files under `experiments/memorisation/` ([`write`]: `memorisation.json`, `curves.csv`) and
//! its section of the report ([`report_section`]).

use std::path::Path;

use anyhow::{ensure, Result};
use serde::{Deserialize, Serialize};
use tunescope_data::csv::table;
use tunescope_data::fs::write_atomic;
use tunescope_data::Task;
use tunescope_model::finetune::train::Outcome;
use tunescope_model::probe::{self, ProbeConfig};
use tunescope_report as rep;

use crate::analysis::LabelledVectors;
use crate::experiments::{self as ex, MemoCurves};
use crate::io::{label_list, load_layer};
use tunescope_data::rundir::{read_json, read_required, ModelRef, RunDir};

/// The result file in the experiment's directory.
pub const RESULT_FILE: &str = "memorisation.json";

/// What the memorisation experiment reads.
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

/// The memorisation experiment on the run directory `out` of `task`; `progress` receives a
/// message per encoder and one about subtest units fine-tuning never saw.
pub fn compute(
    s: &Settings,
    run: &RunDir,
    task: &Task,
    progress: &dyn Fn(String),
) -> Result<MemorisationResult> {
    let layer = s.layer;
    let labels = label_list(run)?;
    let ex::SubtrainSplit {
        sentences: (sub_s, test_s),
        subtrain: sub_rows,
        subtest: test_rows,
    } = ex::split_units(&task.train, s.subtrain, s.seed);
    let cfg = &s.probe;
    let hidden = cfg.shapes[0].clone();
    let mut curves = Vec::new();
    for model in [ModelRef::Pretrained, ModelRef::Finetuned] {
        progress(format!(
            "{}: probe {} on {} subtrain units, {} epochs",
            model.name(),
            probe::shape_name(&hidden),
            sub_rows.len(),
            cfg.max_epochs
        ));
        let train = load_layer(run, &model.name(), "train", layer, &labels)?;
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
            load_layer(run, &model.name(), "test", layer, &labels)?,
        ];
        let dev = load_layer(run, &model.name(), "dev", layer, &labels)?;
        curves.push(memo_curves(&sets, &dev, cfg)?);
    }
    let outcome: Outcome = read_required(&run.finetune_outcome())?;
    let unseen: std::collections::HashSet<usize> = outcome.train_unseen.iter().copied().collect();
    let subtest_unseen = test_rows.iter().filter(|r| unseen.contains(r)).count();
    if subtest_unseen > 0 {
        progress(format!(
            "{subtest_unseen} of {} subtest units were not seen by fine-tuning (cut off by model.max_subwords)",
            test_rows.len()
        ));
    }
    let after = curves.pop().expect("two curves");
    let before = curves.pop().expect("two curves");
    let test_units = task.test.units.len();
    Ok(MemorisationResult {
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
    })
}

/// Writes `r` into `dir` (the files of `experiments/memorisation/`).
pub fn write(dir: &Path, r: &MemorisationResult) -> Result<()> {
    write_atomic(
        &dir.join(RESULT_FILE),
        &(serde_json::to_string_pretty(r)? + "\n"),
    )?;
    let mut rows = Vec::new();
    for (model, c) in [("pretrained", &r.before), ("finetuned", &r.after)] {
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
        &dir.join("curves.csv"),
        table(&["encoder", "subset", "epoch", "accuracy"], &rows),
    )?)
}

/// The report's memorisation section, if computed.
pub fn report_section(run: &RunDir) -> Result<Option<rep::Memorisation>> {
    let Some(r) = read_json::<MemorisationResult>(&run.memorisation().join(RESULT_FILE))? else {
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
