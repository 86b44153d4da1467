//! The similarity stage: the calibrated similarity (`docs/measures.md`: linear and debiased CKA,
//! mutual k-NN, angular Procrustes, RSA, each with its permutation null) of the pre-trained and
//! fine-tuned vectors of the same sampled test units at one layer, into
//! `similarity/layer-<k>.json`.

use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::analysis::LabelledVectors;
use tunescope_compare::io::{FINETUNED, PRETRAINED};
use tunescope_compare::measures::SimilarityLayer;
use tunescope_data::rundir::RunDir;
use tunescope_geometry::calibrated::{calibrated_similarity, NullSettings};
use tunescope_geometry::linalg::Matrix;
use tunescope_geometry::similarity::{RsaOptions, SimilarityError};
use tunescope_geometry::stats::Rng;

use crate::config::Config;
use crate::study::display::Display;
use tunescope_compare::io::{label_list, load_layer};

/// What the similarity stage reads.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Hidden-state index.
    pub layer: usize,
    /// Split whose units are compared (`test`).
    pub split: String,
    /// Units sampled (seeded, `similarity.units`; 0 = all).
    pub units: usize,
    /// Row permutations per null (`similarity.permutations`).
    pub permutations: usize,
    /// Neighbours of mutual k-NN (`similarity.k`).
    pub k: usize,
    /// RSA's row sample within the units (`compare.rsa_sample`).
    pub rsa_sample: usize,
    /// Seed of the unit sample, RSA's sample and the permutations (`study.seed`).
    pub seed: u64,
}

/// The similarity settings of `config` at `layer`.
pub fn settings(config: &Config, layer: usize) -> Settings {
    let s = &config.similarity;
    Settings {
        layer,
        split: "test".into(),
        units: s.units,
        permutations: s.permutations,
        k: s.k,
        rsa_sample: config.compare.rsa_sample,
        seed: config.study.seed,
    }
}

fn matrix(v: &LabelledVectors, rows: &[usize]) -> Result<Matrix> {
    let data = rows
        .iter()
        .flat_map(|&r| v.row(r).iter().map(|&x| f64::from(x)))
        .collect();
    Matrix::new(rows.len(), v.dim, data).map_err(|e| anyhow::anyhow!("{e}"))
}

/// Runs the calibrated similarity on the run directory `out`, into
/// `out/similarity/layer-<k>.json`.
pub fn run(s: &Settings, out: &RunDir, display: &Display) -> Result<Value> {
    let started = Instant::now();
    let labels = label_list(out)?;
    let a = load_layer(out, PRETRAINED, &s.split, s.layer, &labels)?;
    let b = load_layer(out, FINETUNED, &s.split, s.layer, &labels)?;
    anyhow::ensure!(
        a.rows == b.rows,
        "{} has {} rows but {} has {}: both encoders must describe the same units",
        out.layer_file(PRETRAINED, &s.split, s.layer).display(),
        a.rows,
        out.layer_file(FINETUNED, &s.split, s.layer).display(),
        b.rows
    );
    let rows = if s.units == 0 {
        (0..a.rows).collect()
    } else {
        Rng::new(s.seed).sample_indices(a.rows, s.units)
    };
    display.message(format!(
        "{} of {} {} units, {} permutations",
        rows.len(),
        a.rows,
        s.split,
        s.permutations
    ));
    let null = NullSettings {
        permutations: s.permutations,
        k: s.k,
        seed: s.seed,
        rsa: RsaOptions {
            sample: s.rsa_sample,
            seed: s.seed,
            ..RsaOptions::default()
        },
    };
    // A layer where every sampled unit has the same vector (e.g. `cls` pooling at layer 0) is
    // degenerate: the indices are undefined, recorded with the reason instead of failing.
    let (scores, note) =
        match calibrated_similarity(&matrix(&a, &rows)?, &matrix(&b, &rows)?, &null) {
            Ok(c) => (Some(c), None),
            Err(e @ (SimilarityError::ZeroVariance(_) | SimilarityError::ZeroNorm { .. })) => {
                (None, Some(format!("degenerate layer: {e}")))
            }
            Err(e) => {
                return Err(anyhow::anyhow!("{e}"))
                    .with_context(|| format!("similarity of {} layer {}", s.split, s.layer))
            }
        };
    let result = SimilarityLayer {
        layer: s.layer,
        split: s.split.clone(),
        units: rows.len(),
        units_total: a.rows,
        permutations: s.permutations,
        k: s.k,
        seed: s.seed,
        scores,
        note,
        seconds: started.elapsed().as_secs_f64(),
    };
    let path = out.similarity_file(s.layer);
    let dir = path.parent().expect("a file in similarity/");
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    tunescope_data::fs::write_atomic(&path, serde_json::to_string_pretty(&result)? + "\n")?;
    Ok(match &result.scores {
        Some(c) => json!({
            "units": result.units,
            "debiased_cka": c.debiased_cka.value,
            "debiased_cka_p": c.debiased_cka.p_value,
            "procrustes_angular": c.procrustes_angular.value,
        }),
        None => json!({"units": result.units, "note": result.note}),
    })
}
