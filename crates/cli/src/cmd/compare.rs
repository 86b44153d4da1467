//! `tunescope compare RUN_DIR`: before/after fine-tuning comparisons of a run directory.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use tunescope_data::rundir::RunDir;

use crate::config::{Config, Layers};
use crate::study::manifest::Manifest;
use crate::study::stages::compare;

/// Compute what is missing of Table A, label distances, layer movement, spatial similarity and
/// CKA/RSA/Procrustes from the run directory's representations (reusing stored probe and
/// DirectProbe results), write RUN_DIR/compare/, and print a per-layer table.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Run directory holding reps/pretrained (and reps/finetuned) with labels.txt per split.
    pub run_dir: PathBuf,
    /// Study config for the [probe], [directprobe] and [compare] settings; default: the resolved
    /// config in RUN_DIR/manifest.json.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a config value: `section.key=value` (repeatable), e.g. `probe.enabled=false`.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "config")]
    pub set: Vec<String>,
    /// Compare only these layers (comma-separated); default: the config's `[model] layers`.
    #[arg(long, value_delimiter = ',')]
    pub layers: Option<Vec<usize>>,
}

fn load_config(args: &Args) -> Result<Config> {
    if let Some(path) = &args.config {
        return Config::load(path, &args.set);
    }
    let path = RunDir::new(&args.run_dir).manifest();
    let Some(m) = Manifest::read(&path)? else {
        bail!(
            "{} not found: pass --config STUDY.toml for the [probe], [directprobe] and [compare] \
             settings",
            path.display()
        );
    };
    let config: Config = serde_json::from_value(m.config)
        .with_context(|| format!("{}: the resolved config does not parse", path.display()))?;
    config
        .validate()
        .with_context(|| format!("{}: resolved config", path.display()))?;
    Ok(config)
}

/// Runs `tunescope compare`.
pub fn run(args: Args) -> Result<()> {
    if !args.run_dir.is_dir() {
        bail!("{}: not a run directory", args.run_dir.display());
    }
    let config = load_config(&args)?;
    if config.probe.enabled && config.probe.control {
        bail!("[probe] control is not available in `compare` (it needs the task's word types); run `tunescope study`, or set probe.control=false");
    }
    let mut opts = compare::settings(&config, &[]).options();
    opts.layers = match (&args.layers, &config.model.layers) {
        (Some(l), _) => Some(l.clone()),
        (None, Layers::List(l)) => Some(l.clone()),
        (None, Layers::All) => None,
    };
    let mut pool = rayon::ThreadPoolBuilder::new();
    if config.directprobe.threads > 0 {
        pool = pool.num_threads(config.directprobe.threads);
    }
    let pool = pool.build().context("starting the thread pool")?;
    let run = RunDir::new(&args.run_dir);
    let (results, work) = pool.install(|| tunescope_compare::compare_and_write(&run, &opts))?;
    print!("{}", tunescope_compare::terminal_table(&results));
    eprintln!(
        "DirectProbe: {} computed, {} reused, {} re-measured; probes: {} trained, {} reused; \
         results in {}",
        work.directprobe_computed,
        work.directprobe_reused,
        work.directprobe_remeasured,
        work.probes_trained,
        work.probes_reused,
        run.compare().display()
    );
    Ok(())
}
