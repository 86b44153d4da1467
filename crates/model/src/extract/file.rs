//! `tunescope embed`: a file of pre-tokenized sentences → one `.npy` per layer + a manifest.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use tunescope_data::npy::NpyRowWriter;

use super::embed::Embedder;
use crate::encoder::{Encoder, WordPool, WordTokenizer};

/// Rows copied out of a chunk's tensor at a time when writing (bounds the copy buffer).
const WRITE_ROWS: usize = 1024;

/// What one output row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmbedPool {
    /// One row per word, pooled from its sub-words.
    Word(WordPool),
    /// One row per sentence: its `[CLS]` vector.
    Cls,
}

impl EmbedPool {
    /// `first`, `last`, `mean` or `cls`.
    pub fn name(self) -> &'static str {
        match self {
            EmbedPool::Word(WordPool::First) => "first",
            EmbedPool::Word(WordPool::Last) => "last",
            EmbedPool::Word(WordPool::Mean) => "mean",
            EmbedPool::Cls => "cls",
        }
    }
}

/// Settings of one embedding run.
#[derive(Debug, Clone)]
pub struct EmbedFileOptions {
    /// Input: one sentence per line, words separated by single spaces.
    pub input: PathBuf,
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Row pooling.
    pub pool: EmbedPool,
    /// Hidden-state indices to write (0 = embeddings).
    pub layers: Vec<usize>,
    /// Windows per forward pass.
    pub batch_size: usize,
    /// Sentences are encoded in chunks of about this many words (memory bound).
    pub chunk_words: usize,
    /// When set (e.g. by Ctrl-C), the run stops before its next chunk with an error and
    /// removes its unfinished files.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What an embedding run wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedSummary {
    /// Sentences read.
    pub sentences: usize,
    /// Words read.
    pub words: usize,
    /// Rows of every layer file.
    pub rows: usize,
    /// Files written, layer files first, then `manifest.json`.
    pub files: Vec<PathBuf>,
}

/// Parses `all` or a comma-separated list of hidden-state indices for a model with
/// `num_layers` transformer layers (indices `0..=num_layers`).
pub fn parse_layers(spec: &str, num_layers: usize) -> Result<Vec<usize>> {
    if spec == "all" {
        return Ok((0..=num_layers).collect());
    }
    let mut out = Vec::new();
    for part in spec.split(',') {
        let l: usize = part.trim().parse().with_context(|| {
            format!("invalid layer {part:?} in {spec:?} (expected `all` or e.g. `0,6`)")
        })?;
        if l > num_layers {
            bail!("layer {l} does not exist: the model has hidden states 0..={num_layers}");
        }
        if out.contains(&l) {
            bail!("layer {l} is listed twice in {spec:?}");
        }
        if out.last().is_some_and(|&prev| prev > l) {
            bail!("layers must be listed in increasing order, as the files are: {spec:?}");
        }
        out.push(l);
    }
    Ok(out)
}

/// Splits one input line into words, with an error naming the file and line on bad input.
fn split_line<'a>(line: &'a str, path: &Path, lineno: usize) -> Result<Vec<&'a str>> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if line.trim().is_empty() {
        bail!(
            "{}:{lineno}: empty line (expected one sentence per line)",
            path.display()
        );
    }
    let words: Vec<&str> = line.split(' ').collect();
    if words.iter().any(|w| w.is_empty()) {
        bail!(
            "{}:{lineno}: empty word (words must be separated by single spaces, without leading \
             or trailing spaces)",
            path.display()
        );
    }
    if let Some((i, w)) = words
        .iter()
        .enumerate()
        .find(|(_, w)| w.chars().any(char::is_control))
    {
        bail!(
            "{}:{lineno}: word {} ({:?}) contains a TAB or another control character (words are \
             separated by single spaces)",
            path.display(),
            i + 1,
            excerpt(w)
        );
    }
    Ok(words)
}

/// Longest excerpt of a word kept in an error message, in characters.
const MAX_EXCERPT: usize = 80;

/// `w` cut to [`MAX_EXCERPT`] characters (with `…` when cut).
fn excerpt(w: &str) -> String {
    match w.char_indices().nth(MAX_EXCERPT) {
        Some((at, _)) => format!("{}…", &w[..at]),
        None => w.to_string(),
    }
}

/// Checks that every word of one line fits a model window, naming file, line and word.
fn check_fits(tok: &WordTokenizer, words: &[&str], path: &Path, lineno: usize) -> Result<()> {
    let budget = tok.max_len() - 2;
    let pieces = tok
        .subwords(words)
        .with_context(|| format!("{}:{lineno}", path.display()))?;
    if let Some((i, p)) = pieces.iter().enumerate().find(|(_, p)| p.len() > budget) {
        bail!(
            "{}:{lineno}: word {} ({:?}, {} characters) has {} sub-words, more than a whole \
             model window of {budget}",
            path.display(),
            i + 1,
            excerpt(words[i]),
            words[i].chars().count(),
            p.len()
        );
    }
    Ok(())
}

/// Validates the whole input first (so bad input leaves no output and costs no model work):
/// every line splits into words and every word fits a window of `tok`. Returns the input's
/// SHA-256, sentence and word counts.
fn scan_input(path: &Path, tok: &WordTokenizer) -> Result<(String, usize, usize)> {
    let f = std::fs::File::open(path)
        .with_context(|| format!("cannot open input {}", path.display()))?;
    let mut reader = BufReader::new(f);
    let mut hasher = Sha256::new();
    let (mut sentences, mut words) = (0usize, 0usize);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .by_ref()
            .read_until(b'\n', &mut buf)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf);
        sentences += 1;
        let line = std::str::from_utf8(&buf)
            .with_context(|| format!("{}:{sentences}: not valid UTF-8", path.display()))?;
        let line = line.strip_suffix('\n').unwrap_or(line);
        let ws = split_line(line, path, sentences)?;
        check_fits(tok, &ws, path, sentences)?;
        words += ws.len();
    }
    if sentences == 0 {
        bail!(
            "{}: no sentences (expected one pre-tokenized sentence per line)",
            path.display()
        );
    }
    let digest: String = hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Ok((digest, sentences, words))
}

/// Encodes every sentence of `opts.input` with `enc` and writes `layer-<k>.npy` per requested
/// layer (f32 `[rows, hidden]`, rows in input order) and `manifest.json` into `opts.out`.
///
/// The input is streamed in chunks: memory is bounded by one chunk's vectors, not by the input.
/// Every file is written to a temporary name and renamed into place when complete; the
/// manifest comes last. `progress` is called with the number of sentences done so far.
pub fn embed_file(
    enc: &Encoder,
    opts: &EmbedFileOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<EmbedSummary> {
    let (input_sha, n_sentences, n_words) = scan_input(&opts.input, &enc.tokenizer)?;
    let word_pool = match opts.pool {
        EmbedPool::Word(p) => p,
        EmbedPool::Cls => WordPool::First,
    };
    let embedder = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        opts.layers.clone(),
        word_pool,
        opts.batch_size,
        enc.vs.device(),
    )?;
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create output directory {}", opts.out.display()))?;
    let hidden = enc.config.hidden_size as usize;
    let paths: Vec<PathBuf> = opts
        .layers
        .iter()
        .map(|l| opts.out.join(format!("layer-{l}.npy")))
        .collect();
    let mut writers = paths
        .iter()
        .map(|p| NpyRowWriter::create(p, hidden))
        .collect::<Result<Vec<_>, _>>()?;

    let f = std::fs::File::open(&opts.input)
        .with_context(|| format!("cannot open input {}", opts.input.display()))?;
    let mut lines = BufReader::new(f).lines();
    let mut done = 0usize;
    let mut buf = vec![0f32; WRITE_ROWS * hidden];
    progress(0, n_sentences);
    loop {
        let mut chunk: Vec<Vec<String>> = Vec::new();
        let mut chunk_words = 0;
        while chunk_words < opts.chunk_words.max(1) {
            let Some(line) = lines.next() else { break };
            let line = line.with_context(|| format!("cannot read {}", opts.input.display()))?;
            let words = split_line(&line, &opts.input, done + chunk.len() + 1)?;
            chunk_words += words.len();
            chunk.push(words.into_iter().map(str::to_string).collect());
        }
        if chunk.is_empty() {
            break;
        }
        if opts
            .stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            bail!("interrupted after {done} of {n_sentences} sentences; unfinished files removed");
        }
        let v = embedder.embed(&chunk)?;
        let rows = match opts.pool {
            EmbedPool::Word(_) => &v.words,
            EmbedPool::Cls => &v.cls,
        };
        let n_rows = rows.size()[1];
        for (k, w) in writers.iter_mut().enumerate() {
            let layer = rows.get(k as i64);
            if !bool::try_from(layer.isfinite().all())? {
                bail!(
                    "hidden state {} of sentences {}..={} (lines of {}) holds NaN or infinite \
                     values: the model's weights or this input overflow; nothing was written",
                    opts.layers[k],
                    done + 1,
                    done + chunk.len(),
                    opts.input.display()
                );
            }
            for start in (0..n_rows).step_by(WRITE_ROWS) {
                let n = WRITE_ROWS.min((n_rows - start) as usize);
                layer
                    .narrow(0, start, n as i64)
                    .f_copy_data(&mut buf[..n * hidden], n * hidden)?;
                for row in buf[..n * hidden].chunks_exact(hidden) {
                    w.write_row(row)?;
                }
            }
        }
        done += chunk.len();
        progress(done, n_sentences);
    }
    if done != n_sentences {
        bail!(
            "{} changed while being read ({n_sentences} lines, then {done})",
            opts.input.display()
        );
    }
    let rows = writers.first().map(|w| w.rows()).unwrap_or(0);
    for w in writers {
        w.finish()?;
    }
    let canon = |p: &Path| {
        p.canonicalize()
            .unwrap_or_else(|_| p.to_path_buf())
            .display()
            .to_string()
    };
    let manifest = serde_json::json!({
        "tool": "tunescope",
        "version": env!("CARGO_PKG_VERSION"),
        "command": "embed",
        "model": { "path": canon(&enc.dir), "model_type": enc.config.family.model_type(), "weights_sha256": enc.weights_sha256 },
        "input": { "path": canon(&opts.input), "sha256": input_sha, "sentences": n_sentences, "words": n_words },
        "pooling": opts.pool.name(),
        "layers": opts.layers,
        "rows": rows,
        "hidden_size": hidden,
        "dtype": "<f4",
        "max_len": enc.tokenizer.max_len(),
    });
    let mpath = opts.out.join("manifest.json");
    let tmp = opts.out.join(".manifest.json.partial");
    std::fs::write(&tmp, serde_json::to_string_pretty(&manifest)? + "\n")
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, &mpath).with_context(|| format!("cannot write {}", mpath.display()))?;
    let mut files = paths;
    files.push(mpath);
    Ok(EmbedSummary {
        sentences: n_sentences,
        words: n_words,
        rows,
        files,
    })
}
