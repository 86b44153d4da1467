//! The report stage: `report/index.html` and its figures from `compare/`, the experiments, the
//! seeds summary, the settings and the stage keys.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::CompareResults;
use tunescope_report::{KeyValue, ReportData, StudyInfo};

use crate::config::Config;

/// What the report reads: it lists every setting and the config itself.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// The resolved configuration.
    pub config: Config,
}

/// The report settings of `config`.
pub fn settings(config: &Config) -> Settings {
    Settings {
        config: config.clone(),
    }
}

/// The report's data: Table A and the analyses from `compare/`, with the study's settings
/// and stage keys.
pub fn report_data(config: &Config, keys: &[(String, String)]) -> Result<ReportData> {
    let out = &config.study.out;
    let results = CompareResults::read(&out.join("compare"))?;
    let path = Path::new(&config.model.path);
    let mut model = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.model.path.clone());
    if let Ok(family) = tunescope_model::encoder::Family::of_dir(path) {
        model = format!("{model} ({family})");
    }
    let (table_a, mut run) =
        tunescope_compare::report_sections(&results, config.data.task.name(), &model);
    if let Some(l) = &mut run.layers {
        super::seeds::add_bands(out, l)?;
    }
    let measures = tunescope_compare::measures::report_measures(out, &results.layers)?;
    run.dynamics = super::dynamics::report_section(out)?;
    run.memorisation = super::memorisation::report_section(out)?;
    let toml_text = toml::to_string(config).context("serialising the config")?;
    Ok(ReportData {
        title: format!("tunescope study `{}`", config.study.name),
        study: Some(StudyInfo {
            settings: flatten_settings(&serde_json::to_value(config)?),
            hashes: keys
                .iter()
                .map(|(k, v)| KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect(),
            config_toml: Some(toml_text),
        }),
        table_a,
        cross_task: super::cross::report_section(config)?,
        runs: vec![run],
        measures,
    })
}

fn flatten_settings(v: &Value) -> Vec<KeyValue> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<KeyValue>) {
        match v {
            Value::Object(m) => {
                for (k, x) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&p, x, out);
                }
            }
            other => out.push(KeyValue {
                key: prefix.to_string(),
                value: match other {
                    Value::String(s) => s.clone(),
                    x => x.to_string(),
                },
            }),
        }
    }
    let mut out = Vec::new();
    walk("", v, &mut out);
    out
}

/// Renders the report of the study in `main` into `main/report/`; `keys` are the stage keys it
/// lists.
pub fn run(s: &Settings, main: &Path, keys: &[(String, String)]) -> Result<Value> {
    let data = report_data(&s.config, keys)?;
    let summary = tunescope_report::render(&data, &main.join("report"))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json!({"index": summary.index, "figures": summary.figure_count}))
}
