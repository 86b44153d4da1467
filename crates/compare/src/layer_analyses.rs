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
pub const LAYER_ANALYSES: &[LayerAnalysis] = &[];

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
