//! The fine-tuning arms in the report: each `[[arms]]` entry's branch (name, method, run
//! directory) handed to [`tunescope_compare::arms`], which adds its Table A rows and run
//! section and builds the side-by-side section.

use anyhow::Result;
use tunescope_compare::arms::{self, Branch};
use tunescope_data::rundir::RunDir;
use tunescope_report as rep;

use crate::config::Config;

fn method_label(c: &Config) -> String {
    let f = &c.finetune;
    let m = f.method.name();
    match f.method {
        tunescope_model::finetune::Method::Lora => format!(
            "{m} (r = {}, α = {}, targets {}, lr {})",
            f.lora_r,
            f.lora_alpha,
            if f.lora_targets.is_empty() {
                "query, value".to_string()
            } else {
                f.lora_targets.join(", ")
            },
            f.lr
        ),
        tunescope_model::finetune::Method::Freeze => {
            format!("{m} (bottom {} layers, lr {})", f.freeze_layers, f.lr)
        }
        tunescope_model::finetune::Method::Full => format!("{m} (lr {})", f.lr),
    }
}

/// Adds every arm's Table A rows (fine-tuned) and run section to `table_a` and `runs`, and
/// returns the side-by-side section; `None` without arms. `runs[0]` is the study's own.
pub fn add_arms(
    config: &Config,
    model: &str,
    table_a: &mut Vec<rep::TableAEntry>,
    runs: &mut Vec<rep::TaskModelReport>,
) -> Result<Option<rep::Arms>> {
    if config.arms.is_empty() {
        return Ok(None);
    }
    let mut branches = vec![Branch {
        name: "main".into(),
        method: method_label(config),
        out: RunDir::new(&config.study.out),
    }];
    for arm in &config.arms {
        let c = config.arm_config(arm)?;
        branches.push(Branch {
            name: arm.name.clone(),
            method: method_label(&c),
            out: RunDir::new(&c.study.out),
        });
    }
    arms::add_arms(&branches, config.data.task.name(), model, table_a, runs).map(Some)
}
