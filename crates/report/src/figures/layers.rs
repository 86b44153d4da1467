//! Per-layer series of a run: probe accuracy, clusters, distances, CKA and the registered per-layer measures.

use super::*;

impl Builder {
    pub(crate) fn layers(&mut self, ctx: &Ctx, l: &LayerSeries) {
        let xs: Vec<f64> = l.layers.iter().map(|&v| v as f64).collect();
        let place = Place::Run(ctx.i, RunPart::Layers);
        let specs: [(&str, &str, &str, Option<&BeforeAfter>, &str); 3] = [
            (
                "probe-accuracy",
                "Probe accuracy per layer",
                "accuracy (%)",
                l.probe_accuracy.as_ref(),
                "Classifier-probe accuracy per layer (band: 95 % CI over seeds). Paper: fine-tuning \
                 raises last-layer accuracy almost always, with one exception (BERT-small, PS-fxn).",
            ),
            (
                "clusters",
                "DirectProbe clusters per layer",
                "number of clusters",
                l.clusters.as_ref(),
                "Number of DirectProbe clusters on the training set (log scale when the counts span \
                 orders of magnitude); one cluster per label means linearly separable. Paper: fine-tuning groups same-label points into fewer clusters \
                 (BERT-tiny POS 3936 → 20; TREC-50 399 → 51).",
            ),
            (
                "min-distance",
                "Minimum distance between label clusters",
                "minimum distance",
                l.min_distance.as_ref(),
                "Minimum distance between clusters of different labels. Paper: fine-tuning pushes \
                 clusters of different labels apart, leaving larger separating regions.",
            ),
        ];
        for (key, title, ylab, ba, caption) in specs {
            let Some(ba) = ba else { continue };
            let mut chart = LineChart::new(&format!("{} — {title}", ctx.title), "layer", ylab);
            chart.integer_x = true;
            chart.log_y = key == "clusters" && wide_positive_range(&[&ba.before, &ba.after]);
            chart.series.push(series_line(
                "original",
                &xs,
                &ba.before,
                svg::BEFORE_COLOR,
                true,
            ));
            chart.series.push(series_line(
                "fine-tuned",
                &xs,
                &ba.after,
                svg::AFTER_COLOR,
                false,
            ));
            let mut csv = Csv::new(["version", "layer", "value", "ci_lower", "ci_upper"]);
            series_csv(&mut csv, "original", &xs, &ba.before);
            series_csv(&mut csv, "fine-tuned", &xs, &ba.after);
            self.push(
                format!("{}-layers-{key}", ctx.prefix),
                place,
                caption,
                chart.render(),
                csv,
            );
        }
        if let Some(s) = &l.cka_pre_post {
            let mut chart = LineChart::new(
                &format!(
                    "{} — debiased CKA(pre-trained, fine-tuned) per layer",
                    ctx.title
                ),
                "layer",
                "debiased CKA (similarity)",
            );
            chart.integer_x = true;
            chart.y_range = Some((0.0, 1.0));
            chart
                .series
                .push(series_line("CKA", &xs, s, svg::AFTER_COLOR, false));
            let mut csv = Csv::new(["series", "layer", "value", "ci_lower", "ci_upper"]);
            series_csv(&mut csv, "cka", &xs, s);
            self.push(
                format!("{}-layers-cka", ctx.prefix),
                place,
                "Debiased CKA (a similarity; near 0 by chance, linear CKA and the permutation nulls are in \
                 the calibrated-similarity section) of each layer before and after fine-tuning. Paper: higher layers \
                 change more than lower ones, yet keep the pre-trained structure (correlation > 0.5).",
                chart.render(),
                csv,
            );
        }
        for m in &l.measures {
            let xs: Vec<f64> = m.layers.iter().map(|&v| v as f64).collect();
            let mut chart =
                LineChart::new(&format!("{} — {}", ctx.title, m.title), "layer", &m.y_label);
            chart.integer_x = true;
            chart.series.push(series_line(
                "original",
                &xs,
                &m.values.before,
                svg::BEFORE_COLOR,
                true,
            ));
            chart.series.push(series_line(
                "fine-tuned",
                &xs,
                &m.values.after,
                svg::AFTER_COLOR,
                false,
            ));
            let mut csv = Csv::new(["version", "layer", "value", "ci_lower", "ci_upper"]);
            series_csv(&mut csv, "original", &xs, &m.values.before);
            series_csv(&mut csv, "fine-tuned", &xs, &m.values.after);
            let caption = match m.notes.as_slice() {
                [] => m.caption.clone(),
                notes => format!("{} Not computed: {}.", m.caption, notes.join("; ")),
            };
            self.push(
                format!(
                    "{}-layers-{}-{}",
                    ctx.prefix,
                    slug(&m.analysis),
                    slug(&m.key)
                ),
                place,
                &caption,
                chart.render(),
                csv,
            );
        }
    }
}
