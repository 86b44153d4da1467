//! The cross-task experiment (`docs/experiments.md`, Table C) of one `[[cross_task]]` entry on
//! a run directory: task Y probed with the pre-trained encoder, the encoder fine-tuned on the
//! study's task X and (with `finetune`) one fine-tuned on Y, which also probes X ([`compute`],
//! writing `table.json`, `table.csv`, `directprobe.json` and the vectors under `reps/` into the
//! entry's `result/`), and the report's cross-task table ([`report_section`]).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use tunescope_data::csv::{opt_num, table};
use tunescope_data::fs::write_atomic;
use tunescope_data::Task;
use tunescope_model::probe::{ProbeConfig, ProbeReport};

use crate::analysis::train_probes;
use crate::dp::{self as cdp, DirectProbeSettings, DirectProbeSummary};
use crate::experiments::{cross_task_row, CrossTaskRow};
use crate::io::{label_list, load_layer};
use tunescope_data::rundir::{read_json, read_required, ModelRef, RunDir};

/// The table's file in the entry's `result/` (also `table.csv`, `directprobe.json`).
pub const TABLE_FILE: &str = "table.json";

/// What a cross-task table measures on each encoder's vectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Measure {
    /// The layer compared (the last analysed one).
    pub layer: usize,
    /// DirectProbe settings.
    pub directprobe: DirectProbeSettings,
    /// Classifier probes without the control task (`None`: `probe.enabled = false`).
    pub probe: Option<ProbeConfig>,
}

/// Which task an encoder's vectors are extracted for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The study's own task X.
    X,
    /// The entry's task Y.
    Y,
}

/// The inputs of one entry's table.
pub struct Inputs<'a> {
    /// The study's run directory.
    pub run: &'a RunDir,
    /// The entry's name (`cross/<name>/`).
    pub name: &'a str,
    /// The study's task X.
    pub x_task: &'a Task,
    /// The entry's task Y.
    pub y_task: &'a Task,
    /// The pre-trained encoder.
    pub pretrained: &'a Path,
    /// The encoder fine-tuned on Y, when the entry fine-tunes one.
    pub y_finetuned: Option<PathBuf>,
}

/// Extracts one encoder's vectors: `(side, encoder directory, target directory, tag)`.
pub type Extract<'a> = dyn Fn(Side, &Path, &Path, &str) -> Result<()> + 'a;

/// One encoder's DirectProbe on a task's (sampled) train split and its classifier-probe test
/// accuracy, at one layer.
struct Probed {
    summary: DirectProbeSummary,
    acc: Option<f64>,
}

/// [`Probed`] for the vectors in `root/reps/<tag>/<split>/`.
fn probe_space(
    s: &Measure,
    root: &RunDir,
    tag: &str,
    layer: usize,
    labels: &[String],
) -> Result<Probed> {
    let load = |split: &str| load_layer(root, tag, split, layer, labels);
    let train = load("train")?;
    let (summary, ..) =
        cdp::run(&train, labels, s.directprobe).with_context(|| format!("DirectProbe on {tag}"))?;
    let acc = match &s.probe {
        Some(cfg) => {
            let sets = [train, load("dev")?, load("test")?];
            train_probes(&sets, None, cfg)?.best.test_mean
        }
        None => None,
    };
    Ok(Probed { summary, acc })
}

/// The study's own DirectProbe summary and probe accuracy of `model` at `layer` (task X).
fn main_space(s: &Measure, out: &RunDir, model: &ModelRef, layer: usize) -> Result<Probed> {
    let summary: DirectProbeSummary = read_required(
        &out.directprobe_dir(&model.name(), "train", layer)
            .join(cdp::SUMMARY_FILE),
    )?;
    let acc = if s.probe.is_some() {
        read_json::<ProbeReport>(&out.probe_file(&model.name(), layer))?
            .and_then(|r| r.best.test_mean)
    } else {
        None
    };
    Ok(Probed { summary, acc })
}

/// The table of one entry: task Y probed with the pre-trained encoder, the encoder fine-tuned
/// on the study's task X and (with `y_finetuned`) the one fine-tuned on Y, which also probes X.
/// Writes the entry's result files and vectors into `tmp` (the entry's `result/` to be);
/// `extract` encodes a task's splits; `progress` receives a message per encoder.
pub fn compute(
    s: &Measure,
    i: &Inputs,
    tmp: &Path,
    extract: &Extract,
    progress: &dyn Fn(String),
) -> Result<Vec<CrossTaskRow>> {
    let (out, name, pretrained) = (i.run, i.name, i.pretrained);
    let result = RunDir::new(tmp);
    let layer = s.layer;
    let (x, y) = (i.x_task.name.clone(), i.y_task.name.clone());
    let x_labels = label_list(out)?;
    let y_ft = &i.y_finetuned;
    let mut rows = Vec::new();
    let mut encoders: Vec<(Option<String>, PathBuf)> = vec![
        (None, pretrained.to_path_buf()),
        (Some(x.clone()), ModelRef::Finetuned.dir(out, pretrained)),
    ];
    if let Some(d) = &y_ft {
        encoders.push((Some(y.clone()), d.clone()));
    }
    // One row: the encoder fine-tuned on `on` probing `probing`, changes against `pre`.
    let row = |on: Option<&str>, probing: &str, pre: Option<&[Option<f64>]>, p: &Probed| {
        let min = p.summary.outside_min();
        cross_task_row(
            on,
            probing,
            layer,
            pre,
            &min,
            p.acc,
            Some(p.summary.n_clusters),
        )
    };
    let mut pre_min: Option<Vec<Option<f64>>> = None;
    let mut summaries = serde_json::Map::new();
    for (on, dir) in &encoders {
        let tag = format!("{}-on-{y}", on.as_deref().unwrap_or("pretrained"));
        progress(format!("{name}: {tag}"));
        extract(Side::Y, dir, &result.reps(&tag), &tag)?;
        let p = probe_space(s, &result, &tag, layer, &i.y_task.labels)?;
        rows.push(row(
            on.as_deref(),
            &y,
            pre_min.as_deref().filter(|_| on.is_some()),
            &p,
        ));
        pre_min.get_or_insert(p.summary.outside_min());
        summaries.insert(tag, serde_json::to_value(&p.summary)?);
    }
    let pre_x = main_space(s, out, &ModelRef::Pretrained, layer)?;
    let ft_x = main_space(s, out, &ModelRef::Finetuned, layer)?;
    let x_min = pre_x.summary.outside_min();
    rows.push(row(None, &x, None, &pre_x));
    rows.push(row(Some(&x), &x, Some(&x_min), &ft_x));
    if let Some(d) = &y_ft {
        let tag = format!("{y}-on-{x}");
        progress(format!("{name}: {tag}"));
        extract(Side::X, d, &result.reps(&tag), &tag)?;
        let p = probe_space(s, &result, &tag, layer, &x_labels)?;
        rows.push(row(Some(&y), &x, Some(&x_min), &p));
        summaries.insert(tag, serde_json::to_value(&p.summary)?);
    }
    write_atomic(
        &tmp.join("directprobe.json"),
        &(serde_json::to_string_pretty(&summaries)? + "\n"),
    )?;
    write_atomic(
        &tmp.join(TABLE_FILE),
        &(serde_json::to_string_pretty(&rows)? + "\n"),
    )?;
    write_atomic(&tmp.join("table.csv"), cross_csv(&rows))?;
    Ok(rows)
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
                opt_num(c.and_then(|c| c.mean_change)),
                opt_num(r.acc),
                r.n_clusters.map_or(String::new(), |n| n.to_string()),
            ]
        })
        .collect();
    table(
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

/// The report's cross-task table over the entries `names` of the run directory `run` (rows
/// deduplicated), if any was computed.
pub fn report_section<'a>(
    run: &RunDir,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<Option<Vec<CrossTaskRow>>> {
    let mut rows: Vec<CrossTaskRow> = Vec::new();
    for name in names {
        let p = run.cross_result(name).join(TABLE_FILE);
        let Some(table) = read_json::<Vec<CrossTaskRow>>(&p)? else {
            continue;
        };
        for row in table {
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
