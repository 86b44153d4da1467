//! 2-D PCA of a run's units, before and after fine-tuning.

use super::*;

impl Builder {
    pub(crate) fn pca(&mut self, ctx: &Ctx, p: &PcaPoints) {
        let place = Place::Run(ctx.i, RunPart::Pca);
        for (key, title, pts) in [
            ("original", "original", &p.before),
            ("finetuned", "fine-tuned", &p.after),
        ] {
            let chart = Scatter {
                title: format!("{} — PCA of layer {} units, {title}", ctx.title, p.layer),
                x_label: "PC 1".into(),
                y_label: "PC 2".into(),
                categories: p.labels.clone(),
                points: subsample(pts),
                annotate: false,
                width: 640.0,
                height: 440.0,
            };
            let mut csv = Csv::new(["x", "y", "label"]);
            for q in pts.iter() {
                csv.row([
                    cnum(q.x),
                    cnum(q.y),
                    p.labels
                        .get(q.label)
                        .cloned()
                        .unwrap_or_else(|| q.label.to_string()),
                ]);
            }
            self.push(
                format!("{}-pca-{key}", ctx.prefix),
                place,
                "Units of one layer projected on their first two principal components, coloured by label. \
                 Paper: after fine-tuning, points of a label gather into fewer, tighter groups that lie further apart.",
                chart.render(),
                csv,
            );
        }
    }
}
