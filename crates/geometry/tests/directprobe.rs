//! DirectProbe: hand-checkable cases and cross-checks against the independent reference
//! (`scripts/reference/directprobe_reference.py`, scipy HiGHS LP + active-set QP), whose outputs
//! are stored under `tests/fixtures/`.

use serde_json::Value;
use tunescope_geometry::directprobe::{self as dp, Overlap, Points};

fn pts(rows: &[&[f64]]) -> Points {
    let d = rows[0].len();
    Points::new(
        rows.iter().flat_map(|r| r.iter().copied()).collect(),
        rows.len(),
        d,
    )
    .unwrap()
}

fn vector(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn matrix(v: &Value) -> Vec<Vec<f64>> {
    v.as_array().unwrap().iter().map(vector).collect()
}

/// A two-set case of a fixture: both sets' rows stacked, the rows of each, the labels (0, 1)
/// and the reference distance.
fn two_sets(case: &Value) -> (Points, Vec<usize>, Vec<usize>, Vec<usize>, f64) {
    let (a, b) = (matrix(&case["a"]), matrix(&case["b"]));
    let ia: Vec<usize> = (0..a.len()).collect();
    let ib: Vec<usize> = (a.len()..a.len() + b.len()).collect();
    let y: Vec<usize> = ia.iter().map(|_| 0).chain(ib.iter().map(|_| 1)).collect();
    let want = case["distance"].as_f64().unwrap();
    (stack(&[&a, &b]), ia, ib, y, want)
}

fn stack(parts: &[&Vec<Vec<f64>>]) -> Points {
    let rows: Vec<&[f64]> = parts
        .iter()
        .flat_map(|p| p.iter().map(|r| r.as_slice()))
        .collect();
    pts(&rows)
}

fn fixture(name: &str) -> Value {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/").to_string() + name;
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

#[test]
fn rectangles_are_four_apart() {
    // The original's probing/test.py example.
    let p = pts(&[
        &[1.0, 6.0],
        &[1.0, 3.0],
        &[15.0, 3.0],
        &[15.0, 6.0],
        &[1.0, -3.0],
        &[1.0, -1.0],
        &[2.0, -3.0],
        &[2.0, -1.0],
    ]);
    let d = dp::hull_distance(&p, &[0, 1, 2, 3], &[4, 5, 6, 7]).unwrap();
    assert!((d - 4.0).abs() < 1e-9, "{d}");
    match dp::hulls_intersect(&p, &[0, 1, 2, 3], &[4, 5, 6, 7]).unwrap() {
        Overlap::Disjoint {
            hyperplane: Some((w, off, margin)),
        } => {
            assert!(margin > 0.0);
            for i in 0..4 {
                assert!(w[0] * p.row(i)[0] + w[1] * p.row(i)[1] >= off + margin / 2.0 - 1e-12);
            }
            for i in 4..8 {
                assert!(w[0] * p.row(i)[0] + w[1] * p.row(i)[1] <= off - margin / 2.0 + 1e-12);
            }
        }
        other => panic!("expected a separating hyperplane, got {other:?}"),
    }
}

#[test]
fn point_to_square() {
    let p = pts(&[&[0.0, 0.0], &[10.0, 0.0], &[0.0, 10.0], &[10.0, 10.0]]);
    let sq = [0, 1, 2, 3];
    let d = dp::point_hull_distance(&p, &sq, &[13.0, 5.0]).unwrap();
    assert!((d - 3.0).abs() < 1e-9, "{d}");
    assert_eq!(dp::point_hull_distance(&p, &sq, &[5.0, 5.0]).unwrap(), 0.0);
    assert_eq!(dp::point_hull_distance(&p, &sq, &[10.0, 4.0]).unwrap(), 0.0);
    let corner = dp::point_hull_distance(&p, &sq, &[13.0, 14.0]).unwrap();
    assert!((corner - 5.0).abs() < 1e-9, "{corner}");
}

#[test]
fn xor_gives_three_clusters() {
    // Rows: (0,0) A, (0,1) B, (1,0) B, (1,1) A. Both same-label pairs are √2 apart; the tie goes
    // to the lower indices, so A merges first and then B's diagonal crosses A's: rejected.
    let p = pts(&[&[0.0, 0.0], &[0.0, 1.0], &[1.0, 0.0], &[1.0, 1.0]]);
    let c = dp::probe(&p, &[0, 1, 1, 0], &dp::Options::default()).unwrap();
    assert_eq!(c.n_clusters(), 3);
    assert_eq!(c.assignment, vec![0, 1, 2, 0]);
    assert_eq!(c.stats.merges, 1);
    assert_eq!(c.stats.rejected, 1);
    let bad = dp::check_clusters(
        &p,
        &dp::Clustering::from_assignment(&[0, 1, 1, 0], &[0, 1, 1, 0])
            .unwrap()
            .clusters,
        &[0, 1],
    )
    .unwrap();
    assert_eq!(bad, vec![dp::OverlappingPair { i: 0, j: 1 }]);
}

#[test]
fn identical_vectors_with_different_labels_are_an_error() {
    let p = pts(&[&[0.0, 0.0], &[1.0, 2.0], &[3.0, 3.0], &[1.0, 2.0]]);
    let e = dp::probe(&p, &[0, 0, 1, 1], &dp::Options::default()).unwrap_err();
    assert!(matches!(
        e,
        dp::ProbeError::DuplicateConflict {
            first: 1,
            second: 3,
            ..
        }
    ));
    assert!(e.to_string().contains("rows 1 and 3"), "{e}");
    // Same label: fine.
    assert!(dp::probe(&p, &[0, 1, 1, 1], &dp::Options::default()).is_ok());
    assert!(dp::probe(&p, &[0, 1, 1], &dp::Options::default()).is_err());
}

#[test]
fn pairs_match_reference() {
    let f = fixture("directprobe_pairs.json");
    for (k, case) in f["cases"].as_array().unwrap().iter().enumerate() {
        let a = matrix(&case["a"]);
        let b = matrix(&case["b"]);
        let p = stack(&[&a, &b]);
        let ia: Vec<usize> = (0..a.len()).collect();
        let ib: Vec<usize> = (a.len()..a.len() + b.len()).collect();
        let ov = dp::hulls_intersect(&p, &ia, &ib).unwrap();
        assert_eq!(
            ov.intersects(),
            case["intersects"].as_bool().unwrap(),
            "case {k}"
        );
        // Certificates hold on every point.
        match &ov {
            Overlap::Disjoint {
                hyperplane: Some((w, off, m)),
            } => {
                let v = |i: usize| -> f64 { w.iter().zip(p.row(i)).map(|(x, y)| x * y).sum() };
                assert!(ia.iter().all(|&i| v(i) >= off + m / 2.0 - 1e-9), "case {k}");
                assert!(ib.iter().all(|&i| v(i) <= off - m / 2.0 + 1e-9), "case {k}");
            }
            Overlap::Intersect { lambda, mu, .. } => {
                let d = p.dim();
                let mut x = vec![0.0; d];
                for &(i, w) in lambda {
                    assert!(ia.contains(&i) && w >= 0.0);
                    x.iter_mut().zip(p.row(i)).for_each(|(s, v)| *s += w * v);
                }
                for &(j, w) in mu {
                    assert!(ib.contains(&j) && w >= 0.0);
                    x.iter_mut().zip(p.row(j)).for_each(|(s, v)| *s -= w * v);
                }
                assert!((lambda.iter().map(|e| e.1).sum::<f64>() - 1.0).abs() < 1e-9);
                assert!((mu.iter().map(|e| e.1).sum::<f64>() - 1.0).abs() < 1e-9);
                assert!(
                    x.iter().map(|v| v * v).sum::<f64>().sqrt() < 1e-7,
                    "case {k}"
                );
            }
            other => panic!("case {k}: uncertified {other:?}"),
        }
        let d = dp::hull_distance(&p, &ia, &ib).unwrap();
        let want = case["distance"].as_f64().unwrap();
        assert!((d - want).abs() < 1e-7, "case {k}: {d} vs {want}");
        let dpnt = dp::point_hull_distance(&p, &ia, &b[0]).unwrap();
        let want = case["point_distance"].as_f64().unwrap();
        assert!((dpnt - want).abs() < 1e-7, "case {k}: {dpnt} vs {want}");
    }
}

/// Renumbers cluster ids by first appearance (smallest member row); returns the new assignment
/// and the new id of every old id.
fn canonical(assignment: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let k = assignment.iter().max().map_or(0, |m| m + 1);
    let mut new_id = vec![usize::MAX; k];
    let mut next = 0;
    for &a in assignment {
        if new_id[a] == usize::MAX {
            new_id[a] = next;
            next += 1;
        }
    }
    (assignment.iter().map(|&a| new_id[a]).collect(), new_id)
}

#[test]
fn clustering_matches_reference() {
    let f = fixture("directprobe_instances.json");
    for (k, inst) in f["instances"].as_array().unwrap().iter().enumerate() {
        let x = matrix(&inst["x"]);
        let p = stack(&[&x]);
        let y: Vec<usize> = inst["y"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let want: Vec<usize> = inst["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        // The reference numbers clusters in creation order; tunescope by smallest member row.
        let (want, new_id) = canonical(&want);
        let c = dp::probe(&p, &y, &dp::Options::default()).unwrap();
        assert_eq!(c.assignment, want, "instance {k}");
        let old_id: Vec<usize> = {
            let mut v = vec![0; new_id.len()];
            for (old, &new) in new_id.iter().enumerate() {
                v[new] = old;
            }
            v
        };

        let all: Vec<usize> = (0..c.n_clusters()).collect();
        let dists = dp::cluster_distances(&p, &c.clusters, &all).unwrap();
        let ref_d = inst["cluster_distances"].as_object().unwrap();
        assert_eq!(dists.len(), ref_d.len(), "instance {k}");
        for cd in &dists {
            let (i, j) = (old_id[cd.i], old_id[cd.j]);
            let want = ref_d[&format!("{},{}", i.min(j), i.max(j))]
                .as_f64()
                .unwrap();
            assert!(
                (cd.distance - want).abs() < 1e-7,
                "instance {k}: {cd:?} vs {want}"
            );
        }
        // The final clusters are pairwise separable.
        assert!(dp::check_clusters(&p, &c.clusters, &all)
            .unwrap()
            .is_empty());

        let xt = matrix(&inst["x_test"]);
        let test = stack(&[&xt]);
        let preds = dp::predict(&p, &c, &test).unwrap();
        for (t, (pr, row)) in preds
            .iter()
            .zip(inst["test_distances"].as_array().unwrap())
            .enumerate()
        {
            for &(cl, lab, d) in &pr.ranking {
                let want = row[old_id[cl]].as_f64().unwrap();
                assert!(
                    (d - want).abs() < 1e-7,
                    "instance {k} test {t} cluster {cl}"
                );
                assert_eq!(lab, c.clusters[cl].label);
            }
            assert!(pr.ranking.windows(2).all(|w| w[0].2 <= w[1].2));
        }
    }
}

#[test]
fn same_clusters_for_any_thread_count() {
    let f = fixture("directprobe_instances.json");
    let inst = &f["instances"][3];
    let p = stack(&[&matrix(&inst["x"])]);
    let y: Vec<usize> = inst["y"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let one = probe_on(1, &p, &y);
    assert!(one.n_clusters() > 4, "instance should be non-linear");
    assert_eq!(one, probe_on(3, &p, &y));
}

/// DirectProbe's clustering on a pool of `threads` threads.
fn probe_on(threads: usize, p: &Points, y: &[usize]) -> dp::Clustering {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(|| dp::probe(p, y, &dp::Options::default()).unwrap())
}

/// Heavily overlapping labels: hundreds of clusters, so a candidate's tests run in several
/// segments spawned beside its overlap tests; the clustering, its counters and its planes do not
/// depend on the thread count.
#[test]
fn same_clustering_for_any_thread_count_with_many_clusters() {
    use tunescope_geometry::stats::Rng;
    let (n, d, labels) = (2400, 5, 6);
    let mut rng = Rng::new(7);
    let y: Vec<usize> = (0..n).map(|i| i % labels).collect();
    let x: Vec<f64> = (0..n * d)
        .map(|k| rng.normal() + if k % d == y[k / d] % d { 0.7 } else { 0.0 })
        .collect();
    let p = Points::new(x, n, d).unwrap();
    let one = probe_on(1, &p, &y);
    assert!(one.n_clusters() > 150, "{} clusters", one.n_clusters());
    assert!(one.stats.mnp_separated > 1000, "{:?}", one.stats);
    assert_eq!(one, probe_on(2, &p, &y));
    assert_eq!(one, probe_on(4, &p, &y));
}

#[test]
fn label_metrics_follow_the_fine_tuning_code() {
    // Label 0: a right triangle at the origin; label 1: the same shifted by 5; label 2 absent.
    let p = pts(&[
        &[0.0, 0.0],
        &[1.0, 0.0],
        &[0.0, 1.0],
        &[5.0, 0.0],
        &[6.0, 0.0],
        &[5.0, 1.0],
    ]);
    let c = dp::probe(&p, &[0, 0, 0, 1, 1, 1], &dp::Options::default()).unwrap();
    assert_eq!(c.n_clusters(), 2);
    let m = dp::label_metrics(&p, &c.clusters, 3, 2).unwrap();
    assert!(m.dropped.is_empty());
    assert!((m.pair[0][1].unwrap() - 4.0).abs() < 1e-9);
    assert_eq!(m.vec.len(), 3);
    assert!((m.vec[0].2 - 4.0).abs() < 1e-9);
    assert_eq!(m.vec[1].2, 0.0); // label 2 has no cluster
    assert!((m.outside_min[0] - 4.0).abs() < 1e-9);
    let mean = (1.0 + 1.0 + 2f64.sqrt()) / 3.0;
    assert!((m.inside_mean[0] - mean).abs() < 1e-12);
    assert!((m.inside_max[1] - 2f64.sqrt()).abs() < 1e-12);
    // Size filter: clusters of ≤ 3 points are all dropped, and reported.
    let m = dp::label_metrics_with(&p, &c.clusters, 3, 3, None).unwrap();
    assert_eq!(m.dropped, vec![0, 1]);
    assert_eq!(m.outside_min, vec![0.0, 0.0, 0.0]);
}

#[test]
fn label_pair_mean_and_cluster_pair_minimum_differ_when_a_label_has_two_clusters() {
    // Label 0 at x ≈ 0 and at x ≈ 12, label 1 between them at x ≈ 5: label 0 needs two clusters.
    let p = pts(&[
        &[0.0, 0.0],
        &[1.0, 0.0],
        &[0.0, 1.0],
        &[12.0, 0.0],
        &[13.0, 0.0],
        &[12.0, 1.0],
        &[5.0, 0.0],
        &[6.0, 0.0],
        &[5.0, 1.0],
    ]);
    let c = dp::probe(&p, &[0, 0, 0, 0, 0, 0, 1, 1, 1], &dp::Options::default()).unwrap();
    assert_eq!(c.n_clusters(), 3);
    let m = dp::label_metrics(&p, &c.clusters, 2, 2).unwrap();
    // Hull distances 4 (x 1 → 5) and 6 (x 6 → 12): the label pair's mean is 5, its minimum 4.
    assert!((m.pair[0][1].unwrap() - 5.0).abs() < 1e-6, "{:?}", m.pair);
    assert!(
        (m.pair_min[0][1].unwrap() - 4.0).abs() < 1e-6,
        "{:?}",
        m.pair_min
    );
    assert_eq!(m.pair_min[1][0], m.pair_min[0][1]);
    assert_eq!(m.pair_min[0][0], None);
}

/// Seeded standard normal draws (xorshift64 and Box–Muller).
fn gaussian(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut uniform = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 11) as f64 / (1u64 << 53) as f64
    };
    move || {
        let (u, v) = (uniform().max(1e-300), uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

/// A seeded Gaussian mixture: `labels` labels with `subs` sub-clusters each, `n` points in `d`
/// dimensions of rank `rank` (a random linear map), sub-cluster centres `spread` apart; with
/// `confuse`, every odd label shares a sub-cluster centre with label 0 (overlapping hulls).
fn mixture(
    seed: u64,
    n: usize,
    d: usize,
    rank: usize,
    labels: usize,
    spread: f64,
    confuse: bool,
) -> (Points, Vec<usize>) {
    let mut normal = gaussian(seed);
    let map: Vec<f64> = (0..rank * d).map(|_| normal()).collect();
    let centres: Vec<Vec<f64>> = (0..labels * 2)
        .map(|_| (0..rank).map(|_| spread * normal()).collect())
        .collect();
    let mut data = Vec::with_capacity(n * d);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let l = i % labels;
        let sub = (i / labels) % 2;
        let c = if confuse && l % 2 == 1 && sub == 1 {
            &centres[0]
        } else {
            &centres[2 * l + sub]
        };
        let z: Vec<f64> = c.iter().map(|m| m + normal()).collect();
        for k in 0..d {
            data.push((0..rank).map(|r| z[r] * map[r * d + k]).sum());
        }
        y.push(l);
    }
    (Points::new(data, n, d).unwrap(), y)
}

#[test]
fn certificates_give_the_exhaustive_clusters() {
    // Linear (well-separated labels), non-linear (shared sub-clusters), low-rank and wide spaces.
    let cases = [
        (1, 300, 12, 12, 4, 8.0, false),
        (2, 300, 12, 12, 4, 8.0, true),
        (3, 400, 24, 6, 5, 4.0, true),
        (4, 240, 16, 16, 3, 1.0, false),
        // Wide enough for the lower-bound screen on leading coordinates.
        (5, 360, 100, 40, 4, 4.0, true),
    ];
    for (seed, n, d, rank, labels, spread, confuse) in cases {
        let (p, y) = mixture(seed, n, d, rank, labels, spread, confuse);
        let fast = dp::probe(&p, &y, &dp::Options::default()).unwrap();
        let full = dp::probe(
            &p,
            &y,
            &dp::Options {
                exhaustive: true,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(fast.clusters, full.clusters, "case {seed}");
        assert_eq!(fast.assignment, full.assignment, "case {seed}");
        assert_eq!(fast.stats.merges, full.stats.merges, "case {seed}");
        assert_eq!(fast.stats.rejected, full.stats.rejected, "case {seed}");
        if seed == 1 {
            // Linear: every label settled without a single hull test.
            assert_eq!(fast.n_clusters(), labels, "case {seed}");
            assert_eq!(fast.stats.settled_labels, labels);
            assert_eq!(fast.stats.mnp_separated + fast.stats.lp_calls, 0);
        } else if confuse {
            assert!(
                fast.n_clusters() > labels,
                "case {seed} should be non-linear"
            );
            assert!(fast.stats.zone_skipped > 0, "case {seed}");
        }
        // Every distance between clusters of different labels is positive (they were certified
        // disjoint when formed), and at least the margin of the hyperplane the clustering holds
        // for the pair, which separates every point of the two clusters.
        let all: Vec<usize> = (0..fast.n_clusters()).collect();
        let dists = dp::clustering_distances(&p, &fast, &all).unwrap();
        for cd in &dists {
            assert!(cd.distance > 0.0, "case {seed}: {cd:?}");
        }
        if confuse {
            assert!(!fast.separations.is_empty(), "case {seed}");
        }
        for s in &fast.separations {
            assert_ne!(fast.clusters[s.i].label, fast.clusters[s.j].label);
            assert!(s.above > s.below, "case {seed}");
            let dot = |r: usize| -> f64 {
                p.row(r)
                    .iter()
                    .zip(s.normal.iter())
                    .map(|(x, w)| x * w)
                    .sum()
            };
            // The offsets hold up to rounding (another summation order here).
            let slack = 1e-12 * (s.above.abs() + s.below.abs() + 1.0);
            for &r in &fast.clusters[s.i].members {
                assert!(
                    dot(r) >= s.above - slack,
                    "case {seed}: row {r} below the plane"
                );
            }
            for &r in &fast.clusters[s.j].members {
                assert!(
                    dot(r) <= s.below + slack,
                    "case {seed}: row {r} above the plane"
                );
            }
            let cd = dists
                .iter()
                .find(|c| (c.i, c.j) == (s.i.min(s.j), s.i.max(s.j)))
                .unwrap();
            assert!(
                cd.distance >= (s.above - s.below) * (1.0 - 1e-9),
                "case {seed}"
            );
        }
    }
}

#[test]
fn near_touching_low_rank_hulls_match_reference() {
    // 520 points of rank 6 in 16 dimensions, hull gaps 1e-2 .. 1e-6: the working-set path, and
    // gaps far below the points' spread. Every distance must be positive and match the exact QP.
    let f = fixture("directprobe_lowrank.json");
    for (k, case) in f["cases"].as_array().unwrap().iter().enumerate() {
        let (p, ia, ib, y, want) = two_sets(case);
        assert!(!case["intersects"].as_bool().unwrap());
        let got = dp::hull_distance(&p, &ia, &ib).unwrap();
        assert!(
            got > 0.0 && ((got - want) / want).abs() < 1e-6,
            "case {k}: {got:e} vs {want:e}"
        );
        assert!(!dp::hulls_intersect(&p, &ia, &ib).unwrap().intersects());
        // As two labels: linear, and the reported cluster distance is the exact one.
        let c = dp::probe(&p, &y, &dp::Options::default()).unwrap();
        assert_eq!(c.n_clusters(), 2, "case {k}");
        let cd = dp::cluster_distances(&p, &c.clusters, &[0, 1]).unwrap();
        assert!(
            ((cd[0].distance - want) / want).abs() < 1e-6,
            "case {k}: {:e} vs {want:e}",
            cd[0].distance
        );
    }
}

/// Two hulls in a slab of width `delta` (1e-7 of their radius): each side has a 40-point face on
/// its slab boundary, in a random 40-dimensional subspace, whose centroid lies on the common
/// normal through the origin, so the exact distance is `delta`, attained between two face
/// centroids (interior points of the faces, not vertices). The Gram-matrix minor cycle alone
/// stalls here (it squares the corral's condition number).
#[test]
fn nearly_touching_faces_get_their_exact_distance() {
    let (d, k, extra, delta) = (384, 40, 150, 1e-6);
    let mut normal = gaussian(7);
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut labels = Vec::new();
    for (side, x0) in [(0usize, delta), (1, 0.0)] {
        let map: Vec<f64> = (0..k * (d - 1)).map(|_| normal() / 8.0).collect();
        let mut face: Vec<Vec<f64>> = (0..k)
            .map(|_| {
                let z: Vec<f64> = (0..k).map(|_| normal()).collect();
                (0..d - 1)
                    .map(|c| (0..k).map(|r| z[r] * map[r * (d - 1) + c]).sum())
                    .collect()
            })
            .collect();
        // Centre the face so that its centroid is (x0, 0, …, 0).
        for c in 0..d - 1 {
            let m = face.iter().map(|f| f[c]).sum::<f64>() / k as f64;
            face.iter_mut().for_each(|f| f[c] -= m);
        }
        for f in face {
            rows.push(std::iter::once(x0).chain(f).collect());
            labels.push(side);
        }
        let sign = if side == 0 { 1.0 } else { -1.0 };
        for _ in 0..extra {
            let depth = 0.5 + normal().abs() * 4.0;
            rows.push(
                std::iter::once(x0 + sign * depth)
                    .chain((0..d - 1).map(|_| normal()))
                    .collect(),
            );
            labels.push(side);
        }
    }
    let refs: Vec<&[f64]> = rows.iter().map(|r| r.as_slice()).collect();
    let p = pts(&refs);
    let a: Vec<usize> = (0..k + extra).collect();
    let b: Vec<usize> = (k + extra..2 * (k + extra)).collect();
    let got = dp::hull_distance(&p, &a, &b).unwrap();
    assert!(
        (got - delta).abs() <= 1e-4 * delta,
        "hull distance {got:e}, exact {delta:e}"
    );
    let c = dp::probe(&p, &labels, &dp::Options::default()).unwrap();
    assert_eq!(c.clusters.len(), 2, "two disjoint labels are two clusters");
}

/// Hulls 3e-7 of their radius apart whose nearest faces together hold rank + 1 points, built
/// with a known distance (`directprobe_stall.json`: 277 points of rank 16 in 32 dimensions, and
/// 561 of rank 40 in 48, the working-set path). The nearest-point iteration on vertex pairs
/// stalls there with bounds far apart: the distance used to come out as 0 without a certified
/// margin, and more than twice the exact one with the margin. Both must be within 1 % of the
/// reference's certified distance.
#[test]
fn stalled_nearly_touching_hulls_get_their_distance_within_one_percent() {
    let f = fixture("directprobe_stall.json");
    for (k, case) in f["cases"].as_array().unwrap().iter().enumerate() {
        let (p, ia, ib, y, want) = two_sets(case);
        let close = |got: f64| got > 0.0 && (got - want).abs() <= 1e-2 * want;
        let got = dp::hull_distance(&p, &ia, &ib).unwrap();
        assert!(
            close(got),
            "case {k}: hull distance {got:e}, reference {want:e}"
        );
        // As two final clusters with the reference's separating hyperplane as the certified
        // margin, as a probe run hands it to the cluster distances.
        let mut c = dp::Clustering::from_assignment(&y, &y).unwrap();
        let normal = vector(&case["normal"]);
        let along = |i: &usize| dot(&normal, p.row(*i));
        let above = ia.iter().map(along).fold(f64::INFINITY, f64::min);
        let below = ib.iter().map(along).fold(f64::NEG_INFINITY, f64::max);
        assert!(
            above - below > 0.99 * want,
            "case {k}: the reference's margin"
        );
        c.separations.push(dp::Separation {
            i: 0,
            j: 1,
            normal: normal.into(),
            above,
            below,
        });
        let cd = dp::clustering_distances(&p, &c, &[0, 1]).unwrap();
        assert!(
            close(cd[0].distance),
            "case {k}: cluster distance {:e}, reference {want:e}",
            cd[0].distance
        );
    }
}

/// The stalled instances padded with interior points (midpoints of two of their points) to
/// more than 512 points per pair, so the nearest-point runs and the polish go through working
/// sets: the hulls, and so the distance, are the same. From the clustering's certified margin
/// (a few 1e-7 of the radius), the distance comes from the polish first: in the first case it
/// is accepted, in the second its bounds stay apart and the pair iteration answers.
#[test]
fn padded_stalled_hulls_get_their_distance_through_working_sets() {
    let f = fixture("directprobe_stall.json");
    for (k, case) in f["cases"].as_array().unwrap().iter().enumerate() {
        let (a, b) = (matrix(&case["a"]), matrix(&case["b"]));
        let pad = |m: &Vec<Vec<f64>>, seed: usize| -> Vec<Vec<f64>> {
            let n = m.len();
            let mut out = m.clone();
            out.extend((0..300).map(|t| {
                let (i, j) = ((t * 7 + seed) % n, (t * 13 + 5 * seed + 1) % n);
                m[i].iter().zip(&m[j]).map(|(x, y)| 0.5 * (x + y)).collect()
            }));
            out
        };
        let (a, b) = (pad(&a, 1), pad(&b, 2));
        let p = stack(&[&a, &b]);
        let ia: Vec<usize> = (0..a.len()).collect();
        let ib: Vec<usize> = (a.len()..a.len() + b.len()).collect();
        let want = case["distance"].as_f64().unwrap();
        let got = dp::hull_distance(&p, &ia, &ib).unwrap();
        assert!(
            got > 0.0 && (got - want).abs() <= 1e-2 * want,
            "case {k}: hull distance {got:e}, reference {want:e}"
        );
        let y: Vec<usize> = ia.iter().map(|_| 0).chain(ib.iter().map(|_| 1)).collect();
        let c = dp::probe(&p, &y, &dp::Options::default()).unwrap();
        assert_eq!(c.n_clusters(), 2, "case {k}: the two sets are disjoint");
        // From the clustering's certified margin (nearly touching: the polish first).
        let got = dp::clustering_distances(&p, &c, &[0, 1]).unwrap()[0].distance;
        assert!(
            got > 0.0 && (got - want).abs() <= 1e-2 * want,
            "case {k}: clustering distance {got:e}, reference {want:e}"
        );
    }
}

fn dot(x: &[f64], y: &[f64]) -> f64 {
    x.iter().zip(y).map(|(a, b)| a * b).sum()
}

/// A LayerNorm-like space: points on the affine hyperplane `u·x = 1` of R^64 (u a unit
/// normal), two labels whose hulls are `delta` apart inside it, stored as `f32` (so the points
/// leave the hyperplane by rounding only). Returns the points, labels, `u` and `delta`.
fn layer_norm_space(seed: u64, delta: f64) -> (Points, Vec<usize>, Vec<f64>) {
    let (d, per) = (64, 120);
    let mut normal = gaussian(seed);
    let mut u: Vec<f64> = (0..d).map(|_| normal()).collect();
    let nu = u.iter().map(|v| v * v).sum::<f64>().sqrt();
    u.iter_mut().for_each(|v| *v /= nu);
    // An orthonormal basis of u⊥ by Gram–Schmidt; e1 is the direction separating the labels.
    let mut basis: Vec<Vec<f64>> = Vec::new();
    while basis.len() < d - 1 {
        let mut v: Vec<f64> = (0..d).map(|_| normal()).collect();
        for q in std::iter::once(&u).chain(&basis) {
            let t: f64 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= t * b);
        }
        let nv = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        v.iter_mut().for_each(|x| *x /= nv);
        basis.push(v);
    }
    let mut data = Vec::new();
    let mut labels = Vec::new();
    let shared: Vec<f64> = (1..d - 1).map(|_| normal()).collect();
    for (side, sign) in [(0usize, 1.0), (1, -1.0)] {
        for i in 0..per {
            // In-plane coordinates: the first is the label's side of the gap, the rest spread;
            // point 0 of each side lies on the gap's boundary at the same spread coordinates,
            // so the hull distance is exactly `delta`.
            let (first, rest): (f64, Vec<f64>) = if i == 0 {
                (0.0, shared.clone())
            } else {
                (0.1 + normal().abs(), (1..d - 1).map(|_| normal()).collect())
            };
            let mut x: Vec<f64> = u.clone();
            let coords = std::iter::once(sign * (first + delta / 2.0)).chain(rest);
            for (c, q) in coords.zip(&basis) {
                x.iter_mut().zip(q).for_each(|(a, b)| *a += c * b);
            }
            data.extend(x.iter().map(|&v| f64::from(v as f32)));
            labels.push(side);
        }
    }
    (Points::new(data, 2 * per, d).unwrap(), labels, u)
}

#[test]
fn layer_norm_rounding_direction_is_dropped_and_distances_kept() {
    let delta = 1e-3;
    let (p, y, u) = layer_norm_space(11, delta);
    let span = dp::Span::fit(&p).unwrap();
    assert_eq!(
        span.dropped(),
        1,
        "the hyperplane's normal is rounding only"
    );
    let q = span.project(&p).unwrap();
    assert_eq!(q.dim(), p.dim() - 1);
    // Projection moves each point by its rounding only: pairwise distances are kept.
    let dist = |x: &Points, i: usize, j: usize| -> f64 {
        let sq = x.row(i).iter().zip(x.row(j)).map(|(a, b)| (a - b).powi(2));
        sq.sum::<f64>().sqrt()
    };
    for (i, j) in [(0, 1), (3, 200), (119, 120), (7, 239)] {
        let (d0, d1) = (dist(&p, i, j), dist(&q, i, j));
        assert!((d0 - d1).abs() < 1e-5, "{i},{j}: {d0} vs {d1}");
    }
    // DirectProbe in the span: two clusters, their distance the gap (to f32 rounding).
    let c = dp::probe(&q, &y, &dp::Options::default()).unwrap();
    assert_eq!(c.n_clusters(), 2);
    let cd = dp::cluster_distances(&q, &c.clusters, &[0, 1]).unwrap();
    assert!(
        (cd[0].distance - delta).abs() < 1e-2 * delta,
        "{:e} vs {delta:e}",
        cd[0].distance
    );
    // A test point 0.5 off the hyperplane keeps that offset in its distances.
    let mut t: Vec<f64> = p.row(0).to_vec();
    t.iter_mut().zip(&u).for_each(|(a, b)| *a += 0.5 * b);
    let test = span.project(&Points::new(t, 1, p.dim()).unwrap()).unwrap();
    assert!(
        (test.off_span(0) - 0.5).abs() < 1e-5,
        "{}",
        test.off_span(0)
    );
    let pred = dp::predict(&q, &c, &test).unwrap();
    assert_eq!(pred[0].label(), y[0]);
    assert!((pred[0].ranking[0].2 - 0.5).abs() < 1e-5);
}

#[test]
fn batched_prediction_equals_the_per_point_distances_bit_for_bit() {
    // Rank 6 in 24 dimensions; label 0 split into two clusters of 550 rows, labels 1 and 2 one
    // cluster of 1,100 each: every cluster takes the working-set iteration that prediction
    // runs in lockstep blocks, except a small one of 40 rows, run point by point.
    let (p, y) = mixture(21, 3340, 24, 6, 3, 2.0, false);
    let assignment: Vec<usize> = (0..p.len())
        .map(|i| match (i >= 3300, y[i]) {
            (true, _) => 4,
            (false, 0) => (i / 3) % 2,
            (false, l) => l + 1,
        })
        .collect();
    let c = dp::Clustering::from_assignment(&assignment, &y).unwrap();
    assert_eq!(c.n_clusters(), 5);
    assert!(c.clusters[..4].iter().all(|k| k.members.len() >= 550));
    // 300 test points (several blocks and parallel tasks): midpoints of two rows of a cluster
    // (inside its hull, distance 0), rows moved within the span, and rows moved off it.
    let mut normal = gaussian(5);
    let d = p.dim();
    let mut data = Vec::new();
    for t in 0..300 {
        let (a, b) = (p.row((t * 37) % 3340), p.row((t * 37 + 6) % 3340));
        let off: Vec<f64> = (0..d).map(|_| normal()).collect();
        for k in 0..d {
            data.push(match t % 3 {
                0 => 0.5 * (a[k] + b[k]),
                1 => a[k] + 0.7 * (a[k] - b[k]),
                _ => a[k] + 0.3 * off[k],
            });
        }
    }
    let test = Points::new(data, 300, d).unwrap();
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| dp::predict(&p, &c, &test).unwrap())
    };
    let preds = run(2);
    assert_eq!(preds, run(1));
    let (mut zero, mut positive) = (0, 0);
    for (t, pr) in preds.iter().enumerate() {
        assert_eq!(pr.ranking.len(), 5);
        for &(k, _, dist) in &pr.ranking {
            let want = dp::point_hull_distance(&p, &c.clusters[k].members, test.row(t)).unwrap();
            assert_eq!(dist.to_bits(), want.to_bits(), "test {t} cluster {k}");
            if dist == 0.0 {
                zero += 1;
            } else {
                positive += 1;
            }
        }
    }
    assert!(
        zero >= 50 && positive >= 1000,
        "{zero} zero, {positive} positive"
    );
}

#[test]
fn full_rank_points_are_used_as_given() {
    let (p, _) = mixture(5, 200, 24, 24, 3, 2.0, false);
    let span = dp::Span::fit(&p).unwrap();
    assert_eq!(span.dropped(), 0);
    let q = span.project(&p).unwrap();
    assert_eq!(q.dim(), p.dim());
    assert!((0..p.len()).all(|i| q.row(i) == p.row(i) && q.off_span(i) == 0.0));
    // f64 coordinates: the clustering's precision floor is f64 rounding.
    assert!(q.precision() > 0.0 && q.precision() < 1e-12);
}

#[test]
fn hulls_closer_than_the_inputs_precision_touch() {
    // The same space with the gap far below f32 rounding: the labels' hulls touch at the
    // inputs' precision, so they cannot be one cluster each, and every pair of final clusters
    // of different labels is farther apart than that precision (every merge was certified so
    // against every other cluster; two points that never merged are simply two points).
    let (p, y, _) = layer_norm_space(11, 1e-8);
    let q = dp::Span::fit(&p).unwrap().project(&p).unwrap();
    assert!(q.precision() > 1e-7, "{}", q.precision());
    let c = dp::probe(&q, &y, &dp::Options::default()).unwrap();
    assert!(c.n_clusters() > 2, "{} clusters", c.n_clusters());
    let all: Vec<usize> = (0..c.n_clusters()).collect();
    for cd in dp::cluster_distances(&q, &c.clusters, &all).unwrap() {
        let merged = c.clusters[cd.i].members.len() > 1 || c.clusters[cd.j].members.len() > 1;
        let floor = if merged { q.precision() } else { 0.0 };
        assert!(cd.distance > floor, "{cd:?}");
    }
}

#[test]
fn warm_started_distances_across_snapshots_match_cold_ones() {
    use tunescope_geometry::stats::Rng;
    // Four labelled Gaussian blobs in 20-D, then three "checkpoints": the same units moved a
    // little each time, measured with the first space's clusters.
    let (n, d) = (800, 20);
    let mut rng = Rng::new(11);
    let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
    let mut x: Vec<f64> = (0..n * d)
        .map(|k| rng.normal() + if k % d == labels[k / d] { 4.0 } else { 0.0 })
        .collect();
    let c = dp::probe(
        &Points::new(x.clone(), n, d).unwrap(),
        &labels,
        &dp::Options::default(),
    )
    .unwrap();
    let mut seeds = dp::DistanceSeeds::default();
    for snapshot in 0..4 {
        if snapshot > 0 {
            x.iter_mut()
                .enumerate()
                .for_each(|(k, v)| *v = 1.02 * *v + 0.05 * rng.normal() + 0.01 * (k % 3) as f64);
        }
        let p = Points::new(x.clone(), n, d).unwrap();
        let cold = dp::label_metrics(&p, &c.clusters, 4, 0).unwrap();
        let warm = dp::label_metrics_seeded(&p, &c.clusters, 4, 0, &mut seeds).unwrap();
        for (a, b) in cold.vec.iter().zip(&warm.vec) {
            assert_eq!((a.0, a.1), (b.0, b.1));
            assert!(
                (a.2 - b.2).abs() <= 1e-8 * a.2.max(1e-12),
                "snapshot {snapshot}, labels {} {}: cold {} warm {}",
                a.0,
                a.1,
                a.2,
                b.2
            );
        }
        assert_eq!(cold.inside_mean, warm.inside_mean);
    }
}
