//! Layer movement of a run: centroid displacement and the directions of the label moves.

use super::*;

impl Builder {
    pub(crate) fn movement(&mut self, ctx: &Ctx, m: &LayerMovement) {
        let place = Place::Run(ctx.i, RunPart::Movement);
        let xs: Vec<f64> = m.layers.iter().map(|&v| v as f64).collect();
        let panels: Vec<Panel> = m
            .labels
            .iter()
            .enumerate()
            .map(|(i, lab)| Panel {
                title: lab.clone(),
                points: xs
                    .iter()
                    .enumerate()
                    .map(|(j, &x)| (x, m.displacement.get(i).map_or(f64::NAN, |r| at(r, j))))
                    .collect(),
            })
            .collect();
        let chart = SmallMultiples {
            title: format!("{} — centroid displacement per label", ctx.title),
            x_label: "layer".into(),
            y_label: "centroid displacement".into(),
            panels,
            columns: if m.labels.len() > 12 { 6 } else { 4 },
            color: svg::AFTER_COLOR.into(),
            integer_x: true,
        };
        let mut csv = Csv::new(["label", "layer", "displacement"]);
        for (i, lab) in m.labels.iter().enumerate() {
            for (j, &l) in m.layers.iter().enumerate() {
                csv.row([
                    lab.clone(),
                    l.to_string(),
                    cnum(m.displacement.get(i).map_or(f64::NAN, |r| at(r, j))),
                ]);
            }
        }
        self.push(
            format!("{}-movement", ctx.prefix),
            place,
            "Euclidean distance between each label's centroid before and after fine-tuning, per layer. \
             Paper (Fig. N, BERT-base POS): displacement grows with depth, from ≈3–5 at layer 1 to \
             ≈15–25 at layer 11, slightly lower at layer 12 (PUNCT is an exception).",
            chart.render(),
            csv,
        );
        for lp in &m.difference_pca {
            let chart = Scatter {
                title: format!(
                    "{} — PCA of centroid differences, layer {}",
                    ctx.title, lp.layer
                ),
                x_label: "PC 1".into(),
                y_label: "PC 2".into(),
                categories: m.labels.clone(),
                points: lp.points.iter().map(|p| (p.x, p.y, p.label)).collect(),
                annotate: true,
                width: 480.0,
                height: 380.0,
            };
            let mut csv = Csv::new(["label", "x", "y"]);
            for p in &lp.points {
                csv.row([
                    m.labels
                        .get(p.label)
                        .cloned()
                        .unwrap_or_else(|| p.label.to_string()),
                    cnum(p.x),
                    cnum(p.y),
                ]);
            }
            self.push(
                format!("{}-movement-directions-layer-{}", ctx.prefix, lp.layer),
                place,
                "PCA of the per-label difference vectors (fine-tuned − original centroid). Paper (Fig. P): \
                 lower layers move in a small region and few directions (layer 2 spans ≈4 units), higher \
                 layers spread widely (layer 12 spans ≈25).",
                chart.render(),
                csv,
            );
        }
    }
}
