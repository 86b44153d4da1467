//! The data stage: reads the corpus as configured into `data/task.json` and
//! `data/{train,dev,test}.jsonl`, and reads it back for the later stages.

use tunescope_data::rundir::{file_in, RunDir};

use anyhow::{ensure, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tunescope_data::fs::{replace_dir, write_atomic};
use tunescope_data::{Sentence, Split, Target, Task, Unit, UnitKind};

use crate::config::{Config, Data};

/// What the data stage reads (besides the contents of the data files, keyed by their hashes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The `[data]` section (or a cross-task entry's).
    pub data: Data,
    /// Seed of the split and the sentence sample (`study.seed`).
    pub seed: u64,
}

/// The data settings of `config`.
pub fn settings(config: &Config) -> Settings {
    Settings {
        data: config.data.clone(),
        seed: config.study.seed,
    }
}

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

/// Runs the data stage into `out/data/` (the study's, or a cross-task entry's).
pub fn run(s: &Settings, out: &RunDir) -> Result<Value> {
    let task = s.data.load_task(s.seed)?;
    std::fs::create_dir_all(out.root())
        .with_context(|| format!("cannot create {}", out.root().display()))?;
    let dir = out.data();
    replace_dir::<anyhow::Error>(&dir, |tmp| {
        let header = TaskHeader {
            name: task.name.clone(),
            unit_kind: task.unit_kind,
            labels: task.labels.clone(),
        };
        write_atomic(
            &file_in(tmp, &out.task_header()),
            &serde_json::to_vec_pretty(&header)?,
        )?;
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
            write_atomic(&file_in(tmp, &out.data_split(name)), &buf)?;
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
pub fn read_task(out: &RunDir) -> Result<Task> {
    let hp = out.task_header();
    let header: TaskHeader = serde_json::from_slice(
        &std::fs::read(&hp).with_context(|| format!("cannot read {}", hp.display()))?,
    )
    .with_context(|| format!("{} is malformed", hp.display()))?;
    let mut splits = Vec::new();
    for name in tunescope_data::SPLIT_NAMES {
        let p = out.data_split(name);
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
