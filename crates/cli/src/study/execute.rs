//! Runs one planned stage: clears its stale outputs, links a replicate to the shared
//! pre-trained results, and calls the stage's `run` with its settings and typed locations.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

use super::display::Display;
use super::plan::{Kind, Planned};
use super::stages::{
    compare, cross, data, directprobe, dynamics, examples, extract, finetune, mdl, memorisation,
    probe, report, seeds, similarity, weights,
};
use tunescope_data::rundir::{RunDir, PRETRAINED};

/// What runs a stage: resources that do not change results (so they are not keyed).
pub struct Resources<'a> {
    /// The study's run directory (`study.out`).
    pub main: &'a Path,
    /// Worker threads of the geometry stages (`directprobe.threads`, 0 = one per core).
    pub threads: usize,
    /// Progress display.
    pub display: &'a Display,
}

/// Runs one planned stage; `resume` says its previous record had the same key (an interrupted
/// run of the same stage, whose resumable state may be kept). Returns a short summary.
pub fn execute(stage: &Planned, resume: bool, res: &Resources<'_>) -> Result<Value> {
    let main = res.main;
    // The stage's own run directory: the study's, a replicate's or a cross-task entry's.
    let dir = &RunDir::new(&stage.dir);
    let main_run = &RunDir::new(main);
    let display = res.display;
    if !resume {
        for o in &stage.outputs {
            remove(&main.join(o))?;
        }
        match &stage.kind {
            Kind::Finetune(_) => {
                remove(&dir.finetune_state())?;
                for u in dir.checkpoints()? {
                    remove(&dir.checkpoint(u))?;
                }
            }
            Kind::CrossFinetune(..) => remove(&dir.finetune_state())?,
            _ => {}
        }
    }
    if stage.replicate {
        link_shared(main, &stage.dir)?;
    }
    match &stage.kind {
        Kind::Data(s) | Kind::CrossData(_, s) => data::run(s, dir),
        Kind::Finetune(s) | Kind::CrossFinetune(_, s) => {
            finetune::run(s, dir, &stage.pretrained, display)
        }
        Kind::Extract(m, s) => extract::run(s, dir, &m.dir(dir, &stage.pretrained), m, display),
        Kind::Probe(m, s) => probe::run(s, dir, m, display),
        Kind::DirectProbe(m, s) => {
            let pre = directprobe::pretrained_id(&s.split, s.layer);
            let reuse = stage.upstream_keys().iter().any(|(id, _)| *id == pre);
            in_pool(res.threads, || directprobe::run(s, dir, m, reuse, display))
        }
        Kind::Mdl(m, s) => mdl::run(s, dir, m, display),
        Kind::Similarity(s) => in_pool(res.threads, || similarity::run(s, dir, display)),
        Kind::Compare(s) => in_pool(res.threads, || compare::run(s, dir, display)),
        Kind::Examples(s) => {
            let reads_study = stage.id != examples::STUDY_ID
                && stage
                    .upstream_keys()
                    .iter()
                    .any(|(id, _)| id == examples::STUDY_ID);
            let pre = reads_study.then(|| main_run.examples_csv());
            in_pool(res.threads, || {
                examples::run(s, dir, pre.as_deref(), display)
            })
        }
        Kind::Dynamics(s) => in_pool(res.threads, || dynamics::run(s, dir, display)),
        Kind::Memorisation(s) => memorisation::run(s, dir, display),
        Kind::Weights(s) => weights::run(s, dir, &stage.pretrained, display),
        Kind::CrossTask(name, s) => in_pool(res.threads, || {
            cross::run(s, main_run, name, &stage.pretrained, display)
        }),
        Kind::Seeds(s) => seeds::run(s, dir, display),
        Kind::Report(s) => report::run(s, main_run, &stage.upstream_keys()),
    }
}

/// Links a replicate's run directory `sub` (`seeds/seed-<s>/`, `arms/<name>/`,
/// `arms/<name>/seeds/seed-<s>/`) to the study's pre-trained artifacts (data, representations,
/// probes, DirectProbe), which every replicate shares.
fn link_shared(main: &Path, sub: &Path) -> Result<()> {
    let depth = sub
        .strip_prefix(main)
        .with_context(|| format!("{} is not inside {}", sub.display(), main.display()))?
        .components()
        .count();
    let rel = RunDir::relative();
    for path in [
        rel.data(),
        rel.reps(PRETRAINED),
        rel.probe_dir(PRETRAINED),
        rel.mdl_dir(PRETRAINED),
        rel.directprobe_model(PRETRAINED),
    ] {
        let (target, link) = (main.join(&path), sub.join(&path));
        if !target.exists() || link.symlink_metadata().is_ok() {
            continue;
        }
        let parent = link.parent().expect("a link inside the replicate");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        // From the link's directory up to `main`, then down to the target.
        let up = "../".repeat(depth + path.components().count() - 1);
        std::os::unix::fs::symlink(format!("{up}{}", path.display()), &link).with_context(
            || {
                format!(
                    "cannot link {} to the study's {}",
                    link.display(),
                    path.display()
                )
            },
        )?;
    }
    Ok(())
}

/// Runs `f` on a rayon pool of `threads` workers (0 = one per core).
fn in_pool<T: Send>(threads: usize, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if threads > 0 {
        pool = pool.num_threads(threads);
    }
    pool.build().context("starting the thread pool")?.install(f)
}

fn remove(p: &Path) -> Result<()> {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else if p.exists() {
        std::fs::remove_file(p)
    } else {
        Ok(())
    };
    r.with_context(|| format!("cannot remove stale output {}", p.display()))
}
