//! Builds every figure of the report (SVG + CSV + caption) from [`ReportData`]: the shared
//! figure types and helpers here, one file per report section beside it.

use std::collections::HashSet;

use crate::model::*;
use crate::svg::{
    self, BarChart, BarSeries, ColorScale, Heatmap, LineChart, LineSeries, Panel, Scatter,
    SmallMultiples,
};
use crate::MAX_SCATTER_POINTS;
use tunescope_data::csv::{num as cnum, Csv};

mod arms;
mod cka;
mod cross_task;
mod distances;
mod dynamics;
mod layers;
mod memorisation;
mod movement;
mod pca;
mod table_a;

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
    /// Adds a figure, its name made unique (`-2`, `-3`, … on a clash); also used by figure
    /// builders outside this module (e.g. the dynamics measures').
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
}

#[cfg(test)]
mod tests;
