//! `tunescope probe`: classifier probes (linear + MLP grid, several seeds) on stored vectors.

use anyhow::{bail, ensure, Result};
use clap::Parser;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tunescope_data::labels::{check_same_kind, read_label_file, LabelFile};
use tunescope_data::{npy, read_lines};
use tunescope_model::probe::{self, ProbeConfig, ProbeInput};

/// Train classifier probes on frozen vectors and write DIR/probe.json.
///
/// Configurations: the linear probe plus every two-hidden-layer ReLU MLP over the grid sizes (16
/// for the default grid), each with every --l2 weight (the paper's grid by default). Each is
/// trained once with the first seed; dev selects the best MLP (the reported probe) and the best
/// linear probe, and both are retrained with every seed (test accuracy as mean ± std).
#[derive(Parser, Debug)]
pub struct Args {
    /// Training vectors: .npy float32/float64 matrix [n, d].
    #[arg(long)]
    train_vectors: PathBuf,
    /// Training labels: text (one per line) or integer .npy, one per vector.
    #[arg(long)]
    train_labels: PathBuf,
    /// Dev vectors (early stopping and shape selection).
    #[arg(long)]
    dev_vectors: PathBuf,
    /// Dev labels.
    #[arg(long)]
    dev_labels: PathBuf,
    /// Test vectors.
    #[arg(long)]
    test_vectors: PathBuf,
    /// Test labels.
    #[arg(long)]
    test_labels: PathBuf,
    /// Output directory; receives probe.json. Written as a whole when complete; a non-empty
    /// directory is refused unless --force.
    #[arg(long)]
    out: PathBuf,
    /// Replace a non-empty --out directory (its previous files are removed).
    #[arg(long)]
    force: bool,
    /// Hidden-layer sizes of the MLP grid.
    #[arg(long, value_delimiter = ',', default_value = "32,64,128,256")]
    grid: Vec<usize>,
    /// Numbers of hidden layers to include: 0 = linear, 1 = [h], 2 = [h1, h2].
    #[arg(long, value_delimiter = ',', default_value = "0,2")]
    depths: Vec<usize>,
    /// Only the linear probe (multinomial logistic regression).
    #[arg(long)]
    linear_only: bool,
    /// Number of seeds per shape.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// First seed; seeds are first, first+1, ...
    #[arg(long, default_value_t = 0)]
    first_seed: u64,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// L2 weights searched for every shape (scikit-learn's `alpha`, on weight matrices).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1e-7,1e-6,1e-5,1e-4,1e-3,1e-2,1e-1,1"
    )]
    l2: Vec<f64>,
    /// PyTorch-style Adam weight decay on every parameter, biases included (not the paper's
    /// penalty: that is --l2).
    #[arg(long, default_value_t = 0.0)]
    weight_decay: f64,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Maximum training epochs.
    #[arg(long, default_value_t = 50)]
    max_epochs: usize,
    /// Epochs without dev improvement before stopping; 0 trains all epochs (keeping the best).
    #[arg(long, default_value_t = 5)]
    patience: usize,
    /// Also train Hewitt & Liang control tasks and report selectivity (needs --*-types).
    #[arg(long, requires_all = ["train_types", "dev_types", "test_types"])]
    control: bool,
    /// Word type of each training vector (text, one per line), for --control.
    #[arg(long)]
    train_types: Option<PathBuf>,
    /// Word type of each dev vector.
    #[arg(long)]
    dev_types: Option<PathBuf>,
    /// Word type of each test vector.
    #[arg(long)]
    test_types: Option<PathBuf>,
    /// Seed of the control-label assignment.
    #[arg(long, default_value_t = 0)]
    control_seed: u64,
    /// Also measure the online codelength (MDL, Voita & Titov 2020) of the linear probe and the
    /// MLP with the best dev accuracy (and of their control tasks with --control) -> DIR/mdl.json.
    #[arg(long)]
    mdl: bool,
    /// Shapes trained concurrently, each on one core (default: all cores). Results do not
    /// depend on it.
    #[arg(long, default_value_t = 0, hide_default_value = true)]
    threads: usize,
}

/// Reads a 2-D float .npy matrix as f32 rows.
fn read_vectors(path: &Path) -> Result<(Vec<f32>, usize, usize)> {
    let m = npy::read_f32_matrix(path)?;
    Ok((m.data, m.shape[0], m.shape[1]))
}

struct SplitData {
    x: Vec<f32>,
    rows: usize,
    dim: usize,
    labels: Vec<usize>,
    types: Option<Vec<String>>,
}

fn load_split(
    name: &str,
    vectors: &Path,
    labels: &LabelFile,
    types: Option<&PathBuf>,
    vocab: &mut HashMap<String, usize>,
) -> Result<SplitData> {
    let (x, rows, dim) = read_vectors(vectors)?;
    ensure!(
        labels.names.len() == rows,
        "{name}: {} has {rows} vectors but {} has {} labels",
        vectors.display(),
        labels.path.display(),
        labels.names.len()
    );
    let labels = labels
        .names
        .iter()
        .cloned()
        .map(|l| {
            let next = vocab.len();
            *vocab.entry(l).or_insert(next)
        })
        .collect();
    let types = match types {
        Some(p) => {
            let t = read_lines(p, "word type")?;
            ensure!(
                t.len() == rows,
                "{name}: {} has {rows} vectors but {} has {} word types",
                vectors.display(),
                p.display(),
                t.len()
            );
            Some(t)
        }
        None => None,
    };
    Ok(SplitData {
        x,
        rows,
        dim,
        labels,
        types,
    })
}

/// Runs the probe grid and writes `<out>/probe.json`.
pub fn run(args: Args) -> Result<()> {
    ensure!(args.seeds > 0, "--seeds must be at least 1");
    ensure!(!args.grid.is_empty() || args.linear_only, "--grid is empty");
    if let Some(d) = args.depths.iter().find(|&&d| d > 2) {
        bail!("--depths: {d} hidden layers is not supported (use 0, 1 or 2)");
    }
    crate::outdir::check(&args.out, args.force)?;
    let types = [&args.train_types, &args.dev_types, &args.test_types];
    let types = types.map(|t| if args.control { t.as_ref() } else { None });
    // The label rule shared with `directprobe`: one kind of label file for every split; rows
    // with labels absent from train are warned about (by the probe run) and count as errors.
    let label_files =
        [&args.train_labels, &args.dev_labels, &args.test_labels].map(|p| read_label_file(p));
    let [train_y, dev_y, test_y] = label_files;
    let (train_y, dev_y, test_y) = (train_y?, dev_y?, test_y?);
    check_same_kind(&[&train_y, &dev_y, &test_y])?;
    let mut vocab = HashMap::new();
    let train = load_split("train", &args.train_vectors, &train_y, types[0], &mut vocab)?;
    let dev = load_split("dev", &args.dev_vectors, &dev_y, types[1], &mut vocab)?;
    let test = load_split("test", &args.test_vectors, &test_y, types[2], &mut vocab)?;
    for (name, s, path) in [
        ("dev", &dev, &args.dev_vectors),
        ("test", &test, &args.test_vectors),
    ] {
        ensure!(
            s.dim == train.dim,
            "{}: {name} vectors have dimension {} but train vectors have {}",
            path.display(),
            s.dim,
            train.dim
        );
    }
    let depths = if args.linear_only {
        vec![0]
    } else {
        args.depths.clone()
    };
    let cfg = ProbeConfig {
        shapes: probe::grid_shapes(&args.grid, &depths),
        seeds: (args.first_seed..args.first_seed + args.seeds).collect(),
        l2: args.l2.clone(),
        lr: args.lr,
        weight_decay: args.weight_decay,
        batch_size: args.batch_size,
        max_epochs: args.max_epochs,
        patience: (args.patience > 0).then_some(args.patience),
        control: args.control,
        control_seed: args.control_seed,
        control_reported_only: false,
        workers: args.threads,
    };
    fn rows(s: &SplitData) -> probe::Rows<'_> {
        probe::Rows {
            data: &s.x,
            rows: s.rows,
            dim: s.dim,
            labels: &s.labels,
            types: s.types.as_deref(),
        }
    }
    let (report, mdl) =
        probe::with_rows(rows(&train), rows(&dev), Some(rows(&test)), &[], |input| {
            let report = probe::run(input, &cfg)?;
            let mdl = if args.mdl {
                Some(run_mdl(input, &cfg, &report)?)
            } else {
                None
            };
            Ok((report, mdl))
        })?;
    let staging = crate::outdir::Staging::begin(&args.out, args.force)?;
    report.write_json(&staging.path().join("probe.json"))?;
    if let Some(m) = mdl {
        m.write_json(&staging.path().join("mdl.json"))?;
    }
    staging.commit()?;
    let path = args.out.join("probe.json");
    let line = |b: &probe::ShapeResult| {
        let what = if b.hidden.is_empty() {
            "best linear probe".to_string()
        } else {
            format!("best MLP {}", probe::shape_name(&b.hidden))
        };
        eprintln!(
            "{what} (l2 {:e}, selected on {}): dev {:.4} ± {:.4}, test {:.4} ± {:.4} over {} seeds",
            b.l2,
            report.selected_on,
            b.dev_mean,
            b.dev_std,
            b.test_mean.unwrap_or(f64::NAN),
            b.test_std.unwrap_or(f64::NAN),
            b.per_seed.dev.len(),
        )
    };
    line(&report.best);
    if let Some(l) = report
        .linear
        .as_ref()
        .filter(|_| !report.best.hidden.is_empty())
    {
        line(l);
    }
    eprintln!("{:.1} s -> {}", report.seconds, path.display());
    Ok(())
}

/// MDL of the linear probe and the best MLP of `report` (first on ties), when it has one.
fn run_mdl(
    input: &ProbeInput,
    cfg: &ProbeConfig,
    report: &probe::ProbeReport,
) -> Result<probe::mdl::MdlReport> {
    let shapes = probe::mdl::linear_and_best_mlp(report);
    let m = probe::mdl::online_codelength(input, cfg, &shapes, &Default::default())?;
    for s in &m.shapes {
        eprintln!(
            "MDL {}: {:.0} bits online / {:.0} uniform, compression {:.3} ± {:.3}{}",
            probe::shape_name(&s.hidden),
            s.task.online_bits,
            m.uniform_bits,
            s.task.compression,
            s.task.compression_std,
            s.control.as_ref().map_or(String::new(), |c| format!(
                " (control {:.3})",
                c.compression
            ))
        );
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("tunescope-cmd-probe-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Two labels on a line: x < 0.5 is "a"/0, x >= 0.5 is "b"/1, with a second constant column.
    fn write_split(dir: &Path, name: &str, xs: &[f32]) {
        let data: Vec<f32> = xs.iter().flat_map(|&x| [x, 1.0]).collect();
        npy::write_f32(dir.join(format!("{name}_X.npy")), &[xs.len(), 2], &data).unwrap();
        let labels: Vec<&str> = xs
            .iter()
            .map(|&x| if x < 0.5 { "a" } else { "b" })
            .collect();
        std::fs::write(dir.join(format!("{name}_y.txt")), labels.join("\n") + "\n").unwrap();
    }

    fn args(dir: &Path, extra: &[&str]) -> Args {
        let p = |f: &str| dir.join(f).display().to_string();
        let mut argv = vec!["probe".to_string()];
        for (flag, file) in [
            ("--train-vectors", "train_X.npy"),
            ("--train-labels", "train_y.txt"),
            ("--dev-vectors", "dev_X.npy"),
            ("--dev-labels", "dev_y.txt"),
            ("--test-vectors", "test_X.npy"),
            ("--test-labels", "test_y.txt"),
            ("--out", "out"),
        ] {
            argv.push(flag.into());
            argv.push(p(file));
        }
        argv.extend(extra.iter().map(|s| s.to_string()));
        Args::try_parse_from(argv).unwrap()
    }

    fn line(n: usize) -> Vec<f32> {
        (0..n).map(|i| i as f32 / n as f32).collect()
    }

    #[test]
    fn writes_probe_json_for_text_labels() {
        let dir = scratch("ok");
        for (name, n) in [("train", 40), ("dev", 20), ("test", 20)] {
            write_split(&dir, name, &line(n));
        }
        let extra = [
            "--grid",
            "4",
            "--depths",
            "0,1",
            "--seeds",
            "2",
            "--max-epochs",
            "3",
            "--l2",
            "0",
        ];
        run(args(&dir, &extra)).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/probe.json")).unwrap())
                .unwrap();
        assert_eq!(json["shapes"].as_array().unwrap().len(), 2);
        assert_eq!(json["shapes"][1]["hidden"], serde_json::json!([4]));
        assert_eq!(
            json["best"]["hidden"],
            serde_json::json!([4]),
            "an MLP is reported"
        );
        assert_eq!(json["linear"]["hidden"], serde_json::json!([]));
        assert_eq!(json["selected_on"], "dev");
        assert_eq!(json["seeds"], serde_json::json!([0, 1]));
        assert!(json["best"]["test_mean"].as_f64().unwrap() > 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn control_reports_selectivity() {
        let dir = scratch("control");
        for (name, n) in [("train", 40), ("dev", 20), ("test", 20)] {
            write_split(&dir, name, &line(n));
            let types: Vec<String> = (0..n).map(|i| format!("w{}", i % 7)).collect();
            std::fs::write(dir.join(format!("{name}_t.txt")), types.join("\n")).unwrap();
        }
        let t = |s: &str| dir.join(s).display().to_string();
        let extra = [
            "--linear-only".to_string(),
            "--max-epochs".into(),
            "2".into(),
            "--control".into(),
            "--train-types".into(),
            t("train_t.txt"),
            "--dev-types".into(),
            t("dev_t.txt"),
            "--test-types".into(),
            t("test_t.txt"),
            "--mdl".into(),
        ];
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        run(args(&dir, &extra)).unwrap();
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/probe.json")).unwrap())
                .unwrap();
        let c = &json["best"]["control"];
        let sel = c["selectivity_test"].as_f64().unwrap();
        let diff = json["best"]["test_mean"].as_f64().unwrap() - c["test_mean"].as_f64().unwrap();
        assert_eq!(sel, diff);
        let mdl: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("out/mdl.json")).unwrap())
                .unwrap();
        let linear = &mdl["shapes"][0];
        assert_eq!(linear["hidden"], serde_json::json!([]));
        assert!(linear["task"]["compression"].as_f64().unwrap() > 0.0);
        assert!(linear["control"]["online_bits"].as_f64().unwrap() > 0.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn integer_npy_labels_share_one_vocabulary() {
        let dir = scratch("npy");
        let mut vocab = HashMap::new();
        npy::write_i64(dir.join("y.npy"), &[3], &[7, 3, 7]).unwrap();
        npy::write_i64(dir.join("z.npy"), &[2], &[3, 9]).unwrap();
        npy::write_f32(dir.join("a.npy"), &[3, 1], &[0.0, 1.0, 2.0]).unwrap();
        npy::write_f32(dir.join("b.npy"), &[2, 1], &[0.0, 1.0]).unwrap();
        let ya = read_label_file(&dir.join("y.npy")).unwrap();
        let yb = read_label_file(&dir.join("z.npy")).unwrap();
        let a = load_split("train", &dir.join("a.npy"), &ya, None, &mut vocab);
        let b = load_split("dev", &dir.join("b.npy"), &yb, None, &mut vocab);
        assert_eq!(a.unwrap().labels, vec![0, 1, 0]);
        assert_eq!(b.unwrap().labels, vec![1, 2]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Integer `.npy` train labels with text dev/test labels used to give 0 % accuracy, exit 0.
    #[test]
    fn mixed_label_kinds_are_refused() {
        let dir = scratch("mixed");
        for (name, n) in [("train", 10), ("dev", 6), ("test", 6)] {
            write_split(&dir, name, &line(n));
        }
        let ints: Vec<i64> = line(10).iter().map(|&x| i64::from(x >= 0.5)).collect();
        npy::write_i64(dir.join("train_y.npy"), &[10], &ints).unwrap();
        let mut a = args(&dir, &["--linear-only"]);
        a.train_labels = dir.join("train_y.npy");
        let e = format!("{:#}", run(a).unwrap_err());
        assert!(
            e.contains("train_y.npy holds integer .npy labels but")
                && e.contains("dev_y.txt holds text labels"),
            "{e}"
        );
        assert!(!dir.join("out").exists(), "output written despite errors");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn bad_inputs_name_the_file_and_write_nothing() {
        let dir = scratch("bad");
        for (name, n) in [("train", 10), ("dev", 6), ("test", 6)] {
            write_split(&dir, name, &line(n));
        }
        std::fs::write(dir.join("dev_y.txt"), "a\n\nb\na\nb\na\n").unwrap();
        let e = format!("{:#}", run(args(&dir, &["--linear-only"])).unwrap_err());
        assert!(e.contains("dev_y.txt:2: empty line"), "{e}");

        write_split(&dir, "dev", &line(6));
        std::fs::write(dir.join("test_y.txt"), "a\nb\n").unwrap();
        let e = format!("{:#}", run(args(&dir, &["--linear-only"])).unwrap_err());
        assert!(
            e.contains("test_X.npy has 6 vectors") && e.contains("test_y.txt has 2"),
            "{e}"
        );

        write_split(&dir, "test", &line(6));
        npy::write_f32(dir.join("test_X.npy"), &[6, 3], &[0.0; 18]).unwrap();
        let e = format!("{:#}", run(args(&dir, &["--linear-only"])).unwrap_err());
        assert!(e.contains("test vectors have dimension 3"), "{e}");

        npy::write_i64(dir.join("test_X.npy"), &[6, 2], &[0; 12]).unwrap();
        let e = format!("{:#}", run(args(&dir, &["--linear-only"])).unwrap_err());
        assert!(
            e.contains("test_X.npy") && e.contains("float32 or float64"),
            "{e}"
        );
        assert!(!dir.join("out").exists(), "output written despite errors");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn control_requires_word_types() {
        let parsed = Args::try_parse_from([
            "probe",
            "--train-vectors",
            "a",
            "--train-labels",
            "b",
            "--dev-vectors",
            "c",
            "--dev-labels",
            "d",
            "--test-vectors",
            "e",
            "--test-labels",
            "f",
            "--out",
            "g",
            "--control",
        ]);
        assert!(parsed.is_err());
    }
}
