//! The dynamics stage: the experiment of [`tunescope_compare::dynamics`] (the pre-trained
//! DirectProbe clusters re-measured at every fine-tuning checkpoint) run on the study's run
//! directory, into `experiments/dynamics/`.

use anyhow::Result;
use serde_json::{json, Value};
use tunescope_compare::dynamics;
pub use tunescope_compare::dynamics::Settings;
use tunescope_data::fs::replace_dir;
use tunescope_data::rundir::RunDir;

use super::directprobe::directprobe_settings;
use crate::config::Config;
use crate::study::display::Display;

/// The dynamics settings of `config` over `layers`.
pub fn settings(config: &Config, layers: &[usize]) -> Settings {
    Settings {
        layers: layers.to_vec(),
        path_labels: config.dynamics.path_labels.clone(),
        directprobe: directprobe_settings(config),
        undefined_pairs: config.compare.undefined_pairs,
        measures: tunescope_compare::dynamics_measures::Settings {
            enabled: config.dynamics.measures,
            units: config.dynamics.measures_units,
            permutations: config.dynamics.measures_permutations,
            procrustes_permutations: config.dynamics.measures_procrustes_permutations,
            k: config.similarity.k,
            rsa_sample: config.compare.rsa_sample,
            seed: config.study.seed,
        },
    }
}

/// Runs the dynamics stage on the run directory `out`, into `out/experiments/dynamics/`
/// ([`tunescope_compare::dynamics`]).
pub fn run(s: &Settings, out: &RunDir, display: &Display) -> Result<Value> {
    let result = dynamics::compute(s, out, &|m| display.message(m))?;
    replace_dir::<anyhow::Error>(&out.dynamics(), |tmp| dynamics::write(tmp, &result))?;
    Ok(json!({
        "snapshots": result.snapshots.iter().map(|s| s.update).collect::<Vec<_>>(),
        "most_increased": result.most_increased,
        "least_increased": result.least_increased,
        "measures_seconds": result.measures.as_ref().map(|m| m.seconds),
        "reused": result.reused,
    }))
}
