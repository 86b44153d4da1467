//! Label × label distance matrices of a run, before, after and their change.

use super::*;

impl Builder {
    pub(crate) fn distances(&mut self, ctx: &Ctx, d: &DistanceMatrices) {
        let place = Place::Run(ctx.i, RunPart::Distances);
        let finite = d
            .before
            .iter()
            .chain(&d.after)
            .flatten()
            .copied()
            .filter(|v| v.is_finite());
        let (lo, hi) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let range = if lo.is_finite() {
            Some((lo.min(0.0), hi))
        } else {
            None
        };
        let heat = |title: String, values: Vec<Vec<f64>>, scale, range| Heatmap {
            title,
            x_label: "label".into(),
            y_label: "label".into(),
            row_labels: d.labels.clone(),
            col_labels: d.labels.clone(),
            values,
            scale,
            range,
        };
        let mut change = Vec::new();
        for (rb, ra) in d.before.iter().zip(&d.after) {
            change.push(
                rb.iter()
                    .zip(ra)
                    .map(|(b, a)| {
                        if b.is_finite() && a.is_finite() {
                            a - b
                        } else {
                            f64::NAN
                        }
                    })
                    .collect(),
            );
        }
        let mut csv = Csv::new(["label_a", "label_b", "before", "after", "change"]);
        for (i, a) in d.labels.iter().enumerate() {
            for (j, b) in d.labels.iter().enumerate() {
                let bv = d.before.get(i).map_or(f64::NAN, |r| at(r, j));
                let av = d.after.get(i).map_or(f64::NAN, |r| at(r, j));
                let ch = if bv.is_finite() && av.is_finite() {
                    av - bv
                } else {
                    f64::NAN
                };
                csv.row([a.clone(), b.clone(), cnum(bv), cnum(av), cnum(ch)]);
            }
        }
        let before = heat(
            format!(
                "{} — label distances, original, layer {}",
                ctx.title, d.layer
            ),
            d.before.clone(),
            ColorScale::Sequential,
            range,
        );
        let after = heat(
            format!(
                "{} — label distances, fine-tuned, layer {}",
                ctx.title, d.layer
            ),
            d.after.clone(),
            ColorScale::Sequential,
            range,
        );
        let delta = heat(
            format!(
                "{} — distance change (fine-tuned − original), layer {}",
                ctx.title, d.layer
            ),
            change,
            ColorScale::Diverging,
            None,
        );
        let csv2 = csv.clone();
        let csv3 = csv.clone();
        self.push(
            format!("{}-distances-original", ctx.prefix),
            place,
            "Distance between the convex hulls of each pair of labels, pre-trained encoder (∞: undefined; \
             grey: not computed). Same colour scale as the fine-tuned matrix.",
            before.render(),
            csv,
        );
        self.push(
            format!("{}-distances-finetuned", ctx.prefix),
            place,
            "The same distances after fine-tuning. Paper: distances between label clusters grow after \
             fine-tuning, which is how fine-tuning improves classification.",
            after.render(),
            csv2,
        );
        self.push(
            format!("{}-distances-change", ctx.prefix),
            place,
            "Change of each label-pair distance (red: moved apart, blue: moved closer). Paper: on the \
             fine-tuning task almost every distance increases (Table C: 40 inc / 0 dec on PS-fxn).",
            delta.render(),
            csv3,
        );
    }
}
