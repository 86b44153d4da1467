//! The compact terminal table of `tunescope compare`.

use crate::io::{FINETUNED, PRETRAINED};
use crate::results::CompareResults;
use std::fmt::Write;

fn pair<T>(b: Option<T>, a: Option<T>, f: impl Fn(T) -> String) -> String {
    let s = |v: Option<T>| v.map_or("–".to_string(), &f);
    format!("{} → {}", s(b), s(a))
}

/// One line per layer: the MLP probe's and the linear probe's accuracy, #clusters, the min
/// distance (label-pair mean) and the min cluster-pair distance before → after, and CKA; then
/// the findings with their verdicts and the run's notes.
pub fn terminal_table(r: &CompareResults) -> String {
    let mut rows = vec![[
        "layer".to_string(),
        "MLP acc % before → after".into(),
        "linear acc %".into(),
        "#clusters before → after".into(),
        "min dist before → after".into(),
        "min cluster-pair".into(),
        "CKA".into(),
    ]];
    for &l in &r.layers {
        let get = |v: &str| r.table_a.iter().find(|t| t.layer == l && t.version == v);
        let (b, a) = (get(PRETRAINED), get(FINETUNED));
        let cka = r
            .similarity
            .iter()
            .find(|s| s.layer == l)
            .and_then(|s| s.indices.cka);
        rows.push([
            l.to_string(),
            pair(
                b.and_then(|t| t.acc_mean),
                a.and_then(|t| t.acc_mean),
                |x| format!("{x:.2}"),
            ),
            pair(
                b.and_then(|t| t.linear_acc_mean),
                a.and_then(|t| t.linear_acc_mean),
                |x| format!("{x:.2}"),
            ),
            pair(b.map(|t| t.n_clusters), a.map(|t| t.n_clusters), |x| {
                x.to_string()
            }),
            pair(
                b.and_then(|t| t.min_distance),
                a.and_then(|t| t.min_distance),
                |x| format!("{x:.3}"),
            ),
            pair(
                b.and_then(|t| t.min_cluster_pair_distance),
                a.and_then(|t| t.min_cluster_pair_distance),
                |x| format!("{x:.3}"),
            ),
            cka.map_or("–".into(), |x| format!("{x:.3}")),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:>w$}"))
            .collect();
        writeln!(out, "{}", cells.join("  ")).expect("write to String");
        if i == 0 {
            writeln!(
                out,
                "{}",
                "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
            )
            .expect("write to String");
        }
    }
    for f in &r.findings {
        let verdict = match f.holds {
            Some(true) => "holds",
            Some(false) => "does not hold",
            None => "not checked",
        };
        writeln!(out, "* {}: {verdict} ({})", f.claim, f.evidence).expect("write to String");
    }
    for n in &r.notes {
        writeln!(out, "note: {n}").expect("write to String");
    }
    out
}
