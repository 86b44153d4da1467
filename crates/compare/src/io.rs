//! Run-directory layout of the inputs (`reps/<model>/<split>/`), reading them with errors that
//! name the file, and atomic writing of outputs.

use crate::analysis::LabelledVectors;
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use tunescope_data::npy;

/// The pre-trained encoder's directory name under `reps/`, `probe/` and `directprobe/`.
pub const PRETRAINED: &str = "pretrained";
/// The fine-tuned encoder's directory name.
pub const FINETUNED: &str = "finetuned";
/// The splits, in order.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

/// `reps/<model>/<split>/`.
pub fn reps_dir(run: &Path, model: &str, split: &str) -> PathBuf {
    run.join("reps").join(model).join(split)
}

/// `reps/<model>/<split>/layer-<k>.npy`.
pub fn layer_file(run: &Path, model: &str, split: &str, layer: usize) -> PathBuf {
    reps_dir(run, model, split).join(format!("layer-{layer}.npy"))
}

/// `probe/<model>/layer-<k>.json`.
pub fn probe_file(run: &Path, model: &str, layer: usize) -> PathBuf {
    run.join("probe")
        .join(model)
        .join(format!("layer-{layer}.json"))
}

/// `directprobe/<model>/<split>/layer-<k>/`.
pub fn directprobe_dir(run: &Path, model: &str, split: &str, layer: usize) -> PathBuf {
    run.join("directprobe")
        .join(model)
        .join(split)
        .join(format!("layer-{layer}"))
}

/// Layers with a `layer-<k>.npy` in `dir`, ascending.
pub fn layers_in(dir: &Path) -> Result<Vec<usize>> {
    let mut out = BTreeSet::new();
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for e in entries {
        let name = e?.file_name();
        let name = name.to_string_lossy();
        if let Some(k) = name
            .strip_prefix("layer-")
            .and_then(|r| r.strip_suffix(".npy"))
            .and_then(|k| k.parse().ok())
        {
            out.insert(k);
        }
    }
    Ok(out.into_iter().collect())
}

/// Label names of a split's units, one per row: `labels.txt` (one label per line).
pub fn read_label_names(dir: &Path) -> Result<Vec<String>> {
    tunescope_data::read_lines(&dir.join("labels.txt"), "label")
}

/// Reads `layer-<k>.npy` of a split as labelled vectors; `names` are the split's row labels and
/// `labels` the sorted label list they index into.
pub fn read_layer(path: &Path, names: &[String], labels: &[String]) -> Result<LabelledVectors> {
    let m = npy::read_f32_matrix(path)?;
    ensure!(
        m.shape[1] > 0,
        "{}: expected a float matrix [units, dim] with dim > 0, found shape {:?}",
        path.display(),
        m.shape
    );
    let data = m.data;
    let (rows, dim) = (m.shape[0], m.shape[1]);
    ensure!(
        rows == names.len(),
        "{}: {rows} vectors but the split's labels.txt has {} labels",
        path.display(),
        names.len()
    );
    if let Some(k) = data.iter().position(|v| !v.is_finite()) {
        bail!(
            "{}: row {} has a non-finite value in column {}",
            path.display(),
            k / dim,
            k % dim
        );
    }
    let labels = names
        .iter()
        .map(|n| {
            labels
                .binary_search(n)
                .expect("label list built from every split's labels")
        })
        .collect();
    Ok(LabelledVectors {
        data,
        rows,
        dim,
        labels,
    })
}

/// The sorted label list the comparisons index into: every label of the pre-trained
/// representations' `labels.txt` over the three splits (as `tunescope compare` builds it).
pub fn label_list(run: &Path) -> Result<Vec<String>> {
    let mut all = BTreeSet::new();
    for split in SPLITS {
        all.extend(read_label_names(&reps_dir(run, PRETRAINED, split))?);
    }
    Ok(all.into_iter().collect())
}

/// One split's vectors at one layer, labels indexing `labels`.
pub fn load_layer(
    run: &Path,
    model: &str,
    split: &str,
    layer: usize,
    labels: &[String],
) -> Result<LabelledVectors> {
    let names = read_label_names(&reps_dir(run, model, split))?;
    read_layer(&layer_file(run, model, split, layer), &names, labels)
}
