//! The seeds stage: every comparison of the study's fine-tuning replicates (`finetune.seeds`)
//! as a mean with a 95 % percentile-bootstrap interval over the seeds, and paired sign-flip
//! permutation tests for "did layer k move more than layer j" and "did this label's distance
//! grow". Writes `seeds/summary/summary.json`, `layers.csv`, `labels.csv`, `movement_tests.csv`.

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::seeds::{self, Estimate, LayerStats, Replicates, SeedSummary};
use tunescope_compare::CompareResults;
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_report as rep;

use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::dynamics::{self, DynamicsResult};
use tunescope_compare::memorisation::{self, MemorisationResult};
use tunescope_data::rundir::{read_json, RunDir};

/// What the seeds stage reads (besides the replicates' results).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The fine-tuning seed of every replicate, the study's own first.
    pub seeds: Vec<u64>,
    /// Seed of the bootstrap and permutation resamples (`study.seed`).
    pub seed: u64,
}

/// The seeds settings of `config`.
pub fn settings(config: &Config) -> Settings {
    let first = config.finetune.seed.unwrap_or(config.study.seed);
    Settings {
        seeds: (0..config.finetune.seeds as u64)
            .map(|r| first + r)
            .collect(),
        seed: config.study.seed,
    }
}

/// Run directory of every replicate of the study in `main`, the study's first.
fn replicate_dirs(s: &Settings, main: &RunDir) -> Vec<(u64, RunDir)> {
    s.seeds
        .iter()
        .enumerate()
        .map(|(r, &seed)| {
            let dir = if r == 0 {
                main.clone()
            } else {
                main.replicate(seed)
            };
            (seed, dir)
        })
        .collect()
}

/// Reads the replicates' `compare/` and experiment outputs and computes their statistics
/// ([`tunescope_compare::seeds::summarise`]).
pub fn summarise(s: &Settings, main: &RunDir) -> Result<SeedSummary> {
    let dirs = replicate_dirs(s, main);
    let results = dirs
        .iter()
        .map(|(_, d)| CompareResults::read(&d.compare()))
        .collect::<Result<Vec<_>>>()?;
    let memos = dirs
        .iter()
        .map(|(_, d)| {
            read_json::<MemorisationResult>(&d.memorisation().join(memorisation::RESULT_FILE))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .collect::<Option<Vec<_>>>();
    let dyns = dirs
        .iter()
        .map(|(_, d)| read_json::<DynamicsResult>(&d.dynamics().join(dynamics::RESULT_FILE)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .collect::<Option<Vec<_>>>();
    Ok(seeds::summarise(
        &Replicates {
            seeds: dirs.iter().map(|(s, _)| *s).collect(),
            results,
            memorisation_gaps: memos
                .map(|m| m.iter().map(|m| (m.gap_before, m.gap_after)).collect()),
            dynamics_final: dyns.map(|d| {
                d.iter()
                    .map(|d| {
                        d.layers
                            .iter()
                            .map(|l| (l.layer, l.pearson.last().copied().flatten()))
                            .collect()
                    })
                    .collect()
            }),
        },
        s.seed,
    ))
}

/// Runs the seeds stage over the replicates of the study in `main`, into
/// `main/seeds/summary/`.
pub fn run(settings: &Settings, main: &RunDir, display: &Display) -> Result<Value> {
    display.message(format!("{} replicates", settings.seeds.len()));
    let s = summarise(settings, main)?;
    let dir = main.seeds_summary();
    replace_dir::<anyhow::Error>(&dir, |tmp| write(tmp, &s))?;
    let last = s.layers.last();
    Ok(json!({
        "seeds": s.seeds,
        "last_layer_probe_acc": last.map(|l| [l.probe_acc.mean, l.probe_acc.lower, l.probe_acc.upper]),
        "memorisation_gap_after": s.memorisation_gap_after.as_ref().map(|e| [e.mean, e.lower, e.upper]),
    }))
}

fn write(dir: &Path, s: &SeedSummary) -> Result<()> {
    for (name, text) in s.files()? {
        write_atomic(&dir.join(name), text)?;
    }
    Ok(())
}

/// Replaces the fine-tuned per-layer series of the report by their means over the seeds, with
/// 95 % bands, when the seeds stage has run.
pub fn add_bands(out: &RunDir, layers: &mut rep::LayerSeries) -> Result<()> {
    let Some(s) = read_json::<SeedSummary>(&out.seeds_summary().join(seeds::SUMMARY_FILE))? else {
        return Ok(());
    };
    let band = |f: &dyn Fn(&LayerStats) -> &Estimate| -> rep::Series {
        let at = |l: usize, g: &dyn Fn(&Estimate) -> Option<f64>| {
            s.layers
                .iter()
                .find(|x| x.layer == l)
                .and_then(|x| g(f(x)))
                .unwrap_or(f64::NAN)
        };
        rep::Series {
            values: layers.layers.iter().map(|&l| at(l, &|e| e.mean)).collect(),
            ci: Some(rep::Band {
                lower: layers.layers.iter().map(|&l| at(l, &|e| e.lower)).collect(),
                upper: layers.layers.iter().map(|&l| at(l, &|e| e.upper)).collect(),
            }),
        }
    };
    if let Some(p) = &mut layers.probe_accuracy {
        p.after = band(&|l| &l.probe_acc);
    }
    if let Some(c) = &mut layers.clusters {
        c.after = band(&|l| &l.clusters);
    }
    if let Some(m) = &mut layers.min_distance {
        m.after = band(&|l| &l.min_distance);
    }
    if layers.cka_pre_post.is_some() {
        layers.cka_pre_post = Some(band(&|l| &l.cka_debiased));
    }
    Ok(())
}
