//! The memorisation stage: the experiment of [`tunescope_compare::memorisation`] (a probe
//! trained on a subtrain split of the training sentences, before and after fine-tuning) run on
//! the study's run directory, into `experiments/memorisation/`.

use anyhow::Result;
use serde_json::{json, Value};
use tunescope_compare::memorisation;
pub use tunescope_compare::memorisation::Settings;
use tunescope_data::fs::replace_dir;
use tunescope_data::rundir::RunDir;
use tunescope_model::probe::ProbeConfig;

use super::data::read_task;
use super::probe::probe_config;
use crate::config::Config;
use crate::study::display::Display;

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

/// Runs the memorisation stage on the run directory `out`, into
/// `out/experiments/memorisation/`.
pub fn run(s: &Settings, out: &RunDir, display: &Display) -> Result<Value> {
    let task = read_task(out)?;
    let result = memorisation::compute(s, out, &task, &|m| display.message(m))?;
    replace_dir::<anyhow::Error>(&out.memorisation(), |tmp| memorisation::write(tmp, &result))?;
    Ok(json!({
        "layer": result.layer,
        "gap_before": result.gap_before,
        "gap_after": result.gap_after,
        "final_before": [result.before.subtrain.last(), result.before.subtest.last(), result.before.test.last()],
        "final_after": [result.after.subtrain.last(), result.after.subtest.last(), result.after.test.last()],
    }))
}
