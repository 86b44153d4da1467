//! Reading a run directory's representations (`reps/<model>/<split>/`, paths from
//! [`RunDir`]) with errors that name the file.

use crate::analysis::LabelledVectors;
use anyhow::{bail, ensure, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use tunescope_data::npy;
use tunescope_data::rundir::RunDir;

pub use tunescope_data::rundir::{FINETUNED, PRETRAINED};
/// The splits, in order.
pub const SPLITS: [&str; 3] = ["train", "dev", "test"];

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
pub fn label_list(run: &RunDir) -> Result<Vec<String>> {
    let mut all = BTreeSet::new();
    for split in SPLITS {
        all.extend(read_label_names(&run.reps_split(PRETRAINED, split))?);
    }
    Ok(all.into_iter().collect())
}

/// One split's vectors at one layer, labels indexing `labels`.
pub fn load_layer(
    run: &RunDir,
    model: &str,
    split: &str,
    layer: usize,
    labels: &[String],
) -> Result<LabelledVectors> {
    let names = read_label_names(&run.reps_split(model, split))?;
    read_layer(&run.layer_file(model, split, layer), &names, labels)
}
