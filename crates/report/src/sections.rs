//! The registry of a run's report sections: one table that both the figure builder
//! ([`crate::figures::build`]) and the page ([`crate::html::page`]) iterate over, so a new
//! section is one entry here (plus its data field and figure function).
//!
//! Per-layer analyses need no entry at all: their measures travel in
//! [`LayerSeries::measures`](crate::LayerSeries) and are drawn in the `Layers` section
//! (registered in `crates/compare/src/layer_analyses.rs`).

use crate::figures::{slug, Builder, Ctx, Figure, RunPart};
use crate::model::{ReportData, TaskModelReport};

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
    b.table_a(&data.table_a);
    if let Some(rows) = &data.cross_task {
        b.cross_task(rows);
    }
    if let Some(a) = &data.arms {
        b.arms(a);
    }
    for (i, run) in data.runs.iter().enumerate() {
        let prefix = format!("{}-{}", slug(&run.task), slug(&run.model));
        let ctx = Ctx {
            i,
            prefix: &prefix,
            title: format!("{} · {}", run.task, run.model),
        };
        for section in RUN_SECTIONS {
            (section.figures)(&mut b, &ctx, run);
        }
    }
    if let Some(m) = &data.measures {
        b.figs.extend(crate::measures::figures(m));
    }
    b.figs
}
