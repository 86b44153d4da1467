//! What each stage does: the library calls and the files it writes into the run directory.
//!
//! Every output is written under a temporary name and renamed into place, so an interrupted
//! stage leaves either its previous complete output or none.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::dp::{self as cdp, DirectProbeSettings};
use tunescope_compare::io as cio;
use tunescope_compare::{CompareOptions, CompareResults};
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};
use tunescope_geometry::similarity::RsaOptions;
use tunescope_model::finetune::io::{write_atomic, write_dir_atomic};
use tunescope_model::finetune::train::{EvalRecord, StepRecord};
use tunescope_model::finetune::{self, Job, Progress};
use tunescope_model::probe::{self, ProbeConfig, ProbeInput};
use tunescope_report::{KeyValue, ReportData, StudyInfo};

use super::experiments as ex;
use super::plan::{Kind, ModelRef, Planned};
use super::Display;
use crate::config::Config;

/// Runs one planned stage; `resume` says its previous record had the same key (an interrupted
/// run of the same stage, whose resumable state may be kept). Returns a short summary.
pub fn execute(config: &Config, stage: &Planned, resume: bool, display: &Display) -> Result<Value> {
    let out = &config.study.out;
    // A stage of another fine-tuning seed runs with that replicate's configuration.
    let conf = stage.replicate.as_deref().unwrap_or(config);
    if !resume {
        for o in &stage.outputs {
            remove(&out.join(o))?;
        }
        if stage.kind == Kind::Finetune {
            let own = &conf.study.out;
            remove(&own.join("finetune-state"))?;
            for u in super::plan::checkpoints(own)? {
                remove(&own.join(format!("models/ckpt-{u}")))?;
            }
        }
        if let Kind::CrossFinetune(name) = &stage.kind {
            remove(&out.join(format!("cross/{name}/finetune-state")))?;
        }
    }
    if stage.replicate.is_some() {
        link_shared(out, &conf.study.out)?;
    }
    match &stage.kind {
        Kind::Data => run_data(conf),
        Kind::Finetune => run_finetune(conf, stage, display),
        Kind::Extract(m) => super::extract::run(conf, stage, m, display),
        Kind::Probe(m, layer) => run_probe(conf, m, *layer, display),
        Kind::DirectProbe(m, split, layer) => {
            in_pool(conf, || run_directprobe(conf, m, split, *layer, display))
        }
        Kind::Compare => in_pool(conf, || run_compare(conf, stage, display)),
        Kind::Dynamics => in_pool(conf, || ex::run_dynamics(conf, stage, display)),
        Kind::Memorisation => ex::run_memorisation(conf, stage, display),
        Kind::CrossData(name) => ex::run_cross_data(config, name),
        Kind::CrossFinetune(name) => ex::run_cross_finetune(config, name, stage, display),
        Kind::CrossTask(name) => {
            in_pool(config, || ex::run_cross_task(config, name, stage, display))
        }
        Kind::Seeds => super::seeds::run(config, display),
        Kind::Report => run_report(config, stage),
    }
}

/// Links a replicate's run directory `sub` to the study's pre-trained artifacts (data,
/// representations, probes, DirectProbe), which every replicate shares.
fn link_shared(main: &Path, sub: &Path) -> Result<()> {
    for (path, up) in [
        ("data", "../../"),
        ("reps/pretrained", "../../../"),
        ("probe/pretrained", "../../../"),
        ("directprobe/pretrained", "../../../"),
    ] {
        let (target, link) = (main.join(path), sub.join(path));
        if !target.exists() || link.symlink_metadata().is_ok() {
            continue;
        }
        let parent = link.parent().expect("a link inside the replicate");
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        std::os::unix::fs::symlink(format!("{up}{path}"), &link)
            .with_context(|| format!("cannot link {} to the study's {path}", link.display()))?;
    }
    Ok(())
}

/// Runs `f` on a rayon pool of `directprobe.threads` workers (0 = one per core).
fn in_pool<T: Send>(config: &Config, f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    let mut pool = rayon::ThreadPoolBuilder::new();
    if config.directprobe.threads > 0 {
        pool = pool.num_threads(config.directprobe.threads);
    }
    pool.build().context("starting the thread pool")?.install(f)
}

fn remove(p: &Path) -> Result<()> {
    let r = if p.is_dir() {
        std::fs::remove_dir_all(p)
    } else if p.exists() {
        std::fs::remove_file(p)
    } else {
        Ok(())
    };
    r.with_context(|| format!("cannot remove stale output {}", p.display()))
}

// ---------------------------------------------------------------- data

/// `data/task.json`: the task's identity and label list.
#[derive(Debug, Serialize, Deserialize)]
struct TaskHeader {
    name: String,
    unit_kind: UnitKind,
    labels: Vec<String>,
}

/// One line of `data/<split>.jsonl`: a sentence and its units.
#[derive(Debug, Serialize, Deserialize)]
struct SentenceLine {
    #[serde(flatten)]
    sentence: Sentence,
    units: Vec<UnitLine>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UnitLine {
    target: Target,
    label: String,
}

pub(super) fn run_data(config: &Config) -> Result<Value> {
    let task = crate::cmd::data::load_task(config)?;
    let dir = config.study.out.join("data");
    write_dir_atomic(&dir, |tmp| {
        let header = TaskHeader {
            name: task.name.clone(),
            unit_kind: task.unit_kind,
            labels: task.labels.clone(),
        };
        write_atomic(&tmp.join("task.json"), &serde_json::to_vec_pretty(&header)?)?;
        for (name, split) in task.splits() {
            let mut units = split.units.iter().peekable();
            let mut buf = Vec::new();
            for (i, s) in split.sentences.iter().enumerate() {
                let mut line = SentenceLine {
                    sentence: s.clone(),
                    units: Vec::new(),
                };
                while let Some(u) = units.next_if(|u| u.sentence == i) {
                    line.units.push(UnitLine {
                        target: u.target.clone(),
                        label: u.label.clone(),
                    });
                }
                serde_json::to_writer(&mut buf, &line)?;
                buf.push(b'\n');
            }
            ensure!(
                units.next().is_none(),
                "{name} units are not in sentence order"
            );
            write_atomic(&tmp.join(format!("{name}.jsonl")), &buf)?;
        }
        Ok(())
    })?;
    let splits: serde_json::Map<String, Value> = task
        .splits()
        .iter()
        .map(|(n, s)| {
            (
                n.to_string(),
                json!({"sentences": s.sentences.len(), "units": s.units.len()}),
            )
        })
        .collect();
    Ok(
        json!({"task": task.name, "labels": task.labels.len(), "splits": splits, "warnings": task.warnings()}),
    )
}

/// Reads the task written by the data stage.
pub fn read_task(out: &Path) -> Result<Task> {
    let dir = out.join("data");
    let hp = dir.join("task.json");
    let header: TaskHeader = serde_json::from_slice(
        &std::fs::read(&hp).with_context(|| format!("cannot read {}", hp.display()))?,
    )
    .with_context(|| format!("{} is malformed", hp.display()))?;
    let mut splits = Vec::new();
    for name in tunescope_data::SPLIT_NAMES {
        let p = dir.join(format!("{name}.jsonl"));
        let text =
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))?;
        let mut split = Split::default();
        for (i, line) in text.lines().enumerate() {
            let l: SentenceLine = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: malformed line", p.display(), i + 1))?;
            for u in l.units {
                split.units.push(Unit {
                    sentence: split.sentences.len(),
                    target: u.target,
                    label: u.label,
                });
            }
            split.sentences.push(l.sentence);
        }
        splits.push(split);
    }
    let [train, dev, test]: [Split; 3] = splits.try_into().expect("three splits");
    Ok(Task {
        name: header.name,
        unit_kind: header.unit_kind,
        labels: header.labels,
        train,
        dev,
        test,
    })
}

// ---------------------------------------------------------------- fine-tuning

struct FinetuneProgress<'a> {
    display: &'a Display,
    total: u64,
}

impl Progress for FinetuneProgress<'_> {
    fn start(&mut self, done: u64, total: u64) {
        self.total = total;
        self.display.message(format!("update {done}/{total}"));
    }
    fn update(&mut self, r: &StepRecord) {
        self.display.message(format!(
            "update {}/{} · epoch {:.2} · loss {:.4} · {:.0} tok/s",
            r.update, self.total, r.epoch, r.loss, r.tokens_per_s
        ));
    }
    fn eval(&mut self, r: &EvalRecord) {
        self.display.line(&format!(
            "      {} after update {}: accuracy {:.4}{}",
            r.split,
            r.update,
            r.scores.accuracy,
            if r.best && r.split == "dev" {
                " (best so far)"
            } else {
                ""
            }
        ));
    }
    fn note(&mut self, msg: &str) {
        self.display.line(&format!("      {msg}"));
    }
    fn stop_requested(&mut self) -> bool {
        self.display.stop_requested()
    }
}

pub(super) fn run_finetune(config: &Config, stage: &Planned, display: &Display) -> Result<Value> {
    let task = read_task(&config.study.out)?;
    let job = Job {
        task: &task,
        model_dir: stage.pretrained.clone(),
        run_dir: config.study.out.clone(),
        config: crate::cmd::finetune::settings(config, task.unit_kind),
    };
    let outcome = finetune::finetune(&job, &mut FinetuneProgress { display, total: 0 })?;
    Ok(json!({
        "updates": outcome.updates,
        "best_update": outcome.best_update,
        "dev_accuracy": outcome.dev.accuracy,
        "test_accuracy": outcome.test.accuracy,
    }))
}

// ---------------------------------------------------------------- representations

/// The sorted label list the comparisons index into: every label of the pre-trained
/// representations' `labels.txt` over the three splits (as `tunescope compare` builds it).
pub fn label_list(out: &Path) -> Result<Vec<String>> {
    let mut all = BTreeSet::new();
    for split in cio::SPLITS {
        all.extend(cio::read_label_names(&cio::reps_dir(
            out,
            cio::PRETRAINED,
            split,
        ))?);
    }
    Ok(all.into_iter().collect())
}

/// One split's vectors at one layer, labels indexing `labels`.
pub fn load_layer(
    out: &Path,
    model: &str,
    split: &str,
    layer: usize,
    labels: &[String],
) -> Result<LabelledVectors> {
    let names = cio::read_label_names(&cio::reps_dir(out, model, split))?;
    cio::read_layer(&cio::layer_file(out, model, split, layer), &names, labels)
}

// ---------------------------------------------------------------- classifier probes

/// The probe settings a config resolves to.
pub fn probe_config(config: &Config) -> ProbeConfig {
    let p = &config.probe;
    let depths: &[usize] = if p.linear { &[0, 2] } else { &[2] };
    ProbeConfig {
        shapes: probe::grid_shapes(&p.grid, depths),
        seeds: super::plan::probe_seeds(config),
        lr: p.lr,
        batch_size: p.batch_size,
        max_epochs: p.epochs,
        patience: (p.patience > 0).then_some(p.patience),
        control: p.control,
        control_seed: config.study.seed,
        ..ProbeConfig::default()
    }
}

/// Word type of every unit of a split (control task), in unit order.
fn unit_types(split: &Split) -> Result<Vec<String>> {
    split
        .units
        .iter()
        .map(|u| match &u.target {
            Target::Token(i) => Ok(split.sentences[u.sentence].words[*i].to_lowercase()),
            other => bail!(
                "[probe] control needs word units (token tasks); this task has {} units",
                other.kind().name()
            ),
        })
        .collect()
}

fn run_probe(config: &Config, model: &ModelRef, layer: usize, display: &Display) -> Result<Value> {
    let out = &config.study.out;
    let labels = label_list(out)?;
    let sets = cio::SPLITS
        .iter()
        .map(|s| load_layer(out, &model.name(), s, layer, &labels))
        .collect::<Result<Vec<_>>>()?;
    let cfg = probe_config(config);
    let types = if cfg.control {
        let task = read_task(out)?;
        Some([
            unit_types(&task.train)?,
            unit_types(&task.dev)?,
            unit_types(&task.test)?,
        ])
    } else {
        None
    };
    display.message(format!(
        "{} shapes × {} seeds on {} train vectors",
        cfg.shapes.len(),
        cfg.seeds.len(),
        sets[0].rows
    ));
    let report = train_probes(&sets, types.as_ref(), &cfg)?;
    let path = cio::probe_file(out, &model.name(), layer);
    let dir = path.parent().expect("probe file has a parent");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    report.write_json(&path)?;
    Ok(json!({
        "best_hidden": report.best.hidden,
        "dev_mean": report.best.dev_mean,
        "test_mean": report.best.test_mean,
        "test_std": report.best.test_std,
    }))
}

/// Trains the probe family `cfg` on train/dev/test vectors (`sets` in that order), with word
/// types per split for the control task.
pub fn train_probes(
    sets: &[LabelledVectors],
    types: Option<&[Vec<String>; 3]>,
    cfg: &ProbeConfig,
) -> Result<probe::ProbeReport> {
    ensure!(sets.len() == 3, "probes need train, dev and test vectors");
    let xs = sets
        .iter()
        .map(|s| probe::matrix(&s.data, s.rows, s.dim))
        .collect::<Result<Vec<_>>>()?;
    let split = |k: usize| probe::Split {
        x: &xs[k],
        labels: &sets[k].labels,
        types: types.map(|t| t[k].as_slice()),
    };
    let input = ProbeInput {
        train: split(0),
        dev: split(1),
        test: Some(split(2)),
        curves: Vec::new(),
    };
    probe::run(&input, cfg)
}

// ---------------------------------------------------------------- DirectProbe

/// The DirectProbe settings a config resolves to (shared with the compare stage, which
/// reuses the stored result only when they match).
pub fn directprobe_settings(config: &Config) -> DirectProbeSettings {
    DirectProbeSettings {
        min_cluster_size: config.directprobe.min_cluster_size,
        max_units: config.directprobe.max_units,
        seed: config.study.seed,
    }
}

fn run_directprobe(
    config: &Config,
    model: &ModelRef,
    split: &str,
    layer: usize,
    display: &Display,
) -> Result<Value> {
    let out = &config.study.out;
    let labels = label_list(out)?;
    let v = load_layer(out, &model.name(), split, layer, &labels)?;
    let settings = directprobe_settings(config);
    display.message(format!(
        "{} of {} {split} units",
        settings.max_units.map_or(v.rows, |c| c.min(v.rows)),
        v.rows
    ));
    let (summary, clustering, metrics, rows) = cdp::run(&v, &labels, settings)
        .with_context(|| format!("DirectProbe on {} {split} layer {layer}", model.name()))?;
    let dir = cio::directprobe_dir(out, &model.name(), split, layer);
    // Written whole into a temporary directory, then renamed into place.
    write_dir_atomic(&dir, |tmp| {
        cdp::write_artifacts(tmp, &summary, &clustering, &metrics, &rows)
    })?;
    Ok(json!({
        "rows_used": summary.rows_used,
        "n_clusters": summary.n_clusters,
        "n_labels": summary.n_labels,
        "linear": summary.linear,
    }))
}

// ---------------------------------------------------------------- compare and report

/// The comparison settings a config resolves to.
pub fn compare_options(config: &Config, layers: &[usize]) -> CompareOptions {
    CompareOptions {
        layers: Some(layers.to_vec()),
        directprobe: directprobe_settings(config),
        probe: config.probe.enabled.then(|| probe_config(config)),
        rsa: RsaOptions {
            sample: config.compare.rsa_sample,
            seed: config.study.seed,
            ..RsaOptions::default()
        },
        similarity_max_units: (config.compare.similarity_units > 0)
            .then_some(config.compare.similarity_units),
        seed: config.study.seed,
        ..CompareOptions::default()
    }
}

fn run_compare(config: &Config, stage: &Planned, display: &Display) -> Result<Value> {
    display.message("label distances, movement, similarity indices");
    let (results, work) = tunescope_compare::compare_and_write(
        &config.study.out,
        &compare_options(config, &stage.layers),
    )?;
    Ok(json!({
        "layers": results.layers,
        "directprobe_computed": work.directprobe_computed,
        "probes_trained": work.probes_trained,
    }))
}

/// The report's data: Table A and the analyses from `compare/`, with the study's settings
/// and stage keys.
pub fn report_data(config: &Config, keys: &[(String, String)]) -> Result<ReportData> {
    let out = &config.study.out;
    let results = CompareResults::read(&out.join("compare"))?;
    let path = Path::new(&config.model.path);
    let mut model = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.model.path.clone());
    if let Ok(family) = tunescope_model::encoder::Family::of_dir(path) {
        model = format!("{model} ({family})");
    }
    let (table_a, mut run) =
        tunescope_compare::report_sections(&results, config.data.task.name(), &model);
    if let Some(l) = &mut run.layers {
        super::seeds::add_bands(out, l)?;
    }
    run.dynamics = ex::dynamics_report(out)?;
    run.memorisation = ex::memorisation_report(out)?;
    let toml_text = toml::to_string(config).context("serialising the config")?;
    Ok(ReportData {
        title: format!("tunescope study `{}`", config.study.name),
        study: Some(StudyInfo {
            settings: flatten_settings(&serde_json::to_value(config)?),
            hashes: keys
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            config_toml: Some(toml_text),
        }),
        table_a,
        cross_task: ex::cross_task_report(config)?,
        runs: vec![run],
    })
}

fn flatten_settings(v: &Value) -> Vec<KeyValue> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<KeyValue>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            other => out.push(KeyValue {
                key: prefix.to_string(),
                value: match other {
                    Value::String(s) => s.clone(),
                    x => x.to_string(),
                },
            }),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

fn run_report(config: &Config, stage: &Planned) -> Result<Value> {
    let keys: Vec<(String, String)> = stage
        .inputs
        .get("stages")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let data = report_data(config, &keys)?;
    let summary = tunescope_report::render(&data, &config.study.out.join("report"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json!({"index": summary.index, "figures": summary.figure_count}))
}
