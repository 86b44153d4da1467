//! The cache-key contract: a stage's key is the hash of exactly its settings and its inputs'
//! keys. Every field of every stage's settings changes that stage's key and its dependents'
//! and no other key; every config field reaches some stage's settings, except the few that
//! cannot change a result (listed below).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use tunescope_data::rundir::RunDir;

use super::hash::HashCache;
use super::manifest::{Manifest, StageRecord, Status};
use super::plan::{self, key_of, Planned};
use crate::config::Config;

/// Config fields no stage keys besides the report (which lists the whole config): they cannot
/// change a result. The geometry stages' thread count and the study's name (the report's
/// title). `study.out` and `study.cache` (where results go) reach no key either; they are not
/// checked here because another run directory holds no finished stages to compare.
const UNKEYED: &[&str] = &["directprobe.threads", "study.name"];

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-keys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    for (name, n) in [("train", 12), ("dev", 4), ("test", 4)] {
        let line = r#"{"tokens": ["the", "dog", "sat"], "tags": ["DET", "NOUN", "VERB"]}"#;
        std::fs::write(
            d.join(format!("{name}.jsonl")),
            format!("{line}\n").repeat(n),
        )
        .unwrap();
        let line = r#"{"text": "the dog sat", "label": "short"}"#;
        std::fs::write(
            d.join(format!("s-{name}.jsonl")),
            format!("{line}\n").repeat(n),
        )
        .unwrap();
    }
    d
}

fn config(dir: &Path) -> Config {
    let model =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny-bert/model");
    let text = format!(
        r#"[study]
name = "keys"
out = "{d}/run"
[data]
format = "jsonl"
task = "tagging"
train = "{d}/train.jsonl"
dev = "{d}/dev.jsonl"
test = "{d}/test.jsonl"
[model]
path = "{m}"
layers = [1, 2]
[finetune]
checkpoint_every = 3
seeds = 2
[directprobe]
max_units = 50
[memorisation]
epochs = 3
[dynamics]
path_labels = ["NOUN"]
[[arms]]
name = "lora"
[arms.finetune]
method = "lora"
lora_r = 4

[[cross_task]]
name = "len"
[cross_task.data]
format = "jsonl"
task = "classification"
train = "{d}/s-train.jsonl"
dev = "{d}/s-dev.jsonl"
test = "{d}/s-test.jsonl"
"#,
        d = dir.display(),
        m = model.display()
    );
    Config::from_toml(&text, "keys", &[]).unwrap()
}

/// A manifest in which every planned stage finished, with its outputs and two checkpoints per
/// replicate on disk, so the plan also holds the stages known only after fine-tuning.
fn finished(config: &Config) -> Manifest {
    let out = &config.study.out;
    let mut m = Manifest {
        manifest_version: super::manifest::MANIFEST_VERSION,
        tool: "tunescope".into(),
        versions: BTreeMap::new(),
        study: config.study.name.clone(),
        config: Value::Null,
        seeds: Value::Null,
        stages: BTreeMap::new(),
    };
    for _ in 0..3 {
        for p in plan::build(config, Some(&m), &mut HashCache::in_memory()).unwrap() {
            if p.key.is_empty() {
                continue;
            }
            for o in &p.outputs {
                std::fs::create_dir_all(out.join(o)).unwrap();
            }
            if matches!(p.kind, plan::Kind::Finetune(_)) {
                for u in [3, 6] {
                    std::fs::create_dir_all(RunDir::new(&p.dir).checkpoint(u)).unwrap();
                }
            }
            m.stages.insert(
                p.id.clone(),
                StageRecord {
                    key: p.key.clone(),
                    status: Status::Done,
                    inputs: p.inputs.clone(),
                    outputs: p.outputs.clone(),
                    seconds: 0.0,
                    summary: Value::Null,
                    error: None,
                },
            );
        }
    }
    m
}

fn keys(plan: &[Planned]) -> BTreeMap<String, String> {
    plan.iter().map(|p| (p.id.clone(), p.key.clone())).collect()
}

fn upstream(p: &Planned) -> Vec<String> {
    p.upstream_keys().into_iter().map(|(id, _)| id).collect()
}

/// `seed` and every stage that reads (transitively) from one of them.
fn with_dependents(plan: &[Planned], seed: BTreeSet<String>) -> BTreeSet<String> {
    let mut all = seed;
    for p in plan {
        if upstream(p).iter().any(|u| all.contains(u)) {
            all.insert(p.id.clone());
        }
    }
    all
}

/// Every leaf of a JSON value, as (path, value).
fn leaves(v: &Value, prefix: &str, out: &mut Vec<(String, Value)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match v {
        Value::Object(m) if !m.is_empty() => m.iter().for_each(|(k, x)| leaves(x, &join(k), out)),
        Value::Array(a) if !a.is_empty() => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| leaves(x, &join(&i.to_string()), out)),
        other => out.push((prefix.to_string(), other.clone())),
    }
}

fn pointer(path: &str) -> String {
    format!("/{}", path.replace('.', "/"))
}

/// Other values to try for a leaf, the first that makes a valid config wins.
fn mutations(v: &Value) -> Vec<Value> {
    match v {
        Value::Bool(b) => vec![Value::Bool(!b)],
        Value::Number(n) if n.is_u64() => {
            let u = n.as_u64().unwrap();
            let mut v = vec![(u + 1).into()];
            if u > 0 {
                v.push((u - 1).into());
            }
            v
        }
        Value::Number(n) => {
            let x = n.as_f64().unwrap();
            vec![(x * 0.5).into(), (x + 0.05).into(), (x - 0.05).into()]
        }
        Value::String(s) => [
            "first", "last", "mean", "cls", "cpu", "cuda", "all", "zero", "drop", "lora", "full",
        ]
        .iter()
        .filter(|c| **c != s)
        .map(|c| Value::from(*c))
        .chain([Value::from(format!("{s}x"))])
        .collect(),
        Value::Null => vec![7.into(), serde_json::json!([4]), "x".into()],
        Value::Array(_) => vec![serde_json::json!(["VERB"]), serde_json::json!([0.5])],
        Value::Object(_) => vec![],
    }
}

#[test]
fn every_settings_field_keys_its_stage_and_dependents_only() {
    let dir = scratch("settings");
    let config = config(&dir);
    let manifest = finished(&config);
    let plan = plan::build(&config, Some(&manifest), &mut HashCache::in_memory()).unwrap();
    assert!(
        plan.iter().all(|p| !p.key.is_empty()),
        "every stage planned with a key"
    );
    for kind in [
        "data",
        "finetune",
        "extract/ckpt-6",
        "probe/",
        "mdl/",
        "directprobe/",
        "similarity/",
        "compare",
        "examples",
        "dynamics",
        "memorisation",
        "cross/len/data",
        "cross/len/finetune",
        "cross/len",
        "seed-43/",
        "seeds",
        "weights",
        "arm-lora/finetune",
        "arm-lora/compare",
        "arm-lora/weights",
        "report",
    ] {
        assert!(
            plan.iter().any(|p| p.id.starts_with(kind)),
            "no {kind} stage"
        );
    }
    let base = keys(&plan);
    let mut fields = 0;
    for (i, stage) in plan.iter().enumerate() {
        let mut settings = Vec::new();
        leaves(&stage.inputs["settings"], "", &mut settings);
        assert!(!settings.is_empty(), "{} has no settings", stage.id);
        for (path, value) in settings {
            let changed = mutations(&value)
                .into_iter()
                .find(|m| *m != value)
                .unwrap_or_else(|| panic!("{}: {path}: no mutation", stage.id));
            // Recompute every key in plan order with this one field changed.
            let mut new: BTreeMap<String, String> = BTreeMap::new();
            for (j, p) in plan.iter().enumerate() {
                let mut inputs = p.inputs.clone();
                if j == i {
                    *inputs["settings"].pointer_mut(&pointer(&path)).unwrap() = changed.clone();
                }
                for (u, k) in inputs["upstream"].as_object_mut().unwrap() {
                    *k = new[u].clone().into();
                }
                new.insert(p.id.clone(), key_of(&p.id, &inputs));
            }
            let differs: BTreeSet<String> = new
                .iter()
                .filter(|(id, k)| base[*id] != **k)
                .map(|(id, _)| id.clone())
                .collect();
            let expected = with_dependents(&plan, [stage.id.clone()].into());
            assert_eq!(differs, expected, "{}: settings.{path}", stage.id);
            fields += 1;
        }
    }
    assert!(fields > 500, "{fields} fields");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn every_config_field_reaches_the_stages_that_read_it() {
    let dir = scratch("config");
    let config = config(&dir);
    let manifest = finished(&config);
    let plan = plan::build(&config, Some(&manifest), &mut HashCache::in_memory()).unwrap();
    let base = keys(&plan);
    let by_id: BTreeMap<&str, &Planned> = plan.iter().map(|p| (p.id.as_str(), p)).collect();
    let json = serde_json::to_value(&config).unwrap();
    let mut fields = Vec::new();
    leaves(&json, "", &mut fields);
    let mut unkeyed = Vec::new();
    for (path, value) in &fields {
        let mut tried = None;
        for m in mutations(value).into_iter().filter(|m| m != value) {
            let mut j = json.clone();
            *j.pointer_mut(&pointer(path)).unwrap() = m;
            let Ok(mut c) = serde_json::from_value::<Config>(j) else {
                continue;
            };
            if c.validate().is_err() {
                continue;
            }
            // A fine-tuning setting that breaks the memorisation premise (a training subset, a
            // frozen encoder) is planned without that experiment.
            if c.finetuning_misses_training_units().is_some() {
                c.memorisation.enabled = false;
            }
            let Ok(p) = plan::build(&c, Some(&manifest), &mut HashCache::in_memory()) else {
                continue;
            };
            tried = Some(p);
            break;
        }
        let Some(new) = tried else {
            // Paths and names with no other valid value (the files must exist), and the split
            // fractions, which must sum to 1 (keyed with the whole `[data]` section).
            // `freeze_layers` is valid only with `method = "freeze"`, and `freeze_encoder`
            // (head only) not with the LoRA arm, which inherits it (both settings fields are
            // mutated in the test above).
            assert!(
                path.contains("path")
                    || path.ends_with("_fraction")
                    || path.ends_with("freeze_layers")
                    || path == "finetune.freeze_encoder"
                    || ["train", "dev", "test", "format", "task"]
                        .iter()
                        .any(|k| path.ends_with(k)),
                "{path}: no valid mutation"
            );
            continue;
        };
        // Stages known only after fine-tuning (no key yet) are left out of the comparison.
        let keyed: Vec<&Planned> = new.iter().filter(|p| !p.key.is_empty()).collect();
        // Stages whose own inputs changed, and everything downstream of them.
        let direct: BTreeSet<String> = keyed
            .iter()
            .filter(|p| {
                by_id.get(p.id.as_str()).is_none_or(|old| {
                    old.inputs["settings"] != p.inputs["settings"]
                        || old.inputs["external"] != p.inputs["external"]
                        || upstream(old) != upstream(p)
                })
            })
            .map(|p| p.id.clone())
            .collect();
        let expected = with_dependents(&new, direct.clone());
        let changed: BTreeSet<String> = keyed
            .iter()
            .filter(|p| base.get(&p.id) != Some(&p.key))
            .map(|p| p.id.clone())
            .collect();
        assert_eq!(changed, expected, "{path}");
        let dropped = plan.iter().any(|p| !new.iter().any(|q| q.id == p.id));
        if direct.iter().all(|id| id == "report") && !dropped {
            unkeyed.push(path.clone());
        }
    }
    unkeyed.sort();
    assert_eq!(
        unkeyed, UNKEYED,
        "config fields no stage but the report keys"
    );
    // The issue's example: the DirectProbe row cap re-keys every DirectProbe stage.
    let mut c = config.clone();
    c.directprobe.max_units = Some(49);
    let new = keys(&plan::build(&c, Some(&manifest), &mut HashCache::in_memory()).unwrap());
    for id in base.keys().filter(|id| id.contains("directprobe/")) {
        assert_ne!(base[id], new[id], "{id}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
