//! Input schema of the report: everything the page shows, as plain serde structs.
//!
//! Every section is optional (`Option` or an empty `Vec`); the report says "not computed" for a
//! section a study did not produce. Numbers that may be non-finite (distances between labels whose
//! hulls overlap or are undefined, accuracies of a failed run) are plain `f64` in Rust; in JSON a
//! finite value is a number, `+∞`/`−∞` are the strings `"inf"`/`"-inf"` and NaN is `null`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::nonfinite;
pub use crate::results::{CkaLayers, CrossTaskRow, TableARow};
use crate::tables::cross_task_view;
pub use crate::tables::{PaperRow, TableAEntry, Version};
use crate::{ReportError, Result};

/// All the results of one study that the report renders.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    /// Page title, e.g. the study name.
    pub title: String,
    /// Settings and content hashes of the study; `None` when unknown.
    #[serde(default)]
    pub study: Option<StudyInfo>,
    /// Rows of the paper's Table A (probing before/after fine-tuning); empty when not computed.
    #[serde(default)]
    pub table_a: Vec<TableAEntry>,
    /// Cross-task fine-tuning table (paper Table C); `None` when not computed.
    #[serde(default, with = "cross_task_view")]
    pub cross_task: Option<Vec<CrossTaskRow>>,
    /// Per task × model analyses.
    #[serde(default)]
    pub runs: Vec<TaskModelReport>,
    /// Fine-tuning arms side by side (`[[arms]]`); `None` without arms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arms: Option<Arms>,
    /// Calibrated similarity, MDL probes and per-example changes; `None` when not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<Measures>,
}

/// Fine-tuning methods (full, LoRA, partial freezing) side by side: the study's own fine-tuning
/// first, then each `[[arms]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Arms {
    /// One row per arm.
    pub rows: Vec<ArmRow>,
    /// Hidden-state indices of `curves`.
    pub layers: Vec<usize>,
    /// Per-layer quantities after fine-tuning, one line per arm (and the pre-trained encoder
    /// where it has a value).
    pub curves: Vec<ArmCurves>,
    /// Transformer layers of `weights` (hidden-state index of each layer's output).
    pub weight_layers: Vec<usize>,
    /// The weight-space view per arm.
    pub weights: Vec<ArmWeights>,
}

/// One arm's fine-tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmRow {
    /// Arm name (`main` for the study's own fine-tuning).
    pub name: String,
    /// `full`, `lora` or `freeze`, with its settings.
    pub method: String,
    /// Parameters the optimiser updated (head included).
    #[serde(default)]
    pub trained_parameters: Option<u64>,
    /// Fine-tuning seeds of the arm (0 or 1: one run); with several, the accuracies and the
    /// time are means over the seeds.
    #[serde(default)]
    pub seeds: usize,
    /// Dev accuracy of the fine-tuned head (fraction).
    #[serde(default, with = "nonfinite::opt")]
    pub dev_accuracy: Option<f64>,
    /// 95 % bootstrap interval of the dev accuracy over the seeds (several seeds only).
    #[serde(default)]
    pub dev_interval: Option<(f64, f64)>,
    /// Test accuracy of the fine-tuned head (fraction).
    #[serde(default, with = "nonfinite::opt")]
    pub test_accuracy: Option<f64>,
    /// 95 % bootstrap interval of the test accuracy over the seeds (several seeds only).
    #[serde(default)]
    pub test_interval: Option<(f64, f64)>,
    /// Seconds of fine-tuning.
    #[serde(default, with = "nonfinite::opt")]
    pub seconds: Option<f64>,
    /// Spearman ρ across layers between the weight update and the layer movement.
    #[serde(default, with = "nonfinite::opt")]
    pub movement_spearman: Option<f64>,
    /// Intruder dimensions over all weight matrices.
    #[serde(default)]
    pub intruders: Option<usize>,
}

/// One per-layer quantity, one line per arm.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmCurves {
    /// File-name key, e.g. `probe-accuracy`.
    pub key: String,
    /// Chart title.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// What the figure shows.
    pub caption: String,
    /// One line per arm, indexed like [`Arms::layers`].
    pub lines: Vec<NamedCurve>,
}

/// One arm's weight updates per transformer layer, indexed like [`Arms::weight_layers`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmWeights {
    /// Arm name.
    pub arm: String,
    /// ‖ΔW‖_F / ‖W‖_F per module (`Q`, `K`, `V`, `O`, `FFN in`, `FFN out`).
    pub relative: Vec<NamedCurve>,
    /// Effective rank of ΔW per module (NaN where ΔW = 0).
    pub effective_rank: Vec<NamedCurve>,
    /// Intruder dimensions per module.
    pub intruders: Vec<NamedCurve>,
}

impl ReportData {
    /// Reads a `ReportData` from a JSON file.
    pub fn from_json_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| ReportError::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| ReportError::Json(format!("{}: {e}", path.display())))
    }

    /// Serialises to pretty JSON (non-finite numbers encoded as described in the module docs).
    pub fn to_json_pretty(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|e| ReportError::Json(e.to_string()))
    }
}

/// A free-form key/value pair (a setting or a content hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    /// Name, e.g. `finetune.lr` or `data/train.jsonl`.
    pub key: String,
    /// Value as displayed.
    pub value: String,
}

/// The study's settings as resolved, and the content hashes of its inputs and artifacts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StudyInfo {
    /// Resolved settings (key/value, in display order).
    #[serde(default)]
    pub settings: Vec<KeyValue>,
    /// Content hashes (artifact → hash).
    #[serde(default)]
    pub hashes: Vec<KeyValue>,
    /// The resolved configuration as TOML text.
    #[serde(default)]
    pub config_toml: Option<String>,
}

/// All analyses of one task × model pair.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskModelReport {
    /// Task name.
    pub task: String,
    /// Model name.
    pub model: String,
    /// Per-layer series before/after fine-tuning.
    #[serde(default)]
    pub layers: Option<LayerSeries>,
    /// Label × label distance matrices at one layer.
    #[serde(default)]
    pub distances: Option<DistanceMatrices>,
    /// 2-D PCA of one layer's units.
    #[serde(default)]
    pub pca: Option<PcaPoints>,
    /// Centroid displacement per label × layer, and PCA of the difference vectors.
    #[serde(default)]
    pub movement: Option<LayerMovement>,
    /// Fine-tuning dynamics over checkpoints.
    #[serde(default)]
    pub dynamics: Option<Dynamics>,
    /// Memorisation (subtrain/subtest) learning curves.
    #[serde(default)]
    pub memorisation: Option<Memorisation>,
    /// Layer × layer CKA between the pre-trained and the fine-tuned encoder (`compare`'s
    /// result; the report's JSON leaves out `n_rows`).
    #[serde(default, with = "cka_view")]
    pub cka_layers: Option<CkaLayers>,
}

/// One series of values, optionally with a 95 % confidence band (when seeds > 1).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// One value per x position.
    #[serde(with = "nonfinite::vec")]
    pub values: Vec<f64>,
    /// 95 % CI band, same length as `values`.
    #[serde(default)]
    pub ci: Option<Band>,
}

/// Lower and upper edges of a confidence band.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Band {
    /// Lower edge per x position.
    #[serde(with = "nonfinite::vec")]
    pub lower: Vec<f64>,
    /// Upper edge per x position.
    #[serde(with = "nonfinite::vec")]
    pub upper: Vec<f64>,
}

/// A series for the original and for the fine-tuned encoder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    /// Pre-trained encoder.
    pub before: Series,
    /// Fine-tuned encoder.
    pub after: Series,
}

/// Per-layer series; each vector is indexed like `layers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerSeries {
    /// Layer indices (x axis).
    pub layers: Vec<usize>,
    /// Classifier-probe accuracy (percent).
    #[serde(default)]
    pub probe_accuracy: Option<BeforeAfter>,
    /// DirectProbe number of clusters.
    #[serde(default)]
    pub clusters: Option<BeforeAfter>,
    /// Minimum distance between label clusters.
    #[serde(default)]
    pub min_distance: Option<BeforeAfter>,
    /// CKA between the pre-trained and fine-tuned representation of the same layer.
    #[serde(default)]
    pub cka_pre_post: Option<Series>,
    /// The measures of the registered per-layer analyses (`tunescope_compare::layer_analyses`),
    /// each drawn as one before/after chart.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measures: Vec<LayerMeasure>,
}

/// One measure of a registered per-layer analysis, before and after fine-tuning: the compare
/// result (`compare/layer_measures.csv`, `compare.json`) and the report's series, one type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerMeasure {
    /// Key of the analysis in the registry (e.g. `geometry`).
    pub analysis: String,
    /// Key of the measure (e.g. `effective_rank`); figure names use both keys.
    pub key: String,
    /// Chart title.
    pub title: String,
    /// Axis label of the values.
    pub y_label: String,
    /// What the measure is and what to expect.
    pub caption: String,
    /// Layers (x axis).
    pub layers: Vec<usize>,
    /// Values per layer, pre-trained and fine-tuned (NaN: undefined or not computed).
    pub values: BeforeAfter,
    /// Why some values are undefined.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Label × label distance matrices before and after fine-tuning at one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DistanceMatrices {
    /// Layer the distances were computed at.
    pub layer: usize,
    /// Label names, indexing rows and columns.
    pub labels: Vec<String>,
    /// Square matrix, pre-trained encoder (`+∞`/NaN allowed).
    #[serde(with = "nonfinite::matrix")]
    pub before: Vec<Vec<f64>>,
    /// Square matrix, fine-tuned encoder.
    #[serde(with = "nonfinite::matrix")]
    pub after: Vec<Vec<f64>>,
}

/// A 2-D point with a category index.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point2 {
    /// First coordinate.
    #[serde(with = "nonfinite::one")]
    pub x: f64,
    /// Second coordinate.
    #[serde(with = "nonfinite::one")]
    pub y: f64,
    /// Index into the enclosing `labels`.
    pub label: usize,
}

/// 2-D PCA of one layer's units before and after fine-tuning. Producers should subsample (a few
/// thousand points); the renderer draws at most [`crate::MAX_SCATTER_POINTS`] per plot.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PcaPoints {
    /// Layer projected.
    pub layer: usize,
    /// Label names.
    pub labels: Vec<String>,
    /// Points of the pre-trained encoder.
    pub before: Vec<Point2>,
    /// Points of the fine-tuned encoder.
    pub after: Vec<Point2>,
}

/// How far each label's centroid moves at each layer, and in which directions.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerMovement {
    /// Label names.
    pub labels: Vec<String>,
    /// Layer indices.
    pub layers: Vec<usize>,
    /// `displacement[label][layer]`: Euclidean distance between the label's centroids before and
    /// after fine-tuning.
    #[serde(with = "nonfinite::matrix")]
    pub displacement: Vec<Vec<f64>>,
    /// PCA-2D of the per-label difference vectors (after − before), one entry per layer shown.
    #[serde(default)]
    pub difference_pca: Vec<LayerPoints>,
}

/// Points of one layer (one per label for difference vectors).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LayerPoints {
    /// Layer index.
    pub layer: usize,
    /// Points, `label` indexes the enclosing `labels`.
    pub points: Vec<Point2>,
}

/// A named curve (one value per checkpoint).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NamedCurve {
    /// Curve name (a label, or a layer like `layer 12`).
    pub name: String,
    /// Values, indexed like the enclosing x positions.
    #[serde(with = "nonfinite::vec")]
    pub values: Vec<f64>,
}

/// A label centroid's path in a shared 2-D PCA space over fine-tuning checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CentroidPath {
    /// Label name.
    pub label: String,
    /// One `[x, y]` per checkpoint, in update order.
    pub points: Vec<[f64; 2]>,
}

/// Centroid paths of a few labels at one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CentroidPaths {
    /// Layer.
    pub layer: usize,
    /// One path per label.
    pub paths: Vec<CentroidPath>,
}

/// Quantities tracked over fine-tuning checkpoints.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Dynamics {
    /// Layer of the minimum-distance curves (the last layer in the paper).
    pub layer: usize,
    /// Number of fine-tuning updates at each checkpoint (x axis; 0 = pre-trained).
    pub updates: Vec<u64>,
    /// Minimum distance to other labels of the 3 most increased labels.
    #[serde(default)]
    pub most_increased: Vec<NamedCurve>,
    /// Minimum distance to other labels of the 3 least increased labels.
    #[serde(default)]
    pub least_increased: Vec<NamedCurve>,
    /// Per layer: Pearson correlation of the label-pair distance vector with the pre-trained one.
    /// A layer whose space is not linear is named so (e.g. `layer 2 (not linear)`): the paper
    /// defines the similarity only for one cluster per label.
    #[serde(default)]
    pub layer_similarity: Vec<NamedCurve>,
    /// How label pairs without a distance entered those correlations and how many there were.
    #[serde(default)]
    pub similarity_note: Option<String>,
    /// Centroid paths (e.g. ADJ/VERB/NOUN at the first and last layer).
    #[serde(default)]
    pub centroid_paths: Vec<CentroidPaths>,
    /// Similarity to the pre-trained space and geometry descriptors at every snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<DynamicsMeasures>,
}

/// One measure over the snapshots at one layer (`None`: undefined there).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicsMeasureLayer {
    /// Hidden-state index.
    pub layer: usize,
    /// Value per snapshot.
    pub values: Vec<Option<f64>>,
    /// Null mean per snapshot (similarities with permutations).
    #[serde(default)]
    pub null_mean: Vec<Option<f64>>,
    /// Null standard deviation per snapshot.
    #[serde(default)]
    pub null_std: Vec<Option<f64>>,
    /// Permutation p-value per snapshot.
    #[serde(default)]
    pub p_value: Vec<Option<f64>>,
    /// With several fine-tuning seeds: the mean over the seeds per snapshot, with its 95 %
    /// bootstrap interval (NaN where undefined).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Series>,
}

/// One measure over the snapshots, per layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicsMeasure {
    /// Key (figure and CSV names).
    pub key: String,
    /// Display name.
    pub name: String,
    /// `similarity`, `distance` or `descriptor`.
    pub kind: String,
    /// What it measures.
    pub about: String,
    /// Row permutations of its null (0: none, e.g. a descriptor).
    #[serde(default)]
    pub permutations: usize,
    /// One entry per layer.
    pub layers: Vec<DynamicsMeasureLayer>,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// The measures of the dynamics experiment beyond the paper (x axis: [`Dynamics::updates`];
/// figures: `crates/report/src/dynamics_measures.rs`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DynamicsMeasures {
    /// Split whose units are measured.
    pub split: String,
    /// Units measured.
    pub units: usize,
    /// Permutations of the nulls (most measures'; each measure has its own count).
    pub permutations: usize,
    /// Fine-tuning seeds behind [`DynamicsMeasureLayer::seeds`] (0: one run, no interval).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub seeds: usize,
    /// The measures.
    pub measures: Vec<DynamicsMeasure>,
}

/// Accuracy per probe epoch on the three memorisation subsets (averaged over seeds): the
/// memorisation stage's result and the report's curves (one type).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoCurves {
    /// Accuracy on subtrain (seen by fine-tuning and by the probe).
    #[serde(with = "nonfinite::vec")]
    pub subtrain: Vec<f64>,
    /// Accuracy on subtest (seen by fine-tuning only).
    #[serde(with = "nonfinite::vec")]
    pub subtest: Vec<f64>,
    /// Accuracy on test (seen by neither).
    #[serde(with = "nonfinite::vec")]
    pub test: Vec<f64>,
}

impl MemoCurves {
    /// Mean over seeds of per-seed curves (`curves[seed][epoch]`); seeds that stopped early
    /// contribute to the epochs they trained.
    pub fn mean_of(subtrain: &[Vec<f64>], subtest: &[Vec<f64>], test: &[Vec<f64>]) -> MemoCurves {
        fn mean(curves: &[Vec<f64>]) -> Vec<f64> {
            let len = curves.iter().map(Vec::len).max().unwrap_or(0);
            (0..len)
                .map(|e| {
                    let v: Vec<f64> = curves.iter().filter_map(|c| c.get(e).copied()).collect();
                    v.iter().sum::<f64>() / v.len() as f64
                })
                .collect()
        }
        MemoCurves {
            subtrain: mean(subtrain),
            subtest: mean(subtest),
            test: mean(test),
        }
    }

    /// Subtest − test accuracy after the last epoch (the memorisation gap).
    pub fn final_gap(&self) -> Option<f64> {
        Some(self.subtest.last()? - self.test.last()?)
    }

    /// Subtrain − subtest accuracy after the last epoch (what the probe alone overfits).
    pub fn final_probe_gap(&self) -> Option<f64> {
        Some(self.subtrain.last()? - self.subtest.last()?)
    }
}

/// Memorisation experiment learning curves (paper v1, Fig. E).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memorisation {
    /// Probe epochs (x axis).
    pub epochs: Vec<usize>,
    /// Probe on the pre-trained encoder.
    pub before: MemoCurves,
    /// Probe on the fine-tuned encoder.
    pub after: MemoCurves,
    /// Subtest units fine-tuning never saw (e.g. cut off by the sub-word limit): the premise
    /// "subtest was seen by fine-tuning" holds only for the others.
    #[serde(default)]
    pub subtest_unseen: usize,
    /// Subtest units in all.
    #[serde(default)]
    pub subtest_units: usize,
}

/// The report's JSON form of the layer × layer CKA ([`CkaLayers`]): rows, columns and values
/// (non-finite values encoded), without the rows used; read back, `n_rows` is 0.
mod cka_view {
    use super::*;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Matrix {
        rows: Vec<usize>,
        cols: Vec<usize>,
        #[serde(with = "nonfinite::matrix")]
        values: Vec<Vec<f64>>,
    }

    pub fn serialize<S: Serializer>(
        c: &Option<CkaLayers>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        c.as_ref()
            .map(|c| Matrix {
                rows: c.rows.clone(),
                cols: c.cols.clone(),
                values: c.values.clone(),
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<CkaLayers>, D::Error> {
        Ok(Option::<Matrix>::deserialize(d)?.map(|m| CkaLayers {
            rows: m.rows,
            cols: m.cols,
            values: m.values,
            n_rows: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_distances_round_trip_through_json() {
        let m = DistanceMatrices {
            layer: 3,
            labels: vec!["A".into(), "B".into()],
            before: vec![vec![0.0, f64::INFINITY], vec![f64::NAN, 0.0]],
            after: vec![vec![0.0, 1.5], vec![f64::NEG_INFINITY, 0.0]],
        };
        let json = serde_json::to_string(&m).unwrap();
        assert!(json.contains("\"inf\"") && json.contains("null") && json.contains("\"-inf\""));
        let back: DistanceMatrices = serde_json::from_str(&json).unwrap();
        assert_eq!(back.before[0][1], f64::INFINITY);
        assert!(back.before[1][0].is_nan());
        assert_eq!(back.after[1][0], f64::NEG_INFINITY);
        assert_eq!(back.after[0][1], 1.5);
    }

    #[test]
    fn minimal_json_has_every_section_absent() {
        let d: ReportData = serde_json::from_str(r#"{"title":"t"}"#).unwrap();
        assert!(d.study.is_none() && d.table_a.is_empty() && d.cross_task.is_none());
        assert!(d.runs.is_empty());
        let r: TaskModelReport = serde_json::from_str(r#"{"task":"POS","model":"m"}"#).unwrap();
        assert!(r.layers.is_none() && r.dynamics.is_none() && r.cka_layers.is_none());
    }

    #[test]
    fn version_uses_paper_names_and_rejects_unknown_strings() {
        let v: Version = serde_json::from_str("\"fine-tuned\"").unwrap();
        assert_eq!(v, Version::FineTuned);
        assert!(serde_json::from_str::<Version>("\"tuned\"").is_err());
        assert!(serde_json::from_str::<Series>(r#"{"values":["x"]}"#).is_err());
    }
}

/// Everything the measures sections show; each part is `None` when the study did not compute
/// it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    /// Calibrated similarity per layer.
    #[serde(default)]
    pub similarity: Option<SimilaritySection>,
    /// MDL probes per layer.
    #[serde(default)]
    pub mdl: Option<MdlSection>,
    /// Per-example prediction changes.
    #[serde(default)]
    pub examples: Option<ExamplesSection>,
}

/// One index value with its permutation null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NullScore {
    /// The index on the paired units.
    #[serde(with = "nonfinite::one")]
    pub value: f64,
    /// Mean of the index over the permutations.
    #[serde(default, with = "nonfinite::opt")]
    pub null_mean: Option<f64>,
    /// Standard deviation over the permutations.
    #[serde(default, with = "nonfinite::opt")]
    pub null_std: Option<f64>,
    /// Permutation p-value.
    #[serde(default, with = "nonfinite::opt")]
    pub p_value: Option<f64>,
    /// `(value − null_mean) / null_std`.
    #[serde(default, with = "nonfinite::opt")]
    pub calibrated: Option<f64>,
}

/// One similarity index over the layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimilarityMeasure {
    /// Machine name, e.g. `debiased_cka`.
    pub key: String,
    /// Display name, e.g. `debiased CKA`.
    pub name: String,
    /// `similarity` (larger = more alike) or `distance` (smaller = more alike).
    pub kind: String,
    /// What the index is and what chance looks like.
    pub about: String,
    /// One score per layer of [`SimilaritySection::layers`].
    pub scores: Vec<NullScore>,
    /// With several fine-tuning seeds: the index's mean per layer over the replicates and its
    /// 95 % bootstrap interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<Series>,
}

/// Pre-trained vs fine-tuned similarity per layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimilaritySection {
    /// Layers (x axis).
    pub layers: Vec<usize>,
    /// Split of the units compared.
    pub split: String,
    /// Units compared (seeded sample).
    pub units: usize,
    /// Permutations per null.
    pub permutations: usize,
    /// Neighbours of mutual k-NN.
    pub k: usize,
    /// The indices, the report's default CKA (debiased) first.
    pub measures: Vec<SimilarityMeasure>,
}

/// MDL of one probe shape per layer, before and after fine-tuning.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MdlProbe {
    /// `linear` or the MLP's hidden sizes, e.g. `MLP 64×64`.
    pub name: String,
    /// Compression per layer, pre-trained.
    #[serde(with = "nonfinite::vec")]
    pub before: Vec<f64>,
    /// Compression per layer, fine-tuned.
    #[serde(with = "nonfinite::vec")]
    pub after: Vec<f64>,
    /// Online codelength (bits) per layer, pre-trained.
    #[serde(with = "nonfinite::vec")]
    pub before_bits: Vec<f64>,
    /// Online codelength (bits) per layer, fine-tuned.
    #[serde(with = "nonfinite::vec")]
    pub after_bits: Vec<f64>,
    /// Compression of the control task per layer, pre-trained (empty without control).
    #[serde(default, with = "nonfinite::vec")]
    pub control_before: Vec<f64>,
    /// Same, fine-tuned.
    #[serde(default, with = "nonfinite::vec")]
    pub control_after: Vec<f64>,
    /// With several fine-tuning seeds: the fine-tuned compression's mean per layer over the
    /// replicates and its 95 % bootstrap interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seeds: Option<Series>,
}

/// MDL probes per layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MdlSection {
    /// Layers (x axis).
    pub layers: Vec<usize>,
    /// Training units transmitted.
    pub units: usize,
    /// Uniform codelength in bits (`units · log₂ K`).
    #[serde(with = "nonfinite::one")]
    pub uniform_bits: f64,
    /// Probe seeds averaged.
    pub seeds: usize,
    /// One entry per probe shape.
    pub probes: Vec<MdlProbe>,
}

/// Counts of each kind of change at one layer on one split.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExampleCounts {
    /// Layer.
    pub layer: usize,
    /// Split (`test`, or `subtrain` / `subtest` / `test` in the memorisation group).
    pub split: String,
    /// Correct before and after.
    pub stayed_right: usize,
    /// Wrong before and after.
    pub stayed_wrong: usize,
    /// Correct before, wrong after.
    pub right_to_wrong: usize,
    /// Wrong before, correct after.
    pub wrong_to_right: usize,
}

/// One sampled unit.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExampleRow {
    /// Layer.
    pub layer: usize,
    /// Split.
    pub split: String,
    /// The sentence.
    pub sentence: String,
    /// The word (empty for sentence units).
    pub word: String,
    /// Gold label.
    pub gold: String,
    /// Predicted before fine-tuning.
    pub before: String,
    /// Predicted after fine-tuning.
    pub after: String,
    /// `right_to_wrong`, `wrong_to_right`, `stayed_right` or `stayed_wrong`.
    pub change: String,
}

/// One group of the per-example view (all layers on test, or the memorisation layer).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExampleGroup {
    /// Heading.
    pub title: String,
    /// How the predictions were made.
    pub about: String,
    /// Counts per layer and split.
    pub counts: Vec<ExampleCounts>,
    /// Sampled units of each kind.
    pub samples: Vec<ExampleRow>,
}

/// The per-example view.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExamplesSection {
    /// Where every unit is listed, relative to the run directory (e.g. `compare/examples.csv`).
    pub csv_path: String,
    /// The groups.
    pub groups: Vec<ExampleGroup>,
}
