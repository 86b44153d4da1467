//! The weight-space view of a fine-tuning run: for every transformer layer and weight matrix
//! (Q, K, V, attention output, FFN in, FFN out) the relative update, the effective rank of the
//! update and its intruder dimensions ([`tunescope_geometry::weights`]), and the Spearman
//! correlation across layers between the weight update and the representation's layer movement.

use std::path::Path;

use anyhow::{bail, Context, Result};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use tunescope_geometry::stats::spearman;
use tunescope_geometry::weights::{weight_update, WeightUpdate};
use tunescope_model::encoder::load::weights_file;
use tunescope_model::encoder::{EncoderConfig, Family};

use crate::results::MovementLayer;

/// One weight matrix's update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightRow {
    /// Hidden-state index of the layer's output (transformer layer i → i + 1, as elsewhere).
    pub layer: usize,
    /// `Q`, `K`, `V`, `O`, `FFN in`, `FFN out`.
    pub module: String,
    /// Checkpoint name.
    pub name: String,
    /// The update's figures.
    #[serde(flatten)]
    pub update: WeightUpdate,
}

/// The weight-space view of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeightSpace {
    /// Top singular vectors examined for intruder dimensions.
    pub intruder_top_k: usize,
    /// Cosine below which a top singular vector is an intruder.
    pub intruder_threshold: f64,
    /// Every matrix, by layer then module.
    pub rows: Vec<WeightRow>,
    /// Per layer: `√(Σ‖ΔW‖²) / √(Σ‖W‖²)` over its six matrices.
    pub layer_relative: Vec<(usize, f64)>,
    /// Spearman ρ across layers between `layer_relative` and the mean centroid displacement
    /// (layer movement); `None` without movement or with fewer than 3 common layers.
    pub movement_spearman: Option<f64>,
}

/// A checkpoint's family, layer count and named tensors (no task prefix).
type Checkpoint = (Family, usize, Vec<(String, Tensor)>);

fn read(dir: &Path) -> Result<Checkpoint> {
    let cfg = EncoderConfig::from_file(&dir.join("config.json"))?;
    let path = weights_file(dir)?;
    let prefix = cfg.family.checkpoint_prefix();
    let tensors = Tensor::read_safetensors(&path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .into_iter()
        .map(|(n, t)| (n.strip_prefix(prefix).unwrap_or(&n).to_string(), t))
        .collect();
    Ok((cfg.family, cfg.num_hidden_layers as usize, tensors))
}

fn values(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).contiguous().view(-1);
    Vec::<f32>::try_from(&t).expect("float tensor")
}

/// Compares the pre-trained model in `before` with the fine-tuned one in `after` (HF
/// directories of the same architecture; a LoRA run's merged model) and relates the per-layer
/// update to `movement` (the comparison's layer movement; may be empty). Intruder dimensions:
/// among the top `k` singular vectors, best cosine below `eps` (the defaults are
/// `tunescope_geometry::weights::{INTRUDER_TOP_K, INTRUDER_THRESHOLD}`).
pub fn weight_space(
    before: &Path,
    after: &Path,
    movement: &[MovementLayer],
    k: usize,
    eps: f64,
) -> Result<WeightSpace> {
    let (family, layers, w0) = read(before)?;
    let (family1, layers1, w1) = read(after)?;
    if (family, layers) != (family1, layers1) {
        bail!(
            "{} ({family}, {layers} layers) and {} ({family1}, {layers1} layers) differ in architecture",
            before.display(),
            after.display()
        );
    }
    let find = |set: &[(String, Tensor)], dir: &Path, name: &str| -> Result<Tensor> {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.shallow_clone())
            .with_context(|| format!("{}: no tensor {name}", dir.display()))
    };
    let mut jobs = Vec::new();
    for i in 0..layers {
        for (role, name) in family.layer_weights(i) {
            let (a, b) = (find(&w0, before, &name)?, find(&w1, after, &name)?);
            if a.size() != b.size() || a.dim() != 2 {
                bail!("{name}: shapes {:?} and {:?}", a.size(), b.size());
            }
            let (r, c) = (a.size()[0] as usize, a.size()[1] as usize);
            jobs.push((i + 1, role, name, values(&a), values(&b), r, c));
        }
    }
    let rows = jobs
        .into_par_iter()
        .map(|(layer, role, name, a, b, r, c)| {
            let update = weight_update(&a, &b, r, c, k, eps).with_context(|| name.clone())?;
            Ok(WeightRow {
                layer,
                module: role.to_string(),
                name,
                update,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let layer_relative: Vec<(usize, f64)> = (1..=layers)
        .map(|l| {
            let (d, w) = rows
                .iter()
                .filter(|r| r.layer == l)
                .fold((0.0, 0.0), |(d, w), r| {
                    (
                        d + r.update.delta_norm.powi(2),
                        w + r.update.base_norm.powi(2),
                    )
                });
            (l, (d / w).sqrt())
        })
        .collect();
    let movement_spearman = movement_correlation(&layer_relative, movement);
    Ok(WeightSpace {
        intruder_top_k: k,
        intruder_threshold: eps,
        rows,
        layer_relative,
        movement_spearman,
    })
}

/// Spearman ρ between the per-layer relative update and the mean displacement of the same
/// layers (hidden-state indices); `None` below 3 common layers or when undefined.
pub fn movement_correlation(
    layer_relative: &[(usize, f64)],
    movement: &[MovementLayer],
) -> Option<f64> {
    let (x, y): (Vec<f64>, Vec<f64>) = layer_relative
        .iter()
        .filter_map(|&(l, rel)| {
            let m = movement.iter().find(|m| m.layer == l)?.mean_displacement?;
            Some((rel, m))
        })
        .unzip();
    if x.len() < 3 {
        return None;
    }
    spearman(&x, &y).ok().filter(|r| r.is_finite())
}

impl WeightSpace {
    /// The rows as CSV: layer, module, name, relative update, effective rank, intruders and the
    /// top singular vectors' best cosines (`;`-separated).
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "layer,module,name,relative_update,delta_norm,base_norm,effective_rank,intruders,top_cosines\n",
        );
        for r in &self.rows {
            let u = &r.update;
            let cos: Vec<String> = u.top_cosines.iter().map(|c| format!("{c:.6}")).collect();
            out.push_str(&format!(
                "{},{},{},{:.6e},{:.6e},{:.6e},{},{},{}\n",
                r.layer,
                r.module,
                r.name,
                u.relative,
                u.delta_norm,
                u.base_norm,
                u.effective_rank
                    .map_or(String::new(), |e| format!("{e:.4}")),
                u.intruders,
                cos.join(";")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunescope_geometry::weights::{INTRUDER_THRESHOLD, INTRUDER_TOP_K};

    fn movement(means: &[f64]) -> Vec<MovementLayer> {
        means
            .iter()
            .enumerate()
            .map(|(i, &m)| MovementLayer {
                layer: i,
                displacement: vec![Some(m)],
                mean_displacement: Some(m),
                difference_pca: None,
                pca_note: None,
            })
            .collect()
    }

    #[test]
    fn rank_one_update_of_one_matrix_on_the_tiny_bert() {
        let before =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures/tiny-bert/model");
        let after = std::env::temp_dir().join(format!("tunescope-ws-{}", std::process::id()));
        std::fs::create_dir_all(&after).unwrap();
        std::fs::copy(before.join("config.json"), after.join("config.json")).unwrap();
        // Layer 1's value projection gets a rank-1 update, layer 2's FFN-in a rank-2 one.
        let mut tensors = Tensor::read_safetensors(before.join("model.safetensors")).unwrap();
        for (name, t) in &mut tensors {
            let rank = match name.as_str() {
                "encoder.layer.1.attention.self.value.weight" => 1,
                "encoder.layer.2.intermediate.dense.weight" => 2,
                _ => continue,
            };
            let (r, c) = (t.size()[0], t.size()[1]);
            tch::manual_seed(3);
            let u = Tensor::randn([r, rank], (Kind::Float, tch::Device::Cpu));
            let v = Tensor::randn([rank, c], (Kind::Float, tch::Device::Cpu));
            *t = &*t + u.matmul(&v);
        }
        Tensor::write_safetensors(&tensors, after.join("model.safetensors")).unwrap();

        let ws = weight_space(
            &before,
            &after,
            &movement(&[0.0, 1.0, 3.0, 2.0]),
            INTRUDER_TOP_K,
            INTRUDER_THRESHOLD,
        )
        .unwrap();
        assert_eq!(ws.rows.len(), 3 * 6);
        for r in &ws.rows {
            let u = &r.update;
            match (r.layer, r.module.as_str()) {
                (2, "V") => {
                    assert!((u.effective_rank.unwrap() - 1.0).abs() < 1e-3, "{r:?}");
                    assert!(u.relative > 0.1);
                }
                (3, "FFN in") => {
                    let e = u.effective_rank.unwrap();
                    assert!(e > 1.2 && e < 2.0 + 1e-3, "{r:?}");
                }
                _ => assert_eq!((u.relative, u.intruders), (0.0, 0), "{r:?}"),
            }
        }
        assert_eq!(ws.layer_relative[0], (1, 0.0));
        assert!(ws.layer_relative[1].1 > 0.0 && ws.layer_relative[2].1 > 0.0);
        // Movement ranks layers 2 < 3 … against the update's ranking (1 lowest).
        let rho = ws.movement_spearman.unwrap();
        let want = spearman(
            &ws.layer_relative.iter().map(|x| x.1).collect::<Vec<_>>(),
            &[1.0, 3.0, 2.0],
        )
        .unwrap();
        assert!((rho - want).abs() < 1e-12);
        let csv = ws.csv();
        assert_eq!(csv.lines().count(), 1 + 18);
        assert!(csv.contains("2,V,encoder.layer.1.attention.self.value.weight,"));
        // Another architecture is refused.
        let distil = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../model/tests/fixtures/families/distilbert");
        if distil.join("model/config.json").is_file() {
            assert!(weight_space(&before, &distil.join("model"), &[], 10, 0.5).is_err());
        }
        std::fs::remove_dir_all(&after).unwrap();
    }
}
