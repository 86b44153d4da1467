//! What a plan reads from outside the run directory: the seeds in effect, the layers the
//! encoder has, the data files and their content hashes.

use super::*;

/// Seeds in effect, for the manifest.
pub fn seeds(config: &Config) -> Value {
    json!({
        "study": config.study.seed,
        "data_split": config.study.seed,
        "finetune": config.finetune.seed.unwrap_or(config.study.seed),
        "probe": probe::probe_seeds(config),
    })
}

/// Number of transformer layers of the encoder in `dir` (from its `config.json`).
pub(super) fn num_layers(dir: &Path) -> Result<usize> {
    let p = dir.join("config.json");
    let v: Value = serde_json::from_slice(
        &std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
    )
    .with_context(|| format!("{} is not JSON", p.display()))?;
    v.get("num_hidden_layers")
        .and_then(Value::as_u64)
        .map(|n| n as usize)
        .with_context(|| format!("{} lacks num_hidden_layers", p.display()))
}

/// The hidden-state indices the study analyses.
pub fn resolve_layers(config: &Config, pretrained: &Path) -> Result<Vec<usize>> {
    let n = num_layers(pretrained)?;
    match &config.model.layers {
        Layers::All => Ok((0..=n).collect()),
        Layers::List(l) => {
            if let Some(&bad) = l.iter().find(|&&k| k > n) {
                bail!("[model] layers lists {bad}, but the encoder has hidden states 0..={n}");
            }
            Ok(l.clone())
        }
    }
}

/// The data files a config reads (absent optional files are left out).
pub(super) fn data_files(config: &Config) -> Vec<PathBuf> {
    let d = &config.data;
    [&d.path, &d.train, &d.dev, &d.test]
        .into_iter()
        .flatten()
        .cloned()
        .collect()
}

/// Content hashes of the data files of `config` (`what` names the section in errors).
pub(super) fn data_hashes(
    config: &Config,
    cache: &mut HashCache,
    what: &str,
) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    for f in data_files(config) {
        let h = cache
            .path(&f)
            .with_context(|| format!("{what} input {}", f.display()))?;
        files.insert(f.display().to_string(), h);
    }
    Ok(files)
}
