//! The examples stage: the per-example view (`docs/measures.md`). For a seeded sample of the
//! test units, at every layer, the label DirectProbe predicts before and after fine-tuning (the
//! label of the nearest cluster of the stored train clustering) and whether the prediction
//! flipped; for the memorisation experiment the same on subtrain, subtest and test units at its
//! layer, with DirectProbe clustering a sample of subtrain. Writes `compare/examples.csv` (every
//! unit) and `compare/examples.json` (counts per layer and split, a sample of each flip kind).

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::dp::{self as cdp, DirectProbeSettings};
use tunescope_compare::experiments as ex;
use tunescope_compare::io::{self as cio, FINETUNED, PRETRAINED};
use tunescope_compare::measures::{
    sample_examples, ExampleCount, ExampleGroup, ExamplesResult, EXAMPLES_CSV,
};
use tunescope_data::{Split, Target};
use tunescope_geometry::directprobe::{Clustering, Points, Span};
use tunescope_geometry::flips::{
    count_flips, flip_records, nearest_cluster_labels, write_flips_csv, FlipRecord, UnitContext,
};
use tunescope_geometry::stats::Rng;

use super::data::read_task;
use super::directprobe::directprobe_settings;
use super::extract::{label_list, load_layer};
use crate::config::Config;
use crate::study::display::Display;

/// The memorisation split the examples stage re-uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoSplit {
    /// Layer of the experiment.
    pub layer: usize,
    /// Share of the training sentences in subtrain.
    pub subtrain: f64,
    /// Seed of the sentence split.
    pub seed: u64,
}

/// What the examples stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Layers.
    pub layers: Vec<usize>,
    /// DirectProbe settings (of the stored train clusterings, and of the subtrain clustering).
    pub directprobe: DirectProbeSettings,
    /// Units predicted per split (seeded sample, `examples.units`; 0 = all).
    pub units: usize,
    /// Units of each flip kind shown per layer and split (`examples.sample`).
    pub sample: usize,
    /// Seed of the samples (`study.seed`).
    pub seed: u64,
    /// The memorisation experiment's split, when it runs.
    pub memorisation: Option<MemoSplit>,
}

/// The examples settings of `config` over `layers`.
pub fn settings(config: &Config, layers: &[usize]) -> Settings {
    Settings {
        layers: layers.to_vec(),
        directprobe: directprobe_settings(config),
        units: config.examples.units,
        sample: config.examples.sample,
        seed: config.study.seed,
        memorisation: config.memorisation.enabled.then(|| MemoSplit {
            layer: config.experiment_layer(config.memorisation.layer, layers),
            subtrain: config.memorisation.subtrain,
            seed: config.study.seed,
        }),
    }
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

fn points(v: &LabelledVectors) -> Result<Points> {
    Points::new(
        v.data.iter().map(|&x| f64::from(x)).collect(),
        v.rows,
        v.dim,
    )
    .map_err(|e| anyhow::anyhow!("{e}"))
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
        out: &Path,
        model: &str,
        layer: usize,
        train: &LabelledVectors,
    ) -> Result<Option<Self>> {
        let dir = cio::directprobe_dir(out, model, "train", layer);
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
        let test = self.span.project(&points(v)?)?;
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

/// Runs the per-example view on the run directory `out`, into `out/compare/examples.*`.
pub fn run(s: &Settings, out: &Path, display: &Display) -> Result<Value> {
    let labels = label_list(out)?;
    let task = read_task(out)?;
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
        display.message(format!("layer {layer}: {} test units", test_rows.len()));
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
            "{} sampled test units; the label of the nearest DirectProbe cluster (convex-hull \
             distance) of each encoder's train clustering ({} train units){}.",
            test_rows.len(),
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
        display.message(format!(
            "memorisation layer {}: DirectProbe on subtrain",
            m.layer
        ));
        let (sub_s, _) = ex::split_sentences(task.train.sentences.len(), m.subtrain, m.seed);
        let mut in_sub = vec![false; task.train.sentences.len()];
        for &i in &sub_s {
            in_sub[i] = true;
        }
        let (sub_rows, held_rows): (Vec<usize>, Vec<usize>) =
            (0..task.train.units.len()).partition(|&i| in_sub[task.train.units[i].sentence]);
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
    let dir = out.join("compare");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let all: Vec<FlipRecord> = records.iter().chain(&memo_records).cloned().collect();
    write_flips_csv(&out.join(EXAMPLES_CSV), &all)
        .with_context(|| format!("cannot write {}", out.join(EXAMPLES_CSV).display()))?;
    let result = ExamplesResult {
        layers: s.layers.clone(),
        groups,
    };
    result.write(&dir)?;
    let flips = |g: &ExampleGroup| -> Vec<[usize; 3]> {
        g.counts
            .iter()
            .map(|c| [c.layer, c.counts.right_to_wrong, c.counts.wrong_to_right])
            .collect()
    };
    Ok(json!({
        "units": test_rows.len(),
        "flips_per_layer": flips(&result.groups[0]),
        "degenerate_layers": degenerate,
    }))
}
