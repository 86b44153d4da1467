//! The report stage: `report/index.html` and its figures from `compare/`, the experiments, the
//! seeds summary, the settings and the stage keys.

use std::path::Path;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{json, Value};
use tunescope_compare::CompareResults;
use tunescope_report::{KeyValue, ReportData, StudyInfo};

use crate::config::{Config, Pooling};
use tunescope_data::rundir::RunDir;
use tunescope_data::UnitKind;

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
    let out = &RunDir::new(&config.study.out);
    let results = CompareResults::read(&out.compare())?;
    let path = Path::new(&config.model.path);
    let mut model = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| config.model.path.clone());
    if let Ok(family) = tunescope_model::encoder::Family::of_dir(path) {
        model = format!("{model} ({family})");
    }
    let (mut table_a, mut run) =
        tunescope_compare::report_sections(&results, config.data.task.name(), &model);
    if let Some(pair) = &config.study.paper {
        let last = table_a.iter().map(|r| r.row.layer).max();
        for r in table_a.iter_mut().filter(|r| Some(r.row.layer) == last) {
            let fine_tuned = r.version() == tunescope_report::Version::FineTuned;
            r.paper = Some(
                tunescope_compare::paper::paper_row(pair, fine_tuned)
                    .map_err(|e| anyhow::anyhow!("[study] paper: {e}"))?,
            );
        }
    }
    if let Some(l) = &mut run.layers {
        tunescope_compare::seeds::add_bands(out, l)?;
    }
    let mut measures = tunescope_compare::measures::report_measures(out, &results.layers)?;
    tunescope_compare::seeds::add_measure_bands(out, &mut measures)?;
    run.dynamics = tunescope_compare::dynamics::report_section(out)?;
    tunescope_compare::seeds::add_dynamics_bands(out, &mut run.dynamics)?;
    run.memorisation = tunescope_compare::memorisation::report_section(out)?;
    let mut runs = vec![run];
    let arms = super::arms::add_arms(config, &model, &mut table_a, &mut runs)?;
    let toml_text = toml::to_string(config).context("serialising the config")?;
    Ok(ReportData {
        title: format!("tunescope study `{}`", config.study.name),
        study: Some(StudyInfo {
            settings: with_resolved_pooling(
                flatten_settings(&serde_json::to_value(config)?),
                config,
            ),
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
        runs,
        arms,
        measures,
    })
}

/// States the sub-word pooling the study used, also when `model.pooling` was left at its default
/// (then the key is absent from the serialised config): `model.pooling = mean (default: …)`.
fn with_resolved_pooling(mut settings: Vec<KeyValue>, config: &Config) -> Vec<KeyValue> {
    let kind = config.data.task.unit_kind();
    let pooling = config.model.pooling_for(kind);
    let name = serde_json::to_value(pooling)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let what = match pooling {
        Pooling::Mean if kind == UnitKind::Sentence => "mean of the sentence's word vectors",
        Pooling::Mean => "a word's sub-word vectors averaged",
        Pooling::First => "a word's first sub-word",
        Pooling::Last => "a word's last sub-word",
        Pooling::Cls => "the [CLS] vector",
    };
    let value = if config.model.pooling.is_some() {
        format!("{name} ({what})")
    } else {
        format!("{name} (default for {} units: {what})", kind.name())
    };
    match settings.iter_mut().find(|kv| kv.key == "model.pooling") {
        Some(kv) => kv.value = value,
        None => {
            let at = settings
                .iter()
                .position(|kv| kv.key == "model.path")
                .map_or(settings.len(), |i| i + 1);
            settings.insert(
                at,
                KeyValue {
                    key: "model.pooling".into(),
                    value,
                },
            );
        }
    }
    settings
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
pub fn run(s: &Settings, main: &RunDir, keys: &[(String, String)]) -> Result<Value> {
    let data = report_data(&s.config, keys)?;
    let summary =
        tunescope_report::render(&data, &main.report()).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(json!({"index": summary.index, "figures": summary.figure_count}))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str =
        "[data]\nformat = \"brown\"\ntask = \"brown-pos\"\npath = \"assets/brown\"\n";

    fn pooling_line(sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let config = Config::from_toml(MINIMAL, "s", &sets).unwrap();
        let settings = flatten_settings(&serde_json::to_value(&config).unwrap());
        let settings = with_resolved_pooling(settings, &config);
        let found: Vec<&KeyValue> = settings
            .iter()
            .filter(|kv| kv.key == "model.pooling")
            .collect();
        assert_eq!(found.len(), 1, "{settings:?}");
        found[0].value.clone()
    }

    #[test]
    fn the_report_states_the_pooling_also_when_it_is_the_default() {
        assert_eq!(
            pooling_line(&[]),
            "mean (default for token units: a word's sub-word vectors averaged)"
        );
        assert_eq!(
            pooling_line(&["model.pooling=first"]),
            "first (a word's first sub-word)"
        );
    }
}
