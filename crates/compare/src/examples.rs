//! The per-example view (`docs/measures.md`) on a run directory. For every test unit (or a
//! seeded sample, `examples.units`), at every layer, the label DirectProbe predicts before and after fine-tuning (the
//! label of the nearest cluster of the stored train clustering) and whether the prediction
//! flipped; for the memorisation experiment the same on subtrain, subtest and test units at its
//! layer, with DirectProbe clustering a sample of subtrain ([`compute`]). [`write`] writes
//! `compare/examples.csv` (every unit) and `compare/examples.json` (counts per layer and split,
//! a sample of each flip kind).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde::Serialize;
use tunescope_data::{Split, Target, Task};
use tunescope_geometry::directprobe::{Clustering, Points, Span};
use tunescope_geometry::flips::{
    count_flips, flip_records, nearest_cluster_labels, write_flips_csv, FlipRecord, UnitContext,
    CSV_HEADER,
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

/// Split name of the test units in the memorisation group.
const MEMO_TEST: &str = "memorisation-test";

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

/// The pre-trained side of a per-example view another branch of the same study wrote: the
/// `before` column of its `compare/examples.csv`, by layer and split, in unit order. Every
/// branch shares the pre-trained encoder, its stored train clusterings and the units, so with
/// the same [`Settings`] it predicts these same labels.
#[derive(Debug, Default)]
pub struct PretrainedSide(HashMap<(usize, String), Vec<String>>);

impl PretrainedSide {
    /// Reads the `before` column of the examples CSV at `path` ([`write`]).
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let records = csv_records(&text);
        let header: Vec<&str> = CSV_HEADER.split(',').collect();
        ensure!(
            records.first().is_some_and(|(_, r)| *r == header),
            "{}:1: expected the header {CSV_HEADER}",
            path.display()
        );
        let mut side = PretrainedSide::default();
        for (line, r) in &records[1..] {
            let at = || format!("{}:{line}", path.display());
            ensure!(
                r.len() == header.len(),
                "{}: expected {} fields ({CSV_HEADER}), found {}",
                at(),
                header.len(),
                r.len()
            );
            let layer: usize = r[0]
                .parse()
                .with_context(|| format!("{}: expected a layer, found {:?}", at(), r[0]))?;
            let unit: usize = r[2]
                .parse()
                .with_context(|| format!("{}: expected a unit index, found {:?}", at(), r[2]))?;
            let before = side.0.entry((layer, r[1].clone())).or_default();
            ensure!(
                unit == before.len(),
                "{}: expected unit {} of {} layer {layer}, found {unit}",
                at(),
                before.len(),
                r[1]
            );
            before.push(r[6].clone());
        }
        Ok(side)
    }

    /// The labels predicted for the `n` units of `split` at `layer`; `None` when the file holds
    /// no such group (e.g. a layer left out there).
    fn get(&self, layer: usize, split: &str, n: usize) -> Option<Vec<String>> {
        self.0
            .get(&(layer, split.to_string()))
            .filter(|v| v.len() == n)
            .cloned()
    }
}

/// The records of CSV text as [`tunescope_data::csv::field`] quotes them (RFC 4180), each with
/// the line it starts on.
fn csv_records(text: &str) -> Vec<(usize, Vec<String>)> {
    let mut out = Vec::new();
    let (mut record, mut field) = (Vec::new(), String::new());
    let (mut line, mut start, mut quoted) = (1, 1, false);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (false, '"') => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') if chars.peek() == Some(&'\n') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                out.push((start, std::mem::take(&mut record)));
                line += 1;
                start = line;
            }
            (_, c) => {
                if c == '\n' {
                    line += 1;
                }
                field.push(c);
            }
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        out.push((start, record));
    }
    out
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
/// per layer. With `pre` (another branch's view with the same settings) the pre-trained
/// predictions it holds are taken instead of predicted again.
pub fn compute(
    s: &Settings,
    out: &RunDir,
    task: &Task,
    pre: Option<&PretrainedSide>,
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
            let known = pre.filter(|_| model == PRETRAINED);
            if let Some(p) = known.and_then(|p| p.get(layer, "test", test_rows.len())) {
                preds.push(p);
                continue;
            }
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
            let known = pre.filter(|_| model == PRETRAINED).and_then(|p| {
                let mut per: Vec<Vec<String>> = parts
                    .iter()
                    .map(|(name, rows)| p.get(m.layer, name, rows.len()))
                    .collect::<Option<_>>()?;
                per.push(p.get(m.layer, MEMO_TEST, test_rows.len())?);
                Some(per)
            });
            if let Some(per) = known {
                preds.push(per);
                continue;
            }
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
                &contexts(&task.test, &test_rows, MEMO_TEST),
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

#[cfg(test)]
mod tests {
    use super::*;
    use tunescope_geometry::flips::Change;

    #[test]
    fn the_pretrained_side_reads_back_what_write_wrote() {
        let unit = |layer, split: &str, unit, sentence: &str, before: &str| FlipRecord {
            layer,
            unit,
            context: UnitContext {
                split: split.into(),
                sentence: sentence.into(),
                word: "w,\"x\"".into(),
            },
            gold: "NOUN".into(),
            before: before.into(),
            after: "NOUN".into(),
            change: Change::of(before == "NOUN", true),
        };
        let records = vec![
            unit(0, "test", 0, "a , b", "VERB"),
            unit(0, "test", 1, "say \"hi\"\nthen", "NOUN"),
            unit(3, "test", 0, "plain", ","),
            unit(3, MEMO_TEST, 0, "\"", "ADJ"),
        ];
        let dir = std::env::temp_dir().join(format!("tunescope-examples-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("examples.csv");
        write_flips_csv(&path, &records).unwrap();
        let side = PretrainedSide::read(&path).unwrap();
        let got = |l, s, n| side.get(l, s, n);
        assert_eq!(got(0, "test", 2), Some(vec!["VERB".into(), "NOUN".into()]));
        assert_eq!(got(3, "test", 1), Some(vec![",".into()]));
        assert_eq!(got(3, MEMO_TEST, 1), Some(vec!["ADJ".into()]));
        // Another count or an absent group is not a prediction of these units.
        assert_eq!(got(0, "test", 3), None);
        assert_eq!(got(1, "test", 2), None);
        // A row out of order names its line.
        let text = std::fs::read_to_string(&path).unwrap();
        let swapped = text.replacen("0,test,1,", "0,test,5,", 1);
        std::fs::write(&path, swapped).unwrap();
        let err = PretrainedSide::read(&path).unwrap_err().to_string();
        assert!(err.contains("examples.csv:3: expected unit 1"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
