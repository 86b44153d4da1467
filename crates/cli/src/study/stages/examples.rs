//! The examples stage: the per-example view of [`tunescope_compare::examples`] (DirectProbe's
//! predicted label of each sampled unit before and after fine-tuning, and which flipped) run on
//! the study's run directory, into `compare/examples.csv` and `compare/examples.json`.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
pub use tunescope_compare::examples::Settings;
use tunescope_compare::examples::{self, MemoSplit, PretrainedSide};
use tunescope_compare::measures::ExampleGroup;
use tunescope_data::rundir::RunDir;

use super::data::read_task;
use super::directprobe::directprobe_settings;
use crate::config::Config;
use crate::study::display::Display;

/// The examples settings of `config` over `layers`.
pub fn settings(config: &Config, layers: &[usize]) -> Settings {
    Settings {
        layers: layers.to_vec(),
        directprobe: directprobe_settings(config),
        units: config.examples.units,
        sample: config.examples.sample,
        seed: config.study.seed,
        memorisation: config.memorisation.enabled.then(|| MemoSplit {
            layer: config.experiment_layer(config.memorisation.layer, layers),
            subtrain: config.memorisation.subtrain,
            seed: config.study.seed,
        }),
    }
}

/// Id of the study's own examples stage, whose pre-trained predictions the other branches
/// (arms, seed replicates) with the same settings read instead of predicting them again.
pub const STUDY_ID: &str = "examples";

/// Runs the per-example view on the run directory `out`, into `out/compare/examples.*`. With
/// `pre` (the study's `compare/examples.csv`, from a stage with the same settings) its
/// pre-trained predictions are taken as they are.
pub fn run(s: &Settings, out: &RunDir, pre: Option<&Path>, display: &Display) -> Result<Value> {
    let task = read_task(out)?;
    let side = pre
        .map(|p| {
            PretrainedSide::read(p)
                .with_context(|| format!("the study's pre-trained predictions ({STUDY_ID} stage)"))
        })
        .transpose()?;
    let e = examples::compute(s, out, &task, side.as_ref(), &|m| display.message(m))?;
    examples::write(out, &e)?;
    let flips = |g: &ExampleGroup| -> Vec<[usize; 3]> {
        g.counts
            .iter()
            .map(|c| [c.layer, c.counts.right_to_wrong, c.counts.wrong_to_right])
            .collect()
    };
    let mut summary = json!({
        "units": e.units,
        "flips_per_layer": flips(&e.result.groups[0]),
        "degenerate_layers": e.degenerate,
    });
    if side.is_some() {
        summary["pretrained_from"] = json!(STUDY_ID);
    }
    Ok(summary)
}
