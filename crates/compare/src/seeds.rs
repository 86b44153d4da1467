//! Statistics over fine-tuning seeds (the study's `seeds` stage): every per-layer quantity of
//! `compare` as a mean with a 95 % bootstrap interval over the replicates, sign-flip tests of
//! the per-label distance changes, paired permutation tests of layer movement, the
//! memorisation gap, the final dynamics similarity, the fine-tuned head's accuracy and the
//! measures beyond the paper (similarity indices, MDL compression, selectivity, geometry
//! descriptors, and the dynamics' per-snapshot measures at every snapshot).
//!
//! The intervals are over fine-tuning seeds only: each replicate is its own fine-tuning run
//! (`finetune.seeds`), with everything downstream of it. The probes' seeds (averaged inside
//! one run) and the permutations of a null (the band of "no relation") are not seeds here.

use serde::{Deserialize, Serialize};
use tunescope_data::csv::{opt_num, table};
use tunescope_geometry::stats;
use tunescope_report as rep;

use crate::dynamics_measures::{DynamicsMeasures, MEASURES};
use crate::io::FINETUNED;
use crate::measures::MeasureValue;
use crate::results::CompareResults;
use tunescope_data::rundir::{read_json, RunDir};

/// Bootstrap resamples and permutation resamples (beyond the exact enumeration).
const RESAMPLES: usize = 10_000;

/// The summary's JSON file in `seeds/summary/` (beside its CSV tables).
pub const SUMMARY_FILE: &str = "summary.json";

/// A quantity measured once per seed: its mean and 95 % bootstrap interval over the seeds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Estimate {
    /// One value per seed (`None` where undefined).
    pub values: Vec<Option<f64>>,
    /// Mean over the defined values.
    pub mean: Option<f64>,
    /// Lower bound of the 95 % percentile-bootstrap interval (≥ 2 defined values).
    pub lower: Option<f64>,
    /// Upper bound.
    pub upper: Option<f64>,
}

impl Estimate {
    /// Mean and 95 % percentile-bootstrap interval (seeded) of the defined values.
    pub fn of(values: Vec<Option<f64>>, seed: u64) -> Estimate {
        let xs: Vec<f64> = values.iter().flatten().copied().collect();
        let mean = stats::mean(&xs).ok();
        let ci = (xs.len() >= 2)
            .then(|| stats::bootstrap_mean_ci(&xs, 0.95, RESAMPLES, seed).ok())
            .flatten();
        Estimate {
            values,
            mean,
            lower: ci.map(|c| c.lower),
            upper: ci.map(|c| c.upper),
        }
    }
}

/// Per-layer estimates for the fine-tuned encoders.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LayerStats {
    /// Hidden-state index.
    pub layer: usize,
    /// Probe test accuracy (percent).
    pub probe_acc: Estimate,
    /// DirectProbe clusters on train.
    pub clusters: Estimate,
    /// Smallest label-pair distance.
    pub min_distance: Estimate,
    /// Linear CKA between the pre-trained and the fine-tuned layer.
    pub cka: Estimate,
    /// Debiased CKA between them (the report's default CKA).
    #[serde(default)]
    pub cka_debiased: Estimate,
    /// Mean centroid displacement over labels.
    pub mean_displacement: Estimate,
    /// Train/test spatial similarity.
    pub train_test_similarity: Estimate,
    /// The measures beyond the paper (similarity indices, MDL compression, selectivity,
    /// geometry descriptors of the fine-tuned encoder), in the first replicate's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<MeasureEstimate>,
}

/// One measure of [`crate::measures::replicate_measures`] over the replicates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MeasureEstimate {
    /// Key, e.g. `similarity/debiased_cka`, `mdl/linear`, `geometry/effective_rank`.
    pub key: String,
    /// `similarity`, `distance`, `compression`, `points` or `descriptor`.
    pub kind: String,
    /// Mean and interval over the replicates.
    pub estimate: Estimate,
}

/// Did a label's minimum distance to the other labels grow with fine-tuning?
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabelChange {
    /// Hidden-state index.
    pub layer: usize,
    /// Label name.
    pub label: String,
    /// After − before, per seed.
    pub delta: Estimate,
    /// Two-sided sign-flip permutation p-value of the per-seed changes (H0: no change).
    pub p_value: Option<f64>,
}

/// Did layer `a` move more than layer `b`? Paired over (seed, label).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MovementTest {
    /// The layer tested as moving more.
    pub layer_a: usize,
    /// The layer it is compared with.
    pub layer_b: usize,
    /// Pairs (seed × label) with a displacement at both layers.
    pub pairs: usize,
    /// Mean of displacement(a) − displacement(b).
    pub mean_difference: f64,
    /// Two-sided paired permutation p-value.
    pub p_value: f64,
}

/// `seeds/summary/summary.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeedSummary {
    /// Fine-tuning seed of each replicate.
    pub seeds: Vec<u64>,
    /// Per layer.
    pub layers: Vec<LayerStats>,
    /// Per layer × label.
    pub labels: Vec<LabelChange>,
    /// Adjacent layers, and the last against the first transformer layer.
    pub movement_tests: Vec<MovementTest>,
    /// Memorisation gap (subtest − test) before fine-tuning, per seed.
    pub memorisation_gap_before: Option<Estimate>,
    /// Memorisation gap after fine-tuning.
    pub memorisation_gap_after: Option<Estimate>,
    /// Paired permutation p-value of gap after vs before.
    pub memorisation_p_value: Option<f64>,
    /// Per layer: Pearson correlation of the last snapshot with the pre-trained distances.
    pub dynamics_final_similarity: Vec<(usize, Estimate)>,
    /// Dev accuracy of the fine-tuned task head (fraction), when every replicate recorded it.
    #[serde(default)]
    pub head_dev_accuracy: Option<Estimate>,
    /// Test accuracy of the fine-tuned task head (fraction).
    #[serde(default)]
    pub head_test_accuracy: Option<Estimate>,
    /// The dynamics' per-snapshot measures over the replicates, per layer and measure (empty
    /// unless every replicate has them at the same snapshots).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dynamics_measures: Vec<DynamicsMeasureSeeds>,
}

/// One per-snapshot measure of the dynamics at one layer, over the fine-tuning replicates.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DynamicsMeasureSeeds {
    /// Hidden-state index.
    pub layer: usize,
    /// Measure key (`crate::dynamics_measures::MEASURES`).
    pub key: String,
    /// `similarity`, `distance` or `descriptor`.
    pub kind: String,
    /// Fine-tuning update of each snapshot.
    pub updates: Vec<u64>,
    /// Per snapshot: mean and 95 % interval over the replicates.
    pub estimates: Vec<Estimate>,
}

/// One replicate's value per layer, `(layer, value)`.
pub type LayerValues = Vec<(usize, Option<f64>)>;

/// What the replicates of a study measured: one entry per fine-tuning seed, the study's own
/// first.
pub struct Replicates {
    /// Fine-tuning seed of each replicate.
    pub seeds: Vec<u64>,
    /// Each replicate's `compare/` results.
    pub results: Vec<CompareResults>,
    /// Each replicate's memorisation gaps (before, after), when every replicate has them.
    pub memorisation_gaps: Option<Vec<(Option<f64>, Option<f64>)>>,
    /// Each replicate's per-layer final dynamics similarity `(layer, pearson)`, when every
    /// replicate has the dynamics experiment.
    pub dynamics_final: Option<Vec<LayerValues>>,
    /// Each replicate's measures ([`crate::measures::replicate_measures`]; empty when not read).
    pub measures: Vec<Vec<MeasureValue>>,
    /// Each replicate's fine-tuned head accuracy (dev, test), when every replicate has it.
    pub head_accuracy: Option<Vec<(f64, f64)>>,
    /// Each replicate's snapshot updates and per-snapshot dynamics measures, when every
    /// replicate has them.
    pub dynamics_measures: Option<Vec<(Vec<u64>, DynamicsMeasures)>>,
}

/// The statistics over the replicates: per-layer estimates with bootstrap intervals,
/// per-label distance changes with sign-flip tests, layer movement tests, the memorisation gap
/// and the final dynamics similarity. `seed` seeds every resample.
pub fn summarise(r: &Replicates, seed: u64) -> SeedSummary {
    let results = &r.results;
    let first = &results[0];
    let per_seed = |f: &dyn Fn(&CompareResults) -> Option<f64>| -> Vec<Option<f64>> {
        results.iter().map(f).collect()
    };
    let mut layers = Vec::new();
    let mut labels = Vec::new();
    for &layer in &first.layers {
        let ft = |r: &CompareResults| {
            r.table_a
                .iter()
                .find(|t| t.layer == layer && t.version == FINETUNED)
                .cloned()
        };
        layers.push(LayerStats {
            layer,
            probe_acc: Estimate::of(per_seed(&|r| ft(r)?.acc_mean), seed),
            clusters: Estimate::of(per_seed(&|r| Some(ft(r)?.n_clusters as f64)), seed),
            min_distance: Estimate::of(per_seed(&|r| ft(r)?.min_distance), seed),
            cka: Estimate::of(
                per_seed(&|r| r.similarity.iter().find(|s| s.layer == layer)?.indices.cka),
                seed,
            ),
            cka_debiased: Estimate::of(
                per_seed(&|r| {
                    r.similarity
                        .iter()
                        .find(|s| s.layer == layer)?
                        .indices
                        .cka_debiased
                }),
                seed,
            ),
            mean_displacement: Estimate::of(
                per_seed(&|r| {
                    r.layer_movement
                        .iter()
                        .find(|m| m.layer == layer)?
                        .mean_displacement
                }),
                seed,
            ),
            train_test_similarity: Estimate::of(
                per_seed(&|r| ft(r)?.train_test_similarity.pearson),
                seed,
            ),
            measures: measure_estimates(&r.measures, layer, seed),
        });
        for (k, name) in first.labels.iter().enumerate() {
            let deltas = per_seed(&|r| {
                let row = r
                    .label_distances
                    .iter()
                    .find(|l| l.layer == layer)?
                    .labels
                    .get(k)?;
                Some(row.outside_min_after? - row.outside_min_before?)
            });
            let xs: Vec<f64> = deltas.iter().flatten().copied().collect();
            let zeros = vec![0.0; xs.len()];
            labels.push(LabelChange {
                layer,
                label: name.clone(),
                p_value: stats::paired_permutation_test(&xs, &zeros, RESAMPLES, seed)
                    .ok()
                    .map(|t| t.p_value),
                delta: Estimate::of(deltas, seed),
            });
        }
    }
    let displacement = |layer: usize| -> Vec<Option<f64>> {
        results
            .iter()
            .flat_map(
                |r| match r.layer_movement.iter().find(|m| m.layer == layer) {
                    Some(m) => m.displacement.clone(),
                    None => vec![None; first.labels.len()],
                },
            )
            .collect()
    };
    let mut pairs: Vec<(usize, usize)> = first.layers.windows(2).map(|w| (w[1], w[0])).collect();
    if let (Some(&lo), Some(&hi)) = (first.layers.iter().find(|&&l| l >= 1), first.layers.last()) {
        if hi > lo && !pairs.contains(&(hi, lo)) {
            pairs.push((hi, lo));
        }
    }
    let movement_tests = pairs
        .into_iter()
        .filter_map(|(a, b)| {
            let (xa, xb): (Vec<f64>, Vec<f64>) = displacement(a)
                .into_iter()
                .zip(displacement(b))
                .filter_map(|(x, y)| Some((x?, y?)))
                .unzip();
            let t = stats::paired_permutation_test(&xa, &xb, RESAMPLES, seed).ok()?;
            Some(MovementTest {
                layer_a: a,
                layer_b: b,
                pairs: xa.len(),
                mean_difference: t.mean_difference,
                p_value: t.p_value,
            })
        })
        .collect();
    let (mut gap_before, mut gap_after, mut memorisation_p_value) = (None, None, None);
    if let Some(memos) = r.memorisation_gaps.as_ref().filter(|m| !m.is_empty()) {
        let b: Vec<Option<f64>> = memos.iter().map(|m| m.0).collect();
        let a: Vec<Option<f64>> = memos.iter().map(|m| m.1).collect();
        let (xa, xb): (Vec<f64>, Vec<f64>) = a
            .iter()
            .zip(&b)
            .filter_map(|(x, y)| Some(((*x)?, (*y)?)))
            .unzip();
        memorisation_p_value = stats::paired_permutation_test(&xa, &xb, RESAMPLES, seed)
            .ok()
            .map(|t| t.p_value);
        gap_before = Some(Estimate::of(b, seed));
        gap_after = Some(Estimate::of(a, seed));
    }
    let mut dynamics_final_similarity = Vec::new();
    if let Some(dyns) = r.dynamics_final.as_ref().filter(|d| !d.is_empty()) {
        for &layer in &first.layers {
            let v: Vec<Option<f64>> = dyns
                .iter()
                .map(|d| d.iter().find(|l| l.0 == layer).and_then(|l| l.1))
                .collect();
            dynamics_final_similarity.push((layer, Estimate::of(v, seed)));
        }
    }
    let head = |f: fn(&(f64, f64)) -> f64| {
        r.head_accuracy
            .as_ref()
            .filter(|h| !h.is_empty())
            .map(|h| Estimate::of(h.iter().map(|x| Some(f(x))).collect(), seed))
    };
    SeedSummary {
        dynamics_measures: r
            .dynamics_measures
            .as_deref()
            .map(|d| dynamics_measure_seeds(d, seed))
            .unwrap_or_default(),
        head_dev_accuracy: head(|h| h.0),
        head_test_accuracy: head(|h| h.1),
        seeds: r.seeds.clone(),
        layers,
        labels,
        movement_tests,
        memorisation_gap_before: gap_before,
        memorisation_gap_after: gap_after,
        memorisation_p_value,
        dynamics_final_similarity,
    }
}

/// Every measure the first replicate has at `layer`, over the replicates (a replicate without
/// it counts as undefined).
fn measure_estimates(
    per_rep: &[Vec<MeasureValue>],
    layer: usize,
    seed: u64,
) -> Vec<MeasureEstimate> {
    let Some(first) = per_rep.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter(|m| m.layer == layer)
        .map(|m| MeasureEstimate {
            key: m.key.clone(),
            kind: m.kind.clone(),
            estimate: Estimate::of(
                per_rep
                    .iter()
                    .map(|r| {
                        r.iter()
                            .find(|x| x.layer == layer && x.key == m.key)
                            .and_then(|x| x.value)
                    })
                    .collect(),
                seed,
            ),
        })
        .collect()
}

/// Every per-snapshot measure of the first replicate's dynamics at every layer and snapshot,
/// over the replicates; nothing when the replicates' snapshots differ.
fn dynamics_measure_seeds(
    per_rep: &[(Vec<u64>, DynamicsMeasures)],
    seed: u64,
) -> Vec<DynamicsMeasureSeeds> {
    let Some((updates, first)) = per_rep.first() else {
        return Vec::new();
    };
    if per_rep.iter().any(|(u, _)| u != updates) {
        return Vec::new();
    }
    let mut out = Vec::new();
    for layer in &first.layers {
        for (m, info) in MEASURES.iter().enumerate() {
            let estimates = (0..updates.len())
                .map(|i| {
                    let values = per_rep
                        .iter()
                        .map(|(_, d)| {
                            d.layers
                                .iter()
                                .find(|l| l.layer == layer.layer)
                                .and_then(|l| l.series.get(m)?.get(i)?.value)
                        })
                        .collect();
                    Estimate::of(values, seed)
                })
                .collect();
            out.push(DynamicsMeasureSeeds {
                layer: layer.layer,
                key: info.key.into(),
                kind: info.kind.into(),
                updates: updates.clone(),
                estimates,
            });
        }
    }
    out
}

fn est_cols(e: &Estimate) -> [String; 3] {
    [opt_num(e.mean), opt_num(e.lower), opt_num(e.upper)]
}

impl SeedSummary {
    /// The files of `seeds/summary/` (name, contents): `summary.json`, `layers.csv`, `labels.csv`,
    /// `movement_tests.csv` and, when the replicates recorded them, `head.csv` (the fine-tuned
    /// head's dev and test accuracy) and `dynamics_measures.csv` (the dynamics' per-snapshot
    /// measures).
    pub fn files(&self) -> serde_json::Result<Vec<(&'static str, String)>> {
        let s = self;
        let mut files = vec![(SUMMARY_FILE, serde_json::to_string_pretty(s)? + "\n")];
        let mut rows = Vec::new();
        for l in &s.layers {
            for (what, e) in [
                ("probe_acc", &l.probe_acc),
                ("clusters", &l.clusters),
                ("min_distance", &l.min_distance),
                ("cka", &l.cka),
                ("cka_debiased", &l.cka_debiased),
                ("mean_displacement", &l.mean_displacement),
                ("train_test_similarity", &l.train_test_similarity),
            ] {
                let mut r = vec![l.layer.to_string(), what.to_string()];
                r.extend(est_cols(e));
                rows.push(r);
            }
            for m in &l.measures {
                let mut r = vec![l.layer.to_string(), m.key.clone()];
                r.extend(est_cols(&m.estimate));
                rows.push(r);
            }
        }
        files.push((
            "layers.csv",
            table(
                &["layer", "quantity", "mean", "ci_lower", "ci_upper"],
                &rows,
            ),
        ));
        let rows: Vec<Vec<String>> = s
            .labels
            .iter()
            .map(|l| {
                let mut r = vec![l.layer.to_string(), l.label.clone()];
                r.extend(est_cols(&l.delta));
                r.push(opt_num(l.p_value));
                r
            })
            .collect();
        files.push((
            "labels.csv",
            table(
                &[
                    "layer",
                    "label",
                    "min_distance_change_mean",
                    "ci_lower",
                    "ci_upper",
                    "p_value",
                ],
                &rows,
            ),
        ));
        let rows: Vec<Vec<String>> = s
            .movement_tests
            .iter()
            .map(|t| {
                vec![
                    t.layer_a.to_string(),
                    t.layer_b.to_string(),
                    t.pairs.to_string(),
                    t.mean_difference.to_string(),
                    t.p_value.to_string(),
                ]
            })
            .collect();
        files.push((
            "movement_tests.csv",
            table(
                &["layer_a", "layer_b", "pairs", "mean_difference", "p_value"],
                &rows,
            ),
        ));
        let rows: Vec<Vec<String>> = [
            ("dev", &s.head_dev_accuracy),
            ("test", &s.head_test_accuracy),
        ]
        .into_iter()
        .filter_map(|(split, e)| {
            let mut r = vec![split.to_string()];
            r.extend(est_cols(e.as_ref()?));
            Some(r)
        })
        .collect();
        if !rows.is_empty() {
            files.push((
                "head.csv",
                table(&["split", "accuracy_mean", "ci_lower", "ci_upper"], &rows),
            ));
        }
        let rows: Vec<Vec<String>> = s
            .dynamics_measures
            .iter()
            .flat_map(|m| {
                m.updates.iter().zip(&m.estimates).map(|(u, e)| {
                    let mut r = vec![
                        m.layer.to_string(),
                        u.to_string(),
                        m.key.clone(),
                        m.kind.clone(),
                    ];
                    r.extend(est_cols(e));
                    r.push(e.values.iter().flatten().count().to_string());
                    r
                })
            })
            .collect();
        if !rows.is_empty() {
            files.push((
                "dynamics_measures.csv",
                table(
                    &[
                        "layer", "update", "measure", "kind", "mean", "ci_lower", "ci_upper",
                        "seeds",
                    ],
                    &rows,
                ),
            ));
        }
        Ok(files)
    }
}

/// The seeds summary of the branch directory `out` (`seeds/summary/`), when the seeds stage
/// has run.
pub fn read_summary(out: &RunDir) -> anyhow::Result<Option<SeedSummary>> {
    read_json::<SeedSummary>(&out.seeds_summary().join(SUMMARY_FILE))
}

/// Means over the seeds with 95 % bands, at `layers`, of the estimate `f` picks per layer (NaN
/// where a layer has none).
fn seed_series(
    s: &SeedSummary,
    layers: &[usize],
    f: &dyn Fn(&LayerStats) -> Option<&Estimate>,
) -> rep::Series {
    let at = |l: usize, g: &dyn Fn(&Estimate) -> Option<f64>| {
        s.layers
            .iter()
            .find(|x| x.layer == l)
            .and_then(|x| f(x).and_then(g))
            .unwrap_or(f64::NAN)
    };
    rep::Series {
        values: layers.iter().map(|&l| at(l, &|e| e.mean)).collect(),
        ci: Some(rep::Band {
            lower: layers.iter().map(|&l| at(l, &|e| e.lower)).collect(),
            upper: layers.iter().map(|&l| at(l, &|e| e.upper)).collect(),
        }),
    }
}

/// The measure `key` of [`LayerStats::measures`] over the seeds at `layers`; `None` when no
/// layer has it.
fn measure_series(s: &SeedSummary, layers: &[usize], key: &str) -> Option<rep::Series> {
    fn pick<'a>(l: &'a LayerStats, key: &str) -> Option<&'a Estimate> {
        l.measures
            .iter()
            .find(|m| m.key == key)
            .map(|m| &m.estimate)
    }
    s.layers
        .iter()
        .any(|l| pick(l, key).is_some())
        .then(|| seed_series(s, layers, &|l| pick(l, key)))
}

/// Adds the seeds' means and 95 % intervals to the report's measures sections (similarity
/// indices and MDL compression of the fine-tuned encoder), when the seeds stage has run in the
/// branch directory `out`.
pub fn add_measure_bands(out: &RunDir, measures: &mut Option<rep::Measures>) -> anyhow::Result<()> {
    let (Some(s), Some(m)) = (read_summary(out)?, measures.as_mut()) else {
        return Ok(());
    };
    if let Some(sim) = &mut m.similarity {
        for meas in &mut sim.measures {
            meas.seeds = measure_series(&s, &sim.layers, &format!("similarity/{}", meas.key));
        }
    }
    if let Some(mdl) = &mut m.mdl {
        for p in &mut mdl.probes {
            p.after_seeds = measure_series(&s, &mdl.layers, &format!("mdl/{}", p.name));
        }
    }
    Ok(())
}

/// Replaces the lines of the dynamics' per-snapshot measure figures by their means over the
/// seeds, with 95 % bands, when the seeds stage has run in the branch directory `out` and its
/// replicates have the report's snapshots.
pub fn add_dynamics_bands(
    out: &RunDir,
    dynamics: &mut Option<rep::Dynamics>,
) -> anyhow::Result<()> {
    let (Some(s), Some(d)) = (read_summary(out)?, dynamics.as_mut()) else {
        return Ok(());
    };
    let Some(m) = d.measures.as_mut() else {
        return Ok(());
    };
    let nan = |v: Option<f64>| v.unwrap_or(f64::NAN);
    for meas in &mut m.measures {
        for l in &mut meas.layers {
            let Some(e) = s
                .dynamics_measures
                .iter()
                .find(|e| e.layer == l.layer && e.key == meas.key && e.updates == d.updates)
            else {
                continue;
            };
            l.seeds = Some(rep::Series {
                values: e.estimates.iter().map(|e| nan(e.mean)).collect(),
                ci: Some(rep::Band {
                    lower: e.estimates.iter().map(|e| nan(e.lower)).collect(),
                    upper: e.estimates.iter().map(|e| nan(e.upper)).collect(),
                }),
            });
            m.seeds = s.seeds.len();
        }
    }
    Ok(())
}

/// Replaces the fine-tuned per-layer series of the report by their means over the seeds, with
/// 95 % bands, when the seeds stage has run in the branch directory `out` (`seeds/summary/`);
/// also the registered per-layer analyses' (e.g. the geometry descriptors).
pub fn add_bands(out: &RunDir, layers: &mut rep::LayerSeries) -> anyhow::Result<()> {
    let Some(s) = read_summary(out)? else {
        return Ok(());
    };
    let band = |f: &dyn Fn(&LayerStats) -> &Estimate| -> rep::Series {
        seed_series(&s, &layers.layers, &|l| Some(f(l)))
    };
    for m in &mut layers.measures {
        if let Some(series) = measure_series(&s, &m.layers, &format!("{}/{}", m.analysis, m.key)) {
            m.values.after = series;
        }
    }
    if let Some(p) = &mut layers.probe_accuracy {
        p.after = band(&|l| &l.probe_acc);
    }
    if let Some(c) = &mut layers.clusters {
        c.after = band(&|l| &l.clusters);
    }
    if let Some(m) = &mut layers.min_distance {
        m.after = band(&|l| &l.min_distance);
    }
    if layers.cka_pre_post.is_some() {
        layers.cka_pre_post = Some(band(&|l| &l.cka_debiased));
    }
    Ok(())
}
