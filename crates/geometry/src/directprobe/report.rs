//! Text layouts of the original tools' output files (utahnlp/DirectProbe and
//! utahnlp/BERT-fine-tuning-analysis). Label names are looked up by label index.

use super::{ClusterDistance, Clustering, LabelMetrics, Prediction};
use std::fmt::Write;

/// `clusters.txt`: one cluster id per training point.
pub fn clusters_txt(c: &Clustering) -> String {
    let mut s = String::with_capacity(c.assignment.len() * 4);
    for id in &c.assignment {
        writeln!(s, "{id}").expect("write to String");
    }
    s
}

/// `dis.txt`: `(i-A, j-B): d` per pair of differently-labelled clusters.
pub fn dis_txt(c: &Clustering, dists: &[ClusterDistance], names: &[String]) -> String {
    let mut s = String::new();
    for cd in dists {
        writeln!(
            s,
            "({}-{}, {}-{}): {:.4}",
            cd.i, names[c.clusters[cd.i].label], cd.j, names[c.clusters[cd.j].label], cd.distance
        )
        .expect("write to String");
    }
    s
}

/// `prediction.txt`: gold label, then `clusterId-label,dist` by increasing distance, tab-separated.
pub fn prediction_txt(preds: &[Prediction], gold: &[usize], names: &[String]) -> String {
    let mut s = String::new();
    for (p, &g) in preds.iter().zip(gold) {
        s.push_str(&names[g]);
        for &(k, l, d) in &p.ranking {
            write!(s, "\t{k}-{},{d:.4}", names[l]).expect("write to String");
        }
        s.push('\n');
    }
    s
}

/// `vec.txt`: `A---B,d` per label pair a < b.
pub fn vec_txt(m: &LabelMetrics, names: &[String]) -> String {
    let mut s = String::new();
    for &(a, b, d) in &m.vec {
        writeln!(s, "{}---{},{d:.4}", names[a], names[b]).expect("write to String");
    }
    s
}

/// `outside_min.txt` / `inside_mean.txt` / `inside_max.txt`: `label,value` per label.
pub fn per_label_txt(values: &[f64], names: &[String]) -> String {
    let mut s = String::new();
    for (v, name) in values.iter().zip(names) {
        writeln!(s, "{name},{v:.4}").expect("write to String");
    }
    s
}
