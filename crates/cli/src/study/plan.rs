//! The stage graph of a study and each stage's key: which stages exist for a config, what each
//! reads, and whether it must run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use super::hash::{hash_json, HashCache};
use super::manifest::{Manifest, Status};
use crate::config::{Config, Layers};

/// Bumped when a stage's code changes what it writes, so old results are not reused.
const STAGE_VERSION: u32 = 1;

/// The splits DirectProbe clusters (train for Table A, test for the train/test similarity).
pub const DIRECTPROBE_SPLITS: [&str; 2] = ["train", "test"];

/// A representation source: the pre-trained encoder, the fine-tuned one, or a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// `model.path`.
    Pretrained,
    /// `models/finetuned/`.
    Finetuned,
    /// `models/ckpt-<update>/`.
    Checkpoint(u64),
}

impl ModelRef {
    /// Directory name under `reps/`, `probe/`, `directprobe/`.
    pub fn name(&self) -> String {
        match self {
            ModelRef::Pretrained => "pretrained".into(),
            ModelRef::Finetuned => "finetuned".into(),
            ModelRef::Checkpoint(u) => format!("ckpt-{u}"),
        }
    }

    /// The encoder directory.
    pub fn dir(&self, config: &Config, pretrained: &Path) -> PathBuf {
        match self {
            ModelRef::Pretrained => pretrained.to_path_buf(),
            ModelRef::Finetuned => config.study.out.join("models/finetuned"),
            ModelRef::Checkpoint(u) => config.study.out.join(format!("models/ckpt-{u}")),
        }
    }
}

/// What a stage does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Read the corpus into `data/`.
    Data,
    /// Fine-tune the encoder.
    Finetune,
    /// Extract every configured layer's unit vectors of every split.
    Extract(ModelRef),
    /// Classifier probes on one layer.
    Probe(ModelRef, usize),
    /// DirectProbe on one split of one layer.
    DirectProbe(ModelRef, &'static str, usize),
    /// Before/after comparisons.
    Compare,
    /// Pre-trained clusters re-measured over the fine-tuning checkpoints.
    Dynamics,
    /// Subtrain/subtest probe curves before and after fine-tuning.
    Memorisation,
    /// Reads a cross-task entry's data into `cross/<name>/data/`.
    CrossData(String),
    /// Fine-tunes the pre-trained encoder on a cross-task entry's task.
    CrossFinetune(String),
    /// The cross-task table of one entry.
    CrossTask(String),
    /// The HTML report.
    Report,
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
    /// What it does.
    pub kind: Kind,
    /// Declared inputs (settings and upstream keys).
    pub inputs: Value,
    /// Hash of the inputs.
    pub key: String,
    /// Outputs, relative to the run directory.
    pub outputs: Vec<String>,
    /// Run, skip or later.
    pub action: Action,
    /// The pre-trained encoder directory.
    pub pretrained: PathBuf,
    /// Hidden-state indices analysed.
    pub layers: Vec<usize>,
}

/// Seeds in effect, for the manifest.
pub fn seeds(config: &Config) -> Value {
    json!({
        "study": config.study.seed,
        "data_split": config.study.seed,
        "finetune": config.finetune.seed.unwrap_or(config.study.seed),
        "probe": probe_seeds(config),
    })
}

/// Seeds of the classifier probes: `0..probe.seeds`.
pub fn probe_seeds(config: &Config) -> Vec<u64> {
    (0..config.probe.seeds as u64).collect()
}

/// Number of transformer layers of the encoder in `dir` (from its `config.json`).
fn num_layers(dir: &Path) -> Result<usize> {
    let p = dir.join("config.json");
    let v: Value = serde_json::from_slice(
        &std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
    )
    .with_context(|| format!("{} is not JSON", p.display()))?;
    v.get("num_hidden_layers")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .with_context(|| format!("{} lacks num_hidden_layers", p.display()))
}

/// The hidden-state indices the study analyses.
pub fn resolve_layers(config: &Config, pretrained: &Path) -> Result<Vec<usize>> {
    let n = num_layers(pretrained)?;
    match &config.model.layers {
        Layers::All => Ok((0..=n).collect()),
        Layers::List(l) => {
            if let Some(&bad) = l.iter().find(|&&k| k > n) {
                bail!("[model] layers lists {bad}, but the encoder has hidden states 0..={n}");
            }
            Ok(l.clone())
        }
    }
}

/// Checkpoints written by the fine-tuning stage, ascending by update.
pub fn checkpoints(out: &Path) -> Result<Vec<u64>> {
    let dir = out.join("models");
    let mut v = Vec::new();
    if dir.is_dir() {
        for e in
            std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
        {
            let name = e?.file_name().to_string_lossy().into_owned();
            if let Some(u) = name.strip_prefix("ckpt-").and_then(|u| u.parse().ok()) {
                v.push(u);
            }
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// The data files a config reads (absent optional files are left out).
fn data_files(config: &Config) -> Vec<PathBuf> {
    let d = &config.data;
    [&d.path, &d.train, &d.dev, &d.test]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

struct Builder<'a> {
    config: &'a Config,
    manifest: Option<&'a Manifest>,
    pretrained: PathBuf,
    layers: Vec<usize>,
    plan: Vec<Planned>,
}

impl Builder<'_> {
    /// Adds a stage; `upstream` are ids of stages whose keys are inputs.
    fn add(&mut self, id: String, kind: Kind, mut inputs: Value, outputs: Vec<String>) -> String {
        inputs["stage_version"] = json!(STAGE_VERSION);
        let key = hash_json(&json!({"stage": id, "inputs": inputs}));
        let upstream_runs = inputs
            .get("after")
            .and_then(Value::as_array)
            .is_some_and(|ids| {
                ids.iter().any(|u| {
                    self.plan.iter().any(|p| {
                        Some(p.id.as_str()) == u.as_str() && !matches!(p.action, Action::Skip(_))
                    })
                })
            });
        let action = self.decide(&id, &key, &inputs, &outputs, upstream_runs);
        self.plan.push(Planned {
            id,
            kind,
            inputs,
            key: key.clone(),
            outputs,
            action,
            pretrained: self.pretrained.clone(),
            layers: self.layers.clone(),
        });
        key
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
            return Action::Run(if changed.is_empty() {
                "stage code changed".into()
            } else {
                format!("inputs changed: {}", changed.join(", "))
            });
        }
        if rec.status != Status::Done {
            return Action::Run("interrupted before it finished: resuming".into());
        }
        if upstream_runs {
            return Action::Run("an upstream stage re-runs".into());
        }
        let out = &self.config.study.out;
        let missing: Vec<&str> = outputs
            .iter()
            .filter(|o| !out.join(o).exists())
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
        config,
        manifest,
        pretrained: pretrained.clone(),
        layers: layers.clone(),
        plan: Vec::new(),
    };
    let out = &config.study.out;

    // data
    let mut files = serde_json::Map::new();
    for f in data_files(config) {
        let h = cache
            .path(&f)
            .with_context(|| format!("[data] input {}", f.display()))?;
        files.insert(f.display().to_string(), json!(h));
    }
    let data_key = b.add(
        "data".into(),
        Kind::Data,
        json!({"data": config.data, "seed": config.study.seed, "files": files}),
        vec!["data".into()],
    );

    // fine-tuning
    let kind = config.data.task.unit_kind();
    let ft_settings = crate::cmd::finetune::settings(config, kind);
    let model_hash = cache
        .path(&pretrained)
        .with_context(|| format!("hashing the encoder {}", pretrained.display()))?;
    let ft_key = b.add(
        "finetune".into(),
        Kind::Finetune,
        json!({"data": data_key, "model": model_hash, "finetune": ft_settings, "after": ["data"]}),
        vec![
            "models/finetuned".into(),
            "finetune.json".into(),
            "train_log.jsonl".into(),
        ],
    );
    let finetune_done = matches!(b.action_of("finetune"), Action::Skip(_));

    // models whose representations are extracted
    let mut models = vec![ModelRef::Pretrained, ModelRef::Finetuned];
    let ckpts = checkpoints(out)?;
    if finetune_done {
        models.extend(ckpts.into_iter().map(ModelRef::Checkpoint));
    }
    let extract_settings = json!({
        "layers": layers,
        "pooling": config.model.pooling_for(kind),
        "max_subwords": config.model.max_subwords,
    });
    for m in &models {
        let (source, after) = match m {
            ModelRef::Pretrained => (json!(model_hash), vec!["data"]),
            _ => (
                json!({"finetune": ft_key, "model": m.name()}),
                vec!["data", "finetune"],
            ),
        };
        b.add(
            format!("extract/{}", m.name()),
            Kind::Extract(m.clone()),
            json!({"data": data_key, "model": source, "extract": extract_settings, "after": after}),
            vec![format!("reps/{}", m.name())],
        );
    }
    if !finetune_done && config.finetune.checkpoint_every > 0 {
        b.plan.push(Planned {
            id: "extract/ckpt-*".into(),
            kind: Kind::Extract(ModelRef::Checkpoint(0)),
            inputs: Value::Null,
            key: String::new(),
            outputs: Vec::new(),
            action: Action::Later(format!(
                "one per checkpoint (every {} updates), after fine-tuning",
                config.finetune.checkpoint_every
            )),
            pretrained: pretrained.clone(),
            layers: layers.clone(),
        });
    }

    // probes and DirectProbe on the pre-trained and the fine-tuned encoder
    let mut analysis_ids = Vec::new();
    for m in [ModelRef::Pretrained, ModelRef::Finetuned] {
        let ex = format!("extract/{}", m.name());
        let ex_key = b.key_of(&ex);
        for &layer in &layers {
            if config.probe.enabled {
                let id = format!("probe/{}/layer-{layer}", m.name());
                b.add(
                    id.clone(),
                    Kind::Probe(m.clone(), layer),
                    json!({"reps": ex_key, "layer": layer, "probe": config.probe, "seeds": probe_seeds(config), "after": [ex]}),
                    vec![format!("probe/{}/layer-{layer}.json", m.name())],
                );
                analysis_ids.push(id);
            }
            if config.directprobe.enabled {
                for split in DIRECTPROBE_SPLITS {
                    let id = format!("directprobe/{}/{split}/layer-{layer}", m.name());
                    b.add(
                        id.clone(),
                        Kind::DirectProbe(m.clone(), split, layer),
                        json!({
                            "reps": ex_key,
                            "layer": layer,
                            "split": split,
                            "min_cluster_size": config.directprobe.min_cluster_size,
                            "after": [ex],
                        }),
                        vec![format!("directprobe/{}/{split}/layer-{layer}", m.name())],
                    );
                    analysis_ids.push(id);
                }
            }
        }
    }
    // comparisons (they need DirectProbe) and the report
    if config.directprobe.enabled {
        let mut after = vec![
            "extract/pretrained".to_string(),
            "extract/finetuned".to_string(),
        ];
        after.extend(analysis_ids);
        let keys: serde_json::Map<String, Value> = after
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        let compare_key = b.add(
            "compare".into(),
            Kind::Compare,
            json!({
                "stages": keys,
                "compare": config.compare,
                "directprobe": super::stages::directprobe_settings(config),
                "probe": config.probe.enabled,
                "layers": layers,
                "after": after,
            }),
            vec!["compare".into()],
        );
        let mut report_after = vec!["compare".to_string()];
        report_after.extend(experiments(&mut b, cache, ft_key.as_str(), finetune_done)?);
        let all: serde_json::Map<String, Value> = b
            .plan
            .iter()
            .filter(|p| !p.key.is_empty())
            .map(|p| (p.id.clone(), json!(p.key)))
            .collect();
        b.add(
            "report".into(),
            Kind::Report,
            json!({"compare": compare_key, "stages": all, "config": config, "after": report_after}),
            vec!["report/index.html".into()],
        );
    }
    Ok(b.plan)
}

/// Plans the experiment stages (dynamics, memorisation, cross-task); returns their ids.
fn experiments(
    b: &mut Builder<'_>,
    cache: &mut HashCache,
    ft_key: &str,
    finetune_done: bool,
) -> Result<Vec<String>> {
    let config = b.config;
    let layers = b.layers.clone();
    let last = config.experiment_layer(None, &layers);
    let mut ids = Vec::new();
    let dp = super::stages::directprobe_settings(config);
    if config.dynamics.enabled && config.finetune.checkpoint_every > 0 {
        if finetune_done {
            let mut after = vec!["finetune".to_string(), "extract/finetuned".to_string()];
            after.extend(
                b.plan
                    .iter()
                    .filter(|p| matches!(p.kind, Kind::Extract(ModelRef::Checkpoint(_))))
                    .map(|p| p.id.clone()),
            );
            after.extend(
                layers
                    .iter()
                    .map(|k| format!("directprobe/pretrained/train/layer-{k}")),
            );
            let keys: serde_json::Map<String, Value> = after
                .iter()
                .map(|id| (id.clone(), json!(b.key_of(id))))
                .collect();
            b.add(
                "dynamics".into(),
                Kind::Dynamics,
                json!({"stages": keys, "dynamics": config.dynamics, "directprobe": dp, "layers": layers, "after": after}),
                vec!["experiments/dynamics".into()],
            );
            ids.push("dynamics".to_string());
        } else {
            b.plan.push(Planned {
                id: "dynamics".into(),
                kind: Kind::Dynamics,
                inputs: Value::Null,
                key: String::new(),
                outputs: Vec::new(),
                action: Action::Later("after fine-tuning, on its checkpoints".into()),
                pretrained: b.pretrained.clone(),
                layers: layers.clone(),
            });
        }
    }
    if config.memorisation.enabled {
        let layer = config.experiment_layer(config.memorisation.layer, &layers);
        if !layers.contains(&layer) {
            bail!("[memorisation] layer {layer} is not among the analysed layers {layers:?}");
        }
        let after = vec![
            "extract/pretrained".to_string(),
            "extract/finetuned".to_string(),
        ];
        let keys: serde_json::Map<String, Value> = after
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        b.add(
            "memorisation".into(),
            Kind::Memorisation,
            json!({
                "stages": keys,
                "memorisation": config.memorisation,
                "layer": layer,
                "probe": super::stages::probe_config(config),
                "seed": config.study.seed,
                "after": after,
            }),
            vec!["experiments/memorisation".into()],
        );
        ids.push("memorisation".to_string());
    }
    let model_hash = cache.path(&b.pretrained.clone())?;
    for entry in &config.cross_task {
        let sub = config.cross_config(entry);
        let base = format!("cross/{}", entry.name);
        let mut files = serde_json::Map::new();
        for f in data_files(&sub) {
            let h = cache.path(&f).with_context(|| {
                format!("[[cross_task]] {:?} input {}", entry.name, f.display())
            })?;
            files.insert(f.display().to_string(), json!(h));
        }
        let data_id = format!("{base}/data");
        let data_key = b.add(
            data_id.clone(),
            Kind::CrossData(entry.name.clone()),
            json!({"data": sub.data, "seed": config.study.seed, "files": files}),
            vec![format!("{base}/data")],
        );
        let mut after = vec![
            data_id,
            "finetune".to_string(),
            "extract/pretrained".to_string(),
            "extract/finetuned".to_string(),
            format!("directprobe/pretrained/train/layer-{last}"),
            format!("directprobe/finetuned/train/layer-{last}"),
        ];
        if config.probe.enabled {
            after.push(format!("probe/pretrained/layer-{last}"));
            after.push(format!("probe/finetuned/layer-{last}"));
        }
        if entry.finetune {
            let kind = sub.data.task.unit_kind();
            let id = format!("{base}/finetune");
            b.add(
                id.clone(),
                Kind::CrossFinetune(entry.name.clone()),
                json!({
                    "data": data_key,
                    "model": model_hash,
                    "finetune": crate::cmd::finetune::settings(&sub, kind),
                    "after": [format!("{base}/data")],
                }),
                vec![
                    format!("{base}/models/finetuned"),
                    format!("{base}/finetune.json"),
                    format!("{base}/train_log.jsonl"),
                ],
            );
            after.push(id);
        }
        let keys: serde_json::Map<String, Value> = after
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        b.add(
            base.clone(),
            Kind::CrossTask(entry.name.clone()),
            json!({
                "stages": keys,
                "finetune_key": ft_key,
                "layer": last,
                "extract": {"pooling": sub.model.pooling_for(sub.data.task.unit_kind()), "max_subwords": config.model.max_subwords},
                "probe": super::stages::probe_config(config),
                "directprobe": dp,
                "after": after,
            }),
            vec![format!("{base}/result")],
        );
        ids.push(base);
    }
    Ok(ids)
}

/// Order of stage types in summaries.
pub fn stage_rank(kind: &str) -> usize {
    [
        "data",
        "finetune",
        "extract",
        "probe",
        "directprobe",
        "compare",
        "dynamics",
        "memorisation",
        "cross",
        "report",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(usize::MAX)
}
