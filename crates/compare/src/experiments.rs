//! The paper's multi-run experiments on in-memory results: dynamics over fine-tuning checkpoints
//! (Figs. L, M, O), the subtrain/subtest memorisation split (v1, Fig. E) and the cross-task
//! table (Table C). The study's `experiments` stages read the run directory and call these.

use anyhow::{bail, Result};
use tunescope_geometry::linalg::Matrix;
use tunescope_geometry::pca::Pca;
use tunescope_geometry::stats::{self, Rng};

use crate::analysis::{distance_change, pair_vectors, UndefinedPairs};

/// Pearson correlation of two label-pair distance matrices over the pairs `a < b`, pairs
/// undefined on either side handled by `mode` (the dynamics' "spatial similarity with the
/// pre-trained space"), and the number of undefined pairs; `None` when fewer than two pairs are
/// left or either side is constant.
pub fn pair_pearson(
    a: &[Vec<Option<f64>>],
    b: &[Vec<Option<f64>>],
    mode: UndefinedPairs,
) -> (Option<f64>, usize) {
    let (xs, ys, undefined) = pair_vectors(a, b, mode);
    (stats::pearson(&xs, &ys).ok(), undefined)
}

/// Labels ranked by how much their minimum distance grew from `first` to `last`: the `k` most
/// and the `k` least increased (label indices, labels undefined at either end left out).
pub fn most_and_least_increased(
    first: &[Option<f64>],
    last: &[Option<f64>],
    k: usize,
) -> (Vec<usize>, Vec<usize>) {
    let mut inc: Vec<(usize, f64)> = first
        .iter()
        .zip(last)
        .enumerate()
        .filter_map(|(l, (a, b))| Some((l, (*b)? - (*a)?)))
        .collect();
    inc.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
    let most: Vec<usize> = inc.iter().take(k).map(|x| x.0).collect();
    let least: Vec<usize> = inc
        .iter()
        .rev()
        .filter(|x| !most.contains(&x.0))
        .take(k)
        .map(|x| x.0)
        .collect();
    (most, least)
}

/// The `k` labels closest to each other in a label-pair distance matrix: the label with the
/// smallest distance to any other label, then its nearest labels in order.
pub fn closest_labels(pair: &[Vec<Option<f64>>], k: usize) -> Vec<usize> {
    let n = pair.len();
    let nearest = |a: usize| -> Vec<(usize, f64)> {
        let mut v: Vec<(usize, f64)> = (0..n)
            .filter(|&b| b != a)
            .filter_map(|b| pair[a][b].map(|d| (b, d)))
            .collect();
        v.sort_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)));
        v
    };
    let Some((anchor, _)) = (0..n)
        .filter_map(|a| nearest(a).first().map(|&(_, d)| (a, d)))
        .min_by(|x, y| x.1.total_cmp(&y.1).then(x.0.cmp(&y.0)))
    else {
        return Vec::new();
    };
    let mut out = vec![anchor];
    out.extend(
        nearest(anchor)
            .into_iter()
            .take(k.saturating_sub(1))
            .map(|x| x.0),
    );
    out
}

/// Centroid paths in one shared 2-D PCA: `centroids[snapshot][label]`; the PCA is fitted on every
/// snapshot's centroid of every label in `labels` (as the paper's Fig. M), and each label's path
/// is its projected centroid per snapshot. Labels missing from a snapshot are an error.
pub fn centroid_paths(
    centroids: &[Vec<Option<Vec<f64>>>],
    labels: &[usize],
) -> Result<Vec<Vec<[f64; 2]>>> {
    let mut rows: Vec<&Vec<f64>> = Vec::new();
    for (s, snap) in centroids.iter().enumerate() {
        for &l in labels {
            match snap.get(l).and_then(Option::as_ref) {
                Some(c) => rows.push(c),
                None => bail!("label {l} has no units at snapshot {s}"),
            }
        }
    }
    if rows.len() < 2 {
        bail!("centroid paths need at least two centroids");
    }
    let x = Matrix::from_rows(&rows).map_err(|e| anyhow::anyhow!("{e}"))?;
    let k = 2.min(x.rows()).min(x.cols());
    let (_, proj) = Pca::fit_transform(&x, k).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut paths = vec![Vec::with_capacity(centroids.len()); labels.len()];
    for s in 0..centroids.len() {
        for (j, path) in paths.iter_mut().enumerate() {
            let r = s * labels.len() + j;
            path.push([proj[(r, 0)], if k > 1 { proj[(r, 1)] } else { 0.0 }]);
        }
    }
    Ok(paths)
}

/// Seeded split of sentence ids `0..n_sentences` into subtrain (a `fraction` share, rounded) and
/// subtest; returns `(subtrain, subtest)` sentence ids, each ascending.
pub fn split_sentences(n_sentences: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let k = ((n_sentences as f64) * fraction).round() as usize;
    let k = k.clamp(
        usize::from(n_sentences > 1),
        n_sentences.saturating_sub(1).max(1),
    );
    let chosen = Rng::new(seed).sample_indices(n_sentences, k.min(n_sentences));
    let mut is_sub = vec![false; n_sentences];
    for &c in &chosen {
        is_sub[c] = true;
    }
    (0..n_sentences).partition(|&i| is_sub[i])
}

/// The memorisation split of a training split's sentences and units.
pub struct SubtrainSplit {
    /// Subtrain and subtest sentence ids ([`split_sentences`]).
    pub sentences: (Vec<usize>, Vec<usize>),
    /// Units (rows) whose sentence is in subtrain, ascending.
    pub subtrain: Vec<usize>,
    /// The other units, ascending.
    pub subtest: Vec<usize>,
}

/// [`split_sentences`] of `train`'s sentences, with its units partitioned by sentence.
pub fn split_units(train: &tunescope_data::Split, fraction: f64, seed: u64) -> SubtrainSplit {
    let sentences = split_sentences(train.sentences.len(), fraction, seed);
    let mut in_sub = vec![false; train.sentences.len()];
    for &s in &sentences.0 {
        in_sub[s] = true;
    }
    let (subtrain, subtest) =
        (0..train.units.len()).partition(|&i| in_sub[train.units[i].sentence]);
    SubtrainSplit {
        sentences,
        subtrain,
        subtest,
    }
}

pub use tunescope_report::results::CrossTaskRow;
pub use tunescope_report::MemoCurves;

/// A cross-task row from the per-label minimum distances of the pre-trained encoder
/// (`min_before`, absent for the pre-trained row itself) and of the encoder fine-tuned on
/// `finetuned_on`, probing `probing`.
pub fn cross_task_row(
    finetuned_on: Option<&str>,
    probing: &str,
    layer: usize,
    min_before: Option<&[Option<f64>]>,
    min_after: &[Option<f64>],
    acc: Option<f64>,
    n_clusters: Option<usize>,
) -> CrossTaskRow {
    CrossTaskRow {
        finetuned_on: finetuned_on.map(str::to_string),
        probing: probing.to_string(),
        layer,
        change: min_before.map(|b| distance_change(b, min_after)),
        acc,
        n_clusters,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &[&[f64]]) -> Vec<Vec<Option<f64>>> {
        v.iter()
            .map(|r| {
                r.iter()
                    .map(|&x| (!x.is_nan()).then_some(x))
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    #[test]
    fn pearson_uses_pairs_defined_on_both_sides() {
        let nan = f64::NAN;
        let a = m(&[
            &[0., 1., 2., 3.],
            &[1., 0., 4., 5.],
            &[2., 4., 0., nan],
            &[3., 5., nan, 0.],
        ]);
        let b = m(&[
            &[0., 2., 4., 6.],
            &[2., 0., 8., 10.],
            &[4., 8., 0., 1.],
            &[6., 10., 1., 0.],
        ]);
        let (r, undefined) = pair_pearson(&a, &b, UndefinedPairs::Drop);
        let r = r.unwrap();
        assert!((r - 1.0).abs() < 1e-12, "{r}");
        assert_eq!(undefined, 1);
        let (zero, undefined) = pair_pearson(&a, &b, UndefinedPairs::Zero);
        assert!(
            zero.unwrap() < r - 1e-3,
            "the pair written as 0 lowers r: {zero:?}"
        );
        assert_eq!(undefined, 1);
        let c = m(&[
            &[0., 5., 2., 3.],
            &[5., 0., 4., 1.],
            &[2., 4., 0., 9.],
            &[3., 1., 9., 0.],
        ]);
        assert!(pair_pearson(&a, &c, UndefinedPairs::Drop).0.unwrap() < 0.0);
    }

    #[test]
    fn ranks_increases_and_skips_undefined_labels() {
        let first = [Some(1.0), Some(1.0), None, Some(2.0), Some(3.0)];
        let last = [Some(5.0), Some(0.5), Some(9.0), Some(2.5), Some(3.0)];
        let (most, least) = most_and_least_increased(&first, &last, 2);
        assert_eq!(most, [0, 3]);
        assert_eq!(least, [1, 4]);
    }

    #[test]
    fn closest_labels_start_from_the_tightest_pair() {
        let d = m(&[
            &[0., 9., 8., 7.],
            &[9., 0., 1., 3.],
            &[8., 1., 0., 2.],
            &[7., 3., 2., 0.],
        ]);
        assert_eq!(closest_labels(&d, 3), [1, 2, 3]);
    }

    #[test]
    fn centroid_paths_share_one_projection() {
        let c = |x: f64, y: f64| Some(vec![x, y, 0.0]);
        let snaps = vec![vec![c(0., 0.), c(1., 0.)], vec![c(0., 0.), c(3., 0.)]];
        let paths = centroid_paths(&snaps, &[0, 1]).unwrap();
        assert_eq!(paths.len(), 2);
        let d0 = (paths[1][0][0] - paths[0][0][0]).abs();
        let d1 = (paths[1][1][0] - paths[0][1][0]).abs();
        assert!(
            (d0 - 1.0).abs() < 1e-9 && (d1 - 3.0).abs() < 1e-9,
            "{paths:?}"
        );
        assert!(centroid_paths(&[vec![c(0., 0.), None]], &[0, 1]).is_err());
    }

    #[test]
    fn split_is_seeded_disjoint_and_complete() {
        let (a, b) = split_sentences(100, 0.8, 7);
        assert_eq!((a.len(), b.len()), (80, 20));
        assert_eq!(split_sentences(100, 0.8, 7), (a.clone(), b.clone()));
        assert_ne!(split_sentences(100, 0.8, 8).0, a);
        let mut all: Vec<usize> = a.into_iter().chain(b).collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn memo_gap_is_subtest_minus_test_at_the_end() {
        let c = MemoCurves::mean_of(
            &[vec![0.5, 1.0], vec![0.7, 1.0]],
            &[vec![0.4, 0.9], vec![0.6, 0.7]],
            &[vec![0.4, 0.7], vec![0.6, 0.7]],
        );
        assert_eq!(c.subtest, [0.5, 0.8]);
        assert!((c.final_gap().unwrap() - 0.1).abs() < 1e-12);
        assert!((c.final_probe_gap().unwrap() - 0.2).abs() < 1e-12);
    }
}
