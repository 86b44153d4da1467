//! The seeds stage: every comparison of a fine-tuning branch's replicates (`finetune.seeds`;
//! the study's or an arm's) as a mean with a 95 % percentile-bootstrap interval over the seeds,
//! and paired sign-flip permutation tests for "did layer k move more than layer j" and "did
//! this label's distance grow". Writes `seeds/summary/summary.json`, `layers.csv`,
//! `labels.csv`, `movement_tests.csv`, `head.csv` and `dynamics_measures.csv` (the dynamics'
//! per-snapshot measures) into the branch's directory.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::measures::replicate_measures;
use tunescope_compare::seeds::{self, Replicates, SeedSummary};
use tunescope_compare::CompareResults;
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_model::finetune::Outcome;

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
    // Every replicate's file `path`; `None` unless each has one.
    fn all<T: serde::de::DeserializeOwned>(
        dirs: &[(u64, RunDir)],
        path: fn(&RunDir) -> PathBuf,
    ) -> Result<Option<Vec<T>>> {
        Ok(dirs
            .iter()
            .map(|(_, d)| read_json::<T>(&path(d)))
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .collect())
    }
    let memos =
        all::<MemorisationResult>(&dirs, |d| d.memorisation().join(memorisation::RESULT_FILE))?;
    let dyns = all::<DynamicsResult>(&dirs, |d| d.dynamics().join(dynamics::RESULT_FILE))?;
    let outcomes = all::<Outcome>(&dirs, RunDir::finetune_outcome)?;
    let measures = dirs
        .iter()
        .zip(&results)
        .map(|((_, d), r)| replicate_measures(d, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(seeds::summarise(
        &Replicates {
            measures,
            head_accuracy: outcomes.map(|o| {
                o.iter()
                    .map(|o| (o.dev.accuracy, o.test.accuracy))
                    .collect()
            }),
            seeds: dirs.iter().map(|(s, _)| *s).collect(),
            results,
            memorisation_gaps: memos
                .map(|m| m.iter().map(|m| (m.gap_before, m.gap_after)).collect()),
            dynamics_measures: dyns.as_ref().and_then(|d| {
                d.iter()
                    .map(|d| {
                        let updates = d.snapshots.iter().map(|s| s.update).collect();
                        Some((updates, d.measures.clone()?))
                    })
                    .collect()
            }),
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

/// Runs the seeds stage over the replicates of the branch (the study, or an arm) in `main`,
/// into `main/seeds/summary/`.
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
