//! `tunescope plan CONFIG… --vary k=v1,v2 --emit slurm`: split a grid of studies (configs ×
//! varied settings) into independent cells, printed as a list or as a Slurm job-array script.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::ValueEnum;

use crate::study::slurm;

/// What `plan` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Emit {
    /// One line per cell: its run directory and overrides.
    List,
    /// A Slurm job-array script with one array task per cell.
    Slurm,
}

/// Split a grid of studies into independent jobs.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Study configs (one per task).
    #[arg(required = true)]
    pub configs: Vec<PathBuf>,
    /// Grid axis: `section.key=v1,v2,…` (repeatable), e.g. `finetune.seed=1,2,3`.
    #[arg(long, value_name = "KEY=V1,V2")]
    pub vary: Vec<String>,
    /// Override for every cell: `section.key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Directory holding one run directory per cell (`<root>/<config>/<axis values>`).
    #[arg(long, default_value = "runs/grid")]
    pub root: PathBuf,
    /// Shared stage cache for all cells (default `<root>/cache`; `none` for no cache).
    #[arg(long)]
    pub cache: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "list")]
    pub emit: Emit,
    /// Instead of planning: read the cells' run directories and merge them into
    /// `<root>/summary/` (grid.csv, grid.json, index.html); exits non-zero, after writing the
    /// summary, when a cell is unfinished, naming the array indices to resubmit.
    #[arg(long, conflicts_with = "emit")]
    pub collect: bool,
    /// Slurm: CPUs per task.
    #[arg(long, default_value_t = 8)]
    pub cpus: usize,
    /// Slurm: GPUs per task.
    #[arg(long, default_value_t = 1)]
    pub gpus: usize,
    /// Slurm: memory per task.
    #[arg(long, default_value = "32G")]
    pub mem: String,
    /// Slurm: time limit per task.
    #[arg(long, default_value = "04:00:00")]
    pub time: String,
    /// Slurm: most tasks running at once (0 = no limit).
    #[arg(long, default_value_t = 0)]
    pub max_parallel: usize,
    /// Slurm: the tunescope executable the tasks run.
    #[arg(long, default_value = "tunescope")]
    pub binary: String,
    /// Slurm job name.
    #[arg(long, default_value = "tunescope-grid")]
    pub job_name: String,
}

/// Runs `tunescope plan`.
pub fn run(args: Args) -> Result<()> {
    let vary = args
        .vary
        .iter()
        .map(|v| slurm::parse_vary(v))
        .collect::<Result<Vec<_>>>()?;
    let mut common = args.set.clone();
    if common
        .iter()
        .any(|s| s.trim_start().starts_with("study.out"))
    {
        bail!("--set study.out: every cell gets its own run directory under --root");
    }
    match args.cache.as_deref() {
        Some("none") => {}
        Some(dir) => common.push(format!("study.cache={dir}")),
        None => common.push(format!("study.cache={}", args.root.join("cache").display())),
    }
    let cells = slurm::cells(&args.configs, &vary, &common, &args.root)?;
    if args.collect {
        return collect(&args.root, &cells, &vary);
    }
    match args.emit {
        Emit::List => {
            for c in &cells {
                println!("{}\t{}\t{}", c.name, c.config.display(), c.sets.join(" "));
            }
            eprintln!("{} cell(s)", cells.len());
        }
        Emit::Slurm => {
            if args.cpus == 0 {
                bail!("--cpus must be at least 1");
            }
            let r = slurm::Resources {
                cpus: args.cpus,
                gpus: args.gpus,
                mem: args.mem.clone(),
                time: args.time.clone(),
                max_parallel: args.max_parallel,
                binary: args.binary.clone(),
            };
            // Slurm opens `--output` before the script runs: the log directory must exist at
            // submission, or every task fails at once.
            let logs = args.root.join("logs");
            std::fs::create_dir_all(&logs)
                .with_context(|| format!("cannot create the log directory {}", logs.display()))?;
            print!("{}", slurm::script(&args.job_name, &cells, &args.root, &r));
        }
    }
    Ok(())
}

/// `--collect`: the grid summary, and an error naming the unfinished cells.
fn collect(
    root: &std::path::Path,
    cells: &[slurm::Cell],
    vary: &[(String, Vec<String>)],
) -> Result<()> {
    use crate::collect::{self as c, Status};
    let axes: Vec<String> = vary.iter().map(|(k, _)| k.clone()).collect();
    let summary = c::collect(cells, &axes);
    let out = c::write_summary(root, &summary, vary)?;
    for m in c::marginals(&summary, vary) {
        println!(
            "{}={}\t{} cell(s)\tfine-tuned acc {}\tchange {}",
            m.axis,
            m.value,
            m.cells,
            m.acc_finetuned.map_or("–".into(), |v| format!("{v:.2}%")),
            m.acc_change.map_or("–".into(), |v| format!("{v:+.2}")),
        );
    }
    let unfinished: Vec<&c::CellSummary> = summary
        .iter()
        .filter(|s| s.status != Status::Finished)
        .collect();
    for s in &unfinished {
        match &s.status {
            Status::Unfinished { stages } => eprintln!(
                "cell {} ({}): unfinished, {} stage(s) left (first: {})",
                s.index,
                s.name,
                stages.len(),
                stages[0]
            ),
            Status::Failed { error } => eprintln!("cell {} ({}): {error}", s.index, s.name),
            Status::Finished => {}
        }
    }
    eprintln!(
        "{} of {} cells finished; summary: {}",
        summary.len() - unfinished.len(),
        summary.len(),
        out.join("index.html").display()
    );
    if !unfinished.is_empty() {
        let ids: Vec<String> = unfinished.iter().map(|s| s.index.to_string()).collect();
        bail!(
            "{} cell(s) unfinished; resubmit them with `sbatch --array={} <script>` (each resumes \
             from its manifest)",
            unfinished.len(),
            ids.join(",")
        );
    }
    Ok(())
}
