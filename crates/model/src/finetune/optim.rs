//! AdamW with decoupled weight decay, a linear warm-up/decay schedule and gradient-norm clipping,
//! written out so that the optimiser state can be checkpointed and the arithmetic matches
//! `torch.optim.AdamW` (the default optimiser of HF's Trainer) step for step.

use anyhow::{bail, Context, Result};
use tch::{Kind, Tensor};

/// Whether a parameter gets weight decay: HF's Trainer exempts biases and LayerNorm parameters.
pub fn decays(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    let leaf_is_bias = lower.rsplit(['.', '/']).next() == Some("bias");
    let in_norm = lower.split(['.', '/']).any(|seg| {
        seg == "layernorm" || seg == "layer_norm" || seg == "ln" || seg.ends_with("layernorm")
    });
    !(leaf_is_bias || in_norm)
}

struct Slot {
    name: String,
    param: Tensor,
    exp_avg: Tensor,
    exp_avg_sq: Tensor,
    decay: bool,
}

/// AdamW over named parameters, in two groups: with and without weight decay.
pub struct AdamW {
    slots: Vec<Slot>,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    steps: i64,
}

impl AdamW {
    /// Builds the optimiser for `params` (sorted by name so the state layout is deterministic).
    pub fn new(
        mut params: Vec<(String, Tensor)>,
        weight_decay: f64,
        betas: (f64, f64),
        eps: f64,
    ) -> Self {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = params
            .into_iter()
            .map(|(name, param)| Slot {
                decay: decays(&name),
                exp_avg: param.zeros_like(),
                exp_avg_sq: param.zeros_like(),
                name,
                param,
            })
            .collect();
        AdamW {
            slots,
            beta1: betas.0,
            beta2: betas.1,
            eps,
            weight_decay,
            steps: 0,
        }
    }

    /// Number of optimiser steps taken so far.
    pub fn steps(&self) -> i64 {
        self.steps
    }

    /// The parameters, in the optimiser's order.
    pub fn params(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.slots.iter().map(|s| (s.name.as_str(), &s.param))
    }

    /// Names of the parameters without weight decay (biases, LayerNorm).
    pub fn no_decay_names(&self) -> Vec<&str> {
        self.slots
            .iter()
            .filter(|s| !s.decay)
            .map(|s| s.name.as_str())
            .collect()
    }

    /// Zeroes every gradient.
    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// One AdamW update at learning rate `lr`, in `torch.optim.AdamW`'s order of operations
    /// (single-tensor path): decay the weight, update the moments, then the bias-corrected step
    /// (with the step size folded into the denominator, so only `sqrt(v)` is allocated).
    pub fn step(&mut self, lr: f64) {
        self.steps += 1;
        let bc1 = 1.0 - self.beta1.powi(self.steps as i32);
        let bc2_sqrt = (1.0 - self.beta2.powi(self.steps as i32)).sqrt();
        let step_size = lr / bc1;
        tch::no_grad(|| {
            for s in &mut self.slots {
                let grad = s.param.grad();
                if !grad.defined() {
                    continue;
                }
                if s.decay && self.weight_decay != 0.0 {
                    let _ = s.param.g_mul_scalar_(1.0 - lr * self.weight_decay);
                }
                let _ = s.exp_avg.lerp_(&grad, 1.0 - self.beta1);
                let _ = s.exp_avg_sq.g_mul_scalar_(self.beta2);
                let _ = s.exp_avg_sq.addcmul_(&(&grad * (1.0 - self.beta2)), &grad);
                if step_size == 0.0 {
                    continue;
                }
                // In place on one temporary: p += m / ((sqrt(v) / bc2_sqrt + eps) / -step_size).
                let mut denom = s.exp_avg_sq.sqrt();
                let _ = denom.g_div_scalar_(bc2_sqrt);
                let _ = denom.g_add_scalar_(self.eps);
                let _ = denom.g_div_scalar_(-step_size);
                let _ = s.param.addcdiv_(&s.exp_avg, &denom);
            }
        });
    }

    /// The moments as named tensors (`exp_avg.<name>`, `exp_avg_sq.<name>`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((format!("exp_avg.{}", s.name), s.exp_avg.shallow_clone()));
            out.push((
                format!("exp_avg_sq.{}", s.name),
                s.exp_avg_sq.shallow_clone(),
            ));
        }
        out
    }

    /// Restores the moments saved by [`AdamW::state_tensors`] and the step count.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)], steps: i64) -> Result<()> {
        let find = |key: String| -> Result<&Tensor> {
            tensors
                .iter()
                .find(|(n, _)| *n == key)
                .map(|(_, t)| t)
                .with_context(|| format!("optimiser state lacks {key}"))
        };
        for s in &mut self.slots {
            let m = find(format!("exp_avg.{}", s.name))?;
            let v = find(format!("exp_avg_sq.{}", s.name))?;
            if m.size() != s.param.size() || v.size() != s.param.size() {
                bail!(
                    "optimiser state for {} has shape {:?}, parameter has {:?}",
                    s.name,
                    m.size(),
                    s.param.size()
                );
            }
            tch::no_grad(|| {
                s.exp_avg.copy_(m);
                s.exp_avg_sq.copy_(v);
            });
        }
        self.steps = steps;
        Ok(())
    }
}

/// Learning rate of HF's `get_linear_schedule_with_warmup`: linear rise over `warmup` updates,
/// then linear decay to zero at `total` updates.
#[derive(Debug, Clone, Copy)]
pub struct LinearSchedule {
    /// Peak learning rate.
    pub peak: f64,
    /// Warm-up updates.
    pub warmup: usize,
    /// Total updates.
    pub total: usize,
}

impl LinearSchedule {
    /// The learning rate used for update number `step` (0-based, as the scheduler sees it).
    pub fn lr(&self, step: usize) -> f64 {
        let factor = if step < self.warmup {
            step as f64 / self.warmup.max(1) as f64
        } else {
            ((self.total as f64 - step as f64)
                / (self.total.saturating_sub(self.warmup)).max(1) as f64)
                .max(0.0)
        };
        self.peak * factor
    }
}

/// Scales gradients so their global L2 norm is at most `max_norm` (as
/// `torch.nn.utils.clip_grad_norm_`); returns the norm before clipping.
pub fn clip_grad_norm(params: &[&Tensor], max_norm: f64) -> f64 {
    tch::no_grad(|| {
        let norms: Vec<Tensor> = params
            .iter()
            .map(|p| p.grad())
            .filter(|g| g.defined())
            .map(|g| {
                g.norm_scalaropt_dim(2, [0i64; 0].as_slice(), false)
                    .to_kind(Kind::Float)
            })
            .collect();
        if norms.is_empty() {
            return 0.0;
        }
        let total = Tensor::stack(&norms, 0).norm();
        let total_f = total.double_value(&[]);
        let coef = (max_norm / (total_f + 1e-6)).min(1.0);
        if max_norm > 0.0 && coef < 1.0 {
            let coef_t = (Tensor::from(max_norm) / (&total + 1e-6))
                .clamp_max(1.0)
                .to_kind(Kind::Float);
            for p in params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.g_mul_(&coef_t);
                }
            }
        }
        total_f
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decay_groups_follow_hf() {
        assert!(decays("encoder.layer.0.attention.self.query.weight"));
        assert!(!decays("encoder.layer.0.attention.self.query.bias"));
        assert!(!decays("encoder.layer.0.output.LayerNorm.weight"));
        assert!(!decays("embeddings.LayerNorm.weight"));
        assert!(decays("embeddings.word_embeddings.weight"));
        assert!(!decays("head.classifier.bias"));
    }

    #[test]
    fn schedule_warms_up_then_decays_to_zero() {
        let s = LinearSchedule {
            peak: 1.0,
            warmup: 10,
            total: 110,
        };
        assert_eq!(s.lr(0), 0.0);
        assert!((s.lr(5) - 0.5).abs() < 1e-12);
        assert!((s.lr(10) - 1.0).abs() < 1e-12);
        assert!((s.lr(60) - 0.5).abs() < 1e-12);
        assert_eq!(s.lr(110), 0.0);
        assert_eq!(s.lr(200), 0.0);
    }

    #[test]
    fn clipping_scales_to_max_norm() {
        tch::set_num_threads(1);
        let a = Tensor::from_slice(&[3.0f32]).set_requires_grad(true);
        let b = Tensor::from_slice(&[4.0f32]).set_requires_grad(true);
        (&a * &a * 0.5 + &b * &b * 0.5).sum(Kind::Float).backward();
        let norm = clip_grad_norm(&[&a, &b], 1.0);
        assert!((norm - 5.0).abs() < 1e-5);
        let ga = a.grad().double_value(&[0]);
        let gb = b.grad().double_value(&[0]);
        assert!(((ga * ga + gb * gb).sqrt() - 1.0).abs() < 1e-5);
        assert!((ga / gb - 0.75).abs() < 1e-5);
    }

    /// One step from the closed form of AdamW: with a constant gradient g the first update is
    /// p ← p(1 − lr·wd) − lr·g/(|g| + eps').
    #[test]
    fn first_step_matches_closed_form() {
        tch::set_num_threads(1);
        let w = Tensor::from_slice(&[1.0f64, -2.0]).set_requires_grad(true);
        let bias = Tensor::from_slice(&[0.5f64]).set_requires_grad(true);
        let mut opt = AdamW::new(
            vec![
                ("lin.weight".into(), w.shallow_clone()),
                ("lin.bias".into(), bias.shallow_clone()),
            ],
            0.1,
            (0.9, 0.999),
            1e-8,
        );
        ((&w * Tensor::from_slice(&[2.0f64, 3.0])).sum(Kind::Double) + &bias * 4.0)
            .sum(Kind::Double)
            .backward();
        opt.step(0.01);
        let expect_w = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) - 0.01];
        for (i, e) in expect_w.iter().enumerate() {
            assert!((w.double_value(&[i as i64]) - e).abs() < 1e-9, "{i}");
        }
        // No weight decay on the bias.
        assert!((bias.double_value(&[0]) - (0.5 - 0.01)).abs() < 1e-9);
        assert_eq!(opt.no_decay_names(), vec!["lin.bias"]);
    }
}
