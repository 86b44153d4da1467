//! Converts [`CompareResults`] into the report's sections ([`tunescope_report`]).

use crate::io::{FINETUNED, PRETRAINED};
use crate::results::CompareResults;
use tunescope_report as rep;

fn series(values: Vec<f64>) -> rep::Series {
    rep::Series { values, ci: None }
}

/// Table A rows and the per-task × model analyses for the report, named `task` and `model`.
/// Undefined values become NaN (drawn as gaps); the distance matrices are the last layer's.
pub fn report_sections(
    r: &CompareResults,
    task: &str,
    model: &str,
) -> (Vec<rep::TableAEntry>, rep::TaskModelReport) {
    let table_a = r
        .table_a
        .iter()
        .map(|t| rep::TableAEntry {
            model: model.to_string(),
            task: task.to_string(),
            row: t.clone(),
            paper: None,
        })
        .collect();
    let per_version = |version: &str, f: &dyn Fn(&rep::TableARow) -> Option<f64>| {
        series(
            r.layers
                .iter()
                .map(|&l| {
                    r.table_a
                        .iter()
                        .find(|t| t.layer == l && t.version == version)
                        .and_then(f)
                        .unwrap_or(f64::NAN)
                })
                .collect(),
        )
    };
    let before_after = |f: &dyn Fn(&rep::TableARow) -> Option<f64>| rep::BeforeAfter {
        before: per_version(PRETRAINED, f),
        after: per_version(FINETUNED, f),
    };
    let layers = rep::LayerSeries {
        layers: r.layers.clone(),
        measures: r.layer_measures.clone(),
        probe_accuracy: Some(before_after(&|t| t.acc_mean)),
        clusters: Some(before_after(&|t| Some(t.n_clusters as f64))),
        min_distance: Some(before_after(&|t| t.min_distance)),
        cka_pre_post: r.has_finetuned.then(|| {
            series(
                r.layers
                    .iter()
                    .map(|&l| {
                        r.similarity
                            .iter()
                            .find(|s| s.layer == l)
                            .and_then(|s| s.indices.cka_debiased)
                            .unwrap_or(f64::NAN)
                    })
                    .collect(),
            )
        }),
    };
    let n = r.labels.len();
    let last = r.label_distances.last();
    let matrix = |pair: &Vec<Vec<Option<f64>>>| -> Vec<Vec<f64>> {
        (0..n)
            .map(|a| {
                (0..n)
                    .map(|b| {
                        if a == b {
                            0.0
                        } else {
                            pair[a][b].unwrap_or(f64::NAN)
                        }
                    })
                    .collect()
            })
            .collect()
    };
    let distances = last.and_then(|l| {
        Some(rep::DistanceMatrices {
            layer: l.layer,
            labels: r.labels.clone(),
            before: matrix(&l.pair_before),
            after: matrix(l.pair_after.as_ref()?),
        })
    });
    let movement = (!r.layer_movement.is_empty()).then(|| rep::LayerMovement {
        labels: r.labels.clone(),
        layers: r.layer_movement.iter().map(|m| m.layer).collect(),
        displacement: (0..n)
            .map(|l| {
                r.layer_movement
                    .iter()
                    .map(|m| m.displacement[l].unwrap_or(f64::NAN))
                    .collect()
            })
            .collect(),
        difference_pca: r
            .layer_movement
            .iter()
            .filter_map(|m| {
                let p = m.difference_pca.as_ref()?;
                Some(rep::LayerPoints {
                    layer: m.layer,
                    points: p
                        .labels
                        .iter()
                        .zip(&p.points)
                        .map(|(&label, xy)| rep::Point2 {
                            x: xy[0],
                            y: xy[1],
                            label,
                        })
                        .collect(),
                })
            })
            .collect(),
    });
    let cka_layers = r.cka_layers.clone();
    let run = rep::TaskModelReport {
        task: task.to_string(),
        model: model.to_string(),
        layers: Some(layers),
        distances,
        movement,
        cka_layers,
        ..Default::default()
    };
    (table_a, run)
}
