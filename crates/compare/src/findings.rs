//! Checks the fine-tuning paper's layer-level findings on a run's numbers.

use crate::io::{FINETUNED, PRETRAINED};
use crate::results::{CompareResults, Finding};
use tunescope_geometry::stats::spearman;

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("–".into(), |x| format!("{x:.3}"))
}

/// Spearman correlation between layer index and `values` over the layers where a value is
/// defined; `None` with fewer than 3 such layers or when undefined.
fn trend(layers: &[usize], values: &[Option<f64>]) -> Option<f64> {
    let (x, y): (Vec<f64>, Vec<f64>) = layers
        .iter()
        .zip(values)
        .filter_map(|(&l, v)| v.map(|v| (l as f64, v)))
        .unzip();
    if x.len() < 3 {
        return None;
    }
    spearman(&x, &y).ok()
}

/// The four findings the compare stage can check: fewer or equal clusters after fine-tuning,
/// most labels' minimum distance grows (last layer), upper layers move more than lower ones,
/// lower layers keep higher similarity to their pre-trained version.
pub fn check_findings(r: &CompareResults) -> Vec<Finding> {
    let unknown = |claim: &str| Finding {
        claim: claim.into(),
        holds: None,
        evidence: "needs fine-tuned representations".into(),
    };
    let claims = [
        "fine-tuning gives fewer or equal DirectProbe clusters (train)",
        "most labels' minimum distance to other labels grows (last layer)",
        "upper layers move more than lower ones (mean centroid displacement rises with depth)",
        "lower layers keep higher similarity to the pre-trained version",
    ];
    if !r.has_finetuned {
        return claims.iter().map(|c| unknown(c)).collect();
    }
    let mut out = Vec::new();

    let row = |layer: usize, version: &str| {
        r.table_a
            .iter()
            .find(|t| t.layer == layer && t.version == version)
    };
    let mut ok = 0;
    let mut parts = Vec::new();
    for &l in &r.layers {
        if let (Some(b), Some(a)) = (row(l, PRETRAINED), row(l, FINETUNED)) {
            ok += usize::from(a.n_clusters <= b.n_clusters);
            parts.push(format!("L{l} {}→{}", b.n_clusters, a.n_clusters));
        }
    }
    out.push(Finding {
        claim: claims[0].into(),
        holds: Some(ok == r.layers.len()),
        evidence: format!("{ok} of {} layers; {}", r.layers.len(), parts.join(", ")),
    });

    let per_layer: Vec<String> = r
        .label_distances
        .iter()
        .filter_map(|l| {
            l.change.as_ref().map(|c| {
                format!(
                    "L{}: {} grew, {} shrank of {} (mean {})",
                    l.layer,
                    c.n_grew,
                    c.n_shrank,
                    c.n_grew + c.n_shrank + c.n_unchanged,
                    fmt_opt(c.mean_change)
                )
            })
        })
        .collect();
    let last = r.label_distances.last().and_then(|l| l.change.as_ref());
    out.push(Finding {
        claim: claims[1].into(),
        holds: last.map(|c| 2 * c.n_grew > c.n_grew + c.n_shrank + c.n_unchanged),
        evidence: per_layer.join("; "),
    });

    let disp: Vec<Option<f64>> = r
        .layer_movement
        .iter()
        .map(|m| m.mean_displacement)
        .collect();
    let layers: Vec<usize> = r.layer_movement.iter().map(|m| m.layer).collect();
    let rho = trend(&layers, &disp);
    out.push(Finding {
        claim: claims[2].into(),
        holds: rho.map(|x| x > 0.0),
        evidence: format!(
            "Spearman(layer, displacement) = {}; {}",
            fmt_opt(rho),
            layers
                .iter()
                .zip(&disp)
                .map(|(l, d)| format!("L{l} {}", fmt_opt(*d)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });

    let spatial: Vec<Option<f64>> = r.similarity.iter().map(|s| s.spatial.pearson).collect();
    let cka: Vec<Option<f64>> = r.similarity.iter().map(|s| s.indices.cka).collect();
    let sl: Vec<usize> = r.similarity.iter().map(|s| s.layer).collect();
    let (rho_s, rho_c) = (trend(&sl, &spatial), trend(&sl, &cka));
    let (rho, basis) = match rho_s {
        Some(v) => (Some(v), "spatial similarity"),
        None => (
            rho_c,
            "CKA (spatial similarity defined on fewer than 3 layers)",
        ),
    };
    out.push(Finding {
        claim: claims[3].into(),
        holds: rho.map(|x| x < 0.0),
        evidence: format!(
            "judged on {basis}; Spearman(layer, spatial) = {}, Spearman(layer, CKA) = {}; \
             spatial {}; CKA {}",
            fmt_opt(rho_s),
            fmt_opt(rho_c),
            sl.iter()
                .zip(&spatial)
                .map(|(l, v)| format!("L{l} {}", fmt_opt(*v)))
                .collect::<Vec<_>>()
                .join(", "),
            sl.iter()
                .zip(&cka)
                .map(|(l, v)| format!("L{l} {}", fmt_opt(*v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    });
    out
}
