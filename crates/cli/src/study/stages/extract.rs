//! The extract stage: every split's unit vectors at every analysed layer of one encoder, as
//! `reps/<model>/<split>/layer-<k>.npy` (f32 `[units, dim]`; `[units, 2·hidden]` for pairs),
//! `labels.npy` (i64 index into the task's label list) and `units.jsonl` (sentence, target,
//! label per row), built on [`tunescope_model::extract::Embedder`].

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tch::Tensor;
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::io as cio;
use tunescope_data::npy::{self, NpyRowWriter};
use tunescope_data::{Split, Target, Task, UnitKind};
use tunescope_model::encoder::pool::{mean_of_groups, pair_vectors, to_f32_vec};
use tunescope_model::encoder::{self, WordPool};
use tunescope_model::extract::Embedder;
use tunescope_model::finetune::io::write_dir_atomic;

use super::data::read_task;
use crate::config::{Config, Device, Pooling};
use crate::study::display::Display;
use crate::study::rundir::ModelRef;

/// Sentences encoded per chunk (bounds memory: one chunk's vectors of every layer).
const CHUNK_SENTENCES: usize = 256;

/// What extraction reads: which hidden states of which splits, and how words become vectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Hidden-state indices.
    pub layers: Vec<usize>,
    /// Splits encoded (checkpoints: train only, all the dynamics measure).
    pub splits: Vec<String>,
    /// Word pooling over sub-words (`model.pooling`, by the task's unit kind).
    pub pooling: Pooling,
    /// Sub-word window (`model.max_subwords`).
    pub max_subwords: usize,
    /// Sentences per forward pass (`model.batch_size`).
    pub batch_size: usize,
    /// Where the encoder runs (`model.device`).
    pub device: Device,
}

/// The extraction settings of `config` for a task of unit kind `kind` at `layers`, on every
/// split (`all_splits`) or the train split only.
pub fn settings(config: &Config, kind: UnitKind, layers: &[usize], all_splits: bool) -> Settings {
    let splits: &[&str] = if all_splits {
        &tunescope_data::SPLIT_NAMES
    } else {
        &["train"]
    };
    Settings {
        layers: layers.to_vec(),
        splits: splits.iter().map(|s| s.to_string()).collect(),
        pooling: config.model.pooling_for(kind),
        max_subwords: config.model.max_subwords,
        batch_size: config.model.batch_size,
        device: config.model.device,
    }
}

/// Runs the extract stage for `model` (its encoder in `encoder_dir`) into `out/reps/<model>/`.
pub fn run(
    s: &Settings,
    out: &Path,
    encoder_dir: &Path,
    model: &ModelRef,
    display: &Display,
) -> Result<Value> {
    let task = read_task(out)?;
    extract(
        s,
        &task,
        encoder_dir,
        &out.join("reps").join(model.name()),
        &model.name(),
        display,
    )
}

/// Encodes the settings' splits of `task` with the encoder in `dir` into `target/<split>/`
/// (written whole into a temporary directory, then renamed); `what` names the encoder in
/// progress messages.
pub fn extract(
    s: &Settings,
    task: &Task,
    dir: &Path,
    target: &Path,
    what: &str,
    display: &Display,
) -> Result<Value> {
    let layers = s.layers.as_slice();
    let device = encoder::parse_device(&String::from(s.device))?;
    let mut enc = encoder::load(dir, device)
        .with_context(|| format!("loading the encoder {}", dir.display()))?;
    enc.tokenizer = enc.tokenizer.with_max_len(s.max_subwords)?;
    let pooling = s.pooling;
    let word_pool = match pooling {
        Pooling::Last => WordPool::Last,
        Pooling::Mean => WordPool::Mean,
        Pooling::First | Pooling::Cls => WordPool::First,
    };
    let embedder = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        layers.to_vec(),
        word_pool,
        s.batch_size,
        device,
    )?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let chosen: Vec<(&str, &Split)> = task
        .splits()
        .into_iter()
        .filter(|(n, _)| s.splits.iter().any(|x| x == n))
        .collect();
    let mut rows = serde_json::Map::new();
    let total: usize = chosen.iter().map(|(_, s)| s.sentences.len()).sum();
    let mut done = 0usize;
    write_dir_atomic(target, |tmp| {
        for &(name, split) in &chosen {
            let n = write_split(
                task,
                split,
                &embedder,
                pooling,
                layers,
                &tmp.join(name),
                &mut |k| {
                    done += k;
                    display.message(format!("{what} · {done}/{total} sentences"));
                },
            )
            .with_context(|| format!("{name} split"))?;
            rows.insert(name.to_string(), json!(n));
        }
        Ok(())
    })?;
    Ok(json!({"units": rows, "layers": layers, "dim": enc.config.hidden_size}))
}

/// Encodes one split into `dir`; returns the number of units.
fn write_split(
    task: &Task,
    split: &Split,
    embedder: &Embedder,
    pooling: Pooling,
    layers: &[usize],
    dir: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut writers: Option<Vec<NpyRowWriter>> = None;
    let mut labels = Vec::with_capacity(split.units.len());
    let mut units_txt = Vec::new();
    let mut label_names = String::new();
    let mut next_unit = 0usize;
    for (c, chunk) in split.sentences.chunks(CHUNK_SENTENCES).enumerate() {
        let first = c * CHUNK_SENTENCES;
        let words: Vec<Vec<&str>> = chunk
            .iter()
            .map(|s| s.words.iter().map(String::as_str).collect())
            .collect();
        let v = embedder.embed(&words)?;
        let mut offsets = Vec::with_capacity(chunk.len());
        let mut acc = 0usize;
        for n in &v.sentence_words {
            offsets.push(acc);
            acc += n;
        }
        let end = next_unit
            + split.units[next_unit..]
                .iter()
                .take_while(|u| u.sentence < first + chunk.len())
                .count();
        let units = &split.units[next_unit..end];
        next_unit = end;
        if units.is_empty() {
            progress(chunk.len());
            continue;
        }
        let vectors = unit_vectors(&v.words, &v.cls, units, &offsets, first, pooling)?;
        let dim = vectors.size()[2] as usize;
        let ws = match &mut writers {
            Some(w) => w,
            None => writers.insert(
                layers
                    .iter()
                    .map(|l| NpyRowWriter::create(dir.join(format!("layer-{l}.npy")), dim))
                    .collect::<Result<_, _>>()?,
            ),
        };
        for (k, w) in ws.iter_mut().enumerate() {
            let data = to_f32_vec(&vectors.get(k as i64))?;
            for row in data.chunks_exact(dim) {
                w.write_row(row)?;
            }
        }
        for u in units {
            let idx = task
                .label_index(&u.label)
                .with_context(|| format!("label {:?} is not in the task's label list", u.label))?;
            labels.push(idx as i64);
            label_names.push_str(&u.label);
            label_names.push('\n');
            serde_json::to_writer(
                &mut units_txt,
                &json!({"sentence": u.sentence, "target": u.target, "label": u.label}),
            )?;
            units_txt.push(b'\n');
        }
        progress(chunk.len());
    }
    match writers {
        Some(ws) => {
            for w in ws {
                w.finish()?;
            }
        }
        None => {
            for l in layers {
                npy::write_f32(dir.join(format!("layer-{l}.npy")), &[0, 0], &[])?;
            }
        }
    }
    npy::write_i64(dir.join("labels.npy"), &[labels.len()], &labels)?;
    std::fs::write(dir.join("labels.txt"), &label_names)
        .with_context(|| format!("cannot write {}", dir.join("labels.txt").display()))?;
    std::fs::File::create(dir.join("units.jsonl"))
        .and_then(|mut f| f.write_all(&units_txt))
        .with_context(|| format!("cannot write {}", dir.join("units.jsonl").display()))?;
    Ok(labels.len())
}

/// `[layers, units, dim]` vectors of `units` from a chunk's word vectors `[layers, words, h]`
/// and `[CLS]` vectors `[layers, sentences, h]`; `offsets[i]` is the first word row of chunk
/// sentence `i`, and chunk sentence 0 is split sentence `first`.
fn unit_vectors(
    words: &Tensor,
    cls: &Tensor,
    units: &[tunescope_data::Unit],
    offsets: &[usize],
    first: usize,
    pooling: Pooling,
) -> Result<Tensor> {
    let row = |s: usize, w: usize| offsets[s - first] + w;
    match &units[0].target {
        Target::Token(_) => {
            let idx: Vec<i64> = units
                .iter()
                .map(|u| match u.target {
                    Target::Token(w) => Ok(row(u.sentence, w) as i64),
                    _ => anyhow::bail!("mixed unit kinds in one task"),
                })
                .collect::<Result<_>>()?;
            Ok(words.index_select(1, &Tensor::from_slice(&idx)))
        }
        Target::Pair { .. } => {
            let pairs: Vec<(usize, usize)> = units
                .iter()
                .map(|u| match u.target {
                    Target::Pair { dependent, head } => {
                        Ok((row(u.sentence, dependent), row(u.sentence, head)))
                    }
                    _ => anyhow::bail!("mixed unit kinds in one task"),
                })
                .collect::<Result<_>>()?;
            pair_vectors(words, &pairs)
        }
        Target::Span(_) => {
            let groups: Vec<Vec<usize>> = units
                .iter()
                .map(|u| match &u.target {
                    Target::Span(ws) => Ok(ws.iter().map(|&w| row(u.sentence, w)).collect()),
                    _ => anyhow::bail!("mixed unit kinds in one task"),
                })
                .collect::<Result<_>>()?;
            mean_of_groups(words, &groups)
        }
        Target::Sentence => {
            if pooling == Pooling::Mean {
                let groups: Vec<Vec<usize>> = units
                    .iter()
                    .map(|u| {
                        let s = u.sentence - first;
                        let n = offsets
                            .get(s + 1)
                            .copied()
                            .unwrap_or(words.size()[1] as usize);
                        (offsets[s]..n).collect()
                    })
                    .collect();
                mean_of_groups(words, &groups)
            } else {
                let idx: Vec<i64> = units.iter().map(|u| (u.sentence - first) as i64).collect();
                Ok(cls.index_select(1, &Tensor::from_slice(&idx)))
            }
        }
    }
}

/// The sorted label list the comparisons index into: every label of the pre-trained
/// representations' `labels.txt` over the three splits (as `tunescope compare` builds it).
pub fn label_list(out: &Path) -> Result<Vec<String>> {
    let mut all = BTreeSet::new();
    for split in cio::SPLITS {
        all.extend(cio::read_label_names(&cio::reps_dir(
            out,
            cio::PRETRAINED,
            split,
        ))?);
    }
    Ok(all.into_iter().collect())
}

/// One split's vectors at one layer, labels indexing `labels`.
pub fn load_layer(
    out: &Path,
    model: &str,
    split: &str,
    layer: usize,
    labels: &[String],
) -> Result<LabelledVectors> {
    let names = cio::read_label_names(&cio::reps_dir(out, model, split))?;
    cio::read_layer(&cio::layer_file(out, model, split, layer), &names, labels)
}
