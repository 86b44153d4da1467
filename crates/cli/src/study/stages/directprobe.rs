//! The DirectProbe stage: exact clustering of one split at one layer of one encoder, into
//! `directprobe/<model>/<split>/layer-<k>/`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::dp::{self as cdp, DirectProbeSettings, DirectProbeSummary};
use tunescope_data::fs::replace_dir;

use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::io::{label_list, load_layer};
use tunescope_data::rundir::{ModelRef, RunDir, PRETRAINED};
use tunescope_model::finetune::Method;

/// The splits DirectProbe clusters (train for Table A, test for the train/test similarity).
pub const SPLITS: [&str; 2] = ["train", "test"];

/// What the DirectProbe stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `train` or `test`.
    pub split: String,
    /// Hidden-state index.
    pub layer: usize,
    /// Size filter, row cap and sample seed.
    pub directprobe: DirectProbeSettings,
}

/// The DirectProbe settings of `config` on `split` at `layer`.
pub fn settings(config: &Config, split: &str, layer: usize) -> Settings {
    Settings {
        split: split.to_string(),
        layer,
        directprobe: directprobe_settings(config),
    }
}

/// The DirectProbe settings a config resolves to (shared with the compare stage, which
/// reuses the stored result only when they match).
pub fn directprobe_settings(config: &Config) -> DirectProbeSettings {
    DirectProbeSettings {
        min_cluster_size: config.directprobe.min_cluster_size,
        max_units: config.directprobe.max_units,
        seed: config.study.seed,
    }
}

/// Id of the pre-trained encoder's DirectProbe stage on `split` at `layer`.
pub fn pretrained_id(split: &str, layer: usize) -> String {
    format!("directprobe/{PRETRAINED}/{split}/layer-{layer}")
}

/// Whether fine-tuning under `config` can leave hidden state `layer` exactly as the pre-trained
/// encoder computes it: a frozen encoder, LoRA (whose adapters sit on linear layers, so the
/// embeddings' output, hidden state 0, is untouched) and `method = "freeze"` up to its frozen
/// layers. Only then does a fine-tuned DirectProbe stage read (and is keyed by) the pre-trained
/// one, whose result it takes when the vectors turn out identical ([`run`]).
pub fn may_equal_pretrained(config: &Config, layer: usize) -> bool {
    let f = &config.finetune;
    f.freeze_encoder
        || match f.method {
            Method::Full => false,
            Method::Lora => layer == 0,
            Method::Freeze => layer <= f.freeze_layers,
        }
}

/// Runs DirectProbe on `model`'s vectors of the settings' split and layer, into
/// `out/directprobe/<model>/<split>/layer-<k>/`. With `reuse` (the stage reads the
/// pre-trained stage of the same split and layer, [`may_equal_pretrained`]), vectors and labels
/// identical bit for bit to the pre-trained encoder's take that stage's files as they are: the
/// same input gives the same result, without clustering again.
pub fn run(
    s: &Settings,
    out: &RunDir,
    model: &ModelRef,
    reuse: bool,
    display: &Display,
) -> Result<Value> {
    let (split, layer) = (s.split.as_str(), s.layer);
    let labels = label_list(out)?;
    let v = load_layer(out, &model.name(), split, layer, &labels)?;
    let settings = s.directprobe;
    let dir = out.directprobe_dir(&model.name(), split, layer);
    if reuse && *model != ModelRef::Pretrained {
        let pre_dir = out.directprobe_dir(PRETRAINED, split, layer);
        if let Some(summary) = pretrained_result(out, &pre_dir, &v, &labels, s)? {
            display.message(format!(
                "{} {split} layer {layer}: the pre-trained vectors, bit for bit; its DirectProbe \
                 result reused",
                model.name()
            ));
            replace_dir::<anyhow::Error>(&dir, |tmp| copy_files(&pre_dir, tmp))?;
            let mut value = summary_value(&summary);
            value["reused"] = json!(pretrained_id(split, layer));
            return Ok(value);
        }
    }
    display.message(format!(
        "{} of {} {split} units",
        settings.max_units.map_or(v.rows, |c| c.min(v.rows)),
        v.rows
    ));
    let (summary, clustering, metrics, rows) = cdp::run(&v, &labels, settings)
        .with_context(|| format!("DirectProbe on {} {split} layer {layer}", model.name()))?;
    // Written whole into a temporary directory, then renamed into place.
    replace_dir::<anyhow::Error>(&dir, |tmp| {
        cdp::write_artifacts(tmp, &summary, &clustering, &metrics, &rows)
    })?;
    Ok(summary_value(&summary))
}

/// The stage's summary in the manifest.
fn summary_value(summary: &DirectProbeSummary) -> Value {
    json!({
        "rows_used": summary.rows_used,
        "n_clusters": summary.n_clusters,
        "n_labels": summary.n_labels,
        "linear": summary.linear,
    })
}

/// The pre-trained stage's summary in `pre_dir` when `v` holds exactly the pre-trained vectors
/// and labels of the settings' split and layer and that stage ran with the same DirectProbe
/// settings; `None` otherwise.
fn pretrained_result(
    out: &RunDir,
    pre_dir: &Path,
    v: &LabelledVectors,
    labels: &[String],
    s: &Settings,
) -> Result<Option<DirectProbeSummary>> {
    let pre = load_layer(out, PRETRAINED, &s.split, s.layer, labels)?;
    let same = pre.rows == v.rows
        && pre.dim == v.dim
        && pre.labels == v.labels
        && pre
            .data
            .iter()
            .zip(&v.data)
            .all(|(a, b)| a.to_bits() == b.to_bits());
    if !same {
        return Ok(None);
    }
    cdp::load_summary(pre_dir, labels, v.rows, &s.directprobe)
}

/// Copies every file of `from` into `to` (a DirectProbe directory has no subdirectories).
fn copy_files(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for e in std::fs::read_dir(from).with_context(|| format!("listing {}", from.display()))? {
        let path = e?.path();
        if path.is_file() {
            let name = path.file_name().expect("a listed file has a name");
            std::fs::copy(&path, to.join(name))
                .with_context(|| format!("copying {}", path.display()))?;
        }
    }
    Ok(())
}
