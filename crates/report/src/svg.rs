//! Chart primitives that render standalone SVG strings: line charts (with confidence bands),
//! heatmaps, categorical scatter plots, small multiples and grouped bar charts.
//!
//! Every chart is self-contained (no ids, no external references), so several can be inlined in
//! one HTML page. All text is XML-escaped. Non-finite values are skipped (lines break into
//! segments) or, in heatmaps, drawn as marked cells. Empty inputs render a framed "no data" box.

use std::fmt::Write as _;

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

/// A numeric axis with "nice" rounded tick values covering the data range.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    /// Lower end of the axis (≤ data minimum, a multiple of `step`).
    pub lo: f64,
    /// Upper end of the axis (≥ data maximum, a multiple of `step`).
    pub hi: f64,
    /// Distance between ticks: 1, 2 or 5 times a power of ten.
    pub step: f64,
    /// Tick values from `lo` to `hi`.
    pub values: Vec<f64>,
    /// Values are base-10 logarithms: labels show `10^v`.
    pub log10: bool,
}

impl Ticks {
    /// Tick label for `v` with as many decimals as the step needs.
    pub fn label(&self, v: f64) -> String {
        if self.log10 {
            return fmt_value(10f64.powf(v));
        }
        let decimals = if self.step >= 1.0 {
            0
        } else {
            (-self.step.log10().floor()) as usize + usize::from(nice_mantissa(self.step) == 2.5)
        };
        let s = if v.abs() >= 1e6 {
            format!("{v:.1e}")
        } else {
            format!("{v:.decimals$}")
        };
        let s = if s
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            s.trim_start_matches('-').to_string()
        } else {
            s
        };
        s.replace('-', "−")
    }
}

fn nice_mantissa(step: f64) -> f64 {
    let mag = 10f64.powf(step.log10().floor());
    (step / mag * 10.0).round() / 10.0
}

/// Nice ticks for data in `[lo, hi]` with at most `max_ticks` ticks (at least 2). Degenerate or
/// non-finite ranges are widened (a single value gets a small range around it; no data → 0..1).
/// With `integer`, the step is at least 1 (layer indices, epochs).
pub fn nice_ticks(lo: f64, hi: f64, max_ticks: usize, integer: bool) -> Ticks {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() {
        (lo.min(hi), lo.max(hi))
    } else {
        (0.0, 1.0)
    };
    if hi - lo <= f64::EPSILON * lo.abs().max(1.0) * 4.0 {
        let pad = if integer || lo == 0.0 {
            1.0
        } else {
            lo.abs() * 0.1
        };
        lo -= pad;
        hi += pad;
    }
    let max_ticks = max_ticks.max(2);
    let raw = (hi - lo) / (max_ticks - 1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let mut step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * mag);
    if integer {
        step = step.max(1.0).round();
    }
    loop {
        let k0 = (lo / step + 1e-9).floor() as i64;
        let k1 = (hi / step - 1e-9).ceil() as i64;
        if (k1 - k0 + 1) as usize <= max_ticks || step > (hi - lo) * 1e6 {
            let values: Vec<f64> = (k0..=k1).map(|k| clean(k as f64 * step, step)).collect();
            return Ticks {
                lo: values[0],
                hi: *values.last().unwrap_or(&values[0]),
                step,
                values,
                log10: false,
            };
        }
        step = next_nice(step);
    }
}

fn next_nice(step: f64) -> f64 {
    let mag = 10f64.powf(step.log10().floor());
    match (step / mag).round() as i64 {
        1 => 2.0 * mag,
        2 => 5.0 * mag,
        _ => 10.0 * mag,
    }
}

fn clean(v: f64, step: f64) -> f64 {
    let scale = 10f64.powi((-step.log10().floor() as i32 + 2).max(0));
    let r = (v * scale).round() / scale;
    if r == 0.0 {
        0.0
    } else {
        r
    }
}

/// Linear map from a data interval to a pixel interval.
#[derive(Debug, Clone, Copy)]
struct Scale {
    d0: f64,
    d1: f64,
    r0: f64,
    r1: f64,
}

impl Scale {
    fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
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

/// Plot rectangle.
#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

/// Draws grid, axes, ticks and axis labels for numeric x and y axes.
fn draw_axes(
    out: &mut String,
    r: Rect,
    xt: &Ticks,
    yt: &Ticks,
    x_label: &str,
    y_label: &str,
    tick_size: f64,
) {
    let xs = Scale {
        d0: xt.lo,
        d1: xt.hi,
        r0: r.x,
        r1: r.x + r.w,
    };
    let ys = Scale {
        d0: yt.lo,
        d1: yt.hi,
        r0: r.y + r.h,
        r1: r.y,
    };
    out.push_str("<g class=\"grid\">");
    for &v in &yt.values {
        let y = ys.map(v);
        let _ = write!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{GRID_COLOR}\"/>",
            num(r.x),
            num(r.x + r.w),
            y = num(y)
        );
    }
    out.push_str("</g><g class=\"axis y-axis\">");
    let _ = write!(
        out,
        "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"{AXIS_COLOR}\"/>",
        num(r.y),
        num(r.y + r.h),
        x = num(r.x)
    );
    for &v in &yt.values {
        let y = ys.map(v);
        let _ = write!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{AXIS_COLOR}\"/>",
            num(r.x - 4.0),
            num(r.x),
            y = num(y)
        );
        text(
            out,
            r.x - 7.0,
            y + tick_size * 0.35,
            "end",
            tick_size,
            &yt.label(v),
            " class=\"tick\"",
        );
    }
    out.push_str("</g><g class=\"axis x-axis\">");
    let base = r.y + r.h;
    let _ = write!(
        out,
        "<line x1=\"{}\" x2=\"{}\" y1=\"{b}\" y2=\"{b}\" stroke=\"{AXIS_COLOR}\"/>",
        num(r.x),
        num(r.x + r.w),
        b = num(base)
    );
    for &v in &xt.values {
        let x = xs.map(v);
        let _ = write!(
            out,
            "<line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"{AXIS_COLOR}\"/>",
            num(base),
            num(base + 4.0),
            x = num(x)
        );
        text(
            out,
            x,
            base + 6.0 + tick_size,
            "middle",
            tick_size,
            &xt.label(v),
            " class=\"tick\"",
        );
    }
    out.push_str("</g>");
    if !x_label.is_empty() {
        text(
            out,
            r.x + r.w / 2.0,
            base + 2.0 * tick_size + 16.0,
            "middle",
            LABEL_SIZE,
            x_label,
            " class=\"axis-label\"",
        );
    }
    if !y_label.is_empty() {
        let cx = 16.0;
        let cy = r.y + r.h / 2.0;
        label_text(
            out,
            (cx, cy),
            "middle",
            LABEL_SIZE,
            y_label,
            (r.h / (LABEL_SIZE * 0.6)) as usize,
            &format!(
                " class=\"axis-label\" transform=\"rotate(-90 {} {})\"",
                num(cx),
                num(cy)
            ),
        );
    }
}

/// Maximum number of ticks that fit along `len` pixels when each label needs `label_px`.
fn tick_budget(len: f64, label_px: f64) -> usize {
    ((len / (label_px + 14.0)).floor() as usize).clamp(2, 10)
}

fn y_tick_width(yt: &Ticks, size: f64) -> f64 {
    yt.values
        .iter()
        .map(|&v| text_width(&yt.label(v), size))
        .fold(0.0, f64::max)
}

/// Chooses x ticks whose labels do not overlap at the given plot width. With `exact`, the axis
/// spans exactly the data range (ticks inside it) instead of extending to round bounds.
fn fit_x_ticks(lo: f64, hi: f64, width: f64, integer: bool, size: f64, exact: bool) -> Ticks {
    let mut n = tick_budget(width, 4.0 * size * 0.6);
    loop {
        let mut t = nice_ticks(lo, hi, n, integer);
        if exact && lo.is_finite() && hi.is_finite() && hi > lo {
            let eps = (hi - lo) * 1e-9;
            let inside: Vec<f64> = t
                .values
                .iter()
                .copied()
                .filter(|v| *v >= lo - eps && *v <= hi + eps)
                .collect();
            if !inside.is_empty() {
                t.values = inside;
                t.lo = lo;
                t.hi = hi;
            }
        }
        let widest = t
            .values
            .iter()
            .map(|&v| text_width(&t.label(v), size))
            .fold(0.0, f64::max);
        let per = if t.values.len() < 2 {
            width
        } else {
            t.step / (t.hi - t.lo) * width
        };
        if widest + 8.0 <= per || n <= 2 {
            return t;
        }
        n -= 1;
    }
}

/// Ticks strictly inside `[lo, hi]` (for colour legends), at least 3 when possible.
fn inner_ticks(lo: f64, hi: f64) -> Ticks {
    let eps = (hi - lo).abs() * 1e-9;
    let mut best = nice_ticks(lo, hi, 6, false);
    for n in 6..=12 {
        let mut t = nice_ticks(lo, hi, n, false);
        t.values.retain(|v| *v >= lo - eps && *v <= hi + eps);
        let enough = t.values.len() >= 3;
        best = t;
        if enough {
            break;
        }
    }
    best
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

/// One line in a [`LineChart`].
#[derive(Debug, Clone, Default)]
pub struct LineSeries {
    /// Legend name.
    pub name: String,
    /// `(x, y)` points in drawing order; non-finite points break the line.
    pub points: Vec<(f64, f64)>,
    /// Optional band `(x, lower, upper)`, drawn translucent behind the line.
    pub band: Vec<(f64, f64, f64)>,
    /// Stroke colour (CSS colour).
    pub color: String,
    /// Dashed stroke.
    pub dashed: bool,
    /// Draw a marker at every point (markers are always drawn for isolated points).
    pub markers: bool,
}

/// Line chart with several series, a legend, optional confidence bands and nice ticks.
#[derive(Debug, Clone)]
pub struct LineChart {
    /// Title drawn at the top.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Series.
    pub series: Vec<LineSeries>,
    /// Total width in pixels.
    pub width: f64,
    /// Total height in pixels.
    pub height: f64,
    /// Fixed y range (e.g. 0..1 for correlations); data outside is clamped to the frame.
    pub y_range: Option<(f64, f64)>,
    /// X values are integers (layers, epochs): ticks at whole numbers only.
    pub integer_x: bool,
    /// Logarithmic y axis (ticks at powers of ten); non-positive values are skipped.
    pub log_y: bool,
}

impl LineChart {
    /// A chart of the default size (640 × 340).
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Self {
        LineChart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            series: Vec::new(),
            width: 640.0,
            height: 340.0,
            y_range: None,
            integer_x: false,
            log_y: false,
        }
    }

    /// Renders the chart as an SVG document.
    pub fn render(&self) -> String {
        if !self.log_y {
            return self.render_axes(false);
        }
        let f = |v: f64| if v > 0.0 { v.log10() } else { f64::NAN };
        let mut t = self.clone();
        for s in &mut t.series {
            for p in &mut s.points {
                p.1 = f(p.1);
            }
            for b in &mut s.band {
                b.1 = f(b.1);
                b.2 = f(b.2);
            }
        }
        t.y_range = self.y_range.map(|(a, b)| (f(a), f(b)));
        t.render_axes(true)
    }

    /// Renders with y values already transformed (`log`: they are base-10 logarithms).
    fn render_axes(&self, log: bool) -> String {
        let names: Vec<&str> = self
            .series
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        let est_h = self.height - 2.0 * TICK_SIZE - 64.0 - title_extra(&self.title, self.width);
        let leg = legend_width(&names, est_h);
        if self.width - leg < MIN_PLOT_AREA {
            let mut wider = self.clone();
            wider.width = leg + MIN_PLOT_AREA;
            return wider.render_axes(log);
        }
        let mut out = String::new();
        svg_open(&mut out, self.width, self.height, &self.title);
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for s in &self.series {
            for &(x, y) in &s.points {
                if x.is_finite() && y.is_finite() {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                }
            }
            for &(x, lo, hi) in &s.band {
                if x.is_finite() && lo.is_finite() && hi.is_finite() {
                    y0 = y0.min(lo);
                    y1 = y1.max(hi);
                }
            }
        }
        let top = 34.0 + title_extra(&self.title, self.width);
        let bottom = 2.0 * TICK_SIZE + 30.0;
        let names: Vec<&str> = self
            .series
            .iter()
            .map(|s| s.name.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        let leg_w = legend_width(&names, self.height - top - bottom);
        if !x0.is_finite() {
            no_data(
                &mut out,
                60.0,
                top,
                self.width - 80.0,
                self.height - top - bottom,
            );
            out.push_str("</svg>");
            return out;
        }
        if let Some((a, b)) = self.y_range {
            y0 = a;
            y1 = b;
        }
        let plot_h = self.height - top - bottom;
        let mut yt = nice_ticks(y0, y1, tick_budget(plot_h, TICK_SIZE + 10.0).min(7), log);
        yt.log10 = log;
        let left = 34.0 + y_tick_width(&yt, TICK_SIZE);
        let plot_w = (self.width - left - 16.0 - leg_w).max(40.0);
        let xt = fit_x_ticks(x0, x1, plot_w, self.integer_x, TICK_SIZE, true);
        let r = Rect {
            x: left,
            y: top,
            w: plot_w,
            h: plot_h,
        };
        draw_axes(
            &mut out,
            r,
            &xt,
            &yt,
            &self.x_label,
            &self.y_label,
            TICK_SIZE,
        );
        let xs = Scale {
            d0: xt.lo,
            d1: xt.hi,
            r0: r.x,
            r1: r.x + r.w,
        };
        let ys = Scale {
            d0: yt.lo,
            d1: yt.hi,
            r0: r.y + r.h,
            r1: r.y,
        };
        let cy = |v: f64| ys.map(v.clamp(yt.lo, yt.hi));
        for s in &self.series {
            let ok: Vec<bool> = s
                .band
                .iter()
                .map(|&(x, lo, hi)| x.is_finite() && lo.is_finite() && hi.is_finite())
                .collect();
            let mut start = 0;
            while start < ok.len() {
                if !ok[start] {
                    start += 1;
                    continue;
                }
                let mut end = start;
                while end < ok.len() && ok[end] {
                    end += 1;
                }
                let seg = &s.band[start..end];
                let mut pts: Vec<String> = seg
                    .iter()
                    .map(|&(x, _, hi)| format!("{},{}", num(xs.map(x)), num(cy(hi))))
                    .collect();
                pts.extend(
                    seg.iter()
                        .rev()
                        .map(|&(x, lo, _)| format!("{},{}", num(xs.map(x)), num(cy(lo)))),
                );
                let _ = write!(
                    out,
                    "<polygon class=\"ci-band\" points=\"{}\" fill=\"{}\" fill-opacity=\"0.18\" stroke=\"none\"/>",
                    pts.join(" "),
                    esc(&s.color)
                );
                start = end;
            }
        }
        for s in &self.series {
            let _ = write!(out, "<g class=\"series\" data-name=\"{}\">", esc(&s.name));
            let dash = if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            for run in finite_runs(&s.points) {
                if run.len() > 1 {
                    let d: Vec<String> = run
                        .iter()
                        .enumerate()
                        .map(|(i, &(x, y))| {
                            format!(
                                "{}{},{}",
                                if i == 0 { "M" } else { "L" },
                                num(xs.map(x)),
                                num(cy(y))
                            )
                        })
                        .collect();
                    let _ = write!(
                        out,
                        "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"{dash}/>",
                        d.join(""),
                        esc(&s.color)
                    );
                }
                if s.markers || run.len() == 1 {
                    for &(x, y) in &run {
                        let shown = if log { 10f64.powf(y) } else { y };
                        let tip =
                            format!("{}: x = {}, y = {}", s.name, fmt_value(x), fmt_value(shown));
                        marker(
                            &mut out,
                            xs.map(x),
                            cy(y),
                            3.5,
                            Shape::Circle,
                            &s.color,
                            &tip,
                        );
                    }
                }
            }
            out.push_str("</g>");
        }
        let items: Vec<LegendItem> = self
            .series
            .iter()
            .filter(|s| !s.name.is_empty())
            .map(|s| LegendItem {
                name: &s.name,
                color: &s.color,
                dashed: s.dashed,
                shape: None,
            })
            .collect();
        draw_legend(&mut out, r.x + r.w + 14.0, top, plot_h, &items);
        out.push_str("</svg>");
        out
    }
}

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
        let top = 34.0 + title_extra(&self.title, width);
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
            no_data(&mut out, 40.0, top, width - 60.0, height - top - 20.0);
            out.push_str("</svg>");
            return out;
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

/// Scatter plot coloured by category, with a legend (colour + shape per category).
#[derive(Debug, Clone)]
pub struct Scatter {
    /// Title.
    pub title: String,
    /// X axis label.
    pub x_label: String,
    /// Y axis label.
    pub y_label: String,
    /// Category names; a point's category indexes this.
    pub categories: Vec<String>,
    /// `(x, y, category)`; non-finite points are skipped.
    pub points: Vec<(f64, f64, usize)>,
    /// Write each point's category name next to it (for one point per category).
    pub annotate: bool,
    /// Total width.
    pub width: f64,
    /// Total height.
    pub height: f64,
}

impl Scatter {
    /// Renders the scatter plot as an SVG document.
    pub fn render(&self) -> String {
        if !self.annotate {
            let mut used: Vec<usize> = self.points.iter().map(|p| p.2).collect();
            used.sort_unstable();
            used.dedup();
            let names: Vec<String> = used
                .iter()
                .map(|&c| {
                    self.categories
                        .get(c)
                        .cloned()
                        .unwrap_or_else(|| format!("#{c}"))
                })
                .collect();
            let refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let est_h = self.height - 2.0 * TICK_SIZE - 64.0 - title_extra(&self.title, self.width);
            let leg = legend_width(&refs, est_h);
            if self.width - leg < MIN_PLOT_AREA {
                let mut wider = self.clone();
                wider.width = leg + MIN_PLOT_AREA;
                return wider.render();
            }
        }
        let mut out = String::new();
        svg_open(&mut out, self.width, self.height, &self.title);
        let pts: Vec<(f64, f64, usize)> = self
            .points
            .iter()
            .copied()
            .filter(|p| p.0.is_finite() && p.1.is_finite())
            .collect();
        let top = 34.0 + title_extra(&self.title, self.width);
        let bottom = 2.0 * TICK_SIZE + 30.0;
        let plot_h = self.height - top - bottom;
        let mut used: Vec<usize> = pts.iter().map(|p| p.2).collect();
        used.sort_unstable();
        used.dedup();
        let cat_name = |c: usize| {
            self.categories
                .get(c)
                .cloned()
                .unwrap_or_else(|| format!("#{c}"))
        };
        let names: Vec<String> = used.iter().map(|&c| cat_name(c)).collect();
        let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let leg_w = if self.annotate {
            0.0
        } else {
            legend_width(&name_refs, plot_h)
        };
        if pts.is_empty() {
            no_data(&mut out, 60.0, top, self.width - 80.0, plot_h);
            out.push_str("</svg>");
            return out;
        }
        let (x0, x1, y0, y1) = pts.iter().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, d), p| (a.min(p.0), b.max(p.0), c.min(p.1), d.max(p.1)),
        );
        let yt = nice_ticks(y0, y1, tick_budget(plot_h, TICK_SIZE + 10.0).min(7), false);
        let left = 34.0 + y_tick_width(&yt, TICK_SIZE);
        let plot_w = (self.width - left - 16.0 - leg_w).max(40.0);
        let xt = fit_x_ticks(x0, x1, plot_w, false, TICK_SIZE, false);
        let r = Rect {
            x: left,
            y: top,
            w: plot_w,
            h: plot_h,
        };
        draw_axes(
            &mut out,
            r,
            &xt,
            &yt,
            &self.x_label,
            &self.y_label,
            TICK_SIZE,
        );
        let xs = Scale {
            d0: xt.lo,
            d1: xt.hi,
            r0: r.x,
            r1: r.x + r.w,
        };
        let ys = Scale {
            d0: yt.lo,
            d1: yt.hi,
            r0: r.y + r.h,
            r1: r.y,
        };
        let radius = if pts.len() > 1500 {
            2.0
        } else if pts.len() > 300 {
            2.8
        } else {
            4.0
        };
        out.push_str("<g class=\"points\" fill-opacity=\"0.75\">");
        for &(x, y, c) in &pts {
            let tip = format!("{}: ({}, {})", cat_name(c), fmt_value(x), fmt_value(y));
            marker(
                &mut out,
                xs.map(x),
                ys.map(y),
                radius,
                marker_shape(c),
                color(c),
                &tip,
            );
            if self.annotate {
                let px = xs.map(x);
                let (lx, anchor) = if px > r.x + r.w * 0.75 {
                    (px - 6.0, "end")
                } else {
                    (px + 6.0, "start")
                };
                label_text(
                    &mut out,
                    (lx, ys.map(y) - 5.0),
                    anchor,
                    10.0,
                    &cat_name(c),
                    16,
                    "",
                );
            }
        }
        out.push_str("</g>");
        if !self.annotate {
            let items: Vec<LegendItem> = used
                .iter()
                .zip(&names)
                .map(|(&c, n)| LegendItem {
                    name: n,
                    color: color(c),
                    dashed: false,
                    shape: Some(marker_shape(c)),
                })
                .collect();
            draw_legend(&mut out, r.x + r.w + 14.0, top, plot_h, &items);
        }
        out.push_str("</svg>");
        out
    }
}

/// One panel of [`SmallMultiples`].
#[derive(Debug, Clone, Default)]
pub struct Panel {
    /// Panel title (e.g. the label).
    pub title: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A grid of small line charts sharing x and y scales (e.g. one panel per label).
#[derive(Debug, Clone)]
pub struct SmallMultiples {
    /// Title.
    pub title: String,
    /// X axis label (shown once, under the grid).
    pub x_label: String,
    /// Y axis label (shown once, beside the grid).
    pub y_label: String,
    /// Panels, in reading order.
    pub panels: Vec<Panel>,
    /// Panels per row.
    pub columns: usize,
    /// Line colour.
    pub color: String,
    /// X values are integers.
    pub integer_x: bool,
}

impl SmallMultiples {
    /// Renders the grid as an SVG document.
    pub fn render(&self) -> String {
        let cols = self.columns.max(1);
        let rows = self.panels.len().div_ceil(cols).max(1);
        let (pw, ph) = (190.0, 130.0);
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for p in &self.panels {
            for &(x, y) in &p.points {
                if x.is_finite() && y.is_finite() {
                    x0 = x0.min(x);
                    x1 = x1.max(x);
                    y0 = y0.min(y);
                    y1 = y1.max(y);
                }
            }
        }
        let yt = nice_ticks(y0.min(0.0), y1, 4, false);
        let yw = y_tick_width(&yt, 10.0);
        let left = 30.0 + yw;
        let width = left + cols as f64 * pw + 10.0;
        let top = 34.0 + title_extra(&self.title, width);
        let height = top + rows as f64 * ph + 26.0;
        let mut out = String::new();
        svg_open(&mut out, width, height, &self.title);
        if self.panels.is_empty() || !x0.is_finite() {
            no_data(
                &mut out,
                left,
                top,
                width - left - 10.0,
                height - top - 40.0,
            );
            out.push_str("</svg>");
            return out;
        }
        let inner_w = pw - yw - 18.0;
        let xt = fit_x_ticks(x0, x1, inner_w, self.integer_x, 10.0, true);
        for (i, p) in self.panels.iter().enumerate() {
            let (c, r) = (i % cols, i / cols);
            let px = left + c as f64 * pw;
            let py = top + r as f64 * ph;
            let rect = Rect {
                x: px,
                y: py + 18.0,
                w: inner_w,
                h: ph - 50.0,
            };
            let _ = write!(out, "<g class=\"panel\" data-name=\"{}\">", esc(&p.title));
            label_text(
                &mut out,
                (px + rect.w / 2.0, py + 12.0),
                "middle",
                TICK_SIZE,
                &p.title,
                22,
                " font-weight=\"600\"",
            );
            draw_axes(&mut out, rect, &xt, &yt, "", "", 10.0);
            let xs = Scale {
                d0: xt.lo,
                d1: xt.hi,
                r0: rect.x,
                r1: rect.x + rect.w,
            };
            let ys = Scale {
                d0: yt.lo,
                d1: yt.hi,
                r0: rect.y + rect.h,
                r1: rect.y,
            };
            for run in finite_runs(&p.points) {
                let d: Vec<String> = run
                    .iter()
                    .enumerate()
                    .map(|(k, &(x, y))| {
                        format!(
                            "{}{},{}",
                            if k == 0 { "M" } else { "L" },
                            num(xs.map(x)),
                            num(ys.map(y))
                        )
                    })
                    .collect();
                let _ = write!(
                    out,
                    "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.8\"/>",
                    d.join(""),
                    esc(&self.color)
                );
                for &(x, y) in &run {
                    let tip = format!("{}: x = {}, y = {}", p.title, fmt_value(x), fmt_value(y));
                    marker(
                        &mut out,
                        xs.map(x),
                        ys.map(y),
                        2.2,
                        Shape::Circle,
                        &self.color,
                        &tip,
                    );
                }
            }
            out.push_str("</g>");
        }
        if !self.x_label.is_empty() {
            text(
                &mut out,
                left + cols as f64 * pw / 2.0,
                height - 8.0,
                "middle",
                LABEL_SIZE,
                &self.x_label,
                " class=\"axis-label\"",
            );
        }
        if !self.y_label.is_empty() {
            let cy = top + rows as f64 * ph / 2.0;
            text(
                &mut out,
                14.0,
                cy,
                "middle",
                LABEL_SIZE,
                &self.y_label,
                &format!(
                    " class=\"axis-label\" transform=\"rotate(-90 14 {})\"",
                    num(cy)
                ),
            );
        }
        out.push_str("</svg>");
        out
    }
}

/// One group member of a [`BarChart`] (e.g. "original" or "fine-tuned").
#[derive(Debug, Clone, Default)]
pub struct BarSeries {
    /// Legend name.
    pub name: String,
    /// One value per category; NaN = missing bar.
    pub values: Vec<f64>,
    /// Fill colour.
    pub color: String,
}

/// Grouped bar chart (bars may be negative; the zero line is drawn).
#[derive(Debug, Clone)]
pub struct BarChart {
    /// Title.
    pub title: String,
    /// Y axis label.
    pub y_label: String,
    /// Category names along x.
    pub categories: Vec<String>,
    /// Series drawn side by side in each category.
    pub series: Vec<BarSeries>,
    /// Total width.
    pub width: f64,
    /// Fixed y range; default: data range including zero.
    pub y_range: Option<(f64, f64)>,
}

impl BarChart {
    /// Renders the bar chart as an SVG document.
    pub fn render(&self) -> String {
        let n = self.categories.len();
        let group_w = ((self.width - 160.0) / n.max(1) as f64).max(12.0);
        let cat_w = self
            .categories
            .iter()
            .map(|c| text_width(&truncate(c, MAX_LABEL_CHARS), TICK_SIZE))
            .fold(0.0, f64::max);
        let rotate = cat_w > group_w - 4.0;
        let cat_band = if rotate {
            cat_w * 0.75 + 14.0
        } else {
            TICK_SIZE + 12.0
        };
        let top = 34.0 + title_extra(&self.title, self.width);
        let plot_h = 240.0;
        let height = top + plot_h + cat_band + 10.0;
        let mut out = String::new();
        let names: Vec<&str> = self.series.iter().map(|s| s.name.as_str()).collect();
        let leg_w = legend_width(&names, plot_h);
        let (mut lo, mut hi) = (0.0f64, f64::NEG_INFINITY);
        for s in &self.series {
            for &v in s.values.iter().filter(|v| v.is_finite()) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        let width = self.width.max(leg_w + 200.0);
        svg_open(&mut out, width, height, &self.title);
        if n == 0 || !hi.is_finite() {
            no_data(&mut out, 60.0, top, width - 80.0, plot_h);
            out.push_str("</svg>");
            return out;
        }
        if let Some((a, b)) = self.y_range {
            lo = a;
            hi = b;
        }
        let yt = nice_ticks(lo, hi.max(0.0), 6, false);
        let left = 34.0 + y_tick_width(&yt, TICK_SIZE);
        let plot_w = (width - left - 16.0 - leg_w).max(40.0);
        let r = Rect {
            x: left,
            y: top,
            w: plot_w,
            h: plot_h,
        };
        let ys = Scale {
            d0: yt.lo,
            d1: yt.hi,
            r0: r.y + r.h,
            r1: r.y,
        };
        out.push_str("<g class=\"grid\">");
        for &v in &yt.values {
            let _ = write!(
                out,
                "<line x1=\"{}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{GRID_COLOR}\"/>",
                num(r.x),
                num(r.x + r.w),
                y = num(ys.map(v))
            );
            text(
                &mut out,
                r.x - 7.0,
                ys.map(v) + TICK_SIZE * 0.35,
                "end",
                TICK_SIZE,
                &yt.label(v),
                " class=\"tick\"",
            );
        }
        out.push_str("</g>");
        let gw = plot_w / n as f64;
        let k = self.series.len().max(1) as f64;
        let bw = (gw * 0.8 / k).min(40.0);
        let zero = ys.map(0.0f64.clamp(yt.lo, yt.hi));
        out.push_str("<g class=\"bars\">");
        for (ci, cat) in self.categories.iter().enumerate() {
            let gx = r.x + ci as f64 * gw + (gw - bw * k) / 2.0;
            for (si, s) in self.series.iter().enumerate() {
                let v = s.values.get(ci).copied().unwrap_or(f64::NAN);
                if !v.is_finite() {
                    continue;
                }
                let y = ys.map(v.clamp(yt.lo, yt.hi));
                let tip = format!("{cat} · {}: {}", s.name, fmt_value(v));
                let _ = write!(
                    out,
                    "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"><title>{}</title></rect>",
                    num(gx + si as f64 * bw),
                    num(y.min(zero)),
                    num((bw - 1.0).max(1.0)),
                    num((y - zero).abs().max(0.5)),
                    esc(&s.color),
                    esc(&tip)
                );
            }
            let cx = r.x + ci as f64 * gw + gw / 2.0;
            let ly = r.y + r.h + 8.0;
            if rotate {
                label_text(
                    &mut out,
                    (cx, ly + 4.0),
                    "end",
                    TICK_SIZE,
                    cat,
                    MAX_LABEL_CHARS,
                    &format!(" transform=\"rotate(-45 {} {})\"", num(cx), num(ly + 4.0)),
                );
            } else {
                label_text(
                    &mut out,
                    (cx, ly + TICK_SIZE),
                    "middle",
                    TICK_SIZE,
                    cat,
                    MAX_LABEL_CHARS,
                    "",
                );
            }
        }
        out.push_str("</g>");
        let _ = write!(
            out,
            "<line x1=\"{}\" x2=\"{}\" y1=\"{z}\" y2=\"{z}\" stroke=\"{AXIS_COLOR}\"/><line x1=\"{x}\" x2=\"{x}\" y1=\"{}\" y2=\"{}\" stroke=\"{AXIS_COLOR}\"/>",
            num(r.x),
            num(r.x + r.w),
            num(r.y),
            num(r.y + r.h),
            z = num(zero),
            x = num(r.x)
        );
        if !self.y_label.is_empty() {
            let cy = r.y + r.h / 2.0;
            text(
                &mut out,
                16.0,
                cy,
                "middle",
                LABEL_SIZE,
                &self.y_label,
                &format!(
                    " class=\"axis-label\" transform=\"rotate(-90 16 {})\"",
                    num(cy)
                ),
            );
        }
        let items: Vec<LegendItem> = self
            .series
            .iter()
            .map(|s| LegendItem {
                name: &s.name,
                color: &s.color,
                dashed: false,
                shape: Some(Shape::Square),
            })
            .collect();
        draw_legend(&mut out, r.x + r.w + 14.0, top, plot_h, &items);
        out.push_str("</svg>");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_data() {
        let t = nice_ticks(0.13, 0.87, 6, false);
        assert_eq!(t.values, vec![0.0, 0.2, 0.4, 0.6, 0.8, 1.0]);
        assert_eq!(t.label(0.4), "0.4");
        let t = nice_ticks(3.0, 3936.0, 6, false);
        assert!(t.lo <= 3.0 && t.hi >= 3936.0 && t.values.len() <= 6);
        assert_eq!(t.step, 1000.0);
        let t = nice_ticks(-1.68, 5.29, 9, false);
        assert_eq!(t.step, 1.0);
        assert_eq!(t.label(-1.0), "−1");
        assert_eq!(t.label(0.0), "0");
    }

    #[test]
    fn ticks_handle_degenerate_ranges() {
        let t = nice_ticks(5.0, 5.0, 5, false);
        assert!(t.lo < 5.0 && t.hi > 5.0);
        let t = nice_ticks(f64::NAN, f64::INFINITY, 5, false);
        assert_eq!((t.lo, t.hi), (0.0, 1.0));
        let t = nice_ticks(0.0, 0.0, 5, false);
        assert!(t.lo < 0.0 && t.hi > 0.0);
        let t = nice_ticks(1.0, 3.0, 10, true);
        assert!(t.values.iter().all(|v| v.fract() == 0.0));
    }

    #[test]
    fn ticks_have_no_float_noise() {
        let t = nice_ticks(0.0, 0.3, 4, false);
        for v in &t.values {
            assert!(t.label(*v).len() <= 4, "{}", t.label(*v));
        }
        assert_eq!(t.label(0.1 + 0.2), "0.3");
        let t = nice_ticks(0.0, 0.05, 3, false);
        assert!(t.values.iter().all(|v| !t.label(*v).contains("000000")));
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
    }

    #[test]
    fn labels_are_escaped_inside_svg_text() {
        let evil = "<script>alert(1)</script>";
        let chart = Heatmap {
            title: evil.into(),
            x_label: String::new(),
            y_label: String::new(),
            row_labels: vec![evil.into(), "B".into()],
            col_labels: vec![evil.into(), "B".into()],
            values: vec![vec![0.0, 1.0], vec![1.0, 0.0]],
            scale: ColorScale::Sequential,
            range: None,
        };
        let svg = chart.render();
        assert!(!svg.contains("<script"));
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        let mut lc = LineChart::new("t", "x", "y");
        lc.series.push(LineSeries {
            name: evil.into(),
            points: vec![(0.0, 1.0), (1.0, 2.0)],
            color: "#000".into(),
            ..Default::default()
        });
        let svg = lc.render();
        assert!(!svg.contains("<script") && svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn line_chart_breaks_at_nan_and_marks_isolated_points() {
        let mut lc = LineChart::new("t", "layer", "acc");
        lc.series.push(LineSeries {
            name: "s".into(),
            points: vec![
                (0.0, 1.0),
                (1.0, 2.0),
                (2.0, f64::NAN),
                (3.0, 4.0),
                (4.0, f64::INFINITY),
            ],
            color: "#000".into(),
            ..Default::default()
        });
        let svg = lc.render();
        assert_eq!(svg.matches("<path").count(), 1, "one segment of two points");
        assert_eq!(
            svg.matches("<circle").count(),
            1,
            "the isolated point at x=3 gets a marker"
        );
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn empty_charts_say_no_data() {
        assert!(LineChart::new("t", "x", "y").render().contains("no data"));
        let s = Scatter {
            title: "t".into(),
            x_label: String::new(),
            y_label: String::new(),
            categories: vec![],
            points: vec![(f64::NAN, 1.0, 0)],
            annotate: false,
            width: 400.0,
            height: 300.0,
        };
        assert!(s.render().contains("no data"));
        let b = BarChart {
            title: "t".into(),
            y_label: String::new(),
            categories: vec![],
            series: vec![],
            width: 400.0,
            y_range: None,
        };
        assert!(b.render().contains("no data"));
        let m = SmallMultiples {
            title: "t".into(),
            x_label: String::new(),
            y_label: String::new(),
            panels: vec![],
            columns: 4,
            color: "#000".into(),
            integer_x: true,
        };
        assert!(m.render().contains("no data"));
    }

    #[test]
    fn heatmap_marks_infinite_and_undefined_cells() {
        let h = Heatmap {
            title: "d".into(),
            x_label: String::new(),
            y_label: String::new(),
            row_labels: vec!["a".into(), "b".into()],
            col_labels: vec!["a".into(), "b".into()],
            values: vec![vec![f64::NAN, f64::INFINITY], vec![2.0, f64::NAN]],
            scale: ColorScale::Sequential,
            range: None,
        };
        let svg = h.render();
        assert!(svg.contains("a × b: ∞"));
        assert!(svg.contains("a × a: undefined"));
        assert!(svg.contains(">infinite<") && svg.contains(">undefined<"));
        assert!(!svg.contains("NaN"));
    }

    #[test]
    fn palette_is_distinct_and_wraps_with_new_shapes() {
        let mut p = PALETTE.to_vec();
        p.sort_unstable();
        p.dedup();
        assert_eq!(p.len(), PALETTE.len());
        assert!(PALETTE.len() >= 20);
        assert_eq!(color(0), color(PALETTE.len()));
        assert_ne!(marker_shape(0), marker_shape(PALETTE.len()));
    }

    #[test]
    fn x_tick_labels_do_not_overlap_on_narrow_charts() {
        for exact in [false, true] {
            let t = fit_x_ticks(3.0, 123456.0, 150.0, false, TICK_SIZE, exact);
            let widest = t
                .values
                .iter()
                .map(|&v| text_width(&t.label(v), TICK_SIZE))
                .fold(0.0, f64::max);
            assert!(!t.values.is_empty());
            if t.values.len() > 1 {
                assert!(widest + 8.0 <= t.step / (t.hi - t.lo) * 150.0);
            }
            if exact {
                assert_eq!((t.lo, t.hi), (3.0, 123456.0));
                assert!(t.values.iter().all(|v| (3.0..=123456.0).contains(v)));
            }
        }
    }

    #[test]
    fn log_axis_ticks_at_powers_of_ten_and_skips_non_positive_values() {
        let mut lc = LineChart::new("clusters", "layer", "#clusters");
        lc.log_y = true;
        lc.series.push(LineSeries {
            name: "s".into(),
            points: vec![(0.0, 3936.0), (1.0, 400.0), (2.0, 17.0), (3.0, 0.0)],
            color: "#000".into(),
            markers: true,
            ..Default::default()
        });
        let svg = lc.render();
        for label in [">10<", ">100<", ">1000<", ">10000<"] {
            assert!(svg.contains(label), "{label} tick");
        }
        assert_eq!(
            svg.matches("<circle").count(),
            3,
            "zero is not drawn on a log axis"
        );
        assert!(svg.contains("y = 3936"));
    }

    #[test]
    fn single_point_chart_has_finite_coordinates_and_a_marker() {
        let mut lc = LineChart::new("one", "layer", "acc");
        lc.integer_x = true;
        lc.series.push(LineSeries {
            name: "s".into(),
            points: vec![(3.0, 0.5)],
            color: "#000".into(),
            ..Default::default()
        });
        let svg = lc.render();
        assert_eq!(svg.matches("<circle").count(), 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        assert!(svg.contains(">3<"), "the x tick at the point");
    }

    #[test]
    fn many_categories_widen_the_chart_instead_of_squeezing_the_plot() {
        let categories: Vec<String> = (0..46).map(|i| format!("nmod:label-{i}")).collect();
        let points = (0..46)
            .map(|i| (i as f64, (i * 7 % 11) as f64, i))
            .collect();
        let s = Scatter {
            title: "DEP".into(),
            x_label: String::new(),
            y_label: String::new(),
            categories,
            points,
            annotate: false,
            width: 640.0,
            height: 440.0,
        };
        let svg = s.render();
        let width: f64 = svg
            .split("width=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(width > 640.0);
        assert_eq!(svg.matches("class=\"legend-label\"").count(), 46);
        assert_eq!(
            svg.matches("<circle").count(),
            2 * 24,
            "first 24 categories: circles (points + legend)"
        );
        assert_eq!(
            svg.matches("<rect").count(),
            1 + 2 * 22,
            "then squares, plus the background"
        );
    }

    #[test]
    fn colour_legend_ticks_lie_inside_the_range() {
        let t = inner_ticks(-4.52, 4.52);
        assert!(t.values.len() >= 3, "{:?}", t.values);
        assert!(t.values.iter().all(|v| v.abs() <= 4.52));
    }
}
