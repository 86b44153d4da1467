//! The per-example view (`docs/measures.md`) on a run directory. For every test unit (or a
//! seeded sample, `examples.units`), at every layer, the label DirectProbe predicts before and after fine-tuning (the
//! label of the nearest cluster of the stored train clustering) and whether the prediction
//! flipped; for the memorisation experiment the same on subtrain, subtest and test units at its
//! layer, with DirectProbe clustering a sample of subtrain ([`compute`]). [`write`] writes
//! `compare/examples.csv` (every unit) and `compare/examples.json` (counts per layer and split,
//! a sample of each flip kind).

use anyhow::{bail, Context, Result};
use serde::Serialize;
use tunescope_data::{Split, Target, Task};
use tunescope_geometry::directprobe::{Clustering, Points, Span};
use tunescope_geometry::flips::{
    count_flips, flip_records, nearest_cluster_labels, write_flips_csv, FlipRecord, UnitContext,
};
use tunescope_geometry::stats::Rng;

use crate::analysis::LabelledVectors;
use crate::dp::{self as cdp, DirectProbeSettings};
use crate::experiments as ex;
use crate::io::{label_list, load_layer, FINETUNED, PRETRAINED};
use crate::measures::{sample_examples, ExampleCount, ExampleGroup, ExamplesResult};
use tunescope_data::rundir::RunDir;

/// The memorisation split the per-example view re-uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoSplit {
    /// Layer of the experiment.
    pub layer: usize,
    /// Share of the training sentences in subtrain.
    pub subtrain: f64,
    /// Seed of the sentence split.
    pub seed: u64,
}

/// What the per-example view reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Layers.
    pub layers: Vec<usize>,
    /// DirectProbe settings (of the stored train clusterings, and of the subtrain clustering).
    pub directprobe: DirectProbeSettings,
    /// Units predicted per split (`examples.units`: 0 = all, else a seeded sample).
    pub units: usize,
    /// Units of each flip kind shown per layer and split (`examples.sample`).
    pub sample: usize,
    /// Seed of the samples (`study.seed`).
    pub seed: u64,
    /// The memorisation experiment's split, when it runs.
    pub memorisation: Option<MemoSplit>,
}

/// The per-example view of a run: its result, every unit's record and what the summary names.
pub struct Examples {
    /// Counts and samples per group (`compare/examples.json`).
    pub result: ExamplesResult,
    /// Every predicted unit: the test sample's, then the memorisation group's
    /// (`compare/examples.csv`).
    pub records: Vec<FlipRecord>,
    /// Test units predicted.
    pub units: usize,
    /// Layers left out (a degenerate train clustering).
    pub degenerate: Vec<usize>,
}

/// Sentence and word of every unit of `split` listed in `rows`, named `name`.
fn contexts(split: &Split, rows: &[usize], name: &str) -> Vec<UnitContext> {
    rows.iter()
        .map(|&r| {
            let u = &split.units[r];
            let words = &split.sentences[u.sentence].words;
            let word = match &u.target {
                Target::Token(i) => words[*i].clone(),
                Target::Pair { dependent, head } => {
                    format!("{} → {}", words[*dependent], words[*head])
                }
                Target::Span(ids) => ids
                    .iter()
                    .map(|&i| words[i].as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                Target::Sentence => String::new(),
            };
            UnitContext {
                split: name.to_string(),
                sentence: words.join(" "),
                word,
            }
        })
        .collect()
}

/// A trained DirectProbe classifier: the clustered rows (in the span DirectProbe clustered them
/// in) and their clusters.
struct Classifier {
    points: Points,
    span: Span,
    clustering: Clustering,
}

impl Classifier {
    /// The stored train clustering of `model` at `layer`; `None` for a degenerate layer.
    fn stored(
        out: &RunDir,
        model: &str,
        layer: usize,
        train: &LabelledVectors,
    ) -> Result<Option<Self>> {
        let dir = out.directprobe_dir(model, "train", layer);
        let rows = cdp::load_rows(&dir, train.rows)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let Some(assignment) = cdp::load_assignment(&dir, rows.len())? else {
            bail!(
                "{}: expected one cluster id per row of rows.txt ({} rows)",
                dir.join("clusters.txt").display(),
                rows.len()
            );
        };
        let used = train.select(&rows);
        let clustering = Clustering::from_assignment(&assignment, &used.labels)
            .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        let (points, span) = cdp::points_of(&used)?;
        Ok(Some(Classifier {
            points,
            span,
            clustering,
        }))
    }

    /// DirectProbe run afresh on `v` (with `settings`' cap and seed); `None` when degenerate.
    fn fresh(
        v: &LabelledVectors,
        labels: &[String],
        settings: DirectProbeSettings,
    ) -> Result<Option<Self>> {
        let (_, clustering, _, rows) = cdp::run(v, labels, settings)?;
        if rows.is_empty() {
            return Ok(None);
        }
        let (points, span) = cdp::points_of(&v.select(&rows))?;
        Ok(Some(Classifier {
            points,
            span,
            clustering,
        }))
    }

    fn predict(&self, v: &LabelledVectors, labels: &[String]) -> Result<Vec<String>> {
        let test = self.span.project(&cdp::raw_points(v)?)?;
        let preds = nearest_cluster_labels(&self.points, &self.clustering, &test)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(preds.into_iter().map(|l| labels[l].clone()).collect())
    }
}

fn names(v: &LabelledVectors, labels: &[String]) -> Vec<String> {
    v.labels.iter().map(|&l| labels[l].clone()).collect()
}

fn group(name: &str, about: String, records: &[FlipRecord], s: &Settings) -> ExampleGroup {
    ExampleGroup {
        name: name.into(),
        about,
        counts: count_flips(records)
            .into_iter()
            .map(|((layer, split), counts)| ExampleCount {
                layer,
                split,
                counts,
            })
            .collect(),
        samples: sample_examples(records, s.sample, s.seed),
    }
}

/// The per-example view of the run directory `out` of `task`; `progress` receives a message
/// per layer.
pub fn compute(
    s: &Settings,
    out: &RunDir,
    task: &Task,
    progress: &dyn Fn(String),
) -> Result<Examples> {
    let labels = label_list(out)?;
    let sample = |n: usize, salt: u64| -> Vec<usize> {
        if s.units == 0 {
            (0..n).collect()
        } else {
            Rng::new(s.seed ^ salt).sample_indices(n, s.units)
        }
    };
    let test_rows = sample(task.test.units.len(), 0);
    let test_ctx = contexts(&task.test, &test_rows, "test");
    let mut records = Vec::new();
    let mut degenerate = Vec::new();
    for &layer in &s.layers {
        progress(format!("layer {layer}: {} test units", test_rows.len()));
        let mut preds = Vec::new();
        let mut gold = Vec::new();
        for model in [PRETRAINED, FINETUNED] {
            let train = load_layer(out, model, "train", layer, &labels)?;
            let test = load_layer(out, model, "test", layer, &labels)?.select(&test_rows);
            gold = names(&test, &labels);
            match Classifier::stored(out, model, layer, &train)? {
                Some(c) => preds.push(c.predict(&test, &labels)?),
                None => break,
            }
        }
        if preds.len() < 2 {
            degenerate.push(layer);
            continue;
        }
        records.extend(flip_records(layer, &gold, &preds[0], &preds[1], &test_ctx)?);
    }
    let mut groups = vec![group(
        "test",
        format!(
            "{} test units{}; the label of the nearest DirectProbe cluster (convex-hull \
             distance) of each encoder's train clustering ({} train units){}.",
            test_rows.len(),
            if test_rows.len() == task.test.units.len() {
                " (all)"
            } else {
                " (seeded sample)"
            },
            s.directprobe
                .max_units
                .map_or("all".to_string(), |c| format!("up to {c}")),
            if degenerate.is_empty() {
                String::new()
            } else {
                format!("; degenerate layers left out: {degenerate:?}")
            }
        ),
        &records,
        s,
    )];
    let mut memo_records = Vec::new();
    if let Some(m) = &s.memorisation {
        progress(format!(
            "memorisation layer {}: DirectProbe on subtrain",
            m.layer
        ));
        let ex::SubtrainSplit {
            subtrain: sub_rows,
            subtest: held_rows,
            ..
        } = ex::split_units(&task.train, m.subtrain, m.seed);
        let pick = |rows: &[usize], salt: u64| -> Vec<usize> {
            sample(rows.len(), salt)
                .into_iter()
                .map(|i| rows[i])
                .collect()
        };
        let parts = [
            ("subtrain", pick(&sub_rows, 1)),
            ("subtest", pick(&held_rows, 2)),
        ];
        let mut preds: Vec<Vec<Vec<String>>> = Vec::new();
        let mut golds = Vec::new();
        for model in [PRETRAINED, FINETUNED] {
            let train = load_layer(out, model, "train", m.layer, &labels)?;
            let test = load_layer(out, model, "test", m.layer, &labels)?.select(&test_rows);
            let Some(c) = Classifier::fresh(&train.select(&sub_rows), &labels, s.directprobe)
                .with_context(|| format!("DirectProbe on {model} subtrain layer {}", m.layer))?
            else {
                break;
            };
            let mut per = Vec::new();
            golds.clear();
            for (_, rows) in &parts {
                let v = train.select(rows);
                golds.push(names(&v, &labels));
                per.push(c.predict(&v, &labels)?);
            }
            golds.push(names(&test, &labels));
            per.push(c.predict(&test, &labels)?);
            preds.push(per);
        }
        if preds.len() == 2 {
            for (k, (name, rows)) in parts.iter().enumerate() {
                let ctx = contexts(&task.train, rows, name);
                memo_records.extend(flip_records(
                    m.layer,
                    &golds[k],
                    &preds[0][k],
                    &preds[1][k],
                    &ctx,
                )?);
            }
            memo_records.extend(flip_records(
                m.layer,
                &golds[2],
                &preds[0][2],
                &preds[1][2],
                &contexts(&task.test, &test_rows, "memorisation-test"),
            )?);
            groups.push(group(
                "memorisation",
                format!(
                    "Layer {}: DirectProbe clusters a sample of subtrain ({} units, the sentences \
                     the memorisation probe trains on) of each encoder; subtrain, subtest (the \
                     rest of the training sentences, seen by fine-tuning only) and test units \
                     get the nearest cluster's label. Clustered subtrain units are always right.",
                    m.layer,
                    sub_rows.len()
                ),
                &memo_records,
                s,
            ));
        }
    }
    Ok(Examples {
        result: ExamplesResult {
            layers: s.layers.clone(),
            groups,
        },
        records: records.into_iter().chain(memo_records).collect(),
        units: test_rows.len(),
        degenerate,
    })
}

/// Writes `e` into the run directory `out`: `compare/examples.csv` and `compare/examples.json`.
pub fn write(out: &RunDir, e: &Examples) -> Result<()> {
    let dir = out.compare();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let csv = out.examples_csv();
    write_flips_csv(&csv, &e.records).with_context(|| format!("cannot write {}", csv.display()))?;
    e.result.write(&out.examples_json())
}
