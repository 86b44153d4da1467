//! The fine-tuning stage: encoder + task head, with checkpoints and resumable state
//! (`models/finetuned/`, `models/ckpt-<u>/`, `finetune.json`, `train_log.jsonl`).

use std::path::Path;

use tunescope_data::rundir::RunDir;

use anyhow::Result;
use serde_json::{json, Value};
use tunescope_model::finetune::train::{EvalRecord, StepRecord};
use tunescope_model::finetune::{self, FinetuneConfig, Job, Progress};

use super::data::read_task;
use crate::config::Config;
use crate::study::display::Display;

/// What fine-tuning reads: the model crate's fine-tuning configuration, resolved from
/// `[finetune]`, `model.max_subwords`, the pooling of the task's unit kind and the seed.
pub type Settings = FinetuneConfig;

/// The fine-tuning settings of `config`.
pub fn settings(config: &Config) -> Settings {
    crate::cmd::finetune::settings(config, config.data.task.unit_kind())
}

struct FinetuneProgress<'a> {
    display: &'a Display,
    total: u64,
}

impl Progress for FinetuneProgress<'_> {
    fn start(&mut self, done: u64, total: u64) {
        self.total = total;
        self.display.message(format!("update {done}/{total}"));
    }
    fn update(&mut self, r: &StepRecord) {
        self.display.message(format!(
            "update {}/{} · epoch {:.2} · loss {:.4} · {:.0} tok/s",
            r.update, self.total, r.epoch, r.loss, r.tokens_per_s
        ));
    }
    fn eval(&mut self, r: &EvalRecord) {
        self.display.line(&format!(
            "      {} after update {}: accuracy {:.4}{}",
            r.split,
            r.update,
            r.scores.accuracy,
            if r.best && r.split == "dev" {
                " (best so far)"
            } else {
                ""
            }
        ));
    }
    fn note(&mut self, msg: &str) {
        self.display.line(&format!("      {msg}"));
    }
    fn stop_requested(&mut self) -> bool {
        self.display.stop_requested()
    }
}

/// Runs the fine-tuning stage in `out` (resuming from `out/finetune-state/`), starting from the
/// pre-trained encoder in `pretrained`.
pub fn run(s: &Settings, out: &RunDir, pretrained: &Path, display: &Display) -> Result<Value> {
    let task = read_task(out)?;
    let job = Job {
        task: &task,
        model_dir: pretrained.to_path_buf(),
        run_dir: out.root().to_path_buf(),
        config: s.clone(),
    };
    let outcome = finetune::finetune(&job, &mut FinetuneProgress { display, total: 0 })?;
    Ok(json!({
        "updates": outcome.updates,
        "best_update": outcome.best_update,
        "dev_accuracy": outcome.dev.accuracy,
        "test_accuracy": outcome.test.accuracy,
    }))
}
