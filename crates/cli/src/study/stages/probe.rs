//! The probe stage: the classifier-probe family (`[probe]`) on one layer of one encoder's
//! vectors, into `probe/<model>/layer-<k>.json`.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::analysis::train_probes;
use tunescope_compare::io as cio;
use tunescope_data::{Split, Target};
use tunescope_model::probe::{self, ProbeConfig};

use super::data::read_task;
use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::io::{label_list, load_layer};
use tunescope_data::rundir::{ModelRef, RunDir};

/// What the probe stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Hidden-state index.
    pub layer: usize,
    /// The probe family, training and selection settings.
    pub probe: ProbeConfig,
}

/// The probe settings of `config` at `layer`.
pub fn settings(config: &Config, layer: usize) -> Settings {
    Settings {
        layer,
        probe: ProbeConfig {
            // Table A reads the reported probe's selectivity alone.
            control_reported_only: config.probe.control,
            ..probe_config(config)
        },
    }
}

/// Seeds of the classifier probes: `0..probe.seeds`.
pub fn probe_seeds(config: &Config) -> Vec<u64> {
    (0..config.probe.seeds as u64).collect()
}

/// The probe settings a config resolves to.
pub fn probe_config(config: &Config) -> ProbeConfig {
    let p = &config.probe;
    let depths: &[usize] = if p.linear { &[0, 2] } else { &[2] };
    ProbeConfig {
        shapes: probe::grid_shapes(&p.grid, depths),
        l2: p.l2.clone(),
        seeds: probe_seeds(config),
        lr: p.lr,
        batch_size: p.batch_size,
        max_epochs: p.epochs,
        patience: (p.patience > 0).then_some(p.patience),
        control: p.control,
        control_seed: config.study.seed,
        ..ProbeConfig::default()
    }
}

/// Word type of every unit of a split (control task), in unit order.
fn unit_types(split: &Split) -> Result<Vec<String>> {
    split
        .units
        .iter()
        .map(|u| match &u.target {
            Target::Token(i) => Ok(split.sentences[u.sentence].words[*i].to_lowercase()),
            other => bail!(
                "[probe] control needs word units (token tasks); this task has {} units",
                other.kind().name()
            ),
        })
        .collect()
}

/// Word types of the train, dev and test units when `cfg` trains the control task.
pub fn control_types(out: &RunDir, cfg: &ProbeConfig) -> Result<Option<[Vec<String>; 3]>> {
    if !cfg.control {
        return Ok(None);
    }
    let task = read_task(out)?;
    Ok(Some([
        unit_types(&task.train)?,
        unit_types(&task.dev)?,
        unit_types(&task.test)?,
    ]))
}

/// Runs the classifier probes on `model`'s vectors at the settings' layer, into
/// `out/probe/<model>/layer-<k>.json`.
pub fn run(s: &Settings, out: &RunDir, model: &ModelRef, display: &Display) -> Result<Value> {
    let layer = s.layer;
    let labels = label_list(out)?;
    let sets = cio::SPLITS
        .iter()
        .map(|s| load_layer(out, &model.name(), s, layer, &labels))
        .collect::<Result<Vec<_>>>()?;
    let cfg = &s.probe;
    let types = control_types(out, cfg)?;
    display.message(format!(
        "{} shapes × {} L2 weights searched, the best MLP and linear probe × {} seeds, on {} train vectors",
        cfg.shapes.len(),
        cfg.l2.len(),
        cfg.seeds.len(),
        sets[0].rows
    ));
    let report = train_probes(&sets, types.as_ref(), cfg)?;
    let path = out.probe_file(&model.name(), layer);
    let dir = path.parent().expect("probe file has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    report.write_json(&path)?;
    Ok(json!({
        "best_hidden": report.best.hidden,
        "best_l2": report.best.l2,
        "dev_mean": report.best.dev_mean,
        "test_mean": report.best.test_mean,
        "test_std": report.best.test_std,
        "linear_test_mean": report.linear.as_ref().and_then(|l| l.test_mean),
        "selected_on": report.selected_on,
    }))
}
