//! Batched, length-bucketed encoding of sentence chunks into word and `[CLS]` vectors.
//!
//! A chunk of sentences is tokenized into windows (see [`crate::encoder::tokenize`]), the
//! windows are sorted by length and cut into batches of at most `batch_size` windows and
//! `batch_size × 64` padded sub-words (so a batch pads only to its own longest window, and a
//! batch of long windows holds fewer of them), each batch runs once without autograd for all
//! layers, and the requested layers' vectors are copied in place into the chunk's output in
//! input order. Callers stream a long input chunk by chunk, so memory is bounded by one chunk.

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

use crate::encoder::pool::{cls_vectors, pool_words, SubwordSpan, WordPool};
use crate::encoder::{Model, Window, WordTokenizer};

/// Padded sub-words per window that a batch of `batch_size` windows may hold on average.
pub const TOKENS_PER_WINDOW: usize = 64;

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
    model: &'a Model,
    tokenizer: &'a WordTokenizer,
    layers: Vec<usize>,
    pool: WordPool,
    batch_size: usize,
    device: Device,
}

impl<'a> Embedder<'a> {
    /// `layers` index the hidden states (0 = embeddings, L = last layer); `batch_size` caps the
    /// windows (model inputs) per forward pass, and `batch_size × 64` the padded sub-words.
    pub fn new(
        model: &'a Model,
        tokenizer: &'a WordTokenizer,
        layers: Vec<usize>,
        pool: WordPool,
        batch_size: usize,
        device: Device,
    ) -> Result<Self> {
        let n = model.config().num_hidden_layers as usize + 1;
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
            model,
            tokenizer,
            layers,
            pool,
            batch_size,
            device,
        })
    }

    /// Width of the model's hidden states.
    pub fn hidden_size(&self) -> usize {
        self.model.config().hidden_size as usize
    }

    /// The hidden-state indices kept, in output order.
    pub fn layers(&self) -> &[usize] {
        &self.layers
    }

    /// Encodes a chunk of pre-tokenized sentences.
    ///
    /// Afterwards the allocator's free memory is returned to the system (see
    /// [`crate::memory::release_free_memory`]), so a stream of chunks keeps a flat resident size.
    pub fn embed<S: AsRef<str>>(&self, sentences: &[Vec<S>]) -> Result<ChunkVectors> {
        let out = self.embed_chunk(sentences);
        crate::memory::release_free_memory();
        out
    }

    fn embed_chunk<S: AsRef<str>>(&self, sentences: &[Vec<S>]) -> Result<ChunkVectors> {
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
        let lens: Vec<usize> = order.iter().map(|&i| windows[i].2.ids.len()).collect();

        let h = self.model.config().hidden_size;
        let nl = self.layers.len() as i64;
        let out_words = Tensor::zeros([nl, total_words as i64, h], (Kind::Float, Device::Cpu));
        let out_cls = Tensor::zeros([nl, sentences.len() as i64, h], (Kind::Float, Device::Cpu));
        let _guard = tch::no_grad_guard();
        for range in batches(&lens, self.batch_size, self.batch_size * TOKENS_PER_WINDOW) {
            let batch = &order[range];
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
            let states = self.model.forward_t(&ids, &mask, false);
            let targets = Tensor::from_slice(&targets);
            let cls_targets = Tensor::from_slice(&cls_targets);
            for (k, &l) in self.layers.iter().enumerate() {
                let k = k as i64;
                if !spans.is_empty() {
                    let v = pool_words(&states[l], &spans, self.pool)
                        .to_device(Device::Cpu)
                        .to_kind(Kind::Float);
                    let _ = out_words.get(k).index_copy_(0, &targets, &v);
                }
                if !cls_rows.is_empty() {
                    let v = cls_vectors(&states[l], &cls_rows)
                        .to_device(Device::Cpu)
                        .to_kind(Kind::Float);
                    let _ = out_cls.get(k).index_copy_(0, &cls_targets, &v);
                }
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

/// Cuts window lengths sorted longest first into consecutive batches of at most `max_windows`
/// windows whose padded size (count × first length) stays within `max_tokens`; a window longer
/// than `max_tokens` gets a batch of its own.
pub fn batches(
    lens: &[usize],
    max_windows: usize,
    max_tokens: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    while start < lens.len() {
        let fit = (max_tokens / lens[start].max(1)).clamp(1, max_windows.max(1));
        let end = (start + fit).min(lens.len());
        out.push(start..end);
        start = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::batches;

    #[test]
    fn batches_respect_window_and_token_caps() {
        let lens = [300, 100, 100, 60, 10, 10, 10, 10, 10];
        assert_eq!(batches(&lens, 4, 256), vec![0..1, 1..3, 3..7, 7..9]);
        assert_eq!(
            batches(&lens, 2, 10_000),
            vec![0..2, 2..4, 4..6, 6..8, 8..9]
        );
        assert!(batches(&[], 4, 256).is_empty());
    }
}
