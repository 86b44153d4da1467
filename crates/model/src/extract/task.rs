//! Unit vectors of a task for later stages: `reps/<model>/<split>/layer-<k>.npy`, `labels.txt`,
//! `units.jsonl`, keyed by a content hash so an unchanged extraction is skipped.
//!
//! Unit vectors: a token is its word's vector, a pair `[dependent ; head]` (twice the hidden
//! size), a span the mean of its words, a sentence its `[CLS]` or the mean of its words.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tch::Tensor;
use tunescope_data::npy::NpyRowWriter;
use tunescope_data::task::{Split, Target, Task, UnitKind};

use super::embed::{ChunkVectors, Embedder};
use crate::encoder::pool::{mean_of_groups, pair_vectors, to_f32_vec};
use crate::encoder::{Encoder, SentencePool, WordPool};

/// Settings of a task extraction; all of them are part of the content hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TaskExtractOptions {
    /// Word vector from sub-words.
    pub word_pool: WordPool,
    /// Sentence vector (sentence tasks only).
    pub sentence_pool: SentencePool,
    /// Hidden-state indices to write.
    pub layers: Vec<usize>,
    /// Windows per forward pass (does not change the vectors; not hashed).
    #[serde(skip)]
    pub batch_size: usize,
    /// Sentences are encoded in chunks of about this many words (not hashed).
    #[serde(skip)]
    pub chunk_words: usize,
}

/// Whether [`extract_task`] wrote the vectors or found them up to date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtractOutcome {
    /// Vectors were (re)computed; the content key.
    Written(String),
    /// The existing vectors already match this content key.
    Skipped(String),
}

const KEY_FILE: &str = "extraction.json";

/// Content key of an extraction: SHA-256 over the weights' hash, the task data, the pooling and
/// layer settings, the maximum input length and the tool version.
pub fn extraction_key(enc: &Encoder, task: &Task, opts: &TaskExtractOptions) -> Result<String> {
    let mut h = Sha256::new();
    h.update(b"tunescope-extract-v1\0");
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(enc.weights_sha256.as_bytes());
    h.update(enc.tokenizer.max_len().to_le_bytes());
    h.update(serde_json::to_vec(task)?);
    h.update(serde_json::to_vec(opts)?);
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn up_to_date(dir: &Path, key: &str, layers: &[usize]) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join(KEY_FILE)) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    v["key"] == key
        && ["labels.txt", "units.jsonl"]
            .iter()
            .all(|f| dir.join(f).is_file())
        && layers
            .iter()
            .all(|l| dir.join(format!("layer-{l}.npy")).is_file())
}

/// Writes every split's unit vectors under `out` (normally `reps/<model>`): per split
/// `layer-<k>.npy` (f32 `[units, dim]`), `labels.txt` (one label per unit), `units.jsonl`
/// (one unit per line) and `extraction.json` (the content key, written last). Skips the work
/// when every split already holds the same key.
pub fn extract_task(
    enc: &Encoder,
    task: &Task,
    out: &Path,
    opts: &TaskExtractOptions,
) -> Result<ExtractOutcome> {
    let key = extraction_key(enc, task, opts)?;
    let dirs: Vec<(&str, &Split, PathBuf)> = task
        .splits()
        .iter()
        .map(|(n, s)| (*n, *s, out.join(n)))
        .collect();
    if dirs
        .iter()
        .all(|(_, _, d)| up_to_date(d, &key, &opts.layers))
    {
        return Ok(ExtractOutcome::Skipped(key));
    }
    let embedder = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        opts.layers.clone(),
        opts.word_pool,
        opts.batch_size,
        enc.vs.device(),
    )?;
    for (name, split, _) in &dirs {
        validate_units(task, name, split)?;
    }
    for (name, split, dir) in &dirs {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let _ = std::fs::remove_file(dir.join(KEY_FILE));
        extract_split(&embedder, task.unit_kind, split, dir, opts)?;
        let meta = serde_json::json!({
            "key": key,
            "task": task.name,
            "split": name,
            "unit_kind": task.unit_kind.name(),
            "units": split.units.len(),
            "model": { "path": enc.dir.display().to_string(), "weights_sha256": enc.weights_sha256 },
            "options": opts,
            "version": env!("CARGO_PKG_VERSION"),
        });
        write_atomic(
            &dir.join(KEY_FILE),
            (serde_json::to_string_pretty(&meta)? + "\n").as_bytes(),
        )?;
    }
    Ok(ExtractOutcome::Written(key))
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

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Unit vectors `[layers, units, dim]` for the units of sentences `first..first + n`.
fn unit_vectors(
    kind: UnitKind,
    v: &ChunkVectors,
    units: &[tunescope_data::task::Unit],
    first: usize,
    sentence_pool: SentencePool,
) -> Result<Tensor> {
    let mut offsets = Vec::with_capacity(v.sentence_words.len());
    let mut acc = 0;
    for &n in &v.sentence_words {
        offsets.push(acc);
        acc += n;
    }
    let base = |u: &tunescope_data::task::Unit| offsets[u.sentence - first];
    Ok(match kind {
        UnitKind::Token => {
            let groups: Vec<Vec<usize>> = units
                .iter()
                .map(|u| match u.target {
                    Target::Token(w) => vec![base(u) + w],
                    _ => unreachable!("validated"),
                })
                .collect();
            mean_of_groups(&v.words, &groups)?
        }
        UnitKind::Pair => {
            let pairs: Vec<(usize, usize)> = units
                .iter()
                .map(|u| match u.target {
                    Target::Pair { dependent, head } => (base(u) + dependent, base(u) + head),
                    _ => unreachable!("validated"),
                })
                .collect();
            pair_vectors(&v.words, &pairs)?
        }
        UnitKind::Span => {
            let groups: Vec<Vec<usize>> = units
                .iter()
                .map(|u| match &u.target {
                    Target::Span(ws) => ws.iter().map(|w| base(u) + w).collect(),
                    _ => unreachable!("validated"),
                })
                .collect();
            mean_of_groups(&v.words, &groups)?
        }
        UnitKind::Sentence => match sentence_pool {
            SentencePool::Cls => {
                let groups: Vec<Vec<usize>> =
                    units.iter().map(|u| vec![u.sentence - first]).collect();
                mean_of_groups(&v.cls, &groups)?
            }
            SentencePool::Mean => {
                let groups: Vec<Vec<usize>> = units
                    .iter()
                    .map(|u| (base(u)..base(u) + v.sentence_words[u.sentence - first]).collect())
                    .collect();
                mean_of_groups(&v.words, &groups)?
            }
        },
    })
}

fn extract_split(
    embedder: &Embedder,
    kind: UnitKind,
    split: &Split,
    dir: &Path,
    opts: &TaskExtractOptions,
) -> Result<()> {
    let hidden = embedder.hidden_size();
    let dim = if kind == UnitKind::Pair {
        2 * hidden
    } else {
        hidden
    };
    let mut writers = opts
        .layers
        .iter()
        .map(|l| NpyRowWriter::create(dir.join(format!("layer-{l}.npy")), dim))
        .collect::<Result<Vec<_>, _>>()?;
    let mut labels = String::new();
    let mut units_jsonl = String::new();
    for u in &split.units {
        if u.label.contains('\n') {
            bail!("unit label {:?} contains a newline", u.label);
        }
        labels.push_str(&u.label);
        labels.push('\n');
        units_jsonl.push_str(&serde_json::to_string(u)?);
        units_jsonl.push('\n');
    }
    let mut next_unit = 0;
    let mut start = 0;
    while start < split.sentences.len() {
        let mut end = start;
        let mut words = 0;
        while end < split.sentences.len() && (end == start || words < opts.chunk_words) {
            words += split.sentences[end].words.len();
            end += 1;
        }
        let chunk: Vec<Vec<&str>> = split.sentences[start..end]
            .iter()
            .map(|s| s.words.iter().map(String::as_str).collect())
            .collect();
        let unit_end = next_unit
            + split.units[next_unit..]
                .iter()
                .take_while(|u| u.sentence < end)
                .count();
        let units = &split.units[next_unit..unit_end];
        if !units.is_empty() {
            let v = embedder.embed(&chunk)?;
            let rows = unit_vectors(kind, &v, units, start, opts.sentence_pool)?;
            for (k, w) in writers.iter_mut().enumerate() {
                let data = to_f32_vec(&rows.get(k as i64))?;
                for row in data.chunks_exact(dim) {
                    w.write_row(row)?;
                }
            }
        }
        next_unit = unit_end;
        start = end;
    }
    for w in writers {
        w.finish()?;
    }
    write_atomic(&dir.join("labels.txt"), labels.as_bytes())?;
    write_atomic(&dir.join("units.jsonl"), units_jsonl.as_bytes())
}
