//! `tunescope finetune CONFIG`: fine-tune the study's encoder plus a task head on its train
//! split; writes `models/finetuned/` (HF layout), `train_log.jsonl`, `finetune.json` and the
//! resolved config into the run directory, resuming an interrupted run. Ctrl-C (SIGINT) or
//! SIGTERM stops at the next update boundary with the resumable state saved (exit status 130); a
//! second signal exits at once.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use tunescope_data::fs::write_atomic;
use tunescope_data::UnitKind;
use tunescope_model::encoder::{self, SentencePool, WordPool};
use tunescope_model::finetune::train::{EvalRecord, StepRecord};
use tunescope_model::finetune::{finetune, FinetuneConfig, Interrupted, Job, Progress};

use crate::cmd::data::load_task;
use crate::config::{Config, Device, Pooling};

/// Fine-tune the encoder and a linear head on the study's task.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Study config (TOML).
    pub config: PathBuf,
    /// Override a config value: `section.key=value` (repeatable), e.g. `finetune.epochs=1`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// The fine-tuning settings a study config resolves to for a task with `kind` units.
pub fn settings(config: &Config, kind: UnitKind) -> FinetuneConfig {
    let f = &config.finetune;
    let (word_pool, sentence_pool) = match config.model.pooling_for(kind) {
        Pooling::First => (WordPool::First, SentencePool::Mean),
        Pooling::Last => (WordPool::Last, SentencePool::Mean),
        Pooling::Mean => (WordPool::Mean, SentencePool::Mean),
        Pooling::Cls => (WordPool::First, SentencePool::Cls),
    };
    f.with_method(FinetuneConfig {
        lr: f.lr,
        weight_decay: f.weight_decay,
        warmup_ratio: f.warmup_ratio,
        batch_size: f.batch_size,
        grad_accum: f.grad_accum,
        epochs: f.epochs,
        dropout: f.dropout,
        max_grad_norm: f.grad_clip,
        max_len: config.model.max_subwords,
        seed: f.seed.unwrap_or(config.study.seed),
        train_subset: f.train_subset,
        eval_every: f.eval_every,
        patience: f.patience,
        checkpoint_every: f.checkpoint_every,
        state_every: f.state_every,
        log_every: f.log_every,
        word_pool,
        sentence_pool,
        head: Some(kind),
        ..FinetuneConfig::default()
    })
}

/// Progress bar: epoch, loss, learning rate, tokens/s and ETA; evaluations printed above it.
/// Asks the loop to stop once `stop` is set (by the signal handler).
struct Bar(ProgressBar, Arc<AtomicBool>);

impl Progress for Bar {
    fn start(&mut self, done: u64, total: u64) {
        self.0.set_length(total);
        self.0.set_position(done);
        self.0.reset_eta();
    }
    fn update(&mut self, r: &StepRecord) {
        self.0.set_position(r.update);
        self.0.set_message(format!(
            "epoch {:.2} loss {:.4} lr {:.2e} {:.0} tok/s",
            r.epoch, r.loss, r.lr, r.tokens_per_s
        ));
    }
    fn eval(&mut self, r: &EvalRecord) {
        self.0.println(format!(
            "{} after update {} (epoch {:.2}): accuracy {:.4}, macro-F1 {:.4} over {} units{}",
            r.split,
            r.update,
            r.epoch,
            r.scores.accuracy,
            r.scores.macro_f1,
            r.scores.n,
            if r.best && r.split == "dev" {
                " (best so far)"
            } else {
                ""
            }
        ));
    }
    fn note(&mut self, msg: &str) {
        self.0.println(msg);
    }
    fn stop_requested(&mut self) -> bool {
        self.1.load(Ordering::Relaxed)
    }
}

/// Runs `tunescope finetune`.
pub fn run(args: Args) -> Result<()> {
    encoder::set_threads(args.threads)?;
    let config = Config::load(&args.config, &args.set)?;
    if config.model.device != Device::Cpu {
        bail!("fine-tuning runs on the CPU; set model.device = \"cpu\"");
    }
    let task = load_task(&config)?;
    let model_dir = encoder::resolve(&config.model.path)?;
    let job = Job {
        task: &task,
        model_dir,
        run_dir: config.study.out.clone(),
        config: settings(&config, task.unit_kind),
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("finetune [{bar:30}] {pos}/{len} updates {msg} eta {eta}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    let resolved = toml::to_string(&config).context("cannot serialise the resolved config")?;
    let stop = crate::signals::stop_flag()?;
    let outcome = finetune(&job, &mut Bar(bar.clone(), stop));
    bar.finish_and_clear();
    let outcome = match outcome {
        Err(e) if e.is::<Interrupted>() => {
            eprintln!("{e}");
            eprintln!("interrupted; re-run the same command to resume");
            std::process::exit(crate::signals::EXIT_INTERRUPTED);
        }
        other => other?,
    };
    write_atomic(
        &config.study.out.join("finetune_config.toml"),
        resolved.as_bytes(),
    )?;
    println!(
        "kept update {} (epoch {:.2}) of {}: dev accuracy {:.4} macro-F1 {:.4}; test accuracy {:.4} macro-F1 {:.4}",
        outcome.best_update,
        outcome.best_epoch,
        outcome.updates,
        outcome.dev.accuracy,
        outcome.dev.macro_f1,
        outcome.test.accuracy,
        outcome.test.macro_f1
    );
    println!("model: {}", config.run_dir().finetuned().display());
    Ok(())
}
