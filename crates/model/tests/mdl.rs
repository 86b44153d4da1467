//! MDL probing (online code): random labels compress by about 1, a learnable task well above.

use tch::Tensor;
use tunescope_model::probe::mdl::{online_codelength, MdlSettings};
use tunescope_model::probe::{ProbeConfig, ProbeInput, Split};

/// Knuth's MMIX linear congruential generator (high bits used), so the data do not depend on
/// libtorch's generator.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 5) as f64 / (1u64 << 43) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (u, v) = (1.0 - self.unit(), self.unit());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Four Gaussian blobs in 8 dimensions; `random` replaces the labels by uniform draws.
fn data(n: usize, random: bool, s: &mut Stream) -> (Tensor, Vec<usize>) {
    let centres: Vec<Vec<f64>> = (0..4)
        .map(|c| (0..8).map(|j| if j % 4 == c { 3.0 } else { 0.0 }).collect())
        .collect();
    let mut x = Vec::with_capacity(n * 8);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let c = (s.next() % 4) as usize;
        x.extend(centres[c].iter().map(|m| (m + s.gauss()) as f32));
        y.push(if random { (s.next() % 4) as usize } else { c });
    }
    (Tensor::from_slice(&x).view([n as i64, 8]), y)
}

fn compression(random: bool) -> (f64, f64) {
    tch::set_num_threads(1);
    let mut s = Stream(if random { 11 } else { 12 });
    let (tx, ty) = data(2000, random, &mut s);
    let (dx, dy) = data(400, random, &mut s);
    let input = ProbeInput {
        train: Split {
            x: &tx,
            labels: &ty,
            types: None,
        },
        dev: Split {
            x: &dx,
            labels: &dy,
            types: None,
        },
        test: None,
        curves: Vec::new(),
    };
    let cfg = ProbeConfig {
        shapes: vec![Vec::new()],
        seeds: vec![0, 1],
        lr: 0.01,
        batch_size: 32,
        max_epochs: 20,
        patience: Some(4),
        ..ProbeConfig::default()
    };
    let r = online_codelength(&input, &cfg, &[Vec::new()], &MdlSettings::default()).unwrap();
    assert_eq!(r.classes, 4);
    assert_eq!(r.uniform_bits, 2000.0 * 2.0);
    assert_eq!(*r.boundaries.last().unwrap(), 2000);
    let t = &r.shapes[0].task;
    assert_eq!(t.per_seed_bits.len(), 2);
    assert_eq!(t.block_bits.len(), r.boundaries.len() - 1);
    // First block at the uniform code plus the later blocks' cross-entropies.
    let first = r.boundaries[0] as f64 * 2.0;
    let sum: f64 = first + t.block_bits.iter().map(|b| b[0]).sum::<f64>();
    assert!((sum - t.per_seed_bits[0]).abs() < 1e-9 * sum);
    (t.compression, t.online_bits)
}

#[test]
fn random_labels_do_not_compress_and_a_learnable_task_does() {
    let (random, random_bits) = compression(true);
    eprintln!("random labels: compression {random:.3} ({random_bits:.0} bits)");
    assert!((0.85..1.1).contains(&random), "random labels: {random}");
    let (learnable, bits) = compression(false);
    eprintln!("learnable task: compression {learnable:.3} ({bits:.0} bits)");
    assert!(learnable > 3.0, "learnable task: {learnable} ({bits} bits)");
}
