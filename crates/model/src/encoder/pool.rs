//! Pooling sub-word hidden states into word, sentence, pair and span vectors.
//!
//! All functions are differentiable tensor operations, so fine-tuning can use them on the
//! output of a training-mode forward pass. Hidden states may carry leading dimensions (e.g. a
//! stack of layers `[layers, batch, seq, hidden]`); the pooled result keeps them.

use std::str::FromStr;

use anyhow::{bail, Result};
use tch::{Device, Kind, Tensor};

/// How a word's vector is made from its sub-words' vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WordPool {
    /// First sub-word (default).
    #[default]
    First,
    /// Last sub-word.
    Last,
    /// Mean of the sub-words.
    Mean,
}

impl FromStr for WordPool {
    type Err = anyhow::Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "first" => Ok(Self::First),
            "last" => Ok(Self::Last),
            "mean" => Ok(Self::Mean),
            _ => bail!("unknown word pooling {s:?} (expected first, last or mean)"),
        }
    }
}

/// How a sentence's vector is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SentencePool {
    /// The `[CLS]` hidden state (default).
    #[default]
    Cls,
    /// Mean of the sentence's word vectors.
    Mean,
}

/// One word's sub-words inside a padded batch: row `row`, positions `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubwordSpan {
    /// Batch row.
    pub row: usize,
    /// First sub-word position.
    pub start: usize,
    /// One past the last sub-word position (`end > start`).
    pub end: usize,
}

fn index(v: Vec<i64>, device: Device) -> Tensor {
    Tensor::from_slice(&v).to_device(device)
}

/// Word vectors `[..., words, hidden]` from hidden states `[..., batch, seq, hidden]`.
pub fn pool_words(hidden: &Tensor, spans: &[SubwordSpan], pool: WordPool) -> Tensor {
    let size = hidden.size();
    let nd = size.len();
    assert!(nd >= 3, "hidden states must be [..., batch, seq, hidden]");
    let (seq, dim) = (size[nd - 2], size[nd - 1]);
    let flat = hidden.flatten((nd - 3) as i64, (nd - 2) as i64);
    let pos = |row: usize, p: usize| row as i64 * seq + p as i64;
    let d = hidden.device();
    let gather_dim = (nd - 3) as i64;
    match pool {
        WordPool::First => flat.index_select(
            gather_dim,
            &index(spans.iter().map(|s| pos(s.row, s.start)).collect(), d),
        ),
        WordPool::Last => flat.index_select(
            gather_dim,
            &index(spans.iter().map(|s| pos(s.row, s.end - 1)).collect(), d),
        ),
        WordPool::Mean => {
            let mut idx = Vec::new();
            let mut seg = Vec::new();
            let mut inv = Vec::with_capacity(spans.len());
            for (w, s) in spans.iter().enumerate() {
                for p in s.start..s.end {
                    idx.push(pos(s.row, p));
                    seg.push(w as i64);
                }
                inv.push(1.0f32 / (s.end - s.start) as f32);
            }
            let picked = flat.index_select(gather_dim, &index(idx, d));
            let mut out_size = size[..nd - 3].to_vec();
            out_size.extend([spans.len() as i64, dim]);
            let sums = Tensor::zeros(&out_size, (hidden.kind(), d)).index_add(
                gather_dim,
                &index(seg, d),
                &picked,
            );
            sums * Tensor::from_slice(&inv)
                .to_device(d)
                .to_kind(hidden.kind())
                .unsqueeze(-1)
        }
    }
}

/// `[CLS]` vectors `[..., rows.len(), hidden]` of the given batch rows.
pub fn cls_vectors(hidden: &Tensor, rows: &[usize]) -> Tensor {
    let nd = hidden.dim();
    let cls = hidden.select((nd - 2) as i64, 0);
    let idx = index(rows.iter().map(|&r| r as i64).collect(), hidden.device());
    cls.index_select((nd - 3) as i64, &idx)
}

/// Mean of groups of rows: `[..., groups.len(), hidden]` from `[..., n, hidden]`. Used for
/// span vectors (a span's words) and mean sentence vectors (a sentence's words). Every group
/// must be non-empty.
pub fn mean_of_groups(xs: &Tensor, groups: &[Vec<usize>]) -> Result<Tensor> {
    let nd = xs.dim();
    let n = xs.size()[nd - 2];
    let mut idx = Vec::new();
    let mut seg = Vec::new();
    let mut inv = Vec::with_capacity(groups.len());
    for (g, members) in groups.iter().enumerate() {
        if members.is_empty() {
            bail!("group {g} is empty: cannot average no vectors");
        }
        for &m in members {
            if m as i64 >= n {
                bail!("group {g} refers to row {m}, but there are only {n}");
            }
            idx.push(m as i64);
            seg.push(g as i64);
        }
        inv.push(1.0f32 / members.len() as f32);
    }
    let d = xs.device();
    let picked = xs.index_select((nd - 2) as i64, &index(idx, d));
    let mut out_size = xs.size();
    out_size[nd - 2] = groups.len() as i64;
    let sums = Tensor::zeros(&out_size, (xs.kind(), d)).index_add(
        (nd - 2) as i64,
        &index(seg, d),
        &picked,
    );
    Ok(sums
        * Tensor::from_slice(&inv)
            .to_device(d)
            .to_kind(xs.kind())
            .unsqueeze(-1))
}

/// Pair vectors `[dependent ; head]`: `[..., pairs.len(), 2 * hidden]` from word vectors
/// `[..., n, hidden]`; each pair is `(dependent, head)` word indices.
pub fn pair_vectors(words: &Tensor, pairs: &[(usize, usize)]) -> Result<Tensor> {
    let nd = words.dim();
    let n = words.size()[nd - 2];
    for (i, &(a, b)) in pairs.iter().enumerate() {
        if a as i64 >= n || b as i64 >= n {
            bail!("pair {i} ({a}, {b}) refers to a word beyond the {n} available");
        }
    }
    let d = words.device();
    let dep = words.index_select(
        (nd - 2) as i64,
        &index(pairs.iter().map(|p| p.0 as i64).collect(), d),
    );
    let head = words.index_select(
        (nd - 2) as i64,
        &index(pairs.iter().map(|p| p.1 as i64).collect(), d),
    );
    Ok(Tensor::cat(&[dep, head], -1))
}

/// Converts a float tensor `[rows, cols]` to a row-major `Vec<f32>` on the CPU.
pub fn to_f32_vec(xs: &Tensor) -> Result<Vec<f32>> {
    let t = xs
        .to_device(Device::Cpu)
        .to_kind(Kind::Float)
        .contiguous()
        .view(-1);
    Ok(Vec::<f32>::try_from(&t)?)
}
