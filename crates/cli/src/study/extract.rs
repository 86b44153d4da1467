//! The extract stage: every split's unit vectors at every analysed layer of one encoder, as
//! `reps/<model>/<split>/layer-<k>.npy` (f32 `[units, dim]`; `[units, 2·hidden]` for pairs),
//! `labels.npy` (i64 index into the task's label list) and `units.jsonl` (sentence, target,
//! label per row), built on [`tunescope_model::extract::Embedder`].

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};
use tch::Tensor;
use tunescope_data::npy::{self, NpyRowWriter};
use tunescope_data::{Split, Target, Task};
use tunescope_model::encoder::pool::{mean_of_groups, pair_vectors, to_f32_vec};
use tunescope_model::encoder::{self, WordPool};
use tunescope_model::extract::Embedder;
use tunescope_model::finetune::io::write_dir_atomic;

use super::plan::{ModelRef, Planned};
use super::stages::read_task;
use super::Display;
use crate::config::{Config, Pooling};

/// Sentences encoded per chunk (bounds memory: one chunk's vectors of every layer).
const CHUNK_SENTENCES: usize = 256;

/// Runs the extract stage for `model`: every split (checkpoints: the train split only, which is
/// all the dynamics measure).
pub fn run(config: &Config, stage: &Planned, model: &ModelRef, display: &Display) -> Result<Value> {
    let out = &config.study.out;
    let task = read_task(out)?;
    let splits: &[&str] = match model {
        ModelRef::Checkpoint(_) => &["train"],
        _ => &tunescope_data::SPLIT_NAMES,
    };
    extract(
        config,
        &task,
        &model.dir(config, &stage.pretrained),
        &stage.layers,
        splits,
        &out.join("reps").join(model.name()),
        &model.name(),
        display,
    )
}

/// Encodes `splits` of `task` with the encoder in `dir` into `target/<split>/` (written whole
/// into a temporary directory, then renamed); `what` names the encoder in progress messages.
#[allow(clippy::too_many_arguments)]
pub fn extract(
    config: &Config,
    task: &Task,
    dir: &Path,
    layers: &[usize],
    splits: &[&str],
    target: &Path,
    what: &str,
    display: &Display,
) -> Result<Value> {
    let device = encoder::parse_device(&String::from(config.model.device))?;
    let mut enc = encoder::load(dir, device)
        .with_context(|| format!("loading the encoder {}", dir.display()))?;
    enc.tokenizer = enc.tokenizer.with_max_len(config.model.max_subwords)?;
    let pooling = config.model.pooling_for(task.unit_kind);
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
        config.model.batch_size,
        device,
    )?;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let chosen: Vec<(&str, &Split)> = task
        .splits()
        .into_iter()
        .filter(|(n, _)| splits.contains(n))
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
