//! Small multiples: one small line chart per panel.

use std::fmt::Write as _;

use super::*;

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
        let mut b = Bounds::new();
        for p in &self.panels {
            for &(x, y) in &p.points {
                b.add(x, y);
            }
        }
        let yt = nice_ticks(b.y0.min(0.0), b.y1, 4, false);
        let yw = y_tick_width(&yt, 10.0);
        let left = 30.0 + yw;
        let width = left + cols as f64 * pw + 10.0;
        let top = plot_top(&self.title, width);
        let height = top + rows as f64 * ph + 26.0;
        let mut out = String::new();
        svg_open(&mut out, width, height, &self.title);
        if self.panels.is_empty() || b.is_empty() {
            return no_data_chart(out, left, top, width - left - 10.0, height - top - 40.0);
        }
        let inner_w = pw - yw - 18.0;
        let xt = fit_x_ticks(b.x0, b.x1, inner_w, self.integer_x, 10.0, true);
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
            let (xs, ys) = scales(rect, &xt, &yt);
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
