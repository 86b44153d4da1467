//! Batched, length-bucketed encoding of sentence chunks into word and `[CLS]` vectors.
//!
//! A chunk of sentences is tokenized into windows (see [`crate::encoder::tokenize`]), the
//! windows are sorted by length and cut into batches (so a batch pads only to its own longest
//! window, which after sorting is close to its shortest), each batch runs once without autograd
//! for all layers, and the requested layers' vectors are scattered back into input order.
//! Callers stream a long input chunk by chunk, so memory is bounded by one chunk's vectors.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use crate::encoder::pool::{cls_vectors, pool_words, SubwordSpan, WordPool};
use crate::encoder::{Bert, Window, WordTokenizer};

/// Vectors of one chunk of sentences for the requested layers, in input order.
#[derive(Debug)]
pub struct ChunkVectors {
    /// `[layers, words of all sentences, hidden]` (f32, CPU).
    pub words: Tensor,
    /// `[layers, sentences, hidden]`: each sentence's `[CLS]` (from its first window).
    pub cls: Tensor,
    /// Words of each sentence; the words of sentence `i` follow those of sentence `i - 1`.
    pub sentence_words: Vec<usize>,
}

/// Encodes sentences with one model, keeping only the requested layers.
pub struct Embedder<'a> {
    bert: &'a Bert,
    tokenizer: &'a WordTokenizer,
    layers: Vec<usize>,
    pool: WordPool,
    batch_size: usize,
    device: Device,
}

impl<'a> Embedder<'a> {
    /// `layers` index the hidden states (0 = embeddings, L = last layer); `batch_size` counts
    /// windows (model inputs) per forward pass.
    pub fn new(
        bert: &'a Bert,
        tokenizer: &'a WordTokenizer,
        layers: Vec<usize>,
        pool: WordPool,
        batch_size: usize,
        device: Device,
    ) -> Result<Self> {
        let n = bert.config().num_hidden_layers as usize + 1;
        if layers.is_empty() {
            bail!("no layers requested");
        }
        if let Some(&l) = layers.iter().find(|&&l| l >= n) {
            bail!(
                "layer {l} does not exist: the model has hidden states 0..={}",
                n - 1
            );
        }
        if batch_size == 0 {
            bail!("batch size must be at least 1");
        }
        Ok(Self {
            bert,
            tokenizer,
            layers,
            pool,
            batch_size,
            device,
        })
    }

    /// Width of the model's hidden states.
    pub fn hidden_size(&self) -> usize {
        self.bert.config().hidden_size as usize
    }

    /// The hidden-state indices kept, in output order.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Encodes a chunk of pre-tokenized sentences.
    pub fn embed<S: AsRef<str>>(&self, sentences: &[Vec<S>]) -> Result<ChunkVectors> {
        let mut windows: Vec<(usize, usize, Window)> = Vec::new();
        let mut word_offset = Vec::with_capacity(sentences.len());
        let mut total_words = 0usize;
        for (s, words) in sentences.iter().enumerate() {
            let words: Vec<&str> = words.iter().map(AsRef::as_ref).collect();
            let enc = self.tokenizer.encode(&words)?;
            word_offset.push(total_words);
            total_words += enc.n_words;
            for (k, w) in enc.windows.into_iter().enumerate() {
                windows.push((s, k, w));
            }
        }
        // Length bucketing: longest first, ties in input order (deterministic).
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(windows[i].2.ids.len()));

        let h = self.bert.config().hidden_size;
        let nl = self.layers.len() as i64;
        let mut out_words = Tensor::zeros([nl, total_words as i64, h], (Kind::Float, Device::Cpu));
        let mut out_cls =
            Tensor::zeros([nl, sentences.len() as i64, h], (Kind::Float, Device::Cpu));
        let _guard = tch::no_grad_guard();
        for batch in order.chunks(self.batch_size) {
            let t = batch
                .iter()
                .map(|&i| windows[i].2.ids.len())
                .max()
                .unwrap_or(0);
            let b = batch.len();
            let mut ids = vec![0i64; b * t];
            let mut mask = vec![0i64; b * t];
            let mut spans = Vec::new();
            let mut targets = Vec::new();
            let mut cls_rows = Vec::new();
            let mut cls_targets = Vec::new();
            for (row, &i) in batch.iter().enumerate() {
                let (s, k, w) = &windows[i];
                ids[row * t..row * t + w.ids.len()].copy_from_slice(&w.ids);
                mask[row * t..row * t + w.ids.len()].fill(1);
                for p in &w.words {
                    spans.push(SubwordSpan {
                        row,
                        start: p.start,
                        end: p.end,
                    });
                    targets.push((word_offset[*s] + p.word) as i64);
                }
                if *k == 0 {
                    cls_rows.push(row);
                    cls_targets.push(*s as i64);
                }
            }
            let ids = Tensor::from_slice(&ids)
                .view([b as i64, t as i64])
                .to_device(self.device);
            let mask = Tensor::from_slice(&mask)
                .view([b as i64, t as i64])
                .to_device(self.device);
            let states = self.bert.forward_t(&ids, &mask, false);
            let picked: Vec<&Tensor> = self.layers.iter().map(|&l| &states[l]).collect();
            let stacked = Tensor::stack(&picked, 0);
            if !spans.is_empty() {
                let v = pool_words(&stacked, &spans, self.pool)
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Float);
                out_words = out_words.index_copy(1, &Tensor::from_slice(&targets), &v);
            }
            if !cls_rows.is_empty() {
                let v = cls_vectors(&stacked, &cls_rows)
                    .to_device(Device::Cpu)
                    .to_kind(Kind::Float);
                out_cls = out_cls.index_copy(1, &Tensor::from_slice(&cls_targets), &v);
            }
        }
        let sentence_words = word_offset
            .iter()
            .enumerate()
            .map(|(i, &o)| word_offset.get(i + 1).copied().unwrap_or(total_words) - o)
            .collect();
        Ok(ChunkVectors {
            words: out_words,
            cls: out_cls,
            sentence_words,
        })
    }
}
