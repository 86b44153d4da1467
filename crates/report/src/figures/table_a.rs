//! Table A: probe accuracy before and after fine-tuning at the last layer.

use super::*;

impl Builder {
    pub(crate) fn table_a(&mut self, rows: &[TableAEntry]) {
        let mut cats: Vec<(String, String)> = Vec::new();
        for r in rows {
            let key = (r.task.clone(), r.model.clone());
            if !cats.contains(&key) {
                cats.push(key);
            }
        }
        if cats.is_empty() {
            return;
        }
        // The paper's Table A is the last layer: each task × model's deepest row.
        let last = |t: &String, m: &String| {
            rows.iter()
                .filter(|r| &r.task == t && &r.model == m)
                .map(|r| r.row.layer)
                .max()
        };
        let layers: Vec<Option<usize>> = cats.iter().map(|(t, m)| last(t, m)).collect();
        let acc = |v: Version| -> Vec<f64> {
            cats.iter()
                .zip(&layers)
                .map(|((t, m), l)| {
                    rows.iter()
                        .find(|r| {
                            &r.task == t
                                && &r.model == m
                                && r.version() == v
                                && Some(r.row.layer) == *l
                        })
                        .and_then(|r| r.row.acc_mean)
                        .unwrap_or(f64::NAN)
                })
                .collect()
        };
        let (before, after) = (acc(Version::Original), acc(Version::FineTuned));
        let finite: Vec<f64> = before
            .iter()
            .chain(&after)
            .copied()
            .filter(|v| v.is_finite())
            .collect();
        let lo = finite.iter().copied().fold(f64::INFINITY, f64::min);
        let chart = BarChart {
            title: "Probe accuracy before and after fine-tuning, last layer (Table A)".into(),
            y_label: "accuracy (%)".into(),
            categories: cats.iter().map(|(t, m)| format!("{t} · {m}")).collect(),
            series: vec![
                BarSeries {
                    name: "original".into(),
                    values: before.clone(),
                    color: svg::BEFORE_COLOR.into(),
                },
                BarSeries {
                    name: "fine-tuned".into(),
                    values: after.clone(),
                    color: svg::AFTER_COLOR.into(),
                },
            ],
            width: (200.0 + 70.0 * cats.len() as f64).clamp(520.0, 1100.0),
            y_range: if lo.is_finite() {
                Some(((lo - 5.0).max(0.0).floor(), 100.0))
            } else {
                None
            },
        };
        let mut csv = Csv::new(["task", "model", "layer", "acc_original", "acc_finetuned"]);
        for (i, (t, m)) in cats.iter().enumerate() {
            let layer = layers[i].map_or(String::new(), |l| l.to_string());
            csv.row([t.clone(), m.clone(), layer, cnum(before[i]), cnum(after[i])]);
        }
        self.push(
            "table-a-accuracy".into(),
            Place::TableA,
            "Classifier-probe test accuracy (mean over seeds) of the original and the fine-tuned encoder at \
             the last layer analysed. Paper (Table A): fine-tuning improves accuracy in 24 of 25 model × task pairs; the exception is \
             BERT-small on PS-fxn (86.26 → 85.08).",
            chart.render(),
            csv,
        );
    }
}
