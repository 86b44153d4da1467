//! The whole study as one resumable pipeline.
//!
//! Every stage (data, fine-tune, extract per model, probes and DirectProbe per model × layer,
//! compare, report) declares its inputs — the config settings it reads and the keys of the
//! stages it reads from — and its key is the hash of those inputs ([`plan`]). `manifest.json`
//! in the run directory records each stage's key, status, outputs and time, rewritten
//! atomically after every stage ([`manifest`]). A stage whose key matches a finished record and
//! whose outputs exist is skipped, so an interrupted study resumes where it stopped and a
//! changed probe setting re-runs only the probes and what reads them.

pub mod cache;
pub mod display;
pub mod execute;
pub mod hash;
#[cfg(test)]
mod keys_test;
pub mod manifest;
pub mod plan;
pub mod slurm;
pub mod stages;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::config::Config;
pub use display::Display;
use hash::HashCache;
use manifest::{Manifest, StageRecord, Status, MANIFEST_VERSION};
use plan::{Action, Planned};
use tunescope_data::rundir::RunDir;

/// What a finished study did.
pub struct Outcome {
    /// Stages run in this invocation, with seconds.
    pub ran: Vec<(String, f64)>,
    /// Stages skipped as unchanged.
    pub skipped: Vec<String>,
    /// The manifest after the last stage.
    pub manifest: Manifest,
}

/// The study stopped on Ctrl-C/SIGTERM before its next stage (finished stages are kept).
#[derive(Debug)]
pub struct Interrupted {
    /// The stage that would have run next.
    pub next: String,
}

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "interrupted before stage {}; finished stages are kept: re-run the same command to resume",
            self.next
        )
    }
}

impl std::error::Error for Interrupted {}

/// Versions of the tool and the workspace crates, recorded in the manifest.
fn versions() -> BTreeMap<String, String> {
    let v = env!("CARGO_PKG_VERSION").to_string();
    [
        "tunescope",
        "tunescope-data",
        "tunescope-geometry",
        "tunescope-model",
        "tunescope-compare",
        "tunescope-report",
    ]
    .into_iter()
    .map(|c| (c.to_string(), v.clone()))
    .collect()
}

fn fresh_manifest(config: &Config) -> Result<Manifest> {
    Ok(Manifest {
        manifest_version: MANIFEST_VERSION,
        tool: "tunescope".into(),
        versions: versions(),
        study: config.study.name.clone(),
        config: serde_json::to_value(config).context("serialising the config")?,
        seeds: plan::seeds(config),
        stages: BTreeMap::new(),
    })
}

/// Fails when the run directory `out` exists but is not a directory.
fn check_out(out: &Path) -> Result<()> {
    if out.exists() && !out.is_dir() {
        bail!(
            "study.out {} is a file, not a directory: choose another study.out (--set study.out=DIR)",
            out.display()
        );
    }
    Ok(())
}

/// Computes the plan for `config` against the run directory as it is now, without writing.
pub fn dry_plan(config: &Config) -> Result<Vec<Planned>> {
    let out = &config.study.out;
    check_out(out)?;
    let manifest = Manifest::read(&RunDir::new(out).manifest())?;
    // Read the remembered hashes but never write them: a dry run leaves no trace.
    let mut cache = HashCache::open(&RunDir::new(out).hash_cache());
    plan::build(config, manifest.as_ref(), &mut cache)
}

/// Formats a plan: one line per stage, `run`/`skip`/`later`, its id and the reason.
pub fn format_plan(plan: &[Planned]) -> String {
    let width = plan.iter().map(|p| p.id.len()).max().unwrap_or(0);
    let mut s = String::new();
    let (mut run, mut skip, mut later) = (0, 0, 0);
    for p in plan {
        let (word, why) = match &p.action {
            Action::Run(r) => {
                run += 1;
                ("run ", r)
            }
            Action::Skip(r) => {
                skip += 1;
                ("skip", r)
            }
            Action::Later(r) => {
                later += 1;
                ("later", r)
            }
        };
        s.push_str(&format!("{word:5} {:width$}  {why}\n", p.id));
    }
    s.push_str(&format!(
        "{run} to run, {skip} to skip, {later} known after fine-tuning\n"
    ));
    s
}

/// Runs every stage that is not up to date, in order, recording each in the manifest; stops
/// with [`Interrupted`] before the next stage once `stop` is set (fine-tuning stops sooner, at
/// its next update, with its state saved).
pub fn run(config: &Config, quiet: bool, stop: Arc<AtomicBool>) -> Result<Outcome> {
    let out = config.study.out.clone();
    check_out(&out)?;
    let mpath = RunDir::new(&out).manifest();
    let mut manifest = match Manifest::read(&mpath)? {
        Some(mut m) => {
            m.config = serde_json::to_value(config)?;
            m.seeds = plan::seeds(config);
            m.versions = versions();
            m.study = config.study.name.clone();
            m
        }
        None => fresh_manifest(config)?,
    };
    let mut cache = HashCache::open(&RunDir::new(&out).hash_cache());
    // Plan once before creating anything, so bad input leaves no run directory behind.
    plan::build(config, Some(&manifest), &mut cache)?;
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let display = Display::new(quiet, stop);
    let started = Instant::now();
    let mut ran = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    loop {
        let plan = plan::build(config, Some(&manifest), &mut cache)?;
        cache.save()?;
        display.bar.set_length(plan.len() as u64);
        let done = plan
            .iter()
            .take_while(|p| matches!(p.action, Action::Skip(_)))
            .count();
        for p in &plan[..done] {
            if !skipped.contains(&p.id) && !ran.iter().any(|(id, _)| id == &p.id) {
                if let Action::Skip(why) = &p.action {
                    display.line(&format!("skip  {}: {why}", p.id));
                }
                skipped.push(p.id.clone());
            }
        }
        let Some(next) = plan.iter().find(|p| matches!(p.action, Action::Run(_))) else {
            break;
        };
        if display.stop_requested() {
            display.bar.finish_and_clear();
            return Err(Interrupted {
                next: next.id.clone(),
            }
            .into());
        }
        display.bar.set_position(done as u64);
        display.bar.set_prefix(next.id.clone());
        display.message("");
        let previous = manifest.stages.get(&next.id).cloned();
        manifest.stages.insert(
            next.id.clone(),
            StageRecord {
                key: next.key.clone(),
                status: Status::Running,
                inputs: next.inputs.clone(),
                outputs: next.outputs.clone(),
                seconds: 0.0,
                summary: serde_json::Value::Null,
                error: None,
            },
        );
        manifest.write(&mpath)?;
        let shared = config
            .study
            .cache
            .as_deref()
            .filter(|_| cache::shareable(next));
        if let Some(dir) = shared {
            if let Some(rec) = cache::restore(dir, next, &out)? {
                let seconds = rec.seconds;
                manifest.stages.insert(next.id.clone(), rec);
                manifest.write(&mpath)?;
                display.line(&format!(
                    "cache {} (computed once in {seconds:.1} s)",
                    next.id
                ));
                ran.push((next.id.clone(), 0.0));
                continue;
            }
        }
        let t = Instant::now();
        let resume = previous.is_some_and(|r| r.key == next.key);
        let resources = execute::Resources {
            main: &out,
            threads: config.directprobe.threads,
            display: &display,
        };
        let summary = match execute::execute(next, resume, &resources) {
            Ok(s) => s,
            Err(e) => {
                let stopped = e
                    .chain()
                    .any(|c| c.is::<tunescope_model::finetune::Interrupted>());
                if stopped {
                    return Err(e.context(format!(
                        "stage {} interrupted (re-run the same command to resume)",
                        next.id
                    )));
                }
                let rec = manifest.stages.get_mut(&next.id).expect("inserted above");
                rec.status = Status::Failed;
                rec.seconds = t.elapsed().as_secs_f64();
                rec.error = Some(format!("{e:#}"));
                manifest.write(&mpath)?;
                display.bar.finish_and_clear();
                return Err(e.context(format!(
                    "stage {} failed (recorded in {}; finished stages are kept)",
                    next.id,
                    mpath.display()
                )));
            }
        };
        let seconds = t.elapsed().as_secs_f64();
        let rec = manifest.stages.get_mut(&next.id).expect("inserted above");
        rec.status = Status::Done;
        rec.seconds = seconds;
        rec.summary = summary;
        manifest.write(&mpath)?;
        if let Some(dir) = shared {
            cache::store(dir, next, &out, &manifest.stages[&next.id])?;
        }
        display.line(&format!("done  {} ({seconds:.1} s)", next.id));
        ran.push((next.id.clone(), seconds));
    }
    display.bar.finish_and_clear();
    // Drop records of stages the current config no longer has (e.g. a disabled probe).
    let current: Vec<String> = plan::build(config, Some(&manifest), &mut cache)?
        .into_iter()
        .map(|p| p.id)
        .collect();
    manifest.stages.retain(|id, _| current.contains(id));
    manifest.write(&mpath)?;
    cache.save()?;
    tracing::info!("study finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(Outcome {
        ran,
        skipped,
        manifest,
    })
}

/// Table A of a finished study (from `compare/`); empty when the comparisons did not run.
pub fn table_a(config: &Config) -> Result<Vec<tunescope_report::TableAEntry>> {
    if !config.run_dir().compare().is_dir() {
        return Ok(Vec::new());
    }
    Ok(stages::report::report_data(config, &[])?.table_a)
}
