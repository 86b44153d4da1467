//! Training one probe shape for several seeds at once.
//!
//! The seeds of a shape are stacked along a leading dimension: weights are `[S, in, out]`, a
//! mini-batch is `[S, B, d]` (each seed draws its own batch order), and every layer is one
//! `baddbmm`. The loss is the sum of the per-seed mean losses and Adam is element-wise, so each
//! seed's trajectory is exactly that of an independently trained probe. A stack position may also
//! carry its own L2 weight (scikit-learn's `alpha`), so an L2 grid trains as one stack.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tch::{Device, Kind, Reduction, Tensor};
use tunescope_data::rng::{mix, SplitMix64 as Rng};

/// Rows evaluated per forward pass when measuring accuracy.
const EVAL_CHUNK: i64 = 8192;

/// Vectors with their label indices; `-1` marks a label the probe cannot predict.
pub(crate) struct LabelledSet {
    pub x: Tensor,
    pub y: Tensor,
}

impl LabelledSet {
    /// Another handle on the same storage (tensors are `Send` but not `Sync`, so every worker
    /// thread gets its own handles).
    fn shallow(&self) -> Self {
        LabelledSet {
            x: self.x.shallow_clone(),
            y: self.y.shallow_clone(),
        }
    }
}

/// The splits one probe family (task or control) trains and evaluates on.
pub(crate) struct Family {
    pub train: LabelledSet,
    pub dev: LabelledSet,
    pub test: Option<LabelledSet>,
    /// Sets whose accuracy is recorded after every epoch.
    pub curves: Vec<LabelledSet>,
}

impl Family {
    fn shallow(&self) -> Self {
        Family {
            train: self.train.shallow(),
            dev: self.dev.shallow(),
            test: self.test.as_ref().map(LabelledSet::shallow),
            curves: self.curves.iter().map(LabelledSet::shallow).collect(),
        }
    }
}

/// One training run: a shape with a stack of (seed, L2 weight) runs on one family.
pub(crate) struct Job<'a> {
    pub spec: TrainSpec<'a>,
    pub family: usize,
}

/// Hyper-parameters of one training run.
pub(crate) struct TrainSpec<'a> {
    pub hidden: &'a [usize],
    pub seeds: &'a [u64],
    /// scikit-learn's `alpha` of each stack position (same length as `seeds`): the loss gains
    /// `alpha / (2 · batch) · ‖W‖²` over the weight matrices (not the biases), so the gradient
    /// gains `alpha · W / batch` exactly as `MLPClassifier`'s.
    pub l2: Vec<f64>,
    pub n_classes: usize,
    pub lr: f64,
    pub weight_decay: f64,
    pub batch_size: usize,
    pub max_epochs: usize,
    pub patience: Option<usize>,
    /// Separates the random streams of different probe families (task vs control).
    pub stream: u64,
}

/// Per-seed outcome of a training run (accuracies as fractions).
pub(crate) struct TrainOutcome {
    pub train: Vec<f64>,
    pub dev: Vec<f64>,
    pub test: Option<Vec<f64>>,
    /// 1-based epoch whose weights were kept (best dev accuracy).
    pub best_epoch: Vec<usize>,
    /// Epochs trained before early stopping.
    pub epochs: Vec<usize>,
    /// Per curve set: per seed, accuracy after each epoch.
    pub curves: Vec<Vec<Vec<f64>>>,
    /// The kept (best-dev) weights, `(weight [S, in, out], bias [S, 1, out])` per layer.
    pub weights: Vec<(Tensor, Tensor)>,
}

/// One trainable tensor with its Adam moments.
struct Param {
    value: Tensor,
    m: Tensor,
    v: Tensor,
}

impl Param {
    fn new(init: Tensor) -> Self {
        Param {
            m: init.zeros_like(),
            v: init.zeros_like(),
            value: init.set_requires_grad(true),
        }
    }

    /// Keeps only the seeds at positions `keep` (dimension 0).
    fn select(&mut self, keep: &Tensor) {
        let _guard = tch::no_grad_guard();
        self.value = self.value.index_select(0, keep).set_requires_grad(true);
        self.m = self.m.index_select(0, keep);
        self.v = self.v.index_select(0, keep);
    }
}

/// PyTorch's `torch.optim.Adam` (L2 weight decay added to the gradient).
struct Adam {
    lr: f64,
    weight_decay: f64,
    steps: i32,
}

impl Adam {
    const BETA1: f64 = 0.9;
    const BETA2: f64 = 0.999;
    const EPS: f64 = 1e-8;

    fn step(&mut self, params: &mut [Param]) {
        let _guard = tch::no_grad_guard();
        self.steps += 1;
        let bc1 = 1.0 - Self::BETA1.powi(self.steps);
        let bc2 = 1.0 - Self::BETA2.powi(self.steps);
        for p in params.iter_mut() {
            let mut g = p.value.grad();
            if self.weight_decay != 0.0 {
                g += &p.value * self.weight_decay;
            }
            p.m = &p.m * Self::BETA1 + &g * (1.0 - Self::BETA1);
            p.v = &p.v * Self::BETA2 + (&g * &g) * (1.0 - Self::BETA2);
            let denom = p.v.sqrt() / bc2.sqrt() + Self::EPS;
            let update = &p.m / denom * (self.lr / bc1);
            p.value -= update;
            p.value.zero_grad();
        }
    }
}

fn shape_tag(hidden: &[usize]) -> u64 {
    hidden
        .iter()
        .fold(mix(hidden.len() as u64), |acc, &h| mix(acc ^ h as u64))
}

/// PyTorch's default `nn.Linear` initialisation, U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn per
/// seed from its own stream. Returns weights `[S, in, out]` and biases `[S, 1, out]`, alternating.
fn init_params(spec: &TrainSpec, d: usize) -> Vec<Param> {
    let mut dims = vec![d];
    dims.extend_from_slice(spec.hidden);
    dims.push(spec.n_classes);
    let s = spec.seeds.len();
    let tag = shape_tag(spec.hidden);
    let mut rngs: Vec<Rng> = spec
        .seeds
        .iter()
        .map(|&seed| Rng::stream(&[spec.stream, seed, 1, tag]))
        .collect();
    let mut params = Vec::with_capacity(2 * (dims.len() - 1));
    for io in dims.windows(2) {
        let (fan_in, fan_out) = (io[0], io[1]);
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut w = Vec::with_capacity(s * fan_in * fan_out);
        let mut b = Vec::with_capacity(s * fan_out);
        for rng in rngs.iter_mut() {
            let mut draw = || ((2.0 * rng.next_f64() - 1.0) * bound) as f32;
            w.extend((0..fan_in * fan_out).map(|_| draw()));
            b.extend((0..fan_out).map(|_| draw()));
        }
        let (si, fi, fo) = (s as i64, fan_in as i64, fan_out as i64);
        params.push(Param::new(Tensor::from_slice(&w).view([si, fi, fo])));
        params.push(Param::new(Tensor::from_slice(&b).view([si, 1, fo])));
    }
    params
}

/// (weight, bias) handles of each layer.
fn layers(params: &[Param]) -> Vec<(Tensor, Tensor)> {
    params
        .chunks(2)
        .map(|wb| (wb[0].value.shallow_clone(), wb[1].value.shallow_clone()))
        .collect()
}

/// Logits `[S, B, C]` for per-seed inputs `[S, B, d]` or shared inputs `[B, d]`.
pub(crate) fn forward(layers: &[(Tensor, Tensor)], x: &Tensor) -> Tensor {
    let (w0, b0) = &layers[0];
    let mut h = if x.dim() == 2 {
        x.matmul(w0) + b0
    } else {
        b0.baddbmm(x, w0, 1.0, 1.0)
    };
    for (w, b) in &layers[1..] {
        h = b.baddbmm(&h.relu(), w, 1.0, 1.0);
    }
    h
}

/// Correct predictions per seed on `set`, as fractions.
fn accuracy(layers: &[(Tensor, Tensor)], set: &LabelledSet) -> Vec<f64> {
    let n = set.x.size()[0];
    let s = layers[0].0.size()[0];
    let _guard = tch::no_grad_guard();
    let mut correct = Tensor::zeros([s], (Kind::Int64, Device::Cpu));
    let mut start = 0;
    while start < n {
        let len = EVAL_CHUNK.min(n - start);
        let logits = forward(layers, &set.x.narrow(0, start, len));
        let pred = logits.argmax(-1, false);
        let hit = pred.eq_tensor(&set.y.narrow(0, start, len).unsqueeze(0));
        correct += hit.sum_dim_intlist(1, false, Kind::Int64);
        start += len;
    }
    let counts = Vec::<i64>::try_from(&correct).expect("int64 counts");
    counts.iter().map(|&c| c as f64 / n.max(1) as f64).collect()
}

/// Trains `spec.hidden` for every seed of `spec.seeds` with Adam on shuffled mini-batches, keeps
/// each seed's weights from its best dev epoch (early stopping with `spec.patience`), and reports
/// train/dev/test accuracy of those weights plus per-epoch accuracy on the family's curve sets.
///
/// Seeds that stop early are dropped from the stack, so the remaining ones train faster. The
/// loss is a sum over rows divided by the batch size, so a seed's gradients (and thus its whole
/// trajectory) do not depend on which other seeds share the stack.
fn train(spec: &TrainSpec, family: &Family) -> TrainOutcome {
    let (train, dev) = (&family.train, &family.dev);
    let (n, d) = (train.x.size()[0], train.x.size()[1]);
    let s = spec.seeds.len();
    debug_assert_eq!(spec.l2.len(), s, "one L2 weight per stack position");
    let mut params = init_params(spec, d as usize);
    let penalised = spec.l2.iter().any(|&a| a != 0.0);
    let mut l2 = Tensor::from_slice(&spec.l2).to_kind(Kind::Float);
    let mut adam = Adam {
        lr: spec.lr,
        weight_decay: spec.weight_decay,
        steps: 0,
    };
    let mut order_rngs: Vec<Rng> = spec
        .seeds
        .iter()
        .map(|&seed| Rng::stream(&[spec.stream, seed, 2]))
        .collect();
    // Original seed index of each stack position.
    let mut active: Vec<usize> = (0..s).collect();
    let mut best: Vec<(Tensor, Tensor)> = {
        let _guard = tch::no_grad_guard();
        layers(&params)
            .iter()
            .map(|(w, b)| (w.detach().copy(), b.detach().copy()))
            .collect()
    };
    let mut best_dev = vec![f64::NEG_INFINITY; s];
    let mut best_epoch = vec![0usize; s];
    let mut epochs = vec![0usize; s];
    let mut curves = vec![vec![Vec::new(); s]; family.curves.len()];
    let bsz = spec.batch_size as i64;
    let mut perms = Vec::with_capacity(s * n as usize);
    for epoch in 1..=spec.max_epochs {
        perms.clear();
        for rng in order_rngs.iter_mut() {
            let start = perms.len();
            perms.extend(0..n);
            rng.shuffle(&mut perms[start..]);
        }
        let stack = active.len() as i64;
        let order = Tensor::from_slice(&perms).view([stack, n]);
        let mut start = 0;
        while start < n {
            let len = bsz.min(n - start);
            let idx = order.narrow(1, start, len).reshape([-1]);
            let xb = train.x.index_select(0, &idx).view([stack, len, d]);
            let yb = train.y.index_select(0, &idx);
            let logits = forward(&layers(&params), &xb);
            let mut loss = logits
                .view([-1, spec.n_classes as i64])
                .cross_entropy_loss::<Tensor>(&yb, None, Reduction::Sum, -100, 0.0)
                / len as f64;
            if penalised {
                let squares = params
                    .iter()
                    .step_by(2)
                    .map(|w| {
                        (&w.value * &w.value).sum_dim_intlist([1, 2].as_slice(), false, Kind::Float)
                    })
                    .reduce(|a, b| a + b)
                    .expect("at least one layer");
                loss += (squares * &l2).sum(Kind::Float) * (0.5 / len as f64);
            }
            loss.backward();
            adam.step(&mut params);
            start += len;
        }
        let live = layers(&params);
        let dev_acc = accuracy(&live, dev);
        let curve_acc: Vec<Vec<f64>> = family
            .curves
            .iter()
            .map(|set| accuracy(&live, set))
            .collect();
        let _guard = tch::no_grad_guard();
        let mut keep = Vec::with_capacity(active.len());
        for (pos, &k) in active.iter().enumerate() {
            epochs[k] = epoch;
            for (c, acc) in curve_acc.iter().enumerate() {
                curves[c][k].push(acc[pos]);
            }
            if dev_acc[pos] > best_dev[k] {
                best_dev[k] = dev_acc[pos];
                best_epoch[k] = epoch;
                for ((bw, bb), (w, b)) in best.iter_mut().zip(&live) {
                    bw.get(k as i64).copy_(&w.get(pos as i64));
                    bb.get(k as i64).copy_(&b.get(pos as i64));
                }
            }
            if spec.patience.is_none_or(|p| epoch - best_epoch[k] < p) {
                keep.push(pos);
            }
        }
        if keep.is_empty() {
            break;
        }
        if keep.len() < active.len() {
            let keep_t = Tensor::from_slice(&keep.iter().map(|&p| p as i64).collect::<Vec<_>>());
            params.iter_mut().for_each(|p| p.select(&keep_t));
            l2 = l2.index_select(0, &keep_t);
            active = keep.iter().map(|&p| active[p]).collect();
            order_rngs = keep.iter().map(|&p| order_rngs[p]).collect();
        }
    }
    TrainOutcome {
        train: accuracy(&best, train),
        dev: accuracy(&best, dev),
        test: family.test.as_ref().map(|t| accuracy(&best, t)),
        best_epoch,
        epochs,
        curves,
        weights: best,
    }
}

/// Runs `jobs` on `workers` threads, each with single-threaded libtorch (probe-sized matrix
/// products gain little from intra-op threads, which contend badly on a busy machine). Larger
/// shapes start first. Every job is deterministic on its own, so the results, returned in job
/// order with their wall time in seconds, do not depend on the number of workers.
pub(crate) fn run_jobs(
    jobs: &[Job],
    families: &[Family],
    workers: usize,
) -> Vec<(TrainOutcome, f64)> {
    let mut order: Vec<usize> = (0..jobs.len()).collect();
    let cost = |j: &Job| {
        let mut dims = vec![families[j.family].train.x.size()[1] as usize];
        dims.extend_from_slice(j.spec.hidden);
        dims.push(j.spec.n_classes);
        dims.windows(2).map(|w| w[0] * w[1]).sum::<usize>()
    };
    order.sort_by_key(|&i| std::cmp::Reverse(cost(&jobs[i])));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(TrainOutcome, f64)>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, jobs.len().max(1)) {
            let own: Vec<Family> = families.iter().map(Family::shallow).collect();
            let (next, results, order) = (&next, &results, &order);
            scope.spawn(move || {
                tch::set_num_threads(1);
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&i) = order.get(k) else { break };
                    let t0 = Instant::now();
                    let outcome = train(&jobs[i].spec, &own[jobs[i].family]);
                    let secs = t0.elapsed().as_secs_f64();
                    results.lock().expect("no worker panicked")[i] = Some((outcome, secs));
                }
            });
        }
    });
    results
        .into_inner()
        .expect("no worker panicked")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}
