//! The seeds stage: every comparison of the study's fine-tuning replicates (`finetune.seeds`)
//! as a mean with a 95 % percentile-bootstrap interval over the seeds, and paired sign-flip
//! permutation tests for "did layer k move more than layer j" and "did this label's distance
//! grow". Writes `seeds/summary/summary.json`, `layers.csv`, `labels.csv`, `movement_tests.csv`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::measures::replicate_measures;
use tunescope_compare::seeds::{self, Estimate, LayerStats, Replicates, SeedSummary};
use tunescope_compare::CompareResults;
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_report as rep;

use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::dynamics::DynamicsResult;
use tunescope_compare::memorisation::MemorisationResult;
use tunescope_compare::rundir::{read_json, replicate_dir};

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
fn replicate_dirs(s: &Settings, main: &Path) -> Vec<(u64, PathBuf)> {
    s.seeds
        .iter()
        .enumerate()
        .map(|(r, &seed)| {
            let dir = if r == 0 {
                main.to_path_buf()
            } else {
                replicate_dir(main, seed)
            };
            (seed, dir)
        })
        .collect()
}

/// Reads the replicates' `compare/` and experiment outputs and computes their statistics
/// ([`tunescope_compare::seeds::summarise`]).
pub fn summarise(s: &Settings, main: &Path) -> Result<SeedSummary> {
    let dirs = replicate_dirs(s, main);
    let results = dirs
        .iter()
        .map(|(_, d)| CompareResults::read(&d.join("compare")))
        .collect::<Result<Vec<_>>>()?;
    let memos = dirs
        .iter()
        .map(|(_, d)| {
            read_json::<MemorisationResult>(&d.join("experiments/memorisation/memorisation.json"))
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .collect::<Option<Vec<_>>>();
    let dyns = dirs
        .iter()
        .map(|(_, d)| read_json::<DynamicsResult>(&d.join("experiments/dynamics/dynamics.json")))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .collect::<Option<Vec<_>>>();
    let measures = dirs
        .iter()
        .zip(&results)
        .map(|((_, d), r)| replicate_measures(d, r))
        .collect::<Result<Vec<_>>>()?;
    Ok(seeds::summarise(
        &Replicates {
            measures,
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
pub fn run(settings: &Settings, main: &Path, display: &Display) -> Result<Value> {
    display.message(format!("{} replicates", settings.seeds.len()));
    let s = summarise(settings, main)?;
    let dir = main.join("seeds/summary");
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

/// The seeds summary of the study in `out`, when the seeds stage has run.
pub fn read_summary(out: &Path) -> Result<Option<SeedSummary>> {
    read_json::<SeedSummary>(&out.join("seeds/summary/summary.json"))
}

/// Means over the seeds with 95 % bands, at `layers`, of the estimate `f` picks per layer (NaN
/// where a layer has none).
fn seed_series(
    s: &SeedSummary,
    layers: &[usize],
    f: &dyn Fn(&LayerStats) -> Option<&Estimate>,
) -> rep::Series {
    let at = |l: usize, g: &dyn Fn(&Estimate) -> Option<f64>| {
        s.layers
            .iter()
            .find(|x| x.layer == l)
            .and_then(|x| f(x).and_then(g))
            .unwrap_or(f64::NAN)
    };
    rep::Series {
        values: layers.iter().map(|&l| at(l, &|e| e.mean)).collect(),
        ci: Some(rep::Band {
            lower: layers.iter().map(|&l| at(l, &|e| e.lower)).collect(),
            upper: layers.iter().map(|&l| at(l, &|e| e.upper)).collect(),
        }),
    }
}

/// The measure `key` of [`LayerStats::measures`] over the seeds at `layers`; `None` when no
/// layer has it.
fn measure_series(s: &SeedSummary, layers: &[usize], key: &str) -> Option<rep::Series> {
    fn pick<'a>(l: &'a LayerStats, key: &str) -> Option<&'a Estimate> {
        l.measures
            .iter()
            .find(|m| m.key == key)
            .map(|m| &m.estimate)
    }
    s.layers
        .iter()
        .any(|l| pick(l, key).is_some())
        .then(|| seed_series(s, layers, &|l| pick(l, key)))
}

/// Adds the seeds' means and 95 % intervals to the report's measures sections (similarity
/// indices and MDL compression of the fine-tuned encoder), when the seeds stage has run.
pub fn add_measure_bands(out: &Path, measures: &mut Option<rep::Measures>) -> Result<()> {
    let (Some(s), Some(m)) = (read_summary(out)?, measures.as_mut()) else {
        return Ok(());
    };
    if let Some(sim) = &mut m.similarity {
        for meas in &mut sim.measures {
            meas.seeds = measure_series(&s, &sim.layers, &format!("similarity/{}", meas.key));
        }
    }
    if let Some(mdl) = &mut m.mdl {
        for p in &mut mdl.probes {
            p.after_seeds = measure_series(&s, &mdl.layers, &format!("mdl/{}", p.name));
        }
    }
    Ok(())
}

/// Replaces the fine-tuned per-layer series of the report by their means over the seeds, with
/// 95 % bands, when the seeds stage has run (also the registered per-layer analyses, e.g. the
/// geometry descriptors).
pub fn add_bands(out: &Path, layers: &mut rep::LayerSeries) -> Result<()> {
    let Some(s) = read_summary(out)? else {
        return Ok(());
    };
    let band = |f: &dyn Fn(&LayerStats) -> &Estimate| -> rep::Series {
        seed_series(&s, &layers.layers, &|l| Some(f(l)))
    };
    for m in &mut layers.measures {
        if let Some(series) = measure_series(&s, &m.layers, &format!("{}/{}", m.analysis, m.key)) {
            m.values.after = series;
        }
    }
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
