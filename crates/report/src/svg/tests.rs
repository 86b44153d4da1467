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
