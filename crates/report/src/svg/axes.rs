//! The frame every chart shares: nice ticks, the value-to-pixel scale and the axes with
//! their grid, tick labels and titles.

use std::fmt::Write as _;

use super::*;

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

pub(super) fn nice_mantissa(step: f64) -> f64 {
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

pub(super) fn next_nice(step: f64) -> f64 {
    let mag = 10f64.powf(step.log10().floor());
    match (step / mag).round() as i64 {
        1 => 2.0 * mag,
        2 => 5.0 * mag,
        _ => 10.0 * mag,
    }
}

pub(super) fn clean(v: f64, step: f64) -> f64 {
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
pub(super) struct Scale {
    pub(super) d0: f64,
    pub(super) d1: f64,
    pub(super) r0: f64,
    pub(super) r1: f64,
}

impl Scale {
    pub(super) fn map(&self, v: f64) -> f64 {
        let span = self.d1 - self.d0;
        if span == 0.0 {
            return (self.r0 + self.r1) / 2.0;
        }
        self.r0 + (v - self.d0) / span * (self.r1 - self.r0)
    }
}

/// Plot rectangle.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rect {
    pub(super) x: f64,
    pub(super) y: f64,
    pub(super) w: f64,
    pub(super) h: f64,
}

/// The y scale of the plot rectangle `r` over the ticks' range (upwards).
pub(super) fn y_scale(r: Rect, yt: &Ticks) -> Scale {
    Scale {
        d0: yt.lo,
        d1: yt.hi,
        r0: r.y + r.h,
        r1: r.y,
    }
}

/// The x and y scales of the plot rectangle `r` over the ticks' ranges (y upwards).
pub(super) fn scales(r: Rect, xt: &Ticks, yt: &Ticks) -> (Scale, Scale) {
    let xs = Scale {
        d0: xt.lo,
        d1: xt.hi,
        r0: r.x,
        r1: r.x + r.w,
    };
    (xs, y_scale(r, yt))
}

/// Top edge of a chart's plot area: below its (possibly wrapped) title.
pub(super) fn plot_top(title: &str, width: f64) -> f64 {
    34.0 + title_extra(title, width)
}

/// Room below an x/y plot for the tick labels and the x-axis title.
pub(super) const XY_BOTTOM: f64 = 2.0 * TICK_SIZE + 30.0;

/// Finishes an SVG opened with `svg_open` as a framed "no data" box at `(x, y, w, h)`.
pub(super) fn no_data_chart(mut out: String, x: f64, y: f64, w: f64, h: f64) -> String {
    no_data(&mut out, x, y, w, h);
    out.push_str("</svg>");
    out
}

/// The width an x/y chart of `width` × `height` needs so that a legend of `names` leaves
/// [`MIN_PLOT_AREA`] to the plot; `None` when `width` is enough.
pub(super) fn width_for_legend(
    names: &[&str],
    width: f64,
    height: f64,
    title: &str,
) -> Option<f64> {
    let est_h = height - 2.0 * TICK_SIZE - 64.0 - title_extra(title, width);
    let leg = legend_width(names, est_h);
    (width - leg < MIN_PLOT_AREA).then_some(leg + MIN_PLOT_AREA)
}

/// Smallest and largest x and y of points (`INFINITY`/`NEG_INFINITY` while empty).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bounds {
    pub(super) x0: f64,
    pub(super) x1: f64,
    pub(super) y0: f64,
    pub(super) y1: f64,
}

impl Bounds {
    /// No point yet.
    pub(super) fn new() -> Bounds {
        Bounds {
            x0: f64::INFINITY,
            x1: f64::NEG_INFINITY,
            y0: f64::INFINITY,
            y1: f64::NEG_INFINITY,
        }
    }

    /// Takes in the point `(x, y)` when both are finite.
    pub(super) fn add(&mut self, x: f64, y: f64) {
        if x.is_finite() && y.is_finite() {
            self.x0 = self.x0.min(x);
            self.x1 = self.x1.max(x);
            self.y0 = self.y0.min(y);
            self.y1 = self.y1.max(y);
        }
    }

    /// Whether no point was taken in.
    pub(super) fn is_empty(&self) -> bool {
        !self.x0.is_finite()
    }
}

/// The plot rectangle of a chart `width` wide whose plot starts at `top` and is `plot_h`
/// high: left of it the y tick labels of `yt`, right of it a legend `leg_w` wide.
pub(super) fn plot_rect(width: f64, top: f64, plot_h: f64, leg_w: f64, yt: &Ticks) -> Rect {
    let left = 34.0 + y_tick_width(yt, TICK_SIZE);
    Rect {
        x: left,
        y: top,
        w: (width - left - 16.0 - leg_w).max(40.0),
        h: plot_h,
    }
}

/// The x axis of an x/y chart: data range, integer ticks, whether it spans exactly the data
/// ([`fit_x_ticks`]) and its title.
pub(super) struct XAxis<'a> {
    pub(super) lo: f64,
    pub(super) hi: f64,
    pub(super) integer: bool,
    pub(super) exact: bool,
    pub(super) label: &'a str,
}

/// An x/y chart's frame: the plot rectangle ([`plot_rect`]), x ticks fitted to its width, the
/// axes drawn into `out` (titled `x.label` and `y_label`) and the scales.
#[allow(clippy::too_many_arguments)]
pub(super) fn xy_frame(
    out: &mut String,
    width: f64,
    top: f64,
    plot_h: f64,
    leg_w: f64,
    x: XAxis,
    yt: &Ticks,
    y_label: &str,
) -> (Rect, Scale, Scale) {
    let r = plot_rect(width, top, plot_h, leg_w, yt);
    let xt = fit_x_ticks(x.lo, x.hi, r.w, x.integer, TICK_SIZE, x.exact);
    draw_axes(out, r, &xt, yt, x.label, y_label, TICK_SIZE);
    let (xs, ys) = scales(r, &xt, yt);
    (r, xs, ys)
}

/// Draws grid, axes, ticks and axis labels for numeric x and y axes.
pub(super) fn draw_axes(
    out: &mut String,
    r: Rect,
    xt: &Ticks,
    yt: &Ticks,
    x_label: &str,
    y_label: &str,
    tick_size: f64,
) {
    let (xs, ys) = scales(r, xt, yt);
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
pub(super) fn tick_budget(len: f64, label_px: f64) -> usize {
    ((len / (label_px + 14.0)).floor() as usize).clamp(2, 10)
}

pub(super) fn y_tick_width(yt: &Ticks, size: f64) -> f64 {
    yt.values
        .iter()
        .map(|&v| text_width(&yt.label(v), size))
        .fold(0.0, f64::max)
}

/// Chooses x ticks whose labels do not overlap at the given plot width. With `exact`, the axis
/// spans exactly the data range (ticks inside it) instead of extending to round bounds.
pub(super) fn fit_x_ticks(
    lo: f64,
    hi: f64,
    width: f64,
    integer: bool,
    size: f64,
    exact: bool,
) -> Ticks {
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
pub(super) fn inner_ticks(lo: f64, hi: f64) -> Ticks {
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
