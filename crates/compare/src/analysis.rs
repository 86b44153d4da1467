//! The comparisons on in-memory data: label centroids and their movement, label-distance
//! changes, spatial similarity of label-pair distance vectors and representation similarity
//! indices. Nothing here touches the file system, so the dynamics and cross-task experiments
//! can reuse it on vectors from anywhere.

use serde::{Deserialize, Serialize};
use tunescope_geometry::linalg::Matrix;
use tunescope_geometry::pca::Pca;
use tunescope_geometry::similarity::{self, CkaEstimator, RsaOptions};
use tunescope_geometry::stats;
pub use tunescope_report::results::{DistanceChange, SpatialSimilarity, UndefinedPairs};

/// Labelled vectors: `rows × dim` f32 values (row-major) and a label index per row.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledVectors {
    /// Row-major values.
    pub data: Vec<f32>,
    /// Number of rows.
    pub rows: usize,
    /// Dimension of each row.
    pub dim: usize,
    /// Label index of each row (into the caller's label list).
    pub labels: Vec<usize>,
}

/// Trains the probe family `cfg` on train/dev/test vectors (`sets` in that order), with word
/// types per split for the control task.
pub fn train_probes(
    sets: &[LabelledVectors],
    types: Option<&[Vec<String>; 3]>,
    cfg: &tunescope_model::probe::ProbeConfig,
) -> anyhow::Result<tunescope_model::probe::ProbeReport> {
    anyhow::ensure!(sets.len() == 3, "probes need train, dev and test vectors");
    let rows = |k: usize| sets[k].probe_rows(types.map(|t| t[k].as_slice()));
    tunescope_model::probe::run_rows(rows(0), rows(1), Some(rows(2)), &[], cfg)
}

impl LabelledVectors {
    /// These vectors as the probes take them, with optional word types (control task).
    pub fn probe_rows<'a>(
        &'a self,
        types: Option<&'a [String]>,
    ) -> tunescope_model::probe::Rows<'a> {
        tunescope_model::probe::Rows {
            data: &self.data,
            rows: self.rows,
            dim: self.dim,
            labels: &self.labels,
            types,
        }
    }

    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// The given rows (in the given order) with their labels.
    pub fn select(&self, rows: &[usize]) -> LabelledVectors {
        let mut data = Vec::with_capacity(rows.len() * self.dim);
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        LabelledVectors {
            data,
            rows: rows.len(),
            dim: self.dim,
            labels: rows.iter().map(|&r| self.labels[r]).collect(),
        }
    }

    /// The given rows as an f64 matrix (for the similarity indices).
    pub fn matrix(&self, rows: &[usize]) -> Matrix {
        let mut data = Vec::with_capacity(rows.len() * self.dim);
        for &r in rows {
            data.extend(self.row(r).iter().map(|&v| f64::from(v)));
        }
        Matrix::new(rows.len(), self.dim, data).expect("rows × dim values")
    }
}

/// Mean vector of every label's rows; `None` for a label without rows.
pub fn label_centroids(v: &LabelledVectors, n_labels: usize) -> Vec<Option<Vec<f64>>> {
    let mut sum = vec![vec![0.0f64; v.dim]; n_labels];
    let mut count = vec![0usize; n_labels];
    for (i, &l) in v.labels.iter().enumerate() {
        count[l] += 1;
        for (s, &x) in sum[l].iter_mut().zip(v.row(i)) {
            *s += f64::from(x);
        }
    }
    sum.into_iter()
        .zip(count)
        .map(|(s, c)| (c > 0).then(|| s.into_iter().map(|x| x / c as f64).collect()))
        .collect()
}

fn euclidean(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y) * (x - y))
        .sum::<f64>()
        .sqrt()
}

/// Per label: the Euclidean distance between its centroid before and after, and the difference
/// vector `after − before`; `None` where the label has no rows in one of the two.
pub fn centroid_movement(
    before: &[Option<Vec<f64>>],
    after: &[Option<Vec<f64>>],
) -> Vec<Option<(f64, Vec<f64>)>> {
    before
        .iter()
        .zip(after)
        .map(|(b, a)| match (b, a) {
            (Some(b), Some(a)) => Some((
                euclidean(a, b),
                a.iter().zip(b).map(|(x, y)| x - y).collect(),
            )),
            _ => None,
        })
        .collect()
}

/// 2-D PCA of the per-label difference vectors of one layer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifferencePca {
    /// Label indices of the projected points (labels with a difference vector).
    pub labels: Vec<usize>,
    /// `[pc1, pc2]` per projected label.
    pub points: Vec<[f64; 2]>,
    /// Share of the difference vectors' variance on each of the two axes.
    pub explained_variance_ratio: Vec<f64>,
}

/// Fits a 2-component PCA on the difference vectors present (at least 2 labels with non-identical
/// differences, dimension ≥ 2) and projects them; `Err` says why it is undefined.
pub fn difference_pca(diffs: &[Option<Vec<f64>>]) -> Result<DifferencePca, String> {
    let (labels, rows): (Vec<usize>, Vec<&Vec<f64>>) = diffs
        .iter()
        .enumerate()
        .filter_map(|(l, d)| d.as_ref().map(|d| (l, d)))
        .unzip();
    if labels.len() < 2 {
        return Err(format!(
            "{} label(s) with a centroid before and after; PCA needs 2",
            labels.len()
        ));
    }
    let x = Matrix::from_rows(&rows).map_err(|e| e.to_string())?;
    let k = 2.min(x.rows()).min(x.cols());
    let (pca, proj) = Pca::fit_transform(&x, k).map_err(|e| e.to_string())?;
    let points = (0..proj.rows())
        .map(|i| [proj[(i, 0)], if k > 1 { proj[(i, 1)] } else { 0.0 }])
        .collect();
    Ok(DifferencePca {
        labels,
        points,
        explained_variance_ratio: pca.explained_variance_ratio().to_vec(),
    })
}

/// Compares per-label minimum distances before and after (`None` = undefined).
pub fn distance_change(before: &[Option<f64>], after: &[Option<f64>]) -> DistanceChange {
    let delta: Vec<Option<f64>> = before
        .iter()
        .zip(after)
        .map(|(b, a)| Some((*a)? - (*b)?))
        .collect();
    let defined: Vec<f64> = delta.iter().flatten().copied().collect();
    DistanceChange {
        n_grew: defined.iter().filter(|&&d| d > 0.0).count(),
        n_shrank: defined.iter().filter(|&&d| d < 0.0).count(),
        n_unchanged: defined.iter().filter(|&&d| d == 0.0).count(),
        n_undefined: delta.len() - defined.len(),
        mean_change: (!defined.is_empty())
            .then(|| defined.iter().sum::<f64>() / defined.len() as f64),
        delta,
    }
}

/// A label × label distance matrix with its linearity, as DirectProbe gives it.
#[derive(Debug, Clone, Copy)]
pub struct DistanceSpace<'a> {
    /// `pair[a][b]`: distance between the clusters of labels a and b; `None` when undefined.
    pub pair: &'a [Vec<Option<f64>>],
    /// Whether the space is linear (one cluster per label).
    pub linear: bool,
}

/// The two distance vectors over the label pairs `a < b` of two label × label matrices, with
/// undefined pairs handled by `mode`, and the number of pairs undefined on either side.
pub fn pair_vectors(
    a: &[Vec<Option<f64>>],
    b: &[Vec<Option<f64>>],
    mode: UndefinedPairs,
) -> (Vec<f64>, Vec<f64>, usize) {
    let n = a.len().min(b.len());
    let (mut xs, mut ys, mut undefined) = (Vec::new(), Vec::new(), 0);
    for i in 0..n {
        for j in i + 1..n {
            let (x, y) = (a[i][j], b[i][j]);
            if x.is_none() || y.is_none() {
                undefined += 1;
                if mode == UndefinedPairs::Drop {
                    continue;
                }
            }
            xs.push(x.unwrap_or(0.0));
            ys.push(y.unwrap_or(0.0));
        }
    }
    (xs, ys, undefined)
}

/// Spatial similarity (paper §6.7): Pearson correlation of the label-pair distance vectors of two
/// DirectProbe results, pairs undefined on either side handled by `mode` (written as 0 by the
/// authors' code, or left out). As in the paper it is defined only when both spaces are linear;
/// `names` label the two sides in the reason.
pub fn spatial_similarity(
    a: DistanceSpace<'_>,
    b: DistanceSpace<'_>,
    names: (&str, &str),
    mode: UndefinedPairs,
) -> SpatialSimilarity {
    let (xs, ys, undefined) = pair_vectors(a.pair, b.pair, mode);
    let missing = |why: String| SpatialSimilarity {
        pearson: None,
        note: Some(why),
        pairs_used: xs.len(),
        pairs_undefined: undefined,
        undefined_pairs: mode,
    };
    let not_linear: Vec<&str> = [(a.linear, names.0), (b.linear, names.1)]
        .iter()
        .filter(|(l, _)| !l)
        .map(|&(_, n)| n)
        .collect();
    if !not_linear.is_empty() {
        return missing(format!(
            "not linear on {} (more clusters than labels)",
            not_linear.join(" and ")
        ));
    }
    match stats::pearson(&xs, &ys) {
        Ok(r) => SpatialSimilarity {
            pearson: Some(r),
            note: (undefined > 0).then(|| match mode {
                UndefinedPairs::Zero => {
                    format!("{undefined} label pair(s) undefined on one side counted as distance 0")
                }
                UndefinedPairs::Drop => {
                    format!("{undefined} label pair(s) undefined on one side were left out")
                }
            }),
            pairs_used: xs.len(),
            pairs_undefined: undefined,
            undefined_pairs: mode,
        },
        Err(e) => missing(format!("Pearson undefined: {e}")),
    }
}

/// Similarity indices between two representations of the same rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimilarityIndices {
    /// Rows used.
    pub rows: usize,
    /// Linear CKA (Kornblith et al. 2019).
    pub cka: Option<f64>,
    /// Debiased linear CKA.
    pub cka_debiased: Option<f64>,
    /// RSA: Spearman correlation of the Euclidean distance matrices on a seeded row sample.
    pub rsa: Option<f64>,
    /// Rows in the RSA sample.
    pub rsa_rows: usize,
    /// Orthogonal Procrustes distance in `[0, 2]` (0 = identical up to rotation and scale).
    pub procrustes: Option<f64>,
    /// Why an index is missing (`index: reason`).
    pub notes: Vec<String>,
}

/// Linear and debiased CKA, RSA and Procrustes distance between `x` and `y` (same rows).
pub fn similarity_indices(x: &Matrix, y: &Matrix, rsa: &RsaOptions) -> SimilarityIndices {
    let mut notes = Vec::new();
    let mut keep = |name: &str, r: Result<f64, similarity::SimilarityError>| match r {
        Ok(v) => Some(v),
        Err(e) => {
            notes.push(format!("{name}: {e}"));
            None
        }
    };
    let cka = keep("cka", similarity::cka(x, y, CkaEstimator::Biased));
    let cka_debiased = keep(
        "cka_debiased",
        similarity::cka(x, y, CkaEstimator::Debiased),
    );
    let rsa_value = keep("rsa", similarity::rsa(x, y, rsa));
    let procrustes = keep("procrustes", similarity::procrustes_distance(x, y));
    SimilarityIndices {
        rows: x.rows(),
        cka,
        cka_debiased,
        rsa: rsa_value,
        rsa_rows: x.rows().min(rsa.sample),
        procrustes,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors(rows: &[[f32; 2]], labels: &[usize]) -> LabelledVectors {
        LabelledVectors {
            data: rows.iter().flatten().copied().collect(),
            rows: rows.len(),
            dim: 2,
            labels: labels.to_vec(),
        }
    }

    #[test]
    fn centroids_and_movement_per_label() {
        let before = vectors(&[[0.0, 0.0], [2.0, 0.0], [10.0, 10.0]], &[0, 0, 1]);
        let after = vectors(&[[3.0, 4.0], [5.0, 4.0], [10.0, 10.0]], &[0, 0, 1]);
        let cb = label_centroids(&before, 3);
        let ca = label_centroids(&after, 3);
        assert_eq!(cb[0].as_deref(), Some(&[1.0, 0.0][..]));
        assert!(cb[2].is_none());
        let m = centroid_movement(&cb, &ca);
        let (d0, diff0) = m[0].clone().unwrap();
        assert!((d0 - 5.0).abs() < 1e-12);
        assert_eq!(diff0, vec![3.0, 4.0]);
        assert_eq!(m[1].as_ref().unwrap().0, 0.0);
        assert!(m[2].is_none());
    }

    #[test]
    fn distance_change_counts_and_skips_undefined() {
        let c = distance_change(
            &[Some(1.0), Some(2.0), None, Some(3.0)],
            &[Some(2.0), Some(1.5), Some(4.0), Some(3.0)],
        );
        assert_eq!(
            (c.n_grew, c.n_shrank, c.n_unchanged, c.n_undefined),
            (1, 1, 1, 1)
        );
        assert!((c.mean_change.unwrap() - (1.0 - 0.5 + 0.0) / 3.0).abs() < 1e-12);
        assert_eq!(c.delta[2], None);
    }

    #[test]
    fn spatial_similarity_needs_linear_spaces_and_says_why() {
        let a = vec![
            vec![None, Some(1.0), Some(2.0)],
            vec![Some(1.0), None, Some(3.0)],
            vec![Some(2.0), Some(3.0), None],
        ];
        let b = vec![
            vec![None, Some(2.0), Some(4.0)],
            vec![Some(2.0), None, None],
            vec![Some(4.0), None, None],
        ];
        let s = spatial_similarity(
            DistanceSpace {
                pair: &a,
                linear: true,
            },
            DistanceSpace {
                pair: &a,
                linear: true,
            },
            ("train", "test"),
            UndefinedPairs::Drop,
        );
        assert!((s.pearson.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!((s.pairs_used, s.pairs_undefined), (3, 0));
        assert!(s.note.is_none());
        let s = spatial_similarity(
            DistanceSpace {
                pair: &a,
                linear: true,
            },
            DistanceSpace {
                pair: &b,
                linear: true,
            },
            ("train", "test"),
            UndefinedPairs::Drop,
        );
        assert!((s.pearson.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!((s.pairs_used, s.pairs_undefined), (2, 1));
        assert!(s.note.unwrap().contains("1 label pair"));
        assert_eq!(s.undefined_pairs, UndefinedPairs::Drop);
        // The authors' convention: the undefined (1, 2) distance on test is 0, so the vectors
        // are (1, 2, 3) and (2, 4, 0): covariance -2, variances 2 and 8, r = -0.5.
        let zero = spatial_similarity(
            DistanceSpace {
                pair: &a,
                linear: true,
            },
            DistanceSpace {
                pair: &b,
                linear: true,
            },
            ("train", "test"),
            UndefinedPairs::Zero,
        );
        assert!((zero.pearson.unwrap() + 0.5).abs() < 1e-12, "{zero:?}");
        assert_eq!((zero.pairs_used, zero.pairs_undefined), (3, 1));
        assert!(zero.note.unwrap().contains("counted as distance 0"));
        let s = spatial_similarity(
            DistanceSpace {
                pair: &a,
                linear: true,
            },
            DistanceSpace {
                pair: &a,
                linear: false,
            },
            ("train", "test"),
            UndefinedPairs::Zero,
        );
        assert_eq!(s.pearson, None);
        assert!(
            s.note.unwrap().contains("not linear on test"),
            "reason names the side"
        );
    }

    #[test]
    fn difference_pca_needs_two_labels() {
        let e = difference_pca(&[Some(vec![1.0, 2.0]), None]).unwrap_err();
        assert!(e.contains("1 label(s)"), "{e}");
        let p = difference_pca(&[
            Some(vec![1.0, 0.0, 0.0]),
            Some(vec![-1.0, 0.0, 0.0]),
            Some(vec![0.0, 0.5, 0.0]),
        ])
        .unwrap();
        assert_eq!(p.labels, vec![0, 1, 2]);
        // The first axis carries the largest spread: labels 0 and 1 land at opposite ends.
        assert!((p.points[0][0] + p.points[1][0]).abs() < 1e-9 && p.points[0][0].abs() > 0.9);
    }
}
