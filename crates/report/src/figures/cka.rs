//! Layer × layer CKA of a run.

use super::*;

impl Builder {
    pub(crate) fn cka(&mut self, ctx: &Ctx, c: &CkaLayers) {
        let h = Heatmap {
            title: format!(
                "{} — CKA between layers (pre-trained × fine-tuned)",
                ctx.title
            ),
            x_label: "fine-tuned layer".into(),
            y_label: "pre-trained layer".into(),
            row_labels: c.rows.iter().map(|l| l.to_string()).collect(),
            col_labels: c.cols.iter().map(|l| l.to_string()).collect(),
            values: c.values.clone(),
            scale: ColorScale::Sequential,
            range: Some((0.0, 1.0)),
        };
        let mut csv = Csv::new(["pretrained_layer", "finetuned_layer", "cka"]);
        for (i, r) in c.rows.iter().enumerate() {
            for (j, col) in c.cols.iter().enumerate() {
                csv.row([
                    r.to_string(),
                    col.to_string(),
                    cnum(c.values.get(i).map_or(f64::NAN, |row| at(row, j))),
                ]);
            }
        }
        self.push(
            format!("{}-cka-layers", ctx.prefix),
            Place::Run(ctx.i, RunPart::Cka),
            "Linear CKA between every pre-trained layer and every fine-tuned layer. A bright diagonal means \
             each layer stays most similar to its own pre-trained version; paper: lower layers are nearly \
             unchanged, upper layers diverge most.",
            h.render(),
            csv,
        );
    }
}
