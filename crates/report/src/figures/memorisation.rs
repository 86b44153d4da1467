//! Memorisation learning curves of a run (subtrain, subtest, test).

use super::*;

impl Builder {
    pub(crate) fn memorisation(&mut self, ctx: &Ctx, m: &Memorisation) {
        let place = Place::Run(ctx.i, RunPart::Memorisation);
        let xs: Vec<f64> = m.epochs.iter().map(|&e| e as f64).collect();
        let all = [&m.before, &m.after];
        let finite: Vec<f64> = all
            .iter()
            .flat_map(|c| c.subtrain.iter().chain(&c.subtest).chain(&c.test).copied())
            .filter(|v| v.is_finite())
            .collect();
        let range = if finite.is_empty() {
            None
        } else {
            let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = finite.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Some((lo, hi))
        };
        for (key, title, c) in [
            ("original", "original", &m.before),
            ("finetuned", "fine-tuned", &m.after),
        ] {
            let mut chart = LineChart::new(
                &format!("{} — memorisation, {title}", ctx.title),
                "probe epoch",
                "accuracy",
            );
            chart.integer_x = true;
            chart.y_range = range;
            let mut csv = Csv::new(["subset", "epoch", "accuracy"]);
            for (k, (name, v)) in [
                ("subtrain", &c.subtrain),
                ("subtest", &c.subtest),
                ("test", &c.test),
            ]
            .into_iter()
            .enumerate()
            {
                chart.series.push(LineSeries {
                    name: name.into(),
                    points: xs.iter().enumerate().map(|(i, &x)| (x, at(v, i))).collect(),
                    band: Vec::new(),
                    color: svg::color(k).into(),
                    dashed: k == 2,
                    markers: xs.len() <= 20,
                });
                for (i, &e) in m.epochs.iter().enumerate() {
                    csv.row([name.to_string(), e.to_string(), cnum(at(v, i))]);
                }
            }
            let unseen = if m.subtest_unseen > 0 {
                format!(
                    " Note: {} of the {} subtest units were not seen by fine-tuning (cut off by the \
                     sub-word limit), so subtest is not entirely “seen”.",
                    m.subtest_unseen, m.subtest_units
                )
            } else {
                String::new()
            };
            self.push(
                format!("{}-memorisation-{key}", ctx.prefix),
                place,
                &format!(
                    "Probe trained on subtrain only; subtest was seen by fine-tuning but not by the probe, test by \
                     neither. Paper (v1, Fig. E, BERT-small): before fine-tuning subtest ≈ test below subtrain; after, \
                     subtest ≈ subtrain ≈ 1.0 while test stays lower — the encoder memorised the fine-tuning set.{unseen}"
                ),
                chart.render(),
                csv,
            );
        }
    }
}
