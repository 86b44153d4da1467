//! Classifier probes on frozen vectors (paper digest §5).
//!
//! A probe family is a list of shapes — `[]` (multinomial logistic regression, "linear"), `[h1]`
//! or `[h1, h2]` (ReLU MLPs) — crossed with a grid of L2 weights (scikit-learn's `alpha`), each
//! trained with Adam on mini-batches with early stopping on dev. As in the paper (digest §12),
//! every configuration is searched with one run, the best MLP configuration on dev is the
//! reported probe (Table A's) and the best linear configuration is reported on its own; both are
//! retrained with every seed (mean ± std). Every configuration's numbers are kept. Optionally a
//! Hewitt & Liang (2019) control task is trained for the selected configurations, giving
//! selectivity = accuracy − control accuracy.
//!
//! Everything is deterministic given the seeds and the libtorch thread count: initial weights and
//! batch orders come from a seeded generator owned by this module.
//!
//! [`mdl`] measures the online codelength of the same probes (Voita & Titov 2020).

pub mod mdl;
mod train;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::Instant;
use tch::{Kind, Tensor};
use train::{Family, Job, LabelledSet, TrainOutcome, TrainSpec};

/// Training and selection settings of a probe family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeConfig {
    /// Hidden-layer sizes of each shape; `[]` is the linear probe.
    pub shapes: Vec<Vec<usize>>,
    /// One training run per seed and shape.
    pub seeds: Vec<u64>,
    /// Adam learning rate.
    pub lr: f64,
    /// L2 weights searched for every shape: scikit-learn's `alpha` (the loss gains
    /// `alpha / (2 · batch) · ‖W‖²` over the weight matrices, not the biases).
    #[serde(default = "no_l2")]
    pub l2: Vec<f64>,
    /// PyTorch-style Adam weight decay on every parameter (kept for the MDL probes; 0 in studies).
    pub weight_decay: f64,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Upper bound on training epochs.
    pub max_epochs: usize,
    /// Stop a seed after this many epochs without a dev improvement; `None` trains all epochs
    /// (the best dev epoch is still the one kept).
    pub patience: Option<usize>,
    /// Also train every shape on a control task (needs word types on every split).
    pub control: bool,
    /// Seed of the control-label assignment.
    pub control_seed: u64,
    /// With `control`: train the control task for the reported probe only (the best MLP, or
    /// the best linear probe when no MLP is searched), not also for the best linear probe. The
    /// reported probe's selectivity is the same either way; the study sets it, as Table A
    /// reads only that one.
    #[serde(default, skip_serializing_if = "is_false")]
    pub control_reported_only: bool,
    /// Worker threads training shapes concurrently (0 = all cores). Results do not depend on it.
    #[serde(default)]
    pub workers: usize,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for ProbeConfig {
    /// Linear probe plus the 16 two-hidden-layer MLPs over {32, 64, 128, 256}², each with the
    /// paper's L2 grid ([`PAPER_L2`]), 5 seeds, Adam (lr 1e-3), batch 64, at most 50 epochs,
    /// patience 5.
    fn default() -> Self {
        ProbeConfig {
            shapes: grid_shapes(&PAPER_SIZES, &[0, 2]),
            l2: PAPER_L2.to_vec(),
            seeds: (0..5).collect(),
            lr: 1e-3,
            weight_decay: 0.0,
            batch_size: 64,
            max_epochs: 50,
            patience: Some(5),
            control: false,
            control_seed: 0,
            control_reported_only: false,
            workers: 0,
        }
    }
}

/// The hidden sizes the paper searches for each of the two layers.
pub const PAPER_SIZES: [usize; 4] = [32, 64, 128, 256];

/// The L2 weights (scikit-learn's `alpha`) the paper searches, 1e-7 … 1: the powers of ten.
pub const PAPER_L2: [f64; 8] = [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0];

fn no_l2() -> Vec<f64> {
    vec![0.0]
}

/// All shapes with the given numbers of hidden layers (0, 1 or 2) over `sizes`: depth 0 is the
/// linear probe, depth 1 each `[h]`, depth 2 each pair `[h1, h2]` (h1 outer).
pub fn grid_shapes(sizes: &[usize], depths: &[usize]) -> Vec<Vec<usize>> {
    let mut shapes = Vec::new();
    for &depth in depths {
        match depth {
            0 => shapes.push(Vec::new()),
            1 => shapes.extend(sizes.iter().map(|&h| vec![h])),
            _ => {
                for &h1 in sizes {
                    shapes.extend(sizes.iter().map(|&h2| vec![h1, h2]));
                }
            }
        }
    }
    shapes
}

/// One split: vectors `[n, d]` (any float kind), a label index per row and optionally a type key
/// per row (e.g. the word form) for the control task.
pub struct Split<'a> {
    /// Vectors, one row per unit.
    pub x: &'a Tensor,
    /// Label indices into the caller's label vocabulary.
    pub labels: &'a [usize],
    /// Word type of each row; required on every split when the control task is enabled.
    pub types: Option<&'a [String]>,
}

/// An extra evaluation set whose accuracy is recorded after every epoch.
pub struct CurveSet<'a> {
    /// Key of the curve in [`ShapeResult::curves`].
    pub name: String,
    /// Vectors `[n, d]`.
    pub x: &'a Tensor,
    /// Label indices (same vocabulary as training).
    pub labels: &'a [usize],
}

/// The data of one probe family.
pub struct ProbeInput<'a> {
    /// Training split.
    pub train: Split<'a>,
    /// Early stopping and shape selection split.
    pub dev: Split<'a>,
    /// Held-out split reported for the selected shape.
    pub test: Option<Split<'a>>,
    /// Per-epoch accuracy curves (e.g. subtrain / subtest / test for the memorisation study).
    pub curves: Vec<CurveSet<'a>>,
}

/// One split as flat row-major `f32` vectors: what the study, `tunescope compare` and
/// `tunescope probe` hold before the probes see a tensor.
#[derive(Debug, Clone, Copy)]
pub struct Rows<'a> {
    /// Row-major values, `rows × dim`.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Dimension of each row.
    pub dim: usize,
    /// Label index of each row.
    pub labels: &'a [usize],
    /// Word type of each row (control task).
    pub types: Option<&'a [String]>,
}

/// Calls `f` with the [`ProbeInput`] of flat train/dev/(test) rows and named curve sets: the one
/// place that turns rows into tensors.
pub fn with_rows<T>(
    train: Rows,
    dev: Rows,
    test: Option<Rows>,
    curves: &[(&str, Rows)],
    f: impl FnOnce(&ProbeInput) -> Result<T>,
) -> Result<T> {
    let x = |r: &Rows| matrix(r.data, r.rows, r.dim);
    let (tx, dx) = (x(&train)?, x(&dev)?);
    let sx = test.as_ref().map(x).transpose()?;
    let cx = curves
        .iter()
        .map(|(_, r)| x(r))
        .collect::<Result<Vec<_>>>()?;
    let input = ProbeInput {
        train: Split {
            x: &tx,
            labels: train.labels,
            types: train.types,
        },
        dev: Split {
            x: &dx,
            labels: dev.labels,
            types: dev.types,
        },
        test: test.as_ref().zip(sx.as_ref()).map(|(r, x)| Split {
            x,
            labels: r.labels,
            types: r.types,
        }),
        curves: curves
            .iter()
            .zip(&cx)
            .map(|((name, r), x)| CurveSet {
                name: name.to_string(),
                x,
                labels: r.labels,
            })
            .collect(),
    };
    f(&input)
}

/// [`run`] on flat rows (see [`with_rows`]).
pub fn run_rows(
    train: Rows,
    dev: Rows,
    test: Option<Rows>,
    curves: &[(&str, Rows)],
    cfg: &ProbeConfig,
) -> Result<ProbeReport> {
    with_rows(train, dev, test, curves, |input| run(input, cfg))
}

/// Per-seed numbers of one shape, in seed order (accuracies as fractions).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PerSeed {
    /// Training accuracy of the kept (best-dev) weights.
    pub train: Vec<f64>,
    /// Dev accuracy of the kept weights.
    pub dev: Vec<f64>,
    /// Test accuracy of the kept weights, when a test split was given.
    pub test: Option<Vec<f64>>,
    /// 1-based epoch of the kept weights.
    pub best_epoch: Vec<usize>,
    /// Epochs trained before early stopping.
    pub epochs: Vec<usize>,
}

/// Control-task results of one shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlResult {
    /// Mean control dev accuracy.
    pub dev_mean: f64,
    /// Sample standard deviation of control dev accuracy.
    pub dev_std: f64,
    /// Mean control test accuracy.
    pub test_mean: Option<f64>,
    /// Sample standard deviation of control test accuracy.
    pub test_std: Option<f64>,
    /// Mean control training accuracy.
    pub train_mean: f64,
    /// Task dev accuracy minus control dev accuracy (means).
    pub selectivity_dev: f64,
    /// Task test accuracy minus control test accuracy (means).
    pub selectivity_test: Option<f64>,
    /// Per-seed control numbers.
    pub per_seed: PerSeed,
}

/// Results of one probe shape over all seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeResult {
    /// Hidden-layer sizes; `[]` is the linear probe.
    pub hidden: Vec<usize>,
    /// L2 weight (scikit-learn's `alpha`).
    #[serde(default)]
    pub l2: f64,
    /// Mean dev accuracy over seeds (the selection criterion: of the first seed's run).
    pub dev_mean: f64,
    /// Sample standard deviation of dev accuracy over seeds.
    pub dev_std: f64,
    /// Mean test accuracy over seeds.
    pub test_mean: Option<f64>,
    /// Sample standard deviation of test accuracy over seeds.
    pub test_std: Option<f64>,
    /// Mean training accuracy over seeds.
    pub train_mean: f64,
    /// Per-seed numbers.
    pub per_seed: PerSeed,
    /// Control task, when enabled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub control: Option<ControlResult>,
    /// Per curve set: per seed, accuracy after each epoch trained.
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub curves: BTreeMap<String, Vec<Vec<f64>>>,
    /// Wall time of this shape (task and control), in seconds.
    pub seconds: f64,
}

/// Rows of an evaluation split whose label never occurs in train (always counted as errors).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unseen {
    /// In dev.
    pub dev: usize,
    /// In test.
    pub test: usize,
}

/// Everything a probe family run produced; serialises to `probe.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// Every configuration: shapes in configuration order, each with every L2 weight in order.
    /// Only the selected configurations (`best`, `linear`) carry more than one seed.
    pub shapes: Vec<ShapeResult>,
    /// The reported probe (Table A's): the MLP configuration with the best dev accuracy of the
    /// search run (first on ties), retrained with every seed; the best linear configuration
    /// when the family has no MLP.
    pub best: ShapeResult,
    /// Index of `best` in `shapes`.
    pub best_index: usize,
    /// The linear configuration with the best dev accuracy, retrained with every seed; `None`
    /// when the family has no linear probe.
    #[serde(default)]
    pub linear: Option<ShapeResult>,
    /// The split that selects configurations (`dev`).
    #[serde(default)]
    pub selected_on: String,
    /// Seeds trained per shape.
    pub seeds: Vec<u64>,
    /// Total wall time in seconds.
    pub seconds: f64,
    /// Number of distinct labels in train (the probes' output size).
    pub train_labels: usize,
    /// Evaluation rows with labels absent from train.
    pub unseen: Unseen,
    /// Settings used.
    pub config: ProbeConfig,
}

impl ProbeReport {
    /// Writes the report as pretty JSON, atomically (temporary file, then rename).
    pub fn write_json(&self, path: &Path) -> Result<()> {
        write_json_atomic(self, path, "the probe report")
    }
}

/// Writes `value` as pretty JSON to `path` atomically (temporary file, then rename).
pub(crate) fn write_json_atomic(value: &impl Serialize, path: &Path, what: &str) -> Result<()> {
    let json =
        serde_json::to_string_pretty(value).with_context(|| format!("serialising {what}"))?;
    tunescope_data::fs::write_atomic(path, json + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

/// A `[rows, cols]` f32 matrix tensor from row-major data.
pub fn matrix(data: &[f32], rows: usize, cols: usize) -> Result<Tensor> {
    ensure!(
        data.len() == rows * cols,
        "matrix of {rows} x {cols} needs {} values, got {}",
        rows * cols,
        data.len()
    );
    Ok(Tensor::from_slice(data).view([rows as i64, cols as i64]))
}

/// Mean and sample (n − 1) standard deviation; the deviation of one value is 0.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

fn check_config(cfg: &ProbeConfig) -> Result<()> {
    ensure!(!cfg.shapes.is_empty(), "probe config: no shapes to train");
    ensure!(
        cfg.shapes.iter().flatten().all(|&h| h > 0),
        "probe config: hidden sizes must be positive"
    );
    ensure!(!cfg.seeds.is_empty(), "probe config: no seeds");
    ensure!(
        !cfg.l2.is_empty() && cfg.l2.iter().all(|a| a.is_finite() && *a >= 0.0),
        "probe config: L2 weights must be a non-empty list of values ≥ 0, got {:?}",
        cfg.l2
    );
    ensure!(
        cfg.batch_size > 0,
        "probe config: batch size must be positive"
    );
    ensure!(
        cfg.max_epochs > 0,
        "probe config: max epochs must be positive"
    );
    ensure!(
        cfg.lr.is_finite() && cfg.lr > 0.0,
        "probe config: learning rate must be positive, got {}",
        cfg.lr
    );
    ensure!(
        cfg.weight_decay.is_finite() && cfg.weight_decay >= 0.0,
        "probe config: weight decay must be non-negative, got {}",
        cfg.weight_decay
    );
    Ok(())
}

/// Validates a matrix and returns it as a contiguous f32 CPU tensor.
fn prepare_x(name: &str, x: &Tensor, rows: usize, dim: Option<i64>) -> Result<Tensor> {
    let size = x.size();
    ensure!(
        size.len() == 2,
        "{name}: vectors must be a 2-D matrix [rows, dim], got shape {size:?}"
    );
    ensure!(
        matches!(
            x.kind(),
            Kind::Float | Kind::Double | Kind::Half | Kind::BFloat16
        ),
        "{name}: vectors must be floating point, got {:?}",
        x.kind()
    );
    ensure!(
        size[0] as usize == rows,
        "{name}: {} vectors but {rows} labels",
        size[0]
    );
    if let Some(d) = dim {
        ensure!(
            size[1] == d,
            "{name}: vectors have dimension {} but train vectors have {d}",
            size[1]
        );
    }
    let x = x
        .to_device(tch::Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous();
    if rows > 0 && !bool::try_from(x.isfinite().all())? {
        bail!("{name}: vectors contain NaN or infinite values");
    }
    Ok(x)
}

/// The probe's classes: the labels present in train, numbered in ascending label order.
fn train_classes(labels: &[usize]) -> HashMap<usize, i64> {
    let present: BTreeSet<usize> = labels.iter().copied().collect();
    present
        .into_iter()
        .enumerate()
        .map(|(i, l)| (l, i as i64))
        .collect()
}

/// Maps caller label indices onto the probe's classes (those present in train), `-1` if absent.
fn map_labels(classes: &HashMap<usize, i64>, labels: &[usize]) -> (Tensor, usize) {
    let mapped: Vec<i64> = labels
        .iter()
        .map(|l| classes.get(l).copied().unwrap_or(-1))
        .collect();
    let unseen = mapped.iter().filter(|&&c| c < 0).count();
    (Tensor::from_slice(&mapped), unseen)
}

/// Hewitt & Liang control labels: every type gets a class drawn from the empirical train label
/// distribution, fixed across splits. Returns the control classes of each split in order.
fn control_classes(
    seed: u64,
    train_classes: &[i64],
    n_classes: usize,
    splits: &[&[String]],
) -> Vec<Vec<i64>> {
    let mut counts = vec![0usize; n_classes];
    for &c in train_classes {
        counts[c as usize] += 1;
    }
    let types: BTreeSet<&str> = splits
        .iter()
        .flat_map(|s| s.iter().map(String::as_str))
        .collect();
    let mut rng = tunescope_data::rng::SplitMix64::stream(&[0xC047_2011_u64, seed]);
    let total = train_classes.len() as u64;
    let assignment: HashMap<&str, i64> = types
        .into_iter()
        .map(|t| {
            let mut r = rng.below(total as usize) as u64;
            let class = counts
                .iter()
                .position(|&c| {
                    if r < c as u64 {
                        true
                    } else {
                        r -= c as u64;
                        false
                    }
                })
                .expect("draw below the total count");
            (t, class as i64)
        })
        .collect();
    splits
        .iter()
        .map(|s| s.iter().map(|t| assignment[t.as_str()]).collect())
        .collect()
}

/// Trains and evaluates every configuration (shape × L2 weight) of `cfg` on `input` as the paper
/// does (digest §12): each configuration is trained once with the first seed, the best MLP and
/// the best linear probe are selected by dev accuracy, and each selected configuration is
/// retrained with the remaining seeds (mean ± std over all of them). The control task, when
/// enabled, is trained for the selected configurations only (with
/// [`ProbeConfig::control_reported_only`], for the reported one only).
///
/// Labels of dev/test rows that train lacks can never be predicted; they count as errors and are
/// reported in [`ProbeReport::unseen`] (and logged as a warning).
pub fn run(input: &ProbeInput, cfg: &ProbeConfig) -> Result<ProbeReport> {
    let started = Instant::now();
    check_config(cfg)?;
    let tr = &input.train;
    ensure!(!tr.labels.is_empty(), "train split is empty");
    ensure!(!input.dev.labels.is_empty(), "dev split is empty");
    let train_x = prepare_x("train", tr.x, tr.labels.len(), None)?;
    let dim = Some(train_x.size()[1]);
    let dev_x = prepare_x("dev", input.dev.x, input.dev.labels.len(), dim)?;
    let test_x = match &input.test {
        Some(t) => Some(prepare_x("test", t.x, t.labels.len(), dim)?),
        None => None,
    };

    let classes = train_classes(tr.labels);
    let n_classes = classes.len();
    let train_y: Vec<i64> = tr.labels.iter().map(|l| classes[l]).collect();
    let (dev_y, unseen_dev) = map_labels(&classes, input.dev.labels);
    let (test_y, unseen_test) = match &input.test {
        Some(t) => {
            let (y, u) = map_labels(&classes, t.labels);
            (Some(y), u)
        }
        None => (None, 0),
    };
    for (name, count, total) in [
        ("dev", unseen_dev, input.dev.labels.len()),
        (
            "test",
            unseen_test,
            input.test.as_ref().map_or(0, |t| t.labels.len()),
        ),
    ] {
        if count > 0 {
            tracing::warn!(
                "{count} of {total} {name} rows have labels absent from train; counted as errors"
            );
        }
    }

    let mut curve_sets = Vec::with_capacity(input.curves.len());
    for c in &input.curves {
        let x = prepare_x(&format!("curve set '{}'", c.name), c.x, c.labels.len(), dim)?;
        curve_sets.push(LabelledSet {
            x,
            y: map_labels(&classes, c.labels).0,
        });
    }
    let set = |x: &Tensor, y: Tensor| LabelledSet {
        x: x.shallow_clone(),
        y,
    };
    let mut families = vec![Family {
        train: set(&train_x, Tensor::from_slice(&train_y)),
        dev: set(&dev_x, dev_y),
        test: test_x.as_ref().zip(test_y).map(|(x, y)| set(x, y)),
        curves: curve_sets,
    }];
    if cfg.control {
        let types_of = |name: &str, s: &Split<'_>| -> Result<Vec<String>> {
            let t = s.types.with_context(|| {
                format!("the control task needs word types for the {name} split")
            })?;
            ensure!(
                t.len() == s.labels.len(),
                "{name}: {} word types but {} labels",
                t.len(),
                s.labels.len()
            );
            Ok(t.to_vec())
        };
        let mut splits = vec![types_of("train", tr)?, types_of("dev", &input.dev)?];
        if let Some(t) = &input.test {
            splits.push(types_of("test", t)?);
        }
        let refs: Vec<&[String]> = splits.iter().map(Vec::as_slice).collect();
        let ys = control_classes(cfg.control_seed, &train_y, n_classes, &refs);
        families.push(Family {
            train: set(&train_x, Tensor::from_slice(&ys[0])),
            dev: set(&dev_x, Tensor::from_slice(&ys[1])),
            test: test_x.as_ref().map(|x| set(x, Tensor::from_slice(&ys[2]))),
            curves: Vec::new(),
        });
    }

    let workers = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let spec = |hidden, seeds, l2: Vec<f64>, family: usize| Job {
        spec: TrainSpec {
            hidden,
            seeds,
            l2,
            n_classes,
            lr: cfg.lr,
            weight_decay: cfg.weight_decay,
            batch_size: cfg.batch_size,
            max_epochs: cfg.max_epochs,
            patience: cfg.patience,
            stream: family as u64,
        },
        family,
    };

    // Search: every shape once (the first seed) for every L2 weight, stacked in one job.
    let search_seeds = vec![cfg.seeds[0]; cfg.l2.len()];
    let jobs: Vec<Job> = cfg
        .shapes
        .iter()
        .map(|hidden| spec(hidden, &search_seeds, cfg.l2.clone(), 0))
        .collect();
    let searched = train::run_jobs(&jobs, &families, workers);
    let mut runs: Vec<Runs> = Vec::with_capacity(cfg.shapes.len() * cfg.l2.len());
    let mut seconds: Vec<f64> = Vec::with_capacity(runs.capacity());
    for (outcome, secs) in &searched {
        for k in 0..cfg.l2.len() {
            runs.push(Runs::position(outcome, k));
            seconds.push(secs / cfg.l2.len() as f64);
        }
    }
    let config_of = |i: usize| (&cfg.shapes[i / cfg.l2.len()], cfg.l2[i % cfg.l2.len()]);
    let select = |linear: bool| {
        (0..runs.len())
            .filter(|&i| config_of(i).0.is_empty() == linear)
            .fold(None, |best: Option<usize>, i| match best {
                Some(b) if runs[b].dev[0] >= runs[i].dev[0] => Some(b),
                _ => Some(i),
            })
    };
    let (best_mlp, best_linear) = (select(false), select(true));
    let chosen: Vec<usize> = best_mlp.iter().chain(&best_linear).copied().collect();
    let reported = best_mlp.or(best_linear);

    // Retraining: the chosen configurations with the remaining seeds (and the control task
    // with every seed); the first seed's run is the search run itself.
    let mut jobs = Vec::new();
    let mut targets = Vec::new();
    let rest = &cfg.seeds[1..];
    for &i in &chosen {
        let (hidden, l2) = config_of(i);
        if !rest.is_empty() {
            jobs.push(spec(hidden, rest, vec![l2; rest.len()], 0));
            targets.push((i, false));
        }
        if cfg.control && (!cfg.control_reported_only || Some(i) == reported) {
            jobs.push(spec(hidden, &cfg.seeds, vec![l2; cfg.seeds.len()], 1));
            targets.push((i, true));
        }
    }
    let mut controls: HashMap<usize, Runs> = HashMap::new();
    for ((outcome, secs), (i, control)) in train::run_jobs(&jobs, &families, workers)
        .into_iter()
        .zip(targets)
    {
        seconds[i] += secs;
        if control {
            controls.insert(i, Runs::all(&outcome));
        } else {
            runs[i].append(&outcome);
        }
    }

    let shapes: Vec<ShapeResult> = runs
        .iter()
        .enumerate()
        .map(|(i, task)| {
            let (hidden, l2) = config_of(i);
            let (dev_mean, dev_std) = mean_std(&task.dev);
            let test_stats = task.test.as_deref().map(mean_std);
            let control = controls.get(&i).map(|c| {
                let (cdev_mean, cdev_std) = mean_std(&c.dev);
                let ctest_stats = c.test.as_deref().map(mean_std);
                ControlResult {
                    dev_mean: cdev_mean,
                    dev_std: cdev_std,
                    test_mean: ctest_stats.map(|s| s.0),
                    test_std: ctest_stats.map(|s| s.1),
                    train_mean: mean_std(&c.train).0,
                    selectivity_dev: dev_mean - cdev_mean,
                    selectivity_test: test_stats.zip(ctest_stats).map(|(t, c)| t.0 - c.0),
                    per_seed: c.per_seed(),
                }
            });
            let result = ShapeResult {
                hidden: hidden.clone(),
                l2,
                dev_mean,
                dev_std,
                test_mean: test_stats.map(|s| s.0),
                test_std: test_stats.map(|s| s.1),
                train_mean: mean_std(&task.train).0,
                per_seed: task.per_seed(),
                control,
                curves: input
                    .curves
                    .iter()
                    .zip(&task.curves)
                    .map(|(c, v)| (c.name.clone(), v.clone()))
                    .collect(),
                seconds: seconds[i],
            };
            tracing::info!(
                "probe {} l2 {:e}: dev {:.4} ± {:.4} over {} seed(s), {:.1} s",
                shape_name(&result.hidden),
                result.l2,
                result.dev_mean,
                result.dev_std,
                result.per_seed.dev.len(),
                result.seconds
            );
            result
        })
        .collect();
    let best_index = reported.expect("at least one configuration");
    Ok(ProbeReport {
        best: shapes[best_index].clone(),
        best_index,
        linear: best_linear.map(|i| shapes[i].clone()),
        selected_on: "dev".into(),
        shapes,
        seeds: cfg.seeds.clone(),
        seconds: started.elapsed().as_secs_f64(),
        train_labels: n_classes,
        unseen: Unseen {
            dev: unseen_dev,
            test: unseen_test,
        },
        config: cfg.clone(),
    })
}

/// `linear` for the linear probe (no hidden layer), else `(h1, h2)`, e.g. `(256, 64)`.
pub fn shape_name(hidden: &[usize]) -> String {
    if hidden.is_empty() {
        "linear".into()
    } else {
        let sizes: Vec<String> = hidden.iter().map(usize::to_string).collect();
        format!("({})", sizes.join(", "))
    }
}

/// Per-seed outcomes of one configuration (some stack positions of training runs).
struct Runs {
    train: Vec<f64>,
    dev: Vec<f64>,
    test: Option<Vec<f64>>,
    best_epoch: Vec<usize>,
    epochs: Vec<usize>,
    curves: Vec<Vec<Vec<f64>>>,
}

impl Runs {
    /// Stack position `k` of `o`.
    fn position(o: &TrainOutcome, k: usize) -> Runs {
        Runs {
            train: vec![o.train[k]],
            dev: vec![o.dev[k]],
            test: o.test.as_ref().map(|t| vec![t[k]]),
            best_epoch: vec![o.best_epoch[k]],
            epochs: vec![o.epochs[k]],
            curves: o.curves.iter().map(|c| vec![c[k].clone()]).collect(),
        }
    }

    /// Every stack position of `o`.
    fn all(o: &TrainOutcome) -> Runs {
        Runs {
            train: o.train.clone(),
            dev: o.dev.clone(),
            test: o.test.clone(),
            best_epoch: o.best_epoch.clone(),
            epochs: o.epochs.clone(),
            curves: o.curves.clone(),
        }
    }

    /// Appends every stack position of `o` (later seeds of the same configuration).
    fn append(&mut self, o: &TrainOutcome) {
        self.train.extend(&o.train);
        self.dev.extend(&o.dev);
        if let (Some(t), Some(more)) = (&mut self.test, &o.test) {
            t.extend(more);
        }
        self.best_epoch.extend(&o.best_epoch);
        self.epochs.extend(&o.epochs);
        for (c, more) in self.curves.iter_mut().zip(&o.curves) {
            c.extend(more.iter().cloned());
        }
    }

    fn per_seed(&self) -> PerSeed {
        PerSeed {
            train: self.train.clone(),
            dev: self.dev.clone(),
            test: self.test.clone(),
            best_epoch: self.best_epoch.clone(),
            epochs: self.epochs.clone(),
        }
    }
}
