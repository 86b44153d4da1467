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

/// Seeds in effect, for the manifest.
pub fn seeds(config: &Config) -> Value {
    json!({
        "study": config.study.seed,
        "data_split": config.study.seed,
        "finetune": config.finetune.seed.unwrap_or(config.study.seed),
        "probe": probe::probe_seeds(config),
    })
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

/// The data files a config reads (absent optional files are left out).
fn data_files(config: &Config) -> Vec<PathBuf> {
    let d = &config.data;
    [&d.path, &d.train, &d.dev, &d.test]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// Content hashes of the data files of `config` (`what` names the section in errors).
fn data_hashes(
    config: &Config,
    cache: &mut HashCache,
    what: &str,
) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for f in data_files(config) {
        let h = cache
            .path(&f)
            .with_context(|| format!("{what} input {}", f.display()))?;
        files.insert(f.display().to_string(), h);
    }
    Ok(files)
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

/// What sets a fine-tuning branch apart from the study's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tag {
    /// Another fine-tuning seed (`seeds/seed-<s>/`, stage ids `seed-<s>/…`).
    Seed(u64),
    /// An `[[arms]]` entry (`arms/<name>/`, stage ids `arm-<name>/…`).
    Arm(String),
    /// Another fine-tuning seed of an arm (`arms/<name>/seeds/seed-<s>/`, stage ids
    /// `arm-<name>/seed-<s>/…`).
    ArmSeed(String, u64),
}

/// One fine-tuning branch: the study itself, a seed replicate (`seeds/seed-<s>/`) or an arm
/// (`arms/<name>/`); all share the pre-trained stages.
pub struct Replicate {
    /// The branch's configuration (its own `finetune` settings).
    pub config: Config,
    /// `None` for the study itself.
    pub tag: Option<Tag>,
    /// Its run directory.
    pub dir: PathBuf,
}

impl Replicate {
    /// Stage id within this branch.
    fn id(&self, id: &str) -> String {
        match &self.tag {
            None => id.to_string(),
            Some(Tag::Seed(s)) => format!("seed-{s}/{id}"),
            Some(Tag::Arm(a)) => format!("arm-{a}/{id}"),
            Some(Tag::ArmSeed(a, s)) => format!("arm-{a}/seed-{s}/{id}"),
        }
    }

    /// This branch's run directory relative to the study's: its outputs' paths as the
    /// manifest records them.
    fn rel(&self) -> RunDir {
        match &self.tag {
            None => RunDir::relative(),
            Some(Tag::Seed(s)) => RunDir::relative().replicate(*s),
            Some(Tag::Arm(a)) => RunDir::relative().arm(a),
            Some(Tag::ArmSeed(a, s)) => RunDir::relative().arm(a).replicate(*s),
        }
    }
}

/// The replicates of a fine-tuning branch: the study itself (`arm` = `None`) or arm `arm`
/// (whose `config` is [`Config::arm_config`]'s), then one per extra `finetune.seeds`, in
/// `seeds/seed-<s>/` under the branch's directory.
pub fn replicates(config: &Config, arm: Option<&str>) -> Vec<Replicate> {
    (0..config.finetune.seeds)
        .map(|r| match r {
            0 => Replicate {
                config: config.clone(),
                tag: arm.map(|a| Tag::Arm(a.to_string())),
                dir: config.study.out.clone(),
            },
            r => {
                let c = config.replicate_config(r);
                let seed = c.finetune.seed.expect("a replicate has its own seed");
                Replicate {
                    tag: Some(match arm {
                        None => Tag::Seed(seed),
                        Some(a) => Tag::ArmSeed(a.to_string(), seed),
                    }),
                    dir: config.run_dir().replicate(seed).root().to_path_buf(),
                    config: c,
                }
            }
        })
        .collect()
}

/// The study's arms (`[[arms]]`), each as its replicates (the arm in `arms/<name>/`, then its
/// other seeds).
pub fn arms(config: &Config) -> Result<Vec<Vec<Replicate>>> {
    config
        .arms
        .iter()
        .map(|arm| Ok(replicates(&config.arm_config(arm)?, Some(&arm.name))))
        .collect()
}

/// The seeds stage over one branch's replicates (`seeds` for the study's, `arm-<name>/seeds`
/// for an arm's, into the branch's `seeds/summary/`); nothing for a single seed. Returns its id.
fn seeds_stage(b: &mut Builder<'_>, reps: &[Replicate]) -> Option<String> {
    let first = reps.first().filter(|_| reps.len() > 1)?;
    let ids: Vec<String> = reps
        .iter()
        .flat_map(|r| {
            let mut ids: Vec<String> = ["finetune", "compare", "memorisation", "dynamics"]
                .into_iter()
                .map(|s| r.id(s))
                .collect();
            // The measures' per-layer similarity stages (the seeds summary reads them).
            ids.extend(
                b.layers
                    .iter()
                    .map(|l| r.id(&format!("similarity/layer-{l}"))),
            );
            ids.retain(|id| b.has(id));
            ids
        })
        .collect();
    let id = first.id("seeds");
    b.add_in(
        Stage::new(
            id.clone(),
            Kind::Seeds(seeds::settings(&first.config)),
            ids,
            vec![output(first.rel().seeds_summary())],
        ),
        first,
    );
    Some(id)
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

/// Probes and DirectProbe on every layer of `model`'s representations; returns the stage ids.
fn analyses(b: &mut Builder<'_>, rep: &Replicate, model: &ModelRef) -> Vec<String> {
    let config = &rep.config;
    let ex = rep.id(&format!("extract/{}", model.name()));
    let mut ids = Vec::new();
    for layer in b.layers.clone() {
        if config.probe.enabled {
            let id = rep.id(&format!("probe/{}/layer-{layer}", model.name()));
            b.add_in(
                Stage::new(
                    id.clone(),
                    Kind::Probe(model.clone(), probe::settings(config, layer)),
                    vec![ex.clone()],
                    vec![output(rep.rel().probe_file(&model.name(), layer))],
                ),
                rep,
            );
            if config.mdl.enabled {
                let mdl_id = rep.id(&format!("mdl/{}/layer-{layer}", model.name()));
                b.add_in(
                    Stage::new(
                        mdl_id.clone(),
                        Kind::Mdl(model.clone(), mdl::settings(config, layer)),
                        if config.mdl.mlp {
                            vec![ex.clone(), id.clone()]
                        } else {
                            vec![ex.clone()]
                        },
                        vec![output(rep.rel().mdl_file(&model.name(), layer))],
                    ),
                    rep,
                );
                ids.push(mdl_id);
            }
            ids.push(id);
        }
        if config.directprobe.enabled {
            for split in directprobe::SPLITS {
                let id = rep.id(&format!(
                    "directprobe/{}/{split}/layer-{layer}",
                    model.name()
                ));
                b.add_in(
                    Stage::new(
                        id.clone(),
                        Kind::DirectProbe(
                            model.clone(),
                            directprobe::settings(config, split, layer),
                        ),
                        vec![ex.clone()],
                        vec![output(rep.rel().directprobe_dir(
                            &model.name(),
                            split,
                            layer,
                        ))],
                    ),
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
    model_hash: &str,
    pretrained_ids: &[String],
) -> Result<Vec<String>> {
    let config = &rep.config;
    let kind = config.data.task.unit_kind();
    let ft_id = rep.id("finetune");
    b.add_in(
        Stage::new(
            ft_id.clone(),
            Kind::Finetune(finetune::settings(config)),
            vec!["data".into()],
            finetune_outputs(&rep.rel()),
        )
        .external("model", model_hash),
        rep,
    );
    let finetune_done = matches!(b.action_of(&ft_id), Action::Skip(_));
    let mut models = vec![ModelRef::Finetuned];
    if finetune_done {
        models.extend(
            RunDir::new(&rep.dir)
                .checkpoints()?
                .into_iter()
                .map(ModelRef::Checkpoint),
        );
    }
    for m in &models {
        let all_splits = !matches!(m, ModelRef::Checkpoint(_));
        b.add_in(
            Stage::new(
                rep.id(&format!("extract/{}", m.name())),
                Kind::Extract(
                    m.clone(),
                    extract::settings(config, kind, &b.layers, all_splits),
                ),
                vec!["data".into(), ft_id.clone()],
                vec![output(rep.rel().reps(&m.name()))],
            ),
            rep,
        );
    }
    if !finetune_done && config.finetune.checkpoint_every > 0 {
        b.later(
            rep.id("extract/ckpt-*"),
            Kind::Extract(
                ModelRef::Checkpoint(0),
                extract::settings(config, kind, &b.layers, false),
            ),
            format!(
                "one per checkpoint (every {} updates), after fine-tuning",
                config.finetune.checkpoint_every
            ),
            rep,
        );
    }
    let ft_ids = analyses(b, rep, &ModelRef::Finetuned);
    let mut out = Vec::new();
    if config.similarity.enabled {
        for layer in b.layers.clone() {
            let id = rep.id(&format!("similarity/layer-{layer}"));
            b.add_in(
                Stage::new(
                    id.clone(),
                    Kind::Similarity(similarity::settings(config, layer)),
                    vec!["extract/pretrained".into(), rep.id("extract/finetuned")],
                    vec![output(rep.rel().similarity_file(layer))],
                ),
                rep,
            );
            out.push(id);
        }
    }
    if config.directprobe.enabled {
        let mut after = vec![
            "extract/pretrained".to_string(),
            rep.id("extract/finetuned"),
        ];
        after.extend(pretrained_ids.iter().cloned());
        after.extend(ft_ids);
        b.add_in(
            Stage::new(
                rep.id("compare"),
                Kind::Compare(compare::settings(config, &b.layers)),
                after,
                vec![output(rep.rel().compare())],
            ),
            rep,
        );
        out.push(rep.id("compare"));
        b.add_in(
            Stage::new(
                rep.id("weights"),
                Kind::Weights(weights::settings()),
                vec![ft_id.clone(), rep.id("compare")],
                vec![output(rep.rel().weights())],
            )
            .external("model", model_hash),
            rep,
        );
        out.push(rep.id("weights"));
        if config.examples.enabled {
            let mut after = vec![
                "data".to_string(),
                "extract/pretrained".to_string(),
                rep.id("extract/finetuned"),
                rep.id("compare"),
            ];
            for layer in b.layers.clone() {
                after.push(format!("directprobe/pretrained/train/layer-{layer}"));
                after.push(rep.id(&format!("directprobe/finetuned/train/layer-{layer}")));
            }
            b.add_in(
                Stage::new(
                    rep.id("examples"),
                    Kind::Examples(examples::settings(config, &b.layers)),
                    after,
                    vec![
                        output(rep.rel().examples_csv()),
                        output(rep.rel().examples_json()),
                    ],
                ),
                rep,
            );
            out.push(rep.id("examples"));
        }
        out.extend(experiments(b, rep, finetune_done)?);
    }
    Ok(out)
}

/// Plans one replicate's dynamics and memorisation stages; returns their ids.
fn experiments(b: &mut Builder<'_>, rep: &Replicate, finetune_done: bool) -> Result<Vec<String>> {
    let config = &rep.config;
    let layers = b.layers.clone();
    let mut ids = Vec::new();
    if config.dynamics.enabled && config.finetune.checkpoint_every > 0 {
        let kind = Kind::Dynamics(dynamics::settings(config, &layers));
        if finetune_done {
            let mut after = vec![rep.id("finetune"), rep.id("extract/finetuned")];
            after.extend(
                b.plan
                    .iter()
                    .filter(|p| {
                        matches!(p.kind, Kind::Extract(ModelRef::Checkpoint(_), _))
                            && p.id.starts_with(&rep.id("extract/"))
                    })
                    .map(|p| p.id.clone()),
            );
            after.extend(
                layers
                    .iter()
                    .map(|k| format!("directprobe/pretrained/train/layer-{k}")),
            );
            b.add_in(
                Stage::new(
                    rep.id("dynamics"),
                    kind,
                    after,
                    vec![output(rep.rel().dynamics())],
                ),
                rep,
            );
            ids.push(rep.id("dynamics"));
        } else {
            b.later(
                rep.id("dynamics"),
                kind,
                "after fine-tuning, on its checkpoints".into(),
                rep,
            );
        }
    }
    if config.memorisation.enabled {
        if let Some(why) = config.finetuning_misses_training_units() {
            bail!(
                "[memorisation] needs fine-tuning to see every training unit (subtest must be seen \
                 by fine-tuning), but {why}; set memorisation.enabled = false or change that setting"
            );
        }
        let s = memorisation::settings(config, &layers);
        if !layers.contains(&s.layer) {
            bail!(
                "[memorisation] layer {} is not among the analysed layers {layers:?}",
                s.layer
            );
        }
        b.add_in(
            Stage::new(
                rep.id("memorisation"),
                Kind::Memorisation(s),
                vec![
                    "data".to_string(),
                    "extract/pretrained".to_string(),
                    rep.id("extract/finetuned"),
                ],
                vec![output(rep.rel().memorisation())],
            ),
            rep,
        );
        ids.push(rep.id("memorisation"));
    }
    Ok(ids)
}

/// Plans the cross-task stages of every `[[cross_task]]` entry; returns the table stages' ids.
fn cross_tasks(
    b: &mut Builder<'_>,
    config: &Config,
    cache: &mut HashCache,
    model_hash: &str,
) -> Result<Vec<String>> {
    let last = config.experiment_layer(None, &b.layers);
    let mut ids = Vec::new();
    for entry in &config.cross_task {
        let sub = config.cross_config(entry);
        let dir = config.run_dir().cross(&entry.name).root().to_path_buf();
        let rel = RunDir::relative().cross(&entry.name);
        let base = format!("cross/{}", entry.name);
        let data_id = format!("{base}/data");
        let mut data = Stage::new(
            data_id.clone(),
            Kind::CrossData(entry.name.clone(), data::settings(&sub)),
            vec![],
            vec![output(rel.data())],
        );
        data.external = data_hashes(&sub, cache, &format!("[[cross_task]] {:?}", entry.name))?;
        b.add_at(data, dir.clone(), false);
        let mut after = vec![
            data_id.clone(),
            "data".to_string(),
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
            let id = format!("{base}/finetune");
            b.add_at(
                Stage::new(
                    id.clone(),
                    Kind::CrossFinetune(entry.name.clone(), finetune::settings(&sub)),
                    vec![data_id],
                    finetune_outputs(&rel),
                )
                .external("model", model_hash),
                dir.clone(),
                false,
            );
            after.push(id);
        }
        b.add(
            Stage::new(
                base.clone(),
                Kind::CrossTask(
                    entry.name.clone(),
                    cross::settings(config, entry, &b.layers),
                ),
                after,
                vec![output(RunDir::relative().cross_result(&entry.name))],
            )
            .external("model", model_hash),
        );
        ids.push(base);
    }
    Ok(ids)
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
