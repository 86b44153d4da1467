//! `tunescope embed`: every layer's word (or `[CLS]`) vectors of a file of sentences.

use std::path::PathBuf;

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
    /// token (`[CLS]`, RoBERTa's `<s>`).
    #[arg(long, value_enum, default_value = "first")]
    pub pool: Pool,
    /// Output directory: layer-<k>.npy (f32 [rows, hidden]) and manifest.json.
    #[arg(long)]
    pub out: PathBuf,
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
    let opts = EmbedFileOptions {
        input: args.input,
        out: args.out,
        pool,
        layers,
        batch_size: args.batch_size,
        chunk_words: 16_384,
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
    let summary = summary?;
    eprintln!(
        "embedded {} sentences ({} words): {} rows per layer in {}",
        summary.sentences,
        summary.words,
        summary.rows,
        opts.out.display()
    );
    Ok(())
}
