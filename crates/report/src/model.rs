//! Input schema of the report: everything the page shows, as plain serde structs.
//!
//! Every section is optional (`Option` or an empty `Vec`); the report says "not computed" for a
//! section a study did not produce. Numbers that may be non-finite (distances between labels whose
//! hulls overlap or are undefined, accuracies of a failed run) are plain `f64` in Rust; in JSON a
//! finite value is a number, `+∞`/`−∞` are the strings `"inf"`/`"-inf"` and NaN is `null`.

use std::path::Path;

use serde::{Deserialize, Serialize};

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
    pub table_a: Vec<TableARow>,
    /// Cross-task fine-tuning table (paper Table C); `None` when not computed.
    #[serde(default)]
    pub cross_task: Option<Vec<CrossTaskRow>>,
    /// Per task × model analyses.
    #[serde(default)]
    pub runs: Vec<TaskModelReport>,
    /// Calibrated similarity, MDL probes and per-example changes; `None` when not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub measures: Option<crate::measures::Measures>,
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

/// Representation version: the pre-trained encoder or the fine-tuned one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// The pre-trained encoder ("original" in the paper).
    #[serde(rename = "original")]
    Original,
    /// The encoder after fine-tuning on the task.
    #[serde(rename = "fine-tuned")]
    FineTuned,
}

impl Version {
    /// Display name as in the paper.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Original => "original",
            Version::FineTuned => "fine-tuned",
        }
    }
}

/// One row of Table A: one model × task × version at one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableARow {
    /// Model name, e.g. `bert-base`.
    pub model: String,
    /// Task name, e.g. `POS`.
    pub task: String,
    /// Original or fine-tuned.
    pub version: Version,
    /// Layer analysed (0 = embeddings).
    pub layer: usize,
    /// Classifier-probe test accuracy, mean over seeds, in percent.
    #[serde(default, with = "nonfinite::opt")]
    pub acc_mean: Option<f64>,
    /// Standard deviation of the accuracy over seeds, in percent.
    #[serde(default, with = "nonfinite::opt")]
    pub acc_std: Option<f64>,
    /// Hidden sizes of the probe chosen on dev, e.g. `[256, 64]`.
    #[serde(default)]
    pub best_hidden: Vec<usize>,
    /// Number of DirectProbe clusters on the training set.
    #[serde(default)]
    pub n_clusters: Option<usize>,
    /// Whether the training set is linearly separable (one cluster per label).
    #[serde(default)]
    pub is_linear: Option<bool>,
    /// Train/test spatial similarity (Pearson of the label-pair distance vectors).
    #[serde(default, with = "nonfinite::opt")]
    pub similarity: Option<f64>,
    /// Why the similarity is "–" when it is absent (e.g. "not linear on test").
    #[serde(default)]
    pub similarity_note: Option<String>,
    /// Every training unit shares its vector with a unit of another label: DirectProbe has
    /// nothing to cluster (e.g. `cls` pooling at layer 0).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub degenerate: bool,
    /// Selectivity of the chosen probe: accuracy minus control-task accuracy (points).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "nonfinite::opt"
    )]
    pub selectivity: Option<f64>,
    /// MDL compression of the linear probe (uniform / online codelength).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "nonfinite::opt"
    )]
    pub mdl_compression: Option<f64>,
}

/// One row of the cross-task table (paper Table C).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTaskRow {
    /// Task the encoder was fine-tuned on; `None` for the pre-trained encoder.
    #[serde(default)]
    pub finetuned_on: Option<String>,
    /// Task probed.
    pub probing: String,
    /// Number of labels whose minimum distance to the other labels increased.
    #[serde(default)]
    pub n_inc: Option<usize>,
    /// Number of labels whose minimum distance decreased.
    #[serde(default)]
    pub n_dec: Option<usize>,
    /// Mean change of the labels' minimum distances.
    #[serde(default, with = "nonfinite::opt")]
    pub mean_change: Option<f64>,
    /// Probe accuracy in percent.
    #[serde(default, with = "nonfinite::opt")]
    pub acc: Option<f64>,
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
    /// Layer × layer CKA between the pre-trained and the fine-tuned encoder.
    #[serde(default)]
    pub cka_layers: Option<CkaMatrix>,
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
    #[serde(default)]
    pub layer_similarity: Vec<NamedCurve>,
    /// Centroid paths (e.g. ADJ/VERB/NOUN at the first and last layer).
    #[serde(default)]
    pub centroid_paths: Vec<CentroidPaths>,
}

/// Accuracy per probe epoch on the three memorisation subsets.
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

/// Memorisation experiment learning curves (paper v1, Fig. E).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memorisation {
    /// Probe epochs (x axis).
    pub epochs: Vec<usize>,
    /// Probe on the pre-trained encoder.
    pub before: MemoCurves,
    /// Probe on the fine-tuned encoder.
    pub after: MemoCurves,
}

/// Layer × layer CKA: rows are pre-trained layers, columns fine-tuned layers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CkaMatrix {
    /// Pre-trained layer indices (rows).
    pub rows: Vec<usize>,
    /// Fine-tuned layer indices (columns).
    pub cols: Vec<usize>,
    /// `values[row][col]` in [0, 1].
    #[serde(with = "nonfinite::matrix")]
    pub values: Vec<Vec<f64>>,
}

/// JSON encoding of possibly non-finite `f64`: numbers, `"inf"`, `"-inf"`, `null` (NaN).
pub(crate) mod nonfinite {
    use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

    /// Wire form of one possibly non-finite number.
    pub struct F(pub f64);

    impl Serialize for F {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let v = self.0;
            if v.is_nan() {
                s.serialize_none()
            } else if v == f64::INFINITY {
                s.serialize_str("inf")
            } else if v == f64::NEG_INFINITY {
                s.serialize_str("-inf")
            } else {
                s.serialize_f64(v)
            }
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Text(String),
    }

    impl<'de> Deserialize<'de> for F {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match Option::<Raw>::deserialize(d)? {
                None => Ok(F(f64::NAN)),
                Some(Raw::Num(v)) => Ok(F(v)),
                Some(Raw::Text(t)) => match t.to_ascii_lowercase().as_str() {
                    "inf" | "+inf" | "infinity" | "+infinity" => Ok(F(f64::INFINITY)),
                    "-inf" | "-infinity" => Ok(F(f64::NEG_INFINITY)),
                    "nan" => Ok(F(f64::NAN)),
                    _ => Err(de::Error::custom(format!("not a number: {t:?}"))),
                },
            }
        }
    }

    pub mod one {
        use super::*;
        pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
            F(*v).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
            Ok(F::deserialize(d)?.0)
        }
    }

    /// `Option<f64>`: `None` and NaN are both `null`; `null` reads back as `None`.
    pub mod opt {
        use super::*;
        pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
            v.map(F).serialize(s)
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
            Ok(Option::<F>::deserialize(d)?
                .map(|f| f.0)
                .filter(|v| !v.is_nan()))
        }
    }

    pub mod vec {
        use super::*;
        pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|&x| F(x)))
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
            Ok(Vec::<F>::deserialize(d)?.into_iter().map(|f| f.0).collect())
        }
    }

    pub mod matrix {
        use super::*;
        pub fn serialize<S: Serializer>(m: &[Vec<f64>], s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(
                m.iter()
                    .map(|row| row.iter().map(|&x| F(x)).collect::<Vec<_>>()),
            )
        }
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<f64>>, D::Error> {
            Ok(Vec::<Vec<F>>::deserialize(d)?
                .into_iter()
                .map(|row| row.into_iter().map(|f| f.0).collect())
                .collect())
        }
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
