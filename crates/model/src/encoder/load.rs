//! Loading a Hugging Face BERT directory and saving an encoder back in the same layout.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use safetensors::Dtype;
use sha2::{Digest, Sha256};
use tch::{nn, Device, Kind, Tensor};

use super::config::BertConfig;
use super::model::Bert;
use super::tokenize::WordTokenizer;

/// Tokenizer side files copied verbatim when an encoder is saved.
/// `vocab.txt` comes first.
const TOKENIZER_SIDE_FILES: [&str; 3] = [
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
];

/// A loaded encoder: weights in a `VarStore`, tokenizer, configuration and provenance.
pub struct Encoder {
    /// Holds the parameters (on the requested device).
    pub vs: nn::VarStore,
    /// The model, built on `vs.root()`.
    pub bert: Bert,
    /// Words → sub-words, with windowing at `max_position_embeddings`.
    pub tokenizer: WordTokenizer,
    /// Parsed architecture.
    pub config: BertConfig,
    /// `config.json` as read, so saving keeps fields this crate does not interpret.
    pub config_json: serde_json::Value,
    /// The directory the model came from.
    pub dir: PathBuf,
    /// SHA-256 (hex) of `model.safetensors`: the content hash of the weights.
    pub weights_sha256: String,
    side_files: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .field("weights_sha256", &self.weights_sha256)
            .finish()
    }
}

/// Resolves `model` to a local directory: an existing directory as is; otherwise, with the
/// `hub` feature, a Hugging Face hub id downloaded into the hub cache.
pub fn resolve(model: &str) -> Result<PathBuf> {
    let p = Path::new(model);
    if p.is_dir() {
        return Ok(p.to_path_buf());
    }
    resolve_hub(model)
}

/// Resolves a hub id through the hub cache (`$HF_HOME/hub`, default
/// `~/.cache/huggingface/hub`; `HF_ENDPOINT` overrides the server), downloading what is missing.
#[cfg(feature = "hub")]
fn resolve_hub(id: &str) -> Result<PathBuf> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .context("cannot start the Hugging Face hub client")?;
    resolve_hub_with(&api, id)
}

/// Fetches (or finds in the cache) the files [`load`] reads and returns their snapshot directory.
#[cfg(feature = "hub")]
fn resolve_hub_with(api: &hf_hub::api::sync::Api, id: &str) -> Result<PathBuf> {
    let repo = api.model(id.to_string());
    let config = repo
        .get("config.json")
        .with_context(|| format!("{id} is neither a local directory nor a reachable hub model"))?;
    repo.get("model.safetensors")
        .with_context(|| format!("hub model {id} has no model.safetensors"))?;
    // Side files are optional (saved alongside when present); vocab.txt is needed without
    // tokenizer.json.
    let side: Vec<bool> = TOKENIZER_SIDE_FILES
        .iter()
        .map(|f| repo.get(f).is_ok())
        .collect();
    if repo.get("tokenizer.json").is_err() && !side[0] {
        bail!("hub model {id} has neither tokenizer.json nor vocab.txt");
    }
    Ok(config
        .parent()
        .expect("hub files live in a directory")
        .to_path_buf())
}

#[cfg(all(test, feature = "hub"))]
mod hub_tests {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::Cache;

    /// A cached hub model resolves offline: the endpoint is a closed local port.
    #[test]
    fn cached_hub_model_resolves_without_network() {
        let root = std::env::temp_dir().join(format!("tunescope-hub-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let repo = root.join("models--org--tiny");
        let snap = repo.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(repo.join("refs")).unwrap();
        std::fs::write(repo.join("refs").join("main"), "abc123").unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::write(snap.join(f), "{}").unwrap();
        }
        let api = ApiBuilder::from_cache(Cache::new(root.clone()))
            .with_endpoint("http://127.0.0.1:9".into())
            .with_progress(false)
            .build()
            .unwrap();
        assert_eq!(super::resolve_hub_with(&api, "org/tiny").unwrap(), snap);
        std::fs::remove_file(snap.join("tokenizer.json")).unwrap();
        let err = |id: &str| format!("{:#}", super::resolve_hub_with(&api, id).unwrap_err());
        assert!(err("org/tiny").contains("neither tokenizer.json nor vocab.txt"));
        assert!(err("org/none").contains("org/none is neither a local directory"));
        let _ = std::fs::remove_dir_all(&root);
    }
}

#[cfg(not(feature = "hub"))]
fn resolve_hub(id: &str) -> Result<PathBuf> {
    bail!(
        "model directory {id} does not exist (hub ids need tunescope built with the `hub` \
         feature and a network connection)"
    )
}

/// Loads a Hugging Face BERT directory (`config.json`, `model.safetensors` with or without the
/// `bert.` prefix, and `tokenizer.json` or `vocab.txt`) onto `device`.
pub fn load(dir: impl AsRef<Path>, device: Device) -> Result<Encoder> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        bail!("model directory {} does not exist", dir.display());
    }
    let cfg_path = dir.join("config.json");
    if !cfg_path.is_file() {
        bail!("{}: missing config.json", dir.display());
    }
    let config_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&cfg_path)
            .with_context(|| format!("cannot read {}", cfg_path.display()))?,
    )
    .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?;
    let config = BertConfig::from_json(&config_json)
        .with_context(|| format!("invalid BERT config {}", cfg_path.display()))?;
    let weights = weights_file(dir)?;
    let tokenizer = WordTokenizer::from_dir(dir, config.max_position_embeddings as usize)?;
    let vs = nn::VarStore::new(device);
    let bert = Bert::new(&vs.root(), &config);
    let weights_sha256 = load_weights(&bert, &weights)?;
    let mut side_files = Vec::new();
    for f in TOKENIZER_SIDE_FILES {
        let p = dir.join(f);
        if p.is_file() {
            side_files.push((
                f.to_string(),
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?,
            ));
        }
    }
    Ok(Encoder {
        vs,
        bert,
        tokenizer,
        config,
        config_json,
        dir: dir.to_path_buf(),
        weights_sha256,
        side_files,
    })
}

/// `dir/model.safetensors`, or a clear error (pickle checkpoints are refused, never unpickled).
pub fn weights_file(dir: &Path) -> Result<PathBuf> {
    let st = dir.join("model.safetensors");
    if st.is_file() {
        return Ok(st);
    }
    if dir.join("pytorch_model.bin").is_file() {
        bail!(
            "{}: only a pickle checkpoint (pytorch_model.bin) was found; tunescope never unpickles. \
             Convert it to safetensors first, e.g. python -c \"from transformers import AutoModel; \
             AutoModel.from_pretrained('{0}').save_pretrained('{0}', safe_serialization=True)\"",
            dir.display()
        );
    }
    bail!("{}: missing model.safetensors", dir.display())
}

/// One tensor entry of a safetensors header.
#[derive(serde::Deserialize)]
struct HeaderEntry {
    dtype: String,
    shape: Vec<i64>,
    data_offsets: [u64; 2],
}

/// Parses the header of a safetensors file: tensor entries by name and the data start offset.
fn read_header(path: &Path, f: &mut std::fs::File) -> Result<(HashMap<String, HeaderEntry>, u64)> {
    use std::io::Read;
    let bad = |what: &str| anyhow!("{} is not a valid safetensors file: {what}", path.display());
    let mut len = [0u8; 8];
    f.read_exact(&mut len)
        .map_err(|_| bad("shorter than its 8-byte header length"))?;
    let n = u64::from_le_bytes(len);
    let file_len = f
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?
        .len();
    if n > 100 << 20 || n + 8 > file_len {
        return Err(bad(&format!("header length {n} does not fit the file")));
    }
    let mut header = vec![0u8; n as usize];
    f.read_exact(&mut header)
        .map_err(|_| bad("truncated header"))?;
    let raw: HashMap<String, serde_json::Value> =
        serde_json::from_slice(&header).map_err(|e| bad(&format!("header is not JSON ({e})")))?;
    let mut entries = HashMap::new();
    for (name, v) in raw {
        if name == "__metadata__" {
            continue;
        }
        let e: HeaderEntry =
            serde_json::from_value(v).map_err(|e| bad(&format!("entry {name}: {e}")))?;
        let end = (8 + n).checked_add(e.data_offsets[1]);
        if e.data_offsets[0] > e.data_offsets[1] || end.is_none_or(|end| end > file_len) {
            return Err(bad(&format!("tensor {name} lies outside the file")));
        }
        entries.insert(name, e);
    }
    Ok((entries, 8 + n))
}

fn kind_of(dtype: &str) -> Option<(Kind, usize)> {
    match dtype {
        "F32" => Some((Kind::Float, 4)),
        "F16" => Some((Kind::Half, 2)),
        "BF16" => Some((Kind::BFloat16, 2)),
        "F64" => Some((Kind::Double, 8)),
        _ => None,
    }
}

/// Copies the weights of a safetensors file into `bert` and returns the file's SHA-256 (hex).
///
/// Checkpoint names may carry the `bert.` prefix (task models); tensors the encoder does not
/// have (heads, `position_ids`) are ignored. A missing tensor or a shape that disagrees with
/// the configuration is an error naming both; a checkpoint without a pooler keeps the freshly
/// initialised one (it plays no part in the hidden states). Tensors are read one at a time, so
/// loading needs little memory beyond the model itself.
pub fn load_weights(bert: &Bert, path: &Path) -> Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path)
        .with_context(|| format!("cannot open weights {}", path.display()))?;
    let (entries, data_start) = read_header(path, &mut f)?;
    let mut names: HashMap<&str, &str> = HashMap::new();
    for name in entries.keys() {
        names.insert(name.strip_prefix("bert.").unwrap_or(name), name);
    }
    let _guard = tch::no_grad_guard();
    let mut buf = Vec::new();
    for (name, mut param) in bert.named_parameters() {
        let expected = param.size();
        let Some(&full) = names.get(name.as_str()) else {
            if name.starts_with("pooler.") {
                tracing::info!(
                    "{}: no {name}; keeping a freshly initialised pooler",
                    path.display()
                );
                continue;
            }
            bail!(
                "{}: missing tensor {name} (expected shape {expected:?})",
                path.display()
            );
        };
        let e = &entries[full];
        if e.shape != expected {
            bail!(
                "{}: tensor {full} has shape {:?}, expected {expected:?} (from config.json)",
                path.display(),
                e.shape
            );
        }
        let (kind, size) = kind_of(&e.dtype).ok_or_else(|| {
            anyhow!(
                "{}: tensor {full} has dtype {}, expected a float type",
                path.display(),
                e.dtype
            )
        })?;
        let len = (e.data_offsets[1] - e.data_offsets[0]) as usize;
        if len != param.numel() * size {
            bail!(
                "{}: tensor {full} holds {len} bytes, expected {}",
                path.display(),
                param.numel() * size
            );
        }
        buf.resize(len, 0);
        f.seek(SeekFrom::Start(data_start + e.data_offsets[0]))
            .and_then(|_| f.read_exact(&mut buf))
            .with_context(|| format!("cannot read tensor {full} from {}", path.display()))?;
        let src = Tensor::f_from_data_size(&buf, &expected, kind)?;
        check_finite(&src, full, path)?;
        param.f_copy_(&src)?;
    }
    file_sha256(path)
}

/// A weight with a NaN or infinite value would turn every hidden state into NaN: refuse it.
fn check_finite(t: &Tensor, name: &str, path: &Path) -> Result<()> {
    let bad = t.numel() as i64 - t.isfinite().sum(Kind::Int64).int64_value(&[]);
    if bad > 0 {
        bail!(
            "{}: tensor {name} holds {bad} NaN or infinite value(s); the checkpoint is corrupt",
            path.display()
        );
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) of a file's contents.
pub fn file_sha256(path: &Path) -> Result<String> {
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex(&h.finalize()))
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp-partial");
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// Writes `bert`'s parameters to `path` as safetensors with transformers' names (no prefix).
pub fn save_weights(bert: &Bert, path: &Path) -> Result<()> {
    let params: Vec<(String, Vec<usize>, Vec<u8>)> = bert
        .named_parameters()
        .into_iter()
        .map(|(name, t)| {
            let t = t
                .detach()
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous();
            let shape: Vec<usize> = t.size().iter().map(|&d| d as usize).collect();
            let n = t.numel();
            let mut buf = vec![0f32; n];
            t.view(-1).copy_data(&mut buf, n);
            let bytes: Vec<u8> = buf.iter().flat_map(|v| v.to_le_bytes()).collect();
            (name, shape, bytes)
        })
        .collect();
    let views = params
        .iter()
        .map(|(name, shape, bytes)| {
            let v = safetensors::tensor::TensorView::new(Dtype::F32, shape.clone(), bytes)
                .map_err(|e| anyhow!("tensor {name}: {e}"))?;
            Ok((name.clone(), v))
        })
        .collect::<Result<Vec<_>>>()?;
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let bytes = safetensors::tensor::serialize(views, Some(meta))
        .map_err(|e| anyhow!("cannot serialise weights for {}: {e}", path.display()))?;
    write_atomic(path, &bytes)
}

/// Saves an encoder in Hugging Face layout: `config.json` (the given JSON), `model.safetensors`
/// (transformers' names) and the tokenizer (`tokenizer.json` plus the side files it was loaded
/// with), each file written atomically.
pub fn save_pretrained(
    bert: &Bert,
    config_json: &serde_json::Value,
    tokenizer: &WordTokenizer,
    side_files: &[(String, Vec<u8>)],
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    save_weights(bert, &out.join("model.safetensors"))?;
    let tok = tokenizer
        .inner()
        .to_string(true)
        .map_err(|e| anyhow!("cannot serialise the tokenizer: {e}"))?;
    write_atomic(&out.join("tokenizer.json"), tok.as_bytes())?;
    for (name, bytes) in side_files {
        write_atomic(&out.join(name), bytes)?;
    }
    write_atomic(
        &out.join("config.json"),
        serde_json::to_string_pretty(config_json)?.as_bytes(),
    )
}

impl Encoder {
    /// Tokenizer side files (vocab.txt, tokenizer_config.json, ...) as loaded.
    pub fn side_files(&self) -> &[(String, Vec<u8>)] {
        &self.side_files
    }

    /// Saves this encoder (current weights) in Hugging Face layout under `out`.
    pub fn save(&self, out: &Path) -> Result<()> {
        save_pretrained(
            &self.bert,
            &self.config_json,
            &self.tokenizer,
            &self.side_files,
            out,
        )
    }
}

/// No-panic property of the safetensors header parser (issue 17): arbitrary bytes, and headers
/// that are nearly valid, parse or give an error; what parses lies inside the file. Cases:
/// `TUNESCOPE_FUZZ_CASES` (default 512).
#[cfg(test)]
mod header_fuzz {
    use proptest::prelude::*;

    fn cases() -> u32 {
        std::env::var("TUNESCOPE_FUZZ_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(512)
    }

    /// A header length (right, wrong or huge), a JSON-like header and data bytes.
    fn file_bytes() -> impl Strategy<Value = Vec<u8>> {
        let offset = prop_oneof![
            0u64..64,
            Just(u64::MAX),
            Just(u64::MAX - 7),
            Just(1u64 << 63),
        ];
        let entry = (
            prop::sample::select(vec!["F32", "F16", "BF16", "F64", "I64", ""]),
            prop::collection::vec(-2i64..5, 0..3),
            offset.clone(),
            offset,
        )
            .prop_map(|(d, shape, a, b)| {
                format!("{{\"dtype\":\"{d}\",\"shape\":{shape:?},\"data_offsets\":[{a},{b}]}}")
            });
        let header = prop_oneof![
            4 => prop::collection::vec(
                (prop::sample::select(vec!["w", "bert.w", "__metadata__", ""]), entry),
                0..3,
            )
            .prop_map(|es| {
                let body: Vec<String> = es.iter().map(|(k, e)| format!("\"{k}\":{e}")).collect();
                format!("{{{}}}", body.join(","))
            }),
            1 => any::<String>(),
        ];
        prop_oneof![
            4 => (header, -4i64..4, prop::collection::vec(any::<u8>(), 0..64)).prop_map(
                |(h, skew, data)| {
                    let len = (h.len() as i64 + skew).max(0) as u64;
                    let mut b = len.to_le_bytes().to_vec();
                    b.extend_from_slice(h.as_bytes());
                    b.extend_from_slice(&data);
                    b
                }
            ),
            1 => prop::collection::vec(any::<u8>(), 0..40),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(cases()))]

        #[test]
        fn safetensors_header_never_panics(bytes in file_bytes()) {
            // Memory-backed /dev/shm when present: far cheaper file round trips.
            let shm = std::path::Path::new("/dev/shm");
            let base = if shm.is_dir() { shm.to_path_buf() } else { std::env::temp_dir() };
            let path = base.join(
                format!(
                    "tunescope-fuzz-{}-{:?}.safetensors",
                    std::process::id(),
                    std::thread::current().id()
                )
                .replace(['(', ')'], ""),
            );
            std::fs::write(&path, &bytes).unwrap();
            let mut f = std::fs::File::open(&path).unwrap();
            let parsed = super::read_header(&path, &mut f);
            std::fs::remove_file(&path).unwrap();
            if let Ok((entries, start)) = parsed {
                for e in entries.values() {
                    prop_assert!(e.data_offsets[0] <= e.data_offsets[1]);
                    prop_assert!(
                        u128::from(start) + u128::from(e.data_offsets[1]) <= bytes.len() as u128
                    );
                }
            }
        }
    }
}
