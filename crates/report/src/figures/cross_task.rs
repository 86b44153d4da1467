//! The cross-task table (paper Table C): mean distance change per encoder × probed task.

use super::*;

impl Builder {
    pub(crate) fn cross_task(&mut self, rows: &[CrossTaskRow]) {
        if rows.is_empty() {
            return;
        }
        let cats: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{} → {}",
                    r.finetuned_on.as_deref().unwrap_or("none"),
                    r.probing
                )
            })
            .collect();
        let chart = BarChart {
            title: "Cross-task fine-tuning: mean distance change".into(),
            y_label: "mean change of distance".into(),
            categories: cats,
            series: vec![BarSeries {
                name: "mean change".into(),
                values: rows
                    .iter()
                    .map(|r| r.mean_change().unwrap_or(f64::NAN))
                    .collect(),
                color: svg::AFTER_COLOR.into(),
            }],
            width: 600.0,
            y_range: None,
        };
        let mut csv = Csv::new([
            "finetuned_on",
            "probing",
            "n_inc",
            "n_dec",
            "mean_change",
            "acc",
        ]);
        for r in rows {
            csv.row([
                r.finetuned_on.clone().unwrap_or_default(),
                r.probing.clone(),
                r.n_inc().map(|v| v.to_string()).unwrap_or_default(),
                r.n_dec().map(|v| v.to_string()).unwrap_or_default(),
                cnum(r.mean_change().unwrap_or(f64::NAN)),
                cnum(r.acc_percent().unwrap_or(f64::NAN)),
            ]);
        }
        self.push(
            "cross-task-mean-change".into(),
            Place::CrossTask,
            "Mean change of label distances when the encoder is fine-tuned on one task and probed on another. \
             Paper (Table C, BERT-base, probing PS-fxn): fine-tuning on PS-fxn itself +5.29 (40 inc / 0 dec), \
             on the related PS-role +1.02 (27/13), on the conflicting POS −1.68 (0/40) with lower accuracy.",
            chart.render(),
            csv,
        );
    }
}
