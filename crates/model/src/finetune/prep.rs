//! Turning a task's sentences and units into sub-word inputs, and batches into tensors.

use anyhow::{bail, Result};
use tch::Tensor;
use tunescope_data::{Split, Target, Task};

use super::head::{Layout, Plan, SentencePool, WordPool};

/// One sentence ready for the encoder, with its labelled units.
#[derive(Debug, Clone)]
pub struct Encoded {
    /// `[CLS]` sub-words `[SEP]`, cut to the length limit.
    pub ids: Vec<i64>,
    /// Sub-word span of each word.
    pub layout: Layout,
    /// The sentence's units: target and class id.
    pub units: Vec<(Target, usize)>,
}

/// A split ready for training or scoring.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// Sentences in split order.
    pub sentences: Vec<Encoded>,
    /// Units whose words were cut off by the length limit (left out of training and scoring).
    pub cut_units: usize,
    /// Their indices in the split's unit order.
    pub cut: Vec<usize>,
}

impl Prepared {
    /// Sequence length of every sentence.
    pub fn lengths(&self) -> Vec<usize> {
        self.sentences.iter().map(|s| s.ids.len()).collect()
    }

    /// Units that can be trained on or scored.
    pub fn n_units(&self) -> usize {
        self.sentences.iter().map(|s| s.units.len()).sum()
    }
}

/// Special token ids of the vocabulary.
#[derive(Debug, Clone, Copy)]
pub struct Specials {
    /// `[CLS]`.
    pub cls: i64,
    /// `[SEP]`.
    pub sep: i64,
    /// `[PAD]`.
    pub pad: i64,
}

/// Sub-word ids of each word of a sentence.
pub type SubwordFn<'a> = dyn Fn(&[String]) -> Result<Vec<Vec<i64>>> + 'a;

/// Encodes every sentence of `split` with `subwords` (each word's sub-word ids), cut to
/// `max_len` positions; units get class ids from `task`'s label list.
pub fn prepare(
    task: &Task,
    split: &Split,
    split_name: &str,
    max_len: usize,
    specials: Specials,
    subwords: &SubwordFn,
) -> Result<Prepared> {
    let mut units_of: Vec<Vec<(usize, Target, usize)>> = vec![Vec::new(); split.sentences.len()];
    for (k, u) in split.units.iter().enumerate() {
        let Some(label) = task.label_index(&u.label) else {
            bail!(
                "{split_name} unit {k} has label {:?}, which is not in the task's label list",
                u.label
            );
        };
        if u.target.kind() != task.unit_kind {
            bail!(
                "{split_name} unit {k} is a {} unit in a {} task",
                u.target.kind().name(),
                task.unit_kind.name()
            );
        }
        let Some(slot) = units_of.get_mut(u.sentence) else {
            bail!(
                "{split_name} unit {k} refers to sentence {} of {}",
                u.sentence,
                split.sentences.len()
            );
        };
        slot.push((k, u.target.clone(), label));
    }
    let mut out = Prepared::default();
    for (sentence, units) in split.sentences.iter().zip(units_of) {
        let pieces = subwords(&sentence.words)?;
        let mut ids = vec![specials.cls];
        let mut words = Vec::with_capacity(pieces.len());
        for p in &pieces {
            let start = ids.len();
            if !p.is_empty() && start + p.len() < max_len {
                ids.extend_from_slice(p);
                words.push(Some((start, ids.len())));
            } else {
                // A word with no sub-words, or past the limit: later words are cut as well.
                words.push(None);
                if !p.is_empty() {
                    words.extend(std::iter::repeat_n(None, pieces.len() - words.len()));
                    break;
                }
            }
        }
        ids.push(specials.sep);
        let layout = Layout {
            words,
            len: ids.len(),
        };
        let mut probe = Plan::new(task.unit_kind);
        let mut kept = Vec::with_capacity(units.len());
        for (k, t, l) in units {
            if probe.push(&t, &layout, 0, WordPool::First, SentencePool::Cls) {
                kept.push((t, l));
            } else {
                out.cut_units += 1;
                out.cut.push(k);
            }
        }
        out.sentences.push(Encoded {
            ids,
            layout,
            units: kept,
        });
    }
    Ok(out)
}

/// The tensors of one batch: ids and mask `[b, t]`, the gathering plan and labels of its units,
/// and the number of real (non-pad) positions.
pub struct Batch {
    /// Sub-word ids, padded.
    pub ids: Tensor,
    /// 1 for real positions, 0 for padding.
    pub mask: Tensor,
    /// How to gather the unit vectors.
    pub plan: Plan,
    /// Class id of every planned unit.
    pub labels: Vec<i64>,
    /// Real positions in the batch.
    pub tokens: usize,
}

/// Builds the batch of `data`'s sentences `idx`.
pub fn make_batch(
    data: &Prepared,
    idx: &[usize],
    specials: Specials,
    kind: tunescope_data::UnitKind,
    word_pool: WordPool,
    sent_pool: SentencePool,
) -> Batch {
    let t = idx
        .iter()
        .map(|&i| data.sentences[i].ids.len())
        .max()
        .unwrap_or(0);
    let mut ids = Vec::with_capacity(idx.len() * t);
    let mut mask = Vec::with_capacity(idx.len() * t);
    let mut plan = Plan::new(kind);
    let mut labels = Vec::new();
    let mut tokens = 0;
    for (b, &i) in idx.iter().enumerate() {
        let s = &data.sentences[i];
        ids.extend_from_slice(&s.ids);
        ids.extend(std::iter::repeat_n(specials.pad, t - s.ids.len()));
        mask.extend(std::iter::repeat_n(1i64, s.ids.len()));
        mask.extend(std::iter::repeat_n(0i64, t - s.ids.len()));
        tokens += s.ids.len();
        for (target, label) in &s.units {
            if plan.push(target, &s.layout, b * t, word_pool, sent_pool) {
                labels.push(*label as i64);
            }
        }
    }
    let shape = [idx.len() as i64, t as i64];
    Batch {
        ids: Tensor::from_slice(&ids).view(shape),
        mask: Tensor::from_slice(&mask).view(shape),
        plan,
        labels,
        tokens,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tunescope_data::{Sentence, Unit, UnitKind};

    fn split(words: &[&[&str]]) -> Split {
        let sentences: Vec<Sentence> = words
            .iter()
            .map(|w| Sentence {
                words: w.iter().map(|s| s.to_string()).collect(),
                doc: "d".into(),
                id: None,
                file: "f".into(),
                line: 1,
            })
            .collect();
        let mut units = Vec::new();
        for (si, s) in sentences.iter().enumerate() {
            for wi in 0..s.words.len() {
                units.push(Unit {
                    sentence: si,
                    target: Target::Token(wi),
                    label: if wi % 2 == 0 { "A".into() } else { "B".into() },
                });
            }
        }
        Split { sentences, units }
    }

    /// Every word becomes as many sub-words as it has characters (ids = byte values).
    fn chars(words: &[String]) -> Result<Vec<Vec<i64>>> {
        Ok(words
            .iter()
            .map(|w| w.bytes().map(i64::from).collect())
            .collect())
    }

    #[test]
    fn cuts_at_the_limit_and_counts_cut_units() {
        let train = split(&[&["ab", "c", "def", "g"]]);
        let task = Task::new(
            "t",
            UnitKind::Token,
            train.clone(),
            Split::default(),
            Split::default(),
            &[],
        );
        let sp = Specials {
            cls: 1,
            sep: 2,
            pad: 0,
        };
        let p = prepare(&task, &task.train, "train", 6, sp, &chars).unwrap();
        let s = &p.sentences[0];
        assert_eq!(s.ids, vec![1, 97, 98, 99, 2]);
        assert_eq!(s.layout.words, vec![Some((1, 3)), Some((3, 4)), None, None]);
        assert_eq!((s.units.len(), p.cut_units), (2, 2));
        assert_eq!(p.cut, vec![2, 3], "the cut units' indices");

        let b = make_batch(
            &p,
            &[0, 0],
            sp,
            UnitKind::Token,
            WordPool::First,
            SentencePool::Cls,
        );
        assert_eq!(b.ids.size(), vec![2, 5]);
        assert_eq!((b.tokens, b.labels.clone()), (10, vec![0, 1, 0, 1]));
    }

    #[test]
    fn rejects_kind_mismatch_and_bad_sentence_index() {
        let mut train = split(&[&["a"]]);
        train.units[0].target = Target::Sentence;
        let task = Task::new(
            "t",
            UnitKind::Token,
            train,
            Split::default(),
            Split::default(),
            &[],
        );
        let sp = Specials {
            cls: 1,
            sep: 2,
            pad: 0,
        };
        let e = prepare(&task, &task.train, "train", 8, sp, &chars)
            .unwrap_err()
            .to_string();
        assert!(e.contains("sentence unit in a token task"), "{e}");
    }
}
