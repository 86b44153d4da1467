//! RoBERTa, XLM-R, DistilBERT and ELECTRA against Hugging Face transformers' real output
//! (fixtures made by scripts/reference/hf_families.sh: tiny random-weight models with tokenizers
//! trained by the `tokenizers` library): tokenization and word ids, every hidden state of a padded
//! batch, every word pooling and the sentence-start vector through [`Embedder`], long-input
//! windows, task-checkpoint prefixes, and the saved directory's names.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder::{self, Encoder, Family, WordPool};
use tunescope_model::extract::Embedder;

const TOL: f32 = 1e-4;
const FAMILIES: [(&str, Family); 4] = [
    ("roberta", Family::Roberta),
    ("xlm-roberta", Family::XlmRoberta),
    ("distilbert", Family::DistilBert),
    ("electra", Family::Electra),
];

fn fixture(family: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/families")
        .join(family)
}

fn load(family: &str) -> Encoder {
    tch::set_num_threads(1);
    encoder::load(fixture(family).join("model"), Device::Cpu).unwrap()
}

/// HF's output on the fixture's sentences.
struct Reference {
    sentences: Vec<Vec<String>>,
    input_ids: Vec<Vec<i64>>,
    word_ids: Vec<Vec<i64>>,
    layers: usize,
    hidden: usize,
    /// `[layers, total tokens, hidden]`.
    states: Vec<f32>,
    meta: serde_json::Value,
}

impl Reference {
    fn read(dir: &Path) -> Self {
        let meta: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("reference.json")).unwrap())
                .unwrap();
        let states = tunescope_data::npy::read_f32(dir.join("hidden.npy")).unwrap();
        let r = Reference {
            sentences: serde_json::from_value(meta["sentences"].clone()).unwrap(),
            input_ids: serde_json::from_value(meta["input_ids"].clone()).unwrap(),
            word_ids: serde_json::from_value(meta["word_ids"].clone()).unwrap(),
            layers: states.shape[0],
            hidden: states.shape[2],
            states: states.data,
            meta,
        };
        assert_eq!(
            states.shape[1],
            r.input_ids.iter().map(Vec::len).sum::<usize>()
        );
        r
    }

    fn n_tok(&self) -> usize {
        self.input_ids.iter().map(Vec::len).sum()
    }

    fn token(&self, layer: usize, i: usize) -> &[f32] {
        let at = (layer * self.n_tok() + i) * self.hidden;
        &self.states[at..at + self.hidden]
    }

    /// HF's word vectors for `layer` with the given pooling, sentences concatenated.
    fn words(&self, layer: usize, pool: WordPool) -> Vec<Vec<f32>> {
        let mut out = Vec::new();
        let mut offset = 0;
        for wids in &self.word_ids {
            let n_words = wids.iter().copied().max().unwrap() + 1;
            for w in 0..n_words {
                let pos: Vec<usize> = (0..wids.len())
                    .filter(|&p| wids[p] == w)
                    .map(|p| offset + p)
                    .collect();
                assert!(!pos.is_empty(), "HF gave word {w} no sub-word");
                out.push(match pool {
                    WordPool::First => self.token(layer, pos[0]).to_vec(),
                    WordPool::Last => self.token(layer, *pos.last().unwrap()).to_vec(),
                    WordPool::Mean => (0..self.hidden)
                        .map(|d| {
                            pos.iter().map(|&p| self.token(layer, p)[d]).sum::<f32>()
                                / pos.len() as f32
                        })
                        .collect(),
                });
            }
            offset += wids.len();
        }
        out
    }

    /// HF's first-token (`[CLS]` / `<s>`) vector of every sentence for `layer`.
    fn firsts(&self, layer: usize) -> Vec<Vec<f32>> {
        let mut offset = 0;
        self.input_ids
            .iter()
            .map(|ids| {
                let v = self.token(layer, offset).to_vec();
                offset += ids.len();
                v
            })
            .collect()
    }
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    let t = t.to_kind(Kind::Float).contiguous();
    (0..t.size()[0])
        .map(|i| Vec::<f32>::try_from(&t.get(i)).unwrap())
        .collect()
}

fn max_diff(got: &[Vec<f32>], want: &[Vec<f32>]) -> f32 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .flat_map(|(g, w)| {
            assert_eq!(g.len(), w.len());
            g.iter().zip(w).map(|(a, b)| (a - b).abs())
        })
        .fold(0.0, f32::max)
}

/// Sub-word ids and word ids as our tokenizer makes them, in HF's layout (specials: -1).
fn our_tokens(enc: &Encoder, words: &[String]) -> (Vec<i64>, Vec<i64>) {
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    let e = enc.tokenizer.encode(&words).unwrap();
    assert_eq!(e.windows.len(), 1);
    let w = e.windows.into_iter().next().unwrap();
    let mut word_ids = vec![-1i64; w.ids.len()];
    for p in &w.words {
        word_ids[p.start..p.end].fill(p.word as i64);
    }
    (w.ids, word_ids)
}

#[test]
fn every_family_tokenizes_like_transformers() {
    for (name, family) in FAMILIES {
        let enc = load(name);
        assert_eq!(enc.config.family, family);
        let r = Reference::read(&fixture(name));
        assert_eq!(r.meta["family"], name);
        for k in ["missing_keys", "unexpected_keys", "mismatched_keys"] {
            assert_eq!(r.meta[k], serde_json::json!([]), "{name}: {k}");
        }
        for (s, words) in r.sentences.iter().enumerate() {
            let (ids, word_ids) = our_tokens(&enc, words);
            assert_eq!(ids, r.input_ids[s], "{name} sentence {s} ids");
            assert_eq!(word_ids, r.word_ids[s], "{name} sentence {s} word ids");
        }
    }
}

#[test]
fn every_family_matches_transformers_on_every_layer_of_a_padded_batch() {
    for (name, _) in FAMILIES {
        let enc = load(name);
        let r = Reference::read(&fixture(name));
        assert_eq!(enc.config.num_hidden_layers as usize + 1, r.layers);
        // HF's own ids, padded with the model's pad id (RoBERTa's positions skip it) — and a
        // second time padded with 0, which must not matter: the mask says what is real.
        let t = r.input_ids.iter().map(Vec::len).max().unwrap();
        let b = r.input_ids.len();
        let mut pads = vec![enc.config.pad_token_id];
        if enc.config.pad_token_id != 0 {
            pads.push(0);
        }
        for pad in pads {
            let mut ids = vec![pad; b * t];
            let mut mask = vec![0i64; b * t];
            for (row, w) in r.input_ids.iter().enumerate() {
                ids[row * t..row * t + w.len()].copy_from_slice(w);
                mask[row * t..row * t + w.len()].fill(1);
            }
            let ids = Tensor::from_slice(&ids).view([b as i64, t as i64]);
            let mask = Tensor::from_slice(&mask).view([b as i64, t as i64]);
            let states = tch::no_grad(|| enc.model.forward_t(&ids, &mask, false));
            assert_eq!(states.len(), r.layers);
            let mut worst = 0f32;
            for (l, st) in states.iter().enumerate() {
                let mut got = Vec::new();
                let mut want = Vec::new();
                let mut offset = 0;
                for (row, w) in r.input_ids.iter().enumerate() {
                    let st = st.get(row as i64).narrow(0, 0, w.len() as i64);
                    got.extend(rows(&st));
                    want.extend((0..w.len()).map(|i| r.token(l, offset + i).to_vec()));
                    offset += w.len();
                }
                worst = worst.max(max_diff(&got, &want));
            }
            assert!(
                worst <= TOL,
                "{name} (pad {pad}): max |diff| {worst} > {TOL}"
            );
            eprintln!("{name} (pad {pad}): max |diff| over all layers {worst:e}");
        }
    }
}

#[test]
fn every_pooling_of_every_family_matches_transformers() {
    for (name, _) in FAMILIES {
        let enc = load(name);
        let r = Reference::read(&fixture(name));
        let layers: Vec<usize> = (0..r.layers).collect();
        for pool in [WordPool::First, WordPool::Last, WordPool::Mean] {
            for batch in [1, 3] {
                let e = Embedder::new(
                    &enc.model,
                    &enc.tokenizer,
                    layers.clone(),
                    pool,
                    batch,
                    Device::Cpu,
                )
                .unwrap();
                let v = e.embed(&r.sentences).unwrap();
                for l in 0..r.layers {
                    let d = max_diff(&rows(&v.words.get(l as i64)), &r.words(l, pool));
                    assert!(d <= TOL, "{name} {pool:?} batch {batch} layer {l}: {d}");
                    let d = max_diff(&rows(&v.cls.get(l as i64)), &r.firsts(l));
                    assert!(d <= TOL, "{name} first token, batch {batch} layer {l}: {d}");
                }
            }
        }
    }
}

#[test]
fn long_inputs_of_every_family_are_windowed() {
    for (name, _) in FAMILIES {
        let enc = load(name);
        let r = Reference::read(&fixture(name));
        let words: Vec<&str> = r.sentences.iter().flatten().map(String::as_str).collect();
        let short = enc.tokenizer.with_max_len(12).unwrap();
        let e = short.encode(&words).unwrap();
        assert!(e.windows.len() >= 3, "{name}: {} windows", e.windows.len());
        let (cls, sep) = enc.tokenizer.cls_sep();
        let mut seen = vec![0; words.len()];
        for w in &e.windows {
            assert!(w.ids.len() <= 12);
            assert_eq!((w.ids[0], *w.ids.last().unwrap()), (cls, sep), "{name}");
            for p in &w.words {
                seen[p.word] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 1), "{name}: {seen:?}");
        // The words a window provides get the vectors of that run of words encoded alone (whose
        // parity with HF the tests above check), at every layer.
        let last = enc.config.num_hidden_layers as usize;
        let windowed = Embedder::new(
            &enc.model,
            &short,
            vec![0, last],
            WordPool::Mean,
            4,
            Device::Cpu,
        )
        .unwrap();
        let direct = Embedder::new(
            &enc.model,
            &enc.tokenizer,
            vec![0, last],
            WordPool::Mean,
            4,
            Device::Cpu,
        )
        .unwrap();
        let got = windowed.embed(std::slice::from_ref(&words)).unwrap().words;
        for w in &e.windows[1..] {
            let alone = direct
                .embed(&[words[w.span.clone()].to_vec()])
                .unwrap()
                .words;
            for k in 0..2 {
                let got = rows(&got.get(k));
                let alone = rows(&alone.get(k));
                for p in &w.words {
                    let d = max_diff(
                        std::slice::from_ref(&got[p.word]),
                        std::slice::from_ref(&alone[p.word - w.span.start]),
                    );
                    assert!(d <= 1e-5, "{name} word {} layer index {k}: {d}", p.word);
                }
            }
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-families-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn task_checkpoints_with_the_family_prefix_load_and_saving_keeps_the_layout() {
    for (name, family) in FAMILIES {
        let enc = load(name);
        let src = fixture(name).join("model");
        let original = Tensor::read_safetensors(src.join("model.safetensors")).unwrap();
        // A task model: every encoder tensor under the family's prefix, plus a head.
        let d = scratch(name);
        for f in std::fs::read_dir(&src).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
        }
        let mut task: Vec<(String, Tensor)> = original
            .iter()
            .map(|(n, t)| {
                (
                    format!("{}{n}", family.checkpoint_prefix()),
                    t.shallow_clone(),
                )
            })
            .collect();
        task.push((
            "classifier.weight".into(),
            Tensor::zeros([3, 32], tch::kind::FLOAT_CPU),
        ));
        Tensor::write_safetensors(&task, d.join("model.safetensors")).unwrap();
        let prefixed = encoder::load(&d, Device::Cpu).unwrap();
        let r = Reference::read(&fixture(name));
        let ids = Tensor::from_slice(&r.input_ids[1]).view([1, -1]);
        let mask = ids.ones_like();
        let a = tch::no_grad(|| enc.model.forward_t(&ids, &mask, false));
        let b = tch::no_grad(|| prefixed.model.forward_t(&ids, &mask, false));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs().max().double_value(&[]) == 0.0, "{name}");
        }
        // Saving writes the base model's names, exactly those of the transformers checkpoint.
        let out = scratch(&format!("{name}-saved"));
        prefixed.save(&out).unwrap();
        let mut saved: Vec<String> = Tensor::read_safetensors(out.join("model.safetensors"))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        let mut want: Vec<String> = original.into_iter().map(|(n, _)| n).collect();
        saved.sort();
        want.sort();
        assert_eq!(saved, want, "{name}");
        let _ = std::fs::remove_dir_all(&d);
        let _ = std::fs::remove_dir_all(&out);
    }
}
