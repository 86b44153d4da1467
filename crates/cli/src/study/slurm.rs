//! Splitting a grid of studies (configs × `--vary` settings) into independent cells, and the
//! Slurm job-array script that runs one cell per array task.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::config::Config;

/// One grid cell: a config file plus overrides, with its own run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// Config file.
    pub config: PathBuf,
    /// `section.key=value` overrides, `study.out` last.
    pub sets: Vec<String>,
    /// Cell name (`<config stem>/<key>-<value>_…`), also its directory under the grid root.
    pub name: String,
}

/// Parses `section.key=v1,v2,…` into the key and its values.
pub fn parse_vary(spec: &str) -> Result<(String, Vec<String>)> {
    let (key, values) = spec
        .split_once('=')
        .with_context(|| format!("--vary `{spec}`: expected `section.key=v1,v2,…`"))?;
    let key = key.trim();
    if !key.contains('.') || key.starts_with('.') || key.ends_with('.') {
        bail!("--vary `{spec}`: expected `section.key=v1,v2,…`");
    }
    if key == "study.out" || key == "study.name" {
        bail!("--vary {key}: every cell gets its own run directory under --root already");
    }
    let values: Vec<String> = values.split(',').map(|v| v.trim().to_string()).collect();
    if values.iter().any(String::is_empty) {
        bail!("--vary `{spec}`: empty value");
    }
    Ok((key.to_string(), values))
}

/// A file-name-safe rendering of a value (path separators and odd characters become `-`).
fn slug(v: &str) -> String {
    let name = Path::new(v)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|_| v.contains('/'))
        .unwrap_or_else(|| v.to_string());
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Every cell of `configs` × the cartesian product of `vary`, each validated by loading its
/// config with its overrides; `common` overrides apply to every cell and `root` holds the
/// cells' run directories.
pub fn cells(
    configs: &[PathBuf],
    vary: &[(String, Vec<String>)],
    common: &[String],
    root: &Path,
) -> Result<Vec<Cell>> {
    if configs.is_empty() {
        bail!("no config given");
    }
    let mut combos: Vec<Vec<(String, String)>> = vec![Vec::new()];
    for (key, values) in vary {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let mut out = Vec::new();
    let mut names = BTreeSet::new();
    for config in configs {
        let stem = config
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .with_context(|| format!("{}: not a config file", config.display()))?;
        for combo in &combos {
            let mut name = stem.clone();
            if !combo.is_empty() {
                let parts: Vec<String> = combo
                    .iter()
                    .map(|(k, v)| format!("{}-{}", k.rsplit('.').next().unwrap_or(k), slug(v)))
                    .collect();
                name = format!("{stem}/{}", parts.join("_"));
            }
            if !names.insert(name.clone()) {
                bail!("two grid cells would share the directory {name}; vary values must differ after sanitising");
            }
            let mut sets: Vec<String> = common.to_vec();
            sets.extend(combo.iter().map(|(k, v)| format!("{k}={v}")));
            sets.push(format!("study.out={}", root.join(&name).display()));
            Config::load(config, &sets).with_context(|| format!("grid cell {name}"))?;
            out.push(Cell {
                config: config.clone(),
                sets,
                name,
            });
        }
    }
    Ok(out)
}

/// Quotes `s` for a POSIX shell (single quotes).
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-=,:+@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Resources of every array task.
#[derive(Debug, Clone)]
pub struct Resources {
    /// `--cpus-per-task`.
    pub cpus: usize,
    /// GPUs per task (`--gres=gpu:N`; 0 = none).
    pub gpus: usize,
    /// `--mem`, e.g. `32G`.
    pub mem: String,
    /// `--time`, e.g. `04:00:00`.
    pub time: String,
    /// At most this many tasks at once (`--array=…%N`; 0 = no limit).
    pub max_parallel: usize,
    /// The `tunescope` executable the tasks run.
    pub binary: String,
}

/// The job-array script: task `i` runs `tunescope study` on cell `i`.
pub fn script(job: &str, cells: &[Cell], root: &Path, r: &Resources) -> String {
    let mut s = String::from("#!/bin/bash\n");
    s.push_str(&format!("#SBATCH --job-name={}\n", shell_quote(job)));
    let limit = if r.max_parallel > 0 {
        format!("%{}", r.max_parallel)
    } else {
        String::new()
    };
    s.push_str(&format!("#SBATCH --array=0-{}{limit}\n", cells.len() - 1));
    s.push_str(&format!("#SBATCH --cpus-per-task={}\n", r.cpus));
    if r.gpus > 0 {
        s.push_str(&format!("#SBATCH --gres=gpu:{}\n", r.gpus));
    }
    s.push_str(&format!("#SBATCH --mem={}\n", r.mem));
    s.push_str(&format!("#SBATCH --time={}\n", r.time));
    s.push_str(&format!(
        "#SBATCH --output={}/logs/%A_%a.out\n",
        root.display()
    ));
    s.push_str(
        "# Generated by `tunescope plan --emit slurm`: one grid cell per array task. Every cell\n\
         # is a complete, resumable study (resubmitting a task resumes it from its manifest).\n\
         set -euo pipefail\n",
    );
    s.push_str(&format!(
        "mkdir -p {}/logs\n",
        shell_quote(&root.display().to_string())
    ));
    s.push_str(&format!(
        "export OMP_NUM_THREADS={c} RAYON_NUM_THREADS={c}\n",
        c = r.cpus
    ));
    s.push_str("case \"$SLURM_ARRAY_TASK_ID\" in\n");
    for (i, c) in cells.iter().enumerate() {
        let mut cmd = vec![
            shell_quote(&r.binary),
            "study".into(),
            shell_quote(&c.config.display().to_string()),
        ];
        for set in &c.sets {
            cmd.push("--set".into());
            cmd.push(shell_quote(set));
        }
        cmd.push("--quiet".into());
        cmd.push("--threads".into());
        cmd.push(r.cpus.to_string());
        s.push_str(&format!(
            "  {i}) # {}\n    exec {} ;;\n",
            c.name,
            cmd.join(" ")
        ));
    }
    s.push_str("  *) echo \"no grid cell $SLURM_ARRAY_TASK_ID\" >&2; exit 2 ;;\nesac\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vary_specs_parse_and_reject_bad_input() {
        let (k, v) = parse_vary("finetune.seed=1, 2,3").unwrap();
        assert_eq!(
            (k.as_str(), v),
            ("finetune.seed", vec!["1".into(), "2".into(), "3".into()])
        );
        assert!(parse_vary("seed=1").is_err());
        assert!(parse_vary("finetune.seed=1,,2").is_err());
        assert!(parse_vary("study.out=a,b").is_err());
    }

    #[test]
    fn quoting_and_slugs() {
        assert_eq!(shell_quote("model.path=a/b"), "model.path=a/b");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("[0, 6]"), "'[0, 6]'");
        assert_eq!(slug("models/bert-base-uncased"), "bert-base-uncased");
        assert_eq!(slug("[0, 6]"), "-0--6-");
    }

    #[test]
    fn script_has_one_case_per_cell() {
        let cells = vec![
            Cell {
                config: "a.toml".into(),
                sets: vec!["finetune.seed=1".into(), "study.out=g/a/seed-1".into()],
                name: "a/seed-1".into(),
            },
            Cell {
                config: "a.toml".into(),
                sets: vec!["finetune.seed=2".into(), "study.out=g/a/seed-2".into()],
                name: "a/seed-2".into(),
            },
        ];
        let r = Resources {
            cpus: 8,
            gpus: 1,
            mem: "32G".into(),
            time: "02:00:00".into(),
            max_parallel: 4,
            binary: "tunescope".into(),
        };
        let s = script("grid", &cells, Path::new("g"), &r);
        assert!(s.contains("#SBATCH --array=0-1%4\n"), "{s}");
        assert!(s.contains("#SBATCH --gres=gpu:1\n"), "{s}");
        assert!(s.contains(
            "  1) # a/seed-2\n    exec tunescope study a.toml --set finetune.seed=2 --set study.out=g/a/seed-2 --quiet --threads 8 ;;"
        ), "{s}");
        assert!(s.ends_with("esac\n"));
    }
}
