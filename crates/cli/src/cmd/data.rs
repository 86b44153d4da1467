//! `tunescope data inspect`: read a study's data exactly as the pipeline will and summarise it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use serde_json::json;
use tunescope_data::Task;
use tunescope_model::encoder::{EncoderConfig, Family};

use crate::config::Config;

/// Data commands.
#[derive(Parser, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: DataCommand,
}

#[derive(Subcommand, Debug)]
enum DataCommand {
    /// Per-split sentence/token/unit counts, label counts and warnings for a config's data.
    Inspect(InspectArgs),
}

/// Arguments of `data inspect`.
#[derive(Parser, Debug)]
struct InspectArgs {
    /// Study config (TOML).
    config: PathBuf,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Override a config value: `section.key=value` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
}

/// Runs a data subcommand.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        DataCommand::Inspect(a) => inspect(a),
    }
}

/// Summarises the whole corpus the config points at; when `data.max_sentences` samples a subset
/// for the study, that subset is summarised too (`subset` in the JSON, a second table).
fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config, &args.set)?;
    let subset = match config.data.max_sentences {
        Some(max) => Some((max, load_task(&config)?)),
        None => None,
    };
    let mut whole = config.clone();
    whole.data.max_sentences = None;
    let task = load_task(&whole)?;
    let model = model_json(&config.model.path);
    let out = if args.json {
        let mut json = summary_json(&task);
        json["model"] = model;
        if let Some((max, sub)) = &subset {
            let mut sub_json = summary_json(sub);
            sub_json["max_sentences"] = json!(max);
            json["subset"] = sub_json;
        }
        let mut s = serde_json::to_string_pretty(&json)?;
        s.push('\n');
        s
    } else {
        let mut s = summary_table(&task);
        let _ = writeln!(
            s,
            "\nmodel {}: model_type {} (supported: {})",
            config.model.path,
            model["model_type"].as_str().unwrap_or("unknown"),
            Family::supported()
        );
        if let Some(e) = model["error"].as_str() {
            let _ = writeln!(s, "  cannot use this model: {e}");
        }
        if let Some((max, sub)) = &subset {
            let _ = writeln!(
                s,
                "\nstudy subset (data.max_sentences = {max} per split, seeded sample):\n"
            );
            s.push_str(&summary_table(sub));
        }
        s
    };
    print!("{out}");
    Ok(())
}

/// The config's model: its `model_type` from `config.json` when `path` is a local directory
/// (`error` says why it cannot be used, e.g. an unsupported type), and the supported types.
fn model_json(path: &str) -> serde_json::Value {
    let cfg = std::path::Path::new(path).join("config.json");
    let (model_type, error) = if cfg.is_file() {
        match EncoderConfig::from_file(&cfg) {
            Ok(c) => (Some(c.family.model_type().to_string()), None),
            Err(e) => {
                let raw: Option<serde_json::Value> = std::fs::read_to_string(&cfg)
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok());
                let t = raw.and_then(|v| v["model_type"].as_str().map(String::from));
                (t, Some(format!("{e:#}")))
            }
        }
    } else {
        (None, None)
    };
    json!({
        "path": path,
        "model_type": model_type,
        "error": error,
        "supported_model_types": Family::ALL.map(Family::model_type),
    })
}

/// Reads the task a config describes.
pub fn load_task(config: &Config) -> anyhow::Result<Task> {
    config.data.load_task(config.study.seed)
}

/// The machine-readable summary: `splits.{train,dev,test}.{sentences,tokens,units,longest}`,
/// `labels` (label → units over all splits), `warnings`.
pub fn summary_json(task: &Task) -> serde_json::Value {
    let splits: serde_json::Map<String, serde_json::Value> = task
        .splits()
        .iter()
        .map(|(name, s)| {
            (
                name.to_string(),
                json!({
                    "sentences": s.sentences.len(),
                    "tokens": s.tokens(),
                    "units": s.units.len(),
                    "longest_sentence": s.longest_sentence(),
                }),
            )
        })
        .collect();
    json!({
        "task": task.name,
        "unit_kind": task.unit_kind.name(),
        "splits": splits,
        "labels": task.label_counts(),
        "warnings": task.warnings(),
    })
}

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    let mut until_comma = match digits.len() % 3 {
        0 => 3,
        r => r,
    };
    for c in digits.chars() {
        if until_comma == 0 {
            out.push(',');
            until_comma = 3;
        }
        out.push(c);
        until_comma -= 1;
    }
    out
}

/// The human summary: a split table, a label table (per split) and warnings.
pub fn summary_table(task: &Task) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "task {} ({} units, {} labels)\n",
        task.name,
        task.unit_kind.name(),
        task.labels.len()
    );
    let splits = task.splits();
    let mut rows: Vec<[String; 5]> = vec![[
        "split".into(),
        "sentences".into(),
        "tokens".into(),
        "units".into(),
        "longest".into(),
    ]];
    for (name, s) in &splits {
        rows.push([
            name.to_string(),
            thousands(s.sentences.len()),
            thousands(s.tokens()),
            thousands(s.units.len()),
            thousands(s.longest_sentence()),
        ]);
    }
    let total = |f: &dyn Fn(&tunescope_data::Split) -> usize| {
        thousands(splits.iter().map(|(_, s)| f(s)).sum())
    };
    rows.push([
        "total".into(),
        total(&|s| s.sentences.len()),
        total(&|s| s.tokens()),
        total(&|s| s.units.len()),
        thousands(
            splits
                .iter()
                .map(|(_, s)| s.longest_sentence())
                .max()
                .unwrap_or(0),
        ),
    ]);
    write_table(&mut out, &rows);
    out.push('\n');

    let per_split: Vec<BTreeMap<String, usize>> =
        splits.iter().map(|(_, s)| s.label_counts()).collect();
    let mut rows: Vec<[String; 5]> = vec![[
        "label".into(),
        "train".into(),
        "dev".into(),
        "test".into(),
        "total".into(),
    ]];
    for (label, total) in task.label_counts() {
        let n = |k: usize| thousands(per_split[k].get(&label).copied().unwrap_or(0));
        rows.push([label.clone(), n(0), n(1), n(2), thousands(total)]);
    }
    write_table(&mut out, &rows);
    let warnings = task.warnings();
    if !warnings.is_empty() {
        out.push('\n');
        for w in warnings {
            let _ = writeln!(out, "warning: {w}");
        }
    }
    out
}

/// Writes rows with the first column left-aligned and the others right-aligned.
fn write_table(out: &mut String, rows: &[[String; 5]]) {
    let mut width = [0usize; 5];
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = format!("{:<w$}", row[0], w = width[0]);
        for (cell, w) in row.iter().zip(width).skip(1) {
            let _ = write!(line, "  {cell:>w$}");
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn repo_root() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
    }

    /// The full Brown corpus through `examples/brown-pos.toml` with subsetting switched off
    /// (the example samples sentences for a fast study): every sentence and token, and no
    /// document in two splits.
    #[test]
    fn brown_pos_example_reads_the_whole_corpus() {
        let root = repo_root();
        if !root.join("assets/brown").is_dir() {
            eprintln!("skipping: assets/brown not set up (run scripts/setup-assets.sh)");
            return;
        }
        let mut config = Config::load(&root.join("examples/brown-pos.toml"), &[]).unwrap();
        config.data.max_sentences = None;
        let path = config.data.path.take().unwrap();
        config.data.path = Some(root.join(path));
        let task = load_task(&config).unwrap();
        let json = summary_json(&task);
        let sum = |key: &str| -> u64 {
            ["train", "dev", "test"]
                .iter()
                .map(|s| json["splits"][s][key].as_u64().unwrap())
                .sum()
        };
        assert_eq!(sum("sentences"), 57_340);
        assert_eq!(sum("tokens"), 1_161_192);
        assert_eq!(sum("units"), 1_161_192);
        let label_total: u64 = json["labels"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum();
        assert_eq!(label_total, 1_161_192);
        let docs: Vec<BTreeSet<&str>> = task
            .splits()
            .iter()
            .map(|(_, s)| s.sentences.iter().map(|x| x.doc.as_str()).collect())
            .collect();
        assert_eq!(docs.iter().map(|d| d.len()).sum::<usize>(), 500);
        assert!(
            docs[0].is_disjoint(&docs[1])
                && docs[0].is_disjoint(&docs[2])
                && docs[1].is_disjoint(&docs[2])
        );
    }

    #[test]
    fn table_is_aligned_and_counts_thousands() {
        assert_eq!(thousands(1_161_192), "1,161,192");
        assert_eq!(thousands(999), "999");
        let mut out = String::new();
        write_table(
            &mut out,
            &[
                ["a".into(), "1".into(), "22".into(), "3".into(), "4".into()],
                [
                    "long".into(),
                    "1,000".into(),
                    "2".into(),
                    "3".into(),
                    "4".into(),
                ],
            ],
        );
        assert_eq!(out, "a         1  22  3  4\nlong  1,000   2  3  4\n");
    }
}
