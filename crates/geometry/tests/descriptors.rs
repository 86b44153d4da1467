//! Geometry descriptors against the committed numpy/scipy fixture
//! (`scripts/reference/measures_reference.py`) and hand cases.

use serde_json::Value;
use tunescope_geometry::descriptors::{
    anisotropy, describe, effective_rank, effective_rank_blocked, nc1, two_nn, DescriptorError,
    DescriptorSettings,
};
use tunescope_geometry::linalg::Matrix;
use tunescope_geometry::stats::Rng;

const REL: f64 = 1e-9;

fn fixture() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/measures.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json")
}

fn mat_of(v: &Value) -> Matrix {
    let rows: Vec<Vec<f64>> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            r.as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        })
        .collect();
    Matrix::from_rows(&rows).unwrap()
}

fn assert_rel(got: f64, want: f64, what: &str) {
    assert!(
        (got - want).abs() <= REL * want.abs(),
        "{what}: got {got}, want {want}"
    );
}

fn gaussian(rows: usize, cols: usize, seed: u64) -> Matrix {
    let mut rng = Rng::new(seed);
    Matrix::new(rows, cols, (0..rows * cols).map(|_| rng.normal()).collect()).unwrap()
}

#[test]
fn descriptors_match_reference() {
    let fx = fixture();
    for (name, want) in fx["geometry"].as_object().unwrap() {
        let x = mat_of(&fx["matrices"][name]);
        let w = |k: &str| want[k].as_f64().unwrap();
        let t = two_nn(&x).unwrap();
        assert_rel(
            t.dimension,
            want["two_nn"]["dimension"].as_f64().unwrap(),
            name,
        );
        assert_eq!(t.points as u64, want["two_nn"]["points"].as_u64().unwrap());
        assert_eq!(t.points + t.duplicates, x.rows());
        assert_rel(anisotropy(&x).unwrap(), w("anisotropy"), name);
        assert_rel(effective_rank(&x).unwrap(), w("effective_rank"), name);
        if let Some(labels) = want.get("labels") {
            let labels: Vec<usize> = labels
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_u64().unwrap() as usize)
                .collect();
            assert_rel(nc1(&x, &labels).unwrap(), w("nc1"), name);
            let all = describe(&x, Some(&labels), &DescriptorSettings::default()).unwrap();
            assert_eq!(all.nc1, Some(nc1(&x, &labels).unwrap()));
            assert_eq!(all.classes, Some(4));
        }
    }
}

#[test]
fn two_nn_finds_a_five_dimensional_subspace_of_r384() {
    let coords = gaussian(1000, 5, 1);
    let basis = gaussian(5, 384, 2);
    let x = coords.matmul(&basis).unwrap();
    let t = two_nn(&x).unwrap();
    assert!((t.dimension - 5.0).abs() < 0.5, "{}", t.dimension);
    assert_eq!(t.duplicates, 0);
    let r = effective_rank(&x).unwrap();
    assert!(r > 3.0 && r <= 5.0 + 1e-9, "effective rank {r}");
}

#[test]
fn anisotropy_and_effective_rank_hand_cases() {
    // A cone: every row shares a large common direction.
    let mut cone = gaussian(300, 20, 3);
    for i in 0..300 {
        cone.row_mut(i)[0] += 10.0;
    }
    assert!(anisotropy(&cone).unwrap() > 0.7);
    assert!(anisotropy(&gaussian(300, 20, 4)).unwrap().abs() < 0.02);
    // Two exactly opposite rows.
    let pair = Matrix::from_rows(&[[1.0, 2.0], [-2.0, -4.0]]).unwrap();
    assert!((anisotropy(&pair).unwrap() + 1.0).abs() < 1e-15);
    // Equal singular values in k directions give effective rank k.
    let mut square = Matrix::zeros(6, 3);
    for j in 0..3 {
        square[(2 * j, j)] = 1.0;
        square[(2 * j + 1, j)] = -1.0;
    }
    assert!((effective_rank(&square).unwrap() - 3.0).abs() < 1e-12);
    assert!(matches!(
        anisotropy(&Matrix::from_rows(&[[0.0, 0.0], [1.0, 0.0]]).unwrap()),
        Err(DescriptorError::ZeroNorm(0))
    ));
}

#[test]
fn nc1_is_zero_when_collapsed_and_grows_with_spread() {
    let means = gaussian(3, 8, 5);
    let labels: Vec<usize> = (0..90).map(|i| 10 + i % 3).collect();
    let collapsed = means.select_rows(&labels.iter().map(|l| l - 10).collect::<Vec<_>>());
    assert!(nc1(&collapsed, &labels).unwrap().abs() < 1e-20);
    let noise = gaussian(90, 8, 6);
    let spread = |s: f64| {
        let mut x = collapsed.clone();
        for i in 0..90 {
            for (v, e) in x.row_mut(i).iter_mut().zip(noise.row(i)) {
                *v += s * e;
            }
        }
        nc1(&x, &labels).unwrap()
    };
    let (small, large) = (spread(0.1), spread(1.0));
    assert!(small > 0.0 && large > 10.0 * small, "{small} {large}");
    assert!(matches!(
        nc1(&collapsed, &[1; 90]),
        Err(DescriptorError::TooFew { needed: 2, .. })
    ));
    assert!(matches!(
        nc1(&collapsed, &[1, 2]),
        Err(DescriptorError::LabelCount { .. })
    ));
}

#[test]
fn two_nn_rejects_too_few_distinct_points() {
    let x = Matrix::from_rows(&[[1.0, 2.0], [1.0, 2.0], [3.0, 4.0]]).unwrap();
    assert!(matches!(
        two_nn(&x),
        Err(DescriptorError::TooFew { got: 2, .. })
    ));
}

#[test]
fn blocked_effective_rank_equals_the_reference_route() {
    let mut r = Rng::new(11);
    let mut gaussian =
        |n: usize, d: usize| Matrix::new(n, d, (0..n * d).map(|_| r.normal()).collect()).unwrap();
    let low = gaussian(60, 3).matmul(&gaussian(3, 20)).unwrap();
    for (what, x) in [
        ("tall", gaussian(80, 12)),
        ("wide", gaussian(9, 40)),
        ("rank 3 in 20 dimensions", low),
    ] {
        assert_rel(
            effective_rank_blocked(&x).unwrap(),
            effective_rank(&x).unwrap(),
            what,
        );
    }
    let flat = Matrix::new(5, 3, vec![2.0; 15]).unwrap();
    assert!(matches!(
        effective_rank_blocked(&flat),
        Err(DescriptorError::Degenerate(_))
    ));
}
