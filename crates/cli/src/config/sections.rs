//! The sections of a study configuration (`[study]`, `[data]`, `[model]`, …), their defaults
//! and the checks of one section alone.

use anyhow::{bail, Context};
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use std::fmt;
use std::path::PathBuf;
use tunescope_compare::analysis::UndefinedPairs;
use tunescope_data::{Files, Format, LoadSpec, TaskKind, UnitKind};
use tunescope_model::finetune::{FinetuneConfig, Method};

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
    /// Also the measures of `docs/measures.md` at every snapshot: linear and debiased CKA,
    /// mutual k-NN (`similarity.k`), the angular Procrustes distance and RSA
    /// (`compare.rsa_sample`) with the pre-trained space (with permutation nulls) and the
    /// geometry descriptors.
    pub measures: bool,
    /// Train units those measures use (a seeded sample, the same at every layer and snapshot;
    /// 4 to 5,000: the CKA null holds two `n × n` Gram matrices).
    pub measures_units: usize,
    /// Row permutations of the nulls of CKA, mutual k-NN and RSA (0: values only).
    pub measures_permutations: usize,
    /// Permutations of the Procrustes null: the first of the same permutations (at most
    /// `measures_permutations`). Each costs a `d × d` product and eigenvalues (about 9 ms at
    /// 500 units of 384 dimensions) where the other nulls cost a gather.
    pub measures_procrustes_permutations: usize,
}

impl Default for Dynamics {
    fn default() -> Self {
        Dynamics {
            enabled: true,
            path_labels: Vec::new(),
            measures: true,
            measures_units: 500,
            measures_permutations: 100,
            measures_procrustes_permutations: 10,
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

/// `[examples]`: every test unit's DirectProbe-predicted label before and after
/// fine-tuning at every layer (`compare/examples.csv`), and for the memorisation experiment the
/// same on subtrain, subtest and test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Examples {
    /// Run the per-example stage (needs DirectProbe).
    pub enabled: bool,
    /// Units predicted per split (0 = all, the default; otherwise a seeded sample).
    pub units: usize,
    /// Examples of each kind of change shown in the report.
    pub sample: usize,
}

impl Default for Examples {
    fn default() -> Self {
        Examples {
            enabled: true,
            units: 0,
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
