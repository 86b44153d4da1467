//! The registry of the report's sections: [`PAGE_SECTIONS`] (the page's top-level sections, in
//! page order) and [`RUN_SECTIONS`] (the sub-sections of each task × model run). The figure
//! builder ([`build`]), the table of contents and the page ([`crate::html::page`]) all iterate
//! over these tables, so a new section is one entry here (plus its data field, its figure
//! function and its HTML).
//!
//! Per-layer analyses need no entry at all: their measures travel in
//! [`LayerSeries::measures`](crate::LayerSeries) and are drawn in the `Layers` section
//! (registered in `crates/compare/src/layer_analyses.rs`).

use crate::figures::{slug, Builder, Ctx, Figure, Place, RunPart};
use std::fmt::Write as _;

use crate::html;
use crate::model::{ReportData, TaskModelReport};
use crate::svg::esc;
use crate::Result;

/// One top-level section of the page.
pub(crate) struct PageSection {
    /// Adds its entries to the table of contents.
    pub toc: fn(&mut String, &ReportData),
    /// Adds its figures (none when the study lacks its data).
    pub figures: fn(&mut Builder, &ReportData),
    /// Writes its part of the page, with its figures from the list of all figures.
    pub html: fn(&mut String, &ReportData, &[Figure]),
}

/// Every top-level section, in page order.
pub(crate) const PAGE_SECTIONS: &[PageSection] = &[
    PageSection {
        toc: |h, _| h.push_str("<li><a href=\"#table-a\">Table A: probing</a></li>"),
        figures: |b, d| b.table_a(&d.table_a),
        html: |h, d, f| html::table_a(h, &d.table_a, f),
    },
    PageSection {
        toc: |h, _| h.push_str("<li><a href=\"#cross-task\">Cross-task fine-tuning</a></li>"),
        figures: |b, d| {
            if let Some(rows) = &d.cross_task {
                b.cross_task(rows)
            }
        },
        html: |h, d, f| html::cross_task(h, d.cross_task.as_deref(), f),
    },
    PageSection {
        toc: |h, d| {
            if d.arms.is_some() {
                h.push_str("<li><a href=\"#arms\">Fine-tuning methods</a></li>");
            }
        },
        figures: |b, d| {
            if let Some(a) = &d.arms {
                b.arms(a)
            }
        },
        html: |h, d, f| {
            if let Some(a) = &d.arms {
                html::arms(h, a, f)
            }
        },
    },
    PageSection {
        toc: runs_toc,
        figures: |b, d| {
            for (i, run) in d.runs.iter().enumerate() {
                let prefix = format!("{}-{}", slug(&run.task), slug(&run.model));
                let ctx = Ctx {
                    i,
                    prefix: &prefix,
                    title: format!("{} · {}", run.task, run.model),
                };
                for section in RUN_SECTIONS {
                    (section.figures)(b, &ctx, run);
                }
            }
        },
        html: runs,
    },
    PageSection {
        toc: |h, d| crate::measures::toc(h, d.measures.as_ref()),
        figures: |b, d| {
            if let Some(m) = &d.measures {
                b.figs.extend(crate::measures::figures(m));
            }
        },
        html: |h, d, f| crate::measures::html(h, d.measures.as_ref(), f, html::figures_at),
    },
    PageSection {
        toc: |h, _| h.push_str("<li><a href=\"#study\">Study settings</a></li>"),
        figures: |_, _| {},
        html: |h, d, _| html::study(h, d.study.as_ref()),
    },
];

/// One section of a task × model run.
pub(crate) struct RunSection {
    /// Where its figures are placed.
    pub part: RunPart,
    /// Heading on the page.
    pub heading: &'static str,
    /// One line on what it shows.
    pub intro: &'static str,
    /// Adds its figures for a run (none when the run lacks its data).
    pub figures: fn(&mut Builder, &Ctx, &TaskModelReport),
}

/// Every run section, in page order.
pub(crate) const RUN_SECTIONS: &[RunSection] = &[
    RunSection {
        part: RunPart::Layers,
        heading: "Per-layer probing and geometry",
        intro: "RQ1/RQ2: accuracy, clusters and distances layer by layer.",
        figures: |b, c, r| {
            if let Some(l) = &r.layers {
                b.layers(c, l)
            }
        },
    },
    RunSection {
        part: RunPart::Distances,
        heading: "Label distances",
        intro: "Distances between the convex hulls of label clusters (DirectProbe).",
        figures: |b, c, r| {
            if let Some(d) = &r.distances {
                b.distances(c, d)
            }
        },
    },
    RunSection {
        part: RunPart::Pca,
        heading: "PCA of units",
        intro: "Where the units of one layer lie, before and after fine-tuning.",
        figures: |b, c, r| {
            if let Some(p) = &r.pca {
                b.pca(c, p)
            }
        },
    },
    RunSection {
        part: RunPart::Movement,
        heading: "Layer movement",
        intro:
            "RQ3: how far and in which directions each layer's label centroids move (Figs. N, P).",
        figures: |b, c, r| {
            if let Some(m) = &r.movement {
                b.movement(c, m)
            }
        },
    },
    RunSection {
        part: RunPart::Dynamics,
        heading: "Fine-tuning dynamics",
        intro: "Distances and structure over fine-tuning checkpoints (Figs. L, M, O).",
        figures: |b, c, r| {
            if let Some(d) = &r.dynamics {
                b.dynamics(c, d);
                crate::dynamics_measures::figures(b, c, d);
            }
        },
    },
    RunSection {
        part: RunPart::Memorisation,
        heading: "Memorisation",
        intro: "Does fine-tuning encode its training set? (paper v1, Fig. E).",
        figures: |b, c, r| {
            if let Some(m) = &r.memorisation {
                b.memorisation(c, m)
            }
        },
    },
    RunSection {
        part: RunPart::Cka,
        heading: "Layer × layer CKA",
        intro:
            "Representational similarity of every pre-trained layer with every fine-tuned layer.",
        figures: |b, c, r| {
            if let Some(k) = &r.cka_layers {
                b.cka(c, k)
            }
        },
    },
];

/// Builds all figures whose data is present.
pub(crate) fn build(data: &ReportData) -> Vec<Figure> {
    let mut b = Builder::default();
    for section in PAGE_SECTIONS {
        (section.figures)(&mut b, data);
    }
    b.figs
}

/// The page for `data` with its `figures` inlined: every [`PAGE_SECTIONS`] entry in order,
/// after a table of contents of them.
pub(crate) fn page(data: &ReportData, figures: &[Figure]) -> Result<String> {
    let mut h = String::new();
    html::open(&mut h, data);
    h.push_str("<nav><ul>");
    for section in PAGE_SECTIONS {
        (section.toc)(&mut h, data);
    }
    h.push_str("</ul></nav>\n");
    for section in PAGE_SECTIONS {
        (section.html)(&mut h, data, figures);
    }
    html::close(&mut h, data)?;
    Ok(h)
}

/// The table-of-contents entries of the runs, one per task × model.
fn runs_toc(h: &mut String, data: &ReportData) {
    for (i, r) in data.runs.iter().enumerate() {
        let _ = write!(
            h,
            "<li><a href=\"#{}\">{} · {}</a></li>",
            html::anchor(i),
            esc(&r.task),
            esc(&r.model)
        );
    }
}

fn runs(h: &mut String, data: &ReportData, figures: &[Figure]) {
    if data.runs.is_empty() {
        h.push_str("<h2>Per task × model analyses</h2>\n");
        html::not_computed(h);
        return;
    }
    for (i, r) in data.runs.iter().enumerate() {
        let _ = writeln!(
            h,
            "<h2 id=\"{}\">{} · {}</h2>",
            html::anchor(i),
            esc(&r.task),
            esc(&r.model)
        );
        for section in RUN_SECTIONS {
            let _ = writeln!(
                h,
                "<h3>{}</h3><p class=\"muted\">{}</p>",
                section.heading,
                esc(section.intro)
            );
            if html::figures_at(h, figures, Place::Run(i, section.part)) == 0 {
                html::not_computed(h);
            }
        }
    }
}
