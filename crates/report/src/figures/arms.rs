//! The fine-tuning arms side by side: per-layer curves per arm and the weight-space view.

use super::*;

impl Builder {
    pub(crate) fn arms(&mut self, a: &Arms) {
        let xs: Vec<f64> = a.layers.iter().map(|&v| v as f64).collect();
        for c in &a.curves {
            let (svg, csv) = Self::lines_chart(&c.title, &c.y_label, &xs, &c.lines);
            self.push(
                format!("arms-{}", slug(&c.key)),
                Place::Arms,
                &c.caption,
                svg,
                csv,
            );
        }
        let wx: Vec<f64> = a.weight_layers.iter().map(|&v| v as f64).collect();
        for w in &a.weights {
            let specs: [(&str, &str, &[NamedCurve], &str); 3] = [
                (
                    "relative-update",
                    "‖ΔW‖ / ‖W‖",
                    &w.relative,
                    "Relative weight update ‖ΔW‖_F / ‖W‖_F per layer and matrix (Q, K, V, attention \
                     output O, FFN in, FFN out); a LoRA arm's merged update is zero outside its targets.",
                ),
                (
                    "effective-rank",
                    "effective rank of ΔW",
                    &w.effective_rank,
                    "Effective rank (Roy & Vetterli 2007) of each weight update ΔW: at most r for a \
                     LoRA update, typically high for full fine-tuning.",
                ),
                (
                    "intruders",
                    "intruder dimensions (of top 10)",
                    &w.intruders,
                    "Intruder dimensions (Shuttleworth et al. 2024): top-10 singular vectors of the \
                     fine-tuned matrix whose best |cosine| with every pre-trained singular vector is \
                     below 0.5. The paper finds them in LoRA updates and rarely in full fine-tuning.",
                ),
            ];
            for (key, y, lines, caption) in specs {
                let title = format!("arm {} — {y}", w.arm);
                let (svg, csv) = Self::lines_chart(&title, y, &wx, lines);
                self.push(
                    format!("arms-{}-{key}", slug(&w.arm)),
                    Place::Arms,
                    caption,
                    svg,
                    csv,
                );
            }
        }
    }
}
