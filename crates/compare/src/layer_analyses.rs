//! The registry of per-layer analyses: each entry computes a few numbers from one layer's
//! vectors of one encoder version, and `compare` runs every entry at every compared layer for
//! both versions. Results are [`LayerMeasure`]s (the type the report draws): they go to
//! `compare/layer_measures.csv`, `compare.json` and one before/after chart per measure in the
//! report's per-layer section. Adding an analysis to the study and the report is one entry in
//! [`LAYER_ANALYSES`] (plus its line in `docs/compare.md`).

use tunescope_geometry::linalg::Matrix;
use tunescope_report::{BeforeAfter, LayerMeasure, Series};

/// One measure of an analysis: how it is named and shown.
#[derive(Debug, Clone, Copy)]
pub struct MeasureInfo {
    /// Key (column and figure names).
    pub key: &'static str,
    /// Chart title.
    pub title: &'static str,
    /// Axis label.
    pub y_label: &'static str,
    /// What it measures and what to expect.
    pub caption: &'static str,
}

/// What an analysis computes from: rows of the similarity split (the seeded sample `compare`
/// draws for CKA/RSA, `[compare] similarity_split` / `similarity_max_units`) at one layer.
pub struct LayerInput<'a> {
    /// The rows, `[n, d]`.
    pub x: &'a Matrix,
    /// Label index of each row.
    pub labels: &'a [usize],
}

/// One registered per-layer analysis.
pub struct LayerAnalysis {
    /// Key (file and figure names).
    pub key: &'static str,
    /// Its measures, in the order `compute` returns them.
    pub measures: &'static [MeasureInfo],
    /// One value per measure (`None`: undefined), or why the layer could not be measured.
    pub compute: fn(&LayerInput) -> Result<Vec<Option<f64>>, String>,
}

/// One layer × version: [`measure`]'s output, per registered analysis.
pub type Measured = Vec<Result<Vec<Option<f64>>, String>>;

/// Every per-layer analysis `compare` runs, in report order.
pub const LAYER_ANALYSES: &[LayerAnalysis] = &[
    LayerAnalysis {
        key: "geometry",
        measures: &[
            MeasureInfo {
                key: "intrinsic_dimension",
                title: "Intrinsic dimension (TwoNN)",
                y_label: "intrinsic dimension",
                caption:
                    "TwoNN intrinsic dimension (Facco et al. 2017) of the layer's units (at most \
                      2,000 evenly spaced rows of the similarity sample); docs/measures.md.",
            },
            MeasureInfo {
                key: "anisotropy",
                title: "Anisotropy (mean pairwise cosine)",
                y_label: "mean cosine",
                caption:
                    "Mean cosine between different units (Ethayarajh 2019): near 0 isotropic, \
                      near 1 every vector points the same way.",
            },
            MeasureInfo {
                key: "effective_rank",
                title: "Effective rank",
                y_label: "effective rank",
                caption: "Roy & Vetterli effective rank of the centred units: how many directions \
                      carry the variance.",
            },
            MeasureInfo {
                key: "nc1",
                title: "Within-class variability (NC1)",
                y_label: "NC1",
                caption:
                    "Neural-collapse NC1 (Papyan et al. 2020): within-label scatter relative to \
                      between-label scatter; fine-tuning is expected to lower it in upper layers.",
            },
        ],
        compute: geometry_descriptors,
    },
    LayerAnalysis {
        key: "neighbours",
        measures: &[MeasureInfo {
            key: "knn_accuracy",
            title: "k-NN label accuracy (leave-one-out, k = 10)",
            y_label: "accuracy",
            caption: "Fraction of units whose label wins the vote of their 10 nearest other units \
                  (cosine neighbourhoods, at most 2,000 evenly spaced rows of the similarity \
                  sample): how label-pure the neighbourhoods are, with no probe trained. \
                  Fine-tuning is expected to raise it in the upper layers.",
        }],
        compute: knn_label_accuracy,
    },
];

/// Rows TwoNN (`O(n²·d)`) and the other descriptors see at most.
const DESCRIPTOR_ROWS: usize = 2000;

/// `tunescope geometry`'s descriptors (`crates/geometry/src/descriptors.rs`) of one layer; a
/// descriptor undefined on these rows (e.g. every row the same vector) is `None`.
fn geometry_descriptors(input: &LayerInput) -> Result<Vec<Option<f64>>, String> {
    use tunescope_geometry::descriptors::{anisotropy, effective_rank, nc1, two_nn};
    let (x, labels) = descriptor_rows(input);
    let values = vec![
        two_nn(&x).ok().map(|t| t.dimension),
        anisotropy(&x).ok(),
        effective_rank(&x).ok(),
        nc1(&x, &labels).ok(),
    ];
    if values.iter().all(Option::is_none) {
        return Err(two_nn(&x)
            .err()
            .map_or_else(|| "no descriptor is defined".into(), |e| e.to_string()));
    }
    Ok(values)
}

/// At most [`DESCRIPTOR_ROWS`] evenly spaced rows of the input, with their labels.
fn descriptor_rows(input: &LayerInput) -> (Matrix, Vec<usize>) {
    let n = input.x.rows();
    let rows: Vec<usize> = (0..n).step_by(n.div_ceil(DESCRIPTOR_ROWS).max(1)).collect();
    let labels = rows.iter().map(|&i| input.labels[i]).collect();
    (input.x.select_rows(&rows), labels)
}

/// Neighbours voting in [`knn_label_accuracy`].
const KNN_K: usize = 10;

/// Leave-one-out k-NN label accuracy (`crates/geometry/src/descriptors.rs`) of one layer.
fn knn_label_accuracy(input: &LayerInput) -> Result<Vec<Option<f64>>, String> {
    let (x, labels) = descriptor_rows(input);
    tunescope_geometry::descriptors::knn_accuracy(&x, &labels, KNN_K)
        .map(|a| vec![Some(a)])
        .map_err(|e| e.to_string())
}

/// Runs every registered analysis on one layer × version.
pub fn measure(input: &LayerInput) -> Measured {
    LAYER_ANALYSES.iter().map(|a| (a.compute)(input)).collect()
}

/// Assembles the measures over layers: `values[v][l]` is [`measure`]'s output for version `v`
/// (0 pre-trained, 1 fine-tuned if present) at `layers[l]`.
pub fn assemble(
    layers: &[usize],
    values: &[Vec<Measured>],
    versions: &[&str],
) -> Vec<LayerMeasure> {
    let mut out = Vec::new();
    for (a, analysis) in LAYER_ANALYSES.iter().enumerate() {
        let mut notes = Vec::new();
        for (v, per_layer) in values.iter().enumerate() {
            for (l, r) in per_layer.iter().enumerate() {
                if let Err(e) = &r[a] {
                    notes.push(format!("{} layer {}: {e}", versions[v], layers[l]));
                }
            }
        }
        for (k, info) in analysis.measures.iter().enumerate() {
            let series = |v: usize| Series {
                values: values
                    .get(v)
                    .map_or(vec![f64::NAN; layers.len()], |per_layer| {
                        per_layer
                            .iter()
                            .map(|r| r[a].as_ref().ok().and_then(|m| m[k]).unwrap_or(f64::NAN))
                            .collect()
                    }),
                ci: None,
            };
            out.push(LayerMeasure {
                analysis: analysis.key.into(),
                key: info.key.into(),
                title: info.title.into(),
                y_label: info.y_label.into(),
                caption: info.caption.into(),
                layers: layers.to_vec(),
                values: BeforeAfter {
                    before: series(0),
                    after: series(1),
                },
                notes: notes.clone(),
            });
        }
    }
    out
}

/// `compare/layer_measures.csv`: one row per analysis × measure × version × layer.
pub fn csv(measures: &[LayerMeasure], versions: &[&str]) -> String {
    let mut c = tunescope_data::csv::Csv::new(["analysis", "measure", "version", "layer", "value"]);
    for m in measures {
        for (v, s) in [&m.values.before, &m.values.after].into_iter().enumerate() {
            let Some(version) = versions.get(v) else {
                continue;
            };
            for (l, value) in m.layers.iter().zip(&s.values) {
                c.row([
                    m.analysis.clone(),
                    m.key.clone(),
                    version.to_string(),
                    l.to_string(),
                    tunescope_data::csv::num(*value),
                ]);
            }
        }
    }
    c.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_descriptors_are_registered_and_match_the_library() {
        let x = Matrix::new(6, 2, vec![0., 0., 1., 0., 0., 1., 5., 5., 6., 5., 5., 7.]).unwrap();
        let labels = [0, 0, 0, 1, 1, 1];
        let out = measure(&LayerInput {
            x: &x,
            labels: &labels,
        });
        let g = LAYER_ANALYSES
            .iter()
            .position(|a| a.key == "geometry")
            .unwrap();
        let v = out[g].as_ref().unwrap();
        let d = tunescope_geometry::descriptors::effective_rank(&x).unwrap();
        assert_eq!(v[2], Some(d));
        assert_eq!(v[3], tunescope_geometry::descriptors::nc1(&x, &labels).ok());
        let same = Matrix::new(4, 2, vec![1.0; 8]).unwrap();
        let labels = [0, 1, 0, 1];
        let out = measure(&LayerInput {
            x: &same,
            labels: &labels,
        });
        let v = out[g].as_ref().unwrap();
        assert_eq!(
            v[0], None,
            "TwoNN is undefined when every row is the same vector"
        );
        assert!(v[1].is_some_and(|a| (a - 1.0).abs() < 1e-12), "{v:?}");
        let zero = Matrix::new(4, 2, vec![0.0; 8]).unwrap();
        let out = measure(&LayerInput {
            x: &zero,
            labels: &labels,
        });
        assert!(
            out[g].is_err(),
            "no descriptor defined: a note, not a number"
        );
        let m = assemble(&[3], &[vec![out]], &["pretrained"]);
        assert_eq!(m.len(), 5);
        assert!(m[0].notes[0].starts_with("pretrained layer 3: "));
        assert!(m[0].values.before.values[0].is_nan() && m[0].values.after.values[0].is_nan());
    }

    #[test]
    fn knn_accuracy_is_registered_and_says_why_a_layer_has_none() {
        let a = LAYER_ANALYSES
            .iter()
            .position(|a| a.key == "neighbours")
            .unwrap();
        // Two tight label groups on different directions: every unit's 10 neighbours are
        // mostly its own label.
        let n = 24;
        let mut v = Vec::new();
        for i in 0..n {
            let t = i as f64 * 0.01;
            v.extend(if i < n / 2 { [1.0, t] } else { [t, 1.0] });
        }
        let x = Matrix::new(n, 2, v).unwrap();
        let labels: Vec<usize> = (0..n).map(|i| usize::from(i >= n / 2)).collect();
        let out = measure(&LayerInput {
            x: &x,
            labels: &labels,
        });
        assert_eq!(out[a], Ok(vec![Some(1.0)]));
        let m = assemble(&[2], &[vec![out]], &["pretrained"]);
        let knn = m.iter().find(|m| m.key == "knn_accuracy").unwrap();
        assert_eq!(
            (knn.analysis.as_str(), knn.values.before.values[0]),
            ("neighbours", 1.0)
        );
        // Fewer units than k + 1: no value, and the note says why.
        let few = Matrix::new(4, 2, vec![1., 0., 0., 1., 1., 1., 2., 1.]).unwrap();
        let out = measure(&LayerInput {
            x: &few,
            labels: &[0, 1, 0, 1],
        });
        let err = out[a].clone().unwrap_err();
        assert!(err.contains("need at least 11"), "{err}");
        let m = assemble(&[0], &[vec![out]], &["finetuned"]);
        let knn = m.iter().find(|m| m.key == "knn_accuracy").unwrap();
        assert!(knn.values.before.values[0].is_nan());
        assert!(knn
            .notes
            .iter()
            .any(|n| n.starts_with("finetuned layer 0: need at least 11")));
    }
}
