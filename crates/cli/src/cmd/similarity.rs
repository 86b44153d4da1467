//! `tunescope similarity`: calibrated similarity of two representations of the same units.

use anyhow::{bail, ensure, Context, Result};
use clap::{Args as ClapArgs, ValueEnum};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tunescope_data::npy;
use tunescope_geometry::calibrated::{calibrated_similarity, MeasureKind, NullSettings};
use tunescope_geometry::linalg::Matrix;
use tunescope_geometry::similarity::{DistanceMetric, RsaOptions};

/// Linear CKA, debiased CKA, mutual k-NN, angular Procrustes and RSA of A vs B, each with a
/// permutation null (rows of B shuffled, seeded) -> DIR/similarity.json.
///
/// Row i of A and row i of B must describe the same unit. Each measure gets
/// {value, kind, null_mean, null_std, p_value, calibrated}; see docs/measures.md.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// First representation: f32 or f64 .npy of shape [n, d1].
    #[arg(long)]
    pub a: PathBuf,
    /// Second representation: f32 or f64 .npy of shape [n, d2], same units in the same order.
    #[arg(long)]
    pub b: PathBuf,
    /// Output directory (created if missing); receives similarity.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out directory (outputs are staged and swapped in as a whole).
    #[arg(long)]
    pub force: bool,
    /// Row permutations of B in the null (0: raw values only).
    #[arg(long, default_value_t = 1000)]
    pub permutations: usize,
    /// Neighbours of the mutual k-NN index.
    #[arg(long, default_value_t = 10)]
    pub k: usize,
    /// Seed of the permutations and of RSA's row sample.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Rows RSA uses (a seeded sample when n is larger).
    #[arg(long, default_value_t = 2000)]
    pub rsa_sample: usize,
    /// Distance inside each representation for RSA.
    #[arg(long, value_enum, default_value_t = Metric::Euclidean)]
    pub rsa_metric: Metric,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// RSA's distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Metric {
    /// Euclidean distance.
    Euclidean,
    /// Cosine distance (1 − cosine similarity).
    Cosine,
}

/// Reads a 2-D float .npy as a matrix.
pub(crate) fn read_matrix(path: &Path) -> Result<Matrix> {
    let a = npy::read_f64_matrix(path)?;
    Matrix::new(a.shape[0], a.shape[1], a.data).with_context(|| format!("{}", path.display()))
}

/// Writes the command's one output file `name` into `out` by the `--out` rule
/// (`crate::outdir`): staged, then swapped in as a whole.
pub(crate) fn write_output(out: &Path, force: bool, name: &str, contents: &str) -> Result<()> {
    let staging = crate::outdir::Staging::begin(out, force)?;
    let path = staging.path().join(name);
    std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    staging.commit()
}

/// Runs `f` on a pool of `threads` workers (all cores when `None`).
pub(crate) fn with_threads<T: Send>(
    threads: Option<usize>,
    f: impl FnOnce() -> Result<T> + Send,
) -> Result<T> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        pool = pool.num_threads(t);
    }
    pool.build().context("starting the worker pool")?.install(f)
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    crate::outdir::check(&args.out, args.force)?;
    let started = Instant::now();
    let a = read_matrix(&args.a)?;
    let b = read_matrix(&args.b)?;
    ensure!(
        a.rows() == b.rows(),
        "{} has {} rows but {} has {}; the rows must be the same units",
        args.a.display(),
        a.rows(),
        args.b.display(),
        b.rows()
    );
    ensure!(
        args.k >= 1 && args.k < a.rows(),
        "--k {} must be at least 1 and below the number of rows ({})",
        args.k,
        a.rows()
    );
    let settings = NullSettings {
        permutations: args.permutations,
        k: args.k,
        seed: args.seed,
        rsa: RsaOptions {
            sample: args.rsa_sample,
            seed: args.seed,
            metric: match args.rsa_metric {
                Metric::Euclidean => DistanceMetric::Euclidean,
                Metric::Cosine => DistanceMetric::Cosine,
            },
        },
    };
    let (result, threads) = with_threads(args.threads, || {
        let r = calibrated_similarity(&a, &b, &settings)
            .with_context(|| format!("{} vs {}", args.a.display(), args.b.display()))?;
        Ok((r, rayon::current_num_threads()))
    })?;
    let seconds = started.elapsed().as_secs_f64();
    let mut json = serde_json::to_value(result)?;
    json["settings"] = serde_json::json!({
        "a": args.a.display().to_string(),
        "b": args.b.display().to_string(),
        "rows": a.rows(),
        "dims": [a.cols(), b.cols()],
        "permutations": args.permutations,
        "k": args.k,
        "seed": args.seed,
        "rsa_sample": args.rsa_sample.min(a.rows()),
        "rsa_metric": format!("{:?}", args.rsa_metric).to_lowercase(),
        "threads": threads,
        "seconds": seconds,
    });
    write_output(
        &args.out,
        args.force,
        "similarity.json",
        &(serde_json::to_string_pretty(&json)? + "\n"),
    )?;
    for (name, s) in [
        ("linear_cka", result.linear_cka),
        ("debiased_cka", result.debiased_cka),
        ("mutual_knn", result.mutual_knn),
        ("procrustes_angular", result.procrustes_angular),
        ("rsa", result.rsa),
    ] {
        let kind = match s.kind {
            MeasureKind::Similarity => "similarity",
            MeasureKind::Distance => "distance",
        };
        eprintln!(
            "{name:>18} {:.4} ({kind})  null {:.4} ± {:.4}  p {}",
            s.value,
            s.null_mean.unwrap_or(f64::NAN),
            s.null_std.unwrap_or(f64::NAN),
            s.p_value.map_or("-".into(), |p| format!("{p:.4}"))
        );
    }
    eprintln!(
        "{} rows, {} permutations, {seconds:.1} s -> {}",
        a.rows(),
        args.permutations,
        args.out.join("similarity.json").display()
    );
    Ok(())
}

/// Scratch directories and argument parsing shared by the tests of the standalone measures.
#[cfg(test)]
pub(crate) mod test_support {
    use clap::Parser;
    use std::path::PathBuf;

    #[derive(Parser)]
    struct Cli<A: clap::Args> {
        #[command(flatten)]
        args: A,
    }

    /// A fresh, empty directory under the system temp dir.
    pub(crate) fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tunescope-cmd-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Parses `argv` (program name first) into a subcommand's arguments.
    pub(crate) fn parse<A: clap::Args>(argv: Vec<String>) -> A {
        Cli::<A>::try_parse_from(argv).unwrap().args
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{parse, scratch};
    use super::*;

    fn args(dir: &Path, extra: &[&str]) -> Args {
        let p = |f: &str| dir.join(f).display().to_string();
        let mut argv = vec!["similarity".to_string()];
        for (flag, v) in [
            ("--a", p("a.npy")),
            ("--b", p("b.npy")),
            ("--out", p("out")),
        ] {
            argv.push(flag.into());
            argv.push(v);
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        parse(argv)
    }

    fn write(dir: &Path, name: &str, rows: usize, cols: usize, seed: u64) {
        let mut rng = tunescope_geometry::stats::Rng::new(seed);
        let data: Vec<f32> = (0..rows * cols).map(|_| rng.normal() as f32).collect();
        npy::write_f32(dir.join(name), &[rows, cols], &data).unwrap();
    }

    #[test]
    fn writes_every_measure_with_its_null() {
        let dir = scratch("sim-ok");
        write(&dir, "a.npy", 50, 6, 1);
        write(&dir, "b.npy", 50, 4, 2);
        run(args(
            &dir,
            &["--permutations", "30", "--k", "5", "--seed", "3"],
        ))
        .unwrap();
        let text = std::fs::read_to_string(dir.join("out/similarity.json")).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        for (name, kind) in [
            ("linear_cka", "similarity"),
            ("debiased_cka", "similarity"),
            ("mutual_knn", "similarity"),
            ("procrustes_angular", "distance"),
            ("rsa", "similarity"),
        ] {
            let m = &json[name];
            assert_eq!(m["kind"], kind, "{name}");
            for key in ["value", "null_mean", "null_std", "p_value", "calibrated"] {
                assert!(m[key].is_f64(), "{name}.{key}: {}", m[key]);
            }
            let p = m["p_value"].as_f64().unwrap();
            assert!((1.0 / 31.0..=1.0).contains(&p));
        }
        assert_eq!(json["settings"]["dims"], serde_json::json!([6, 4]));
        // Same seed, same result (timings aside).
        run(args(
            &dir,
            &["--permutations", "30", "--k", "5", "--seed", "3", "--force"],
        ))
        .unwrap();
        let again: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join("out/similarity.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(json["rsa"], again["rsa"]);
        assert_eq!(json["procrustes_angular"], again["procrustes_angular"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_inputs_name_the_file_and_write_nothing() {
        let dir = scratch("sim-bad");
        write(&dir, "a.npy", 20, 3, 1);
        write(&dir, "b.npy", 21, 3, 2);
        let e = format!("{:#}", run(args(&dir, &[])).unwrap_err());
        assert!(
            e.contains("a.npy has 20 rows") && e.contains("b.npy has 21"),
            "{e}"
        );
        write(&dir, "b.npy", 20, 3, 2);
        let e = format!("{:#}", run(args(&dir, &["--k", "20"])).unwrap_err());
        assert!(e.contains("--k 20"), "{e}");
        npy::write_f32(dir.join("b.npy"), &[20, 3], &[1.0; 60]).unwrap();
        let e = format!("{:#}", run(args(&dir, &["--k", "3"])).unwrap_err());
        assert!(e.contains("b.npy") && e.contains("zero variance"), "{e}");
        std::fs::write(dir.join("b.npy"), b"not a npy").unwrap();
        let e = format!("{:#}", run(args(&dir, &[])).unwrap_err());
        assert!(e.contains("b.npy"), "{e}");
        assert!(!dir.join("out").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
