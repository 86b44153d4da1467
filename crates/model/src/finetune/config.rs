//! Fine-tuning settings, with the defaults of DESIGN.md (HF Trainer-like).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use tunescope_data::UnitKind;

use super::head::{SentencePool, WordPool};
use crate::encoder::model::layer_of;
use crate::encoder::{is_lora, Family, LoraConfig};

/// Which parameters fine-tuning updates (the task head always).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Every encoder parameter.
    #[default]
    Full,
    /// Only LoRA adapters on `lora_targets` (PEFT's LoRA); the encoder itself stays frozen.
    Lora,
    /// Every parameter above the embeddings and the bottom `freeze_layers` layers.
    Freeze,
}

impl Method {
    /// The name used in `[finetune]` (`full`, `lora`, `freeze`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Full => "full",
            Method::Lora => "lora",
            Method::Freeze => "freeze",
        }
    }
}

/// Everything that shapes a fine-tuning run; serialised into the run directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    /// Peak learning rate of AdamW.
    pub lr: f64,
    /// Decoupled weight decay (not applied to biases and LayerNorm).
    pub weight_decay: f64,
    /// AdamW β₁.
    pub adam_beta1: f64,
    /// AdamW β₂.
    pub adam_beta2: f64,
    /// AdamW ε.
    pub adam_eps: f64,
    /// Fraction of all updates spent warming the learning rate up linearly.
    pub warmup_ratio: f64,
    /// Sentences per forward pass.
    pub batch_size: usize,
    /// Forward passes whose gradients are summed into one update.
    pub grad_accum: usize,
    /// Passes over the training sentences.
    pub epochs: usize,
    /// Dropout of the encoder (hidden and attention) and of the head's input.
    pub dropout: f64,
    /// Gradient-norm clipping threshold (0 disables).
    pub max_grad_norm: f64,
    /// Longest input in sub-words, `[CLS]` and `[SEP]` included; longer sentences are cut.
    pub max_len: usize,
    /// Seed of head initialisation, shuffling and dropout.
    pub seed: u64,
    /// Batches per length-sorting pool (1 = plain shuffled batches).
    pub bucket_pool: usize,
    /// Use at most this many training sentences, drawn with the seed (0 = all).
    pub train_subset: usize,
    /// Score dev every K updates as well as after each epoch (0 = per epoch only).
    pub eval_every: usize,
    /// Stop after this many evaluations without a better dev accuracy (0 = never).
    pub patience: usize,
    /// Save the encoder in HF layout as `models/ckpt-<update>/` every K updates (0 = never).
    pub checkpoint_every: usize,
    /// Save the resumable training state every K updates (0 = only at the end of each epoch).
    pub state_every: usize,
    /// Write a train_log.jsonl record every K updates.
    pub log_every: usize,
    /// How a word's vector is formed from its sub-words.
    pub word_pool: WordPool,
    /// How a sentence's vector is formed.
    pub sentence_pool: SentencePool,
    /// Train only the head on a frozen encoder (the "before fine-tuning" linear baseline).
    pub freeze_encoder: bool,
    /// Head to train (`token`, `pair`, `span`, `sentence`); must match the task's unit kind.
    /// `None` takes the task's.
    pub head: Option<UnitKind>,
    /// What is trained besides the head: `full`, `lora` or `freeze`.
    pub method: Method,
    /// LoRA rank r (`method = "lora"`).
    pub lora_r: usize,
    /// LoRA alpha: the update B A is scaled by `lora_alpha / lora_r`.
    pub lora_alpha: f64,
    /// Dropout on the LoRA adapters' input.
    pub lora_dropout: f64,
    /// Modules that get adapters, matched as PEFT matches `target_modules` (a module name or
    /// dotted suffix, e.g. `query`, `attention.output.dense`); empty = PEFT's default for the
    /// family (`query`, `value`; DistilBERT `q_lin`, `v_lin`).
    pub lora_targets: Vec<String>,
    /// Bottom transformer layers frozen with the embeddings (`method = "freeze"`).
    pub freeze_layers: usize,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        FinetuneConfig {
            lr: 5e-5,
            weight_decay: 0.01,
            adam_beta1: 0.9,
            adam_beta2: 0.999,
            adam_eps: 1e-8,
            warmup_ratio: 0.1,
            batch_size: 32,
            grad_accum: 1,
            epochs: 3,
            dropout: 0.1,
            max_grad_norm: 1.0,
            max_len: 128,
            seed: 42,
            bucket_pool: 50,
            train_subset: 0,
            eval_every: 0,
            patience: 0,
            checkpoint_every: 0,
            state_every: 500,
            log_every: 10,
            word_pool: WordPool::First,
            sentence_pool: SentencePool::Cls,
            freeze_encoder: false,
            head: None,
            method: Method::Full,
            lora_r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.1,
            lora_targets: Vec::new(),
            freeze_layers: 0,
        }
    }
}

impl FinetuneConfig {
    /// The LoRA settings of a `method = "lora"` run for an encoder of `family` (its default
    /// targets when `lora_targets` is empty); `None` for other methods.
    pub fn lora(&self, family: Family) -> Option<LoraConfig> {
        (self.method == Method::Lora).then(|| LoraConfig {
            r: self.lora_r as i64,
            alpha: self.lora_alpha,
            dropout: self.lora_dropout,
            targets: if self.lora_targets.is_empty() {
                family.lora_default_targets().map(String::from).to_vec()
            } else {
                self.lora_targets.clone()
            },
        })
    }

    /// Whether the variable `name` (encoder names, `classifier.*` for the head) is trained.
    pub fn trains(&self, name: &str) -> bool {
        if name.starts_with("classifier.") {
            return true;
        }
        if self.freeze_encoder {
            return false;
        }
        match self.method {
            Method::Full => true,
            Method::Lora => is_lora(name),
            Method::Freeze => {
                layer_of(name).is_some_and(|l| l >= self.freeze_layers)
                    || !(name.starts_with("embeddings") || name.contains(".layer."))
            }
        }
    }

    /// Rejects settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            bail!("finetune.lr must be a positive number, found {}", self.lr);
        }
        if !(0.0..1.0).contains(&self.warmup_ratio) {
            bail!(
                "finetune.warmup_ratio must be in [0, 1), found {}",
                self.warmup_ratio
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            bail!("finetune.dropout must be in [0, 1), found {}", self.dropout);
        }
        if self.weight_decay < 0.0 || self.max_grad_norm < 0.0 {
            bail!("finetune.weight_decay and finetune.max_grad_norm must not be negative");
        }
        if !(0.0..1.0).contains(&self.adam_beta1)
            || !(0.0..1.0).contains(&self.adam_beta2)
            || self.adam_eps <= 0.0
        {
            bail!("finetune.adam_beta1/2 must be in [0, 1) and adam_eps positive");
        }
        for (name, v) in [
            ("batch_size", self.batch_size),
            ("grad_accum", self.grad_accum),
            ("epochs", self.epochs),
            ("log_every", self.log_every),
            ("bucket_pool", self.bucket_pool),
        ] {
            if v == 0 {
                bail!("finetune.{name} must be at least 1");
            }
        }
        match self.method {
            Method::Lora => {
                if self.lora_r == 0 {
                    bail!("finetune.lora_r must be at least 1");
                }
                if !(self.lora_alpha > 0.0 && self.lora_alpha.is_finite()) {
                    bail!(
                        "finetune.lora_alpha must be a positive number, found {}",
                        self.lora_alpha
                    );
                }
                if !(0.0..1.0).contains(&self.lora_dropout) {
                    bail!(
                        "finetune.lora_dropout must be in [0, 1), found {}",
                        self.lora_dropout
                    );
                }
                if let Some(t) = self.lora_targets.iter().find(|t| t.trim().is_empty()) {
                    bail!("finetune.lora_targets holds an empty module name ({t:?})");
                }
            }
            Method::Freeze if self.freeze_layers == 0 => {
                bail!("finetune.method = \"freeze\" needs finetune.freeze_layers of at least 1 (the bottom layers frozen with the embeddings)");
            }
            _ => {}
        }
        if self.method != Method::Freeze && self.freeze_layers > 0 {
            bail!(
                "finetune.freeze_layers = {} is only used with method = \"freeze\" (method is \"{}\")",
                self.freeze_layers,
                self.method.name()
            );
        }
        if self.method != Method::Full && self.freeze_encoder {
            bail!(
                "finetune.freeze_encoder trains the head alone; it cannot be combined with method = \"{}\"",
                self.method.name()
            );
        }
        if self.max_len < 3 {
            bail!(
                "finetune.max_len must leave room for [CLS], [SEP] and one sub-word, found {}",
                self.max_len
            );
        }
        Ok(())
    }
}
