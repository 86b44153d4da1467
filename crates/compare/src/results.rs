//! The comparison results as written to `compare/` (JSON and CSV).

use crate::analysis::{DifferencePca, DistanceChange, SimilarityIndices, SpatialSimilarity};
use crate::io::{FINETUNED, PRETRAINED};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tunescope_data::csv::{opt_num, table};
use tunescope_data::fs::write_atomic;
pub use tunescope_report::results::{CkaLayers, TableARow};

/// One label at one layer: its distances before and after fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDistanceRow {
    /// Label name.
    pub label: String,
    /// Minimum distance to the other labels, pre-trained (`None`: undefined, e.g. the label only
    /// has clusters dropped by the size filter).
    pub outside_min_before: Option<f64>,
    /// Same, fine-tuned.
    pub outside_min_after: Option<f64>,
    /// Mean pairwise distance inside the label's clusters, pre-trained.
    pub inside_mean_before: Option<f64>,
    /// Same, fine-tuned.
    pub inside_mean_after: Option<f64>,
    /// Largest pairwise distance inside the label's clusters, pre-trained.
    pub inside_max_before: Option<f64>,
    /// Same, fine-tuned.
    pub inside_max_after: Option<f64>,
}

/// Label distances of one layer (train DirectProbe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelDistanceLayer {
    /// Layer.
    pub layer: usize,
    /// Per label, in label order.
    pub labels: Vec<LabelDistanceRow>,
    /// Grew / shrank counts and mean change of `outside_min`; `None` without a fine-tuned model.
    pub change: Option<DistanceChange>,
    /// Label metrics drop clusters of at most this many points.
    pub min_cluster_size: usize,
    /// Clusters dropped by that filter, pre-trained.
    pub clusters_dropped_before: usize,
    /// Clusters dropped by that filter, fine-tuned.
    pub clusters_dropped_after: Option<usize>,
    /// Label × label hull distances (mean over kept cluster pairs), pre-trained; `None` where
    /// undefined.
    pub pair_before: Vec<Vec<Option<f64>>>,
    /// Same, fine-tuned.
    pub pair_after: Option<Vec<Vec<Option<f64>>>>,
}

/// Centroid movement of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovementLayer {
    /// Layer.
    pub layer: usize,
    /// Per label: Euclidean distance between its train centroids before and after.
    pub displacement: Vec<Option<f64>>,
    /// Mean of the defined displacements.
    pub mean_displacement: Option<f64>,
    /// 2-D PCA of the per-label difference vectors (after − before).
    pub difference_pca: Option<DifferencePca>,
    /// Why the PCA is missing.
    pub pca_note: Option<String>,
}

/// Pre-trained vs fine-tuned similarity of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityLayer {
    /// Layer.
    pub layer: usize,
    /// Pearson correlation of the train label-pair distance vectors ("preserves structure").
    pub spatial: SpatialSimilarity,
    /// CKA, debiased CKA, RSA and Procrustes on the sampled similarity rows.
    pub indices: SimilarityIndices,
}

/// One of the paper's findings checked on this run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// The claim.
    pub claim: String,
    /// Whether it holds here; `None` when it cannot be checked.
    pub holds: Option<bool>,
    /// The numbers behind the verdict.
    pub evidence: String,
}

/// How the inputs were sampled, for the record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampling {
    /// DirectProbe settings (cap, seed, size filter).
    pub directprobe: crate::dp::DirectProbeSettings,
    /// Split of the similarity indices.
    pub similarity_split: String,
    /// Rows of that split used for CKA and Procrustes (seeded sample).
    pub similarity_rows: usize,
    /// Rows of that split.
    pub similarity_rows_total: usize,
    /// RSA row sample size and seed.
    pub rsa_sample: usize,
    /// RSA seed.
    pub rsa_seed: u64,
}

/// Everything `compare` computed for one run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareResults {
    /// Label names (sorted), indexing every per-label vector.
    pub labels: Vec<String>,
    /// Layers compared.
    pub layers: Vec<usize>,
    /// Whether fine-tuned representations were present (otherwise only the pre-trained columns).
    pub has_finetuned: bool,
    /// Sampling and filter settings.
    pub sampling: Sampling,
    /// Table A, one row per layer × version.
    pub table_a: Vec<TableARow>,
    /// Per layer label distances.
    pub label_distances: Vec<LabelDistanceLayer>,
    /// Per layer centroid movement (empty without a fine-tuned model).
    pub layer_movement: Vec<MovementLayer>,
    /// Per layer pre vs post similarity (empty without a fine-tuned model).
    pub similarity: Vec<SimilarityLayer>,
    /// Layer × layer CKA (absent without a fine-tuned model).
    pub cka_layers: Option<CkaLayers>,
    /// The measures of the registered per-layer analyses ([`crate::layer_analyses`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub layer_measures: Vec<tunescope_report::LayerMeasure>,
    /// The paper's findings checked on these numbers.
    pub findings: Vec<Finding>,
    /// Run-level notes (e.g. what could not be computed and why).
    pub notes: Vec<String>,
}

fn pretty<T: Serialize>(v: &T) -> Result<String> {
    Ok(serde_json::to_string_pretty(v).context("serialising compare results")? + "\n")
}

fn opt_usize(v: Option<usize>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// Written under `compare/` after [`OUTPUT_FILES`] when a per-layer analysis is registered.
pub const LAYER_MEASURES_FILE: &str = "layer_measures.csv";

/// File names written under `compare/`, in writing order.
pub const OUTPUT_FILES: [&str; 15] = [
    "table_a.json",
    "table_a.csv",
    "label_distances.json",
    "label_distances.csv",
    "label_distance_change.csv",
    "layer_movement.json",
    "layer_movement.csv",
    "spatial_similarity.json",
    "spatial_similarity.csv",
    "similarity_indices.json",
    "similarity_indices.csv",
    "cka_layers.json",
    "cka_layers.csv",
    "findings.json",
    "compare.json",
];

impl CompareResults {
    /// Renders every output file (name, contents), in [`OUTPUT_FILES`] order.
    pub fn files(&self) -> Result<Vec<(&'static str, String)>> {
        let names = &self.labels;
        let table_a = table(
            &[
                "layer",
                "version",
                "acc_mean",
                "acc_std",
                "best_hidden",
                "best_l2",
                "probe_selected_on",
                "linear_acc_mean",
                "linear_acc_std",
                "linear_l2",
                "n_clusters",
                "n_labels",
                "linear",
                "min_distance",
                "min_cluster_pair_distance",
                "train_test_similarity",
                "undefined_pairs",
                "pairs_undefined",
                "similarity_note",
                "min_cluster_size",
                "clusters_dropped",
                "test_clusters_dropped",
                "train_rows_used",
                "train_rows_total",
                "conflict_rows_dropped",
                "probe_note",
                "selectivity",
                "mdl_compression",
            ],
            &self
                .table_a
                .iter()
                .map(|r| {
                    vec![
                        r.layer.to_string(),
                        r.version.clone(),
                        opt_num(r.acc_mean),
                        opt_num(r.acc_std),
                        r.best_hidden
                            .as_ref()
                            .map(|h| tunescope_model::probe::shape_name(h))
                            .unwrap_or_default(),
                        opt_num(r.best_l2),
                        r.probe_selected_on.clone().unwrap_or_default(),
                        opt_num(r.linear_acc_mean),
                        opt_num(r.linear_acc_std),
                        opt_num(r.linear_l2),
                        r.n_clusters.to_string(),
                        r.n_labels.to_string(),
                        r.linear.to_string(),
                        opt_num(r.min_distance),
                        opt_num(r.min_cluster_pair_distance),
                        r.train_test_similarity
                            .pearson
                            .map_or("–".into(), |p| p.to_string()),
                        r.train_test_similarity.undefined_pairs.as_str().into(),
                        r.train_test_similarity.pairs_undefined.to_string(),
                        r.train_test_similarity.note.clone().unwrap_or_default(),
                        r.min_cluster_size.to_string(),
                        r.clusters_dropped.to_string(),
                        r.test_clusters_dropped.to_string(),
                        r.train_rows_used.to_string(),
                        r.train_rows_total.to_string(),
                        r.conflict_rows_dropped.to_string(),
                        r.probe_note.clone().unwrap_or_default(),
                        opt_num(r.selectivity),
                        opt_num(r.mdl_compression),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let mut ld_rows = Vec::new();
        for l in &self.label_distances {
            for r in &l.labels {
                ld_rows.push(vec![
                    l.layer.to_string(),
                    r.label.clone(),
                    opt_num(r.outside_min_before),
                    opt_num(r.outside_min_after),
                    opt_num(
                        r.outside_min_after
                            .zip(r.outside_min_before)
                            .map(|(a, b)| a - b),
                    ),
                    opt_num(r.inside_mean_before),
                    opt_num(r.inside_mean_after),
                    opt_num(r.inside_max_before),
                    opt_num(r.inside_max_after),
                ]);
            }
        }
        let label_distances = table(
            &[
                "layer",
                "label",
                "outside_min_before",
                "outside_min_after",
                "outside_min_change",
                "inside_mean_before",
                "inside_mean_after",
                "inside_max_before",
                "inside_max_after",
            ],
            &ld_rows,
        );
        let change = table(
            &[
                "layer",
                "n_grew",
                "n_shrank",
                "n_unchanged",
                "n_undefined",
                "mean_change",
                "min_cluster_size",
                "clusters_dropped_before",
                "clusters_dropped_after",
            ],
            &self
                .label_distances
                .iter()
                .map(|l| {
                    let c = l.change.as_ref();
                    vec![
                        l.layer.to_string(),
                        opt_usize(c.map(|c| c.n_grew)),
                        opt_usize(c.map(|c| c.n_shrank)),
                        opt_usize(c.map(|c| c.n_unchanged)),
                        opt_usize(c.map(|c| c.n_undefined)),
                        opt_num(c.and_then(|c| c.mean_change)),
                        l.min_cluster_size.to_string(),
                        l.clusters_dropped_before.to_string(),
                        opt_usize(l.clusters_dropped_after),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let mut mv_rows = Vec::new();
        for m in &self.layer_movement {
            for (l, d) in m.displacement.iter().enumerate() {
                let pc = m
                    .difference_pca
                    .as_ref()
                    .and_then(|p| p.labels.iter().position(|&x| x == l).map(|i| p.points[i]));
                mv_rows.push(vec![
                    m.layer.to_string(),
                    names[l].clone(),
                    opt_num(*d),
                    opt_num(pc.map(|p| p[0])),
                    opt_num(pc.map(|p| p[1])),
                ]);
            }
        }
        let movement = table(
            &["layer", "label", "displacement", "diff_pc1", "diff_pc2"],
            &mv_rows,
        );
        let spatial = table(
            &[
                "layer",
                "pearson",
                "undefined_pairs",
                "pairs_used",
                "pairs_undefined",
                "note",
            ],
            &self
                .similarity
                .iter()
                .map(|s| {
                    vec![
                        s.layer.to_string(),
                        s.spatial.pearson.map_or("–".into(), |p| p.to_string()),
                        s.spatial.undefined_pairs.as_str().into(),
                        s.spatial.pairs_used.to_string(),
                        s.spatial.pairs_undefined.to_string(),
                        s.spatial.note.clone().unwrap_or_default(),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let indices = table(
            &[
                "layer",
                "rows",
                "cka",
                "cka_debiased",
                "rsa",
                "rsa_rows",
                "procrustes",
                "notes",
            ],
            &self
                .similarity
                .iter()
                .map(|s| {
                    let i = &s.indices;
                    vec![
                        s.layer.to_string(),
                        i.rows.to_string(),
                        opt_num(i.cka),
                        opt_num(i.cka_debiased),
                        opt_num(i.rsa),
                        i.rsa_rows.to_string(),
                        opt_num(i.procrustes),
                        i.notes.join("; "),
                    ]
                })
                .collect::<Vec<_>>(),
        );
        let mut cka_rows = Vec::new();
        if let Some(c) = &self.cka_layers {
            for (i, r) in c.rows.iter().enumerate() {
                for (j, col) in c.cols.iter().enumerate() {
                    cka_rows.push(vec![
                        r.to_string(),
                        col.to_string(),
                        c.values[i][j].to_string(),
                    ]);
                }
            }
        }
        let cka = table(&["pretrained_layer", "finetuned_layer", "cka"], &cka_rows);
        let spatial_json: Vec<serde_json::Value> = self
            .similarity
            .iter()
            .map(|s| serde_json::json!({"layer": s.layer, "spatial": s.spatial}))
            .collect();
        let indices_json: Vec<serde_json::Value> = self
            .similarity
            .iter()
            .map(|s| serde_json::json!({"layer": s.layer, "indices": s.indices}))
            .collect();
        Ok([
            ("table_a.json", pretty(&self.table_a)?),
            ("table_a.csv", table_a),
            ("label_distances.json", pretty(&self.label_distances)?),
            ("label_distances.csv", label_distances),
            ("label_distance_change.csv", change),
            (
                "layer_movement.json",
                pretty(&serde_json::json!({"labels": names, "layers": self.layer_movement}))?,
            ),
            ("layer_movement.csv", movement),
            ("spatial_similarity.json", pretty(&spatial_json)?),
            ("spatial_similarity.csv", spatial),
            (
                "similarity_indices.json",
                pretty(&serde_json::json!({"sampling": self.sampling, "layers": indices_json}))?,
            ),
            ("similarity_indices.csv", indices),
            ("cka_layers.json", pretty(&self.cka_layers)?),
            ("cka_layers.csv", cka),
            ("findings.json", pretty(&self.findings)?),
            ("compare.json", pretty(self)?),
        ]
        .into_iter()
        .chain((!self.layer_measures.is_empty()).then(|| {
            let versions = if self.has_finetuned {
                &[PRETRAINED, FINETUNED][..]
            } else {
                &[PRETRAINED][..]
            };
            (
                LAYER_MEASURES_FILE,
                crate::layer_analyses::csv(&self.layer_measures, versions),
            )
        }))
        .collect())
    }

    /// Writes every output file into `dir` (created if missing). All contents are rendered
    /// before the first write; each file is written atomically.
    pub fn write(&self, dir: &Path) -> Result<()> {
        let files = self.files()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, text) in files {
            write_atomic(&dir.join(name), &text)?;
        }
        Ok(())
    }

    /// Reads `compare.json` back.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("compare.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{}: expected the results of `tunescope compare`",
                path.display()
            )
        })
    }
}
