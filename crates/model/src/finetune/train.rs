//! The fine-tuning loop, in one place:
//! data → batches → forward → loss → backward → clip → step → schedule → eval → checkpoint.
//!
//! Determinism: the head is initialised after `manual_seed(seed)`, every epoch's batch order
//! comes from `derive_seed([seed, epoch])`, and every forward pass reseeds libtorch's generator
//! from `(seed, update, micro-batch)` before its dropout masks are drawn. The position in
//! training is therefore fully described by the update counter, which is why a resumed run
//! reaches the same weights as an uninterrupted one.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};
use tunescope_data::Task;

use super::batch::{derive_seed, eval_batches, length_bucketed_batches, Rng};
use super::config::FinetuneConfig;
use super::head::{cross_entropy, Head};
use super::io::JsonLog;
use super::metrics::{score, Scores};
use super::optim::{clip_grad_norm, AdamW, LinearSchedule};
use super::prep::{make_batch, prepare, Prepared, Specials};
use super::save;
use crate::encoder::linear::targets_match;
use crate::encoder::load::weights_file;
use crate::encoder::{self, load_weights, side_files, EncoderConfig, WordTokenizer};
use tunescope_data::fs::{recover_dir, replace_dir, write_atomic};
use tunescope_data::rundir::RunDir;

/// What to fine-tune, on what, and where the run lives.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The task (its train split is trained on, dev selects the epoch, test is reported).
    pub task: &'a Task,
    /// Pre-trained encoder in HF layout.
    pub model_dir: PathBuf,
    /// Run directory (`models/finetuned/`, `models/ckpt-<update>/`, `train_log.jsonl`, ...).
    pub run_dir: PathBuf,
    /// Settings.
    pub config: FinetuneConfig,
}

/// One `train_log.jsonl` record of training progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRecord {
    /// Updates done.
    pub update: u64,
    /// Fractional epoch.
    pub epoch: f64,
    /// Mean training loss since the previous record.
    pub loss: f64,
    /// Learning rate of the last update.
    pub lr: f64,
    /// Gradient norm before clipping, of the last update.
    pub grad_norm: f64,
    /// Real (non-pad) sub-words per second since the previous record.
    pub tokens_per_s: f64,
    /// Seconds since this process started training.
    pub elapsed_s: f64,
}

/// One `train_log.jsonl` record of a dev (or final test) evaluation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalRecord {
    /// Updates done.
    pub update: u64,
    /// Epochs done when scored (fractional for mid-epoch evaluations).
    pub epoch: f64,
    /// `dev` or `test`.
    pub split: String,
    /// The scores.
    pub scores: Scores,
    /// Whether this is the best dev accuracy so far.
    pub best: bool,
}

/// Receives progress as it happens (the CLI draws a progress bar from it).
pub trait Progress {
    /// Training starts at update `done` of `total`.
    fn start(&mut self, _done: u64, _total: u64) {}
    /// An update finished (called every update, with the running figures).
    fn update(&mut self, _rec: &StepRecord) {}
    /// A split was scored.
    fn eval(&mut self, _rec: &EvalRecord) {}
    /// Something the user should read.
    fn note(&mut self, _msg: &str) {}
    /// Asked after every update: `true` saves the resumable state and makes [`finetune`] return
    /// [`Interrupted`] (the CLI answers Ctrl-C with it).
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// The error [`finetune`] returns when [`Progress::stop_requested`] stopped it: the state in
/// `finetune-state/` is saved, no final model is written, and the same job resumes.
#[derive(Debug, thiserror::Error)]
#[error("interrupted after update {update} of {total}; the resumable state is saved")]
pub struct Interrupted {
    /// Updates done (and saved).
    pub update: u64,
    /// Updates of the whole run.
    pub total: u64,
}

/// Ignores all progress.
pub struct Quiet;
impl Progress for Quiet {}

/// The result of a run, also written as `finetune.json` in the run directory.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    /// Settings used.
    pub config: FinetuneConfig,
    /// Task name.
    pub task: String,
    /// Source encoder.
    pub model_dir: PathBuf,
    /// Updates trained in total.
    pub updates: u64,
    /// Update of the kept model (the best dev accuracy).
    pub best_update: u64,
    /// Epoch (fractional if chosen mid-epoch) of the kept model.
    pub best_epoch: f64,
    /// Dev scores of the kept model.
    pub dev: Scores,
    /// Test scores of the kept model.
    pub test: Scores,
    /// Training units per split that were cut off by `max_len` and left out.
    pub cut_units: [usize; 3],
    /// Indices (in the train split's unit order) of the training units fine-tuning never saw:
    /// cut off by `max_len`, or in sentences left out by `train_subset`.
    #[serde(default)]
    pub train_unseen: Vec<usize>,
    /// Seconds of training and evaluation in the last process (resumed runs: since resuming).
    pub seconds: f64,
    /// Whether patience stopped training early.
    pub stopped_early: bool,
    /// Parameters the optimiser updated (head included).
    #[serde(default)]
    pub trained_parameters: u64,
}

/// Resumable position, saved with the weights and optimiser moments in `state/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    config: FinetuneConfig,
    task: String,
    labels: Vec<String>,
    update: u64,
    best: Option<Best>,
    evals_since_best: usize,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Best {
    update: u64,
    epoch: f64,
    dev: Scores,
}

/// The model being trained: encoder + head in one `VarStore` with transformers' names (the
/// family's base-model names such as `embeddings.*`, `encoder.*`, and `classifier.*`).
pub struct Model {
    /// All variables.
    pub vs: nn::VarStore,
    /// The encoder.
    pub encoder: encoder::Model,
    /// The task head.
    pub head: Head,
    /// Tokenizer of the source directory.
    pub tokenizer: WordTokenizer,
    /// Encoder configuration (dropout as trained).
    pub encoder_config: EncoderConfig,
    /// The source `config.json`, kept so saving preserves fields this crate does not read.
    pub config_json: serde_json::Value,
    /// The source's tokenizer side files.
    pub side_files: Vec<(String, Vec<u8>)>,
}

fn specials(tok: &WordTokenizer, cfg: &EncoderConfig) -> Specials {
    let (cls, sep) = tok.cls_sep();
    Specials {
        cls,
        sep,
        pad: cfg.pad_token_id,
    }
}

/// Loads the encoder from `model_dir` with dropout `config.dropout` and adds a fresh head for
/// `n_labels` labels, initialised from `config.seed`.
pub fn build_model(
    model_dir: &Path,
    kind: tunescope_data::UnitKind,
    n_labels: usize,
    config: &FinetuneConfig,
) -> Result<Model> {
    let cfg_path = model_dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path)
        .with_context(|| format!("cannot read {}", cfg_path.display()))?;
    let config_json: serde_json::Value = serde_json::from_str(&text)
        .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?;
    let mut encoder_config = EncoderConfig::from_json(&config_json)
        .with_context(|| format!("invalid model config {}", cfg_path.display()))?;
    encoder_config.hidden_dropout_prob = config.dropout;
    encoder_config.attention_probs_dropout_prob = config.dropout;
    encoder_config.lora = config.lora(encoder_config.family);
    if config.freeze_layers as i64 > encoder_config.num_hidden_layers {
        bail!(
            "finetune.freeze_layers = {} exceeds the model's {} layers",
            config.freeze_layers,
            encoder_config.num_hidden_layers
        );
    }
    if config.max_len as i64 > encoder_config.max_len() {
        bail!(
            "finetune.max_len {} exceeds the model's {} positions",
            config.max_len,
            encoder_config.max_len()
        );
    }
    let weights = weights_file(model_dir)?;
    let tokenizer = WordTokenizer::from_dir(model_dir, encoder_config.family, config.max_len)?;
    tch::manual_seed(config.seed as i64 & i64::MAX);
    let vs = nn::VarStore::new(Device::Cpu);
    let encoder = encoder::Model::new(&vs.root(), &encoder_config);
    let head = Head::new(
        &vs.root(),
        Head::input_dim(kind, encoder_config.hidden_size),
        n_labels as i64,
        config.dropout,
    );
    load_weights(&vs, &encoder, &weights)?;
    if let Some(lora) = &encoder_config.lora {
        let adapted: Vec<String> = encoder
            .lora_parameters(&vs)
            .into_iter()
            .filter_map(|(n, _)| n.strip_suffix(".lora_A.weight").map(String::from))
            .collect();
        for t in &lora.targets {
            if !adapted
                .iter()
                .any(|m| targets_match(std::slice::from_ref(t), m))
            {
                bail!(
                    "finetune.lora_targets: \"{t}\" names no linear layer of this {} model (e.g. {})",
                    encoder_config.family,
                    encoder_config.family.lora_default_targets().join(", ")
                );
            }
        }
    }
    Ok(Model {
        vs,
        encoder,
        head,
        tokenizer,
        encoder_config,
        config_json,
        side_files: side_files(model_dir)?,
    })
}

impl Model {
    /// Logits of one batch's units; dropout in the head when `train`, in the encoder when
    /// `encoder_train`.
    pub fn logits(&self, batch: &super::prep::Batch, train: bool, encoder_train: bool) -> Tensor {
        let states = self
            .encoder
            .forward_t(&batch.ids, &batch.mask, encoder_train);
        let last = states
            .last()
            .expect("an encoder returns at least the embeddings");
        let flat = last.flatten(0, 1);
        self.head.forward_t(&batch.plan.gather(&flat), train)
    }

    /// Scores the units of `data` (no dropout, no gradients).
    pub fn evaluate(
        &self,
        data: &Prepared,
        sp: Specials,
        kind: tunescope_data::UnitKind,
        cfg: &FinetuneConfig,
        n_labels: usize,
    ) -> Scores {
        let mut gold = Vec::new();
        let mut pred = Vec::new();
        tch::no_grad(|| {
            for idx in eval_batches(&data.lengths(), cfg.batch_size) {
                let batch = make_batch(data, &idx, sp, kind, cfg.word_pool, cfg.sentence_pool);
                if batch.labels.is_empty() {
                    continue;
                }
                let p: Vec<i64> =
                    Vec::try_from(self.logits(&batch, false, false).argmax(-1, false))
                        .expect("int64 predictions");
                pred.extend(p.into_iter().map(|x| x as usize));
                gold.extend(batch.labels.iter().map(|&x| x as usize));
            }
        });
        score(&gold, &pred, n_labels)
    }
}

/// Checks `job`'s inputs before anything is trained: settings, splits, labels, head.
fn check_inputs(job: &Job) -> Result<()> {
    job.config.validate()?;
    let task = job.task;
    if let Some(head) = job.config.head {
        if head != task.unit_kind {
            bail!(
                "finetune.head = \"{}\" does not fit task {}, whose units are {} units",
                head.name(),
                task.name,
                task.unit_kind.name()
            );
        }
    }
    if task.train.sentences.is_empty() || task.train.units.is_empty() {
        bail!(
            "task {} has an empty train split: nothing to fine-tune on",
            task.name
        );
    }
    if task.dev.units.is_empty() {
        bail!(
            "task {} has no dev units: the best epoch is chosen on dev",
            task.name
        );
    }
    let seen: std::collections::BTreeSet<&str> =
        task.train.units.iter().map(|u| u.label.as_str()).collect();
    for (name, split) in [("dev", &task.dev), ("test", &task.test)] {
        let mut unknown: Vec<&str> = split
            .units
            .iter()
            .map(|u| u.label.as_str())
            .filter(|l| !seen.contains(l))
            .collect();
        unknown.sort_unstable();
        unknown.dedup();
        if !unknown.is_empty() {
            bail!("{name} has label(s) never seen in train: {} (a fine-tuned head cannot predict them)", unknown.join(", "));
        }
    }
    if !job.model_dir.join("config.json").is_file() {
        bail!(
            "{} has no config.json: not a Hugging Face model directory",
            job.model_dir.display()
        );
    }
    weights_file(&job.model_dir)?;
    Ok(())
}

fn state_dir(run: &Path) -> PathBuf {
    RunDir::new(run).finetune_state()
}

/// Fine-tunes `job.task` and writes the run directory (`models/finetuned/`: the encoder in HF
/// layout, LoRA adapters merged; `models/adapter/`: a LoRA run's adapter in PEFT's layout); resumes from `finetune-state/` when an
/// earlier run with the same settings was interrupted.
pub fn finetune(job: &Job, progress: &mut dyn Progress) -> Result<Outcome> {
    check_inputs(job)?;
    let cfg = &job.config;
    let task = job.task;
    let kind = task.unit_kind;
    let n_labels = task.labels.len();

    // ---- data ----
    let model = build_model(&job.model_dir, kind, n_labels, cfg)?;
    let sp = specials(&model.tokenizer, &model.encoder_config);
    let tok = &model.tokenizer;
    let subwords = |words: &[String]| -> Result<Vec<Vec<i64>>> {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        tok.subwords(&w)
    };
    let mut train = prepare(task, &task.train, "train", cfg.max_len, sp, &subwords)?;
    let mut train_unseen = train.cut.clone();
    let dev = prepare(task, &task.dev, "dev", cfg.max_len, sp, &subwords)?;
    let test = prepare(task, &task.test, "test", cfg.max_len, sp, &subwords)?;
    if cfg.train_subset > 0 && cfg.train_subset < train.sentences.len() {
        let mut order: Vec<usize> = (0..train.sentences.len()).collect();
        Rng::new(derive_seed(&[cfg.seed, 0x5B5E7])).shuffle(&mut order);
        order.truncate(cfg.train_subset);
        order.sort_unstable();
        let mut kept = vec![false; train.sentences.len()];
        for &i in &order {
            kept[i] = true;
        }
        train_unseen
            .extend((0..task.train.units.len()).filter(|&k| !kept[task.train.units[k].sentence]));
        train_unseen.sort_unstable();
        train_unseen.dedup();
        train.sentences = order
            .into_iter()
            .map(|i| train.sentences[i].clone())
            .collect();
    }
    let cut_units = [train.cut_units, dev.cut_units, test.cut_units];
    for (name, n) in ["train", "dev", "test"].iter().zip(cut_units) {
        if n > 0 {
            progress.note(&format!(
                "{n} {name} unit(s) lie beyond finetune.max_len = {} sub-words and are left out",
                cfg.max_len
            ));
        }
    }
    if train.n_units() == 0 {
        bail!("no train unit fits in finetune.max_len = {}", cfg.max_len);
    }
    let lengths = train.lengths();
    let batches_per_epoch = lengths.len().div_ceil(cfg.batch_size);
    let updates_per_epoch = batches_per_epoch.div_ceil(cfg.grad_accum);
    let total = (updates_per_epoch * cfg.epochs) as u64;
    let schedule = LinearSchedule {
        peak: cfg.lr,
        warmup: (total as f64 * cfg.warmup_ratio).ceil() as usize,
        total: total as usize,
    };

    // ---- optimiser: the head and what the method trains (encoder, LoRA adapters, top layers) ----
    let mut params: Vec<(String, Tensor)> = Vec::new();
    for (name, t) in model.vs.variables() {
        if cfg.trains(&name) {
            params.push((name, t));
        } else {
            let _ = t.set_requires_grad(false);
        }
    }
    let trained_parameters = params.iter().map(|(_, t)| t.numel() as u64).sum();
    let mut opt = AdamW::new(
        params,
        cfg.weight_decay,
        (cfg.adam_beta1, cfg.adam_beta2),
        cfg.adam_eps,
    );

    // ---- resume ----
    std::fs::create_dir_all(&job.run_dir)
        .with_context(|| format!("cannot create {}", job.run_dir.display()))?;
    let sdir = state_dir(&job.run_dir);
    recover_dir(&sdir)?;
    let mut state = State {
        config: cfg.clone(),
        task: task.name.clone(),
        labels: task.labels.clone(),
        update: 0,
        best: None,
        evals_since_best: 0,
    };
    let mut best_weights: Option<Vec<(String, Tensor)>> = None;
    if sdir.join("state.json").is_file() {
        let saved: State = serde_json::from_slice(&std::fs::read(sdir.join("state.json"))?)
            .context("unreadable finetune-state/state.json")?;
        if saved.config != *cfg || saved.task != task.name || saved.labels != task.labels {
            bail!(
                "{} holds an interrupted fine-tuning run with other settings or another task; remove finetune-state/ or use another run directory",
                job.run_dir.display()
            );
        }
        save::load_into(&model.vs, &sdir.join("weights.safetensors"))?;
        opt.load_state(
            &Tensor::read_safetensors(sdir.join("optimizer.safetensors"))?,
            saved.update as i64,
        )?;
        if saved.best.is_some() {
            best_weights = Some(Tensor::read_safetensors(sdir.join("best.safetensors"))?);
        }
        progress.note(&format!("resuming at update {} of {total}", saved.update));
        state = saved;
    }
    let mut log = JsonLog::open(
        &RunDir::new(&job.run_dir).train_log(),
        (state.update > 0).then_some(state.update),
    )?;
    write_atomic(
        &RunDir::new(&job.run_dir).finetune_config(),
        &serde_json::to_vec_pretty(&cfg)?,
    )?;

    // ---- train ----
    let started = Instant::now();
    progress.start(state.update, total);
    if progress.stop_requested() {
        return Err(Interrupted {
            update: state.update,
            total,
        }
        .into());
    }
    let (mut loss_sum, mut loss_n, mut tokens, mut window) = (0.0, 0usize, 0usize, Instant::now());
    // A run that patience had already stopped before it was interrupted trains no further.
    let mut stopped_early = cfg.patience > 0 && state.evals_since_best >= cfg.patience;
    let first_epoch = if stopped_early {
        cfg.epochs
    } else {
        state.update as usize / updates_per_epoch
    };
    'epochs: for epoch in first_epoch..cfg.epochs {
        let batches = length_bucketed_batches(
            &lengths,
            cfg.batch_size,
            cfg.bucket_pool,
            &mut Rng::new(derive_seed(&[cfg.seed, epoch as u64])),
        );
        let skip = state.update as usize - epoch * updates_per_epoch;
        for (k, group) in batches.chunks(cfg.grad_accum).enumerate().skip(skip) {
            // forward + backward over the micro-batches of one update
            opt.zero_grad();
            for (micro, idx) in group.iter().enumerate() {
                let batch = make_batch(&train, idx, sp, kind, cfg.word_pool, cfg.sentence_pool);
                tokens += batch.tokens;
                if batch.labels.is_empty() {
                    continue;
                }
                tch::manual_seed(
                    derive_seed(&[cfg.seed, state.update, micro as u64]) as i64 & i64::MAX,
                );
                let labels = Tensor::from_slice(&batch.labels);
                let logits = if cfg.freeze_encoder {
                    let states =
                        tch::no_grad(|| model.encoder.forward_t(&batch.ids, &batch.mask, false));
                    let flat = states.last().expect("hidden states").flatten(0, 1);
                    model.head.forward_t(&batch.plan.gather(&flat), true)
                } else {
                    model.logits(&batch, true, true)
                };
                let loss = cross_entropy(&logits, &labels) / group.len() as f64;
                loss.backward();
                loss_sum += loss.double_value(&[]) * group.len() as f64;
                loss_n += 1;
            }
            // clip, step, schedule
            let grad_norm = clip_grad_norm(
                &opt.params().map(|(_, t)| t).collect::<Vec<_>>(),
                cfg.max_grad_norm,
            );
            let lr = schedule.lr(state.update as usize);
            opt.step(lr);
            // The step's activations are freed; hand their pages back so the next batch's peak
            // is not stacked on a fragmented heap (glibc keeps freed memory otherwise).
            crate::memory::release_free_memory();
            state.update += 1;
            let epoch_f = epoch as f64 + (k + 1) as f64 / updates_per_epoch as f64;
            let secs = window.elapsed().as_secs_f64().max(1e-9);
            let rec = StepRecord {
                update: state.update,
                epoch: epoch_f,
                loss: loss_sum / loss_n.max(1) as f64,
                lr,
                grad_norm,
                tokens_per_s: tokens as f64 / secs,
                elapsed_s: started.elapsed().as_secs_f64(),
            };
            progress.update(&rec);
            if every(state.update, cfg.log_every) {
                log.write(
                    &serde_json::json!({"kind": "train", "record": rec, "update": rec.update}),
                )?;
                (loss_sum, loss_n, tokens, window) = (0.0, 0, 0, Instant::now());
            }
            // evaluate (every K updates and at the end of each epoch)
            let epoch_end = k + 1 == updates_per_epoch;
            if epoch_end || every(state.update, cfg.eval_every) {
                let dev_scores = model.evaluate(&dev, sp, kind, cfg, n_labels);
                let better = state
                    .best
                    .is_none_or(|b| dev_scores.accuracy > b.dev.accuracy);
                if better {
                    state.best = Some(Best {
                        update: state.update,
                        epoch: epoch_f,
                        dev: dev_scores,
                    });
                    state.evals_since_best = 0;
                    best_weights = Some(save::snapshot(&model.vs));
                } else {
                    state.evals_since_best += 1;
                }
                let rec = EvalRecord {
                    update: state.update,
                    epoch: epoch_f,
                    split: "dev".into(),
                    scores: dev_scores,
                    best: better,
                };
                log.write(
                    &serde_json::json!({"kind": "eval", "record": rec, "update": rec.update}),
                )?;
                progress.eval(&rec);
                if cfg.patience > 0 && state.evals_since_best >= cfg.patience {
                    stopped_early = true;
                }
            }
            // checkpoints: HF-layout encoder every K updates; resumable state every K and per epoch
            if every(state.update, cfg.checkpoint_every) {
                let dir = RunDir::new(&job.run_dir).checkpoint(state.update);
                save::save_hf(&model, task, cfg, &dir)?;
            }
            let state_due = every(state.update, cfg.state_every);
            let stop = !stopped_early && progress.stop_requested();
            if epoch_end || state_due || stopped_early || stop {
                save_state(&sdir, &model.vs, &opt, &state, best_weights.as_deref())?;
            }
            if stop {
                return Err(Interrupted {
                    update: state.update,
                    total,
                }
                .into());
            }
            if stopped_early {
                progress.note(&format!(
                    "no better dev accuracy in {} evaluations: stopping",
                    cfg.patience
                ));
                break 'epochs;
            }
        }
    }

    // ---- keep the best model, score it, save it ----
    let best = state
        .best
        .context("training ended without a dev evaluation")?;
    let best_weights = best_weights.context("best weights missing from the training state")?;
    save::restore(&model.vs, &best_weights)?;
    let test_scores = model.evaluate(&test, sp, kind, cfg, n_labels);
    let rec = EvalRecord {
        update: best.update,
        epoch: best.epoch,
        split: "test".into(),
        scores: test_scores,
        best: true,
    };
    log.write(&serde_json::json!({"kind": "eval", "record": rec, "update": state.update}))?;
    progress.eval(&rec);
    save::save_hf(&model, task, cfg, &RunDir::new(&job.run_dir).finetuned())?;
    if model.encoder_config.lora.is_some() {
        save::save_adapter(&model, &job.model_dir, &RunDir::new(&job.run_dir).adapter())?;
    }
    let outcome = Outcome {
        config: cfg.clone(),
        task: task.name.clone(),
        model_dir: job.model_dir.clone(),
        updates: state.update,
        best_update: best.update,
        best_epoch: best.epoch,
        dev: best.dev,
        test: test_scores,
        cut_units,
        train_unseen,
        seconds: started.elapsed().as_secs_f64(),
        stopped_early,
        trained_parameters,
    };
    write_atomic(
        &RunDir::new(&job.run_dir).finetune_outcome(),
        &serde_json::to_vec_pretty(&outcome)?,
    )?;
    Ok(outcome)
}

/// Whether `k > 0` and update `n` is a multiple of it.
fn every(n: u64, k: usize) -> bool {
    k > 0 && n.is_multiple_of(k as u64)
}

fn save_state(
    dir: &Path,
    vs: &nn::VarStore,
    opt: &AdamW,
    state: &State,
    best: Option<&[(String, Tensor)]>,
) -> Result<()> {
    replace_dir::<anyhow::Error>(dir, |tmp| {
        save::write_named(
            &tmp.join("weights.safetensors"),
            &save::sorted(vs.variables()),
        )?;
        save::write_named(&tmp.join("optimizer.safetensors"), &opt.state_tensors())?;
        if let Some(b) = best {
            save::write_named(&tmp.join("best.safetensors"), b)?;
        }
        Ok(write_atomic(
            &tmp.join("state.json"),
            &serde_json::to_vec_pretty(state)?,
        )?)
    })
}
