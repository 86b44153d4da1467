//! `tunescope geometry`: descriptors of one point cloud (intrinsic dimension, anisotropy,
//! effective rank, NC1).

use super::similarity::{read_matrix, with_threads, write_output};
use anyhow::{ensure, Context, Result};
use clap::Args as ClapArgs;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;
use tunescope_data::read_lines;
use tunescope_geometry::descriptors::{describe, DescriptorSettings};

/// TwoNN intrinsic dimension, anisotropy, effective rank and (with labels) NC1 of a set of
/// vectors -> DIR/geometry.json; see docs/measures.md.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Vectors: f32 or f64 .npy of shape [n, d].
    #[arg(long)]
    pub vectors: PathBuf,
    /// Labels, one per line in row order; adds NC1.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Output directory (created if missing); receives geometry.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out directory (outputs are staged and swapped in as a whole).
    #[arg(long)]
    pub force: bool,
    /// Skip the O(n²·d) TwoNN estimate.
    #[arg(long)]
    pub skip_intrinsic_dimension: bool,
    /// Worker threads (default: all cores). Results do not depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    crate::outdir::check(&args.out, args.force)?;
    let started = Instant::now();
    let x = read_matrix(&args.vectors)?;
    let labels = match &args.labels {
        Some(path) => {
            let names = read_lines(path, "label")?;
            ensure!(
                names.len() == x.rows(),
                "{} has {} labels but {} has {} vectors",
                path.display(),
                names.len(),
                args.vectors.display(),
                x.rows()
            );
            let mut ids = HashMap::new();
            let labels: Vec<usize> = names
                .into_iter()
                .map(|n| {
                    let next = ids.len();
                    *ids.entry(n).or_insert(next)
                })
                .collect();
            Some(labels)
        }
        None => None,
    };
    let settings = DescriptorSettings {
        skip_intrinsic_dimension: args.skip_intrinsic_dimension,
    };
    let d = with_threads(args.threads, || {
        describe(&x, labels.as_deref(), &settings)
            .with_context(|| format!("{}", args.vectors.display()))
    })?;
    let mut json = serde_json::to_value(&d)?;
    json["vectors"] = args.vectors.display().to_string().into();
    json["seconds"] = started.elapsed().as_secs_f64().into();
    write_output(
        &args.out,
        args.force,
        "geometry.json",
        &(serde_json::to_string_pretty(&json)? + "\n"),
    )?;
    eprintln!(
        "{} x {}: intrinsic dimension {}, anisotropy {:.4}, effective rank {:.2}, NC1 {} -> {}",
        d.rows,
        d.dim,
        d.intrinsic_dimension
            .map_or("-".into(), |t| format!("{:.2}", t.dimension)),
        d.anisotropy,
        d.effective_rank,
        d.nc1.map_or("-".into(), |v| format!("{v:.4}")),
        args.out.join("geometry.json").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::similarity::test_support::{parse, scratch};
    use super::*;
    use std::path::Path;
    use tunescope_data::npy;

    fn args(dir: &Path, extra: &[&str]) -> Args {
        let mut argv = vec![
            "geometry".to_string(),
            "--vectors".into(),
            dir.join("x.npy").display().to_string(),
            "--out".into(),
            dir.join("out").display().to_string(),
        ];
        argv.extend(extra.iter().map(|s| s.to_string()));
        parse(argv)
    }

    #[test]
    fn writes_descriptors_with_and_without_labels() {
        let dir = scratch("geo-ok");
        let mut rng = tunescope_geometry::stats::Rng::new(5);
        let data: Vec<f32> = (0..40 * 3).map(|_| rng.normal() as f32).collect();
        npy::write_f32(dir.join("x.npy"), &[40, 3], &data).unwrap();
        let labels: Vec<&str> = (0..40).map(|i| ["a", "b", "c"][i % 3]).collect();
        std::fs::write(dir.join("y.txt"), labels.join("\n")).unwrap();
        run(args(&dir, &[])).unwrap();
        let read = || -> serde_json::Value {
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/geometry.json")).unwrap())
                .unwrap()
        };
        let j = read();
        assert!(j["nc1"].is_null());
        let id = j["intrinsic_dimension"]["dimension"].as_f64().unwrap();
        assert!(id > 1.0 && id < 6.0, "{id}");
        let y = dir.join("y.txt").display().to_string();
        assert!(
            run(args(&dir, &["--labels", &y])).is_err(),
            "--out is not empty"
        );
        run(args(&dir, &["--labels", &y, "--force"])).unwrap();
        let j = read();
        assert!(j["nc1"].as_f64().unwrap() > 0.0);
        assert_eq!(j["classes"], 3);

        std::fs::write(dir.join("y.txt"), "a\nb\n").unwrap();
        std::fs::remove_dir_all(dir.join("out")).unwrap();
        let e = format!("{:#}", run(args(&dir, &["--labels", &y])).unwrap_err());
        assert!(
            e.contains("y.txt has 2 labels") && e.contains("40 vectors"),
            "{e}"
        );
        std::fs::write(dir.join("y.txt"), "a\n\nb\n").unwrap();
        let e = format!("{:#}", run(args(&dir, &["--labels", &y])).unwrap_err());
        assert!(e.contains("y.txt:2: empty line"), "{e}");
        assert!(!dir.join("out").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
