//! Pre-tokenized words → sub-word ids, with overlapping windows for over-long sentences.
//!
//! Windowing: a sentence whose sub-words do not fit in `max_len - 2` positions (room for `[CLS]`
//! and `[SEP]`) is cut at word boundaries into windows of at most that many sub-words, each
//! starting about half a window after the previous one, so consecutive windows overlap by about
//! half their length. Every word is encoded in one or more windows and takes its vector from the
//! window where it has the most context: the largest `min(sub-words before it, sub-words after
//! it)` within the window (earliest window on ties). The sentence's `[CLS]` comes from the first
//! window. A single word longer than a whole window is an error, never a silent cut.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::models::wordpiece::WordPiece;
use tokenizers::normalizers::BertNormalizer;
use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::Tokenizer;

use super::config::Family;

/// Where one word's sub-words sit inside a window: positions `start..end`, counting `[CLS]` as 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordPlacement {
    /// Index of the word in its sentence.
    pub word: usize,
    /// First sub-word position in the window.
    pub start: usize,
    /// One past the last sub-word position in the window.
    pub end: usize,
}

/// One model input: `[CLS] sub-words [SEP]`, with the words whose vectors it provides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Sub-word ids including `[CLS]` and `[SEP]`.
    pub ids: Vec<i64>,
    /// The sentence's words this window encodes (context included), a contiguous range.
    pub span: std::ops::Range<usize>,
    /// Words assigned to this window (each word of the sentence is in exactly one window).
    pub words: Vec<WordPlacement>,
}

/// A sentence as sub-words: one window if it fits, else several overlapping ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSentence {
    /// Number of words.
    pub n_words: usize,
    /// Model inputs; the first one provides the sentence's `[CLS]`.
    pub windows: Vec<Window>,
}

/// Maps pre-tokenized words to sub-word ids and word ids (WordPiece, byte-level BPE or
/// SentencePiece, as the model's `tokenizer.json` says).
#[derive(Clone)]
pub struct WordTokenizer {
    tokenizer: Tokenizer,
    cls: i64,
    sep: i64,
    unk: i64,
    max_len: usize,
}

impl std::fmt::Debug for WordTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WordTokenizer")
            .field("max_len", &self.max_len)
            .finish()
    }
}

fn special_token(cfg: Option<&serde_json::Value>, key: &str, default: &str) -> String {
    let v = cfg.and_then(|c| c.get(key));
    match v {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Object(o)) => o
            .get("content")
            .and_then(|c| c.as_str())
            .unwrap_or(default)
            .to_string(),
        _ => default.to_string(),
    }
}

impl WordTokenizer {
    /// Loads `tokenizer.json` from `dir`, or builds the BERT WordPiece tokenizer from
    /// `vocab.txt` + `tokenizer_config.json` (`do_lower_case`, default true) when there is no
    /// `tokenizer.json` (WordPiece families only). `max_len` is the longest model input, special
    /// tokens included. The sentence-start, separator and unknown tokens come from
    /// `tokenizer_config.json` or the family's defaults (`[CLS]`/`[SEP]`/`[UNK]`,
    /// `<s>`/`</s>`/`<unk>`). A byte-level pre-tokenizer gets `add_prefix_space`, as
    /// transformers requires for pre-tokenized input (`is_split_into_words=True`), so every word
    /// is encoded as if preceded by a space.
    pub fn from_dir(dir: &Path, family: Family, max_len: usize) -> Result<Self> {
        let cfg_path = dir.join("tokenizer_config.json");
        let cfg: Option<serde_json::Value> = if cfg_path.is_file() {
            let text = std::fs::read_to_string(&cfg_path)
                .with_context(|| format!("cannot read {}", cfg_path.display()))?;
            Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("{} is not valid JSON", cfg_path.display()))?,
            )
        } else {
            None
        };
        let json = dir.join("tokenizer.json");
        let vocab = dir.join("vocab.txt");
        let [cls_tok, sep_tok, unk_tok] = family.default_special_tokens();
        let unk_tok = special_token(cfg.as_ref(), "unk_token", unk_tok);
        let mut tokenizer = if json.is_file() {
            Tokenizer::from_file(&json)
                .map_err(|e| anyhow!("cannot load tokenizer {}: {e}", json.display()))?
        } else if vocab.is_file() && !matches!(family, Family::Roberta | Family::XlmRoberta) {
            let lower = cfg
                .as_ref()
                .and_then(|c| c.get("do_lower_case"))
                .and_then(|v| v.as_bool())
                .unwrap_or(true);
            let strip = cfg
                .as_ref()
                .and_then(|c| c.get("strip_accents"))
                .and_then(|v| v.as_bool());
            let vocab_str = vocab
                .to_str()
                .ok_or_else(|| anyhow!("non-UTF-8 path {}", vocab.display()))?;
            let wp = WordPiece::from_file(vocab_str)
                .unk_token(unk_tok.clone())
                .build()
                .map_err(|e| {
                    anyhow!("cannot load WordPiece vocabulary {}: {e}", vocab.display())
                })?;
            let mut t = Tokenizer::new(wp);
            t.with_normalizer(Some(BertNormalizer::new(true, true, strip, lower)));
            t.with_pre_tokenizer(Some(BertPreTokenizer));
            t
        } else {
            bail!(
                "{}: no tokenizer found (expected tokenizer.json{})",
                dir.display(),
                match family {
                    Family::Roberta | Family::XlmRoberta => "",
                    _ => ", or vocab.txt with an optional tokenizer_config.json",
                }
            );
        };
        if let Some(PreTokenizerWrapper::ByteLevel(b)) = tokenizer.get_pre_tokenizer() {
            let b = (*b).add_prefix_space(true);
            tokenizer.with_pre_tokenizer(Some(b));
        }
        tokenizer
            .with_truncation(None)
            .map_err(|e| anyhow!("cannot disable truncation: {e}"))?;
        tokenizer.with_padding(None);
        let id = |tok: &str| -> Result<i64> {
            tokenizer.token_to_id(tok).map(i64::from).ok_or_else(|| {
                anyhow!(
                    "{}: special token {tok} is not in the vocabulary",
                    dir.display()
                )
            })
        };
        let cls = id(&special_token(cfg.as_ref(), "cls_token", cls_tok))?;
        let sep = id(&special_token(cfg.as_ref(), "sep_token", sep_tok))?;
        let unk = id(&unk_tok)?;
        Self::new(tokenizer, cls, sep, unk, max_len)
    }

    fn new(tokenizer: Tokenizer, cls: i64, sep: i64, unk: i64, max_len: usize) -> Result<Self> {
        if max_len < 3 {
            bail!("maximum input length {max_len} leaves no room for a sub-word");
        }
        Ok(Self {
            tokenizer,
            cls,
            sep,
            unk,
            max_len,
        })
    }

    /// The same tokenizer with another maximum input length (special tokens included).
    pub fn with_max_len(&self, max_len: usize) -> Result<Self> {
        Self::new(
            self.tokenizer.clone(),
            self.cls,
            self.sep,
            self.unk,
            max_len,
        )
    }

    /// Ids of the sentence-start (`[CLS]`, `<s>`) and separator (`[SEP]`, `</s>`) tokens.
    pub fn cls_sep(&self) -> (i64, i64) {
        (self.cls, self.sep)
    }

    /// Longest model input, `[CLS]` and `[SEP]` included.
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    /// The underlying `tokenizers` tokenizer (truncation and padding disabled).
    pub fn inner(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// Sub-word ids of each word, without special tokens. A word that yields no sub-word (e.g.
    /// only control characters, which BERT's normaliser deletes) is mapped to `[UNK]` so that it
    /// still gets a vector.
    pub fn subwords(&self, words: &[&str]) -> Result<Vec<Vec<i64>>> {
        let enc = self
            .tokenizer
            .encode(words, false)
            .map_err(|e| anyhow!("cannot tokenize sentence {:?}: {e}", words.join(" ")))?;
        let mut out = vec![Vec::new(); words.len()];
        for (&id, wid) in enc.get_ids().iter().zip(enc.get_word_ids()) {
            let w =
                wid.ok_or_else(|| anyhow!("sub-word without a word id in {:?}", words.join(" ")))?;
            out[w as usize].push(i64::from(id));
        }
        for w in &mut out {
            if w.is_empty() {
                w.push(self.unk);
            }
        }
        Ok(out)
    }

    /// Encodes one pre-tokenized sentence into one or more windows (see the module docs).
    pub fn encode(&self, words: &[&str]) -> Result<EncodedSentence> {
        let pieces = self.subwords(words)?;
        let budget = self.max_len - 2;
        // Sub-word offsets of each word in the whole sentence.
        let mut starts = Vec::with_capacity(pieces.len() + 1);
        let mut off = 0;
        for (i, p) in pieces.iter().enumerate() {
            if p.len() > budget {
                bail!(
                    "word {i} ({:?}) has {} sub-words, more than a whole window of {budget}",
                    words[i],
                    p.len()
                );
            }
            starts.push(off);
            off += p.len();
        }
        starts.push(off);
        let n = pieces.len();
        // Word ranges of the windows.
        let mut ranges = Vec::new();
        let mut first = 0;
        loop {
            let mut last = first;
            while last < n && starts[last + 1] - starts[first] <= budget {
                last += 1;
            }
            ranges.push(first..last);
            if last >= n {
                break;
            }
            let target = starts[first] + budget / 2;
            let next = (first + 1..last)
                .find(|&w| starts[w] >= target)
                .unwrap_or(last);
            first = next;
        }
        let mut windows: Vec<Window> = ranges
            .iter()
            .map(|r| {
                let mut ids = Vec::with_capacity(starts[r.end] - starts[r.start] + 2);
                ids.push(self.cls);
                for p in &pieces[r.clone()] {
                    ids.extend_from_slice(p);
                }
                ids.push(self.sep);
                Window {
                    ids,
                    span: r.clone(),
                    words: Vec::new(),
                }
            })
            .collect();
        for w in 0..n {
            let mut best: Option<(usize, usize)> = None;
            for (k, r) in ranges.iter().enumerate() {
                if r.contains(&w) {
                    let left = starts[w] - starts[r.start];
                    let right = starts[r.end] - starts[w + 1];
                    let ctx = left.min(right);
                    if best.is_none_or(|(_, b)| ctx > b) {
                        best = Some((k, ctx));
                    }
                }
            }
            let (k, _) = best.expect("every word lies in some window");
            let base = starts[ranges[k].start];
            windows[k].words.push(WordPlacement {
                word: w,
                start: starts[w] - base + 1,
                end: starts[w + 1] - base + 1,
            });
        }
        Ok(EncodedSentence {
            n_words: n,
            windows,
        })
    }
}
