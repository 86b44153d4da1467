//! The fine-tuning paper's published Table A (Zhou & Srikumar 2022, Table 7; the digest's §8.1),
//! so a study that names one of its model × task pairs can print the paper's row next to its own.

use tunescope_report::PaperRow;

/// Model names as the config spells them (`study.paper = "<model>/<task>"`), in table order.
pub const MODELS: [&str; 5] = [
    "bert-tiny",
    "bert-mini",
    "bert-small",
    "bert-medium",
    "bert-base",
];

/// Task names as the config spells them, in table order.
pub const TASKS: [&str; 5] = ["pos", "dep", "ps-fxn", "ps-role", "trec-50"];

/// One printed row: Acc, Std, (h1, h2), #Cluster, is Linear, Similarity (`NAN` = "–").
type Printed = (f64, f64, [usize; 2], usize, bool, f64);

/// Original, then fine-tuned, per model (outer) and task (inner), as printed.
#[rustfmt::skip]
const TABLE: [[[Printed; 2]; 5]; 5] = {
    const N: f64 = f64::NAN;
    [
        [ // BERT_tiny
            [(90.76, 0.24, [256, 64], 3936, false, N), (91.67, 0.29, [64, 64], 20, false, N)],
            [(86.74, 0.22, [256, 256], 653, false, N), (89.04, 0.20, [256, 256], 46, true, 0.88)],
            [(74.14, 1.42, [256, 256], 402, false, N), (74.40, 0.68, [256, 128], 40, true, 0.72)],
            [(58.38, 0.78, [256, 64], 46, true, 0.76), (60.31, 0.29, [64, 64], 46, true, 0.70)],
            [(68.12, 0.82, [256, 256], 399, false, N), (84.04, 0.93, [256, 256], 51, false, N)],
        ],
        [ // BERT_mini
            [(93.81, 0.10, [256, 32], 2429, false, N), (94.91, 0.03, [256, 32], 17, true, 0.70)],
            [(91.82, 0.09, [256, 128], 46, true, 0.93), (93.55, 0.07, [256, 128], 46, true, 0.86)],
            [(82.45, 1.07, [256, 256], 40, true, 0.77), (84.25, 0.39, [256, 128], 40, true, 0.53)],
            [(68.05, 1.08, [256, 256], 46, true, 0.81), (71.90, 1.06, [256, 64], 46, true, 0.59)],
            [(74.12, 1.25, [256, 256], 127, false, N), (88.36, 0.50, [64, 32], 52, false, N)],
        ],
        [ // BERT_small
            [(94.26, 0.13, [256, 32], 17, true, 0.96), (95.43, 0.06, [128, 64], 17, true, 0.72)],
            [(92.93, 0.14, [256, 64], 46, true, 0.93), (94.48, 0.14, [256, 64], 46, true, 0.78)],
            [(86.26, 0.54, [256, 256], 40, true, 0.82), (85.08, 0.35, [256, 256], 40, true, 0.44)],
            [(74.22, 1.03, [256, 256], 46, true, 0.84), (74.57, 0.61, [128, 128], 46, true, 0.54)],
            [(81.32, 0.61, [256, 128], 113, false, N), (89.60, 0.22, [256, 64], 51, false, N)],
        ],
        [ // BERT_medium
            [(94.40, 0.08, [256, 128], 17, true, 0.97), (95.56, 0.05, [64, 32], 17, true, 0.67)],
            [(92.54, 0.14, [256, 256], 46, true, 0.94), (94.76, 0.20, [128, 128], 46, true, 0.79)],
            [(86.56, 0.41, [256, 128], 40, true, 0.80), (88.45, 0.45, [128, 256], 40, true, 0.59)],
            [(76.28, 1.00, [256, 32], 46, true, 0.83), (78.86, 0.58, [128, 128], 46, true, 0.58)],
            [(80.68, 1.16, [256, 64], 110, false, N), (89.80, 0.33, [32, 64], 52, false, N)],
        ],
        [ // BERT_base
            [(93.39, 0.31, [256, 128], 17, true, 0.97), (95.68, 0.02, [128, 64], 17, true, 0.70)],
            [(89.39, 0.08, [256, 128], 46, true, 0.92), (94.76, 0.05, [64, 256], 46, true, 0.76)],
            [(87.75, 0.41, [256, 128], 40, true, 0.84), (89.58, 0.67, [32, 256], 40, true, 0.57)],
            [(74.49, 0.84, [256, 128], 46, true, 0.82), (81.14, 0.26, [256, 128], 46, true, 0.52)],
            [(85.24, 0.85, [256, 128], 162, false, N), (90.36, 0.32, [64, 32], 51, false, N)],
        ],
    ]
};

const MODEL_NAMES: [&str; 5] = [
    "BERT_tiny",
    "BERT_mini",
    "BERT_small",
    "BERT_medium",
    "BERT_base",
];
const TASK_NAMES: [&str; 5] = ["POS", "DEP", "PS-fxn", "PS-role", "TREC-50"];

/// Checks a `model/task` name (e.g. `bert-small/pos`) against the paper's pairs; the error lists
/// the valid names.
pub fn check_pair(pair: &str) -> Result<(), String> {
    lookup(pair).map(|_| ())
}

fn lookup(pair: &str) -> Result<(usize, usize), String> {
    let (m, t) = pair.split_once('/').unwrap_or((pair, ""));
    match (
        MODELS.iter().position(|x| *x == m),
        TASKS.iter().position(|x| *x == t),
    ) {
        (Some(m), Some(t)) => Ok((m, t)),
        _ => Err(format!(
            "`{pair}` is not one of the paper's model × task pairs: expected `<model>/<task>` with \
             model one of {} and task one of {}",
            MODELS.join(", "),
            TASKS.join(", ")
        )),
    }
}

/// The paper's published row for `pair` (`model/task`): original when `fine_tuned` is false.
pub fn paper_row(pair: &str, fine_tuned: bool) -> Result<PaperRow, String> {
    let (m, t) = lookup(pair)?;
    let (acc, std, hidden, clusters, linear, sim) = TABLE[m][t][usize::from(fine_tuned)];
    Ok(PaperRow {
        model: MODEL_NAMES[m].into(),
        task: TASK_NAMES[t].into(),
        acc,
        std,
        hidden,
        clusters,
        linear,
        similarity: (!sim.is_nan()).then_some(sim),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_the_digest_table() {
        // Spot checks against docs/…/paper-digest.md §8.1, one per corner and the exception.
        let r = paper_row("bert-tiny/pos", false).unwrap();
        assert_eq!(
            (r.acc, r.std, r.hidden, r.clusters, r.linear, r.similarity),
            (90.76, 0.24, [256, 64], 3936, false, None)
        );
        let r = paper_row("bert-small/ps-fxn", true).unwrap();
        assert_eq!(
            (r.model.as_str(), r.task.as_str()),
            ("BERT_small", "PS-fxn")
        );
        assert_eq!((r.acc, r.similarity), (85.08, Some(0.44)));
        let r = paper_row("bert-base/trec-50", true).unwrap();
        assert_eq!((r.acc, r.hidden, r.clusters), (90.36, [64, 32], 51));
        let r = paper_row("bert-small/dep", true).unwrap();
        assert_eq!((r.acc, r.std, r.similarity), (94.48, 0.14, Some(0.78)));
        // Fine-tuning improves accuracy in 24 of the 25 pairs (the exception: BERT-small PS-fxn).
        let mut drops = Vec::new();
        for m in MODELS {
            for t in TASKS {
                let pair = format!("{m}/{t}");
                let (o, f) = (
                    paper_row(&pair, false).unwrap(),
                    paper_row(&pair, true).unwrap(),
                );
                if f.acc < o.acc {
                    drops.push(pair);
                }
                // A similarity is printed exactly where both spaces are linear on train.
                assert_eq!(f.linear, f.similarity.is_some(), "{m}/{t}");
            }
        }
        assert_eq!(drops, ["bert-small/ps-fxn"]);
        let e = check_pair("bert-large/pos").unwrap_err();
        assert!(
            e.contains("bert-tiny, bert-mini") && e.contains("ps-role"),
            "{e}"
        );
    }
}
