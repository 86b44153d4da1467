//! Heatmaps with a sequential or diverging colour scale.

use std::fmt::Write as _;

use super::*;

/// Colour scale of a [`Heatmap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorScale {
    /// Light to dark (viridis-like), for non-negative magnitudes.
    Sequential,
    /// Blue–white–red, symmetric around zero, for signed changes.
    Diverging,
}

const VIRIDIS: [(f64, f64, f64); 6] = [
    (253.0, 231.0, 37.0),
    (122.0, 209.0, 81.0),
    (34.0, 168.0, 132.0),
    (42.0, 120.0, 142.0),
    (65.0, 68.0, 135.0),
    (68.0, 1.0, 84.0),
];
const DIVERGING: [(f64, f64, f64); 5] = [
    (33.0, 102.0, 172.0),
    (146.0, 197.0, 222.0),
    (247.0, 247.0, 247.0),
    (244.0, 165.0, 130.0),
    (178.0, 24.0, 43.0),
];

fn interp(stops: &[(f64, f64, f64)], t: f64) -> String {
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let pos = t * (stops.len() - 1) as f64;
    let i = (pos.floor() as usize).min(stops.len() - 2);
    let f = pos - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let c = |x: f64, y: f64| (x + (y - x) * f).round() as u8;
    format!("#{:02x}{:02x}{:02x}", c(a.0, b.0), c(a.1, b.1), c(a.2, b.2))
}

impl ColorScale {
    /// Colour of `t` in [0, 1] (0 = low end).
    pub fn at(self, t: f64) -> String {
        match self {
            ColorScale::Sequential => interp(&VIRIDIS, t),
            ColorScale::Diverging => interp(&DIVERGING, t),
        }
    }
}

fn luminance(hex: &str) -> f64 {
    let p = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0) as f64 / 255.0;
    0.299 * p(1) + 0.587 * p(3) + 0.114 * p(5)
}

/// Matrix heatmap with row/column labels, a colour-scale legend and per-cell tooltips.
/// `+∞` cells are white with an ∞ sign; NaN cells are grey ("undefined").
#[derive(Debug, Clone)]
pub struct Heatmap {
    /// Title.
    pub title: String,
    /// Label under the columns.
    pub x_label: String,
    /// Label beside the rows.
    pub y_label: String,
    /// Row names.
    pub row_labels: Vec<String>,
    /// Column names.
    pub col_labels: Vec<String>,
    /// `values[row][col]`; ragged rows are padded with NaN.
    pub values: Vec<Vec<f64>>,
    /// Colour scale.
    pub scale: ColorScale,
    /// Fixed value range; default: finite data range (symmetric around 0 when diverging).
    pub range: Option<(f64, f64)>,
}

impl Heatmap {
    /// Renders the heatmap as an SVG document.
    pub fn render(&self) -> String {
        let rows = self.values.len().max(self.row_labels.len());
        let cols = self
            .values
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.col_labels.len());
        let get = |r: usize, c: usize| {
            self.values
                .get(r)
                .and_then(|row| row.get(c))
                .copied()
                .unwrap_or(f64::NAN)
        };
        let label = |v: &[String], i: usize| v.get(i).cloned().unwrap_or_else(|| i.to_string());
        let cell = (560.0 / rows.max(cols).max(1) as f64).clamp(9.0, 40.0);
        let lab_size = if cell < 13.0 { 9.0 } else { TICK_SIZE };
        let max_chars = 20;
        let row_w = (0..rows)
            .map(|i| text_width(&truncate(&label(&self.row_labels, i), max_chars), lab_size))
            .fold(0.0, f64::max);
        let col_w = (0..cols)
            .map(|i| text_width(&truncate(&label(&self.col_labels, i), max_chars), lab_size))
            .fold(0.0, f64::max);
        let rotate = col_w > cell - 2.0;
        let col_band = if rotate {
            col_w * 0.75 + 12.0
        } else {
            lab_size + 10.0
        };
        let left = 34.0 + row_w + 8.0;
        let grid_w = cols as f64 * cell;
        let grid_h = rows as f64 * cell;
        let legend_w = 110.0;
        let width = (left + grid_w + 24.0 + legend_w).max(360.0);
        let top = plot_top(&self.title, width);
        let height = (top + grid_h + col_band + 30.0).max(top + 200.0);
        let mut out = String::new();
        svg_open(&mut out, width, height, &self.title);
        let mut finite: Vec<f64> = Vec::new();
        let (mut has_inf, mut has_nan) = (false, false);
        for r in 0..rows {
            for c in 0..cols {
                let v = get(r, c);
                if v.is_finite() {
                    finite.push(v);
                } else if v.is_nan() {
                    has_nan = true;
                } else {
                    has_inf = true;
                }
            }
        }
        if rows == 0 || cols == 0 {
            return no_data_chart(out, 40.0, top, width - 60.0, height - top - 20.0);
        }
        let (mut lo, mut hi) = finite
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
                (a.min(v), b.max(v))
            });
        if let Some((a, b)) = self.range {
            lo = a;
            hi = b;
        } else if !lo.is_finite() {
            lo = 0.0;
            hi = 1.0;
        } else if self.scale == ColorScale::Diverging {
            let m = lo.abs().max(hi.abs()).max(f64::MIN_POSITIVE);
            lo = -m;
            hi = m;
        }
        if hi <= lo {
            hi = lo + 1.0;
        }
        let t_of = |v: f64| (v - lo) / (hi - lo);
        let annotate = cell >= 30.0;
        out.push_str("<g class=\"cells\">");
        for r in 0..rows {
            for c in 0..cols {
                let v = get(r, c);
                let (x, y) = (left + c as f64 * cell, top + r as f64 * cell);
                let fill = if v.is_nan() {
                    "#d9d9d9".to_string()
                } else if v.is_infinite() {
                    "#ffffff".to_string()
                } else {
                    self.scale.at(t_of(v))
                };
                let tip = format!(
                    "{} × {}: {}",
                    label(&self.row_labels, r),
                    label(&self.col_labels, c),
                    fmt_value(v)
                );
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{s}\" height=\"{s}\" fill=\"{fill}\" stroke=\"#fff\" stroke-width=\"0.5\"><title>{}</title></rect>",
                    num(x),
                    num(y),
                    esc(&tip),
                    s = num(cell)
                );
                let ink = if luminance(&fill) < 0.5 {
                    "#fff"
                } else {
                    "#222"
                };
                if v.is_infinite() {
                    let _ = write!(
                        out,
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"{}\" fill=\"#555\" pointer-events=\"none\">{}</text>",
                        num(x + cell / 2.0),
                        num(y + cell / 2.0 + cell * 0.2),
                        num((cell * 0.6).min(14.0)),
                        if v > 0.0 { "∞" } else { "−∞" }
                    );
                } else if annotate && v.is_finite() {
                    let _ = write!(
                        out,
                        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"9\" fill=\"{ink}\" pointer-events=\"none\">{}</text>",
                        num(x + cell / 2.0),
                        num(y + cell / 2.0 + 3.0),
                        esc(&short_value(v))
                    );
                }
            }
        }
        out.push_str("</g><g class=\"row-labels\">");
        for r in 0..rows {
            let y = top + r as f64 * cell + cell / 2.0 + lab_size * 0.35;
            label_text(
                &mut out,
                (left - 6.0, y),
                "end",
                lab_size,
                &label(&self.row_labels, r),
                max_chars,
                "",
            );
        }
        out.push_str("</g><g class=\"col-labels\">");
        for c in 0..cols {
            let x = left + c as f64 * cell + cell / 2.0;
            let y = top + grid_h + 6.0;
            let name = label(&self.col_labels, c);
            if rotate {
                label_text(
                    &mut out,
                    (x + lab_size * 0.3, y),
                    "end",
                    lab_size,
                    &name,
                    max_chars,
                    &format!(
                        " transform=\"rotate(-45 {} {})\"",
                        num(x + lab_size * 0.3),
                        num(y)
                    ),
                );
            } else {
                label_text(
                    &mut out,
                    (x, y + lab_size),
                    "middle",
                    lab_size,
                    &name,
                    max_chars,
                    "",
                );
            }
        }
        out.push_str("</g>");
        if !self.x_label.is_empty() {
            text(
                &mut out,
                left + grid_w / 2.0,
                top + grid_h + col_band + 18.0,
                "middle",
                LABEL_SIZE,
                &self.x_label,
                " class=\"axis-label\"",
            );
        }
        if !self.y_label.is_empty() {
            let cx = 16.0;
            let cy = top + grid_h / 2.0;
            text(
                &mut out,
                cx,
                cy,
                "middle",
                LABEL_SIZE,
                &self.y_label,
                &format!(
                    " class=\"axis-label\" transform=\"rotate(-90 {} {})\"",
                    num(cx),
                    num(cy)
                ),
            );
        }
        let lx = left + grid_w + 24.0;
        let bar_h = grid_h.clamp(120.0, 240.0);
        let steps = 48;
        out.push_str("<g class=\"color-legend\">");
        for i in 0..steps {
            let t = 1.0 - (i as f64 + 0.5) / steps as f64;
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"{}\" fill=\"{}\"/>",
                num(lx),
                num(top + i as f64 * bar_h / steps as f64),
                num(bar_h / steps as f64 + 0.5),
                self.scale.at(t)
            );
        }
        let lt = inner_ticks(lo, hi);
        for &v in lt
            .values
            .iter()
            .filter(|v| **v >= lo - 1e-12 && **v <= hi + 1e-12)
        {
            let y = top + (1.0 - t_of(v)) * bar_h;
            let _ = write!(
                out,
                "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{AXIS_COLOR}\"/>",
                num(lx + 14.0),
                num(lx + 18.0),
                y = num(y)
            );
            text(
                &mut out,
                lx + 21.0,
                y + TICK_SIZE * 0.35,
                "start",
                TICK_SIZE,
                &lt.label(v),
                " class=\"tick\"",
            );
        }
        let mut sy = top + bar_h + 16.0;
        if has_inf {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"#fff\" stroke=\"#999\"/>",
                num(lx),
                num(sy)
            );
            text(&mut out, lx + 7.0, sy + 11.0, "middle", 10.0, "∞", "");
            text(
                &mut out,
                lx + 20.0,
                sy + 11.0,
                "start",
                TICK_SIZE,
                "infinite",
                "",
            );
            sy += 20.0;
        }
        if has_nan {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"14\" fill=\"#d9d9d9\"/>",
                num(lx),
                num(sy)
            );
            text(
                &mut out,
                lx + 20.0,
                sy + 11.0,
                "start",
                TICK_SIZE,
                "undefined",
                "",
            );
        }
        out.push_str("</g></svg>");
        out
    }
}

fn short_value(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    s.replace('-', "−")
}
