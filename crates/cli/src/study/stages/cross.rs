//! The cross-task experiment (`docs/experiments.md`, Table C) of one `[[cross_task]]` entry:
//! task Y probed with the pre-trained encoder, the encoder fine-tuned on the study's task X and
//! (with `finetune`) one fine-tuned on Y, which also probes X, into `cross/<name>/result/`
//! (`table.json`, `table.csv`, `directprobe.json`, the vectors under `reps/`); and the report's
//! cross-task table. The entry's data and fine-tuning are the data and fine-tuning stages run in
//! `cross/<name>/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::dp::{self as cdp, DirectProbeSettings, DirectProbeSummary};
use tunescope_compare::experiments::CrossTaskRow;
use tunescope_compare::io::{self as cio};
use tunescope_data::csv::{opt_num, table};
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_data::Task;
use tunescope_model::probe::{ProbeConfig, ProbeReport};
use tunescope_report as rep;

use super::data::read_task;
use super::directprobe::directprobe_settings;
use super::extract::{self, label_list, load_layer};
use super::probe::probe_config;
use crate::config::{Config, CrossTask};
use crate::study::display::Display;
use crate::study::rundir::{cross_dir, read_json, read_required, ModelRef};
use tunescope_compare::analysis::train_probes;

/// What a cross-task table reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The layer compared (the last analysed one).
    pub layer: usize,
    /// Extraction of task Y (pooling by Y's unit kind).
    pub extract_y: extract::Settings,
    /// Extraction of task X by the encoder fine-tuned on Y.
    pub extract_x: extract::Settings,
    /// Whether an encoder is fine-tuned on Y (`finetune` of the entry).
    pub finetuned_on_y: bool,
    /// DirectProbe settings.
    pub directprobe: DirectProbeSettings,
    /// Classifier probes without the control task (`None`: `probe.enabled = false`).
    pub probe: Option<ProbeConfig>,
}

/// The settings of `entry`'s table in a study of `config` analysing `layers`.
pub fn settings(config: &Config, entry: &CrossTask, layers: &[usize]) -> Settings {
    let layer = config.experiment_layer(None, layers);
    let sub = config.cross_config(entry);
    Settings {
        layer,
        extract_y: extract::settings(&sub, sub.data.task.unit_kind(), &[layer], true),
        extract_x: extract::settings(config, config.data.task.unit_kind(), &[layer], true),
        finetuned_on_y: entry.finetune,
        directprobe: directprobe_settings(config),
        probe: config.probe.enabled.then(|| ProbeConfig {
            control: false,
            ..probe_config(config)
        }),
    }
}

/// One encoder's DirectProbe on a task's (sampled) train split and its classifier-probe test
/// accuracy, at one layer.
struct Probed {
    summary: DirectProbeSummary,
    acc: Option<f64>,
}

/// [`Probed`] for the vectors in `root/reps/<tag>/<split>/`.
fn probe_space(
    s: &Settings,
    root: &Path,
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
fn main_space(s: &Settings, out: &Path, model: &ModelRef, layer: usize) -> Result<Probed> {
    let summary: DirectProbeSummary = read_required(
        &cio::directprobe_dir(out, &model.name(), "train", layer).join(cdp::SUMMARY_FILE),
    )?;
    let acc = if s.probe.is_some() {
        read_json::<ProbeReport>(&cio::probe_file(out, &model.name(), layer))?
            .and_then(|r| r.best.test_mean)
    } else {
        None
    };
    Ok(Probed { summary, acc })
}

/// Runs `cross/<name>`: task Y probed with the pre-trained encoder, the encoder fine-tuned on the
/// study's task X and (with `finetune`) the one fine-tuned on Y, which also probes X.
pub fn run(
    s: &Settings,
    out: &Path,
    name: &str,
    pretrained: &Path,
    display: &Display,
) -> Result<Value> {
    let sub_out = cross_dir(out, name);
    let layer = s.layer;
    let x_task = read_task(out)?;
    let y_task = read_task(&sub_out)?;
    let (x, y) = (x_task.name.clone(), y_task.name.clone());
    let x_labels = label_list(out)?;
    let y_ft: Option<PathBuf> = s
        .finetuned_on_y
        .then(|| ModelRef::Finetuned.dir(&sub_out, pretrained));
    let result = out.join(format!("cross/{name}/result"));
    let mut rows = Vec::new();
    replace_dir::<anyhow::Error>(&result, |tmp| {
        let extract = |task: &Task, es: &extract::Settings, dir: &Path, tag: &str| -> Result<()> {
            extract::extract(es, task, dir, &tmp.join("reps").join(tag), tag, display).map(drop)
        };
        let mut encoders: Vec<(Option<String>, PathBuf)> = vec![
            (None, pretrained.to_path_buf()),
            (Some(x.clone()), ModelRef::Finetuned.dir(out, pretrained)),
        ];
        if let Some(d) = &y_ft {
            encoders.push((Some(y.clone()), d.clone()));
        }
        let mut pre_min: Option<Vec<Option<f64>>> = None;
        let mut summaries = serde_json::Map::new();
        for (on, dir) in &encoders {
            let tag = format!("{}-on-{y}", on.as_deref().unwrap_or("pretrained"));
            display.message(format!("{name}: {tag}"));
            extract(&y_task, &s.extract_y, dir, &tag)?;
            let p = probe_space(s, tmp, &tag, layer, &y_task.labels)?;
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
        let pre_x = main_space(s, out, &ModelRef::Pretrained, layer)?;
        let ft_x = main_space(s, out, &ModelRef::Finetuned, layer)?;
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
            extract(&x_task, &s.extract_x, d, &tag)?;
            let p = probe_space(s, tmp, &tag, layer, &x_labels)?;
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
        write_atomic(
            &tmp.join("directprobe.json"),
            &(serde_json::to_string_pretty(&summaries)? + "\n"),
        )?;
        write_atomic(
            &tmp.join("table.json"),
            &(serde_json::to_string_pretty(&rows)? + "\n"),
        )?;
        Ok(write_atomic(&tmp.join("table.csv"), cross_csv(&rows))?)
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

/// The report's cross-task table over every entry (rows deduplicated), if any was computed.
pub fn report_section(config: &Config) -> Result<Option<Vec<rep::CrossTaskRow>>> {
    let mut rows: Vec<rep::CrossTaskRow> = Vec::new();
    for e in &config.cross_task {
        let p = cross_dir(&config.study.out, &e.name).join("result/table.json");
        let Some(table) = read_json::<Vec<CrossTaskRow>>(&p)? else {
            continue;
        };
        for r in table {
            let row = r.report_row();
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
