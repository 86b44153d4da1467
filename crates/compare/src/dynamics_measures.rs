//! The measures of `docs/measures.md` at every snapshot of the dynamics experiment: the
//! geometry descriptors of each snapshot's vectors (`tunescope geometry`: TwoNN intrinsic
//! dimension, anisotropy, effective rank, NC1) and five indices against the pre-trained
//! vectors of the same units, each with the permutation null of `tunescope similarity`: linear
//! and debiased CKA ([`tunescope_geometry::cka_null`]), mutual k-NN, the angular Procrustes
//! distance and RSA ([`tunescope_geometry::calibrated::ShapeReference`]). All on one seeded
//! sample of train units (checkpoints encode the train split only), the same rows at every
//! layer and snapshot (`experiments/dynamics/measure_rows.txt`); written to
//! `experiments/dynamics/measures.csv`.

use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use tunescope_data::csv::Csv;
use tunescope_geometry::calibrated::{CalibratedScore, NullSettings, ShapeReference};
use tunescope_geometry::cka_null::CkaReference;
use tunescope_geometry::descriptors::{anisotropy, effective_rank_blocked, nc1, two_nn};
use tunescope_geometry::similarity::{RsaOptions, SimilarityError};
use tunescope_geometry::stats::Rng;
use tunescope_report as rep;

use crate::analysis::LabelledVectors;

/// What the per-snapshot measures read (part of the dynamics stage's settings).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Compute them (`dynamics.measures`).
    pub enabled: bool,
    /// Train units sampled (seeded; `dynamics.measures_units`, at most
    /// [`tunescope_geometry::cka_null::MAX_ROWS`]); all when the split has fewer.
    pub units: usize,
    /// Row permutations of the nulls of CKA, mutual k-NN and RSA
    /// (`dynamics.measures_permutations`; 0: values only).
    pub permutations: usize,
    /// Permutations of the Procrustes null, the first of the same permutations (at most
    /// `permutations`; `dynamics.measures_procrustes_permutations`): each costs a `d × d`
    /// product and eigenvalues where the others' cost a gather.
    pub procrustes_permutations: usize,
    /// Neighbours of mutual k-NN (`similarity.k`, as the similarity stages).
    pub k: usize,
    /// RSA's row sample within the units (`compare.rsa_sample`, as the similarity stages).
    pub rsa_sample: usize,
    /// Seed of the unit sample, RSA's sample and the permutations (`study.seed`).
    pub seed: u64,
}

impl Settings {
    /// The settings of `tunescope similarity` that give the same indices and nulls (with
    /// `--permutations` [`Settings::procrustes_permutations`] for Procrustes').
    pub fn null_settings(&self) -> NullSettings {
        NullSettings {
            permutations: self.permutations,
            k: self.k,
            seed: self.seed,
            rsa: RsaOptions {
                sample: self.rsa_sample,
                seed: self.seed,
                ..RsaOptions::default()
            },
        }
    }
}

/// How a measure reads.
#[derive(Debug, Clone, Copy)]
pub struct MeasureInfo {
    /// Key (CSV value, figure name).
    pub key: &'static str,
    /// Display name.
    pub name: &'static str,
    /// `similarity` (to the pre-trained vectors; larger is more alike), `distance` (to the
    /// pre-trained vectors; smaller is more alike) or `descriptor` (of the snapshot's vectors
    /// alone).
    pub kind: &'static str,
    /// What it measures.
    pub about: &'static str,
}

/// The measures, in report order (the report's default CKA, debiased, first).
pub const MEASURES: [MeasureInfo; 9] = [
    MeasureInfo {
        key: "debiased_cka",
        name: "debiased CKA with the pre-trained space",
        kind: "similarity",
        about: "Linear CKA with the unbiased HSIC estimator between the snapshot's vectors and \
                the pre-trained vectors of the same units: 1 at update 0, about 0 for unrelated \
                spaces. The report's default CKA.",
    },
    MeasureInfo {
        key: "linear_cka",
        name: "linear CKA with the pre-trained space",
        kind: "similarity",
        about: "Centred linear CKA (Kornblith et al. 2019) with the pre-trained vectors of the \
                same units; above 0 for unrelated spaces on few units (see its null).",
    },
    MeasureInfo {
        key: "mutual_knn",
        name: "mutual k-NN with the pre-trained space",
        kind: "similarity",
        about: "Mutual k-nearest-neighbour alignment (Huh et al. 2024): the mean share of each \
                unit's k nearest units (L2-normalised rows) that are also its k nearest in the \
                pre-trained space; 1 for the same neighbourhoods, about k/n by chance.",
    },
    MeasureInfo {
        key: "procrustes_angular",
        name: "angular Procrustes distance to the pre-trained space",
        kind: "distance",
        about: "Angular Procrustes distance (Williams et al. 2021): arccos of the nuclear norm \
                of the centred, unit-Frobenius cross product; 0 for a rotated, scaled copy of \
                the pre-trained space, at most π/2.",
    },
    MeasureInfo {
        key: "rsa",
        name: "RSA with the pre-trained space",
        kind: "similarity",
        about: "Representational similarity analysis (Kriegeskorte et al. 2008): Spearman \
                correlation of the units' Euclidean distance matrices in the snapshot and in \
                the pre-trained space; 1 for the same distance order, about 0 by chance.",
    },
    MeasureInfo {
        key: "intrinsic_dimension",
        name: "intrinsic dimension (TwoNN)",
        kind: "descriptor",
        about: "TwoNN intrinsic dimension (Facco et al. 2017) of the snapshot's vectors.",
    },
    MeasureInfo {
        key: "anisotropy",
        name: "anisotropy (mean pairwise cosine)",
        kind: "descriptor",
        about: "Mean cosine between different units (Ethayarajh 2019): near 0 isotropic, near 1 \
                every vector points the same way.",
    },
    MeasureInfo {
        key: "effective_rank",
        name: "effective rank",
        kind: "descriptor",
        about: "Roy & Vetterli effective rank of the centred vectors: how many directions carry \
                the variance.",
    },
    MeasureInfo {
        key: "nc1",
        name: "within-class variability (NC1)",
        kind: "descriptor",
        about: "Neural-collapse NC1 (Papyan et al. 2020): within-label scatter relative to \
                between-label scatter.",
    },
];

/// One measure at one snapshot; the null fields only for the indices against the pre-trained
/// space, with permutations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// The value (`None`: undefined at this snapshot, see the layer's notes).
    pub value: Option<f64>,
    /// Mean of the null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_mean: Option<f64>,
    /// Standard deviation of the null.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_std: Option<f64>,
    /// Permutation p-value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p_value: Option<f64>,
    /// `(value − null_mean) / null_std`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibrated: Option<f64>,
}

impl From<&CalibratedScore> for Point {
    fn from(s: &CalibratedScore) -> Self {
        Point {
            value: Some(s.value),
            null_mean: s.null_mean,
            null_std: s.null_std,
            p_value: s.p_value,
            calibrated: s.calibrated,
        }
    }
}

/// One layer: `series[m][snapshot]` for measure `MEASURES[m]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerMeasures {
    /// Hidden-state index.
    pub layer: usize,
    /// Per measure (in [`MEASURES`] order), per snapshot.
    pub series: Vec<Vec<Point>>,
    /// Why a value is missing (e.g. `update 10: NC1: …`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The measures of the whole trajectory (`dynamics.json`'s `measures`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DynamicsMeasures {
    /// Split whose units are measured (`train`).
    pub split: String,
    /// Units measured.
    pub units: usize,
    /// Units in the split.
    pub units_total: usize,
    /// Row permutations of the nulls (CKA, mutual k-NN, RSA).
    pub permutations: usize,
    /// Permutations of the Procrustes null (the first of the same permutations).
    #[serde(default)]
    pub procrustes_permutations: usize,
    /// Neighbours of mutual k-NN.
    #[serde(default)]
    pub k: usize,
    /// Seed of the sample and the permutations.
    pub seed: u64,
    /// One entry per measured layer.
    pub layers: Vec<LayerMeasures>,
    /// Wall time of the measures in seconds.
    pub seconds: f64,
}

impl DynamicsMeasures {
    /// Permutations of the null of measure `info` (0 for the descriptors).
    pub fn permutations_of(&self, info: &MeasureInfo) -> usize {
        match (info.kind, info.key) {
            ("descriptor", _) => 0,
            (_, "procrustes_angular") => self.procrustes_permutations,
            _ => self.permutations,
        }
    }
}

/// The measures' file in the experiment's directory.
pub const CSV_FILE: &str = "measures.csv";

/// The measured train rows' file in the experiment's directory.
pub const ROWS_FILE: &str = "measure_rows.txt";

/// The rows measured out of `total` train units: a seeded sample of `s.units`, ascending.
pub fn sample_rows(s: &Settings, total: usize) -> Vec<usize> {
    Rng::new(s.seed).sample_indices(total, s.units)
}

/// Accumulates one layer's measures over the snapshots; the first snapshot is the reference.
pub struct LayerTracker {
    layer: usize,
    reference: Option<Result<CkaReference, String>>,
    shape_reference: Option<Result<ShapeReference, String>>,
    series: Vec<Vec<Point>>,
    notes: Vec<String>,
    seconds: f64,
}

impl LayerTracker {
    /// An empty tracker for `layer`.
    pub fn new(layer: usize) -> Self {
        LayerTracker {
            layer,
            reference: None,
            shape_reference: None,
            series: vec![Vec::new(); MEASURES.len()],
            notes: Vec::new(),
            seconds: 0.0,
        }
    }

    /// Measures one snapshot (`update`): the rows `rows` of `v`. The first call is the
    /// pre-trained snapshot, the indices' reference.
    pub fn add(&mut self, s: &Settings, v: &LabelledVectors, rows: &[usize], update: u64) {
        let started = Instant::now();
        let x = v.matrix(rows);
        let labels: Vec<usize> = rows.iter().map(|&r| v.labels[r]).collect();
        let mut note =
            |what: &str, e: String| self.notes.push(format!("update {update}: {what}: {e}"));
        let reference = self
            .reference
            .get_or_insert_with(|| CkaReference::new(&x).map_err(|e| e.to_string()));
        let cka = match reference {
            Ok(r) => r
                .against(&x, s.permutations, s.seed)
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("pre-trained vectors: {e}")),
        };
        let (linear, debiased) = match cka {
            Ok(c) => ((&c.linear_cka).into(), (&c.debiased_cka).into()),
            Err(e) => {
                note("CKA", e);
                (Point::default(), Point::default())
            }
        };
        let shape = self.shape_reference.get_or_insert_with(|| {
            ShapeReference::new(&x, &s.null_settings()).map_err(|e| e.to_string())
        });
        let shape = match shape {
            Ok(r) => r
                .against(&x, s.procrustes_permutations)
                .map_err(|e: SimilarityError| e.to_string()),
            Err(e) => Err(format!("pre-trained vectors: {e}")),
        };
        let (knn, procrustes, rsa) = match shape {
            Ok(c) => (
                (&c.mutual_knn).into(),
                (&c.procrustes_angular).into(),
                (&c.rsa).into(),
            ),
            Err(e) => {
                note("mutual k-NN, Procrustes and RSA", e);
                (Point::default(), Point::default(), Point::default())
            }
        };
        let mut value = |what: &str, r: Result<f64, String>| Point {
            value: r.map_err(|e| note(what, e)).ok(),
            ..Point::default()
        };
        let points = [
            debiased,
            linear,
            knn,
            procrustes,
            rsa,
            value(
                "intrinsic dimension",
                two_nn(&x).map(|t| t.dimension).map_err(|e| e.to_string()),
            ),
            value("anisotropy", anisotropy(&x).map_err(|e| e.to_string())),
            value(
                "effective rank",
                effective_rank_blocked(&x).map_err(|e| e.to_string()),
            ),
            value("NC1", nc1(&x, &labels).map_err(|e| e.to_string())),
        ];
        for (series, p) in self.series.iter_mut().zip(points) {
            series.push(p);
        }
        self.seconds += started.elapsed().as_secs_f64();
    }

    /// The layer's measures and the seconds they took.
    pub fn finish(self) -> (LayerMeasures, f64) {
        (
            LayerMeasures {
                layer: self.layer,
                series: self.series,
                notes: self.notes,
            },
            self.seconds,
        )
    }
}

/// `experiments/dynamics/measures.csv`: one row per layer × update × measure.
pub fn csv(m: &DynamicsMeasures, updates: &[u64]) -> String {
    let opt = |v: Option<f64>| tunescope_data::csv::opt_num(v);
    let mut c = Csv::new([
        "layer",
        "update",
        "measure",
        "kind",
        "value",
        "null_mean",
        "null_std",
        "p_value",
        "calibrated",
    ]);
    for l in &m.layers {
        for (info, series) in MEASURES.iter().zip(&l.series) {
            for (u, p) in updates.iter().zip(series) {
                c.row([
                    l.layer.to_string(),
                    u.to_string(),
                    info.key.to_string(),
                    info.kind.to_string(),
                    opt(p.value),
                    opt(p.null_mean),
                    opt(p.null_std),
                    opt(p.p_value),
                    opt(p.calibrated),
                ]);
            }
        }
    }
    c.finish()
}

/// `experiments/dynamics/measure_rows.txt`: the measured train rows, one 0-based index a line.
pub fn rows_text(rows: &[usize]) -> String {
    rows.iter().map(|r| format!("{r}\n")).collect()
}

/// The report's figures data: one measure per entry, one line per layer.
pub fn report(m: &DynamicsMeasures) -> rep::DynamicsMeasures {
    rep::DynamicsMeasures {
        split: m.split.clone(),
        units: m.units,
        permutations: m.permutations,
        seeds: 0,
        measures: MEASURES
            .iter()
            .enumerate()
            .map(|(k, info)| rep::DynamicsMeasure {
                key: info.key.into(),
                name: info.name.into(),
                kind: info.kind.into(),
                about: info.about.into(),
                permutations: m.permutations_of(info),
                layers: m
                    .layers
                    .iter()
                    .map(|l| {
                        let s = &l.series[k];
                        let col = |f: fn(&Point) -> Option<f64>| s.iter().map(f).collect();
                        rep::DynamicsMeasureLayer {
                            layer: l.layer,
                            values: col(|p| p.value),
                            null_mean: col(|p| p.null_mean),
                            null_std: col(|p| p.null_std),
                            p_value: col(|p| p.p_value),
                            seeds: None,
                        }
                    })
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunescope_geometry::calibrated::{calibrated_similarity, NullSettings};
    use tunescope_geometry::descriptors::{describe, DescriptorSettings};

    fn vectors(n: usize, dim: usize, seed: u64, shift: f32) -> LabelledVectors {
        let mut r = Rng::new(seed);
        let labels: Vec<usize> = (0..n).map(|i| i % 3).collect();
        let data = (0..n * dim)
            .map(|i| r.normal() as f32 + shift * labels[i / dim] as f32)
            .collect();
        LabelledVectors {
            data,
            rows: n,
            dim,
            labels,
        }
    }

    #[test]
    fn each_snapshot_matches_the_standalone_measures_on_the_same_rows() {
        let s = Settings {
            enabled: true,
            units: 40,
            permutations: 20,
            procrustes_permutations: 4,
            k: 5,
            rsa_sample: 30,
            seed: 5,
        };
        let pre = vectors(60, 6, 1, 2.0);
        let after = vectors(60, 6, 2, 3.0);
        let rows = sample_rows(&s, pre.rows);
        assert_eq!(rows.len(), 40);
        let mut t = LayerTracker::new(3);
        t.add(&s, &pre, &rows, 0);
        t.add(&s, &after, &rows, 10);
        let (l, _) = t.finish();
        assert!(l.notes.is_empty(), "{:?}", l.notes);
        let (a, b) = (pre.matrix(&rows), after.matrix(&rows));
        let labels: Vec<usize> = rows.iter().map(|&r| after.labels[r]).collect();
        let want = calibrated_similarity(&a, &b, &s.null_settings()).unwrap();
        let procrustes = calibrated_similarity(
            &a,
            &b,
            &NullSettings {
                permutations: 4,
                ..s.null_settings()
            },
        )
        .unwrap()
        .procrustes_angular;
        let d = describe(&b, Some(&labels), &DescriptorSettings::default()).unwrap();
        let at = |m: &str| {
            let k = MEASURES.iter().position(|i| i.key == m).unwrap();
            l.series[k][1]
        };
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(close(
            at("debiased_cka").value.unwrap(),
            want.debiased_cka.value
        ));
        assert!(close(
            at("debiased_cka").null_std.unwrap(),
            want.debiased_cka.null_std.unwrap()
        ));
        assert_eq!(at("debiased_cka").p_value, want.debiased_cka.p_value);
        assert!(close(
            at("linear_cka").value.unwrap(),
            want.linear_cka.value
        ));
        for (key, w) in [
            ("mutual_knn", want.mutual_knn),
            ("rsa", want.rsa),
            ("procrustes_angular", procrustes),
        ] {
            let got = at(key);
            assert_eq!(got, Point::from(&w), "{key}");
            assert!(got.null_mean.is_some() && got.p_value.is_some(), "{key}");
        }
        // Procrustes' null has its own 4 permutations: p is a multiple of 1/5.
        let p = at("procrustes_angular").p_value.unwrap() * 5.0;
        assert!((p - p.round()).abs() < 1e-12 && p >= 1.0, "{p}");
        let p = at("mutual_knn").p_value.unwrap() * 21.0;
        assert!((p - p.round()).abs() < 1e-12 && p >= 1.0, "{p}");
        assert_eq!(
            at("intrinsic_dimension").value,
            Some(d.intrinsic_dimension.unwrap().dimension)
        );
        assert_eq!(at("anisotropy").value, Some(d.anisotropy));
        assert!(close(at("effective_rank").value.unwrap(), d.effective_rank));
        assert_eq!(at("nc1").value, d.nc1);
        // The pre-trained snapshot against itself.
        assert!((l.series[0][0].value.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(l.series[0][0].p_value, Some(1.0 / 21.0));
    }

    #[test]
    fn undefined_measures_are_noted_not_fatal() {
        let s = Settings {
            enabled: true,
            units: 10,
            permutations: 0,
            procrustes_permutations: 0,
            k: 3,
            rsa_sample: 10,
            seed: 0,
        };
        let mut v = vectors(10, 3, 1, 0.0);
        v.data.iter_mut().for_each(|x| *x = 1.0);
        let rows: Vec<usize> = (0..10).collect();
        let mut t = LayerTracker::new(0);
        t.add(&s, &v, &rows, 0);
        let (l, _) = t.finish();
        // Every vector the same: only the mean cosine (1) is defined.
        let keys: Vec<&str> = MEASURES
            .iter()
            .zip(&l.series)
            .filter(|(_, s)| s[0].value.is_some())
            .map(|(i, _)| i.key)
            .collect();
        assert_eq!(keys, ["anisotropy"]);
        let anisotropy = MEASURES.iter().position(|m| m.key == "anisotropy").unwrap();
        assert!((l.series[anisotropy][0].value.unwrap() - 1.0).abs() < 1e-12);
        assert!(l.notes.iter().any(|n| n.starts_with("update 0: CKA:")));
        assert!(l
            .notes
            .iter()
            .any(|n| n.starts_with("update 0: mutual k-NN, Procrustes and RSA:")));
        let m = DynamicsMeasures {
            split: "train".into(),
            units: 10,
            units_total: 10,
            permutations: 0,
            procrustes_permutations: 0,
            k: 3,
            seed: 0,
            layers: vec![l],
            seconds: 0.0,
        };
        let text = csv(&m, &[0]);
        assert!(text.starts_with(
            "layer,update,measure,kind,value,null_mean,null_std,p_value,calibrated\n"
        ));
        assert!(
            text.contains("\n0,0,debiased_cka,similarity,,,,,\n"),
            "{text}"
        );
    }
}
