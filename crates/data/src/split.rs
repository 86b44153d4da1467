//! Deterministic partitioning of a corpus into train/dev/test and seeded subsampling.

use std::collections::{BTreeMap, BTreeSet};

use crate::readers::Corpus;
use crate::rng::SplitMix64;
use crate::task::Split;

/// `0..n` in a seeded random order (Fisher–Yates).
fn shuffled(n: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64::new(seed).shuffle(&mut order);
    order
}

/// Split (0 train, 1 dev, 2 test) of each of `n` sentences: a seeded shuffle, then
/// `round(n·dev)` sentences to dev and `round(n·test)` to test, the rest to train. Splits with
/// `wanted[k] == false` get nothing, and the fractions of the wanted ones are renormalised.
pub fn seeded_assignment(n: usize, fractions: [f64; 3], wanted: [bool; 3], seed: u64) -> Vec<u8> {
    let f: Vec<f64> = (0..3)
        .map(|k| if wanted[k] { fractions[k] } else { 0.0 })
        .collect();
    let total: f64 = f.iter().sum();
    let share = |k: usize| {
        if total > 0.0 {
            ((n as f64) * f[k] / total).round() as usize
        } else {
            0
        }
    };
    let n_dev = share(1).min(n);
    let n_test = share(2).min(n - n_dev);
    let mut assign = vec![0u8; n];
    for (rank, &i) in shuffled(n, seed).iter().enumerate() {
        assign[i] = if rank < n_dev {
            1
        } else if rank < n_dev + n_test {
            2
        } else {
            0
        };
    }
    assign
}

/// Brown's document split: within each genre (the second letter of the file name), files in name
/// order; see [`crate::readers::brown::split_of_rank`].
pub fn brown_assignment(corpus: &Corpus) -> Vec<u8> {
    let docs: BTreeSet<&str> = corpus.sentences.iter().map(|s| s.doc.as_str()).collect();
    let mut rank_in_genre: BTreeMap<char, usize> = BTreeMap::new();
    let mut split_of: BTreeMap<&str, u8> = BTreeMap::new();
    for doc in docs {
        let genre = doc.chars().nth(1).unwrap_or('?');
        let rank = rank_in_genre.entry(genre).or_insert(0);
        split_of.insert(doc, crate::readers::brown::split_of_rank(*rank) as u8);
        *rank += 1;
    }
    corpus
        .sentences
        .iter()
        .map(|s| split_of[s.doc.as_str()])
        .collect()
}

/// Moves the sentences of `corpus` into the splits named by `assign` (one entry per sentence),
/// keeping corpus order and re-indexing units.
pub fn partition(corpus: Corpus, assign: &[u8]) -> [Split; 3] {
    let mut splits: [Split; 3] = Default::default();
    let mut new_index = Vec::with_capacity(assign.len());
    for (sentence, &k) in corpus.sentences.into_iter().zip(assign) {
        let split = &mut splits[k as usize];
        new_index.push(split.sentences.len());
        split.sentences.push(sentence);
    }
    for mut unit in corpus.units {
        let k = assign[unit.sentence] as usize;
        unit.sentence = new_index[unit.sentence];
        splits[k].units.push(unit);
    }
    splits
}

/// The whole corpus as one split.
pub fn whole(corpus: Corpus) -> Split {
    Split {
        sentences: corpus.sentences,
        units: corpus.units,
    }
}

/// At most `max` sentences of `split` (a seeded sample, kept in corpus order) with their units.
pub fn subsample(split: Split, max: usize, seed: u64) -> Split {
    let n = split.sentences.len();
    if n <= max {
        return split;
    }
    let mut keep = vec![false; n];
    for &i in shuffled(n, seed).iter().take(max) {
        keep[i] = true;
    }
    let assign: Vec<u8> = keep.iter().map(|&k| if k { 0 } else { 1 }).collect();
    let [kept, _, _] = partition(
        Corpus {
            sentences: split.sentences,
            units: split.units,
        },
        &assign,
    );
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_assignment_is_deterministic_and_sized() {
        let a = seeded_assignment(1000, [0.8, 0.1, 0.1], [true; 3], 7);
        assert_eq!(a, seeded_assignment(1000, [0.8, 0.1, 0.1], [true; 3], 7));
        assert_ne!(a, seeded_assignment(1000, [0.8, 0.1, 0.1], [true; 3], 8));
        let count = |k| a.iter().filter(|&&x| x == k).count();
        assert_eq!((count(0), count(1), count(2)), (800, 100, 100));
        let only_dev = seeded_assignment(10, [0.8, 0.2, 0.0], [true, true, false], 1);
        assert_eq!(only_dev.iter().filter(|&&x| x == 1).count(), 2);
        assert!(only_dev.iter().all(|&x| x != 2));
    }

    #[test]
    fn shuffled_is_a_permutation() {
        let mut s = shuffled(57, 3);
        s.sort_unstable();
        assert_eq!(s, (0..57).collect::<Vec<_>>());
    }
}
