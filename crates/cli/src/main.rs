//! The `tunescope` command line: a thin layer over the library crates.
//!
//! Each subcommand lives in `cmd/<name>.rs` with its clap `Args` struct and a `run` function.
mod cmd;
mod collect;
mod config;
#[cfg(test)]
mod fuzz;
mod outdir;
mod signals;
mod study;

/// mimalloc instead of the system allocator: DirectProbe's greedy allocates and frees small
/// vectors per candidate from two threads, where glibc's malloc took 5 % of the clustering
/// (docs/benchmarks.md, thirteenth pass).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

/// Study how fine-tuning changes a BERT encoder's representation space.
#[derive(Parser)]
#[command(name = "tunescope", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The whole study: data, fine-tuning, extraction, probes, DirectProbe, compare, report.
    Study(cmd::study::Args),
    /// Split a grid of studies (configs × varied settings) into jobs, e.g. a Slurm job array.
    Plan(cmd::plan::Args),
    /// Encode pre-tokenized sentences: every layer's word or [CLS] vectors as .npy.
    Embed(cmd::embed::Args),
    /// Exact DirectProbe: clusters, nearest-cluster prediction, hull distances.
    Directprobe(cmd::directprobe::Args),
    /// Inspect a study's data: counts per split, labels, warnings.
    Data(cmd::data::Args),
    /// Fine-tune the encoder plus a task head; save it in Hugging Face layout.
    Finetune(cmd::finetune::Args),
    /// Classifier probes (linear + MLP grid, several seeds) on stored vectors.
    Probe(cmd::probe::Args),
    /// Before/after fine-tuning comparisons of a run directory: Table A, label distances,
    /// layer movement, spatial similarity, CKA/RSA/Procrustes.
    Compare(cmd::compare::Args),
    /// Calibrated similarity of two representations of the same units (CKA, debiased CKA,
    /// mutual k-NN, angular Procrustes, RSA, each with a permutation null).
    Similarity(cmd::similarity::Args),
    /// Geometry descriptors of a set of vectors: TwoNN intrinsic dimension, anisotropy,
    /// effective rank, NC1 with labels.
    Geometry(cmd::geometry::Args),
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TUNESCOPE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: logs and captured stderr stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result: anyhow::Result<()> = match cli.command {
        Command::Study(a) => cmd::study::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Embed(a) => cmd::embed::run(a),
        Command::Directprobe(a) => cmd::directprobe::run(a),
        Command::Data(a) => cmd::data::run(a),
        Command::Finetune(a) => cmd::finetune::run(a),
        Command::Probe(a) => cmd::probe::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Similarity(a) => cmd::similarity::run(a),
        Command::Geometry(a) => cmd::geometry::run(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
