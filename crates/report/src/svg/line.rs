//! Line charts with confidence bands.

use std::fmt::Write as _;

use super::*;

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
        if let Some(width) = width_for_legend(&names, self.width, self.height, &self.title) {
            let mut wider = self.clone();
            wider.width = width;
            return wider.render_axes(log);
        }
        let mut out = String::new();
        svg_open(&mut out, self.width, self.height, &self.title);
        let mut b = Bounds::new();
        for s in &self.series {
            for &(x, y) in &s.points {
                b.add(x, y);
            }
            for &(x, lo, hi) in &s.band {
                if x.is_finite() && lo.is_finite() && hi.is_finite() {
                    b.y0 = b.y0.min(lo);
                    b.y1 = b.y1.max(hi);
                }
            }
        }
        let top = plot_top(&self.title, self.width);
        let plot_h = self.height - top - XY_BOTTOM;
        let leg_w = legend_width(&names, plot_h);
        if b.is_empty() {
            return no_data_chart(out, 60.0, top, self.width - 80.0, plot_h);
        }
        let (y0, y1) = self.y_range.unwrap_or((b.y0, b.y1));
        let mut yt = nice_ticks(y0, y1, tick_budget(plot_h, TICK_SIZE + 10.0).min(7), log);
        yt.log10 = log;
        let x = XAxis {
            lo: b.x0,
            hi: b.x1,
            integer: self.integer_x,
            exact: true,
            label: &self.x_label,
        };
        let (r, xs, ys) = xy_frame(
            &mut out,
            self.width,
            top,
            plot_h,
            leg_w,
            x,
            &yt,
            &self.y_label,
        );
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
