//! The study configuration: one TOML file with sections `[study]`, `[data]`, `[model]`,
//! `[finetune]`, `[probe]`, `[directprobe]`, `[compare]`, `[dynamics]`, `[memorisation]` and
//! `[[cross_task]]` (documented in `docs/config.md`).
//!
//! Unknown keys are rejected with the list of valid ones. `--set section.key=value` overrides are
//! applied to the parsed TOML before it is checked; the value is parsed as TOML and taken as a
//! string when that fails. Relative paths are relative to the current directory.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use tunescope_compare::analysis::UndefinedPairs;
use tunescope_data::rundir::RunDir;
use tunescope_data::{Files, Format, LoadSpec, TaskKind, UnitKind};
use tunescope_model::finetune::{FinetuneConfig, Method};

/// A whole study configuration, resolved (name and output directory filled in) and validated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Study identity, output directory and master seed.
    #[serde(default)]
    pub study: Study,
    /// Which corpus, task and splits.
    pub data: Data,
    /// The pre-trained encoder and how unit vectors are formed.
    #[serde(default)]
    pub model: Model,
    /// Fine-tuning hyper-parameters.
    #[serde(default)]
    pub finetune: Finetune,
    /// Classifier probes.
    #[serde(default)]
    pub probe: Probe,
    /// DirectProbe clustering.
    #[serde(default)]
    pub directprobe: DirectProbe,
    /// Representation comparisons.
    #[serde(default)]
    pub compare: Compare,
    /// Label distances over the fine-tuning checkpoints (paper Figs. L, M, O).
    #[serde(default)]
    pub dynamics: Dynamics,
    /// The subtrain/subtest memorisation experiment (paper v1, Fig. E).
    #[serde(default)]
    pub memorisation: Memorisation,
    /// Calibrated similarity of the pre-trained and fine-tuned spaces per layer.
    #[serde(default)]
    pub similarity: Similarity,
    /// MDL (online codelength) probes per layer before and after fine-tuning.
    #[serde(default)]
    pub mdl: Mdl,
    /// The per-example view: DirectProbe predictions before and after, flips.
    #[serde(default)]
    pub examples: Examples,
    /// Cross-task experiments (paper Table C): other tasks probed with the study's encoders.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cross_task: Vec<CrossTask>,
    /// Fine-tuning arms: other `[finetune]` settings (LoRA, partial freezing, …) run beside
    /// the study's own fine-tuning on the same pre-trained stages, in `arms/<name>/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arms: Vec<Arm>,
}

/// `[study]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Study {
    /// Study name; defaults to the config file's stem.
    pub name: String,
    /// Run directory; defaults to `runs/<name>`.
    pub out: PathBuf,
    /// Master seed: data split, subsampling, and any stage seed left unset.
    pub seed: u64,
    /// Content-addressed stage cache shared by studies (e.g. the cells of a grid); unset = none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<PathBuf>,
    /// One of the paper's model × task pairs (`bert-small/pos`): the report prints the paper's
    /// published Table A row next to this study's last-layer rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub paper: Option<String>,
}

impl Default for Study {
    fn default() -> Self {
        Study {
            name: String::new(),
            out: PathBuf::new(),
            seed: 42,
            cache: None,
            paper: None,
        }
    }
}

/// `[data]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Data {
    /// Corpus format.
    pub format: Format,
    /// Task derived from the corpus.
    pub task: TaskKind,
    /// One file (Brown: the corpus directory) split by the fractions below.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Training file (instead of `path`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train: Option<PathBuf>,
    /// Development file; carved out of train when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<PathBuf>,
    /// Test file; carved out of train when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<PathBuf>,
    /// Share of sentences for train in a seeded split.
    #[serde(default = "default_train_fraction")]
    pub train_fraction: f64,
    /// Share of sentences for dev in a seeded split.
    #[serde(default = "default_tenth")]
    pub dev_fraction: f64,
    /// Share of sentences for test in a seeded split.
    #[serde(default = "default_tenth")]
    pub test_fraction: f64,
    /// Keep at most this many sentences per split (seeded sample) for fast runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_sentences: Option<usize>,
    /// Closed label set: other labels are an error; listed labels count even if unused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    /// Span tasks: keep only single-word units (STREUSLE: single-token prepositions, as the
    /// paper).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub single_word_units: bool,
}

fn default_train_fraction() -> f64 {
    0.8
}

fn default_tenth() -> f64 {
    0.1
}

/// Whether `name` can name a directory inside the run directory: non-empty letters, digits,
/// `-`, `_` and `.`, and not `.` or `..`.
pub fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_.".contains(ch))
}

impl Data {
    /// Reads the task this section describes, split and sampled with `seed`.
    pub fn load_task(&self, seed: u64) -> anyhow::Result<tunescope_data::Task> {
        let spec = self.load_spec(seed)?;
        tunescope_data::load(&spec).with_context(|| {
            format!(
                "reading {} data for task `{}`",
                serde_json::to_value(spec.format)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                spec.task.name()
            )
        })
    }

    /// The reader settings for this section, with `seed` for the split and subsampling.
    pub fn load_spec(&self, seed: u64) -> anyhow::Result<LoadSpec> {
        let files = match (&self.path, &self.train) {
            (Some(_), Some(_)) => {
                bail!("[data] sets both `path` and `train`; use `path` for one file to split, or `train` (with optional `dev`, `test`)")
            }
            (Some(path), None) => {
                if self.dev.is_some() || self.test.is_some() {
                    bail!("[data] `dev`/`test` files need `train` instead of `path`");
                }
                Files::Single(path.clone())
            }
            (None, Some(train)) => Files::Separate {
                train: train.clone(),
                dev: self.dev.clone(),
                test: self.test.clone(),
            },
            (None, None) => bail!("[data] needs `path` (one file or directory) or `train` (with optional `dev`, `test`)"),
        };
        let spec = LoadSpec {
            format: self.format,
            task: self.task,
            files,
            fractions: [self.train_fraction, self.dev_fraction, self.test_fraction],
            seed,
            max_sentences: self.max_sentences,
            labels: self.labels.clone(),
            single_word_units: self.single_word_units,
        };
        spec.validate().context("[data]")?;
        Ok(spec)
    }
}

/// How a unit's vector is pooled from its sub-word (token units) or sentence vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// First sub-word of each word (token, pair and span units).
    First,
    /// Last sub-word of each word (token, pair and span units).
    Last,
    /// Mean over sub-words (words), or over all tokens of a sentence.
    Mean,
    /// The `[CLS]` vector (sentence units).
    Cls,
}

/// Which encoder layers to analyse: 0 is the embedding output, 1..L the transformer layers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Layers {
    /// Every layer, 0..=L.
    #[default]
    All,
    /// These layers, ascending, without repeats.
    List(Vec<usize>),
}

impl Serialize for Layers {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Layers::All => s.serialize_str("all"),
            Layers::List(l) => l.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Layers {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Layers;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(r#""all" or a list of layer numbers such as [0, 6, 12]"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Layers, E> {
                if v == "all" {
                    Ok(Layers::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Layers, A::Error> {
                let mut list = Vec::new();
                while let Some(layer) = seq.next_element::<usize>()? {
                    list.push(layer);
                }
                Ok(Layers::List(list))
            }
        }
        d.deserialize_any(V)
    }
}

/// Where tensors live: `cpu`, or `cuda:N` (`cuda` means `cuda:0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Device {
    /// The CPU.
    #[default]
    Cpu,
    /// CUDA device N.
    Cuda(usize),
}

impl TryFrom<String> for Device {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "cpu" => Ok(Device::Cpu),
            "cuda" => Ok(Device::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Device::Cuda)
                .ok_or_else(|| format!("invalid device `{s}`, expected `cpu`, `cuda` or `cuda:N`")),
        }
    }
}

impl From<Device> for String {
    fn from(d: Device) -> String {
        match d {
            Device::Cpu => "cpu".into(),
            Device::Cuda(n) => format!("cuda:{n}"),
        }
    }
}

/// `[model]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Model {
    /// Local Hugging Face encoder directory (config.json with model_type bert, roberta, xlm-roberta,
    /// distilbert or electra; model.safetensors; tokenizer.json) or hub id.
    pub path: String,
    /// Unit pooling; unset means `mean` (sub-word average, as the paper) for token, pair and span
    /// units and `cls` for sentence units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pooling: Option<Pooling>,
    /// Layers to extract and analyse.
    pub layers: Layers,
    /// Longest input in sub-words (including `[CLS]`/`[SEP]`); longer sentences are truncated.
    pub max_subwords: usize,
    /// Sentences per forward pass during extraction.
    pub batch_size: usize,
    /// Where to run the encoder.
    pub device: Device,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            path: "assets/all-MiniLM-L6-v2".into(),
            pooling: None,
            layers: Layers::All,
            max_subwords: 128,
            batch_size: 32,
            device: Device::Cpu,
        }
    }
}

impl Model {
    /// The pooling to use for `kind` units: the configured one, or the default: `mean` of a
    /// word's sub-words for token, pair and span units (the paper averages them, digest §12),
    /// `cls` for sentence units.
    pub fn pooling_for(&self, kind: UnitKind) -> Pooling {
        self.pooling.unwrap_or(match kind {
            UnitKind::Sentence => Pooling::Cls,
            _ => Pooling::Mean,
        })
    }
}

/// `[finetune]` (defaults from DESIGN.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Finetune {
    /// AdamW learning rate.
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Share of updates spent in linear warm-up (then linear decay to 0).
    pub warmup_ratio: f64,
    /// Sentences per batch.
    pub batch_size: usize,
    /// Passes over the training data.
    pub epochs: usize,
    /// Dropout probability during fine-tuning.
    pub dropout: f64,
    /// Gradient-norm clip (0 = off).
    pub grad_clip: f64,
    /// Batches accumulated per update.
    pub grad_accum: usize,
    /// Stop after this many evaluations without dev improvement (0 = never stop early).
    pub patience: usize,
    /// Evaluate on dev every this many updates (0 = once per epoch).
    pub eval_every: usize,
    /// Save a checkpoint every this many updates (0 = off).
    pub checkpoint_every: usize,
    /// Seed for initialisation, dropout and batching; unset means `study.seed`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Train on at most this many training sentences, drawn with the seed (0 = all).
    pub train_subset: usize,
    /// Write a `train_log.jsonl` record every this many updates.
    pub log_every: usize,
    /// Save the resumable training state every this many updates (0 = once per epoch).
    pub state_every: usize,
    /// Train only a linear head on the frozen encoder (the before-fine-tuning baseline).
    pub freeze_encoder: bool,
    /// What fine-tuning trains besides the head: `full` (every weight), `lora` (PEFT-style
    /// adapters on `lora_targets`, the encoder frozen) or `freeze` (all but the embeddings and
    /// the bottom `freeze_layers` layers).
    pub method: Method,
    /// LoRA rank r.
    pub lora_r: usize,
    /// LoRA alpha (the update B A is scaled by `lora_alpha / lora_r`).
    pub lora_alpha: f64,
    /// Dropout on the LoRA adapters' input.
    pub lora_dropout: f64,
    /// Modules that get LoRA adapters, matched as PEFT's `target_modules` (a name or dotted
    /// suffix); empty = the family's query and value projections.
    pub lora_targets: Vec<String>,
    /// `method = "freeze"`: transformer layers frozen, from the bottom, with the embeddings.
    pub freeze_layers: usize,
    /// Fine-tuning replicates: the study's seed, then `seed + 1`, … in `seeds/seed-<s>/`; with
    /// more than one, every comparison is reported as a mean with a 95 % bootstrap interval.
    pub seeds: usize,
}

impl Finetune {
    /// `base` with this section's method settings (`method`, `lora_*`, `freeze_*`).
    pub fn with_method(&self, base: FinetuneConfig) -> FinetuneConfig {
        FinetuneConfig {
            method: self.method,
            lora_r: self.lora_r,
            lora_alpha: self.lora_alpha,
            lora_dropout: self.lora_dropout,
            lora_targets: self.lora_targets.clone(),
            freeze_layers: self.freeze_layers,
            freeze_encoder: self.freeze_encoder,
            ..base
        }
    }
}

impl Default for Finetune {
    fn default() -> Self {
        Finetune {
            lr: 5e-5,
            weight_decay: 0.01,
            warmup_ratio: 0.1,
            batch_size: 32,
            epochs: 3,
            dropout: 0.1,
            grad_clip: 1.0,
            grad_accum: 1,
            patience: 0,
            eval_every: 0,
            checkpoint_every: 0,
            seed: None,
            train_subset: 0,
            log_every: 10,
            state_every: 500,
            freeze_encoder: false,
            method: Method::Full,
            lora_r: 8,
            lora_alpha: 16.0,
            lora_dropout: 0.1,
            lora_targets: Vec::new(),
            freeze_layers: 0,
            seeds: 1,
        }
    }
}

/// `[probe]`: linear and 2-layer ReLU MLP classifier probes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Probe {
    /// Run the classifier probes.
    pub enabled: bool,
    /// Hidden sizes; MLPs use every pair (h1, h2) of this grid.
    pub grid: Vec<usize>,
    /// L2 weights (scikit-learn's `alpha`) searched for every shape; default the paper's
    /// 1e-7, 1e-6, …, 1.
    pub l2: Vec<f64>,
    /// Runs (seeds) per configuration.
    pub seeds: usize,
    /// Also train a linear probe.
    pub linear: bool,
    /// Maximum training epochs.
    pub epochs: usize,
    /// Adam learning rate.
    pub lr: f64,
    /// Units per batch.
    pub batch_size: usize,
    /// Stop after this many epochs without dev improvement (0 = never stop early).
    pub patience: usize,
    /// Also train on shuffled labels (control task).
    pub control: bool,
}

impl Default for Probe {
    fn default() -> Self {
        Probe {
            enabled: true,
            grid: tunescope_model::probe::PAPER_SIZES.to_vec(),
            l2: tunescope_model::probe::PAPER_L2.to_vec(),
            seeds: 5,
            linear: true,
            epochs: 50,
            lr: 1e-3,
            batch_size: 64,
            patience: 5,
            control: false,
        }
    }
}

/// `[directprobe]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectProbe {
    /// Run DirectProbe.
    pub enabled: bool,
    /// Clusters with at most this many points are left out of the analysis metrics.
    pub min_cluster_size: usize,
    /// Worker threads (0 = one per core).
    pub threads: usize,
    /// Cluster at most this many units per split (seeded sample with `study.seed`); unset = all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_units: Option<usize>,
}

impl Default for DirectProbe {
    fn default() -> Self {
        DirectProbe {
            enabled: true,
            min_cluster_size: 5,
            threads: 0,
            max_units: None,
        }
    }
}

/// `[compare]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Compare {
    /// Units sampled (seeded) for representational similarity analysis.
    pub rsa_sample: usize,
    /// Test units sampled (seeded) for CKA, Procrustes and the layer × layer CKA (0 = all).
    pub similarity_units: usize,
    /// Label pairs without a distance in a spatial similarity: `zero` (written as 0, the
    /// authors' code) or `drop` (left out).
    pub undefined_pairs: UndefinedPairs,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            rsa_sample: 2000,
            similarity_units: 5000,
            undefined_pairs: UndefinedPairs::Zero,
        }
    }
}

/// `[dynamics]`: the pre-trained space's DirectProbe clusters re-measured at every fine-tuning
/// checkpoint (needs `finetune.checkpoint_every > 0` and DirectProbe).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Dynamics {
    /// Run the experiment when checkpoints are written.
    pub enabled: bool,
    /// Labels whose centroid paths are drawn; empty = the three closest labels of the
    /// pre-trained space at each layer.
    pub path_labels: Vec<String>,
}

impl Default for Dynamics {
    fn default() -> Self {
        Dynamics {
            enabled: true,
            path_labels: Vec::new(),
        }
    }
}

/// `[memorisation]`: train split 80:20 into subtrain/subtest, probe trained on subtrain only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Memorisation {
    /// Run the experiment.
    pub enabled: bool,
    /// Share of the training sentences in subtrain (seeded split by sentence).
    pub subtrain: f64,
    /// Probe epochs (all trained; accuracy recorded after each).
    pub epochs: usize,
    /// Hidden sizes of the probe; unset = `[g, g]` with `g` the first `probe.grid` size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden: Option<Vec<usize>>,
    /// Layer probed; unset = the last analysed layer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layer: Option<usize>,
}

impl Default for Memorisation {
    fn default() -> Self {
        Memorisation {
            enabled: true,
            subtrain: 0.8,
            epochs: 50,
            hidden: None,
            layer: None,
        }
    }
}

/// `[similarity]`: linear and debiased CKA, mutual k-NN, angular Procrustes and RSA of the
/// pre-trained vs the fine-tuned space at every layer, each with a permutation null
/// (`docs/measures.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Similarity {
    /// Run the similarity stages.
    pub enabled: bool,
    /// Test units sampled (seeded) per layer (0 = all). The null costs one `d × d` product
    /// per permutation over these rows.
    pub units: usize,
    /// Row permutations in each null (p-values are at least `1/(permutations + 1)`).
    pub permutations: usize,
    /// Neighbours of the mutual k-NN index.
    pub k: usize,
}

impl Default for Similarity {
    fn default() -> Self {
        Similarity {
            enabled: true,
            units: 2000,
            permutations: 100,
            k: 10,
        }
    }
}

/// `[mdl]`: online codelength (Voita & Titov 2020) of the linear probe (and with `mlp` of the
/// chosen MLP) at every layer, before and after fine-tuning (and with `control`
/// on the control task).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mdl {
    /// Run the MDL stages (needs `probe.enabled`).
    pub enabled: bool,
    /// Probe seeds per codelength: the first `seeds` of `0..probe.seeds`.
    pub seeds: usize,
    /// Also the MLP the probe stage chose (the linear probe always).
    pub mlp: bool,
    /// Also the control task's codelength (word units; independent of `probe.control`).
    pub control: bool,
}

impl Default for Mdl {
    fn default() -> Self {
        Mdl {
            enabled: true,
            seeds: 1,
            mlp: false,
            control: false,
        }
    }
}

/// `[examples]`: every sampled test unit's DirectProbe-predicted label before and after
/// fine-tuning at every layer (`compare/examples.csv`), and for the memorisation experiment the
/// same on subtrain, subtest and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Examples {
    /// Run the per-example stage (needs DirectProbe).
    pub enabled: bool,
    /// Units predicted per split (seeded sample; 0 = all).
    pub units: usize,
    /// Examples of each kind of change shown in the report.
    pub sample: usize,
}

impl Default for Examples {
    fn default() -> Self {
        Examples {
            enabled: true,
            units: 2000,
            sample: 4,
        }
    }
}

/// One `[[cross_task]]` entry: a second task Y probed with the encoder fine-tuned on the study's
/// task X (and, with `finetune`, an encoder fine-tuned on Y probed on both tasks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrossTask {
    /// Short name (directory `cross/<name>/` and the table's row label).
    pub name: String,
    /// Also fine-tune the pre-trained encoder on Y (rows Y → Y and Y → X).
    #[serde(default = "yes")]
    pub finetune: bool,
    /// The task Y, as a `[data]` section.
    pub data: Data,
}

/// `[[arms]]`: one more fine-tuning of the study's encoder on its task, with `[finetune]`
/// settings overridden (e.g. `method = "lora"`), analysed like the study's own fine-tuning.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    /// Short name (directory `arms/<name>/`, stage ids `arm-<name>/…`, the report's label).
    pub name: String,
    /// `[finetune]` keys that differ from the study's (`seeds` excepted).
    #[serde(default)]
    pub finetune: toml::Table,
}

fn yes() -> bool {
    true
}

impl Config {
    /// Reads `path`, applies `overrides` (`section.key=value`), fills defaults that depend on
    /// the file (study name, output directory) and validates everything.
    pub fn load(path: &Path, overrides: &[String]) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let stem = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::from_toml(&text, &stem, overrides)
            .with_context(|| format!("config {}", path.display()))
    }

    /// Parses config `text`; `stem` is the default study name.
    pub fn from_toml(text: &str, stem: &str, overrides: &[String]) -> anyhow::Result<Config> {
        let mut config: Config = if overrides.is_empty() {
            toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?
        } else {
            let mut table: toml::Table =
                toml::from_str(text).map_err(|e| anyhow::anyhow!("{e}"))?;
            for o in overrides {
                apply_override(&mut table, o)?;
            }
            toml::Value::Table(table)
                .try_into()
                .map_err(|e| anyhow::anyhow!("{e} (after --set overrides)"))?
        };
        if config.study.name.is_empty() {
            config.study.name = stem.to_string();
        }
        if config.study.out.as_os_str().is_empty() {
            config.study.out = Path::new("runs").join(&config.study.name);
        }
        config.validate()?;
        Ok(config)
    }

    /// The study's run directory (`study.out`).
    pub fn run_dir(&self) -> RunDir {
        RunDir::new(&self.study.out)
    }

    /// The data settings for [`tunescope_data::load`].
    pub fn load_spec(&self) -> anyhow::Result<LoadSpec> {
        self.data.load_spec(self.study.seed)
    }

    /// The configuration of a cross-task entry's sub-run: the entry's data in
    /// `<out>/cross/<name>`, the study's encoder and hyper-parameters, pooling by unit kind, no
    /// checkpoints and no nested experiments.
    pub fn cross_config(&self, entry: &CrossTask) -> Config {
        let mut c = self.clone();
        c.study.name = format!("{}-cross-{}", self.study.name, entry.name);
        c.study.out = self.run_dir().cross(&entry.name).root().to_path_buf();
        c.study.cache = None;
        c.data = entry.data.clone();
        c.model.pooling = None;
        c.finetune.checkpoint_every = 0;
        c.cross_task.clear();
        c
    }

    /// The configuration of fine-tuning replicate `r ≥ 1`: fine-tuning seed `seed + r` in
    /// `<out>/seeds/seed-<seed + r>`, no cross-task entries.
    pub fn replicate_config(&self, r: usize) -> Config {
        let mut c = self.clone();
        let seed = self.finetune.seed.unwrap_or(self.study.seed) + r as u64;
        c.study.out = self.run_dir().replicate(seed).root().to_path_buf();
        c.study.cache = None;
        c.finetune.seed = Some(seed);
        c.finetune.seeds = 1;
        c.cross_task.clear();
        c
    }

    /// The configuration of arm `arm`: the study's, with the arm's `[finetune]` overrides, one
    /// seed, no cross-task entries or arms, in `<out>/arms/<name>/`.
    pub fn arm_config(&self, arm: &Arm) -> anyhow::Result<Config> {
        let what = || format!("[[arms]] {:?}", arm.name);
        if arm.finetune.contains_key("seeds") {
            bail!("{}: finetune.seeds cannot be set per arm", what());
        }
        let mut table = toml::Table::try_from(&self.finetune).context("serialising [finetune]")?;
        table.extend(arm.finetune.clone());
        let mut c = self.clone();
        c.finetune = toml::Value::Table(table)
            .try_into()
            .map_err(|e| anyhow::anyhow!("{}: finetune: {e}", what()))?;
        c.finetune.seeds = 1;
        c.study.out = self.run_dir().arm(&arm.name).root().to_path_buf();
        c.study.cache = None;
        c.cross_task.clear();
        c.arms.clear();
        Ok(c)
    }

    /// The hidden-state index the experiments analyse: `wanted`, else the last of `layers`.
    pub fn experiment_layer(&self, wanted: Option<usize>, layers: &[usize]) -> usize {
        wanted.unwrap_or_else(|| layers.last().copied().unwrap_or(0))
    }

    /// Why fine-tuning will not see every training unit's sentence, which the memorisation
    /// experiment's premise ("subtest was seen by fine-tuning") needs; `None` when it will.
    /// One line per setting that breaks the premise.
    pub fn finetuning_misses_training_units(&self) -> Option<String> {
        let f = &self.finetune;
        [
            (f.train_subset > 0).then(|| {
                format!(
                    "finetune.train_subset = {} fine-tunes on a sample of the training sentences",
                    f.train_subset
                )
            }),
            f.freeze_encoder
                .then(|| "finetune.freeze_encoder = true leaves the encoder frozen".to_string()),
        ]
        .into_iter()
        .flatten()
        .next()
    }

    /// Checks value ranges and cross-field consistency.
    pub fn validate(&self) -> anyhow::Result<()> {
        let s = &self.study;
        if !plain_name(&s.name) {
            bail!(
                "[study] name must be a plain name (letters, digits, `-`, `_`, `.`; not `.` or `..`), found {:?}",
                s.name
            );
        }
        if let Some(pair) = &s.paper {
            tunescope_compare::paper::check_pair(pair)
                .map_err(|e| anyhow::anyhow!("[study] paper: {e}"))?;
        }
        self.load_spec()?;
        let m = &self.model;
        let kind = self.data.task.unit_kind();
        match (m.pooling_for(kind), kind) {
            (Pooling::Cls, k) if k != UnitKind::Sentence => bail!(
                "[model] pooling `cls` is for sentence tasks; `{}` has {} units (use first, last or mean)",
                self.data.task.name(),
                k.name()
            ),
            (Pooling::First | Pooling::Last, UnitKind::Sentence) => {
                bail!("[model] pooling for sentence tasks is `cls` or `mean`")
            }
            _ => {}
        }
        if let Layers::List(l) = &m.layers {
            if l.is_empty() || l.windows(2).any(|w| w[0] >= w[1]) {
                bail!("[model] layers must be \"all\" or a non-empty ascending list without repeats, found {l:?}");
            }
        }
        if !(3..=512).contains(&m.max_subwords) {
            bail!(
                "[model] max_subwords must be in 3..=512, found {}",
                m.max_subwords
            );
        }
        positive("[model] batch_size", m.batch_size)?;
        let f = &self.finetune;
        if !(f.lr > 0.0 && f.lr.is_finite()) {
            bail!("[finetune] lr must be positive, found {}", f.lr);
        }
        unit_interval("[finetune] weight_decay", f.weight_decay)?;
        unit_interval("[finetune] warmup_ratio", f.warmup_ratio)?;
        if !(0.0..1.0).contains(&f.dropout) {
            bail!("[finetune] dropout must be in [0, 1), found {}", f.dropout);
        }
        if !(f.grad_clip >= 0.0 && f.grad_clip.is_finite()) {
            bail!(
                "[finetune] grad_clip must be ≥ 0 (0 = off), found {}",
                f.grad_clip
            );
        }
        positive("[finetune] batch_size", f.batch_size)?;
        positive("[finetune] epochs", f.epochs)?;
        positive("[finetune] grad_accum", f.grad_accum)?;
        positive("[finetune] log_every", f.log_every)?;
        positive("[finetune] seeds", f.seeds)?;
        let mut names = std::collections::BTreeSet::new();
        for arm in &self.arms {
            if !plain_name(&arm.name) || !names.insert(arm.name.as_str()) {
                bail!(
                    "[[arms]] names must be plain (letters, digits, `-`, `_`, `.`) and unique, found {:?}",
                    arm.name
                );
            }
            self.arm_config(arm)?
                .validate()
                .with_context(|| format!("[[arms]] {:?}", arm.name))?;
        }
        f.with_method(FinetuneConfig::default())
            .validate()
            .context("[finetune]")?;
        let p = &self.probe;
        if p.grid.is_empty() || p.grid.contains(&0) {
            bail!(
                "[probe] grid must list positive hidden sizes, found {:?}",
                p.grid
            );
        }
        if p.l2.is_empty() || p.l2.iter().any(|a| !(a.is_finite() && *a >= 0.0)) {
            bail!(
                "[probe] l2 must list L2 weights ≥ 0 (e.g. [1e-4] or the paper's [1e-7, 1e-6, …, 1]), found {:?}",
                p.l2
            );
        }
        positive("[probe] seeds", p.seeds)?;
        positive("[probe] epochs", p.epochs)?;
        positive("[probe] batch_size", p.batch_size)?;
        if !(p.lr > 0.0 && p.lr.is_finite()) {
            bail!("[probe] lr must be positive, found {}", p.lr);
        }
        let m = &self.memorisation;
        if !(m.subtrain > 0.0 && m.subtrain < 1.0) {
            bail!(
                "[memorisation] subtrain must be in (0, 1), found {}",
                m.subtrain
            );
        }
        positive("[memorisation] epochs", m.epochs)?;
        if m.hidden
            .as_ref()
            .is_some_and(|h| h.len() > 2 || h.contains(&0))
        {
            bail!(
                "[memorisation] hidden must list at most 2 positive sizes, found {:?}",
                m.hidden
            );
        }
        let mut names = std::collections::BTreeSet::new();
        for (i, c) in self.cross_task.iter().enumerate() {
            if !plain_name(&c.name) {
                bail!(
                    "[[cross_task]] #{}: name must be a plain name (letters, digits, `-`, `_`, `.`; not `.` or `..`), found {:?}",
                    i + 1,
                    c.name
                );
            }
            if !names.insert(c.name.as_str()) {
                bail!("[[cross_task]] name {:?} is used twice", c.name);
            }
            c.data
                .load_spec(self.study.seed)
                .with_context(|| format!("[[cross_task]] {:?} data", c.name))?;
        }
        let sim = &self.similarity;
        if sim.units != 0 && sim.units <= sim.k.max(3) {
            bail!(
                "[similarity] units must be 0 (all) or more than k = {} and 3, found {}",
                sim.k,
                sim.units
            );
        }
        positive("[similarity] k", sim.k)?;
        if self.mdl.enabled && self.probe.enabled {
            positive("[mdl] seeds", self.mdl.seeds)?;
            if self.mdl.seeds > self.probe.seeds {
                bail!(
                    "[mdl] seeds ({}) must be at most probe.seeds ({})",
                    self.mdl.seeds,
                    self.probe.seeds
                );
            }
        }
        if self.compare.rsa_sample < 3 {
            bail!(
                "[compare] rsa_sample must be at least 3, found {}",
                self.compare.rsa_sample
            );
        }
        Ok(())
    }
}

fn positive(what: &str, v: usize) -> anyhow::Result<()> {
    if v == 0 {
        bail!("{what} must be at least 1");
    }
    Ok(())
}

fn unit_interval(what: &str, v: f64) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&v) {
        bail!("{what} must be in [0, 1], found {v}");
    }
    Ok(())
}

/// Applies one `section.key=value` override to the raw TOML table.
fn apply_override(table: &mut toml::Table, o: &str) -> anyhow::Result<()> {
    let (key, raw) = o
        .split_once('=')
        .with_context(|| format!("--set `{o}`: expected `section.key=value`"))?;
    let parts: Vec<&str> = key.trim().split('.').collect();
    let (last, sections) = match parts.split_last() {
        Some((last, sections)) if !sections.is_empty() && parts.iter().all(|p| !p.is_empty()) => {
            (last, sections)
        }
        _ => bail!("--set `{o}`: expected `section.key=value` (e.g. `data.max_sentences=100`)"),
    };
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    let mut here = table;
    for (i, section) in sections.iter().enumerate() {
        let entry = here
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        here = match entry {
            toml::Value::Table(t) => t,
            _ => bail!("--set `{o}`: `{}` is not a section", parts[..=i].join(".")),
        };
    }
    here.insert(last.to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[data]\nformat = \"brown\"\ntask = \"brown-pos\"\npath = \"assets/brown\"\n";

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    #[test]
    fn names_that_leave_the_run_directory_are_refused() {
        for name in ["..", ".", "a/b", ""] {
            let text = format!(
                "{MINIMAL}[[cross_task]]\nname = {name:?}\n[cross_task.data]\nformat = \"brown\"\n\
                 task = \"brown-genre\"\npath = \"assets/brown\"\n"
            );
            let e = Config::from_toml(&text, "s", &[]).unwrap_err();
            assert!(format!("{e:#}").contains("plain name"), "{name:?}: {e:#}");
        }
        assert!(plain_name("genre") && plain_name("v1.2") && !plain_name(".."));
    }

    #[test]
    fn defaults_fill_in() {
        let c = Config::from_toml(MINIMAL, "my-study", &[]).unwrap();
        assert_eq!(c.study.name, "my-study");
        assert_eq!(c.study.out, Path::new("runs/my-study"));
        assert_eq!(c.study.seed, 42);
        assert_eq!(c.model.max_subwords, 128);
        for kind in [UnitKind::Token, UnitKind::Pair, UnitKind::Span] {
            assert_eq!(c.model.pooling_for(kind), Pooling::Mean, "{kind:?}");
        }
        let first = Config::from_toml(MINIMAL, "s", &["model.pooling=first".into()]).unwrap();
        assert_eq!(first.model.pooling_for(UnitKind::Token), Pooling::First);
        assert_eq!(c.model.pooling_for(UnitKind::Sentence), Pooling::Cls);
        assert_eq!(c.finetune.lr, 5e-5);
        assert_eq!(c.finetune.warmup_ratio, 0.1);
        assert_eq!(c.probe.grid, [32, 64, 128, 256]);
        assert_eq!(c.probe.l2, [1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0]);
        assert_eq!(c.directprobe.min_cluster_size, 5);
        assert_eq!((c.data.train_fraction, c.data.dev_fraction), (0.8, 0.1));
        assert_eq!(c.compare.undefined_pairs, UndefinedPairs::Zero);
        let drop = Config::from_toml(MINIMAL, "s", &["compare.undefined_pairs=drop".into()]);
        assert_eq!(drop.unwrap().compare.undefined_pairs, UndefinedPairs::Drop);
    }

    #[test]
    fn unknown_keys_are_rejected_with_the_valid_ones() {
        let e = Config::from_toml(&format!("{MINIMAL}max_sentence = 3\n"), "s", &[]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("unknown field `max_sentence`"), "{msg}");
        assert!(msg.contains("`max_sentences`"), "{msg}");
        assert!(msg.contains("line 5"), "{msg}");
        let e =
            Config::from_toml(MINIMAL, "s", &["finetune.learning_rate=1e-4".into()]).unwrap_err();
        let msg = format!("{e:#}");
        assert!(msg.contains("unknown field `learning_rate`"), "{msg}");
        assert!(msg.contains("`lr`"), "{msg}");
        let e = Config::from_toml(&format!("{MINIMAL}[modle]\n"), "s", &[]).unwrap_err();
        assert!(format!("{e:#}").contains("unknown field `modle`"), "{e:#}");
    }

    #[test]
    fn overrides_parse_as_toml_then_string() {
        let sets: Vec<String> = [
            "data.max_sentences=100",
            "model.layers=[0, 6]",
            "model.device=cuda:1",
            "study.name=quick",
            "finetune.lr=2e-5",
            "probe.control=true",
        ]
        .map(String::from)
        .to_vec();
        let c = Config::from_toml(MINIMAL, "s", &sets).unwrap();
        assert_eq!(c.data.max_sentences, Some(100));
        assert_eq!(c.model.layers, Layers::List(vec![0, 6]));
        assert_eq!(c.model.device, Device::Cuda(1));
        assert_eq!(c.study.out, Path::new("runs/quick"));
        assert_eq!(c.finetune.lr, 2e-5);
        assert!(c.probe.control);
        let e = Config::from_toml(MINIMAL, "s", &["data".into()]).unwrap_err();
        assert!(
            e.to_string().contains("expected `section.key=value`"),
            "{e}"
        );
        let e = Config::from_toml(MINIMAL, "s", &["data.path.x=1".into()]).unwrap_err();
        assert!(
            e.to_string().contains("`data.path` is not a section"),
            "{e}"
        );
    }

    #[test]
    fn invalid_values_are_explained() {
        for (set, needle) in [
            ("model.pooling=cls", "pooling `cls` is for sentence tasks"),
            ("model.layers=[6, 2]", "ascending"),
            (
                "model.layers=\"some\"",
                "\"all\" or a list of layer numbers",
            ),
            ("model.device=gpu", "invalid device `gpu`"),
            (
                "data.task=dep",
                "task `dep` cannot be read from format `brown`",
            ),
            ("data.task=ud", "unknown variant `ud`"),
            ("data.dev_fraction=0.5", "sum to 1"),
            ("finetune.dropout=1.0", "dropout must be in [0, 1)"),
            ("probe.grid=[]", "grid must list positive"),
            ("probe.l2=[]", "l2 must list L2 weights"),
            ("compare.undefined_pairs=zeros", "unknown variant `zeros`"),
            (
                "study.paper=bert-large/pos",
                "not one of the paper's model × task pairs",
            ),
            ("probe.l2=[-1.0]", "l2 must list L2 weights"),
            ("data.train=x.conllu", "both `path` and `train`"),
            ("study.name=\"..\"", "plain name"),
            ("study.name=\".\"", "plain name"),
        ] {
            let e = Config::from_toml(MINIMAL, "s", &[set.to_string()]).unwrap_err();
            let msg = format!("{e:#}");
            assert!(msg.contains(needle), "{set}: {msg}");
        }
    }

    #[test]
    fn every_example_config_loads_and_validates() {
        let dir = repo_root().join("examples");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let c = Config::load(&path, &[]).unwrap_or_else(|e| panic!("{e:#}"));
                assert_eq!(c.study.name, path.file_stem().unwrap().to_string_lossy());
                names.push(c.study.name);
            }
        }
        for expected in [
            "brown-genre",
            "brown-pos",
            "paper-pud-dep",
            "paper-pud-pos",
            "streusle-ps-fxn",
            "streusle-ps-role",
            "trec50",
            "ud-ewt-dep",
            "ud-ewt-pos",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "missing example {expected}"
            );
        }
    }
}
