//! Chart primitives that render standalone SVG strings: line charts (with confidence bands),
//! heatmaps, categorical scatter plots, small multiples and grouped bar charts.
//!
//! Every chart is self-contained (no ids, no external references), so several can be inlined in
//! one HTML page. All text is XML-escaped. Non-finite values are skipped (lines break into
//! segments) or, in heatmaps, drawn as marked cells. Empty inputs render a framed "no data" box.

use std::fmt::Write as _;

mod axes;
mod bar;
mod heatmap;
mod line;
mod multiples;
mod scatter;

use axes::*;
pub use axes::{nice_ticks, Ticks};
pub use bar::{BarChart, BarSeries};
pub use heatmap::{ColorScale, Heatmap};
pub use line::{LineChart, LineSeries};
pub use multiples::{Panel, SmallMultiples};
pub use scatter::Scatter;

/// Font stack used by every chart (system sans-serif; no web fonts).
pub const FONT_STACK: &str = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', \
     Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif";

/// Qualitative palette: Okabe–Ito (colour-blind safe) first, then well-separated extras.
pub const PALETTE: [&str; 24] = [
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442",
    "#8C564B", "#7F7F7F", "#BCBD22", "#17BECF", "#9467BD", "#393B79", "#637939", "#8C6D31",
    "#843C39", "#7B4173", "#AEC7E8", "#FF9896", "#98DF8A", "#C5B0D5", "#C49C94", "#F7B6D2",
];

/// Colour of the pre-trained ("before") encoder in every chart.
pub const BEFORE_COLOR: &str = "#0072B2";
/// Colour of the fine-tuned ("after") encoder in every chart.
pub const AFTER_COLOR: &str = "#D55E00";

const TITLE_SIZE: f64 = 14.0;
const LABEL_SIZE: f64 = 12.0;
const TICK_SIZE: f64 = 11.0;
const AXIS_COLOR: &str = "#444";
const GRID_COLOR: &str = "#e4e4e4";
const MAX_LABEL_CHARS: usize = 28;
/// Width kept for axes and plot when a legend is wide; the chart grows instead of squeezing.
const MIN_PLOT_AREA: f64 = 420.0;

/// Palette colour for category `i` (cycles; use [`marker_shape`] to tell repeats apart).
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Marker shape for category `i`: changes each time the palette wraps around.
pub fn marker_shape(i: usize) -> Shape {
    match (i / PALETTE.len()) % 4 {
        0 => Shape::Circle,
        1 => Shape::Square,
        2 => Shape::Triangle,
        _ => Shape::Diamond,
    }
}

/// Marker shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Filled circle.
    Circle,
    /// Filled square.
    Square,
    /// Filled upward triangle.
    Triangle,
    /// Filled diamond.
    Diamond,
}

/// Escapes text for XML/HTML content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Shortens a label to `max` characters with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Approximate rendered width of `s` in pixels at font size `size` (sans-serif).
pub fn text_width(s: &str, size: f64) -> f64 {
    s.chars()
        .map(|c| {
            if c.is_ascii_uppercase() || c == 'm' || c == 'w' || c == '∞' {
                0.72
            } else if "il.,:;|!'ijt ".contains(c) {
                0.32
            } else {
                0.58
            }
        })
        .sum::<f64>()
        * size
}

/// Formats a value for tooltips and tables: up to 4 significant digits, `∞`, or `undefined`.
pub fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        return "undefined".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "∞".into()
        } else {
            "−∞".into()
        };
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    let s = if !(1e-3..1e6).contains(&a) {
        format!("{v:.3e}")
    } else {
        let digits = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
        let s = format!("{v:.digits$}");
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    s.replace('-', "−")
}

fn num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if r == r.trunc() {
        format!("{}", r as i64)
    } else {
        format!("{r:.1}")
    }
}

/// Splits a chart title into at most two lines that fit `w` pixels (preferring a break at " — ").
fn title_lines(title: &str, w: f64) -> Vec<String> {
    let avail = w - 24.0;
    let fits = |s: &str| text_width(s, TITLE_SIZE) * 1.08 <= avail;
    if title.is_empty() {
        return Vec::new();
    }
    if fits(title) {
        return vec![title.to_string()];
    }
    let max_chars = (avail / (TITLE_SIZE * 0.62)).max(4.0) as usize;
    if let Some((a, b)) = title.split_once(" — ") {
        if fits(a) {
            return vec![a.to_string(), truncate(b, max_chars)];
        }
    }
    let mut first = String::new();
    let mut words = title.split(' ').peekable();
    while let Some(word) = words.peek() {
        let candidate = if first.is_empty() {
            word.to_string()
        } else {
            format!("{first} {word}")
        };
        if !fits(&candidate) {
            break;
        }
        first = candidate;
        words.next();
    }
    if first.is_empty() {
        return vec![truncate(title, max_chars)];
    }
    let rest: Vec<&str> = words.collect();
    vec![first, truncate(&rest.join(" "), max_chars)]
}

/// Extra vertical space a wrapped title needs above the plot.
fn title_extra(title: &str, w: f64) -> f64 {
    18.0 * title_lines(title, w).len().saturating_sub(1) as f64
}

fn svg_open(out: &mut String, w: f64, h: f64, title: &str) {
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" font-family=\"{font}\" font-size=\"{LABEL_SIZE}\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>",
        w = num(w),
        h = num(h),
        font = esc(FONT_STACK),
        t = esc(title),
    );
    for (i, line) in title_lines(title, w).iter().enumerate() {
        let _ = write!(
            out,
            "<text class=\"chart-title\" x=\"12\" y=\"{}\" font-size=\"{TITLE_SIZE}\" \
             font-weight=\"600\" fill=\"#222\">{}</text>",
            20 + 18 * i,
            esc(line)
        );
    }
}

fn text(out: &mut String, x: f64, y: f64, anchor: &str, size: f64, s: &str, extra: &str) {
    let _ = write!(
        out,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"#333\"{extra}>{}</text>",
        num(x),
        num(y),
        esc(s)
    );
}

/// Label text that may be shortened: full text in a `<title>` tooltip when shortened.
fn label_text(
    out: &mut String,
    at: (f64, f64),
    anchor: &str,
    size: f64,
    s: &str,
    max: usize,
    extra: &str,
) {
    let short = truncate(s, max);
    let (x, y) = at;
    if short == s {
        text(out, x, y, anchor, size, s, extra);
    } else {
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"{anchor}\" font-size=\"{size}\" fill=\"#333\"{extra}><title>{}</title>{}</text>",
            num(x),
            num(y),
            esc(s),
            esc(&short)
        );
    }
}

fn no_data(out: &mut String, x: f64, y: f64, w: f64, h: f64) {
    let _ = write!(
        out,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ccc\"/>",
        num(x),
        num(y),
        num(w.max(1.0)),
        num(h.max(1.0))
    );
    text(
        out,
        x + w / 2.0,
        y + h / 2.0,
        "middle",
        LABEL_SIZE,
        "no data",
        " class=\"no-data\" fill-opacity=\"0.7\"",
    );
}

/// A legend entry.
struct LegendItem<'a> {
    name: &'a str,
    color: &'a str,
    dashed: bool,
    shape: Option<Shape>,
}

/// Legend laid out in columns to the right of the plot; returns its width.
fn legend_width(names: &[&str], avail_h: f64) -> f64 {
    if names.is_empty() {
        return 0.0;
    }
    let per_col = ((avail_h / 18.0).floor() as usize).max(1);
    let cols = names.len().div_ceil(per_col);
    let w = names
        .iter()
        .map(|n| text_width(&truncate(n, 22), TICK_SIZE))
        .fold(0.0, f64::max);
    cols as f64 * (w + 34.0) + 8.0
}

fn draw_legend(out: &mut String, x: f64, y: f64, avail_h: f64, items: &[LegendItem]) {
    if items.is_empty() {
        return;
    }
    let per_col = ((avail_h / 18.0).floor() as usize).max(1);
    let col_w = items
        .iter()
        .map(|i| text_width(&truncate(i.name, 22), TICK_SIZE))
        .fold(0.0, f64::max)
        + 34.0;
    out.push_str("<g class=\"legend\">");
    for (k, it) in items.iter().enumerate() {
        let cx = x + (k / per_col) as f64 * col_w;
        let cy = y + (k % per_col) as f64 * 18.0 + 9.0;
        match it.shape {
            Some(shape) => marker(out, cx + 9.0, cy, 4.5, shape, it.color, ""),
            None => {
                let dash = if it.dashed {
                    " stroke-dasharray=\"5 3\""
                } else {
                    ""
                };
                let _ = write!(
                    out,
                    "<line x1=\"{}\" x2=\"{}\" y1=\"{cy}\" y2=\"{cy}\" stroke=\"{}\" stroke-width=\"2.5\"{dash}/>",
                    num(cx),
                    num(cx + 20.0),
                    esc(it.color),
                    cy = num(cy)
                );
            }
        }
        label_text(
            out,
            (cx + 26.0, cy + TICK_SIZE * 0.35),
            "start",
            TICK_SIZE,
            it.name,
            22,
            " class=\"legend-label\"",
        );
    }
    out.push_str("</g>");
}

fn marker(out: &mut String, x: f64, y: f64, r: f64, shape: Shape, color: &str, tip: &str) {
    let tip = if tip.is_empty() {
        String::new()
    } else {
        format!("<title>{}</title>", esc(tip))
    };
    let close = if tip.is_empty() {
        "/>".to_string()
    } else {
        format!(">{tip}")
    };
    let (open, end) = match shape {
        Shape::Circle => (
            format!(
                "<circle cx=\"{}\" cy=\"{}\" r=\"{}\" fill=\"{}\"",
                num(x),
                num(y),
                r,
                esc(color)
            ),
            "</circle>",
        ),
        Shape::Square => (
            format!(
                "<rect x=\"{}\" y=\"{}\" width=\"{s}\" height=\"{s}\" fill=\"{}\"",
                num(x - r * 0.85),
                num(y - r * 0.85),
                esc(color),
                s = num(r * 1.7)
            ),
            "</rect>",
        ),
        Shape::Triangle => (
            format!(
                "<polygon points=\"{},{} {},{} {},{}\" fill=\"{}\"",
                num(x),
                num(y - r),
                num(x - r),
                num(y + r * 0.8),
                num(x + r),
                num(y + r * 0.8),
                esc(color)
            ),
            "</polygon>",
        ),
        Shape::Diamond => (
            format!(
                "<polygon points=\"{},{} {},{} {},{} {},{}\" fill=\"{}\"",
                num(x),
                num(y - r),
                num(x + r),
                num(y),
                num(x),
                num(y + r),
                num(x - r),
                num(y),
                esc(color)
            ),
            "</polygon>",
        ),
    };
    out.push_str(&open);
    if tip.is_empty() {
        out.push_str(&close);
    } else {
        out.push_str(&close);
        out.push_str(end);
    }
}

/// Splits points into runs of consecutive finite points.
fn finite_runs(points: &[(f64, f64)]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut cur = Vec::new();
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() {
            cur.push((x, y));
        } else if !cur.is_empty() {
            runs.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    runs
}

#[cfg(test)]
mod tests;
