//! The extract stage: every split's unit vectors at every analysed layer of one encoder, as
//! `reps/<model>/<split>/layer-<k>.npy` (f32 `[units, dim]`; `[units, 2·hidden]` for pairs),
//! `labels.npy` (i64 index into the task's label list) and `units.jsonl` (sentence, target,
//! label per row), built on [`tunescope_model::extract::Embedder`].

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_data::{Task, UnitKind};
use tunescope_model::encoder::{self, SentencePool, WordPool};
use tunescope_model::extract::{extract_task, TaskExtractOptions};

use super::data::read_task;
use crate::config::{Config, Device, Pooling};
use crate::study::display::Display;
use tunescope_data::rundir::{ModelRef, RunDir};

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
    out: &RunDir,
    encoder_dir: &Path,
    model: &ModelRef,
    display: &Display,
) -> Result<Value> {
    let task = read_task(out)?;
    extract(
        s,
        &task,
        encoder_dir,
        &out.reps(&model.name()),
        &model.name(),
        display,
    )
}

/// Encodes the settings' splits of `task` with the encoder in `dir` into `target/<split>/`
/// ([`tunescope_model::extract::extract_task`]); `what` names the encoder in progress messages.
pub fn extract(
    s: &Settings,
    task: &Task,
    dir: &Path,
    target: &Path,
    what: &str,
    display: &Display,
) -> Result<Value> {
    let device = encoder::parse_device(&String::from(s.device))?;
    let mut enc = encoder::load(dir, device)
        .with_context(|| format!("loading the encoder {}", dir.display()))?;
    enc.tokenizer = enc.tokenizer.with_max_len(s.max_subwords)?;
    let opts = TaskExtractOptions {
        word_pool: match s.pooling {
            Pooling::Last => WordPool::Last,
            Pooling::Mean => WordPool::Mean,
            Pooling::First | Pooling::Cls => WordPool::First,
        },
        sentence_pool: if s.pooling == Pooling::Mean {
            SentencePool::Mean
        } else {
            SentencePool::Cls
        },
        layers: s.layers.clone(),
        batch_size: s.batch_size,
    };
    let splits: Vec<&str> = s.splits.iter().map(String::as_str).collect();
    let total: usize = task
        .splits()
        .iter()
        .filter(|(n, _)| splits.contains(n))
        .map(|(_, s)| s.sentences.len())
        .sum();
    let mut done = 0usize;
    let counts = extract_task(&enc, task, &splits, target, &opts, &mut |k| {
        done += k;
        display.message(format!("{what} · {done}/{total} sentences"));
    })?;
    let rows: serde_json::Map<String, Value> =
        counts.into_iter().map(|(n, c)| (n, json!(c))).collect();
    Ok(json!({"units": rows, "layers": s.layers, "dim": enc.config.hidden_size}))
}
