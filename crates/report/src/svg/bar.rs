//! Grouped bar charts.

use std::fmt::Write as _;

use super::*;

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
        let top = plot_top(&self.title, self.width);
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
            return no_data_chart(out, 60.0, top, width - 80.0, plot_h);
        }
        if let Some((a, b)) = self.y_range {
            lo = a;
            hi = b;
        }
        let yt = nice_ticks(lo, hi.max(0.0), 6, false);
        let r = plot_rect(width, top, plot_h, leg_w, &yt);
        let ys = y_scale(r, &yt);
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
        let gw = r.w / n as f64;
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
