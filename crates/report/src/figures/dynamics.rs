//! Fine-tuning dynamics of a run over checkpoints.

use super::*;

impl Builder {
    pub(crate) fn dynamics(&mut self, ctx: &Ctx, d: &Dynamics) {
        let place = Place::Run(ctx.i, RunPart::Dynamics);
        let xs: Vec<f64> = d.updates.iter().map(|&u| u as f64).collect();
        let curve = |c: &NamedCurve, color: &str, dashed: bool| LineSeries {
            name: c.name.clone(),
            points: xs
                .iter()
                .enumerate()
                .map(|(i, &x)| (x, at(&c.values, i)))
                .collect(),
            band: Vec::new(),
            color: color.into(),
            dashed,
            markers: xs.len() <= 30,
        };
        let curves_csv = |groups: &[(&str, &[NamedCurve])]| {
            let mut csv = Csv::new(["group", "name", "update", "value"]);
            for (g, cs) in groups {
                for c in cs.iter() {
                    for (i, &u) in d.updates.iter().enumerate() {
                        csv.row([
                            g.to_string(),
                            c.name.clone(),
                            u.to_string(),
                            cnum(at(&c.values, i)),
                        ]);
                    }
                }
            }
            csv
        };
        if !d.most_increased.is_empty() || !d.least_increased.is_empty() {
            let mut chart = LineChart::new(
                &format!(
                    "{} — minimum distance to other labels, layer {}",
                    ctx.title, d.layer
                ),
                "fine-tuning updates",
                "minimum distance",
            );
            chart.width = 720.0;
            let n = d.most_increased.len();
            for (k, c) in d.most_increased.iter().enumerate() {
                chart.series.push(curve(c, svg::color(k), false));
            }
            for (k, c) in d.least_increased.iter().enumerate() {
                chart.series.push(curve(c, svg::color(n + k), true));
            }
            self.push(
                format!("{}-dynamics-min-distance", ctx.prefix),
                place,
                "Each label's minimum distance to the other labels over fine-tuning; solid: the three most \
                 increased labels, dashed: the three least increased. Paper (Fig. L): distances trend upward \
                 but not monotonically (e.g. POS: CCONJ, SYM, PUNCT reach ≈11–15; PART, NOUN, ADJ stay ≈1.2–1.8).",
                chart.render(),
                curves_csv(&[("most_increased", &d.most_increased), ("least_increased", &d.least_increased)]),
            );
        }
        if !d.layer_similarity.is_empty() {
            let mut chart = LineChart::new(
                &format!("{} — similarity to the pre-trained distances", ctx.title),
                "fine-tuning updates",
                "Pearson correlation",
            );
            chart.width = 720.0;
            let lo = d
                .layer_similarity
                .iter()
                .flat_map(|c| c.values.iter().copied())
                .filter(|v| v.is_finite())
                .fold(0.0, f64::min);
            chart.y_range = Some((lo, 1.0));
            for (k, c) in d.layer_similarity.iter().enumerate() {
                chart.series.push(curve(c, svg::color(k), false));
            }
            let caption = format!(
                "Pearson correlation between each layer's label-pair distance vector during fine-tuning and \
                 the pre-trained one. Paper (Fig. O): lower layers stay ≈1.0, higher layers drop most but stay \
                 above 0.5 (POS layer 12 ≈0.65). A layer marked “not linear” has more clusters than labels: the \
                 paper defines this similarity only for linear spaces, so read its curve with care.{}",
                d.similarity_note
                    .as_ref()
                    .map_or(String::new(), |n| format!(" {n}"))
            );
            self.push(
                format!("{}-dynamics-layer-similarity", ctx.prefix),
                place,
                &caption,
                chart.render(),
                curves_csv(&[("layer_similarity", &d.layer_similarity)]),
            );
        }
        for cp in &d.centroid_paths {
            let mut chart = LineChart::new(
                &format!(
                    "{} — centroid paths during fine-tuning, layer {}",
                    ctx.title, cp.layer
                ),
                "PC 1",
                "PC 2",
            );
            let mut csv = Csv::new(["label", "step", "x", "y"]);
            for (k, p) in cp.paths.iter().enumerate() {
                chart.series.push(LineSeries {
                    name: p.label.clone(),
                    points: p.points.iter().map(|q| (q[0], q[1])).collect(),
                    band: Vec::new(),
                    color: svg::color(k).into(),
                    dashed: false,
                    markers: true,
                });
                for (s, q) in p.points.iter().enumerate() {
                    csv.row([p.label.clone(), s.to_string(), cnum(q[0]), cnum(q[1])]);
                }
            }
            self.push(
                format!("{}-dynamics-centroids-layer-{}", ctx.prefix, cp.layer),
                place,
                "Path of each label's centroid over the fine-tuning checkpoints, in a shared 2-D PCA. Paper \
                 (Fig. M, BERT-base POS): at layer 1 ADJ/VERB/NOUN barely move (±0.5); at layer 12 they start \
                 close and end far apart (paths span ≈12 units).",
                chart.render(),
                csv,
            );
        }
    }
}
