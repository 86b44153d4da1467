//! Similarity indices, PCA and statistics against the committed reference fixture
//! (`scripts/reference/similarity_reference.py`, numpy/scipy) plus invariance properties.

use serde_json::Value;
use tunescope_geometry::calibrated::{
    calibrated_similarity, null_permutation, permuted_indices, CalibratedScore, MeasureKind,
    NullSettings, ShapeReference,
};
use tunescope_geometry::linalg::{
    cross_product, singular_values, symmetric_eigen, symmetric_eigenvalues, Matrix,
};
use tunescope_geometry::pca::{Pca, PcaError};
use tunescope_geometry::similarity::{
    cka, cka_matrix, cka_self_matrix, debiased_linear_cka, linear_cka, mutual_knn,
    pairwise_distances, procrustes_angular, procrustes_distance, rsa, rsa_sample_rows,
    CkaEstimator, DistanceMetric, RsaOptions, SimilarityError,
};
use tunescope_geometry::stats::{
    average_ranks, bootstrap_ci, bootstrap_mean_ci, mean, paired_permutation_test, pearson,
    quantile_sorted, spearman, splitmix64, std_dev, Rng, Side, StatsError,
};

const REL: f64 = 1e-9;

fn fixture() -> Value {
    load_fixture("similarity.json")
}

fn load_fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn vec_of(v: &Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

fn mat_of(v: &Value) -> Matrix {
    let rows: Vec<Vec<f64>> = v.as_array().expect("rows").iter().map(vec_of).collect();
    Matrix::from_rows(&rows).expect("matrix")
}

fn assert_rel(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= REL * want.abs(),
        "{what}: got {got}, want {want}"
    );
}

/// Element-wise comparison relative to the largest magnitude of the expected vector.
fn assert_vec_rel(got: &[f64], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= REL * scale,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn matrices(fx: &Value) -> impl Fn(&str) -> Matrix + '_ {
    move |name| mat_of(&fx["matrices"][name])
}

fn gaussian(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.normal()).collect()).unwrap()
}

/// Random orthogonal matrix: eigenvectors of a random symmetric matrix.
fn orthogonal(d: usize, seed: u64) -> Matrix {
    let g = gaussian(d + 5, d, seed);
    symmetric_eigen(&cross_product(&g, &g).unwrap())
        .unwrap()
        .vectors
}

/// `s·X·Q + 1bᵀ`.
fn similarity_transform(x: &Matrix, q: &Matrix, s: f64, b: &[f64]) -> Matrix {
    let mut t = x.matmul(q).unwrap();
    t.scale(s);
    for i in 0..t.rows() {
        for (v, c) in t.row_mut(i).iter_mut().zip(b) {
            *v += c;
        }
    }
    t
}

#[test]
fn similarity_indices_match_reference() {
    let fx = fixture();
    let m = matrices(&fx);
    let all_rows = RsaOptions {
        sample: 1000,
        ..RsaOptions::default()
    };
    let cosine = RsaOptions {
        metric: DistanceMetric::Cosine,
        ..all_rows
    };
    for case in fx["similarity"].as_array().unwrap() {
        let (a, b) = (
            case["first"].as_str().unwrap(),
            case["second"].as_str().unwrap(),
        );
        let (x, y) = (m(a), m(b));
        let tag = format!("{a}-{b}");
        let want = |k: &str| case[k].as_f64().unwrap();
        assert_rel(linear_cka(&x, &y).unwrap(), want("linear_cka"), &tag);
        assert_rel(
            debiased_linear_cka(&x, &y).unwrap(),
            want("debiased_cka"),
            &tag,
        );
        assert_rel(rsa(&x, &y, &all_rows).unwrap(), want("rsa_euclidean"), &tag);
        assert_rel(rsa(&x, &y, &cosine).unwrap(), want("rsa_cosine"), &tag);
        assert_rel(
            procrustes_distance(&x, &y).unwrap(),
            want("procrustes"),
            &tag,
        );
    }
}

#[test]
fn cka_matrices_match_reference() {
    let fx = fixture();
    let m = matrices(&fx);
    let layers: Vec<Matrix> = fx["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| m(n.as_str().unwrap()))
        .collect();
    for (estimator, key) in [
        (CkaEstimator::Biased, "cka_matrix"),
        (CkaEstimator::Debiased, "debiased_cka_matrix"),
    ] {
        let want = mat_of(&fx[key]);
        let full = cka_matrix(&layers, &layers, estimator).unwrap();
        let sym = cka_self_matrix(&layers, estimator).unwrap();
        for i in 0..3 {
            for j in 0..3 {
                assert_rel(full[(i, j)], want[(i, j)], key);
                assert_rel(sym[(i, j)], want[(i, j)], key);
            }
        }
        // Rectangular: 2 × 1.
        let rect = cka_matrix(&layers[..2], &layers[2..], estimator).unwrap();
        assert_eq!(rect.shape(), (2, 1));
        assert_rel(rect[(1, 0)], want[(1, 2)], key);
    }
}

#[test]
fn pca_matches_reference() {
    let fx = fixture();
    let m = matrices(&fx);
    for (case, others) in [("tall", vec!["x", "z"]), ("wide", vec!["wide"])] {
        let want = &fx["pca"][case];
        let x = m(want["input"].as_str().unwrap());
        let k = want["k"].as_u64().unwrap() as usize;
        let p = Pca::fit(&x, k).unwrap();
        assert_vec_rel(p.mean(), &vec_of(&want["mean"]), "mean");
        assert_vec_rel(
            p.components().as_slice(),
            mat_of(&want["components"]).as_slice(),
            &format!("{case} components"),
        );
        assert_vec_rel(
            p.explained_variance(),
            &vec_of(&want["explained_variance"]),
            "explained variance",
        );
        assert_vec_rel(
            p.explained_variance_ratio(),
            &vec_of(&want["explained_variance_ratio"]),
            "explained variance ratio",
        );
        for (name, proj) in others.iter().zip(want["projections"].as_array().unwrap()) {
            let got = p.transform(&m(name)).unwrap();
            assert_vec_rel(
                got.as_slice(),
                mat_of(proj).as_slice(),
                &format!("{case} projection of {name}"),
            );
        }
    }
}

#[test]
fn statistics_match_reference() {
    let fx = fixture();
    let s = &fx["stats"];
    let (a, b) = (vec_of(&s["a"]), vec_of(&s["b"]));
    let (at, bt) = (vec_of(&s["a_tied"]), vec_of(&s["b_tied"]));
    let want = |k: &str| s[k].as_f64().unwrap();
    assert_rel(pearson(&a, &b).unwrap(), want("pearson_ab"), "pearson");
    assert_rel(
        pearson(&at, &bt).unwrap(),
        want("pearson_tied"),
        "pearson tied",
    );
    assert_rel(spearman(&a, &b).unwrap(), want("spearman_ab"), "spearman");
    assert_rel(
        spearman(&at, &bt).unwrap(),
        want("spearman_tied"),
        "spearman tied",
    );
    assert_eq!(average_ranks(&at).unwrap(), vec_of(&s["rankdata_a_tied"]));
    assert_rel(mean(&a).unwrap(), want("mean_a"), "mean");
    assert_rel(std_dev(&a, 0).unwrap(), want("std_a_ddof0"), "std ddof 0");
    assert_rel(std_dev(&a, 1).unwrap(), want("std_a_ddof1"), "std ddof 1");
    let mut sorted = a.clone();
    sorted.sort_by(f64::total_cmp);
    for (q, w) in vec_of(&s["quantile_qs"])
        .iter()
        .zip(vec_of(&s["quantiles_a"]))
    {
        assert_rel(quantile_sorted(&sorted, *q).unwrap(), w, "quantile");
    }
    for case in s["permutation"].as_array().unwrap() {
        let t = paired_permutation_test(&vec_of(&case["a"]), &vec_of(&case["b"]), 0, 0).unwrap();
        assert!(t.exact);
        assert_eq!(t.p_value, case["p_exact"].as_f64().unwrap());
    }
}

#[test]
fn rng_streams_match_reference_algorithms() {
    let fx = fixture();
    let parse = |k: &str| -> Vec<u64> {
        fx["rng"][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().parse().unwrap())
            .collect()
    };
    let mut state = 0u64;
    let sm: Vec<u64> = (0..4).map(|_| splitmix64(&mut state)).collect();
    assert_eq!(sm, parse("splitmix64_seed0"));
    let mut rng = Rng::new(42);
    let xs: Vec<u64> = (0..6).map(|_| rng.next_u64()).collect();
    assert_eq!(xs, parse("xoshiro256ss_seed42"));
}

#[test]
fn cka_is_invariant_to_orthogonal_scale_and_translation() {
    let x = gaussian(200, 12, 1);
    let q = orthogonal(12, 2);
    let b: Vec<f64> = (0..12).map(|i| 100.0 + i as f64).collect();
    let y = similarity_transform(&x, &q, -3.5, &b);
    for est in [CkaEstimator::Biased, CkaEstimator::Debiased] {
        let v = cka(&x, &y, est).unwrap();
        assert!((v - 1.0).abs() < 1e-10, "{est:?}: {v}");
        let other = gaussian(200, 5, 3);
        let xy = cka(&x, &other, est).unwrap();
        let yx = cka(&other, &x, est).unwrap();
        assert!((xy - yx).abs() < 1e-14, "{est:?} symmetry");
        assert!(xy < 0.2, "{est:?}: independent data gave {xy}");
        // Invariant on either side.
        let other2 = similarity_transform(&other, &orthogonal(5, 4), 0.01, &[5.0; 5]);
        assert!((cka(&y, &other2, est).unwrap() - xy).abs() < 1e-10);
    }
}

#[test]
fn procrustes_is_zero_for_rotated_copies_and_positive_otherwise() {
    let x = gaussian(150, 9, 5);
    let y = similarity_transform(&x, &orthogonal(9, 6), 7.0, &[-3.0; 9]);
    let d = procrustes_distance(&x, &y).unwrap();
    assert!(d.abs() < 1e-12, "{d}");
    let z = gaussian(150, 9, 7);
    let dz = procrustes_distance(&x, &z).unwrap();
    assert!(dz > 1.0 && dz <= 2.0, "{dz}");
    assert!((dz - procrustes_distance(&z, &x).unwrap()).abs() < 1e-12);
    // Non-orthogonal linear maps are not free: stretching one axis costs distance.
    let mut stretch = Matrix::identity(9);
    stretch[(0, 0)] = 10.0;
    let ds = procrustes_distance(&x, &x.matmul(&stretch).unwrap()).unwrap();
    assert!(ds > 0.05, "{ds}");
}

#[test]
fn rsa_samples_rows_deterministically() {
    let x = gaussian(300, 6, 8);
    let y = similarity_transform(&x, &orthogonal(6, 9), 2.0, &[1.0; 6]);
    let opts = RsaOptions {
        sample: 40,
        seed: 11,
        metric: DistanceMetric::Euclidean,
    };
    // Euclidean distances are preserved by a scaled rotation: ranks identical.
    assert!((rsa(&x, &y, &opts).unwrap() - 1.0).abs() < 1e-12);
    let noise = gaussian(300, 6, 10);
    let r1 = rsa(&x, &noise, &opts).unwrap();
    assert_eq!(r1, rsa(&x, &noise, &opts).unwrap());
    let rows = rsa_sample_rows(300, &opts);
    assert_eq!(rows.len(), 40);
    let direct = rsa(
        &x.select_rows(&rows),
        &noise.select_rows(&rows),
        &RsaOptions {
            sample: 1000,
            ..opts
        },
    )
    .unwrap();
    assert_eq!(r1, direct);
    assert_ne!(rows, rsa_sample_rows(300, &RsaOptions { seed: 12, ..opts }));
    // Condensed order and values.
    let p = Matrix::from_rows(&[[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]).unwrap();
    assert_eq!(
        pairwise_distances(&p, DistanceMetric::Euclidean).unwrap(),
        vec![5.0, 1.0, 18f64.sqrt()]
    );
    assert!(matches!(
        pairwise_distances(&p, DistanceMetric::Cosine),
        Err(SimilarityError::ZeroNorm { row: 0, .. })
    ));
}

#[test]
fn similarity_errors_are_reported() {
    let x = gaussian(10, 3, 1);
    assert!(matches!(
        linear_cka(&x, &gaussian(11, 3, 2)),
        Err(SimilarityError::RowMismatch { .. })
    ));
    let constant = Matrix::new(10, 2, vec![1.5; 20]).unwrap();
    assert_eq!(
        linear_cka(&x, &constant),
        Err(SimilarityError::ZeroVariance(Side::Second))
    );
    assert!(matches!(
        debiased_linear_cka(&gaussian(3, 2, 1), &gaussian(3, 2, 2)),
        Err(SimilarityError::TooFewRows { needed: 4, got: 3 })
    ));
    let mut bad = x.clone();
    bad[(2, 1)] = f64::NAN;
    assert!(matches!(
        procrustes_distance(&x, &bad),
        Err(SimilarityError::Linalg(_))
    ));
    let layers = [x.clone(), constant.clone(), x.clone()];
    match cka_self_matrix(&layers, CkaEstimator::Biased) {
        Err(SimilarityError::Entry {
            list: Side::First,
            index: 1,
            source,
        }) => assert!(matches!(*source, SimilarityError::ZeroVariance(_))),
        other => panic!("expected entry 1 to fail, got {other:?}"),
    }
    assert!(matches!(
        cka_matrix(&layers[..1], &[gaussian(9, 3, 1)], CkaEstimator::Biased),
        Err(SimilarityError::RowMismatch { .. })
    ));
    // Identical distances everywhere: Spearman undefined, reported as such.
    let simplex = Matrix::identity(4);
    assert!(matches!(
        rsa(
            &simplex,
            &x.select_rows(&[0, 1, 2, 3]),
            &RsaOptions::default()
        ),
        Err(SimilarityError::Stats(StatsError::Constant(Side::First)))
    ));
}

#[test]
fn cka_matrix_is_symmetric_with_unit_diagonal() {
    let base = gaussian(120, 8, 20);
    let layers: Vec<Matrix> = (0..4)
        .map(|i| {
            let mut l = base.matmul(&orthogonal(8, 30 + i)).unwrap();
            let noise = gaussian(120, 8, 40 + i);
            for r in 0..120 {
                for c in 0..8 {
                    l[(r, c)] += 0.3 * (i as f64) * noise[(r, c)];
                }
            }
            l
        })
        .collect();
    let m = cka_self_matrix(&layers, CkaEstimator::Biased).unwrap();
    for i in 0..4 {
        assert!((m[(i, i)] - 1.0).abs() < 1e-12);
        for j in 0..4 {
            assert_eq!(m[(i, j)], m[(j, i)]);
        }
    }
    // More noise on layer 3 than on layer 1: less similar to the clean layer 0.
    assert!(m[(0, 3)] < m[(0, 1)]);
    let full = cka_matrix(&layers, &layers, CkaEstimator::Biased).unwrap();
    for (a, b) in full.as_slice().iter().zip(m.as_slice()) {
        assert!((a - b).abs() < 1e-14);
    }
}

#[test]
fn pca_of_collinear_points_and_projection_of_other_sets() {
    // Points on the line p0 + t·u in 5-D.
    let u = [1.0, -2.0, 0.5, 0.0, 3.0];
    let rows: Vec<Vec<f64>> = (0..20)
        .map(|t| {
            u.iter()
                .map(|c| 7.0 + c * (t as f64 * 0.37 - 2.0))
                .collect()
        })
        .collect();
    let x = Matrix::from_rows(&rows).unwrap();
    let (p, proj) = Pca::fit_transform(&x, 2).unwrap();
    assert!((p.explained_variance_ratio()[0] - 1.0).abs() < 1e-12);
    assert!(p.explained_variance_ratio()[1].abs() < 1e-12);
    // Axis = ±u/‖u‖ with the largest entry (3.0) positive.
    let norm = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    for (c, w) in p.components().row(0).iter().zip(u) {
        assert!((c - w / norm).abs() < 1e-12);
    }
    // Projection of the mean is 0; of a shifted set, the shift's coordinates.
    let shifted = similarity_transform(&x, &Matrix::identity(5), 1.0, &u);
    let ps = p.transform(&shifted).unwrap();
    for r in 0..20 {
        assert!((ps[(r, 0)] - proj[(r, 0)] - norm).abs() < 1e-10);
    }
    assert!(proj.as_slice().iter().step_by(2).sum::<f64>().abs() < 1e-10);
    // Wide data (n < d) of rank 1 cannot give a second axis.
    let wide = Matrix::from_rows(&[[1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0], [0.0; 4]]).unwrap();
    assert!(matches!(
        Pca::fit(&wide, 2),
        Err(PcaError::RankDeficient { rank: 1, .. })
    ));
    assert_eq!(
        Pca::fit(&Matrix::new(3, 2, vec![1.0; 6]).unwrap(), 1),
        Err(PcaError::ZeroVariance)
    );
    assert!(matches!(
        p.transform(&Matrix::zeros(2, 4)),
        Err(PcaError::ColumnMismatch { .. })
    ));
}

#[test]
fn permutation_test_behaves_under_null_and_shift() {
    let a: Vec<f64> = (0..12).map(|i| (i as f64).sin()).collect();
    // Identical samples: nothing is more extreme than a zero difference.
    let t = paired_permutation_test(&a, &a, 0, 0).unwrap();
    assert_eq!((t.p_value, t.mean_difference, t.exact), (1.0, 0.0, true));
    // A clear shift on 12 pairs: only the all-same-sign patterns are as extreme.
    let b: Vec<f64> = a.iter().map(|v| v - 1.0 - 0.01 * v).collect();
    let t = paired_permutation_test(&a, &b, 0, 0).unwrap();
    assert_eq!(t.permutations, 4096);
    assert!(t.p_value <= 2.0 / 4096.0 + 1e-15, "{}", t.p_value);
    // Monte Carlo (n > 16): +1 correction bounds p below by 1/(R + 1).
    let mut rng = Rng::new(3);
    let a: Vec<f64> = (0..40).map(|_| rng.normal()).collect();
    let b: Vec<f64> = a.iter().map(|v| v - 2.0 + 0.1 * rng.normal()).collect();
    let t = paired_permutation_test(&a, &b, 999, 1).unwrap();
    assert!(!t.exact);
    assert_eq!(t.p_value, 1.0 / 1000.0);
    assert_eq!(t, paired_permutation_test(&a, &b, 999, 1).unwrap());
    // Under the null, p-values are roughly uniform: about 5 % fall at or below 0.05.
    let mut small = 0;
    let mut total_p = 0.0;
    let trials = 400;
    for s in 0..trials {
        let x: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
        let y: Vec<f64> = (0..20).map(|_| rng.normal()).collect();
        let p = paired_permutation_test(&x, &y, 199, s).unwrap().p_value;
        total_p += p;
        if p <= 0.05 {
            small += 1;
        }
    }
    assert!((5..=40).contains(&small), "{small} of {trials}");
    let mean_p = total_p / trials as f64;
    assert!((0.42..0.58).contains(&mean_p), "{mean_p}");
}

#[test]
fn bootstrap_ci_is_seeded_and_covers_the_mean() {
    let mut rng = Rng::new(9);
    let xs: Vec<f64> = (0..400).map(|_| 5.0 + 2.0 * rng.normal()).collect();
    let ci = bootstrap_mean_ci(&xs, 0.95, 2000, 17).unwrap();
    assert_eq!(ci, bootstrap_mean_ci(&xs, 0.95, 2000, 17).unwrap());
    assert_ne!(ci, bootstrap_mean_ci(&xs, 0.95, 2000, 18).unwrap());
    let m = mean(&xs).unwrap();
    assert_eq!(ci.estimate, m);
    assert!(ci.lower < m && m < ci.upper);
    // Width ≈ 2·1.96·s/√n for a large normal sample.
    let se = std_dev(&xs, 1).unwrap() / (xs.len() as f64).sqrt();
    let width = ci.upper - ci.lower;
    assert!(
        (width / (2.0 * 1.96 * se) - 1.0).abs() < 0.1,
        "{width} vs {se}"
    );
    let narrow = bootstrap_mean_ci(&xs, 0.5, 2000, 17).unwrap();
    assert!(narrow.upper - narrow.lower < width);
    // Generic statistic: the mean through `bootstrap_ci` is the same computation; a median CI
    // brackets the sample median.
    let via_generic = bootstrap_ci(&xs, |s| mean(s).unwrap(), 0.95, 2000, 17).unwrap();
    assert!((via_generic.lower - ci.lower).abs() < 1e-12);
    assert!((via_generic.upper - ci.upper).abs() < 1e-12);
    let median = |s: &[f64]| {
        let mut v = s.to_vec();
        v.sort_by(f64::total_cmp);
        quantile_sorted(&v, 0.5).unwrap()
    };
    let med = bootstrap_ci(&xs, median, 0.9, 500, 2).unwrap();
    assert!(med.lower < med.estimate && med.estimate < med.upper);
    let one = bootstrap_mean_ci(&[3.0], 0.95, 10, 1).unwrap();
    assert_eq!((one.lower, one.upper), (3.0, 3.0));
    assert!(bootstrap_mean_ci(&xs, 1.0, 10, 1).is_err());
    assert!(bootstrap_mean_ci(&[], 0.95, 10, 1).is_err());
}

const MEASURES: [&str; 5] = [
    "linear_cka",
    "debiased_cka",
    "mutual_knn",
    "procrustes_angular",
    "rsa",
];

fn scores(c: &tunescope_geometry::calibrated::CalibratedSimilarity) -> [CalibratedScore; 5] {
    [
        c.linear_cka,
        c.debiased_cka,
        c.mutual_knn,
        c.procrustes_angular,
        c.rsa,
    ]
}

#[test]
fn calibrated_similarity_matches_reference() {
    let fx = load_fixture("measures.json");
    let m = |name: &str| mat_of(&fx["matrices"][name]);
    let want_perms = fx["permutations_seed3_n10"].as_array().unwrap();
    for (i, p) in want_perms.iter().enumerate() {
        let want: Vec<usize> = vec_of(p).iter().map(|&v| v as usize).collect();
        assert_eq!(null_permutation(3, i, 10), want, "permutation {i}");
    }
    for (tag, case) in fx["calibrated"].as_object().unwrap() {
        let (a, b) = (
            m(case["first"].as_str().unwrap()),
            m(case["second"].as_str().unwrap()),
        );
        let settings = NullSettings {
            permutations: case["permutations"].as_u64().unwrap() as usize,
            k: case["k"].as_u64().unwrap() as usize,
            seed: case["seed"].as_u64().unwrap(),
            ..NullSettings::default()
        };
        let got = calibrated_similarity(&a, &b, &settings).unwrap();
        for (name, score) in MEASURES.iter().zip(scores(&got)) {
            let want = &case["measures"][*name];
            let what = format!("{tag} {name}");
            let w = |k: &str| want[k].as_f64().unwrap();
            assert_rel(score.value, w("value"), &format!("{what} value"));
            assert_rel(score.null_mean.unwrap(), w("null_mean"), &what);
            assert_rel(score.null_std.unwrap(), w("null_std"), &what);
            assert_rel(score.calibrated.unwrap(), w("calibrated"), &what);
            assert_rel(score.p_value.unwrap(), w("p_value"), &format!("{what} p"));
            let kind = match score.kind {
                MeasureKind::Similarity => "similarity",
                MeasureKind::Distance => "distance",
            };
            assert_eq!(kind, want["kind"].as_str().unwrap(), "{what} kind");
        }
        // Every permutation's indices, recomputed from scratch by the reference.
        for j in 0..settings.permutations {
            let perm = null_permutation(settings.seed, j, a.rows());
            let got = permuted_indices(&a, &b, &perm, &settings).unwrap();
            for (name, g) in MEASURES.iter().zip(got) {
                let w = case["measures"][*name]["null"][j].as_f64().unwrap();
                assert!(
                    (g - w).abs() <= REL * w.abs().max(1e-3),
                    "{tag} {name} permutation {j}: got {g}, want {w}"
                );
            }
        }
    }
}

#[test]
fn a_space_against_itself_is_maximally_similar_and_significant() {
    let x = gaussian(80, 7, 21);
    let settings = NullSettings {
        permutations: 199,
        k: 5,
        seed: 4,
        ..NullSettings::default()
    };
    let c = calibrated_similarity(&x, &x, &settings).unwrap();
    assert!((c.linear_cka.value - 1.0).abs() < 1e-12);
    assert!((c.debiased_cka.value - 1.0).abs() < 1e-12);
    assert_eq!(c.mutual_knn.value, 1.0);
    assert!(
        c.procrustes_angular.value < 1e-6,
        "{}",
        c.procrustes_angular.value
    );
    assert!((c.rsa.value - 1.0).abs() < 1e-12);
    for s in scores(&c) {
        assert_eq!(s.p_value, Some(1.0 / 200.0), "{s:?}");
        let z = s.calibrated.unwrap();
        match s.kind {
            MeasureKind::Similarity => assert!(z > 5.0, "{s:?}"),
            MeasureKind::Distance => assert!(z < -5.0, "{s:?}"),
        }
    }
    // The values are the public functions' (computed by the permutation engine at the
    // identity), and permuting B by the identity reproduces them.
    let y = gaussian(80, 4, 22);
    let direct = calibrated_similarity(
        &x,
        &y,
        &NullSettings {
            permutations: 0,
            ..settings
        },
    )
    .unwrap();
    let public = [
        linear_cka(&x, &y).unwrap(),
        debiased_linear_cka(&x, &y).unwrap(),
        mutual_knn(&x, &y, 5).unwrap(),
        procrustes_angular(&x, &y).unwrap(),
        rsa(&x, &y, &settings.rsa).unwrap(),
    ];
    let id: Vec<usize> = (0..80).collect();
    let at_id = permuted_indices(&x, &y, &id, &settings).unwrap();
    for ((s, p), g) in scores(&direct).iter().zip(public).zip(at_id) {
        assert!((s.value - p).abs() < 1e-14, "{s:?} vs {p}");
        assert!((g - p).abs() < 1e-14, "{g} vs {p}");
        assert_eq!((s.p_value, s.null_mean, s.calibrated), (None, None, None));
    }
}

#[test]
fn independent_spaces_are_not_significant() {
    // Under independence a permutation p-value is uniform on {1/(N+1), …, 1}: with N = 99,
    // P(p <= 0.05) = 0.05 exactly, so "p > 0.05 in 95 % of seeds" is the expected rate, not a
    // bound. Over 1,000 seeds the count of p <= 0.05 is Binomial(1000, 0.05) (mean 50, sd 6.9);
    // more than 66 has probability about 1 %. The p <= 0.5 count checks the null is not merely
    // conservative.
    let seeds = 1000;
    let mut below_005 = [0usize; 5];
    let mut below_05 = [0usize; 5];
    for seed in 0..seeds {
        let a = gaussian(40, 6, 1000 + seed);
        let b = gaussian(40, 5, 2000 + seed);
        let settings = NullSettings {
            permutations: 99,
            k: 5,
            seed,
            ..NullSettings::default()
        };
        let c = calibrated_similarity(&a, &b, &settings).unwrap();
        for (m, s) in scores(&c).iter().enumerate() {
            let p = s.p_value.unwrap();
            below_005[m] += usize::from(p <= 0.05);
            below_05[m] += usize::from(p <= 0.5);
        }
    }
    for (m, name) in MEASURES.iter().enumerate() {
        eprintln!(
            "{name}: p > 0.05 in {} of {seeds} seeds, p <= 0.5 in {}",
            seeds as usize - below_005[m],
            below_05[m]
        );
        assert!(
            below_005[m] <= 66,
            "{name}: p <= 0.05 in {} of {seeds}",
            below_005[m]
        );
        assert!(
            (430..=570).contains(&below_05[m]),
            "{name}: {}",
            below_05[m]
        );
    }
}

#[test]
fn similarity_indices_ignore_rotation_and_isotropic_scaling() {
    let x = gaussian(120, 10, 31);
    let noise = gaussian(120, 10, 32);
    // Related to x but not a copy: rotated x plus noise.
    let mut mixed = x.matmul(&orthogonal(10, 33)).unwrap();
    for i in 0..120 {
        for (v, e) in mixed.row_mut(i).iter_mut().zip(noise.row(i)) {
            *v += 0.7 * e;
        }
    }
    let moved = similarity_transform(&mixed, &orthogonal(10, 34), 4.5, &[0.0; 10]);
    let k = 6;
    for (name, f) in [
        ("linear_cka", linear_cka as fn(&Matrix, &Matrix) -> _),
        ("debiased_cka", debiased_linear_cka),
        ("procrustes_angular", procrustes_angular),
    ] {
        let (a, b) = (f(&x, &mixed).unwrap(), f(&x, &moved).unwrap());
        assert!((a - b).abs() < 1e-10, "{name}: {a} vs {b}");
    }
    let (a, b) = (
        mutual_knn(&x, &mixed, k).unwrap(),
        mutual_knn(&x, &moved, k).unwrap(),
    );
    assert_eq!(a, b);
    assert!(a > 0.1 && a < 1.0, "{a}");
}

#[test]
fn mutual_knn_breaks_ties_by_index_also_under_permutation() {
    // Duplicated rows make exact distance ties; the null engine must agree with a direct
    // computation on the permuted matrix.
    let base = gaussian(12, 3, 41);
    let rows: Vec<usize> = (0..30).map(|i| i % 12).collect();
    let a = base.select_rows(&rows);
    let b = gaussian(30, 4, 42).select_rows(&(0..30).map(|i| (i * 7) % 15).collect::<Vec<_>>());
    let settings = NullSettings {
        k: 3,
        rsa: RsaOptions {
            sample: 30,
            ..RsaOptions::default()
        },
        ..NullSettings::default()
    };
    for j in 0..20 {
        let perm = null_permutation(9, j, 30);
        let engine = permuted_indices(&a, &b, &perm, &settings).unwrap()[2];
        let direct = mutual_knn(&a, &b.select_rows(&perm), 3).unwrap();
        assert_eq!(engine, direct, "permutation {j}");
    }
    assert!(matches!(
        mutual_knn(&a, &b, 30),
        Err(SimilarityError::Setting(_))
    ));
}

#[test]
fn eigen_decomposition_matches_numpy_eigh_under_the_sign_convention() {
    // scripts/reference/eigen_reference.py: numpy.linalg.eigh of exact integer Gram matrices,
    // values descending, separated eigenvalues' vectors with the largest entry positive.
    let fx = load_fixture("eigen.json");
    for case in fx["cases"].as_array().expect("cases") {
        let name = case["name"].as_str().expect("name");
        let d = case["cols"].as_u64().expect("cols") as usize;
        let a = match case.get("matrix") {
            Some(m) => Matrix::new(d, d, vec_of(m)).unwrap(),
            None => {
                let n = case["rows"].as_u64().expect("rows") as usize;
                let x = Matrix::new(n, d, vec_of(&case["x"])).unwrap();
                cross_product(&x, &x).unwrap()
            }
        };
        let want = vec_of(&case["values"]);
        let norm = want[0].abs().max(want[d - 1].abs());
        let eig = symmetric_eigen(&a).unwrap();
        let values_only = symmetric_eigenvalues(&a).unwrap();
        for (k, w) in want.iter().enumerate() {
            for (what, got) in [("values", eig.values[k]), ("values only", values_only[k])] {
                assert!(
                    (got - w).abs() <= 1e-13 * norm,
                    "{name} {what}[{k}]: got {got}, want {w}"
                );
            }
        }
        let vectors = case["vectors"].as_array().expect("vectors");
        for (k, v) in case["distinct"]
            .as_array()
            .expect("distinct")
            .iter()
            .zip(vectors)
        {
            let k = k.as_u64().expect("index") as usize;
            for (j, (g, w)) in eig.vectors.row(k).iter().zip(vec_of(v)).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-10,
                    "{name} vector {k}[{j}]: got {g}, want {w}"
                );
            }
        }
    }
}

#[test]
fn eigen_decomposition_is_reproducible_and_values_agree_with_the_values_only_path() {
    // 150 rows: faer's divide and conquer (from 128 rows) for the vectors, QR for the values.
    for (n, seed) in [(1, 1), (2, 2), (9, 3), (40, 4), (150, 5)] {
        let g = gaussian(n + 3, n, seed);
        let a = cross_product(&g, &g).unwrap();
        let eig = symmetric_eigen(&a).unwrap();
        assert_eq!(
            eig,
            symmetric_eigen(&a).unwrap(),
            "n = {n}: same input, same bits"
        );
        let values = symmetric_eigenvalues(&a).unwrap();
        assert_eq!(values, symmetric_eigenvalues(&a).unwrap());
        for (x, y) in values.iter().zip(&eig.values) {
            assert!(
                (x - y).abs() <= 1e-13 * eig.values[0],
                "n = {n}: {x} vs {y}"
            );
        }
        for i in 0..n {
            let row = eig.vectors.row(i);
            let big = row.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let first = row.iter().position(|v| v.abs() == big).unwrap();
            assert!(
                row[first] > 0.0,
                "n = {n}: vector {i} breaks the sign convention"
            );
        }
    }
    let s = singular_values(&gaussian(7, 3, 5)).unwrap();
    assert!(s.windows(2).all(|w| w[0] >= w[1]) && s[2] > 0.0);
}

#[test]
fn shape_reference_equals_the_calibrated_engine() {
    let a = gaussian(60, 7, 51);
    let noise = gaussian(60, 5, 52);
    let b = Matrix::new(
        60,
        5,
        (0..60)
            .flat_map(|i| (0..5).map(move |j| (i, j)))
            .map(|(i, j)| 0.6 * noise.row(i)[j] + a.row(i)[j])
            .collect(),
    )
    .unwrap();
    // Every row in RSA, and a 40-row RSA sample (its own permutation of the sampled rows).
    for sample in [60, 40] {
        let settings = NullSettings {
            permutations: 30,
            k: 5,
            seed: 8,
            rsa: RsaOptions {
                sample,
                seed: 3,
                ..RsaOptions::default()
            },
        };
        let r = ShapeReference::new(&a, &settings).unwrap();
        let got = r.against(&b, 7).unwrap();
        let all = calibrated_similarity(&a, &b, &settings).unwrap();
        assert_eq!(got.mutual_knn, all.mutual_knn, "sample {sample}");
        assert_eq!(got.rsa, all.rsa, "sample {sample}");
        let seven = calibrated_similarity(
            &a,
            &b,
            &NullSettings {
                permutations: 7,
                ..settings
            },
        )
        .unwrap();
        assert_eq!(got.procrustes_angular, seven.procrustes_angular);
        assert_eq!(got.procrustes_angular.kind, MeasureKind::Distance);
        assert_eq!(got.procrustes_angular.p_value, Some(1.0 / 8.0));
        assert!(got.mutual_knn.p_value.unwrap() < 0.05);
        // More Procrustes permutations than the null has are the null's.
        let capped = r.against(&b, 1000).unwrap();
        assert_eq!(capped.procrustes_angular, all.procrustes_angular);
    }
    assert!(matches!(
        ShapeReference::new(&a, &NullSettings::default())
            .unwrap()
            .against(&gaussian(59, 5, 1), 1),
        Err(SimilarityError::RowMismatch { .. })
    ));
}

#[test]
fn shape_reference_of_a_space_against_itself_rotated_and_scaled() {
    let x = gaussian(80, 6, 61);
    let settings = NullSettings {
        permutations: 19,
        k: 5,
        seed: 2,
        ..NullSettings::default()
    };
    let r = ShapeReference::new(&x, &settings).unwrap();
    let copy = similarity_transform(&x, &orthogonal(6, 62), 3.0, &[0.0; 6]);
    for y in [&x, &copy] {
        let s = r.against(y, 19).unwrap();
        assert_eq!(s.mutual_knn.value, 1.0);
        assert!(
            s.procrustes_angular.value < 1e-6,
            "{}",
            s.procrustes_angular.value
        );
        assert!((s.rsa.value - 1.0).abs() < 1e-12);
        for score in [s.mutual_knn, s.procrustes_angular, s.rsa] {
            assert_eq!(score.p_value, Some(1.0 / 20.0), "{score:?}");
        }
    }
    // A related space and its rotated, isotropically scaled copy give the same mutual k-NN
    // and Procrustes distance.
    let noise = gaussian(80, 6, 63);
    let mut mixed = x.matmul(&orthogonal(6, 64)).unwrap();
    for i in 0..80 {
        for (v, e) in mixed.row_mut(i).iter_mut().zip(noise.row(i)) {
            *v += 0.8 * e;
        }
    }
    let moved = similarity_transform(&mixed, &orthogonal(6, 65), 0.2, &[0.0; 6]);
    let (p, q) = (r.against(&mixed, 5).unwrap(), r.against(&moved, 5).unwrap());
    assert_eq!(p.mutual_knn.value, q.mutual_knn.value);
    assert!(p.mutual_knn.value > 0.1 && p.mutual_knn.value < 1.0);
    assert!((p.procrustes_angular.value - q.procrustes_angular.value).abs() < 1e-10);
    assert!(p.procrustes_angular.value > 0.1);
}
