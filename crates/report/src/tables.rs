//! The report's Table A and cross-task sections: compare's own rows
//! ([`crate::results::TableARow`], [`crate::results::CrossTaskRow`]) with the model and task
//! they belong to, and the JSON view of them the report embeds (`docs/report.md`).

use serde::{Deserialize, Serialize};

use crate::nonfinite;
use crate::results::{CrossTaskRow, TableARow};
use tunescope_data::rundir::{FINETUNED, PRETRAINED};

/// Representation version: the pre-trained encoder or the fine-tuned one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    /// The pre-trained encoder ("original" in the paper).
    #[default]
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

    /// The name in compare's results (`version` of a [`TableARow`]): `pretrained` or
    /// `finetuned`.
    pub fn key(self) -> &'static str {
        match self {
            Version::Original => PRETRAINED,
            Version::FineTuned => FINETUNED,
        }
    }
}

/// One row of Table A in the report: a row of `compare/table_a.json` ([`TableARow`], the
/// compare result itself) with the model and task it belongs to and, optionally, the paper's
/// published row.
///
/// Its JSON (the report's embedded data and input schema, `docs/report.md`) is a view of the
/// row: the version is `original`/`fine-tuned`, the train/test similarity is flattened and a row
/// whose training units all share a vector with another label is marked `degenerate`. Read back
/// from that JSON, the fields the view leaves out keep their defaults; a row that is not
/// degenerate must give `n_clusters` and `is_linear`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(into = "table_a_view::Row", try_from = "table_a_view::Row")]
pub struct TableAEntry {
    /// Model name, e.g. `bert-base`.
    pub model: String,
    /// Task name, e.g. `POS`.
    pub task: String,
    /// The compare result of this version at this layer.
    pub row: TableARow,
    /// The paper's published row for this model × task × version (digest §8.1), when the study
    /// names one of the paper's pairs.
    pub paper: Option<PaperRow>,
}

impl TableAEntry {
    /// Original or fine-tuned.
    pub fn version(&self) -> Version {
        if self.row.version == FINETUNED {
            Version::FineTuned
        } else {
            Version::Original
        }
    }

    /// Every training unit shares its vector with a unit of another label: DirectProbe had
    /// nothing to cluster (e.g. `cls` pooling at layer 0).
    pub fn degenerate(&self) -> bool {
        self.row.train_rows_used == 0
    }

    /// DirectProbe clusters on train; `None` when degenerate.
    pub fn n_clusters(&self) -> Option<usize> {
        (!self.degenerate()).then_some(self.row.n_clusters)
    }

    /// Whether train is linearly separable (one cluster per label); `None` when degenerate.
    pub fn is_linear(&self) -> Option<bool> {
        (!self.degenerate()).then_some(self.row.linear)
    }
}

/// The report's JSON form of a [`TableAEntry`].
mod table_a_view {
    use super::*;
    use crate::results::{SpatialSimilarity, UndefinedPairs};

    #[derive(Clone, Default, Serialize, Deserialize)]
    pub struct Row {
        model: String,
        task: String,
        version: Version,
        layer: usize,
        #[serde(default, with = "nonfinite::opt")]
        acc_mean: Option<f64>,
        #[serde(default, with = "nonfinite::opt")]
        acc_std: Option<f64>,
        #[serde(default)]
        best_hidden: Vec<usize>,
        #[serde(default, with = "nonfinite::opt")]
        best_l2: Option<f64>,
        #[serde(default)]
        selected_on: Option<String>,
        #[serde(default, with = "nonfinite::opt")]
        linear_acc_mean: Option<f64>,
        #[serde(default, with = "nonfinite::opt")]
        linear_acc_std: Option<f64>,
        #[serde(default, with = "nonfinite::opt")]
        min_distance: Option<f64>,
        #[serde(default, with = "nonfinite::opt")]
        min_cluster_pair_distance: Option<f64>,
        #[serde(default)]
        n_clusters: Option<usize>,
        #[serde(default)]
        is_linear: Option<bool>,
        #[serde(default, with = "nonfinite::opt")]
        similarity: Option<f64>,
        #[serde(default)]
        similarity_note: Option<String>,
        #[serde(default)]
        undefined_pairs: Option<String>,
        #[serde(default)]
        pairs_undefined: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        paper: Option<PaperRow>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        degenerate: bool,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "nonfinite::opt"
        )]
        selectivity: Option<f64>,
        #[serde(
            default,
            skip_serializing_if = "Option::is_none",
            with = "nonfinite::opt"
        )]
        mdl_compression: Option<f64>,
    }

    impl From<TableAEntry> for Row {
        fn from(e: TableAEntry) -> Row {
            let (version, degenerate) = (e.version(), e.degenerate());
            let (n_clusters, is_linear) = (e.n_clusters(), e.is_linear());
            let r = e.row;
            let s = r.train_test_similarity;
            Row {
                model: e.model,
                task: e.task,
                version,
                layer: r.layer,
                acc_mean: r.acc_mean,
                acc_std: r.acc_std,
                best_hidden: r.best_hidden.unwrap_or_default(),
                best_l2: r.best_l2,
                selected_on: r.probe_selected_on,
                linear_acc_mean: r.linear_acc_mean,
                linear_acc_std: r.linear_acc_std,
                min_distance: r.min_distance,
                min_cluster_pair_distance: r.min_cluster_pair_distance,
                n_clusters,
                is_linear,
                similarity: s.pearson,
                similarity_note: s.note,
                undefined_pairs: Some(s.undefined_pairs.as_str().into()),
                pairs_undefined: Some(s.pairs_undefined),
                paper: e.paper,
                degenerate,
                selectivity: r.selectivity,
                mdl_compression: r.mdl_compression,
            }
        }
    }

    impl TryFrom<Row> for TableAEntry {
        type Error = String;

        fn try_from(w: Row) -> std::result::Result<TableAEntry, String> {
            let what = || format!("Table A row {} {} layer {}", w.model, w.task, w.layer);
            let (n_clusters, linear) = match (w.degenerate, w.n_clusters, w.is_linear) {
                (true, n, l) => (n.unwrap_or(0), l.unwrap_or(false)),
                (false, Some(n), Some(l)) => (n, l),
                _ => {
                    return Err(format!(
                        "{}: expected n_clusters and is_linear (or degenerate: true)",
                        what()
                    ))
                }
            };
            let undefined_pairs = match w.undefined_pairs.as_deref() {
                None | Some("zero") => UndefinedPairs::Zero,
                Some("drop") => UndefinedPairs::Drop,
                Some(other) => {
                    return Err(format!(
                        "{}: undefined_pairs is {other:?}, expected \"zero\" or \"drop\"",
                        what()
                    ))
                }
            };
            // Only whether DirectProbe had rows to cluster is known.
            let rows = usize::from(!w.degenerate);
            Ok(TableAEntry {
                row: TableARow {
                    layer: w.layer,
                    version: w.version.key().into(),
                    acc_mean: w.acc_mean,
                    acc_std: w.acc_std,
                    best_hidden: Some(w.best_hidden),
                    best_l2: w.best_l2,
                    probe_selected_on: w.selected_on,
                    linear_acc_mean: w.linear_acc_mean,
                    linear_acc_std: w.linear_acc_std,
                    n_clusters,
                    linear,
                    min_distance: w.min_distance,
                    min_cluster_pair_distance: w.min_cluster_pair_distance,
                    train_rows_used: rows,
                    train_rows_total: rows,
                    train_test_similarity: SpatialSimilarity {
                        pearson: w.similarity,
                        note: w.similarity_note,
                        pairs_undefined: w.pairs_undefined.unwrap_or(0),
                        undefined_pairs,
                        ..Default::default()
                    },
                    selectivity: w.selectivity,
                    mdl_compression: w.mdl_compression,
                    ..Default::default()
                },
                model: w.model,
                task: w.task,
                paper: w.paper,
            })
        }
    }
}

/// A row of the paper's published Table A (Zhou & Srikumar 2022, Table 7).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaperRow {
    /// Model as the paper names it, e.g. `BERT_small`.
    pub model: String,
    /// Task as the paper names it, e.g. `POS`.
    pub task: String,
    /// Accuracy (%).
    pub acc: f64,
    /// Standard deviation (%).
    pub std: f64,
    /// Best layer size (h1, h2).
    pub hidden: [usize; 2],
    /// DirectProbe clusters.
    pub clusters: usize,
    /// Linear (one cluster per label).
    pub linear: bool,
    /// Train/test similarity; `None` where the paper prints "–".
    pub similarity: Option<f64>,
}

/// The report's JSON form of the cross-task rows ([`CrossTaskRow`], as
/// `cross/<name>/result/table.json` holds them): `n_inc`/`n_dec`/`mean_change` of the distance
/// change and the accuracy in percent. Read back, a row's change has only those numbers.
pub(crate) mod cross_task_view {
    use super::*;
    use crate::results::DistanceChange;
    use serde::{Deserializer, Serializer};

    #[derive(Serialize, Deserialize)]
    struct Row {
        #[serde(default)]
        finetuned_on: Option<String>,
        probing: String,
        #[serde(default)]
        n_inc: Option<usize>,
        #[serde(default)]
        n_dec: Option<usize>,
        #[serde(default, with = "nonfinite::opt")]
        mean_change: Option<f64>,
        #[serde(default, with = "nonfinite::opt")]
        acc: Option<f64>,
    }

    pub fn serialize<S: Serializer>(
        rows: &Option<Vec<CrossTaskRow>>,
        s: S,
    ) -> std::result::Result<S::Ok, S::Error> {
        rows.as_ref()
            .map(|rows| {
                rows.iter()
                    .map(|r| Row {
                        finetuned_on: r.finetuned_on.clone(),
                        probing: r.probing.clone(),
                        n_inc: r.n_inc(),
                        n_dec: r.n_dec(),
                        mean_change: r.mean_change(),
                        acc: r.acc_percent(),
                    })
                    .collect::<Vec<_>>()
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> std::result::Result<Option<Vec<CrossTaskRow>>, D::Error> {
        Ok(Option::<Vec<Row>>::deserialize(d)?.map(|rows| {
            rows.into_iter()
                .map(|w| CrossTaskRow {
                    finetuned_on: w.finetuned_on,
                    probing: w.probing,
                    layer: 0,
                    change: (w.n_inc.is_some() || w.n_dec.is_some() || w.mean_change.is_some())
                        .then(|| DistanceChange {
                            delta: Vec::new(),
                            n_grew: w.n_inc.unwrap_or(0),
                            n_shrank: w.n_dec.unwrap_or(0),
                            n_unchanged: 0,
                            n_undefined: 0,
                            mean_change: w.mean_change,
                        }),
                    acc: w.acc.map(|a| a / 100.0),
                    n_clusters: None,
                })
                .collect()
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_a_rows_are_read_back_from_the_report_view() {
        let json = r#"[{"model":"m","task":"POS","version":"fine-tuned","layer":2,
            "n_clusters":5,"is_linear":false,"similarity":0.5,"undefined_pairs":"drop",
            "pairs_undefined":2,"best_hidden":[8]},
            {"model":"m","task":"POS","version":"original","layer":0,"degenerate":true}]"#;
        let rows: Vec<TableAEntry> = serde_json::from_str(json).unwrap();
        assert_eq!(rows[0].version(), Version::FineTuned);
        assert_eq!(rows[0].row.version, FINETUNED);
        assert_eq!(
            (rows[0].n_clusters(), rows[0].is_linear()),
            (Some(5), Some(false))
        );
        let s = &rows[0].row.train_test_similarity;
        assert_eq!(
            (s.pearson, s.undefined_pairs.as_str(), s.pairs_undefined),
            (Some(0.5), "drop", 2)
        );
        assert!(rows[1].degenerate() && rows[1].n_clusters().is_none());
        let again: Vec<TableAEntry> =
            serde_json::from_str(&serde_json::to_string(&rows).unwrap()).unwrap();
        assert_eq!(again, rows);
        for bad in [
            r#"{"model":"m","task":"t","version":"original","layer":1}"#,
            r#"{"model":"m","task":"t","version":"original","layer":1,"n_clusters":3,
                "is_linear":true,"undefined_pairs":"keep"}"#,
        ] {
            let e = serde_json::from_str::<TableAEntry>(bad)
                .unwrap_err()
                .to_string();
            assert!(e.contains("Table A row m t layer 1"), "{e}");
        }
    }
}
