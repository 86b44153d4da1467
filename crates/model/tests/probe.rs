//! Classifier probes: separability, the need for a hidden layer, determinism, control-task
//! selectivity, unseen labels and input errors.

use tch::Tensor;
use tunescope_model::probe::{
    grid_shapes, run, shape_name, CurveSet, ProbeConfig, ProbeInput, ProbeReport, Split, PAPER_L2,
};

/// xorshift64*, so the test data do not depend on libtorch's generator.
struct Gen(u64);

impl Gen {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform().max(1e-12), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
    fn below(&mut self, n: usize) -> usize {
        ((self.uniform() * n as f64) as usize).min(n - 1)
    }
}

fn matrix(rows: &[Vec<f64>]) -> Tensor {
    let d = rows[0].len() as i64;
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    Tensor::from_slice(&flat).view([rows.len() as i64, d])
}

fn config(shapes: Vec<Vec<usize>>, seeds: u64) -> ProbeConfig {
    tch::set_num_threads(1);
    ProbeConfig {
        shapes,
        seeds: (0..seeds).collect(),
        l2: vec![0.0],
        lr: 0.01,
        batch_size: 32,
        max_epochs: 100,
        patience: Some(15),
        ..ProbeConfig::default()
    }
}

fn split<'a>(x: &'a Tensor, labels: &'a [usize]) -> Split<'a> {
    Split {
        x,
        labels,
        types: None,
    }
}

/// Points labelled by the argmax of three random linear functions, keeping a margin.
fn separable(n: usize, g: &mut Gen) -> (Vec<Vec<f64>>, Vec<usize>) {
    let w: Vec<Vec<f64>> = (0..3)
        .map(|_| (0..6).map(|_| g.normal()).collect())
        .collect();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    while xs.len() < n {
        let x: Vec<f64> = (0..6).map(|_| g.normal()).collect();
        let mut s: Vec<(f64, usize)> = w
            .iter()
            .enumerate()
            .map(|(k, wk)| (wk.iter().zip(&x).map(|(a, b)| a * b).sum(), k))
            .collect();
        s.sort_by(|a, b| b.0.total_cmp(&a.0));
        if s[0].0 - s[1].0 > 0.5 {
            ys.push(s[0].1);
            xs.push(x);
        }
    }
    (xs, ys)
}

#[test]
fn linear_probe_fits_a_linearly_separable_set() {
    let mut g = Gen(11);
    let (xs, ys) = separable(300, &mut g);
    let x = matrix(&xs);
    let input = ProbeInput {
        train: split(&x, &ys),
        dev: split(&x, &ys),
        test: None,
        curves: vec![],
    };
    let mut cfg = config(vec![vec![]], 3);
    cfg.lr = 0.05;
    cfg.max_epochs = 300;
    cfg.patience = Some(40);
    let r = run(&input, &cfg).unwrap();
    assert_eq!(r.best.hidden, Vec::<usize>::new());
    assert_eq!(r.best.per_seed.train, vec![1.0; 3], "{:?}", r.best.per_seed);
    assert_eq!(r.best.train_mean, 1.0);
}

/// Quadrant XOR in 2-D, away from the axes.
fn xor(n: usize, g: &mut Gen) -> (Vec<Vec<f64>>, Vec<usize>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    while xs.len() < n {
        let (a, b) = (2.0 * g.uniform() - 1.0, 2.0 * g.uniform() - 1.0);
        if a.abs() > 0.1 && b.abs() > 0.1 {
            ys.push(usize::from((a > 0.0) != (b > 0.0)));
            xs.push(vec![a, b]);
        }
    }
    (xs, ys)
}

#[test]
fn xor_needs_the_hidden_layers() {
    let mut g = Gen(5);
    let (trx, try_) = xor(400, &mut g);
    let (dvx, dvy) = xor(200, &mut g);
    let (tex, tey) = xor(200, &mut g);
    let (trx, dvx, tex) = (matrix(&trx), matrix(&dvx), matrix(&tex));
    let input = ProbeInput {
        train: split(&trx, &try_),
        dev: split(&dvx, &dvy),
        test: Some(split(&tex, &tey)),
        curves: vec![],
    };
    let r = run(&input, &config(vec![vec![], vec![16, 16]], 2)).unwrap();
    let linear = &r.shapes[0];
    let mlp = &r.shapes[1];
    assert!(
        linear.test_mean.unwrap() < 0.7,
        "linear solved XOR: {linear:?}"
    );
    assert!(mlp.test_mean.unwrap() > 0.95, "MLP failed XOR: {mlp:?}");
    assert_eq!(r.best_index, 1);
    assert_eq!(r.best, *mlp);
    assert_eq!(r.linear.as_ref(), Some(linear));
    assert_eq!(r.selected_on, "dev");
}

/// Three classes along a line: a width-1 bottleneck MLP cannot tell them all apart, a linear
/// probe can.
#[test]
fn the_reported_probe_is_the_best_mlp_and_the_linear_probe_has_its_own_entry() {
    let mut g = Gen(17);
    let (xs, ys) = separable(300, &mut g);
    let x = matrix(&xs);
    let input = ProbeInput {
        train: split(&x, &ys),
        dev: split(&x, &ys),
        test: Some(split(&x, &ys)),
        curves: vec![],
    };
    let mut cfg = config(vec![vec![], vec![1, 1]], 3);
    cfg.lr = 0.05;
    cfg.max_epochs = 60;
    let r = run(&input, &cfg).unwrap();
    let linear = r.linear.as_ref().unwrap();
    assert!(
        linear.dev_mean > r.best.dev_mean,
        "linear {} vs MLP {}",
        linear.dev_mean,
        r.best.dev_mean
    );
    assert_eq!(r.best.hidden, vec![1, 1], "a linear probe was selected");
    assert_eq!(linear.hidden, Vec::<usize>::new());
    assert_eq!(linear.per_seed.dev.len(), 3);
    assert_eq!(shape_name(&linear.hidden), "linear");
    assert_eq!(shape_name(&r.best.hidden), "(1, 1)");
}

#[test]
fn the_l2_grid_is_searched_with_one_run_and_the_chosen_configuration_retrained() {
    let mut g = Gen(99);
    let (trx, try_) = blobs(300, 4, &mut g);
    let (dvx, dvy) = blobs(100, 4, &mut g);
    let (trx, dvx) = (matrix(&trx), matrix(&dvx));
    let input = ProbeInput {
        train: split(&trx, &try_),
        dev: split(&dvx, &dvy),
        test: Some(split(&dvx, &dvy)),
        curves: vec![],
    };
    let mut cfg = config(vec![vec![], vec![8, 8]], 3);
    cfg.l2 = vec![0.0, 0.1, 30.0];
    cfg.max_epochs = 15;
    cfg.patience = Some(4);
    let r = run(&input, &cfg).unwrap();
    let configs: Vec<(usize, f64)> = r.shapes.iter().map(|s| (s.hidden.len(), s.l2)).collect();
    assert_eq!(
        configs,
        [(0, 0.0), (0, 0.1), (0, 30.0), (2, 0.0), (2, 0.1), (2, 30.0)]
    );
    let mlps = &r.shapes[3..];
    let best_search = mlps
        .iter()
        .map(|s| s.per_seed.dev[0])
        .fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(r.best.per_seed.dev[0], best_search);
    assert_eq!(r.shapes[r.best_index], r.best);
    for (i, s) in r.shapes.iter().enumerate() {
        let chosen = i == r.best_index || Some(s) == r.linear.as_ref();
        assert_eq!(s.per_seed.dev.len(), if chosen { 3 } else { 1 }, "{i}");
    }
    // A strong penalty costs accuracy: the search saw the difference.
    assert!(mlps[2].dev_mean < mlps[0].dev_mean.max(mlps[1].dev_mean));
    // Each L2 weight trains alone as it does in the stack.
    let mut alone = cfg.clone();
    alone.l2 = vec![0.1];
    let a = run(&input, &alone).unwrap();
    assert_eq!(a.shapes[1].per_seed.dev[0], r.shapes[4].per_seed.dev[0]);
    assert_eq!(
        a.shapes[1].per_seed.epochs[0],
        r.shapes[4].per_seed.epochs[0]
    );
    cfg.l2 = vec![-1.0];
    assert!(format!("{:#}", run(&input, &cfg).unwrap_err()).contains("L2 weights"));
}

/// The L2 term covers the weight matrices only, as scikit-learn's `alpha`: with a huge weight
/// every matrix collapses and the biases alone predict the majority class (class 2, not the
/// argmax of all-zero logits, class 0).
#[test]
fn l2_penalises_weights_but_not_biases() {
    let mut g = Gen(8);
    let ys: Vec<usize> = (0..200).map(|i| [0, 1, 2, 2, 2][i % 5]).collect();
    let xs: Vec<Vec<f64>> = ys
        .iter()
        .map(|&y| {
            (0..3)
                .map(|j| if j == y { 2.0 } else { 0.0 } + g.normal() * 0.3)
                .collect()
        })
        .collect();
    let x = matrix(&xs);
    let input = ProbeInput {
        train: split(&x, &ys),
        dev: split(&x, &ys),
        test: None,
        curves: vec![],
    };
    let mut cfg = config(vec![vec![]], 1);
    cfg.max_epochs = 40;
    cfg.patience = None;
    cfg.l2 = vec![0.0];
    let free = run(&input, &cfg).unwrap();
    assert!(free.best.train_mean > 0.95, "{}", free.best.train_mean);
    cfg.l2 = vec![1e4];
    let crushed = run(&input, &cfg).unwrap();
    assert_eq!(crushed.best.per_seed.train, vec![0.6]);
}

/// Noisy Gaussian classes: accuracies are neither 0 nor 1, so runs are easy to tell apart.
fn blobs(n: usize, classes: usize, g: &mut Gen) -> (Vec<Vec<f64>>, Vec<usize>) {
    let centres: Vec<Vec<f64>> = (0..classes)
        .map(|k| (0..4).map(|j| ((k * 7 + j * 3) % 5) as f64 * 0.5).collect())
        .collect();
    let ys: Vec<usize> = (0..n).map(|_| g.below(classes)).collect();
    let xs = ys
        .iter()
        .map(|&y| centres[y].iter().map(|c| c + g.normal()).collect())
        .collect();
    (xs, ys)
}

fn noisy_report(seeds: std::ops::Range<u64>, workers: usize) -> ProbeReport {
    let mut g = Gen(99);
    let (trx, try_) = blobs(300, 4, &mut g);
    let (dvx, dvy) = blobs(100, 4, &mut g);
    let (trx, dvx) = (matrix(&trx), matrix(&dvx));
    let input = ProbeInput {
        train: split(&trx, &try_),
        dev: split(&dvx, &dvy),
        test: Some(split(&dvx, &dvy)),
        curves: vec![CurveSet {
            name: "train".into(),
            x: &trx,
            labels: &try_,
        }],
    };
    let mut cfg = config(vec![vec![], vec![8], vec![8, 4]], 0);
    cfg.seeds = seeds.collect();
    cfg.workers = workers;
    cfg.max_epochs = 12;
    cfg.patience = Some(3);
    run(&input, &cfg).unwrap()
}

fn without_times(mut r: ProbeReport) -> ProbeReport {
    r.seconds = 0.0;
    r.best.seconds = 0.0;
    if let Some(l) = &mut r.linear {
        l.seconds = 0.0;
    }
    r.shapes.iter_mut().for_each(|s| s.seconds = 0.0);
    r
}

#[test]
fn same_seeds_give_identical_results_with_any_worker_count() {
    let a = without_times(noisy_report(0..3, 2));
    let mut b = without_times(noisy_report(0..3, 1));
    b.config.workers = 2;
    assert_eq!(a, b);
    let c = without_times(noisy_report(3..6, 2));
    for (sa, sc) in a.shapes.iter().zip(&c.shapes) {
        assert_ne!(
            sa.curves["train"], sc.curves["train"],
            "seeds had no effect"
        );
    }
}

#[test]
fn a_seed_trains_the_same_alone_or_stacked_with_others() {
    let all = noisy_report(0..3, 1);
    let alone = noisy_report(1..2, 1);
    let mut pairs = vec![(all.linear.unwrap(), alone.linear.unwrap())];
    if all.best.hidden == alone.best.hidden {
        pairs.push((all.best, alone.best));
    }
    for (a, b) in &pairs {
        assert_eq!(a.per_seed.dev[1], b.per_seed.dev[0]);
        assert_eq!(a.per_seed.train[1], b.per_seed.train[0]);
        assert_eq!(a.per_seed.epochs[1], b.per_seed.epochs[0]);
        assert_eq!(a.curves["train"][1], b.curves["train"][0]);
    }
}

#[test]
fn weight_decay_changes_the_trajectory() {
    let mut g = Gen(3);
    let (xs, ys) = blobs(200, 3, &mut g);
    let x = matrix(&xs);
    let input = ProbeInput {
        train: split(&x, &ys),
        dev: split(&x, &ys),
        test: None,
        curves: vec![CurveSet {
            name: "train".into(),
            x: &x,
            labels: &ys,
        }],
    };
    let mut cfg = config(vec![vec![8]], 1);
    cfg.max_epochs = 6;
    cfg.patience = None;
    let plain = run(&input, &cfg).unwrap();
    cfg.weight_decay = 0.5;
    let decayed = run(&input, &cfg).unwrap();
    assert_ne!(plain.best.curves["train"], decayed.best.curves["train"]);
    assert_eq!(decayed.best.per_seed.epochs, vec![6]);
}

#[test]
fn curves_track_every_epoch_and_match_the_kept_weights() {
    let r = noisy_report(0..2, 2);
    for s in &r.shapes {
        let curve = &s.curves["train"];
        assert_eq!(curve.len(), s.per_seed.epochs.len());
        for k in 0..curve.len() {
            assert_eq!(curve[k].len(), s.per_seed.epochs[k]);
            assert!(s.per_seed.best_epoch[k] >= 1);
            assert_eq!(curve[k][s.per_seed.best_epoch[k] - 1], s.per_seed.train[k]);
        }
    }
}

/// Word types with fixed labels; vectors either random (no information) or label centroids plus
/// noise (the label, not the type identity, is encoded).
fn typed(n: usize, informative: bool, g: &mut Gen) -> (Vec<Vec<f64>>, Vec<usize>, Vec<String>) {
    let type_label = |t: usize| [0, 0, 0, 1, 1, 2, 3][(t * 31 + 7) % 7];
    let (mut xs, mut ys, mut ts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..n {
        let t = g.below(400);
        let y = type_label(t);
        let x = (0..8)
            .map(|j| {
                let centre = if informative && j == y { 3.0 } else { 0.0 };
                centre + g.normal()
            })
            .collect();
        xs.push(x);
        ys.push(y);
        ts.push(format!("w{t}"));
    }
    (xs, ys, ts)
}

fn selectivity(informative: bool) -> f64 {
    let mut g = Gen(2024);
    let (trx, try_, trt) = typed(2000, informative, &mut g);
    let (dvx, dvy, dvt) = typed(500, informative, &mut g);
    let (tex, tey, tet) = typed(1000, informative, &mut g);
    let (trx, dvx, tex) = (matrix(&trx), matrix(&dvx), matrix(&tex));
    let typed_split = |x, labels, types| Split {
        x,
        labels,
        types: Some(types),
    };
    let input = ProbeInput {
        train: typed_split(&trx, &try_, &trt),
        dev: typed_split(&dvx, &dvy, &dvt),
        test: Some(typed_split(&tex, &tey, &tet)),
        curves: vec![],
    };
    let mut cfg = config(vec![vec![], vec![16, 16]], 2);
    cfg.control = true;
    cfg.max_epochs = 30;
    cfg.patience = Some(5);
    let r = run(&input, &cfg).unwrap();
    let control = r.best.control.as_ref().unwrap();
    assert_eq!(
        control.selectivity_test.unwrap(),
        r.best.test_mean.unwrap() - control.test_mean.unwrap()
    );
    assert!(r.linear.as_ref().unwrap().control.is_some());
    // The study's setting: the control task for the reported probe only, the same selectivity.
    cfg.control_reported_only = true;
    let only = run(&input, &cfg).unwrap();
    assert_eq!(only.best.control, r.best.control);
    assert_eq!(only.best.test_mean, r.best.test_mean);
    assert_eq!(only.linear.as_ref().unwrap().control, None);
    control.selectivity_test.unwrap()
}

#[test]
fn selectivity_is_near_zero_on_random_vectors_and_high_on_informative_ones() {
    let random = selectivity(false);
    assert!(
        random.abs() < 0.08,
        "selectivity on random vectors: {random}"
    );
    let informative = selectivity(true);
    assert!(
        informative > 0.3,
        "selectivity on label-encoding vectors: {informative}"
    );
}

#[test]
fn labels_missing_from_train_count_as_errors() {
    let x = Tensor::from_slice(&[0.0f32, 0.1, 1.0, 1.1, 0.05, 1.05, 0.5, 0.5]).view([8, 1]);
    let train = [5, 5, 9, 9, 5, 9, 5, 9];
    let dev = [5, 5, 9, 9, 5, 9, 7, 7];
    let input = ProbeInput {
        train: split(&x, &train),
        dev: split(&x, &dev),
        test: Some(split(&x, &dev)),
        curves: vec![],
    };
    let mut cfg = config(vec![vec![]], 1);
    cfg.max_epochs = 3;
    let r = run(&input, &cfg).unwrap();
    assert_eq!(r.train_labels, 2);
    assert_eq!((r.unseen.dev, r.unseen.test), (2, 2));
    assert!(r.best.dev_mean <= 0.75);
}

#[test]
fn bad_inputs_are_reported_not_panicked() {
    let x = Tensor::from_slice(&[0.0f32, 1.0, 2.0, 3.0]).view([2, 2]);
    let x3 = Tensor::from_slice(&[0.0f32, 1.0, 2.0]).view([1, 3]);
    let nan = Tensor::from_slice(&[0.0f32, f32::NAN, 2.0, 3.0]).view([2, 2]);
    let cfg = config(vec![vec![]], 1);
    let err = |train: Split, dev: Split, cfg: &ProbeConfig| {
        let input = ProbeInput {
            train,
            dev,
            test: None,
            curves: vec![],
        };
        format!("{:#}", run(&input, cfg).unwrap_err())
    };
    let e = err(split(&x, &[0, 1]), split(&x3, &[0]), &cfg);
    assert!(e.contains("dev") && e.contains("dimension 3"), "{e}");
    let e = err(split(&x, &[0, 1, 0]), split(&x, &[0, 1]), &cfg);
    assert!(e.contains("train: 2 vectors but 3 labels"), "{e}");
    let e = err(split(&nan, &[0, 1]), split(&x, &[0, 1]), &cfg);
    assert!(e.contains("NaN"), "{e}");
    let mut with_control = cfg.clone();
    with_control.control = true;
    let e = err(split(&x, &[0, 1]), split(&x, &[0, 1]), &with_control);
    assert!(e.contains("word types for the train split"), "{e}");
    let mut no_seeds = cfg.clone();
    no_seeds.seeds.clear();
    let e = err(split(&x, &[0, 1]), split(&x, &[0, 1]), &no_seeds);
    assert!(e.contains("no seeds"), "{e}");
}

#[test]
fn grids_and_report_files() {
    let default = ProbeConfig::default();
    assert_eq!(default.l2, PAPER_L2);
    assert_eq!((PAPER_L2[0], PAPER_L2[7]), (1e-7, 1.0));
    assert_eq!(default.shapes.len(), 17);
    assert_eq!(default.shapes[0], Vec::<usize>::new());
    assert_eq!(default.shapes[1], vec![32, 32]);
    assert_eq!(default.shapes[16], vec![256, 256]);
    assert_eq!(
        grid_shapes(&[4, 8], &[1, 2]),
        vec![
            vec![4],
            vec![8],
            vec![4, 4],
            vec![4, 8],
            vec![8, 4],
            vec![8, 8]
        ]
    );

    let r = noisy_report(0..1, 1);
    let dir = std::env::temp_dir().join(format!("tunescope-probe-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("probe.json");
    r.write_json(&path).unwrap();
    let back: ProbeReport = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(back, r);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    for key in [
        "hidden",
        "dev_mean",
        "dev_std",
        "test_mean",
        "test_std",
        "train_mean",
    ] {
        assert!(v["best"].get(key).is_some(), "best lacks {key}");
    }
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "temporary file left behind"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
