//! Categorical scatter plots.

use super::*;

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
            if let Some(width) = width_for_legend(&refs, self.width, self.height, &self.title) {
                let mut wider = self.clone();
                wider.width = width;
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
        let top = plot_top(&self.title, self.width);
        let plot_h = self.height - top - XY_BOTTOM;
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
            return no_data_chart(out, 60.0, top, self.width - 80.0, plot_h);
        }
        let mut b = Bounds::new();
        for p in &pts {
            b.add(p.0, p.1);
        }
        let yt = nice_ticks(
            b.y0,
            b.y1,
            tick_budget(plot_h, TICK_SIZE + 10.0).min(7),
            false,
        );
        let x = XAxis {
            lo: b.x0,
            hi: b.x1,
            integer: false,
            exact: false,
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
