//! `tunescope directprobe`: exact DirectProbe clustering, prediction and distance summaries.

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tunescope_data::fs::write_atomic;
use tunescope_data::labels::{
    check_same_kind, read_label_file, unseen_warning, LabelFile, LabelKind,
};
use tunescope_data::npy;
use tunescope_geometry::directprobe::{self as dp, report, Points};

/// Cluster training vectors with DirectProbe and write the original tools' outputs.
#[derive(ClapArgs, Debug)]
pub struct Args {
    /// Training vectors: f32 or f64 .npy of shape [n, d].
    #[arg(long, conflicts_with_all = ["entities", "embeddings"])]
    pub train_vectors: Option<PathBuf>,
    /// Training labels: text (one per line) or integer .npy.
    #[arg(long, requires = "train_vectors")]
    pub train_labels: Option<PathBuf>,
    /// Test vectors (.npy) for nearest-cluster prediction.
    #[arg(long, requires = "test_labels")]
    pub test_vectors: Option<PathBuf>,
    /// Test labels (text or integer .npy).
    #[arg(long, requires = "test_vectors")]
    pub test_labels: Option<PathBuf>,
    /// Original layout: training entities, `entity<TAB>label` per line.
    #[arg(long, requires_all = ["embeddings", "label_set"])]
    pub entities: Option<PathBuf>,
    /// Original layout: training embeddings, one whitespace-separated vector per line.
    #[arg(long)]
    pub embeddings: Option<PathBuf>,
    /// Original layout: the label set, one label per line.
    #[arg(long)]
    pub label_set: Option<PathBuf>,
    /// Original layout: test entities.
    #[arg(long, requires_all = ["test_embeddings", "entities"])]
    pub test_entities: Option<PathBuf>,
    /// Original layout: test embeddings.
    #[arg(long, requires = "test_entities")]
    pub test_embeddings: Option<PathBuf>,
    /// Output directory. Written as a whole when complete; a non-empty directory is refused
    /// unless --force.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out directory (its previous files are removed).
    #[arg(long)]
    pub force: bool,
    /// Label metrics drop clusters with at most this many points (the fine-tuning code uses 5).
    #[arg(long, default_value_t = 5)]
    pub min_cluster_size: usize,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Labelled vectors with label indices into a shared sorted name list.
struct Split {
    points: Points,
    labels: Vec<usize>,
}

/// Raw labels: names as read.
struct RawLabels {
    names: Vec<String>,
}

/// Labels by the rule shared with `probe` (`tunescope_data::labels`).
fn read_labels(path: &Path) -> Result<LabelFile> {
    read_label_file(path)
}

fn read_vectors(path: &Path) -> Result<Points> {
    let a = npy::read_f64_matrix(path)?;
    let (n, d) = (a.shape[0], a.shape[1]);
    Points::new(a.data, n, d).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Original layout: one whitespace-separated vector per line.
fn read_text_vectors(path: &Path) -> Result<Points> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading embeddings {}", path.display()))?;
    let mut data = Vec::new();
    let mut d = 0;
    let mut n = 0;
    for (i, line) in text.lines().enumerate() {
        let mut k = 0;
        for tok in line.split_whitespace() {
            let v: f64 = tok
                .parse()
                .ok()
                .filter(|v: &f64| v.is_finite())
                .with_context(|| {
                    format!(
                        "{}:{}: '{tok}' is not a finite number",
                        path.display(),
                        i + 1
                    )
                })?;
            data.push(v);
            k += 1;
        }
        if n == 0 {
            d = k;
        }
        if k == 0 || k != d {
            bail!(
                "{}:{}: {k} values, expected {} (one vector per line, same dimension)",
                path.display(),
                i + 1,
                d.max(1)
            );
        }
        n += 1;
    }
    Points::new(data, n, d).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Original layout: `entity<TAB>label` per line; the label is the last tab-separated field.
fn read_entities(path: &Path) -> Result<RawLabels> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading entities {}", path.display()))?;
    let mut names = Vec::new();
    for (i, line) in text.lines().enumerate() {
        match line.trim_end_matches('\r').rsplit_once('\t') {
            Some((_, l)) if !l.trim().is_empty() => names.push(l.trim().to_string()),
            _ => bail!("{}:{}: expected 'entity<TAB>label'", path.display(), i + 1),
        }
    }
    Ok(RawLabels { names })
}

/// Sorted label list: numeric order for integer labels, string order otherwise.
fn sort_names(set: BTreeSet<String>, numeric: bool) -> Vec<String> {
    let mut v: Vec<String> = set.into_iter().collect();
    if numeric {
        v.sort_by_key(|s| s.parse::<i64>().unwrap_or(i64::MAX));
    }
    v
}

fn index_labels(raw: &RawLabels, names: &[String], path: &Path) -> Result<Vec<usize>> {
    raw.names
        .iter()
        .enumerate()
        .map(|(i, l)| {
            names.iter().position(|x| x == l).with_context(|| {
                format!(
                    "{}: row {} (line {}) has label '{l}', which is not in the label set",
                    path.display(),
                    i,
                    i + 1
                )
            })
        })
        .collect()
}

fn check_rows(points: &Points, labels: &[usize], vpath: &Path, lpath: &Path) -> Result<()> {
    if points.len() != labels.len() {
        bail!(
            "{} has {} vectors but {} has {} labels",
            vpath.display(),
            points.len(),
            lpath.display(),
            labels.len()
        );
    }
    if points.is_empty() {
        bail!("{}: no vectors", vpath.display());
    }
    Ok(())
}

type Loaded = (Split, Option<Split>, Vec<String>, PathBuf);

fn load(args: &Args) -> Result<Loaded> {
    if let (Some(ent), Some(emb), Some(ls)) = (&args.entities, &args.embeddings, &args.label_set) {
        let set: BTreeSet<String> = std::fs::read_to_string(ls)
            .with_context(|| format!("reading label set {}", ls.display()))?
            .lines()
            .map(|l| l.trim().to_string())
            .collect();
        let names = sort_names(set, false);
        let raw = read_entities(ent)?;
        let labels = index_labels(&raw, &names, ent)?;
        let points = read_text_vectors(emb)?;
        check_rows(&points, &labels, emb, ent)?;
        let test = match (&args.test_entities, &args.test_embeddings) {
            (Some(te), Some(tv)) => {
                let raw = read_entities(te)?;
                let labels = index_labels(&raw, &names, te)?;
                let points = read_text_vectors(tv)?;
                check_rows(&points, &labels, tv, te)?;
                Some(Split { points, labels })
            }
            _ => None,
        };
        return Ok((Split { points, labels }, test, names, ent.clone()));
    }
    let (Some(tv), Some(tl)) = (&args.train_vectors, &args.train_labels) else {
        bail!(
            "give --train-vectors and --train-labels, or --entities, --embeddings and --label-set"
        );
    };
    let train_file = read_labels(tl)?;
    let test_file = match &args.test_labels {
        Some(p) => Some(read_labels(p)?),
        None => None,
    };
    let mut set: BTreeSet<String> = train_file.names.iter().cloned().collect();
    if let Some(t) = &test_file {
        check_same_kind(&[&train_file, t])?;
        if let Some(w) = unseen_warning("test", &train_file, t) {
            tracing::warn!("{w}");
        }
        set.extend(t.names.iter().cloned());
    }
    let numeric = train_file.kind == LabelKind::Integer;
    let names = sort_names(set, numeric);
    let raw = RawLabels {
        names: train_file.names,
    };
    let test_raw = test_file.map(|t| RawLabels { names: t.names });
    let points = read_vectors(tv)?;
    let labels = index_labels(&raw, &names, tl)?;
    check_rows(&points, &labels, tv, tl)?;
    let test = match (&args.test_vectors, &args.test_labels, test_raw) {
        (Some(v), Some(l), Some(raw)) => {
            let points = read_vectors(v)?;
            let labels = index_labels(&raw, &names, l)?;
            check_rows(&points, &labels, v, l)?;
            Some(Split { points, labels })
        }
        _ => None,
    };
    Ok((Split { points, labels }, test, names, tv.clone()))
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if let Some(t) = args.threads {
        if t == 0 {
            bail!("--threads must be at least 1");
        }
        pool = pool.num_threads(t);
    }
    let pool = pool.build().context("starting the thread pool")?;
    pool.install(|| run_inner(&args))
}

fn run_inner(args: &Args) -> Result<()> {
    crate::outdir::check(&args.out, args.force)?;
    let t0 = Instant::now();
    let (mut train, mut test, names, train_path) = load(args)?;
    let dim = train.points.dim();
    if let Some(t) = &test {
        if t.points.dim() != dim {
            bail!(
                "test vectors have dimension {}, training vectors {dim}",
                t.points.dim(),
            );
        }
    }
    let t_load = t0.elapsed().as_secs_f64();

    // The span of the training vectors at their precision (docs/directprobe.md).
    let t_span = Instant::now();
    let span = dp::Span::fit(&train.points)
        .map_err(|e| anyhow::anyhow!("{}: {e}", train_path.display()))?;
    train.points = span.project(&train.points)?;
    if let Some(t) = &mut test {
        t.points = span.project(&t.points)?;
    }
    let t_span = t_span.elapsed().as_secs_f64();

    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} [{elapsed}] {msg}")
            .expect("static template"),
    );
    let last = std::sync::Mutex::new(Instant::now());
    let progress = |s: &dp::Progress| {
        let mut l = last.lock().expect("progress lock");
        if l.elapsed().as_millis() >= 100 {
            *l = Instant::now();
            bar.set_message(format!(
                "merges {} · rejected {} · active clusters {} · LP calls {}",
                s.merges, s.rejected, s.active, s.lp_calls
            ));
            bar.tick();
        }
    };
    let t1 = Instant::now();
    let clustering = dp::probe(
        &train.points,
        &train.labels,
        &dp::Options {
            progress: Some(&progress),
            ..Default::default()
        },
    )
    .map_err(|e| match e {
        dp::ProbeError::DuplicateConflict {
            first,
            second,
            first_label,
            second_label,
        } => anyhow::anyhow!(
            "{}: rows {first} and {second} (0-based; lines {} and {}) are identical vectors \
             with different labels ('{}' vs '{}'); DirectProbe cannot separate them",
            train_path.display(),
            first + 1,
            second + 1,
            names[first_label],
            names[second_label]
        ),
        other => anyhow::anyhow!("{}: {other}", train_path.display()),
    })?;
    bar.finish_and_clear();
    let t_cluster = t1.elapsed().as_secs_f64();

    let t2 = Instant::now();
    let predictions = match &test {
        Some(t) => Some(dp::predict(&train.points, &clustering, &t.points)?),
        None => None,
    };
    let t_predict = t2.elapsed().as_secs_f64();

    let t3 = Instant::now();
    let all: Vec<usize> = (0..clustering.n_clusters()).collect();
    let dists = dp::clustering_distances(&train.points, &clustering, &all)?;
    let t_dist = t3.elapsed().as_secs_f64();

    let t4 = Instant::now();
    let metrics = dp::label_metrics_with(
        &train.points,
        &clustering.clusters,
        names.len(),
        args.min_cluster_size,
        Some(&dists),
    )?;
    let t_metrics = t4.elapsed().as_secs_f64();

    let n_labels = train.labels.iter().collect::<BTreeSet<_>>().len();
    let min_distance = dists.iter().map(|c| c.distance).reduce(f64::min);
    let intra_accuracy = match (&predictions, &test) {
        (Some(p), Some(t)) => {
            let correct = p
                .iter()
                .zip(&t.labels)
                .filter(|(p, &g)| p.label() == g)
                .count();
            Some(correct as f64 / t.labels.len() as f64)
        }
        _ => None,
    };
    let positive = |v: &[f64]| v.iter().copied().filter(|&x| x > 0.0).collect::<Vec<_>>();
    let om = positive(&metrics.outside_min);
    let json = serde_json::json!({
        "n_points": train.points.len(),
        "dim": dim,
        "span_dim": train.points.dim(),
        "n_clusters": clustering.n_clusters(),
        "n_labels": n_labels,
        "linear": clustering.n_clusters() == n_labels,
        "min_distance": min_distance,
        "intra_accuracy": intra_accuracy,
        "n_test": test.as_ref().map(|t| t.labels.len()),
        "min_cluster_size": args.min_cluster_size,
        "clusters_dropped_by_size": metrics.dropped.len(),
        "global_min_dis": om.iter().copied().reduce(f64::min),
        "seconds": {
            "load": t_load,
            "span": t_span,
            "cluster": t_cluster,
            "predict": t_predict,
            "hull_distances": t_dist,
            "label_metrics": t_metrics,
            "total": t0.elapsed().as_secs_f64(),
        },
        "counters": clustering.stats,
        "threads": rayon::current_num_threads(),
    });

    let staging = crate::outdir::Staging::begin(&args.out, args.force)?;
    let out = staging.path();
    write_atomic(&out.join("clusters.txt"), report::clusters_txt(&clustering))?;
    write_atomic(
        &out.join("dis.txt"),
        report::dis_txt(&clustering, &dists, &names),
    )?;
    if let (Some(p), Some(t)) = (&predictions, &test) {
        write_atomic(
            &out.join("prediction.txt"),
            report::prediction_txt(p, &t.labels, &names),
        )?;
    }
    write_atomic(&out.join("vec.txt"), report::vec_txt(&metrics, &names))?;
    write_atomic(
        &out.join("outside_min.txt"),
        report::per_label_txt(&metrics.outside_min, &names),
    )?;
    write_atomic(
        &out.join("inside_mean.txt"),
        report::per_label_txt(&metrics.inside_mean, &names),
    )?;
    write_atomic(
        &out.join("inside_max.txt"),
        report::per_label_txt(&metrics.inside_max, &names),
    )?;
    write_atomic(
        &out.join("metrics.json"),
        &(serde_json::to_string_pretty(&json).expect("serialisable") + "\n"),
    )?;
    staging.commit()?;
    eprintln!(
        "{} clusters for {} labels ({}), {:.2} s",
        clustering.n_clusters(),
        n_labels,
        if clustering.n_clusters() == n_labels {
            "linear"
        } else {
            "not linear"
        },
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Reads `entities`, `embeddings` and `label_set` as DirectProbe's text files (original layout,
/// and `entities` also as a label file): the no-panic property in `crate::fuzz`.
#[cfg(test)]
pub(crate) fn fuzz_text_inputs(entities: &str, embeddings: &str, label_set: &str) {
    // Memory-backed /dev/shm when present: far cheaper file round trips.
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!(
        "tunescope-fuzz-dp-{}-{}",
        std::process::id(),
        format!("{:?}", std::thread::current().id()).replace(['(', ')'], "")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let files = [
        ("entities.txt", entities),
        ("embeddings.txt", embeddings),
        ("labels.txt", label_set),
    ];
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let p = |n: &str| Some(dir.join(n));
    let args = Args {
        train_vectors: None,
        train_labels: None,
        test_vectors: None,
        test_labels: None,
        entities: p("entities.txt"),
        embeddings: p("embeddings.txt"),
        label_set: p("labels.txt"),
        test_entities: p("entities.txt"),
        test_embeddings: p("embeddings.txt"),
        out: dir.join("out"),
        force: false,
        min_cluster_size: 5,
        threads: None,
    };
    let loaded = load(&args);
    let _ = read_labels(&dir.join("entities.txt"));
    let _ = read_text_vectors(&dir.join("embeddings.txt"));
    std::fs::remove_dir_all(&dir).unwrap();
    if let Ok((train, _, names, _)) = loaded {
        assert_eq!(train.points.len(), train.labels.len());
        assert!(train.labels.iter().all(|&l| l < names.len()));
    }
}
