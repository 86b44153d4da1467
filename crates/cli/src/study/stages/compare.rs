//! The compare stage: Table A, label distances, movement and similarity indices
//! (`docs/compare.md`) into `compare/`, reusing the probe and DirectProbe results.

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::dp::DirectProbeSettings;
use tunescope_compare::CompareOptions;
use tunescope_data::rundir::RunDir;
use tunescope_geometry::similarity::RsaOptions;
use tunescope_model::probe::ProbeConfig;

use super::directprobe::directprobe_settings;
use super::probe::probe_config;
use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::analysis::UndefinedPairs;

/// What the compare stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Layers compared.
    pub layers: Vec<usize>,
    /// DirectProbe settings (a stored result is reused only when they match).
    pub directprobe: DirectProbeSettings,
    /// Classifier probes (`None`: `probe.enabled = false`).
    pub probe: Option<ProbeConfig>,
    /// RSA row sample (`compare.rsa_sample`).
    pub rsa_sample: usize,
    /// Rows of the similarity indices (`compare.similarity_units`, 0 = all).
    pub similarity_units: usize,
    /// Seed of the samples (`study.seed`).
    pub seed: u64,
    /// Label pairs without a distance in the spatial similarities (`compare.undefined_pairs`).
    pub undefined_pairs: UndefinedPairs,
}

/// The comparison settings of `config` over `layers`.
pub fn settings(config: &Config, layers: &[usize]) -> Settings {
    Settings {
        layers: layers.to_vec(),
        directprobe: directprobe_settings(config),
        probe: config.probe.enabled.then(|| probe_config(config)),
        rsa_sample: config.compare.rsa_sample,
        similarity_units: config.compare.similarity_units,
        seed: config.study.seed,
        undefined_pairs: config.compare.undefined_pairs,
    }
}

impl Settings {
    /// The library's options.
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            layers: Some(self.layers.clone()),
            directprobe: self.directprobe,
            probe: self.probe.clone(),
            rsa: RsaOptions {
                sample: self.rsa_sample,
                seed: self.seed,
                ..RsaOptions::default()
            },
            similarity_max_units: (self.similarity_units > 0).then_some(self.similarity_units),
            seed: self.seed,
            undefined_pairs: self.undefined_pairs,
            ..CompareOptions::default()
        }
    }
}

/// Runs the comparisons on the run directory `out`, into `out/compare/`.
pub fn run(s: &Settings, out: &RunDir, display: &Display) -> Result<Value> {
    display.message("label distances, movement, similarity indices");
    let (results, work) = tunescope_compare::compare_and_write(out, &s.options())?;
    Ok(json!({
        "layers": results.layers,
        "directprobe_computed": work.directprobe_computed,
        "probes_trained": work.probes_trained,
    }))
}
