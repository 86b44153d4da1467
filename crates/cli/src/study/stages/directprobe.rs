//! The DirectProbe stage: exact clustering of one split at one layer of one encoder, into
//! `directprobe/<model>/<split>/layer-<k>/`.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::dp::{self as cdp, DirectProbeSettings};
use tunescope_data::fs::replace_dir;

use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::io::{label_list, load_layer};
use tunescope_data::rundir::{ModelRef, RunDir};

/// The splits DirectProbe clusters (train for Table A, test for the train/test similarity).
pub const SPLITS: [&str; 2] = ["train", "test"];

/// What the DirectProbe stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `train` or `test`.
    pub split: String,
    /// Hidden-state index.
    pub layer: usize,
    /// Size filter, row cap and sample seed.
    pub directprobe: DirectProbeSettings,
}

/// The DirectProbe settings of `config` on `split` at `layer`.
pub fn settings(config: &Config, split: &str, layer: usize) -> Settings {
    Settings {
        split: split.to_string(),
        layer,
        directprobe: directprobe_settings(config),
    }
}

/// The DirectProbe settings a config resolves to (shared with the compare stage, which
/// reuses the stored result only when they match).
pub fn directprobe_settings(config: &Config) -> DirectProbeSettings {
    DirectProbeSettings {
        min_cluster_size: config.directprobe.min_cluster_size,
        max_units: config.directprobe.max_units,
        seed: config.study.seed,
    }
}

/// Runs DirectProbe on `model`'s vectors of the settings' split and layer, into
/// `out/directprobe/<model>/<split>/layer-<k>/`.
pub fn run(s: &Settings, out: &RunDir, model: &ModelRef, display: &Display) -> Result<Value> {
    let (split, layer) = (s.split.as_str(), s.layer);
    let labels = label_list(out)?;
    let v = load_layer(out, &model.name(), split, layer, &labels)?;
    let settings = s.directprobe;
    display.message(format!(
        "{} of {} {split} units",
        settings.max_units.map_or(v.rows, |c| c.min(v.rows)),
        v.rows
    ));
    let (summary, clustering, metrics, rows) = cdp::run(&v, &labels, settings)
        .with_context(|| format!("DirectProbe on {} {split} layer {layer}", model.name()))?;
    let dir = out.directprobe_dir(&model.name(), split, layer);
    // Written whole into a temporary directory, then renamed into place.
    replace_dir::<anyhow::Error>(&dir, |tmp| {
        cdp::write_artifacts(tmp, &summary, &clustering, &metrics, &rows)
    })?;
    Ok(json!({
        "rows_used": summary.rows_used,
        "n_clusters": summary.n_clusters,
        "n_labels": summary.n_labels,
        "linear": summary.linear,
    }))
}
