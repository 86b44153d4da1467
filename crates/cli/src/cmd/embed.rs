//! `tunescope embed`: every layer's word (or `[CLS]`) vectors of a file of sentences.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Result;
use clap::ValueEnum;
use tunescope_model::encoder::{self, WordPool};
use tunescope_model::extract::{embed_file, parse_layers, EmbedFileOptions, EmbedPool};

/// Row pooling of `tunescope embed`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Pool {
    /// One row per word: its first sub-word.
    First,
    /// One row per word: its last sub-word.
    Last,
    /// One row per word: the mean of its sub-words.
    Mean,
    /// One row per sentence: its first token (`[CLS]` / `<s>`).
    Cls,
}

/// Encode pre-tokenized sentences and write each layer's vectors as `.npy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Hugging Face encoder directory (config.json, model.safetensors, tokenizer) of a supported
    /// model_type: bert, roberta, xlm-roberta, distilbert or electra.
    #[arg(long)]
    pub model: String,
    /// One pre-tokenized sentence per line, words separated by single spaces.
    #[arg(long)]
    pub input: PathBuf,
    /// Row pooling: word vectors from the first, last or mean sub-word, or the sentence's first
    /// token (`[CLS]`, RoBERTa's `<s>`). Default `mean`, as the studies (and the paper).
    #[arg(long, value_enum, default_value = "mean")]
    pub pool: Pool,
    /// Output directory: layer-<k>.npy (f32 [rows, hidden]) and manifest.json. Written as a
    /// whole when complete; a non-empty directory is refused unless --force.
    #[arg(long)]
    pub out: PathBuf,
    /// Replace a non-empty --out directory (its previous files are removed).
    #[arg(long)]
    pub force: bool,
    /// Hidden states to write: `all` or a list such as `0,6` (0 = embedding output).
    #[arg(long, default_value = "all")]
    pub layers: String,
    /// Model inputs (sentences or windows of long ones) per forward pass, at most; a batch also
    /// holds at most 64 × this many padded sub-words.
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// `cpu` or `cuda:N`.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// libtorch intra-op threads (default: libtorch's choice).
    #[arg(long)]
    pub threads: Option<usize>,
}

/// Runs `tunescope embed`.
pub fn run(args: Args) -> Result<()> {
    // Refuse a non-empty --out before any work (and sweep what interrupted runs left there).
    crate::outdir::check(&args.out, args.force)?;
    encoder::set_threads(args.threads)?;
    let device = encoder::parse_device(&args.device)?;
    let dir = encoder::resolve(&args.model)?;
    let enc = encoder::load(&dir, device)?;
    let layers = parse_layers(&args.layers, enc.config.num_hidden_layers as usize)?;
    let pool = match args.pool {
        Pool::First => EmbedPool::Word(WordPool::First),
        Pool::Last => EmbedPool::Word(WordPool::Last),
        Pool::Mean => EmbedPool::Word(WordPool::Mean),
        Pool::Cls => EmbedPool::Cls,
    };
    let staging = crate::outdir::Staging::begin(&args.out, args.force)?;
    let stop = crate::signals::stop_flag()?;
    let opts = EmbedFileOptions {
        input: args.input,
        out: staging.path().to_path_buf(),
        pool,
        layers,
        batch_size: args.batch_size,
        chunk_words: 16_384,
        stop: Some(Arc::clone(&stop)),
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} sentences {per_sec} eta {eta}",
        )
        .expect("valid progress template"),
    );
    let summary = embed_file(&enc, &opts, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let summary = match summary {
        Err(e) if crate::signals::requested(&stop) => {
            drop(staging);
            eprintln!("error: {e:#}");
            std::process::exit(crate::signals::EXIT_INTERRUPTED);
        }
        other => other?,
    };
    staging.commit()?;
    eprintln!(
        "embedded {} sentences ({} words): {} rows per layer in {}",
        summary.sentences,
        summary.words,
        summary.rows,
        args.out.display()
    );
    Ok(())
}
