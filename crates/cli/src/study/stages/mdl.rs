//! The MDL stage: online codelengths (Voita & Titov 2020) of the linear probe (and with
//! `mdl.mlp` of the MLP the probe stage chose), on one layer of one encoder's vectors (and on the
//! control task with `mdl.control`), into `mdl/<model>/layer-<k>.json`.

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::io as cio;
use tunescope_model::probe::mdl::{self, MdlSettings};
use tunescope_model::probe::{self, ProbeConfig, ProbeReport};

use super::probe::{control_types, probe_config};
use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::io::{label_list, load_layer};
use tunescope_data::rundir::{read_required, ModelRef, RunDir};

/// What the MDL stage reads (with `mlp`, also the probe stage's choice of MLP, read from that
/// stage's output: the plan makes the probe stage's key part of this one's).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Hidden-state index.
    pub layer: usize,
    /// Also the chosen MLP (`mdl.mlp`).
    pub mlp: bool,
    /// Optimiser, epochs, early stopping and control task of the probes; its seeds are the
    /// first `mdl.seeds` probe seeds.
    pub probe: ProbeConfig,
    /// Block fractions and the transmission order's seed.
    pub mdl: MdlSettings,
}

/// The MDL settings of `config` at `layer`.
pub fn settings(config: &Config, layer: usize) -> Settings {
    let mut probe = probe_config(config);
    probe.seeds.truncate(config.mdl.seeds.max(1));
    probe.control = config.mdl.control;
    Settings {
        layer,
        mlp: config.mdl.mlp,
        probe,
        mdl: MdlSettings {
            order_seed: config.study.seed,
            ..MdlSettings::default()
        },
    }
}

/// Runs MDL on `model`'s vectors at the settings' layer, into `out/mdl/<model>/layer-<k>.json`.
pub fn run(s: &Settings, out: &RunDir, model: &ModelRef, display: &Display) -> Result<Value> {
    let name = model.name();
    let shapes = if s.mlp {
        let chosen: ProbeReport = read_required(&out.probe_file(&name, s.layer))?;
        mdl::linear_and_best_mlp(&chosen)
    } else {
        vec![Vec::new()]
    };
    let labels = label_list(out)?;
    let sets = cio::SPLITS
        .iter()
        .map(|split| load_layer(out, &name, split, s.layer, &labels))
        .collect::<Result<Vec<_>>>()?;
    let path = out.mdl_file(&name, s.layer);
    let dir = path.parent().expect("an MDL file has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let classes = sets[0]
        .labels
        .iter()
        .collect::<std::collections::BTreeSet<_>>();
    if classes.len() < 2 {
        // One label in train: every codelength is 0 bits, the compression undefined; recorded
        // as a report without shapes (Table A and the report show "–").
        let report = mdl::MdlReport {
            rows: sets[0].rows,
            classes: classes.len(),
            uniform_bits: 0.0,
            boundaries: Vec::new(),
            shapes: Vec::new(),
            seeds: s.probe.seeds.clone(),
            settings: s.mdl.clone(),
            seconds: 0.0,
        };
        report.write_json(&path)?;
        return Ok(json!({"note": "one label in train: no codelength to measure"}));
    }
    let types = control_types(out, &s.probe)?;
    display.message(format!(
        "online code of {} shape(s) × {} seed(s) on {} train vectors",
        shapes.len(),
        s.probe.seeds.len(),
        sets[0].rows
    ));
    let rows = |k: usize| sets[k].probe_rows(types.as_ref().map(|t| t[k].as_slice()));
    let report = probe::with_rows(rows(0), rows(1), Some(rows(2)), &[], |input| {
        mdl::online_codelength(input, &s.probe, &shapes, &s.mdl)
    })
    .with_context(|| format!("MDL on {name} layer {}", s.layer))?;
    report.write_json(&path)?;
    Ok(json!({
        "compression": report.shapes.iter().map(|s| s.task.compression).collect::<Vec<_>>(),
        "control_compression": report
            .shapes
            .iter()
            .map(|s| s.control.as_ref().map(|c| c.compression))
            .collect::<Vec<_>>(),
    }))
}
