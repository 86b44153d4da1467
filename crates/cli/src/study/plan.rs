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
    /// Means, confidence intervals and permutation tests over the fine-tuning seeds.
    Seeds,
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
    /// The replicate's configuration for a stage of another fine-tuning seed; `None` = the
    /// study's own.
    pub replicate: Option<Box<Config>>,
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
    /// Adds a stage of replicate `rep` (see [`Builder::add`]).
    fn add_in(
        &mut self,
        id: String,
        kind: Kind,
        inputs: Value,
        outputs: Vec<String>,
        rep: &Replicate,
    ) -> String {
        let key = self.add(id, kind, inputs, outputs);
        if rep.seed.is_some() {
            self.plan.last_mut().expect("just added").replicate =
                Some(Box::new(rep.config.clone()));
        }
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
            layers: self.layers.clone(),
            replicate: rep.seed.map(|_| Box::new(rep.config.clone())),
        });
    }

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
            replicate: None,
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

/// One fine-tuning replicate: the study itself (seed index 0) or `seeds/seed-<s>/` with another
/// fine-tuning seed; both share the pre-trained stages.
pub struct Replicate {
    /// The replicate's configuration (its own `study.out` and `finetune.seed`).
    pub config: Config,
    /// `None` for the study itself, else the fine-tuning seed.
    pub seed: Option<u64>,
}

impl Replicate {
    /// Stage id within this replicate.
    fn id(&self, id: &str) -> String {
        match self.seed {
            None => id.to_string(),
            Some(s) => format!("seed-{s}/{id}"),
        }
    }

    /// Output path (relative to the study's run directory) within this replicate.
    fn path(&self, p: &str) -> String {
        match self.seed {
            None => p.to_string(),
            Some(s) => format!("seeds/seed-{s}/{p}"),
        }
    }
}

/// The replicates of a study: itself, then one per extra `finetune.seeds`.
pub fn replicates(config: &Config) -> Vec<Replicate> {
    (0..config.finetune.seeds)
        .map(|r| match r {
            0 => Replicate {
                config: config.clone(),
                seed: None,
            },
            r => {
                let c = config.replicate_config(r);
                Replicate {
                    seed: c.finetune.seed,
                    config: c,
                }
            }
        })
        .collect()
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
    let model_hash = cache
        .path(&pretrained)
        .with_context(|| format!("hashing the encoder {}", pretrained.display()))?;

    // the pre-trained encoder's representations and their analyses (shared by all replicates)
    let kind = config.data.task.unit_kind();
    let extract_settings = json!({
        "layers": layers,
        "pooling": config.model.pooling_for(kind),
        "max_subwords": config.model.max_subwords,
    });
    b.add(
        "extract/pretrained".into(),
        Kind::Extract(ModelRef::Pretrained),
        json!({"data": data_key, "model": model_hash, "extract": extract_settings, "after": ["data"]}),
        vec!["reps/pretrained".into()],
    );
    let pretrained_ids = analyses(
        &mut b,
        &Replicate {
            config: config.clone(),
            seed: None,
        },
        &ModelRef::Pretrained,
    );

    let mut report_after = Vec::new();
    let reps = replicates(config);
    for rep in &reps {
        report_after.extend(branch(
            &mut b,
            rep,
            &data_key,
            &model_hash,
            &pretrained_ids,
        )?);
    }
    if reps.len() > 1 && config.directprobe.enabled {
        let ids: Vec<String> = reps
            .iter()
            .flat_map(|r| {
                let mut v = vec![r.id("compare")];
                if b.plan.iter().any(|p| p.id == r.id("memorisation")) {
                    v.push(r.id("memorisation"));
                }
                if b.plan
                    .iter()
                    .any(|p| p.id == r.id("dynamics") && !p.key.is_empty())
                {
                    v.push(r.id("dynamics"));
                }
                v
            })
            .collect();
        let keys: serde_json::Map<String, Value> = ids
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        b.add(
            "seeds".into(),
            Kind::Seeds,
            json!({"stages": keys, "seeds": reps.iter().map(|r| r.config.finetune.seed.unwrap_or(config.study.seed)).collect::<Vec<_>>(), "after": ids}),
            vec!["seeds/summary".into()],
        );
        report_after.push("seeds".into());
    }
    if config.directprobe.enabled {
        report_after.extend(cross_tasks(&mut b, cache, &model_hash)?);
        let all: serde_json::Map<String, Value> = b
            .plan
            .iter()
            .filter(|p| !p.key.is_empty())
            .map(|p| (p.id.clone(), json!(p.key)))
            .collect();
        b.add(
            "report".into(),
            Kind::Report,
            json!({"compare": b.key_of("compare"), "stages": all, "config": config, "after": report_after}),
            vec!["report/index.html".into()],
        );
    }
    Ok(b.plan)
}

/// Probes and DirectProbe on every layer of `model`'s representations; returns the stage ids.
fn analyses(b: &mut Builder<'_>, rep: &Replicate, model: &ModelRef) -> Vec<String> {
    let config = &rep.config;
    let ex = rep.id(&format!("extract/{}", model.name()));
    let ex_key = b.key_of(&ex);
    let mut ids = Vec::new();
    for layer in b.layers.clone() {
        if config.probe.enabled {
            let id = rep.id(&format!("probe/{}/layer-{layer}", model.name()));
            b.add_in(
                id.clone(),
                Kind::Probe(model.clone(), layer),
                json!({"reps": ex_key, "layer": layer, "probe": config.probe, "seeds": probe_seeds(config), "after": [ex]}),
                vec![rep.path(&format!("probe/{}/layer-{layer}.json", model.name()))],
                rep,
            );
            ids.push(id);
        }
        if config.directprobe.enabled {
            for split in DIRECTPROBE_SPLITS {
                let id = rep.id(&format!(
                    "directprobe/{}/{split}/layer-{layer}",
                    model.name()
                ));
                b.add_in(
                    id.clone(),
                    Kind::DirectProbe(model.clone(), split, layer),
                    json!({
                        "reps": ex_key,
                        "layer": layer,
                        "split": split,
                        "min_cluster_size": config.directprobe.min_cluster_size,
                        "after": [ex],
                    }),
                    vec![rep.path(&format!(
                        "directprobe/{}/{split}/layer-{layer}",
                        model.name()
                    ))],
                    rep,
                );
                ids.push(id);
            }
        }
    }
    ids
}

/// One replicate's fine-tuning, its representations and analyses, the comparisons and the
/// experiments; returns the ids the report waits for.
fn branch(
    b: &mut Builder<'_>,
    rep: &Replicate,
    data_key: &str,
    model_hash: &str,
    pretrained_ids: &[String],
) -> Result<Vec<String>> {
    let config = &rep.config;
    let kind = config.data.task.unit_kind();
    let ft_settings = crate::cmd::finetune::settings(config, kind);
    let ft_id = rep.id("finetune");
    let ft_key = b.add_in(
        ft_id.clone(),
        Kind::Finetune,
        json!({"data": data_key, "model": model_hash, "finetune": ft_settings, "after": ["data"]}),
        vec![
            rep.path("models/finetuned"),
            rep.path("finetune.json"),
            rep.path("train_log.jsonl"),
        ],
        rep,
    );
    let finetune_done = matches!(b.action_of(&ft_id), Action::Skip(_));
    let mut models = vec![ModelRef::Finetuned];
    if finetune_done {
        models.extend(
            checkpoints(&config.study.out)?
                .into_iter()
                .map(ModelRef::Checkpoint),
        );
    }
    let extract_settings = json!({
        "layers": b.layers,
        "pooling": config.model.pooling_for(kind),
        "max_subwords": config.model.max_subwords,
    });
    for m in &models {
        b.add_in(
            rep.id(&format!("extract/{}", m.name())),
            Kind::Extract(m.clone()),
            json!({
                "data": data_key,
                "model": {"finetune": ft_key, "model": m.name()},
                "extract": extract_settings,
                "after": ["data", ft_id],
            }),
            vec![rep.path(&format!("reps/{}", m.name()))],
            rep,
        );
    }
    if !finetune_done && config.finetune.checkpoint_every > 0 {
        b.later(
            rep.id("extract/ckpt-*"),
            Kind::Extract(ModelRef::Checkpoint(0)),
            format!(
                "one per checkpoint (every {} updates), after fine-tuning",
                config.finetune.checkpoint_every
            ),
            rep,
        );
    }
    let ft_ids = analyses(b, rep, &ModelRef::Finetuned);
    let mut out = Vec::new();
    if config.directprobe.enabled {
        let mut after = vec![
            "extract/pretrained".to_string(),
            rep.id("extract/finetuned"),
        ];
        after.extend(pretrained_ids.iter().cloned());
        after.extend(ft_ids);
        let keys: serde_json::Map<String, Value> = after
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        b.add_in(
            rep.id("compare"),
            Kind::Compare,
            json!({
                "stages": keys,
                "compare": config.compare,
                "directprobe": super::stages::directprobe_settings(config),
                "probe": config.probe.enabled,
                "layers": b.layers,
                "after": after,
            }),
            vec![rep.path("compare")],
            rep,
        );
        out.push(rep.id("compare"));
        out.extend(experiments(b, rep, &ft_key, finetune_done)?);
    }
    Ok(out)
}

/// Plans one replicate's dynamics and memorisation stages; returns their ids.
fn experiments(
    b: &mut Builder<'_>,
    rep: &Replicate,
    ft_key: &str,
    finetune_done: bool,
) -> Result<Vec<String>> {
    let config = &rep.config;
    let layers = b.layers.clone();
    let mut ids = Vec::new();
    let dp = super::stages::directprobe_settings(config);
    if config.dynamics.enabled && config.finetune.checkpoint_every > 0 {
        if finetune_done {
            let mut after = vec![rep.id("finetune"), rep.id("extract/finetuned")];
            after.extend(
                b.plan
                    .iter()
                    .filter(|p| {
                        matches!(p.kind, Kind::Extract(ModelRef::Checkpoint(_)))
                            && p.id.starts_with(&rep.id("extract/"))
                    })
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
            b.add_in(
                rep.id("dynamics"),
                Kind::Dynamics,
                json!({"stages": keys, "finetune": ft_key, "dynamics": config.dynamics, "directprobe": dp, "layers": layers, "after": after}),
                vec![rep.path("experiments/dynamics")],
                rep,
            );
            ids.push(rep.id("dynamics"));
        } else {
            b.later(
                rep.id("dynamics"),
                Kind::Dynamics,
                "after fine-tuning, on its checkpoints".into(),
                rep,
            );
        }
    }
    if config.memorisation.enabled {
        let layer = config.experiment_layer(config.memorisation.layer, &layers);
        if !layers.contains(&layer) {
            bail!("[memorisation] layer {layer} is not among the analysed layers {layers:?}");
        }
        let after = vec![
            "extract/pretrained".to_string(),
            rep.id("extract/finetuned"),
        ];
        let keys: serde_json::Map<String, Value> = after
            .iter()
            .map(|id| (id.clone(), json!(b.key_of(id))))
            .collect();
        b.add_in(
            rep.id("memorisation"),
            Kind::Memorisation,
            json!({
                "stages": keys,
                "memorisation": config.memorisation,
                "layer": layer,
                "probe": super::stages::probe_config(config),
                "seed": config.study.seed,
                "after": after,
            }),
            vec![rep.path("experiments/memorisation")],
            rep,
        );
        ids.push(rep.id("memorisation"));
    }
    Ok(ids)
}

/// Plans the cross-task stages of every `[[cross_task]]` entry; returns the table stages' ids.
fn cross_tasks(
    b: &mut Builder<'_>,
    cache: &mut HashCache,
    model_hash: &str,
) -> Result<Vec<String>> {
    let config = b.config;
    let last = config.experiment_layer(None, &b.layers);
    let dp = super::stages::directprobe_settings(config);
    let mut ids = Vec::new();
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
        "seed-*",
        "seeds",
        "report",
    ]
    .iter()
    .position(|k| *k == kind)
    .unwrap_or(usize::MAX)
}
