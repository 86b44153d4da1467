//! The weight-space stage: what fine-tuning did to each weight matrix of each layer (relative
//! update, effective rank, intruder dimensions; `tunescope_compare::weights`) and how the
//! per-layer update ranks against the representation's layer movement, into `weights/`
//! (`weights.json`, `weights.csv`).

use std::path::Path;
use tunescope_data::rundir::{file_in, RunDir};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::weights::weight_space;
use tunescope_compare::CompareResults;
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_geometry::weights::{INTRUDER_THRESHOLD, INTRUDER_TOP_K};

use crate::study::display::Display;

/// What the weight-space stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Top singular vectors of each fine-tuned matrix examined for intruder dimensions.
    pub intruder_top_k: usize,
    /// Best |cosine| with the pre-trained singular vectors below which one is an intruder.
    pub intruder_threshold: f64,
}

/// The weight-space settings (Shuttleworth et al. 2024's k and threshold; see
/// `tunescope_geometry::weights`).
pub fn settings() -> Settings {
    Settings {
        intruder_top_k: INTRUDER_TOP_K,
        intruder_threshold: INTRUDER_THRESHOLD,
    }
}

/// Compares the pre-trained encoder with `out/models/finetuned/` into `out/weights/`.
pub fn run(s: &Settings, out: &RunDir, pretrained: &Path, display: &Display) -> Result<Value> {
    display.message("weight updates, effective ranks, intruder dimensions");
    let movement = CompareResults::read(&out.compare())
        .map(|r| r.layer_movement)
        .unwrap_or_default();
    let ws = weight_space(
        pretrained,
        &out.finetuned(),
        &movement,
        s.intruder_top_k,
        s.intruder_threshold,
    )?;
    replace_dir::<anyhow::Error>(&out.weights(), |tmp| {
        write_atomic(
            &file_in(tmp, &out.weights_json()),
            &serde_json::to_vec_pretty(&ws)?,
        )?;
        Ok(write_atomic(
            &file_in(tmp, &out.weights_csv()),
            ws.csv().as_bytes(),
        )?)
    })?;
    let intruders: usize = ws.rows.iter().map(|r| r.update.intruders).sum();
    Ok(json!({
        "matrices": ws.rows.len(),
        "intruders": intruders,
        "movement_spearman": ws.movement_spearman,
    }))
}
