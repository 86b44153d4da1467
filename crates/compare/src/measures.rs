//! Results of the measures beyond the paper in a study's run directory (`docs/measures.md`),
//! shared by the study stages that write them and the report that shows them:
//!
//! * `similarity/layer-<k>.json` ([`SimilarityLayer`]): the calibrated similarity of the
//!   pre-trained and fine-tuned vectors of the same units at one layer;
//! * `mdl/<model>/layer-<k>.json` ([`MdlReport`]): online codelengths of the probes;
//! * `compare/examples.csv` and `compare/examples.json` ([`ExamplesResult`]): every sampled
//!   unit's DirectProbe prediction before and after fine-tuning, and the counts per layer.

use crate::io::{FINETUNED, PRETRAINED};
use crate::results::{CompareResults, TableARow};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tunescope_data::fs::write_atomic;
use tunescope_data::rundir::RunDir;
use tunescope_geometry::calibrated::{CalibratedScore, CalibratedSimilarity, MeasureKind};
use tunescope_geometry::flips::{Change, FlipCounts, FlipRecord};
use tunescope_model::probe::mdl::{MdlReport, MdlShape};
use tunescope_model::probe::ProbeReport;
use tunescope_report as rep;

/// The calibrated similarity of one layer (`similarity/layer-<k>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityLayer {
    /// Layer.
    pub layer: usize,
    /// Split whose units are compared.
    pub split: String,
    /// Units compared (a seeded sample).
    pub units: usize,
    /// Units in the split.
    pub units_total: usize,
    /// Row permutations per null.
    pub permutations: usize,
    /// Neighbours of mutual k-NN.
    pub k: usize,
    /// Seed of the sample and the permutations.
    pub seed: u64,
    /// The five indices with their nulls (`None` for a degenerate layer, see `note`).
    pub scores: Option<CalibratedSimilarity>,
    /// Why the indices are undefined (e.g. every unit has the same vector at this layer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Counts of each kind of change at one layer on one split.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleCount {
    /// Layer.
    pub layer: usize,
    /// Split.
    pub split: String,
    /// The counts.
    #[serde(flatten)]
    pub counts: FlipCounts,
}

/// One group of the per-example view: the test units at every layer, or the memorisation
/// experiment's subtrain / subtest / test units at its layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExampleGroup {
    /// `test` or `memorisation`.
    pub name: String,
    /// How the predictions were made.
    pub about: String,
    /// Counts per layer and split.
    pub counts: Vec<ExampleCount>,
    /// A seeded sample of each kind of change (per layer and split, flips first).
    pub samples: Vec<FlipRecord>,
}

/// `compare/examples.json`: the counts and samples; every unit is in `compare/examples.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExamplesResult {
    /// Layers.
    pub layers: Vec<usize>,
    /// The groups.
    pub groups: Vec<ExampleGroup>,
}

impl ExamplesResult {
    /// Writes `path` (`compare/examples.json`) atomically.
    pub fn write(&self, path: &Path) -> Result<()> {
        Ok(write_atomic(
            path,
            serde_json::to_string_pretty(self)? + "\n",
        )?)
    }
}

fn read_opt<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    if !path.exists() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text)
        .with_context(|| format!("{}: not the expected result", path.display()))
        .map(Some)
}

/// Fills Table A's selectivity (from the probe report's control task) and MDL compression (from
/// `mdl/<model>/layer-<k>.json`, the linear probe's, comparable across layers and encoders) when
/// they were computed.
pub fn add_table_a_columns(
    run: &RunDir,
    row: &mut TableARow,
    probe: Option<&ProbeReport>,
) -> Result<()> {
    row.selectivity = probe
        .and_then(|p| p.best.control.as_ref())
        .and_then(|c| c.selectivity_test)
        .map(|v| 100.0 * v);
    if let Some(mdl) = read_opt::<MdlReport>(&run.mdl_file(&row.version, row.layer))? {
        row.mdl_compression = mdl
            .shapes
            .iter()
            .find(|s| s.hidden.is_empty())
            .map(|s| s.task.compression);
    }
    Ok(())
}

fn null_score(s: &CalibratedScore) -> rep::measures::NullScore {
    rep::measures::NullScore {
        value: s.value,
        null_mean: s.null_mean,
        null_std: s.null_std,
        p_value: s.p_value,
        calibrated: s.calibrated,
    }
}

/// The indices in report order (the default CKA, debiased, first): key, name, description,
/// accessor.
type Pick = fn(&CalibratedSimilarity) -> &CalibratedScore;
const INDICES: [(&str, &str, &str, Pick); 5] = [
    (
        "debiased_cka",
        "debiased CKA",
        "Linear CKA with the unbiased HSIC estimator (Song et al. 2012): about 0 for unrelated \
         spaces whatever their size, 1 for spaces equal up to rotation and scale. The report's \
         default CKA.",
        |c| &c.debiased_cka,
    ),
    (
        "linear_cka",
        "linear CKA",
        "Centred linear CKA (Kornblith et al. 2019), ‖BᵀA‖²_F / (‖AᵀA‖_F ‖BᵀB‖_F): in [0, 1], but \
         well above 0 for unrelated high-dimensional spaces on few units (see the null).",
        |c| &c.linear_cka,
    ),
    (
        "mutual_knn",
        "mutual k-NN",
        "Mean share of each unit's k nearest neighbours (rows L2-normalised) that are the same in \
         both spaces (Huh et al. 2024): 1 for the same neighbourhoods, about k/n by chance.",
        |c| &c.mutual_knn,
    ),
    (
        "procrustes_angular",
        "angular Procrustes",
        "Angular Procrustes distance (Williams et al. 2021): arccos of the nuclear norm of AᵀB \
         after centring and scaling both to unit norm; 0 for spaces equal up to rotation and \
         scale, up to π/2.",
        |c| &c.procrustes_angular,
    ),
    (
        "rsa",
        "RSA",
        "Spearman correlation of the two spaces' pairwise Euclidean distances (Kriegeskorte et \
         al. 2008): 1 for the same geometry, about 0 by chance.",
        |c| &c.rsa,
    ),
];

/// Display name of an MDL probe shape: `linear` or `MLP 64×64`.
pub fn shape_name(shape: &MdlShape) -> String {
    if shape.hidden.is_empty() {
        "linear".into()
    } else {
        format!(
            "MLP {}",
            shape
                .hidden
                .iter()
                .map(|h| h.to_string())
                .collect::<Vec<_>>()
                .join("×")
        )
    }
}

/// One fine-tuned replicate's value of one measure at one layer, for the seeds summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MeasureValue {
    /// Layer.
    pub layer: usize,
    /// `similarity/<index>`, `mdl/<probe>` (compression), `selectivity` or
    /// `<analysis>/<measure>` of a registered per-layer analysis (e.g. `geometry/effective_rank`).
    pub key: String,
    /// `similarity` or `distance` (similarity indices), `compression`, `points` (selectivity)
    /// or `descriptor`.
    pub kind: String,
    /// The value (`None` where undefined).
    pub value: Option<f64>,
}

/// The measures of the fine-tuned encoder of the run directory `run` (whose `compare/`
/// results are `results`), per layer: the similarity indices to the pre-trained encoder, MDL
/// compression of every probe, Table A's selectivity and the fine-tuned values of the
/// registered per-layer analyses.
pub fn replicate_measures(run: &RunDir, results: &CompareResults) -> Result<Vec<MeasureValue>> {
    let mut out = Vec::new();
    for (i, &layer) in results.layers.iter().enumerate() {
        let mut push = |key: String, kind: &str, value: Option<f64>| {
            out.push(MeasureValue {
                layer,
                key,
                kind: kind.into(),
                value: value.filter(|v| v.is_finite()),
            })
        };
        if let Some(scores) =
            read_opt::<SimilarityLayer>(&run.similarity_file(layer))?.and_then(|s| s.scores)
        {
            for (key, _, _, pick) in INDICES {
                let sc = pick(&scores);
                let kind = match sc.kind {
                    MeasureKind::Similarity => "similarity",
                    MeasureKind::Distance => "distance",
                };
                push(format!("similarity/{key}"), kind, Some(sc.value));
            }
        }
        if let Some(mdl) = read_opt::<MdlReport>(&run.mdl_file(FINETUNED, layer))? {
            for shape in &mdl.shapes {
                push(
                    format!("mdl/{}", shape_name(shape)),
                    "compression",
                    Some(shape.task.compression),
                );
            }
        }
        let row = results
            .table_a
            .iter()
            .find(|r| r.layer == layer && r.version == FINETUNED);
        if let Some(sel) = row.and_then(|r| r.selectivity) {
            push("selectivity".into(), "points", Some(sel));
        }
        for m in &results.layer_measures {
            if let Some(&v) = m.values.after.values.get(i) {
                push(format!("{}/{}", m.analysis, m.key), "descriptor", Some(v));
            }
        }
    }
    Ok(out)
}

/// The report's measures sections from the run directory `run`, over `layers`; `None` when
/// none of them was computed.
pub fn report_measures(run: &RunDir, layers: &[usize]) -> Result<Option<rep::Measures>> {
    let mut similarity = Vec::new();
    for &l in layers {
        if let Some(s) = read_opt::<SimilarityLayer>(&run.similarity_file(l))? {
            if let Some(scores) = s.scores {
                similarity.push((s, scores));
            }
        }
    }
    let similarity =
        similarity
            .first()
            .map(|(first, first_scores)| rep::measures::SimilaritySection {
                layers: similarity.iter().map(|(s, _)| s.layer).collect(),
                split: first.split.clone(),
                units: first.units,
                permutations: first.permutations,
                k: first.k,
                measures: INDICES
                    .iter()
                    .map(
                        |(key, name, about, pick)| rep::measures::SimilarityMeasure {
                            key: key.to_string(),
                            name: name.to_string(),
                            kind: match pick(first_scores).kind {
                                MeasureKind::Similarity => "similarity",
                                MeasureKind::Distance => "distance",
                            }
                            .into(),
                            about: about.to_string(),
                            scores: similarity
                                .iter()
                                .map(|(_, c)| null_score(pick(c)))
                                .collect(),
                            seeds: None,
                        },
                    )
                    .collect(),
            });

    let mut mdl_layers = Vec::new();
    for &l in layers {
        if let (Some(b), Some(a)) = (
            read_opt::<MdlReport>(&run.mdl_file(PRETRAINED, l))?,
            read_opt::<MdlReport>(&run.mdl_file(FINETUNED, l))?,
        ) {
            if !b.shapes.is_empty() || !a.shapes.is_empty() {
                mdl_layers.push((l, b, a));
            }
        }
    }
    let mdl = mdl_layers.first().map(|(_, first, _)| {
        let probes = first
            .shapes
            .iter()
            .enumerate()
            .map(|(i, shape)| {
                let pick = |r: &MdlReport, f: &dyn Fn(&MdlShape) -> Option<f64>| {
                    r.shapes.get(i).and_then(f).unwrap_or(f64::NAN)
                };
                let col = |after: bool, f: &dyn Fn(&MdlShape) -> Option<f64>| {
                    mdl_layers
                        .iter()
                        .map(|(_, b, a)| pick(if after { a } else { b }, f))
                        .collect::<Vec<f64>>()
                };
                let control = shape.control.is_some();
                rep::measures::MdlProbe {
                    name: shape_name(shape),
                    before: col(false, &|s| Some(s.task.compression)),
                    after: col(true, &|s| Some(s.task.compression)),
                    before_bits: col(false, &|s| Some(s.task.online_bits)),
                    after_bits: col(true, &|s| Some(s.task.online_bits)),
                    control_before: if control {
                        col(false, &|s| s.control.as_ref().map(|c| c.compression))
                    } else {
                        Vec::new()
                    },
                    control_after: if control {
                        col(true, &|s| s.control.as_ref().map(|c| c.compression))
                    } else {
                        Vec::new()
                    },
                    after_seeds: None,
                }
            })
            .collect();
        rep::measures::MdlSection {
            layers: mdl_layers.iter().map(|(l, _, _)| *l).collect(),
            units: first.rows,
            uniform_bits: first.uniform_bits,
            seeds: first.seeds.len(),
            probes,
        }
    });

    let examples =
        read_opt::<ExamplesResult>(&run.examples_json())?.map(|e| rep::measures::ExamplesSection {
            csv_path: RunDir::relative().examples_csv().display().to_string(),
            groups: e
                .groups
                .iter()
                .map(|g| rep::measures::ExampleGroup {
                    title: if g.name == "memorisation" {
                        "Memorisation experiment: subtrain, subtest and test units".into()
                    } else {
                        "Test units at every layer".into()
                    },
                    about: g.about.clone(),
                    counts: g
                        .counts
                        .iter()
                        .map(|c| rep::measures::ExampleCounts {
                            layer: c.layer,
                            split: c.split.clone(),
                            stayed_right: c.counts.stayed_right,
                            stayed_wrong: c.counts.stayed_wrong,
                            right_to_wrong: c.counts.right_to_wrong,
                            wrong_to_right: c.counts.wrong_to_right,
                        })
                        .collect(),
                    samples: g
                        .samples
                        .iter()
                        .map(|r| rep::measures::ExampleRow {
                            layer: r.layer,
                            split: r.context.split.clone(),
                            sentence: r.context.sentence.clone(),
                            word: r.context.word.clone(),
                            gold: r.gold.clone(),
                            before: r.before.clone(),
                            after: r.after.clone(),
                            change: r.change.name().into(),
                        })
                        .collect(),
                })
                .collect(),
        });
    if similarity.is_none() && mdl.is_none() && examples.is_none() {
        return Ok(None);
    }
    Ok(Some(rep::Measures {
        similarity,
        mdl,
        examples,
    }))
}

/// The sample of each kind shown in the report: per layer and split, up to `n` units of each
/// flip kind (right → wrong, then wrong → right), seeded.
pub fn sample_examples(records: &[FlipRecord], n: usize, seed: u64) -> Vec<FlipRecord> {
    let mut keys: Vec<(usize, String)> = records
        .iter()
        .map(|r| (r.layer, r.context.split.clone()))
        .collect();
    keys.dedup();
    let mut out = Vec::new();
    for (layer, split) in keys {
        let group: Vec<FlipRecord> = records
            .iter()
            .filter(|r| r.layer == layer && r.context.split == split)
            .cloned()
            .collect();
        for change in [Change::RightToWrong, Change::WrongToRight] {
            out.extend(
                tunescope_geometry::flips::sample_flips(&group, change, n, seed)
                    .into_iter()
                    .cloned(),
            );
        }
    }
    out
}
