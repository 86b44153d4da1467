//! Seeded shuffling and length-bucketed batching of sentences.
//!
//! The generator is a small SplitMix64 whose whole state is one `u64`, so a checkpoint can store
//! it and a resumed run draws exactly the same batches.

pub use tunescope_data::rng::{derive_seed, SplitMix64 as Rng};

/// One epoch's batches of sentence indices.
///
/// Sentences are shuffled, cut into pools of `pool_batches × batch_size`, sorted by length
/// (longest first) inside each pool, split into batches, and the batches shuffled: every batch
/// holds sentences of similar length (little padding) while the order stays random (as HF's
/// `group_by_length`). `pool_batches = 1` gives plain shuffled batches.
pub fn length_bucketed_batches(
    lengths: &[usize],
    batch_size: usize,
    pool_batches: usize,
    rng: &mut Rng,
) -> Vec<Vec<usize>> {
    assert!(batch_size > 0, "batch size must be positive");
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    rng.shuffle(&mut order);
    let pool = batch_size * pool_batches.max(1);
    let mut batches = Vec::with_capacity(lengths.len().div_ceil(batch_size));
    for chunk in order.chunks_mut(pool) {
        if pool_batches > 1 {
            chunk.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
        }
        batches.extend(chunk.chunks(batch_size).map(<[usize]>::to_vec));
    }
    if pool_batches > 1 {
        rng.shuffle(&mut batches);
    }
    batches
}

/// Batches in the given order, no shuffling, sorted by length inside windows (for evaluation,
/// where order does not matter but padding costs time).
pub fn eval_batches(lengths: &[usize], batch_size: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..lengths.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(lengths[i]));
    order
        .chunks(batch_size.max(1))
        .map(<[usize]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_batches_and_every_sentence_once() {
        let lengths: Vec<usize> = (0..1000).map(|i| (i * 37) % 97 + 1).collect();
        let a = length_bucketed_batches(&lengths, 32, 50, &mut Rng::new(7));
        let b = length_bucketed_batches(&lengths, 32, 50, &mut Rng::new(7));
        let c = length_bucketed_batches(&lengths, 32, 50, &mut Rng::new(8));
        assert_eq!(a, b);
        assert_ne!(a, c);
        let mut all: Vec<usize> = a.iter().flatten().copied().collect();
        all.sort();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        assert!(a.iter().all(|b| !b.is_empty() && b.len() <= 32));
    }

    #[test]
    fn bucketing_reduces_padding() {
        let mut rng = Rng::new(1);
        let lengths: Vec<usize> = (0..3200).map(|_| 1 + rng.below(100)).collect();
        let padded = |batches: &[Vec<usize>]| -> usize {
            batches
                .iter()
                .map(|b| b.len() * b.iter().map(|&i| lengths[i]).max().unwrap())
                .sum()
        };
        let plain = length_bucketed_batches(&lengths, 32, 1, &mut Rng::new(3));
        let bucketed = length_bucketed_batches(&lengths, 32, 50, &mut Rng::new(3));
        let real: usize = lengths.iter().sum();
        assert!(
            padded(&bucketed) < real * 11 / 10,
            "{} vs {}",
            padded(&bucketed),
            real
        );
        assert!(padded(&plain) > real * 3 / 2);
    }

    #[test]
    fn below_is_roughly_uniform() {
        let mut rng = Rng::new(42);
        let mut counts = [0usize; 5];
        for _ in 0..50_000 {
            counts[rng.below(5)] += 1;
        }
        assert!(
            counts.iter().all(|&c| (9_000..11_000).contains(&c)),
            "{counts:?}"
        );
    }
}
