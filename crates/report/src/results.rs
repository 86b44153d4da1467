//! The result types of the analyses, shared by `tunescope-compare` (which computes and writes
//! them: `compare/table_a.json`, `compare/cka_layers.json`, `compare/compare.json`,
//! `cross/<name>/result/table.json`) and the
//! report (which draws them). One type per analysis: the report's sections hold these rows as
//! compare wrote them ([`crate::TableAEntry`] adds the model and task), and the report's embedded
//! JSON is a documented view of them (`docs/report.md`, [`crate::model`]).

use serde::{Deserialize, Serialize};

/// How a label pair without a distance on one side (fewer than `min_cluster_size` points, or a
/// label missing from a split) enters a spatial similarity (`compare.undefined_pairs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UndefinedPairs {
    /// The missing distance is written as 0 and the pair kept: the authors' code.
    #[default]
    Zero,
    /// The pair is left out of both distance vectors.
    Drop,
}

impl UndefinedPairs {
    /// `zero` or `drop`, as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            UndefinedPairs::Zero => "zero",
            UndefinedPairs::Drop => "drop",
        }
    }
}

/// How each label's minimum distance to the other labels changed (paper Table C's #inc / #dec /
/// average inc, and Fig. L's end points).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistanceChange {
    /// Per label: after − before; `None` where either value is undefined.
    pub delta: Vec<Option<f64>>,
    /// Labels whose minimum distance grew.
    pub n_grew: usize,
    /// Labels whose minimum distance shrank.
    pub n_shrank: usize,
    /// Labels whose minimum distance is unchanged.
    pub n_unchanged: usize,
    /// Labels left out because their minimum distance is undefined before or after.
    pub n_undefined: usize,
    /// Mean of `delta` over the labels where it is defined.
    pub mean_change: Option<f64>,
}

/// Pearson correlation of two label-pair distance vectors, with why it is missing.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SpatialSimilarity {
    /// The correlation; `None` when undefined.
    pub pearson: Option<f64>,
    /// Why `pearson` is undefined, or how undefined pairs entered it.
    pub note: Option<String>,
    /// Label pairs in the distance vectors.
    pub pairs_used: usize,
    /// Label pairs whose distance is undefined on either side (e.g. a label absent from a split,
    /// or only in clusters dropped by the size filter).
    pub pairs_undefined: usize,
    /// How those pairs entered the vectors: written as 0 (`zero`) or left out (`drop`).
    #[serde(default)]
    pub undefined_pairs: UndefinedPairs,
}

/// One row of the paper's Table A: one encoder version at one layer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TableARow {
    /// Layer (0 = embedding output).
    pub layer: usize,
    /// `pretrained` or `finetuned`.
    pub version: String,
    /// Classifier-probe test accuracy of the shape chosen on dev, mean over seeds, in percent.
    pub acc_mean: Option<f64>,
    /// Sample standard deviation of that accuracy over seeds, in percent.
    pub acc_std: Option<f64>,
    /// Hidden sizes of the chosen probe: the best MLP on dev (`[]` = linear, only when the
    /// probe family has no MLP).
    pub best_hidden: Option<Vec<usize>>,
    /// L2 weight (scikit-learn's `alpha`) of the chosen probe.
    #[serde(default)]
    pub best_l2: Option<f64>,
    /// The split that selected the probe configurations (`dev`).
    #[serde(default)]
    pub probe_selected_on: Option<String>,
    /// Test accuracy of the best linear probe on dev, mean over seeds, in percent.
    #[serde(default)]
    pub linear_acc_mean: Option<f64>,
    /// Its sample standard deviation over seeds, in percent.
    #[serde(default)]
    pub linear_acc_std: Option<f64>,
    /// L2 weight of that linear probe.
    #[serde(default)]
    pub linear_l2: Option<f64>,
    /// Why the probe columns are empty.
    pub probe_note: Option<String>,
    /// DirectProbe clusters on train.
    pub n_clusters: usize,
    /// Labels present among the clustered train rows.
    pub n_labels: usize,
    /// `n_clusters == n_labels`.
    pub linear: bool,
    /// Smallest label-pair *mean* distance on train: for each label pair the mean hull distance
    /// over its cluster pairs, after the `min_cluster_size` filter; the smallest of those. The
    /// smallest hull distance between two labels only when the space is linear.
    pub min_distance: Option<f64>,
    /// Smallest hull distance between two kept clusters of different labels on train
    /// (DirectProbe's per-cluster-pair minimum; equals `min_distance` when linear).
    #[serde(default)]
    pub min_cluster_pair_distance: Option<f64>,
    /// Train rows clustered / train rows in the split.
    pub train_rows_used: usize,
    /// Train rows in the split.
    pub train_rows_total: usize,
    /// Train/test spatial similarity (DirectProbe run separately on train and on test).
    pub train_test_similarity: SpatialSimilarity,
    /// Label metrics drop clusters of at most this many points.
    pub min_cluster_size: usize,
    /// Train clusters dropped by that filter.
    pub clusters_dropped: usize,
    /// Test clusters dropped by that filter.
    pub test_clusters_dropped: usize,
    /// Train rows left out as identical vectors with different labels.
    pub conflict_rows_dropped: usize,
    /// Selectivity (Hewitt & Liang 2019) of the chosen probe: test accuracy minus control-task
    /// test accuracy, in percentage points (`None` without `probe.control`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selectivity: Option<f64>,
    /// MDL compression (uniform / online codelength, Voita & Titov 2020) of the linear probe
    /// (`None` without the MDL stage).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdl_compression: Option<f64>,
}

/// One row of the cross-task table: encoder fine-tuned on `finetuned_on` (`None` = pre-trained),
/// task `probing` probed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossTaskRow {
    /// Task the encoder was fine-tuned on; `None` for the pre-trained encoder.
    pub finetuned_on: Option<String>,
    /// Task probed.
    pub probing: String,
    /// Layer analysed.
    pub layer: usize,
    /// Per-label minimum distance changes against the pre-trained encoder (absent for the
    /// pre-trained row).
    pub change: Option<DistanceChange>,
    /// Classifier-probe test accuracy (fraction), mean over seeds.
    pub acc: Option<f64>,
    /// DirectProbe clusters on the probing task's (sampled) training set.
    pub n_clusters: Option<usize>,
}

/// Layer × layer linear CKA, pre-trained layers (rows) against fine-tuned layers (columns).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CkaLayers {
    /// Pre-trained layers.
    pub rows: Vec<usize>,
    /// Fine-tuned layers.
    pub cols: Vec<usize>,
    /// `values[i][j] = CKA(pre layer rows[i], post layer cols[j])`.
    pub values: Vec<Vec<f64>>,
    /// Split rows used.
    pub n_rows: usize,
}

impl CrossTaskRow {
    /// Labels whose minimum distance grew (`None` for the pre-trained row).
    pub fn n_inc(&self) -> Option<usize> {
        self.change.as_ref().map(|c| c.n_grew)
    }

    /// Labels whose minimum distance shrank.
    pub fn n_dec(&self) -> Option<usize> {
        self.change.as_ref().map(|c| c.n_shrank)
    }

    /// Mean change of the labels' minimum distances.
    pub fn mean_change(&self) -> Option<f64> {
        self.change.as_ref().and_then(|c| c.mean_change)
    }

    /// Probe accuracy in percent.
    pub fn acc_percent(&self) -> Option<f64> {
        self.acc.map(|a| 100.0 * a)
    }
}
