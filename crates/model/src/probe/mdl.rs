//! Minimum description length probing (Voita & Titov 2020, online code).
//!
//! The training rows, in a seeded random order, are cut at the block boundaries
//! `t_k = ⌊f_k·n/100⌋` for the fractions `f_k` (default 0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25,
//! 12.5, 25, 50, 100 %; zero and repeated boundaries are dropped). The first block is sent with
//! the uniform code (`t_1·log₂K` bits for `K` classes); every later block `(t_k, t_{k+1}]` costs
//! its cross-entropy in bits, `Σ −log₂ p(y|x)`, under a probe trained from scratch on the first
//! `t_k` rows (same optimiser, epochs and early stopping on dev as the accuracy probes). The
//! online codelength is the sum; the uniform codelength is `n·log₂K`; `compression` is their
//! ratio (1 for a probe that learns nothing, larger when the labels are easy to extract).

use super::train::{forward, run_jobs, Family, Job, LabelledSet, TrainSpec};
use super::{
    control_classes, map_labels, mean_std, prepare_x, train_classes, ProbeConfig, ProbeInput,
};
use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Block fractions (percent of train) of Voita & Titov (2020).
pub const VOITA_TITOV_FRACTIONS: [f64; 11] =
    [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.25, 12.5, 25.0, 50.0, 100.0];

/// Settings of [`online_codelength`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdlSettings {
    /// Increasing block boundaries in percent of train; the last must be 100.
    pub fractions: Vec<f64>,
    /// Seed of the order in which training rows are transmitted.
    pub order_seed: u64,
}

impl Default for MdlSettings {
    /// [`VOITA_TITOV_FRACTIONS`], order seed 0.
    fn default() -> Self {
        MdlSettings {
            fractions: VOITA_TITOV_FRACTIONS.to_vec(),
            order_seed: 0,
        }
    }
}

/// Codelengths of one shape on one label set, over the probe seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Codelength {
    /// Mean online codelength in bits.
    pub online_bits: f64,
    /// Sample standard deviation of the online codelength over seeds.
    pub online_bits_std: f64,
    /// Mean of `uniform_bits / online_bits` over seeds.
    pub compression: f64,
    /// Sample standard deviation of the compression over seeds.
    pub compression_std: f64,
    /// Online codelength of each seed.
    pub per_seed_bits: Vec<f64>,
    /// Bits of each block after the first (`boundaries[k]..boundaries[k+1]`), per seed.
    pub block_bits: Vec<Vec<f64>>,
}

/// MDL results of one probe shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdlShape {
    /// Hidden-layer sizes; `[]` is the linear probe.
    pub hidden: Vec<usize>,
    /// On the task labels.
    pub task: Codelength,
    /// On the control task, when enabled.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub control: Option<Codelength>,
}

/// Everything [`online_codelength`] measured; serialises to `mdl.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MdlReport {
    /// Training rows transmitted.
    pub rows: usize,
    /// Classes `K` (labels present in train).
    pub classes: usize,
    /// `rows·log₂K`.
    pub uniform_bits: f64,
    /// Block ends `t_1 < t_2 < … < t_m = rows`.
    pub boundaries: Vec<usize>,
    /// Shapes in the order asked for.
    pub shapes: Vec<MdlShape>,
    /// Probe seeds.
    pub seeds: Vec<u64>,
    /// Settings used.
    pub settings: MdlSettings,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// The shapes MDL measures for a finished probe family: the linear probe and the chosen MLP
/// (`report.best`), when the family chose one.
pub fn linear_and_best_mlp(report: &super::ProbeReport) -> Vec<Vec<usize>> {
    let mut shapes = vec![Vec::new()];
    if !report.best.hidden.is_empty() {
        shapes.push(report.best.hidden.clone());
    }
    shapes
}

/// Block ends for `n` rows: `⌊f·n/100⌋` for each fraction, zeros and repeats dropped.
pub fn block_boundaries(n: usize, fractions: &[f64]) -> Result<Vec<usize>> {
    ensure!(!fractions.is_empty(), "MDL: no block fractions");
    ensure!(
        fractions.windows(2).all(|w| w[0] < w[1]) && fractions[0] > 0.0,
        "MDL: block fractions must be positive and increasing, got {fractions:?}"
    );
    ensure!(
        fractions[fractions.len() - 1] == 100.0,
        "MDL: the last block fraction must be 100 (%), got {fractions:?}"
    );
    let mut out: Vec<usize> = Vec::with_capacity(fractions.len());
    for &f in fractions {
        let t = ((f * n as f64 / 100.0).floor() as usize).min(n);
        if t > 0 && out.last() != Some(&t) {
            out.push(t);
        }
    }
    ensure!(
        out.len() >= 2,
        "MDL: {n} training rows give fewer than two blocks"
    );
    Ok(out)
}

/// `Σ −log₂ p(y|x)` per seed of the stacked probe `weights` on `set`.
fn bits(weights: &[(Tensor, Tensor)], set: &LabelledSet) -> Vec<f64> {
    let _guard = tch::no_grad_guard();
    let logp = forward(weights, &set.x).log_softmax(-1, Kind::Double);
    let s = logp.size()[0];
    let index = set.y.view([1, -1, 1]).expand([s, -1, 1], false);
    let nll = -logp
        .gather(2, &index, false)
        .sum_dim_intlist(1, false, Kind::Double);
    Vec::<f64>::try_from(nll.view([-1]))
        .expect("f64 codelengths")
        .into_iter()
        .map(|v| v / std::f64::consts::LN_2)
        .collect()
}

/// Online and uniform codelengths (Voita & Titov 2020) of every shape in `shapes` on the task
/// labels of `input.train`, and on the control task when `cfg.control` is set, trained with
/// `cfg`'s seeds, optimiser and early stopping on `input.dev`. Training runs in parallel on
/// `cfg.workers` threads; results do not depend on it.
pub fn online_codelength(
    input: &ProbeInput,
    cfg: &ProbeConfig,
    shapes: &[Vec<usize>],
    settings: &MdlSettings,
) -> Result<MdlReport> {
    let started = Instant::now();
    super::check_config(cfg)?;
    ensure!(!shapes.is_empty(), "MDL: no shapes");
    let tr = &input.train;
    let n = tr.labels.len();
    let boundaries = block_boundaries(n, &settings.fractions)?;
    let train_x = prepare_x("train", tr.x, n, None)?;
    let dim = Some(train_x.size()[1]);
    let dev_x = prepare_x("dev", input.dev.x, input.dev.labels.len(), dim)?;
    let classes = train_classes(tr.labels);
    let k = classes.len();
    ensure!(k >= 2, "MDL needs at least two classes in train, got {k}");
    let train_y: Vec<i64> = tr.labels.iter().map(|l| classes[l]).collect();
    let dev_y = map_labels(&classes, input.dev.labels).0;

    let mut label_sets = vec![(train_y.clone(), dev_y)];
    if cfg.control {
        let mut splits = vec![
            tr.types
                .context("the control task needs train word types")?,
            input
                .dev
                .types
                .context("the control task needs dev word types")?,
        ];
        if let Some(t) = &input.test {
            splits.push(t.types.context("the control task needs test word types")?);
        }
        let ys = control_classes(cfg.control_seed, &train_y, k, &splits);
        label_sets.push((ys[0].clone(), Tensor::from_slice(&ys[1])));
    }

    // Transmission order and the rows of each prefix / block.
    let mut order: Vec<i64> = (0..n as i64).collect();
    tunescope_data::rng::SplitMix64::stream(&[0x4D44_4C00, settings.order_seed])
        .shuffle(&mut order);
    let order_t = Tensor::from_slice(&order);
    let x_sorted = train_x.index_select(0, &order_t);
    let mut families = Vec::new();
    let mut blocks = Vec::new();
    for (ys, dev_y) in &label_sets {
        let y_sorted: Vec<i64> = order.iter().map(|&i| ys[i as usize]).collect();
        let y_t = Tensor::from_slice(&y_sorted);
        let mut family_blocks = Vec::new();
        for w in boundaries.windows(2) {
            let (t, next) = (w[0] as i64, w[1] as i64);
            families.push(Family {
                train: LabelledSet {
                    x: x_sorted.narrow(0, 0, t),
                    y: y_t.narrow(0, 0, t),
                },
                dev: LabelledSet {
                    x: dev_x.shallow_clone(),
                    y: dev_y.shallow_clone(),
                },
                test: None,
                curves: Vec::new(),
            });
            family_blocks.push(LabelledSet {
                x: x_sorted.narrow(0, t, next - t),
                y: y_t.narrow(0, t, next - t),
            });
        }
        blocks.push(family_blocks);
    }
    let per_set = boundaries.len() - 1;
    let jobs: Vec<Job> = shapes
        .iter()
        .flat_map(|hidden| (0..families.len()).map(move |f| (hidden, f)))
        .map(|(hidden, family)| Job {
            spec: TrainSpec {
                hidden,
                seeds: &cfg.seeds,
                l2: vec![0.0; cfg.seeds.len()],
                n_classes: k,
                lr: cfg.lr,
                weight_decay: cfg.weight_decay,
                batch_size: cfg.batch_size,
                max_epochs: cfg.max_epochs,
                patience: cfg.patience,
                stream: 0x4D44_4C00 + family as u64,
            },
            family,
        })
        .collect();
    let workers = match cfg.workers {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        w => w,
    };
    let outcomes = run_jobs(&jobs, &families, workers);

    let uniform_bits = n as f64 * (k as f64).log2();
    let first_bits = boundaries[0] as f64 * (k as f64).log2();
    let mut out = Vec::with_capacity(shapes.len());
    for (s, hidden) in shapes.iter().enumerate() {
        let mut lengths = Vec::with_capacity(label_sets.len());
        for (set, set_blocks) in blocks.iter().enumerate() {
            let block_bits: Vec<Vec<f64>> = (0..per_set)
                .map(|b| {
                    let outcome = &outcomes[s * families.len() + set * per_set + b].0;
                    bits(&outcome.weights, &set_blocks[b])
                })
                .collect();
            let per_seed_bits: Vec<f64> = (0..cfg.seeds.len())
                .map(|i| first_bits + block_bits.iter().map(|b| b[i]).sum::<f64>())
                .collect();
            let (online_bits, online_bits_std) = mean_std(&per_seed_bits);
            let ratios: Vec<f64> = per_seed_bits.iter().map(|b| uniform_bits / b).collect();
            let (compression, compression_std) = mean_std(&ratios);
            lengths.push(Codelength {
                online_bits,
                online_bits_std,
                compression,
                compression_std,
                per_seed_bits,
                block_bits,
            });
        }
        let mut lengths = lengths.into_iter();
        let task = lengths.next().expect("task codelength");
        tracing::info!(
            "MDL {}: {:.0} bits online vs {:.0} uniform, compression {:.3}",
            super::shape_name(hidden),
            task.online_bits,
            uniform_bits,
            task.compression
        );
        out.push(MdlShape {
            hidden: hidden.clone(),
            task,
            control: lengths.next(),
        });
    }
    Ok(MdlReport {
        rows: n,
        classes: k,
        uniform_bits,
        boundaries,
        shapes: out,
        seeds: cfg.seeds.clone(),
        settings: settings.clone(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

impl MdlReport {
    /// Writes the report as pretty JSON, atomically (temporary file, then rename).
    pub fn write_json(&self, path: &std::path::Path) -> Result<()> {
        super::write_json_atomic(self, path, "the MDL report")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_follow_the_fractions() {
        let b = block_boundaries(10_000, &VOITA_TITOV_FRACTIONS).unwrap();
        assert_eq!(b, [10, 20, 40, 80, 160, 320, 625, 1250, 2500, 5000, 10_000]);
        // Small n: zero and repeated boundaries are dropped.
        assert_eq!(
            block_boundaries(900, &VOITA_TITOV_FRACTIONS).unwrap(),
            [1, 3, 7, 14, 28, 56, 112, 225, 450, 900]
        );
        assert!(block_boundaries(100, &[50.0, 20.0, 100.0]).is_err());
        assert!(block_boundaries(100, &[10.0, 50.0]).is_err());
        assert!(block_boundaries(1, &VOITA_TITOV_FRACTIONS).is_err());
    }
}
