//! Unit vectors of a task for later stages: per split `layer-<k>.npy` (f32 `[units, dim]`;
//! `[units, 2·hidden]` for pairs), `labels.npy` (i64 index into the task's label list),
//! `labels.txt` (one label per unit) and `units.jsonl` (sentence, target, label per unit).
//!
//! Unit vectors: a token is its word's vector, a pair `[dependent ; head]` (twice the hidden
//! size), a span the mean of its words, a sentence its `[CLS]` or the mean of its words.
//! The study's extract stage and `tunescope` tests both go through [`extract_task`].

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context, Result};
use tch::Tensor;
use tunescope_data::fs::replace_dir;
use tunescope_data::npy::{self, NpyRowWriter};
use tunescope_data::task::{Split, Target, Task, Unit};

use super::embed::Embedder;
use crate::encoder::pool::{mean_of_groups, pair_vectors, to_f32_vec};
use crate::encoder::{Encoder, SentencePool, WordPool};

/// Sentences encoded per chunk (bounds memory: one chunk's vectors of every layer).
const CHUNK_SENTENCES: usize = 256;

/// How a task's units become vectors.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TaskExtractOptions {
    /// Word vector from sub-words.
    pub word_pool: WordPool,
    /// Sentence vector (sentence tasks only).
    pub sentence_pool: SentencePool,
    /// Hidden-state indices to write.
    pub layers: Vec<usize>,
    /// Windows per forward pass (does not change the vectors).
    pub batch_size: usize,
}

/// Encodes the splits named in `splits` (in the task's split order) with `enc` into
/// `target/<split>/`, written whole into a temporary directory and then swapped in; `progress`
/// receives the number of sentences of each encoded chunk. Returns each split's unit count.
/// Units that do not fit their sentence are an error naming split and unit, before any work.
pub fn extract_task(
    enc: &Encoder,
    task: &Task,
    splits: &[&str],
    target: &Path,
    opts: &TaskExtractOptions,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<(String, usize)>> {
    let chosen: Vec<(&str, &Split)> = task
        .splits()
        .into_iter()
        .filter(|(n, _)| splits.contains(n))
        .collect();
    for &(name, split) in &chosen {
        validate_units(task, name, split)?;
    }
    let embedder = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        opts.layers.clone(),
        opts.word_pool,
        opts.batch_size,
        enc.vs.device(),
    )?;
    let mut counts = Vec::new();
    replace_dir::<anyhow::Error>(target, |tmp| {
        for &(name, split) in &chosen {
            let n = write_split(
                task,
                split,
                &embedder,
                opts.sentence_pool,
                &opts.layers,
                &tmp.join(name),
                progress,
            )
            .with_context(|| format!("{name} split"))?;
            counts.push((name.to_string(), n));
        }
        Ok(())
    })?;
    Ok(counts)
}

fn validate_units(task: &Task, split_name: &str, split: &Split) -> Result<()> {
    let mut last = 0;
    for (i, u) in split.units.iter().enumerate() {
        let Some(s) = split.sentences.get(u.sentence) else {
            bail!(
                "{split_name} unit {i}: sentence {} does not exist",
                u.sentence
            );
        };
        if u.sentence < last {
            bail!("{split_name} unit {i}: units must be ordered by sentence");
        }
        last = u.sentence;
        if u.target.kind() != task.unit_kind {
            bail!(
                "{split_name} unit {i}: a {} unit in a {} task",
                u.target.kind().name(),
                task.unit_kind.name()
            );
        }
        let n = s.words.len();
        let bad = match &u.target {
            Target::Token(w) => *w >= n,
            Target::Pair { dependent, head } => *dependent >= n || *head >= n,
            Target::Span(ws) => ws.is_empty() || ws.iter().any(|&w| w >= n),
            Target::Sentence => n == 0,
        };
        if bad {
            bail!(
                "{split_name} unit {i}: {:?} does not fit sentence {} of {n} words",
                u.target,
                u.sentence
            );
        }
    }
    Ok(())
}

/// Encodes one split into `dir`; returns the number of units.
fn write_split(
    task: &Task,
    split: &Split,
    embedder: &Embedder,
    sentence_pool: SentencePool,
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
        let vectors = unit_vectors(&v.words, &v.cls, units, &offsets, first, sentence_pool)?;
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
                &serde_json::json!({"sentence": u.sentence, "target": u.target, "label": u.label}),
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
    units: &[Unit],
    offsets: &[usize],
    first: usize,
    sentence_pool: SentencePool,
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
            if sentence_pool == SentencePool::Mean {
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
