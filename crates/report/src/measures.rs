//! The report's sections for the measures beyond the paper (`docs/measures.md`): calibrated
//! similarity of the pre-trained and fine-tuned spaces (one section per index, each score
//! labelled similarity or distance with its permutation-null band), MDL probes per layer, and
//! the per-example view (prediction flips per layer, with a sample of each kind).

use std::fmt::Write as _;

use crate::figures::{Figure, MeasurePart, Place};
use crate::svg::{self, esc, BarChart, BarSeries, LineChart, LineSeries};

use crate::model::Series;
pub use crate::model::{
    ExampleCounts, ExampleGroup, ExampleRow, ExamplesSection, MdlProbe, MdlSection, Measures,
    NullScore, SimilarityMeasure, SimilaritySection,
};

fn csv_text(header: &[&str], rows: &[Vec<String>]) -> String {
    let field = |f: &str| {
        if f.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", f.replace('"', "\"\""))
        } else {
            f.to_string()
        }
    };
    let mut out = header.join(",") + "\n";
    for r in rows {
        out.push_str(&r.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push('\n');
    }
    out
}

fn num(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// CSV columns of a measure's mean and interval over the fine-tuning seeds.
const SEED_COLS: [&str; 3] = ["seeds_mean", "seeds_ci_lower", "seeds_ci_upper"];

/// Caption sentence for a chart with a seeds line.
const SEEDS_NOTE: &str = " With several fine-tuning seeds, the extra line is the fine-tuned \
     replicates' mean with its 95 % bootstrap interval (band), as for the probes.";

/// Layer `k` of `seeds` as [`SEED_COLS`].
fn seed_cols(seeds: &Series, k: usize) -> [String; 3] {
    let at = |v: Option<&Vec<f64>>| {
        v.and_then(|v| v.get(k))
            .filter(|x| x.is_finite())
            .map(|x| x.to_string())
            .unwrap_or_default()
    };
    let ci = seeds.ci.as_ref();
    [
        at(Some(&seeds.values)),
        at(ci.map(|b| &b.lower)),
        at(ci.map(|b| &b.upper)),
    ]
}

/// A line of the replicates' means over `xs` with their interval as its band.
fn seed_line(name: &str, xs: &[f64], seeds: &Series, color: &str) -> LineSeries {
    LineSeries {
        name: name.into(),
        points: xs
            .iter()
            .copied()
            .zip(seeds.values.iter().copied())
            .collect(),
        band: match &seeds.ci {
            Some(b) => xs
                .iter()
                .zip(b.lower.iter().zip(&b.upper))
                .filter(|(_, (lo, hi))| lo.is_finite() && hi.is_finite())
                .map(|(&x, (&lo, &hi))| (x, lo, hi))
                .collect(),
            None => Vec::new(),
        },
        color: color.into(),
        dashed: false,
        markers: true,
    }
}

/// The figures of the measures sections.
pub(crate) fn figures(m: &Measures) -> Vec<Figure> {
    let mut out = Vec::new();
    if let Some(s) = &m.similarity {
        let xs: Vec<f64> = s.layers.iter().map(|&l| l as f64).collect();
        for (i, meas) in s.measures.iter().enumerate() {
            let mut chart = LineChart::new(
                &format!(
                    "{} ({}) per layer, pre-trained vs fine-tuned",
                    meas.name, meas.kind
                ),
                "layer",
                &format!("{} ({})", meas.name, meas.kind),
            );
            chart.integer_x = true;
            chart.series.push(LineSeries {
                name: "null mean ± 2 sd".into(),
                points: xs
                    .iter()
                    .zip(&meas.scores)
                    .map(|(&x, sc)| (x, sc.null_mean.unwrap_or(f64::NAN)))
                    .collect(),
                band: xs
                    .iter()
                    .zip(&meas.scores)
                    .filter_map(|(&x, sc)| {
                        let (m, sd) = (sc.null_mean?, sc.null_std?);
                        Some((x, m - 2.0 * sd, m + 2.0 * sd))
                    })
                    .collect(),
                color: svg::BEFORE_COLOR.into(),
                dashed: true,
                markers: false,
            });
            chart.series.push(LineSeries {
                name: meas.name.clone(),
                points: xs
                    .iter()
                    .zip(&meas.scores)
                    .map(|(&x, sc)| (x, sc.value))
                    .collect(),
                band: Vec::new(),
                color: svg::AFTER_COLOR.into(),
                dashed: false,
                markers: true,
            });
            if let Some(seeds) = &meas.seeds {
                chart.series.push(seed_line(
                    "fine-tuning seeds: mean, 95 % CI",
                    &xs,
                    seeds,
                    svg::color(3),
                ));
            }
            let rows: Vec<Vec<String>> = s
                .layers
                .iter()
                .zip(&meas.scores)
                .enumerate()
                .map(|(k, (l, sc))| {
                    let mut r = vec![
                        l.to_string(),
                        meas.kind.clone(),
                        sc.value.to_string(),
                        num(sc.null_mean),
                        num(sc.null_std),
                        num(sc.p_value),
                        num(sc.calibrated),
                    ];
                    if let Some(seeds) = &meas.seeds {
                        r.extend(seed_cols(seeds, k));
                    }
                    r
                })
                .collect();
            let mut header = vec![
                "layer",
                "kind",
                "value",
                "null_mean",
                "null_std",
                "p_value",
                "calibrated",
            ];
            if meas.seeds.is_some() {
                header.extend(SEED_COLS);
            }
            out.push(Figure {
                name: format!("measures-similarity-{}", meas.key.replace('_', "-")),
                place: Place::Measures(MeasurePart::Similarity(i)),
                caption: format!(
                    "{} ({}: {}) of each layer's pre-trained and fine-tuned vectors of the same {} {} \
                     units; grey: the mean and ±2 sd band of the same index with the fine-tuned rows \
                     permuted ({} permutations), i.e. its value for unrelated spaces of these shapes.{}",
                    meas.name,
                    meas.kind,
                    if meas.kind == "distance" {
                        "smaller is more alike"
                    } else {
                        "larger is more alike"
                    },
                    s.units,
                    s.split,
                    s.permutations,
                    if meas.seeds.is_some() {
                        SEEDS_NOTE
                    } else {
                        ""
                    }
                ),
                svg: chart.render(),
                csv: csv_text(&header, &rows),
            });
        }
    }
    if let Some(mdl) = &m.mdl {
        let xs: Vec<f64> = mdl.layers.iter().map(|&l| l as f64).collect();
        let mut chart = LineChart::new(
            "MDL compression per layer (uniform / online codelength)",
            "layer",
            "compression",
        );
        chart.integer_x = true;
        let mut rows = Vec::new();
        let mdl_seeds = mdl.probes.iter().any(|p| p.after_seeds.is_some());
        for (pi, p) in mdl.probes.iter().enumerate() {
            let mut add = |label: &str, values: &[f64], color: &str, dashed: bool| {
                if values.is_empty() {
                    return;
                }
                chart.series.push(LineSeries {
                    name: format!("{} {label}", p.name),
                    points: xs.iter().copied().zip(values.iter().copied()).collect(),
                    band: Vec::new(),
                    color: color.into(),
                    dashed,
                    markers: true,
                });
            };
            let shade = |c: &str| {
                if pi == 0 {
                    c.to_string()
                } else {
                    svg::color(pi + 2).into()
                }
            };
            add("original", &p.before, &shade(svg::BEFORE_COLOR), false);
            add("fine-tuned", &p.after, &shade(svg::AFTER_COLOR), false);
            add(
                "control, original",
                &p.control_before,
                svg::color(pi + 4),
                true,
            );
            add(
                "control, fine-tuned",
                &p.control_after,
                svg::color(pi + 6),
                true,
            );
            if let Some(seeds) = &p.after_seeds {
                chart.series.push(seed_line(
                    &format!("{} fine-tuning seeds: mean, 95 % CI", p.name),
                    &xs,
                    seeds,
                    svg::color(pi + 3),
                ));
            }
            for (k, l) in mdl.layers.iter().enumerate() {
                let at = |v: &[f64]| v.get(k).map(|x| x.to_string()).unwrap_or_default();
                let mut r = vec![
                    p.name.clone(),
                    l.to_string(),
                    at(&p.before),
                    at(&p.after),
                    at(&p.before_bits),
                    at(&p.after_bits),
                    at(&p.control_before),
                    at(&p.control_after),
                ];
                if mdl_seeds {
                    r.extend(match &p.after_seeds {
                        Some(seeds) => seed_cols(seeds, k),
                        None => Default::default(),
                    });
                }
                rows.push(r);
            }
        }
        let mut header = vec![
            "probe",
            "layer",
            "compression_original",
            "compression_finetuned",
            "online_bits_original",
            "online_bits_finetuned",
            "control_compression_original",
            "control_compression_finetuned",
        ];
        if mdl_seeds {
            header.extend(SEED_COLS);
        }
        out.push(Figure {
            name: "measures-mdl-compression".into(),
            place: Place::Measures(MeasurePart::Mdl),
            caption: format!(
                "Online-code MDL (Voita & Titov 2020) of the probes on {} training units: uniform \
                 codelength ({:.0} bits) divided by the online codelength, mean over {} seed(s). \
                 1 means the probe learnt nothing; higher means the labels are easier to extract. \
                 Dashed: the control task (random labels per word type), which a probe can only \
                 memorise.{}",
                mdl.units,
                mdl.uniform_bits,
                mdl.seeds,
                if mdl_seeds { SEEDS_NOTE } else { "" }
            ),
            svg: chart.render(),
            csv: csv_text(&header, &rows),
        });
    }
    if let Some(ex) = &m.examples {
        for (gi, g) in ex.groups.iter().enumerate() {
            let splits: Vec<String> = g.counts.iter().fold(Vec::new(), |mut v, c| {
                if !v.contains(&c.split) {
                    v.push(c.split.clone());
                }
                v
            });
            let mut categories = Vec::new();
            let mut rtw = Vec::new();
            let mut wtr = Vec::new();
            for c in &g.counts {
                categories.push(if splits.len() > 1 {
                    format!("{} L{}", c.split, c.layer)
                } else {
                    format!("layer {}", c.layer)
                });
                rtw.push(c.right_to_wrong as f64);
                wtr.push(c.wrong_to_right as f64);
            }
            let chart = BarChart {
                categories,
                series: vec![
                    BarSeries {
                        name: "right → wrong".into(),
                        values: rtw,
                        color: svg::BEFORE_COLOR.into(),
                    },
                    BarSeries {
                        name: "wrong → right".into(),
                        values: wtr,
                        color: svg::AFTER_COLOR.into(),
                    },
                ],
                title: g.title.clone(),
                y_label: "units".into(),
                width: 640.0,
                y_range: None,
            };
            let rows: Vec<Vec<String>> = g
                .counts
                .iter()
                .map(|c| {
                    vec![
                        c.layer.to_string(),
                        c.split.clone(),
                        c.stayed_right.to_string(),
                        c.stayed_wrong.to_string(),
                        c.right_to_wrong.to_string(),
                        c.wrong_to_right.to_string(),
                    ]
                })
                .collect();
            out.push(Figure {
                name: format!("measures-examples-{gi}"),
                place: Place::Measures(MeasurePart::Examples),
                caption: format!(
                    "{}: units whose DirectProbe prediction flipped with fine-tuning. {}",
                    g.title, g.about
                ),
                svg: chart.render(),
                csv: csv_text(
                    &[
                        "layer",
                        "split",
                        "stayed_right",
                        "stayed_wrong",
                        "right_to_wrong",
                        "wrong_to_right",
                    ],
                    &rows,
                ),
            });
        }
    }
    out
}

fn fmt(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if x.is_finite() => format!("{x:.digits$}").replace('-', "−"),
        Some(x) => svg::fmt_value(x),
        None => "–".into(),
    }
}

/// Table-of-contents entries.
pub(crate) fn toc(h: &mut String, m: Option<&Measures>) {
    if m.is_some() {
        h.push_str(
            "<li><a href=\"#similarity\">Calibrated similarity</a></li>\
             <li><a href=\"#mdl\">MDL probes</a></li>\
             <li><a href=\"#examples\">Per-example changes</a></li>",
        );
    }
}

/// The measures sections, each with its figures.
pub(crate) fn html(
    h: &mut String,
    m: Option<&Measures>,
    figures: &[Figure],
    figures_at: fn(&mut String, &[Figure], Place) -> usize,
) {
    let Some(m) = m else { return };
    h.push_str("<h2 id=\"similarity\">Calibrated similarity: pre-trained vs fine-tuned</h2>\n");
    match &m.similarity {
        None => h.push_str("<p class=\"not-computed\">not computed</p>\n"),
        Some(s) => {
            let _ = writeln!(
                h,
                "<p class=\"muted\">Each index compares every layer's pre-trained and fine-tuned \
                 vectors of the same {} {} units. Raw scores rise with depth and width alone \
                 (Gröger et al. 2026), so each comes with its permutation null: the index with the \
                 fine-tuned rows permuted ({} permutations, seeded); p = (1 + #null at least as \
                 extreme) / (N + 1), so the smallest possible p is {:.4}; calibrated = (value − null \
                 mean) / null sd. Debiased CKA is the report's default CKA.</p>",
                s.units,
                esc(&s.split),
                s.permutations,
                1.0 / (s.permutations as f64 + 1.0)
            );
            for (i, meas) in s.measures.iter().enumerate() {
                let _ = writeln!(
                    h,
                    "<h3>{} — a {}</h3><p class=\"muted\">{}</p>",
                    esc(&meas.name),
                    esc(&meas.kind),
                    esc(&meas.about)
                );
                let _ = write!(
                    h,
                    "<table><tr><th>layer</th><th>{} ({})</th><th>null mean</th><th>null sd</th>\
                     <th>p</th><th>calibrated</th></tr>",
                    esc(&meas.name),
                    esc(&meas.kind)
                );
                for (l, sc) in s.layers.iter().zip(&meas.scores) {
                    let _ = write!(
                        h,
                        "<tr><td>{l}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                        fmt(Some(sc.value), 4),
                        fmt(sc.null_mean, 4),
                        fmt(sc.null_std, 4),
                        fmt(sc.p_value, 4),
                        fmt(sc.calibrated, 1)
                    );
                }
                h.push_str("</table>\n");
                figures_at(h, figures, Place::Measures(MeasurePart::Similarity(i)));
            }
        }
    }
    h.push_str("<h2 id=\"mdl\">MDL probes</h2>\n");
    match &m.mdl {
        None => h.push_str("<p class=\"not-computed\">not computed</p>\n"),
        Some(mdl) => {
            h.push_str(
                "<p class=\"muted\">Accuracy alone hides how hard a probe worked: the online \
                 codelength (Voita &amp; Titov 2020; blocks at 0.1 … 100 % of train, each sent with a \
                 probe trained from scratch on the earlier blocks) measures how much data the probe \
                 needs. Compression = uniform / online codelength (a similarity-like score: higher is \
                 easier, 1 is chance).</p>\n<table><tr><th>probe</th><th>layer</th>\
                 <th>compression original</th><th>compression fine-tuned</th>\
                 <th>control original</th><th>control fine-tuned</th></tr>",
            );
            for p in &mdl.probes {
                for (k, l) in mdl.layers.iter().enumerate() {
                    let at = |v: &[f64]| fmt(v.get(k).copied(), 2);
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{l}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                        esc(&p.name),
                        at(&p.before),
                        at(&p.after),
                        at(&p.control_before),
                        at(&p.control_after)
                    );
                }
            }
            h.push_str("</table>\n");
            figures_at(h, figures, Place::Measures(MeasurePart::Mdl));
        }
    }
    h.push_str("<h2 id=\"examples\">Per-example changes</h2>\n");
    match &m.examples {
        None => h.push_str("<p class=\"not-computed\">not computed</p>\n"),
        Some(ex) => {
            let _ = writeln!(
                h,
                "<p class=\"muted\">Every unit with its prediction before and after fine-tuning is \
                 listed in <code>{}</code>.</p>",
                esc(&ex.csv_path)
            );
            for g in &ex.groups {
                let _ = writeln!(
                    h,
                    "<h3>{}</h3><p class=\"muted\">{}</p><table><tr><th>layer</th><th>split</th>\
                     <th>stayed right</th><th>stayed wrong</th><th>right → wrong</th>\
                     <th>wrong → right</th></tr>",
                    esc(&g.title),
                    esc(&g.about)
                );
                for c in &g.counts {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                        c.layer,
                        esc(&c.split),
                        c.stayed_right,
                        c.stayed_wrong,
                        c.right_to_wrong,
                        c.wrong_to_right
                    );
                }
                h.push_str("</table>\n<table><tr><th>change</th><th>layer</th><th>split</th>\
                            <th>word</th><th>gold</th><th>before</th><th>after</th><th>sentence</th></tr>");
                for r in &g.samples {
                    let _ = write!(
                        h,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b></td><td>{}</td><td>{}</td>\
                         <td>{}</td><td>{}</td></tr>",
                        esc(&r.change.replace('_', " ")),
                        r.layer,
                        esc(&r.split),
                        esc(&r.word),
                        esc(&r.gold),
                        esc(&r.before),
                        esc(&r.after),
                        esc(&r.sentence)
                    );
                }
                h.push_str("</table>\n");
            }
            figures_at(h, figures, Place::Measures(MeasurePart::Examples));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{sections, ReportData};

    fn seed_band() -> Series {
        Series {
            values: vec![0.25, 0.65],
            ci: Some(crate::model::Band {
                lower: vec![0.2, 0.6],
                upper: vec![0.3, f64::NAN],
            }),
        }
    }

    fn score(v: f64) -> NullScore {
        NullScore {
            value: v,
            null_mean: Some(0.01),
            null_std: Some(0.002),
            p_value: Some(1.0 / 101.0),
            calibrated: Some((v - 0.01) / 0.002),
        }
    }

    #[test]
    fn every_measure_gets_a_section_a_labelled_figure_and_its_csv() {
        let measures = Measures {
            similarity: Some(SimilaritySection {
                layers: vec![0, 1],
                split: "test".into(),
                units: 500,
                permutations: 100,
                k: 10,
                measures: vec![
                    SimilarityMeasure {
                        key: "debiased_cka".into(),
                        name: "debiased CKA".into(),
                        kind: "similarity".into(),
                        about: "unbiased HSIC".into(),
                        scores: vec![score(0.9), score(0.5)],
                        seeds: None,
                    },
                    SimilarityMeasure {
                        key: "procrustes_angular".into(),
                        name: "angular Procrustes".into(),
                        kind: "distance".into(),
                        about: "arccos".into(),
                        scores: vec![score(0.2), score(0.7)],
                        seeds: Some(seed_band()),
                    },
                ],
            }),
            mdl: Some(MdlSection {
                layers: vec![0, 1],
                units: 100,
                uniform_bits: 358.0,
                seeds: 1,
                probes: vec![MdlProbe {
                    name: "linear".into(),
                    before: vec![1.5, 2.0],
                    after: vec![1.6, 3.0],
                    before_bits: vec![240.0, 180.0],
                    after_bits: vec![220.0, 120.0],
                    control_before: vec![1.0, 1.01],
                    control_after: vec![],
                    after_seeds: Some(seed_band()),
                }],
            }),
            examples: Some(ExamplesSection {
                csv_path: "compare/examples.csv".into(),
                groups: vec![ExampleGroup {
                    title: "test units".into(),
                    about: "nearest cluster".into(),
                    counts: vec![ExampleCounts {
                        layer: 1,
                        split: "test".into(),
                        stayed_right: 80,
                        stayed_wrong: 5,
                        right_to_wrong: 3,
                        wrong_to_right: 12,
                    }],
                    samples: vec![ExampleRow {
                        layer: 1,
                        split: "test".into(),
                        sentence: "the <dog> sat".into(),
                        word: "dog".into(),
                        gold: "NOUN".into(),
                        before: "VERB".into(),
                        after: "NOUN".into(),
                        change: "wrong_to_right".into(),
                    }],
                }],
            }),
        };
        let data = ReportData {
            measures: Some(measures),
            ..Default::default()
        };
        let figures = sections::build(&data);
        let names: Vec<&str> = figures.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "measures-similarity-debiased-cka",
                "measures-similarity-procrustes-angular",
                "measures-mdl-compression",
                "measures-examples-0"
            ]
        );
        let proc = &figures[1];
        // Without seeds, no seed columns or line; with them, the replicates' mean and interval
        // (an undefined edge left empty).
        assert!(figures[0]
            .csv
            .starts_with("layer,kind,value,null_mean,null_std,p_value,calibrated\n"));
        assert!(!figures[0].svg.contains("fine-tuning seeds"));
        assert!(proc.csv.starts_with(
            "layer,kind,value,null_mean,null_std,p_value,calibrated,seeds_mean,seeds_ci_lower,\
             seeds_ci_upper\n"
        ));
        assert!(proc.csv.contains(",0.25,0.2,0.3\n"), "{}", proc.csv);
        assert!(proc.csv.contains(",0.65,0.6,\n"), "{}", proc.csv);
        assert!(proc.svg.contains("fine-tuning seeds: mean, 95 % CI"));
        assert!(proc.caption.contains("95 % bootstrap interval"));
        assert!(proc.csv.contains("\n0,distance,0.2,0.01,0.002,"));
        assert!(proc.svg.contains("angular Procrustes (distance)"));
        assert!(proc.caption.contains("smaller is more alike"));
        assert!(figures[0].caption.contains("larger is more alike"));
        // the null band: mean ± 2 sd of the permuted index
        assert!(figures[0].svg.contains("null mean ± 2 sd"));
        assert!(figures[2]
            .csv
            .contains("linear,1,2,3,180,120,1.01,,0.65,0.6,\n"));
        assert!(figures[2]
            .svg
            .contains("linear fine-tuning seeds: mean, 95 % CI"));
        assert!(figures[3].csv.contains("1,test,80,5,3,12\n"));
        let page = sections::page(&data, &figures).unwrap();
        for heading in [
            "<h3>debiased CKA — a similarity</h3>",
            "<h3>angular Procrustes — a distance</h3>",
            "<h2 id=\"mdl\">MDL probes</h2>",
            "<h2 id=\"examples\">Per-example changes</h2>",
        ] {
            assert!(page.contains(heading), "{heading}");
        }
        assert!(page.contains("smallest possible p is 0.0099"));
        assert!(page.contains("the &lt;dog&gt; sat"));
        assert!(page.contains("href=\"figures/measures-mdl-compression.csv\""));
    }
}
