//! End-to-end tests of the compare stage on synthetic run directories: four labels (one too small
//! for the ≤ 5-point filter), two layers, clusters that move apart after "fine-tuning" — a little
//! at layer 0, a lot at layer 1.

use std::path::{Path, PathBuf};
use tunescope_compare::analysis::UndefinedPairs;
use tunescope_compare::{compare, compare_and_write, dp::DirectProbeSettings, CompareOptions};
use tunescope_data::npy;
use tunescope_data::rundir::RunDir;
use tunescope_geometry::stats::Rng;
use tunescope_model::probe::ProbeConfig;

const LABELS: [&str; 4] = ["A", "B", "C", "D"];
const CENTRES: [[f32; 3]; 4] = [
    [0.0, 0.0, 0.0],
    [6.0, 0.0, 0.0],
    [0.0, 6.0, 0.0],
    [6.0, 6.0, 0.0],
];
/// Points per label in every split: D has 3, so its cluster is dropped by the ≤ 5 filter.
const COUNTS: [usize; 4] = [10, 10, 10, 3];

struct TempDir(PathBuf);
impl TempDir {
    fn new(name: &str) -> Self {
        let p =
            std::env::temp_dir().join(format!("tunescope-compare-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Rows of one split: every label's points around its centre scaled by `spread`, with fixed
/// jitter (the same for both versions, so only the centres move).
fn split_rows(seed: u64, spread: f32) -> (Vec<f32>, Vec<&'static str>) {
    let mut rng = Rng::new(seed);
    let (mut data, mut labels) = (Vec::new(), Vec::new());
    for (l, c) in CENTRES.iter().enumerate() {
        for _ in 0..COUNTS[l] {
            for &x in c {
                data.push(x * spread + (rng.next_f64() as f32 - 0.5));
            }
            labels.push(LABELS[l]);
        }
    }
    (data, labels)
}

/// `spread[version][layer]` scales the label centres.
fn write_run(dir: &Path, spread: &[[f32; 2]]) {
    for (v, version) in ["pretrained", "finetuned"]
        .iter()
        .enumerate()
        .take(spread.len())
    {
        for (s, split) in ["train", "dev", "test"].iter().enumerate() {
            let d = dir.join("reps").join(version).join(split);
            std::fs::create_dir_all(&d).unwrap();
            for (layer, &scale) in spread[v].iter().enumerate() {
                let (data, labels) = split_rows(10 + s as u64, scale);
                npy::write_f32(
                    d.join(format!("layer-{layer}.npy")),
                    &[labels.len(), 3],
                    &data,
                )
                .unwrap();
                std::fs::write(d.join("labels.txt"), labels.join("\n") + "\n").unwrap();
            }
        }
    }
}

fn quick_probe() -> ProbeConfig {
    ProbeConfig {
        shapes: vec![vec![]],
        seeds: vec![0, 1],
        max_epochs: 20,
        batch_size: 8,
        lr: 0.05,
        ..ProbeConfig::default()
    }
}

fn label(r: &tunescope_compare::CompareResults, name: &str) -> usize {
    r.labels.iter().position(|l| l == name).unwrap()
}

#[test]
fn before_after_quantities_and_reuse() {
    tch::set_num_threads(1);
    let tmp = TempDir::new("full");
    write_run(&tmp.0, &[[1.0, 1.0], [1.2, 3.0]]);
    let opts = CompareOptions {
        probe: Some(quick_probe()),
        ..CompareOptions::default()
    };
    let (r, work) = compare_and_write(&RunDir::new(&tmp.0), &opts).unwrap();
    assert_eq!(r.layers, vec![0, 1]);
    assert_eq!(r.labels, LABELS);
    assert_eq!(
        work.directprobe_computed, 8,
        "2 versions × 2 splits × 2 layers"
    );
    assert_eq!(work.probes_trained, 4);

    // Table A: linear everywhere (one cluster per label), D's 3-point cluster dropped and said so.
    assert_eq!(r.table_a.len(), 4);
    for row in &r.table_a {
        assert_eq!(
            (row.n_clusters, row.n_labels, row.linear),
            (4, 4, true),
            "{row:?}"
        );
        assert_eq!((row.min_cluster_size, row.clusters_dropped), (5, 1));
        assert!(row.acc_mean.unwrap() > 80.0, "separable clusters: {row:?}");
        // Only a linear probe was trained: it is the reported probe and its own columns.
        assert_eq!(row.best_hidden.as_deref(), Some(&[][..]));
        assert_eq!(row.linear_acc_mean, row.acc_mean);
        assert_eq!(row.probe_selected_on.as_deref(), Some("dev"));
        assert!(row.best_l2.is_some() && row.linear_l2 == row.best_l2);
        // One cluster per label: the label-pair mean and the cluster-pair minimum agree.
        assert!(row.min_distance.unwrap() > 0.0);
        assert_eq!(row.min_cluster_pair_distance, row.min_distance);
        // D's pairs are undefined on both splits: by default written as 0 (the authors' code),
        // so all 6 pairs enter the Pearson correlation and the 3 undefined ones are counted.
        let s = &row.train_test_similarity;
        assert!(s.pearson.is_some(), "{s:?}");
        assert_eq!(s.undefined_pairs, UndefinedPairs::Zero);
        assert_eq!((s.pairs_used, s.pairs_undefined), (6, 3));
        assert!(s
            .note
            .as_deref()
            .unwrap()
            .contains("3 label pair(s) undefined on one side counted as distance 0"));
    }

    // With `drop`, the undefined pairs are left out of the correlation.
    let drop_opts = CompareOptions {
        undefined_pairs: UndefinedPairs::Drop,
        ..opts.clone()
    };
    let (dropped, _) = compare(&RunDir::new(&tmp.0), &drop_opts).unwrap();
    for row in &dropped.table_a {
        let s = &row.train_test_similarity;
        assert_eq!((s.pairs_used, s.pairs_undefined), (3, 3), "{s:?}");
        assert_eq!(s.undefined_pairs, UndefinedPairs::Drop);
    }
    let csv = std::fs::read_to_string(tmp.0.join("compare/table_a.csv")).unwrap();
    assert!(csv
        .lines()
        .next()
        .unwrap()
        .contains(",min_cluster_pair_distance,"));
    assert!(csv.lines().nth(1).unwrap().contains(",zero,3,"), "{csv}");

    // Label distances: every defined label's minimum distance grows; D is undefined, not 0.
    let d = label(&r, "D");
    for l in &r.label_distances {
        let c = l.change.as_ref().unwrap();
        assert_eq!(
            (c.n_grew, c.n_shrank, c.n_undefined),
            (3, 0, 1),
            "layer {}",
            l.layer
        );
        assert!(c.mean_change.unwrap() > 0.0);
        assert_eq!(l.labels[d].outside_min_before, None);
        assert_eq!(l.clusters_dropped_before, 1);
        assert!(l.labels[label(&r, "A")].inside_mean_before.unwrap() > 0.0);
    }
    let grow = |layer: usize| {
        r.label_distances[layer]
            .change
            .as_ref()
            .unwrap()
            .mean_change
            .unwrap()
    };
    assert!(grow(1) > grow(0));

    // Movement: centroid of A sits at the origin (never moves); B moves by 6·(s − 1).
    let (a, b) = (label(&r, "A"), label(&r, "B"));
    let m0 = &r.layer_movement[0];
    let m1 = &r.layer_movement[1];
    assert!(m0.displacement[a].unwrap() < 1e-6);
    assert!((m0.displacement[b].unwrap() - 1.2).abs() < 1e-4);
    assert!((m1.displacement[b].unwrap() - 12.0).abs() < 1e-4);
    assert!(m1.mean_displacement > m0.mean_displacement);
    assert_eq!(m1.difference_pca.as_ref().unwrap().labels, vec![0, 1, 2, 3]);

    // Spatial similarity across versions and similarity indices: layer 0 is closer to the
    // pre-trained version than layer 1.
    let (s0, s1) = (&r.similarity[0], &r.similarity[1]);
    assert!(s0.spatial.pearson.unwrap() > 0.99);
    assert!(s0.indices.cka.unwrap() > s1.indices.cka.unwrap());
    assert!(s0.indices.procrustes.unwrap() < s1.indices.procrustes.unwrap());
    assert!(s0.indices.rsa.unwrap() > 0.9);
    let cka = r.cka_layers.as_ref().unwrap();
    assert_eq!((cka.rows.len(), cka.cols.len()), (2, 2));
    assert!((cka.values[0][0] - s0.indices.cka.unwrap()).abs() < 1e-12);
    assert_eq!(r.findings.len(), 4);
    assert_eq!(r.findings[0].holds, Some(true), "{:?}", r.findings[0]);
    assert_eq!(r.findings[1].holds, Some(true), "{:?}", r.findings[1]);

    // Outputs exist and read back.
    let out = tmp.0.join("compare");
    for f in tunescope_compare::results::OUTPUT_FILES {
        assert!(out.join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(out.join("table_a.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "header + 2 layers × 2 versions");
    assert_eq!(tunescope_compare::CompareResults::read(&out).unwrap(), r);
    let table = tunescope_compare::terminal_table(&r);
    assert!(table.contains("4 → 4"), "{table}");

    // A second run reuses every artifact and recomputes nothing.
    let clusters = tmp
        .0
        .join("directprobe/finetuned/train/layer-1/clusters.txt");
    let before = std::fs::metadata(&clusters).unwrap().modified().unwrap();
    let (again, work) = compare_and_write(&RunDir::new(&tmp.0), &opts).unwrap();
    assert_eq!(
        work.directprobe_computed + work.probes_trained + work.directprobe_remeasured,
        0
    );
    assert_eq!((work.directprobe_reused, work.probes_reused), (8, 4));
    assert_eq!(
        std::fs::metadata(&clusters).unwrap().modified().unwrap(),
        before
    );
    assert_eq!(again, r);

    // The report sections carry the same numbers.
    let (rows, run) = tunescope_compare::report_sections(&r, "POS", "synthetic");
    assert_eq!(rows.len(), 4);
    let movement = run.movement.unwrap();
    assert!((movement.displacement[b][1] - 12.0).abs() < 1e-4);
    assert_eq!(run.distances.unwrap().layer, 1);
}

#[test]
fn not_linear_test_split_gives_no_similarity_with_the_reason() {
    let tmp = TempDir::new("nonlinear");
    write_run(&tmp.0, &[[1.0, 1.0]]);
    // Put one A point into the middle of B's cluster in the pre-trained test split, layer 0.
    let path = tmp.0.join("reps/pretrained/test/layer-0.npy");
    let mut a = npy::read_f32(&path).unwrap();
    a.data[..3].copy_from_slice(&[6.0, 0.05, 0.0]);
    npy::write_f32(&path, &a.shape, &a.data).unwrap();
    let (r, _) = compare(&RunDir::new(&tmp.0), &CompareOptions::default()).unwrap();
    assert!(!r.has_finetuned);
    assert!(r.layer_movement.is_empty() && r.cka_layers.is_none());
    assert!(r.notes[0].contains("no reps/finetuned/"));
    let row = &r.table_a[0];
    assert_eq!(row.train_test_similarity.pearson, None);
    assert!(row
        .train_test_similarity
        .note
        .as_deref()
        .unwrap()
        .contains("not linear on test"));
    assert!(row
        .probe_note
        .as_deref()
        .unwrap()
        .contains("probe training is off"));
    assert!(r.table_a[1].train_test_similarity.pearson.is_some());
    assert!(r.findings.iter().all(|f| f.holds.is_none()));
}

#[test]
fn unit_cap_is_recorded_and_a_changed_cap_recomputes() {
    let tmp = TempDir::new("cap");
    write_run(&tmp.0, &[[1.0, 1.0]]);
    let mut opts = CompareOptions {
        layers: Some(vec![1]),
        directprobe: DirectProbeSettings {
            min_cluster_size: 5,
            max_units: Some(20),
            seed: 7,
        },
        ..CompareOptions::default()
    };
    let (r, work) = compare(&RunDir::new(&tmp.0), &opts).unwrap();
    assert_eq!(r.layers, vec![1]);
    assert_eq!(work.directprobe_computed, 2);
    assert_eq!(
        (r.table_a[0].train_rows_used, r.table_a[0].train_rows_total),
        (20, 33)
    );
    let rows = std::fs::read_to_string(tmp.0.join("directprobe/pretrained/train/layer-1/rows.txt"))
        .unwrap();
    assert_eq!(rows.lines().count(), 20);
    let (_, work) = compare(&RunDir::new(&tmp.0), &opts).unwrap();
    assert_eq!((work.directprobe_computed, work.directprobe_reused), (0, 2));
    opts.directprobe.max_units = Some(25);
    let (r, work) = compare(&RunDir::new(&tmp.0), &opts).unwrap();
    assert_eq!(work.directprobe_computed, 2, "stale results are not reused");
    assert_eq!(r.table_a[0].train_rows_used, 25);
}

#[test]
fn identical_vectors_with_different_labels_are_left_out_and_counted() {
    let tmp = TempDir::new("conflict");
    write_run(&tmp.0, &[[1.0, 1.0]]);
    let path = tmp.0.join("reps/pretrained/train/layer-0.npy");
    let mut a = npy::read_f32(&path).unwrap();
    // Row 10 (a B point) becomes a copy of row 0 (an A point).
    let row0: Vec<f32> = a.data[..3].to_vec();
    a.data[30..33].copy_from_slice(&row0);
    npy::write_f32(&path, &a.shape, &a.data).unwrap();
    let (r, _) = compare(&RunDir::new(&tmp.0), &CompareOptions::default()).unwrap();
    let row = &r.table_a[0];
    assert_eq!(row.conflict_rows_dropped, 2);
    assert_eq!(row.train_rows_used, 31);
    assert!(row.linear);
}

#[test]
fn bad_inputs_name_the_file() {
    let tmp = TempDir::new("bad");
    let e = compare(&RunDir::new(&tmp.0), &CompareOptions::default()).unwrap_err();
    assert!(
        format!("{e:#}").contains("no pre-trained representations"),
        "{e:#}"
    );

    write_run(&tmp.0, &[[1.0, 1.0], [1.0, 1.0]]);
    let labels = tmp.0.join("reps/finetuned/dev/labels.txt");
    std::fs::write(&labels, "A\n".repeat(33)).unwrap();
    let e = format!(
        "{:#}",
        compare(&RunDir::new(&tmp.0), &CompareOptions::default()).unwrap_err()
    );
    assert!(
        e.contains("reps/finetuned/dev/labels.txt") && e.contains("same units"),
        "{e}"
    );

    std::fs::remove_dir_all(tmp.0.join("reps/finetuned")).unwrap();
    std::fs::write(tmp.0.join("reps/pretrained/test/labels.txt"), "A\nB\n").unwrap();
    let e = format!(
        "{:#}",
        compare(&RunDir::new(&tmp.0), &CompareOptions::default()).unwrap_err()
    );
    assert!(
        e.contains("reps/pretrained/test/layer-0.npy") && e.contains("33 vectors"),
        "{e}"
    );

    let opts = CompareOptions {
        layers: Some(vec![5]),
        ..CompareOptions::default()
    };
    let e = format!("{:#}", compare(&RunDir::new(&tmp.0), &opts).unwrap_err());
    assert!(
        e.contains("layer 5 requested") && e.contains("layer-5.npy"),
        "{e}"
    );
    assert!(!tmp.0.join("compare").exists(), "no partial output");
}
