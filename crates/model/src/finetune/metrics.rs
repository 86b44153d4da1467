//! Classification scores: accuracy and macro-F1.

use serde::{Deserialize, Serialize};

/// Accuracy and macro-F1 of predictions against gold labels.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    /// Fraction of units predicted correctly.
    pub accuracy: f64,
    /// Unweighted mean of per-label F1 over the labels that occur in gold or predictions
    /// (scikit-learn's `f1_score(average="macro")`).
    pub macro_f1: f64,
    /// Number of units scored.
    pub n: usize,
}

/// Scores `pred` against `gold` (label indices below `n_labels`).
pub fn score(gold: &[usize], pred: &[usize], n_labels: usize) -> Scores {
    assert_eq!(
        gold.len(),
        pred.len(),
        "gold and predictions differ in length"
    );
    let mut tp = vec![0usize; n_labels];
    let mut gold_n = vec![0usize; n_labels];
    let mut pred_n = vec![0usize; n_labels];
    for (&g, &p) in gold.iter().zip(pred) {
        gold_n[g] += 1;
        pred_n[p] += 1;
        if g == p {
            tp[g] += 1;
        }
    }
    let correct: usize = tp.iter().sum();
    let mut f1_sum = 0.0;
    let mut seen = 0usize;
    for l in 0..n_labels {
        if gold_n[l] + pred_n[l] == 0 {
            continue;
        }
        seen += 1;
        f1_sum += 2.0 * tp[l] as f64 / (gold_n[l] + pred_n[l]) as f64;
    }
    let n = gold.len();
    Scores {
        accuracy: if n == 0 {
            0.0
        } else {
            correct as f64 / n as f64
        },
        macro_f1: if seen == 0 { 0.0 } else { f1_sum / seen as f64 },
        n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checked by hand against scikit-learn's definition:
    /// label 0: tp 2, gold 3, pred 2 → F1 0.8; label 1: tp 1, gold 1, pred 2 → 2/3;
    /// label 2: tp 0, gold 0, pred 0 → skipped; label 3: tp 0, gold 0, pred 0 → skipped.
    #[test]
    fn accuracy_and_macro_f1() {
        let gold = [0, 0, 0, 1];
        let pred = [0, 0, 1, 1];
        let s = score(&gold, &pred, 4);
        assert!((s.accuracy - 0.75).abs() < 1e-12);
        assert!((s.macro_f1 - (0.8 + 2.0 / 3.0) / 2.0).abs() < 1e-12);
        assert_eq!(s.n, 4);
    }

    #[test]
    fn label_only_predicted_counts_with_zero_f1() {
        let s = score(&[0, 0], &[0, 1], 2);
        assert!((s.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12);
    }
}
