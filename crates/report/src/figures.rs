//! Builds every figure of the report (SVG + CSV + caption) from [`ReportData`].

use std::collections::HashSet;

use crate::model::*;
use crate::svg::{
    self, BarChart, BarSeries, ColorScale, Heatmap, LineChart, LineSeries, Panel, Scatter,
    SmallMultiples,
};
use crate::MAX_SCATTER_POINTS;
use tunescope_data::csv::{num as cnum, Csv};

/// Where a figure belongs on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// Next to Table A.
    TableA,
    /// Next to the cross-task table.
    CrossTask,
    /// In the section `part` of run `runs[index]`.
    Run(usize, RunPart),
    /// In the fine-tuning arms' section.
    Arms,
    /// In a measures section (similarity, MDL, per-example changes).
    Measures(MeasurePart),
}

/// Which measures section a figure belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeasurePart {
    /// The similarity index `similarity.measures[i]`.
    Similarity(usize),
    /// MDL probes.
    Mdl,
    /// Per-example changes.
    Examples,
}

/// Sections of one task × model run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunPart {
    /// Per-layer series.
    Layers,
    /// Label distance matrices.
    Distances,
    /// PCA of units.
    Pca,
    /// Layer movement.
    Movement,
    /// Fine-tuning dynamics.
    Dynamics,
    /// Memorisation curves.
    Memorisation,
    /// Layer × layer CKA.
    Cka,
}

/// One rendered figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem, unique in the report (`[a-z0-9-]`).
    pub name: String,
    /// Where the figure goes on the page.
    pub place: Place,
    /// What the figure shows and what the paper found, for comparison.
    pub caption: String,
    /// The SVG document.
    pub svg: String,
    /// The plotted data as CSV (header row first).
    pub csv: String,
}

/// Lower-case ASCII slug (`[a-z0-9-]`, no leading/trailing/double dashes); `x` when empty.
pub fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    if out.is_empty() {
        out.push('x');
    }
    out
}

/// CSV text with RFC 4180 quoting.
fn at(v: &[f64], i: usize) -> f64 {
    v.get(i).copied().unwrap_or(f64::NAN)
}

/// The run a figure is built for: its index, figure-name prefix and title.
pub(crate) struct Ctx<'a> {
    pub(crate) i: usize,
    pub(crate) prefix: &'a str,
    pub(crate) title: String,
}

/// Collects figures with unique names.
#[derive(Default)]
pub(crate) struct Builder {
    pub(crate) figs: Vec<Figure>,
    names: HashSet<String>,
}

fn series_line(name: &str, xs: &[f64], s: &Series, color: &str, dashed: bool) -> LineSeries {
    let points = xs
        .iter()
        .enumerate()
        .map(|(i, &x)| (x, at(&s.values, i)))
        .collect();
    let band =
        s.ci.as_ref()
            .map(|b| {
                xs.iter()
                    .enumerate()
                    .map(|(i, &x)| (x, at(&b.lower, i), at(&b.upper, i)))
                    .collect()
            })
            .unwrap_or_default();
    LineSeries {
        name: name.into(),
        points,
        band,
        color: color.into(),
        dashed,
        markers: true,
    }
}

fn series_csv(csv: &mut Csv, name: &str, xs: &[f64], s: &Series) {
    for (i, &x) in xs.iter().enumerate() {
        let (lo, hi) =
            s.ci.as_ref()
                .map(|b| (at(&b.lower, i), at(&b.upper, i)))
                .unwrap_or((f64::NAN, f64::NAN));
        csv.row([
            name.to_string(),
            cnum(x),
            cnum(at(&s.values, i)),
            cnum(lo),
            cnum(hi),
        ]);
    }
}

/// Whether positive values span more than a factor of 50 (then a log axis reads better).
fn wide_positive_range(series: &[&Series]) -> bool {
    let pos = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = pos.fold((f64::INFINITY, 0.0f64), |(a, b), v| (a.min(v), b.max(v)));
    lo.is_finite() && hi / lo > 50.0
}

fn subsample(points: &[Point2]) -> Vec<(f64, f64, usize)> {
    let stride = points.len().div_ceil(MAX_SCATTER_POINTS).max(1);
    points
        .iter()
        .step_by(stride)
        .map(|p| (p.x, p.y, p.label))
        .collect()
}

impl Builder {
    pub(crate) fn push(
        &mut self,
        name: String,
        place: Place,
        caption: &str,
        svg: String,
        csv: Csv,
    ) {
        let mut unique = name.clone();
        let mut k = 2;
        while !self.names.insert(unique.clone()) {
            unique = format!("{name}-{k}");
            k += 1;
        }
        self.figs.push(Figure {
            name: unique,
            place,
            caption: caption.into(),
            svg,
            csv: csv.finish(),
        });
    }

    /// One chart of `lines` over the layers `xs` (CSV: line, layer, value).
    fn lines_chart(title: &str, y: &str, xs: &[f64], lines: &[NamedCurve]) -> (String, Csv) {
        let mut chart = LineChart::new(title, "layer", y);
        chart.integer_x = true;
        let mut csv = Csv::new(["line", "layer", "value"]);
        for (k, line) in lines.iter().enumerate() {
            let points: Vec<(f64, f64)> = xs
                .iter()
                .enumerate()
                .map(|(i, &x)| (x, at(&line.values, i)))
                .collect();
            for &(x, v) in &points {
                csv.row([line.name.clone(), cnum(x), cnum(v)]);
            }
            chart.series.push(LineSeries {
                name: line.name.clone(),
                points,
                color: svg::color(k).into(),
                dashed: line.name == "pre-trained",
                markers: true,
                ..Default::default()
            });
        }
        (chart.render(), csv)
    }

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

    pub(crate) fn table_a(&mut self, rows: &[TableARow]) {
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
                .map(|r| r.layer)
                .max()
        };
        let layers: Vec<Option<usize>> = cats.iter().map(|(t, m)| last(t, m)).collect();
        let acc = |v: Version| -> Vec<f64> {
            cats.iter()
                .zip(&layers)
                .map(|((t, m), l)| {
                    rows.iter()
                        .find(|r| {
                            &r.task == t && &r.model == m && r.version == v && Some(r.layer) == *l
                        })
                        .and_then(|r| r.acc_mean)
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
                    .map(|r| r.mean_change.unwrap_or(f64::NAN))
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
                r.n_inc.map(|v| v.to_string()).unwrap_or_default(),
                r.n_dec.map(|v| v.to_string()).unwrap_or_default(),
                cnum(r.mean_change.unwrap_or(f64::NAN)),
                cnum(r.acc.unwrap_or(f64::NAN)),
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

    pub(crate) fn cka(&mut self, ctx: &Ctx, c: &CkaMatrix) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_safe_file_stems() {
        assert_eq!(slug("PS-fxn"), "ps-fxn");
        assert_eq!(slug("../BERT base/"), "bert-base");
        assert_eq!(slug("<script>"), "script");
        assert_eq!(slug("日本"), "x");
    }

    #[test]
    fn registered_layer_measures_get_a_chart_each_with_their_notes() {
        let m = LayerMeasure {
            analysis: "geometry".into(),
            key: "effective_rank".into(),
            title: "Effective rank".into(),
            y_label: "effective rank".into(),
            caption: "Roy & Vetterli effective rank.".into(),
            layers: vec![0, 1],
            values: BeforeAfter {
                before: Series {
                    values: vec![3.0, 2.5],
                    ci: None,
                },
                after: Series {
                    values: vec![f64::NAN, 1.5],
                    ci: None,
                },
            },
            notes: vec!["fine-tuned layer 0: every row is the same vector".into()],
        };
        let data = ReportData {
            runs: vec![TaskModelReport {
                task: "POS".into(),
                model: "m".into(),
                layers: Some(LayerSeries {
                    layers: vec![0, 1],
                    measures: vec![m],
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        };
        let figs = crate::sections::build(&data);
        let f = figs
            .iter()
            .find(|f| f.name == "pos-m-layers-geometry-effective-rank")
            .expect("one chart per measure");
        assert!(
            f.caption.contains("Not computed: fine-tuned layer 0"),
            "{}",
            f.caption
        );
        assert!(f.csv.contains("original,0,3,,\n") && f.csv.contains("fine-tuned,0,,,\n"));
        assert!(f.svg.contains("Effective rank"));
    }

    #[test]
    fn duplicate_task_model_pairs_get_distinct_figure_names() {
        let run = TaskModelReport {
            task: "POS".into(),
            model: "m".into(),
            cka_layers: Some(CkaMatrix {
                rows: vec![0],
                cols: vec![0],
                values: vec![vec![1.0]],
            }),
            ..Default::default()
        };
        let data = ReportData {
            title: "t".into(),
            runs: vec![run.clone(), run],
            ..Default::default()
        };
        let figs = crate::sections::build(&data);
        let names: Vec<&str> = figs.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, vec!["pos-m-cka-layers", "pos-m-cka-layers-2"]);
    }

    #[test]
    fn table_a_chart_shows_the_last_layer() {
        let row = |layer: usize, version: Version, acc: f64| TableARow {
            model: "m".into(),
            task: "POS".into(),
            version,
            layer,
            acc_mean: Some(acc),
            acc_std: None,
            best_hidden: Vec::new(),
            n_clusters: None,
            is_linear: None,
            similarity: None,
            similarity_note: None,
            degenerate: false,
            ..Default::default()
        };
        let data = ReportData {
            title: "t".into(),
            table_a: vec![
                row(0, Version::Original, 50.0),
                row(0, Version::FineTuned, 51.0),
                row(6, Version::Original, 80.0),
                row(6, Version::FineTuned, 90.0),
            ],
            ..Default::default()
        };
        let figs = crate::sections::build(&data);
        let f = figs.iter().find(|f| f.name == "table-a-accuracy").unwrap();
        assert_eq!(
            f.csv,
            "task,model,layer,acc_original,acc_finetuned\nPOS,m,6,80,90\n"
        );
    }

    #[test]
    fn scatter_subsampling_caps_points_but_csv_keeps_all() {
        let pts: Vec<Point2> = (0..10_000)
            .map(|i| Point2 {
                x: i as f64,
                y: 0.0,
                label: i % 3,
            })
            .collect();
        assert!(subsample(&pts).len() <= MAX_SCATTER_POINTS);
        let run = TaskModelReport {
            task: "t".into(),
            model: "m".into(),
            pca: Some(PcaPoints {
                layer: 1,
                labels: vec!["a".into(), "b".into(), "c".into()],
                before: pts.clone(),
                after: pts,
            }),
            ..Default::default()
        };
        let figs = crate::sections::build(&ReportData {
            runs: vec![run],
            ..Default::default()
        });
        assert_eq!(figs.len(), 2);
        assert_eq!(figs[0].csv.lines().count(), 10_001);
        assert!(figs[0].svg.matches("<circle").count() <= MAX_SCATTER_POINTS + 3);
    }
}
