//! The cross-task stage of one `[[cross_task]]` entry: the table of
//! [`tunescope_compare::cross`] (Table C) with the study's extraction, into
//! `cross/<name>/result/`; and the report's cross-task table. The entry's data and fine-tuning
//! are the data and fine-tuning stages run in `cross/<name>/`.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::cross::{self, Inputs, Measure, Side};
use tunescope_compare::dp::DirectProbeSettings;
use tunescope_data::fs::replace_dir;
use tunescope_data::rundir::{ModelRef, RunDir};
use tunescope_model::probe::ProbeConfig;

use super::data::read_task;
use super::directprobe::directprobe_settings;
use super::extract;
use super::probe::probe_config;
use crate::config::{Config, CrossTask};
use crate::study::display::Display;

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

/// Runs `cross/<name>`: task Y probed with the pre-trained encoder, the encoder fine-tuned on the
/// study's task X and (with `finetune`) the one fine-tuned on Y, which also probes X.
pub fn run(
    s: &Settings,
    out: &RunDir,
    name: &str,
    pretrained: &Path,
    display: &Display,
) -> Result<Value> {
    let sub_out = out.cross(name);
    let x_task = read_task(out)?;
    let y_task = read_task(&sub_out)?;
    let inputs = Inputs {
        run: out,
        name,
        x_task: &x_task,
        y_task: &y_task,
        pretrained,
        y_finetuned: s
            .finetuned_on_y
            .then(|| ModelRef::Finetuned.dir(&sub_out, pretrained)),
    };
    let measure = Measure {
        layer: s.layer,
        directprobe: s.directprobe,
        probe: s.probe.clone(),
    };
    let extract = |side: Side, dir: &Path, target: &Path, tag: &str| -> Result<()> {
        let (task, es) = match side {
            Side::X => (&x_task, &s.extract_x),
            Side::Y => (&y_task, &s.extract_y),
        };
        extract::extract(es, task, dir, target, tag, display).map(drop)
    };
    let result = out.cross_result(name);
    let mut rows = Vec::new();
    replace_dir::<anyhow::Error>(&result, |tmp| {
        rows = cross::compute(&measure, &inputs, tmp, &extract, &|m| display.message(m))?;
        Ok(())
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

/// The report's cross-task table over every entry (rows deduplicated), if any was computed.
pub fn report_section(config: &Config) -> Result<Option<Vec<tunescope_report::CrossTaskRow>>> {
    cross::report_section(
        &RunDir::new(&config.study.out),
        config.cross_task.iter().map(|e| e.name.as_str()),
    )
}
