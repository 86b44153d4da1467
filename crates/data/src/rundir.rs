//! The run directory of a study (`docs/study.md`, "Stages"): [`RunDir`] names every path in it —
//! the stages' outputs, the branches (seed replicates, arms, cross-task entries) that are run
//! directories of their own, and the study's bookkeeping files. Files inside an output directory
//! (a DirectProbe result's `clusters.txt`, `compare/table_a.csv`, …) are named by the module that
//! writes them. [`ModelRef`] names a representation source; [`read_json`] reads a stage's JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;

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

/// The pre-trained encoder's directory name under `reps/`, `probe/` and `directprobe/`.
pub const PRETRAINED: &str = "pretrained";
/// The fine-tuned encoder's directory name.
pub const FINETUNED: &str = "finetuned";

impl ModelRef {
    /// Directory name under `reps/`, `probe/`, `directprobe/`, `mdl/`.
    pub fn name(&self) -> String {
        match self {
            ModelRef::Pretrained => PRETRAINED.into(),
            ModelRef::Finetuned => FINETUNED.into(),
            ModelRef::Checkpoint(u) => format!("ckpt-{u}"),
        }
    }

    /// The encoder directory in the run directory `run` (`pretrained`: the pre-trained encoder).
    pub fn dir(&self, run: &RunDir, pretrained: &Path) -> PathBuf {
        match self {
            ModelRef::Pretrained => pretrained.to_path_buf(),
            ModelRef::Finetuned => run.finetuned(),
            ModelRef::Checkpoint(u) => run.checkpoint(*u),
        }
    }
}

/// A run directory: the study's own, a seed replicate's, an arm's or a cross-task entry's. Every
/// path a stage reads or writes in it comes from one method here. `RunDir::new("")` gives the
/// paths relative to the run directory (the plan's outputs, the manifest).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        RunDir { root: root.into() }
    }

    /// The layout itself: every path relative to the run directory.
    pub fn relative() -> Self {
        RunDir::default()
    }

    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn at(&self, rel: impl AsRef<Path>) -> PathBuf {
        self.root.join(rel)
    }

    /// `manifest.json`: every stage's key, status, outputs and time.
    pub fn manifest(&self) -> PathBuf {
        self.at("manifest.json")
    }

    /// `.cache/file-hashes.json`: content hashes of external inputs by path, size and time.
    pub fn hash_cache(&self) -> PathBuf {
        self.at(".cache").join("file-hashes.json")
    }

    /// `data/`: the task as the data stage read it.
    pub fn data(&self) -> PathBuf {
        self.at("data")
    }

    /// `data/task.json`: name, unit kind and label list.
    pub fn task_header(&self) -> PathBuf {
        self.data().join("task.json")
    }

    /// `data/<split>.jsonl`: one sentence with its units per line.
    pub fn data_split(&self, split: &str) -> PathBuf {
        self.data().join(format!("{split}.jsonl"))
    }

    /// `models/`: the fine-tuned encoder, its checkpoints and (LoRA) adapter.
    pub fn models(&self) -> PathBuf {
        self.at("models")
    }

    /// `models/finetuned/`: the fine-tuned encoder with its head.
    pub fn finetuned(&self) -> PathBuf {
        self.models().join(FINETUNED)
    }

    /// `models/adapter/`: a LoRA run's adapter in PEFT's layout.
    pub fn adapter(&self) -> PathBuf {
        self.models().join("adapter")
    }

    /// `models/ckpt-<update>/`: the encoder after `update` updates.
    pub fn checkpoint(&self, update: u64) -> PathBuf {
        self.models().join(ModelRef::Checkpoint(update).name())
    }

    /// Checkpoints fine-tuning wrote, ascending by update.
    pub fn checkpoints(&self) -> Result<Vec<u64>> {
        let dir = self.models();
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

    /// `finetune.json`: fine-tuning's outcome (accuracies, best update, time).
    pub fn finetune_outcome(&self) -> PathBuf {
        self.at("finetune.json")
    }

    /// `finetune_config.json`: the fine-tuning job's settings.
    pub fn finetune_config(&self) -> PathBuf {
        self.at("finetune_config.json")
    }

    /// `train_log.jsonl`: fine-tuning's progress and evaluations.
    pub fn train_log(&self) -> PathBuf {
        self.at("train_log.jsonl")
    }

    /// `finetune-state/`: the state an interrupted fine-tuning resumes from.
    pub fn finetune_state(&self) -> PathBuf {
        self.at("finetune-state")
    }

    /// `reps/<model>/`: one encoder's unit vectors.
    pub fn reps(&self, model: &str) -> PathBuf {
        self.at("reps").join(model)
    }

    /// `reps/<model>/<split>/`: one split's vectors (`layer-<k>.npy`, `labels.txt`, …).
    pub fn reps_split(&self, model: &str, split: &str) -> PathBuf {
        self.reps(model).join(split)
    }

    /// `reps/<model>/<split>/layer-<k>.npy`.
    pub fn layer_file(&self, model: &str, split: &str, layer: usize) -> PathBuf {
        self.reps_split(model, split)
            .join(format!("layer-{layer}.npy"))
    }

    /// `probe/<model>/`: one encoder's classifier probes.
    pub fn probe_dir(&self, model: &str) -> PathBuf {
        self.at("probe").join(model)
    }

    /// `probe/<model>/layer-<k>.json`: the classifier probes of one layer.
    pub fn probe_file(&self, model: &str, layer: usize) -> PathBuf {
        self.probe_dir(model).join(format!("layer-{layer}.json"))
    }

    /// `directprobe/<model>/`: one encoder's DirectProbe results.
    pub fn directprobe_model(&self, model: &str) -> PathBuf {
        self.at("directprobe").join(model)
    }

    /// `directprobe/<model>/<split>/layer-<k>/`: DirectProbe on one split of one layer.
    pub fn directprobe_dir(&self, model: &str, split: &str, layer: usize) -> PathBuf {
        self.directprobe_model(model)
            .join(split)
            .join(format!("layer-{layer}"))
    }

    /// `mdl/<model>/`: one encoder's MDL probes.
    pub fn mdl_dir(&self, model: &str) -> PathBuf {
        self.at("mdl").join(model)
    }

    /// `mdl/<model>/layer-<k>.json`: the MDL probe of one layer.
    pub fn mdl_file(&self, model: &str, layer: usize) -> PathBuf {
        self.mdl_dir(model).join(format!("layer-{layer}.json"))
    }

    /// `similarity/layer-<k>.json`: the similarity indices of one layer.
    pub fn similarity_file(&self, layer: usize) -> PathBuf {
        self.at("similarity").join(format!("layer-{layer}.json"))
    }

    /// `compare/`: Table A and the comparisons.
    pub fn compare(&self) -> PathBuf {
        self.at("compare")
    }

    /// `compare/examples.csv`: the per-example view, every unit.
    pub fn examples_csv(&self) -> PathBuf {
        self.compare().join("examples.csv")
    }

    /// `compare/examples.json`: the per-example view's counts and samples.
    pub fn examples_json(&self) -> PathBuf {
        self.compare().join("examples.json")
    }

    /// `experiments/dynamics/`.
    pub fn dynamics(&self) -> PathBuf {
        self.at("experiments").join("dynamics")
    }

    /// `experiments/memorisation/`.
    pub fn memorisation(&self) -> PathBuf {
        self.at("experiments").join("memorisation")
    }

    /// `weights/`: the weight-space view (`weights.json`, `weights.csv`).
    pub fn weights(&self) -> PathBuf {
        self.at("weights")
    }

    /// `weights/weights.json`.
    pub fn weights_json(&self) -> PathBuf {
        self.weights().join("weights.json")
    }

    /// `weights/weights.csv`.
    pub fn weights_csv(&self) -> PathBuf {
        self.weights().join("weights.csv")
    }

    /// `cross/<name>/`: the run directory of cross-task entry `name` (its data and fine-tuning).
    pub fn cross(&self, name: &str) -> RunDir {
        RunDir::new(self.at("cross").join(name))
    }

    /// `cross/<name>/result/`: the entry's table, DirectProbe summaries and vectors.
    pub fn cross_result(&self, name: &str) -> PathBuf {
        self.cross(name).root.join("result")
    }

    /// `seeds/seed-<seed>/`: the run directory of fine-tuning replicate `seed`.
    pub fn replicate(&self, seed: u64) -> RunDir {
        RunDir::new(self.at("seeds").join(format!("seed-{seed}")))
    }

    /// `seeds/summary/`: the statistics over the replicates.
    pub fn seeds_summary(&self) -> PathBuf {
        self.at("seeds").join("summary")
    }

    /// `arms/<name>/`: the run directory of fine-tuning arm `name`.
    pub fn arm(&self, name: &str) -> RunDir {
        RunDir::new(self.at("arms").join(name))
    }

    /// `report/`: the HTML report and its figures.
    pub fn report(&self) -> PathBuf {
        self.at("report")
    }

    /// `report/index.html`.
    pub fn report_index(&self) -> PathBuf {
        self.report().join("index.html")
    }
}

impl AsRef<Path> for RunDir {
    fn as_ref(&self) -> &Path {
        &self.root
    }
}

/// `path`'s file name in `dir`: where an output directory's file goes in the temporary directory
/// that replaces it ([`crate::fs::replace_dir`]).
pub fn file_in(dir: &Path, path: &Path) -> PathBuf {
    dir.join(path.file_name().expect("a file path"))
}

/// Reads a JSON file written by an earlier stage; `Ok(None)` when it does not exist.
pub fn read_json<T: DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    let bytes = match std::fs::read(p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", p.display())),
    };
    let t =
        serde_json::from_slice(&bytes).with_context(|| format!("{} is malformed", p.display()))?;
    Ok(Some(t))
}

/// [`read_json`] of a file that must exist.
pub fn read_required<T: DeserializeOwned>(p: &Path) -> Result<T> {
    read_json(p)?.with_context(|| format!("cannot read {}: it does not exist", p.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// Placeholder values, written back as the docs' `<k>`, `<u>`, `<s>`.
    const K: usize = 987_654_321;
    const U: u64 = 876_543_219;
    const S: u64 = 765_432_198;

    /// Every path [`RunDir`] names, relative and with the docs' placeholders (`<model>`,
    /// `<split>`, `<k>`, `<u>`, `<name>`, `<s>`; `{train,dev,test}` for the data splits).
    fn produced() -> BTreeSet<String> {
        let r = RunDir::relative();
        let (m, s, n) = ("<model>", "<split>", "<name>");
        let paths = [
            r.manifest(),
            r.hash_cache(),
            r.data(),
            r.task_header(),
            r.data_split("{train,dev,test}"),
            r.models(),
            r.finetuned(),
            r.adapter(),
            r.checkpoint(U),
            r.finetune_outcome(),
            r.finetune_config(),
            r.train_log(),
            r.finetune_state(),
            r.reps(m),
            r.reps_split(m, s),
            r.layer_file(m, s, K),
            r.probe_dir(m),
            r.probe_file(m, K),
            r.directprobe_model(m),
            r.directprobe_dir(m, s, K),
            r.mdl_dir(m),
            r.mdl_file(m, K),
            r.similarity_file(K),
            r.compare(),
            r.examples_csv(),
            r.examples_json(),
            r.dynamics(),
            r.memorisation(),
            r.weights(),
            r.weights_json(),
            r.weights_csv(),
            r.cross(n).root().to_path_buf(),
            r.cross_result(n),
            r.replicate(S).root().to_path_buf(),
            r.seeds_summary(),
            r.arm(n).root().to_path_buf(),
            r.report(),
            r.report_index(),
        ];
        paths
            .iter()
            .map(|p| {
                p.to_string_lossy()
                    .replace(&K.to_string(), "<k>")
                    .replace(&U.to_string(), "<u>")
                    .replace(&S.to_string(), "<s>")
            })
            .collect()
    }

    /// The backticked paths of the "writes" column of docs/study.md's stage table, without a
    /// trailing `/`.
    fn documented(docs: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for line in docs.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            let writes = cells.last().expect("a table row").trim_end_matches(" |");
            for (i, tok) in writes.split('`').enumerate() {
                if i % 2 == 1 {
                    out.insert(tok.trim_end_matches('/').to_string());
                }
            }
        }
        out
    }

    fn docs() -> String {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/study.md");
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// docs/study.md lists the run directory RunDir lays out: every path its stage table says a
    /// stage writes is a RunDir path (or lies in one: the report's `figures/`, the files the
    /// extraction writes beside `layer-<k>.npy`), and every RunDir path is documented (in the
    /// table, as a directory holding documented paths, or in the text).
    #[test]
    fn the_documented_layout_is_the_one_rundir_produces() {
        let docs = docs();
        let documented = documented(&docs);
        let produced = produced();
        assert!(
            documented.len() > 20,
            "stage table not found: {documented:?}"
        );
        // Written by the extraction into `reps/<model>/<split>/`, beside `layer-<k>.npy`.
        let beside_layers = ["labels.txt", "labels.npy", "units.jsonl"];
        let undocumented_by_rundir: Vec<&String> = documented
            .iter()
            .filter(|d| !produced.contains(*d))
            .filter(|d| !beside_layers.contains(&d.as_str()))
            .filter(|d| !produced.iter().any(|p| d.starts_with(&format!("{p}/"))))
            .collect();
        assert!(
            undocumented_by_rundir.is_empty(),
            "docs/study.md names paths RunDir does not: {undocumented_by_rundir:?}"
        );
        let not_in_docs: Vec<&String> = produced
            .iter()
            .filter(|p| !documented.contains(*p))
            .filter(|p| !documented.iter().any(|d| d.starts_with(&format!("{p}/"))))
            .filter(|p| !docs.contains(&format!("`{p}`")) && !docs.contains(&format!("`{p}/`")))
            .filter(|p| !docs.contains(&format!("<run>/{p}")))
            .collect();
        assert!(
            not_in_docs.is_empty(),
            "RunDir paths missing from docs/study.md: {not_in_docs:?}"
        );
    }

    /// Outside this module, the code that reads or writes a run directory (the study, compare,
    /// fine-tuning) spells none of its names in a path join: each goes through RunDir. A
    /// textual check of `.join("…")` and `.join(format!("…"))` calls (code before the unit
    /// tests), so a path built another way would escape it.
    #[test]
    fn run_directory_names_are_spelled_only_here() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let dirs = [
            "crates/cli/src",
            "crates/compare/src",
            "crates/model/src/finetune",
        ];
        let names = [
            "data/",
            "data\"",
            "models",
            "reps",
            "probe/",
            "probe\"",
            "directprobe/",
            "directprobe\"",
            "mdl/",
            "mdl\"",
            "similarity/",
            "similarity\"",
            "compare/",
            "compare\"",
            "experiments",
            "cross/",
            "cross\"",
            "seeds/",
            "seeds\"",
            "weights/",
            "weights\"",
            "arms/",
            "arms\"",
            "report/",
            "report\"",
            ".cache",
            "finetune-state",
            "manifest.json\"",
            "finetune.json\"",
            "finetune_config.json\"",
            "train_log.jsonl\"",
        ];
        let mut found = Vec::new();
        let mut stack: Vec<PathBuf> = dirs.iter().map(|d| root.join(d)).collect();
        let mut files = 0;
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                if p.extension().is_none_or(|e| e != "rs") {
                    continue;
                }
                files += 1;
                let text = std::fs::read_to_string(&p).unwrap();
                let code = text.split("#[cfg(test)]").next().unwrap();
                for (i, line) in code.lines().enumerate() {
                    for call in [".join(\"", ".join(format!(\""] {
                        for (at, _) in line.match_indices(call) {
                            let rest = &line[at + call.len()..];
                            if names.iter().any(|n| rest.starts_with(n)) {
                                found.push(format!("{}:{}: {}", p.display(), i + 1, line.trim()));
                            }
                        }
                    }
                }
            }
        }
        assert!(
            files > 50,
            "source files not found under {}",
            root.display()
        );
        assert!(
            found.is_empty(),
            "run-directory paths spelled outside RunDir:\n{}",
            found.join("\n")
        );
    }
}
