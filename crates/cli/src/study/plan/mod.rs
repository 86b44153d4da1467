//! The stage graph of a study and each stage's key: which stages exist for a config, what each
//! reads, and whether it must run.
//!
//! A stage's key is the SHA-256 of its settings (the `Settings` struct of its module in
//! [`super::stages`], the only thing its body receives besides typed locations), the keys of
//! the stages it reads from, and the content hashes of its external inputs (data files, the
//! pre-trained encoder).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::hash::{hash_json, HashCache};
use super::manifest::{Manifest, Status};
use super::stages::{
    compare, cross, data, directprobe, dynamics, examples, extract, finetune, mdl, memorisation,
    probe, report, seeds, similarity, weights,
};
use crate::config::{Config, Layers};
use tunescope_data::rundir::{ModelRef, RunDir, PRETRAINED};

mod branch;
mod experiments;
mod inputs;
mod replicates;

use branch::{analyses, branch, seeds_stage};
use experiments::{cross_tasks, experiments};
use inputs::data_hashes;
pub use inputs::{resolve_layers, seeds};
pub use replicates::{arms, replicates, Replicate};

/// Bumped when a stage's code changes what it writes, so old results are not reused.
const STAGE_VERSION: u32 = 2;

/// What a stage does, with its settings.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Read the corpus into `data/`.
    Data(data::Settings),
    /// Fine-tune the encoder.
    Finetune(finetune::Settings),
    /// Extract every configured layer's unit vectors of every split.
    Extract(ModelRef, extract::Settings),
    /// Classifier probes on one layer.
    Probe(ModelRef, probe::Settings),
    /// DirectProbe on one split of one layer.
    DirectProbe(ModelRef, directprobe::Settings),
    /// MDL (online codelength) probes on one layer.
    Mdl(ModelRef, mdl::Settings),
    /// Calibrated similarity of the pre-trained and fine-tuned vectors at one layer.
    Similarity(similarity::Settings),
    /// Before/after comparisons.
    Compare(compare::Settings),
    /// The per-example view (DirectProbe prediction flips).
    Examples(examples::Settings),
    /// Pre-trained clusters re-measured over the fine-tuning checkpoints.
    Dynamics(dynamics::Settings),
    /// Subtrain/subtest probe curves before and after fine-tuning.
    Memorisation(memorisation::Settings),
    /// The weight-space view of the fine-tuning (updates, effective ranks, intruders).
    Weights(weights::Settings),
    /// Reads a cross-task entry's data into `cross/<name>/data/`.
    CrossData(String, data::Settings),
    /// Fine-tunes the pre-trained encoder on a cross-task entry's task.
    CrossFinetune(String, finetune::Settings),
    /// The cross-task table of one entry.
    CrossTask(String, cross::Settings),
    /// Means, confidence intervals and permutation tests over the fine-tuning seeds.
    Seeds(seeds::Settings),
    /// The HTML report.
    Report(Box<report::Settings>),
}

impl Kind {
    /// The stage's settings as JSON (what its key hashes).
    pub fn settings(&self) -> Value {
        let v = match self {
            Kind::Data(s) | Kind::CrossData(_, s) => serde_json::to_value(s),
            Kind::Finetune(s) | Kind::CrossFinetune(_, s) => serde_json::to_value(s),
            Kind::Extract(_, s) => serde_json::to_value(s),
            Kind::Probe(_, s) => serde_json::to_value(s),
            Kind::DirectProbe(_, s) => serde_json::to_value(s),
            Kind::Mdl(_, s) => serde_json::to_value(s),
            Kind::Similarity(s) => serde_json::to_value(s),
            Kind::Compare(s) => serde_json::to_value(s),
            Kind::Examples(s) => serde_json::to_value(s),
            Kind::Dynamics(s) => serde_json::to_value(s),
            Kind::Memorisation(s) => serde_json::to_value(s),
            Kind::Weights(s) => serde_json::to_value(s),
            Kind::CrossTask(_, s) => serde_json::to_value(s),
            Kind::Seeds(s) => serde_json::to_value(s),
            Kind::Report(s) => serde_json::to_value(s),
        };
        v.expect("stage settings serialise to JSON")
    }
}

/// Whether a stage runs, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Up to date.
    Skip(String),
    /// Must run.
    Run(String),
    /// Known only after an upstream stage has run (checkpoint models).
    Later(String),
}

/// One stage of the plan.
#[derive(Debug, Clone)]
pub struct Planned {
    /// Stable id, e.g. `probe/finetuned/layer-6`.
    pub id: String,
    /// What it does, with its settings.
    pub kind: Kind,
    /// What the key hashes: `settings`, `upstream` (stage id → key), `external` (content
    /// hashes) and `stage_version`.
    pub inputs: Value,
    /// Hash of the inputs.
    pub key: String,
    /// Outputs, relative to the study's run directory.
    pub outputs: Vec<String>,
    /// Run, skip or later.
    pub action: Action,
    /// The pre-trained encoder directory.
    pub pretrained: PathBuf,
    /// The run directory the stage works in: the study's, a replicate's (`seeds/seed-<s>/`) or a
    /// cross-task entry's (`cross/<name>/`).
    pub dir: PathBuf,
    /// Whether the stage belongs to another fine-tuning replicate (which links the study's
    /// pre-trained results into its directory).
    pub replicate: bool,
}

impl Planned {
    /// The keys of the stages it reads from, by id.
    pub fn upstream_keys(&self) -> Vec<(String, String)> {
        self.inputs
            .get("upstream")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// One stage to add: identity, what it reads, where it writes.
struct Stage {
    id: String,
    kind: Kind,
    /// Ids of the stages it reads from (planned before it).
    upstream: Vec<String>,
    /// Content hashes of external inputs.
    external: BTreeMap<String, String>,
    outputs: Vec<String>,
}

impl Stage {
    fn new(id: impl Into<String>, kind: Kind, upstream: Vec<String>, outputs: Vec<String>) -> Self {
        Stage {
            id: id.into(),
            kind,
            upstream,
            external: BTreeMap::new(),
            outputs,
        }
    }

    fn external(mut self, name: &str, hash: &str) -> Self {
        self.external.insert(name.to_string(), hash.to_string());
        self
    }
}

/// The key of a stage: the hash of its id and inputs.
pub fn key_of(id: &str, inputs: &Value) -> String {
    hash_json(&json!({"stage": id, "inputs": inputs}))
}

struct Builder<'a> {
    out: &'a Path,
    manifest: Option<&'a Manifest>,
    pretrained: PathBuf,
    layers: Vec<usize>,
    plan: Vec<Planned>,
}

impl Builder<'_> {
    /// Adds a stage working in `rep`'s run directory; returns its key.
    fn add_in(&mut self, s: Stage, rep: &Replicate) -> String {
        self.add_at(s, rep.dir.clone(), rep.tag.is_some())
    }

    /// Adds a stage working in the study's run directory; returns its key.
    fn add(&mut self, s: Stage) -> String {
        self.add_at(s, self.out.to_path_buf(), false)
    }

    fn add_at(&mut self, s: Stage, dir: PathBuf, replicate: bool) -> String {
        let upstream: serde_json::Map<String, Value> = s
            .upstream
            .iter()
            .map(|id| (id.clone(), json!(self.key_of(id))))
            .collect();
        let mut inputs = json!({
            "settings": s.kind.settings(),
            "upstream": upstream,
            "stage_version": STAGE_VERSION,
        });
        if !s.external.is_empty() {
            inputs["external"] = json!(s.external);
        }
        let key = key_of(&s.id, &inputs);
        let upstream_runs = s.upstream.iter().any(|u| {
            self.plan
                .iter()
                .any(|p| &p.id == u && !matches!(p.action, Action::Skip(_)))
        });
        let action = self.decide(&s.id, &key, &inputs, &s.outputs, upstream_runs);
        self.plan.push(Planned {
            id: s.id,
            kind: s.kind,
            inputs,
            key: key.clone(),
            outputs: s.outputs,
            action,
            pretrained: self.pretrained.clone(),
            dir,
            replicate,
        });
        key
    }

    /// Adds a stage known only after fine-tuning has run.
    fn later(&mut self, id: String, kind: Kind, why: String, rep: &Replicate) {
        self.plan.push(Planned {
            id,
            kind,
            inputs: Value::Null,
            key: String::new(),
            outputs: Vec::new(),
            action: Action::Later(why),
            pretrained: self.pretrained.clone(),
            dir: rep.dir.clone(),
            replicate: rep.tag.is_some(),
        });
    }

    fn decide(
        &self,
        id: &str,
        key: &str,
        inputs: &Value,
        outputs: &[String],
        upstream_runs: bool,
    ) -> Action {
        let Some(rec) = self.manifest.and_then(|m| m.stages.get(id)) else {
            return Action::Run("never run".into());
        };
        if rec.key != key {
            let changed = changed_inputs(&rec.inputs, inputs);
            return Action::Run(match changed.len() {
                0 => "stage code changed".into(),
                n if n > 6 => format!(
                    "inputs changed: {} and {} more",
                    changed[..5].join(", "),
                    n - 5
                ),
                _ => format!("inputs changed: {}", changed.join(", ")),
            });
        }
        if rec.status != Status::Done {
            return Action::Run(if rec.status == Status::Failed {
                "failed last time: retrying".into()
            } else {
                "interrupted before it finished: resuming".into()
            });
        }
        if upstream_runs {
            return Action::Run("an upstream stage re-runs".into());
        }
        let missing: Vec<&str> = outputs
            .iter()
            .filter(|o| !self.out.join(o).exists())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Action::Run(format!("outputs missing: {}", missing.join(", ")));
        }
        Action::Skip(format!(
            "unchanged (key {}), done in {:.1} s",
            &key[..12],
            rec.seconds
        ))
    }

    fn key_of(&self, id: &str) -> String {
        self.plan
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.key.clone())
            .expect("upstream stage planned first")
    }

    fn action_of(&self, id: &str) -> Action {
        self.plan
            .iter()
            .find(|p| p.id == id)
            .map(|p| p.action.clone())
            .expect("upstream stage planned first")
    }

    fn has(&self, id: &str) -> bool {
        self.plan.iter().any(|p| p.id == id && !p.key.is_empty())
    }
}

/// Dotted paths of the inputs that differ between an old and a new input object.
pub fn changed_inputs(old: &Value, new: &Value) -> Vec<String> {
    fn walk(prefix: &str, old: &Value, new: &Value, out: &mut Vec<String>) {
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    match (a.get(k), b.get(k)) {
                        (Some(x), Some(y)) => walk(&p, x, y, out),
                        _ => out.push(p),
                    }
                }
            }
            (a, b) if a != b => out.push(prefix.to_string()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk("", old, new, &mut out);
    out
}

/// Builds the plan for `config` given the manifest of the run directory (if any).
pub fn build(
    config: &Config,
    manifest: Option<&Manifest>,
    cache: &mut HashCache,
) -> Result<Vec<Planned>> {
    let pretrained = tunescope_model::encoder::resolve(&config.model.path)
        .with_context(|| format!("[model] path {}", config.model.path))?;
    let layers = resolve_layers(config, &pretrained)?;
    let mut b = Builder {
        out: &config.study.out,
        manifest,
        pretrained: pretrained.clone(),
        layers: layers.clone(),
        plan: Vec::new(),
    };

    let mut data = Stage::new(
        "data",
        Kind::Data(data::settings(config)),
        vec![],
        vec![output(RunDir::relative().data())],
    );
    data.external = data_hashes(config, cache, "[data]")?;
    b.add(data);
    let model_hash = cache
        .path(&pretrained)
        .with_context(|| format!("hashing the encoder {}", pretrained.display()))?;

    // the pre-trained encoder's representations and their analyses (shared by all replicates)
    let kind = config.data.task.unit_kind();
    b.add(
        Stage::new(
            "extract/pretrained",
            Kind::Extract(
                ModelRef::Pretrained,
                extract::settings(config, kind, &layers, true),
            ),
            vec!["data".into()],
            vec![output(RunDir::relative().reps(PRETRAINED))],
        )
        .external("model", &model_hash),
    );
    let reps = replicates(config, None);
    let pretrained_ids = analyses(&mut b, &reps[0], &ModelRef::Pretrained);

    let mut report_after = Vec::new();
    for rep in &reps {
        report_after.extend(branch(&mut b, rep, &model_hash, &pretrained_ids)?);
    }
    let arms = arms(config)?;
    for rep in arms.iter().flatten() {
        report_after.extend(branch(&mut b, rep, &model_hash, &pretrained_ids)?);
    }
    if config.directprobe.enabled {
        for group in std::iter::once(&reps).chain(&arms) {
            report_after.extend(seeds_stage(&mut b, group));
        }
    }
    if config.directprobe.enabled {
        report_after.extend(cross_tasks(&mut b, config, cache, &model_hash)?);
        // The report lists every stage's key, so it reads them all.
        let all: Vec<String> = b
            .plan
            .iter()
            .filter(|p| !p.key.is_empty())
            .map(|p| p.id.clone())
            .collect();
        debug_assert!(report_after.iter().all(|id| all.contains(id)));
        b.add(Stage::new(
            "report",
            Kind::Report(Box::new(report::settings(config))),
            all,
            vec![output(RunDir::relative().report_index())],
        ));
    }
    Ok(b.plan)
}

/// A stage output as the manifest records it: its path relative to the study's run directory.
fn output(rel: PathBuf) -> String {
    rel.to_string_lossy().into_owned()
}

/// What fine-tuning writes into the run directory `rel` (relative to the study's).
fn finetune_outputs(rel: &RunDir) -> Vec<String> {
    [rel.finetuned(), rel.finetune_outcome(), rel.train_log()]
        .into_iter()
        .map(output)
        .collect()
}

/// Order of stage types in summaries.
pub fn stage_rank(kind: &str) -> usize {
    [
        "data",
        "finetune",
        "extract",
        "probe",
        "mdl",
        "directprobe",
        "similarity",
        "compare",
        "examples",
        "dynamics",
        "memorisation",
        "weights",
        "cross",
        "seed-*",
        "arm-*",
        "seeds",
        "report",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(usize::MAX)
}
