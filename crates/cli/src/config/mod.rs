//! The study configuration: one TOML file with sections `[study]`, `[data]`, `[model]`,
//! `[finetune]`, `[probe]`, `[directprobe]`, `[compare]`, `[dynamics]`, `[memorisation]` and
//! `[[cross_task]]` (documented in `docs/config.md`).
//!
//! Unknown keys are rejected with the list of valid ones. `--set section.key=value` overrides are
//! applied to the parsed TOML before it is checked; the value is parsed as TOML and taken as a
//! string when that fails. Relative paths are relative to the current directory.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tunescope_data::rundir::RunDir;
use tunescope_data::{LoadSpec, UnitKind};
use tunescope_model::finetune::FinetuneConfig;

mod sections;
pub use sections::*;

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

    /// The configuration of arm `arm`: the study's, with the arm's `[finetune]` overrides and
    /// the study's `finetune.seeds` (replicates in `<out>/arms/<name>/seeds/seed-<s>/`), no
    /// cross-task entries or arms, in `<out>/arms/<name>/`.
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
        let units = self.dynamics.measures_units;
        let max = tunescope_geometry::cka_null::MAX_ROWS;
        if self.dynamics.measures && !(4..=max).contains(&units) {
            bail!("[dynamics] measures_units must be 4 to {max}, found {units}");
        }
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
mod tests;
