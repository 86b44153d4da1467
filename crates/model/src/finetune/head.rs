//! Task heads: a unit vector of the last layer (token, [dependent ; head], span, sentence) fed to
//! one linear layer.
//!
//! A batch's unit vectors are gathered in one differentiable step: every unit is a weighted sum
//! of sub-word positions of the flattened `[batch × seq]` hidden states (first sub-word: one
//! position with weight 1; mean: 1/n each; [CLS]: position 0), built as an index/weight plan.
//! Word, span and sentence vectors follow [`crate::encoder::pool`] (a sentence mean is the
//! mean of its word vectors), so a fine-tuned head sees what extraction produces.

use tch::{nn, Kind, Tensor};
use tunescope_data::{Target, UnitKind};

pub use crate::encoder::pool::{SentencePool, WordPool};

/// Sub-word layout of one encoded sentence: `words[w] = (start, end)` positions (end exclusive)
/// in the sequence, which begins with `[CLS]` at 0; `len` counts every position incl. `[SEP]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Sub-word span of each word; `None` for a word cut off by the length limit.
    pub words: Vec<Option<(usize, usize)>>,
    /// Sequence length including `[CLS]` and `[SEP]`.
    pub len: usize,
}

/// Gathering plan for the unit vectors of one batch: for `sides` sides (2 for pairs),
/// `rows[s][k]` is the unit, `cols[s][k]` the flat position, `weights[s][k]` its weight.
#[derive(Debug, Default)]
pub struct Plan {
    sides: Vec<(Vec<i64>, Vec<i64>, Vec<f32>)>,
    /// Number of units planned.
    pub n_units: usize,
}

impl Plan {
    /// An empty plan for units of `kind`.
    pub fn new(kind: UnitKind) -> Self {
        let n = if kind == UnitKind::Pair { 2 } else { 1 };
        Plan {
            sides: vec![Default::default(); n],
            n_units: 0,
        }
    }

    fn push_word(
        &mut self,
        side: usize,
        unit: i64,
        offset: usize,
        span: (usize, usize),
        pool: WordPool,
        scale: f32,
    ) {
        let (rows, cols, weights) = &mut self.sides[side];
        let mut push = |pos: usize, w: f32| {
            rows.push(unit);
            cols.push((offset + pos) as i64);
            weights.push(w * scale);
        };
        match pool {
            WordPool::First => push(span.0, 1.0),
            WordPool::Last => push(span.1 - 1, 1.0),
            WordPool::Mean => {
                let n = (span.1 - span.0) as f32;
                for p in span.0..span.1 {
                    push(p, 1.0 / n);
                }
            }
        }
    }

    /// Adds one unit of the sentence whose positions start at `offset` in the flattened batch;
    /// returns false (and adds nothing) when a word of the unit was cut off by the length limit.
    pub fn push(
        &mut self,
        target: &Target,
        layout: &Layout,
        offset: usize,
        word_pool: WordPool,
        sent_pool: SentencePool,
    ) -> bool {
        let span = |w: usize| layout.words.get(w).copied().flatten();
        let unit = self.n_units as i64;
        match target {
            Target::Token(w) => match span(*w) {
                Some(s) => self.push_word(0, unit, offset, s, word_pool, 1.0),
                None => return false,
            },
            Target::Pair { dependent, head } => match (span(*dependent), span(*head)) {
                (Some(d), Some(h)) => {
                    self.push_word(0, unit, offset, d, word_pool, 1.0);
                    self.push_word(1, unit, offset, h, word_pool, 1.0);
                }
                _ => return false,
            },
            Target::Span(ws) => {
                let spans: Option<Vec<_>> = ws.iter().map(|&w| span(w)).collect();
                match spans {
                    Some(spans) if !spans.is_empty() => {
                        let scale = 1.0 / spans.len() as f32;
                        for s in spans {
                            self.push_word(0, unit, offset, s, word_pool, scale);
                        }
                    }
                    _ => return false,
                }
            }
            Target::Sentence => match sent_pool {
                SentencePool::Cls => self.push_word(0, unit, offset, (0, 1), WordPool::First, 1.0),
                SentencePool::Mean => {
                    let spans: Vec<_> = layout.words.iter().flatten().copied().collect();
                    if spans.is_empty() {
                        return false;
                    }
                    let scale = 1.0 / spans.len() as f32;
                    for s in spans {
                        self.push_word(0, unit, offset, s, word_pool, scale);
                    }
                }
            },
        }
        self.n_units += 1;
        true
    }

    /// Unit vectors `[n_units, sides × hidden]` from flattened hidden states `[positions, hidden]`.
    pub fn gather(&self, flat: &Tensor) -> Tensor {
        let hidden = flat.size()[1];
        let parts: Vec<Tensor> = self
            .sides
            .iter()
            .map(|(rows, cols, weights)| {
                let cols = Tensor::from_slice(cols);
                // One position per unit, in unit order, weight 1 (first or last sub-word, [CLS]):
                // the weighted sum is the selection itself.
                let direct = rows.len() == self.n_units
                    && rows.iter().enumerate().all(|(k, &r)| r == k as i64)
                    && weights.iter().all(|&w| w == 1.0);
                if direct {
                    return flat.index_select(0, &cols);
                }
                let rows = Tensor::from_slice(rows);
                let w = Tensor::from_slice(weights)
                    .to_kind(flat.kind())
                    .unsqueeze(1);
                let picked = flat.index_select(0, &cols) * w;
                Tensor::zeros([self.n_units as i64, hidden], (flat.kind(), flat.device()))
                    .index_add(0, &rows, &picked)
            })
            .collect();
        if parts.len() == 1 {
            parts.into_iter().next().unwrap()
        } else {
            Tensor::cat(&parts, 1)
        }
    }
}

/// A linear classifier over unit vectors, with dropout on its input (as transformers'
/// `BertForTokenClassification`).
#[derive(Debug)]
pub struct Head {
    /// The linear layer (`classifier.weight`, `classifier.bias`).
    pub linear: nn::Linear,
    dropout: f64,
}

impl Head {
    /// Input width of the head for units of `kind` over a `hidden`-wide encoder.
    pub fn input_dim(kind: UnitKind, hidden: i64) -> i64 {
        if kind == UnitKind::Pair {
            2 * hidden
        } else {
            hidden
        }
    }

    /// A head under `path` (variables `classifier.weight`/`classifier.bias`), weights drawn from
    /// N(0, 0.02²) and zero bias as transformers initialises classifiers.
    pub fn new(path: &nn::Path, in_dim: i64, n_labels: i64, dropout: f64) -> Self {
        let cfg = nn::LinearConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            bs_init: Some(nn::Init::Const(0.0)),
            bias: true,
        };
        Head {
            linear: nn::linear(path / "classifier", in_dim, n_labels, cfg),
            dropout,
        }
    }

    /// Logits `[n_units, n_labels]` for unit vectors `[n_units, in_dim]`.
    pub fn forward_t(&self, units: &Tensor, train: bool) -> Tensor {
        units.dropout(self.dropout, train).apply(&self.linear)
    }
}

/// Mean cross-entropy of `logits` against `labels`.
pub fn cross_entropy(logits: &Tensor, labels: &Tensor) -> Tensor {
    logits.log_softmax(-1, Kind::Float).nll_loss(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_gathers_first_mean_pairs_and_spans() {
        tch::set_num_threads(1);
        // Two sentences of length 4 and 3, hidden 2: position p of sentence s holds (10s + p, 1).
        let flat = Tensor::from_slice(&[
            0f32, 1., 1., 1., 2., 1., 3., 1., 10., 1., 11., 1., 12., 1., 0., 0.,
        ])
        .view([8, 2]);
        let a = Layout {
            words: vec![Some((1, 3)), None],
            len: 4,
        };
        let b = Layout {
            words: vec![Some((1, 2))],
            len: 3,
        };
        let mut p = Plan::new(UnitKind::Token);
        assert!(p.push(&Target::Token(0), &a, 0, WordPool::Mean, SentencePool::Cls));
        assert!(!p.push(&Target::Token(1), &a, 0, WordPool::Mean, SentencePool::Cls));
        assert!(p.push(&Target::Token(0), &b, 4, WordPool::First, SentencePool::Cls));
        assert!(p.push(
            &Target::Span(vec![0]),
            &a,
            0,
            WordPool::Last,
            SentencePool::Cls
        ));
        let v: Vec<f32> = Vec::try_from(p.gather(&flat).flatten(0, -1)).unwrap();
        assert_eq!(v, [1.5, 1., 11., 1., 2., 1.]);

        let mut p = Plan::new(UnitKind::Pair);
        assert!(p.push(
            &Target::Pair {
                dependent: 0,
                head: 0
            },
            &b,
            4,
            WordPool::First,
            SentencePool::Cls
        ));
        let v: Vec<f32> = Vec::try_from(p.gather(&flat).flatten(0, -1)).unwrap();
        assert_eq!(v, [11., 1., 11., 1.]);

        let mut p = Plan::new(UnitKind::Sentence);
        assert!(p.push(
            &Target::Sentence,
            &b,
            4,
            WordPool::First,
            SentencePool::Mean
        ));
        assert!(p.push(&Target::Sentence, &b, 4, WordPool::First, SentencePool::Cls));
        let v: Vec<f32> = Vec::try_from(p.gather(&flat).flatten(0, -1)).unwrap();
        assert_eq!(v, [11., 1., 10., 1.]);
        let mut p = Plan::new(UnitKind::Sentence);
        assert!(p.push(&Target::Sentence, &a, 0, WordPool::Last, SentencePool::Mean));
        let v: Vec<f32> = Vec::try_from(p.gather(&flat).flatten(0, -1)).unwrap();
        assert_eq!(v, [2., 1.]);
    }
}
