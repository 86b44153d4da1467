//! Windowing, pooling and streaming extraction, checked against the HF reference hidden states
//! of the tiny fixture and against direct computations.

use std::path::{Path, PathBuf};

use tch::{Device, Kind, Tensor};
use tunescope_model::encoder::pool::{mean_of_groups, pair_vectors, pool_words, SubwordSpan};
use tunescope_model::encoder::{self, Encoder, WordPool};
use tunescope_model::extract::{embed_file, parse_layers, EmbedFileOptions, EmbedPool, Embedder};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-bert")
}

fn tiny() -> Encoder {
    tch::set_num_threads(1);
    encoder::load(fixture().join("model"), Device::Cpu).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tunescope-embed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    let t = t.to_kind(Kind::Float).contiguous();
    let n = t.size()[0];
    (0..n)
        .map(|i| Vec::<f32>::try_from(&t.get(i)).unwrap())
        .collect()
}

fn close(a: &[f32], b: &[f32], tol: f32) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

struct Reference {
    sentences: Vec<Vec<String>>,
    word_ids: Vec<Vec<i64>>,
    states: Vec<f32>,
    layers: usize,
    hidden: usize,
}

fn reference() -> Reference {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture().join("reference.json")).unwrap())
            .unwrap();
    let states = tunescope_data::npy::read_f32(fixture().join("hidden.npy")).unwrap();
    Reference {
        sentences: serde_json::from_value(meta["sentences"].clone()).unwrap(),
        word_ids: serde_json::from_value(meta["word_ids"].clone()).unwrap(),
        layers: states.shape[0],
        hidden: states.shape[2],
        states: states.data,
    }
}

impl Reference {
    /// HF's word vectors for `layer` with the given pooling, sentences concatenated.
    fn words(&self, layer: usize, pool: WordPool) -> Vec<Vec<f32>> {
        let n_tok: usize = self.word_ids.iter().map(Vec::len).sum();
        let tok = |i: usize| {
            &self.states[(layer * n_tok + i) * self.hidden..(layer * n_tok + i + 1) * self.hidden]
        };
        let mut out = Vec::new();
        let mut offset = 0;
        for wids in &self.word_ids {
            let n_words = wids.iter().copied().max().unwrap() + 1;
            for w in 0..n_words {
                let pos: Vec<usize> = (0..wids.len())
                    .filter(|&p| wids[p] == w)
                    .map(|p| offset + p)
                    .collect();
                out.push(match pool {
                    WordPool::First => tok(pos[0]).to_vec(),
                    WordPool::Last => tok(*pos.last().unwrap()).to_vec(),
                    WordPool::Mean => (0..self.hidden)
                        .map(|d| pos.iter().map(|&p| tok(p)[d]).sum::<f32>() / pos.len() as f32)
                        .collect(),
                });
            }
            offset += wids.len();
        }
        out
    }
}

#[test]
fn embedder_matches_transformers_for_every_pooling_and_batch_size() {
    let enc = tiny();
    let r = reference();
    let layers: Vec<usize> = (0..r.layers).collect();
    for pool in [WordPool::First, WordPool::Last, WordPool::Mean] {
        for batch in [1, 2, 5] {
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
            assert_eq!(
                v.sentence_words,
                r.sentences.iter().map(Vec::len).collect::<Vec<_>>()
            );
            for l in 0..r.layers {
                let got = rows(&v.words.get(l as i64));
                let want = r.words(l, pool);
                assert_eq!(got.len(), want.len());
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        close(g, w, 1e-4),
                        "{pool:?} batch {batch} layer {l} word {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn long_sentences_are_windowed_not_cut() {
    let enc = tiny();
    let words: Vec<&str> =
        "the quick brown fox jumps over the lazy dog and the cat sat on the mat \
                            unbelievable running dogs were quickly redoing that"
            .split(' ')
            .collect();
    let short = enc.tokenizer.with_max_len(10).unwrap();
    let e = short.encode(&words).unwrap();
    assert!(e.windows.len() >= 3, "{} windows", e.windows.len());
    let mut seen = vec![0; words.len()];
    for w in &e.windows {
        assert!(w.ids.len() <= 10);
        assert_eq!(
            w.ids[0],
            enc.tokenizer.inner().token_to_id("[CLS]").unwrap() as i64
        );
        assert_eq!(
            *w.ids.last().unwrap(),
            enc.tokenizer.inner().token_to_id("[SEP]").unwrap() as i64
        );
        for p in &w.words {
            seen[p.word] += 1;
            assert!(p.start >= 1 && p.end < w.ids.len() && p.start < p.end);
        }
    }
    assert!(
        seen.iter().all(|&c| c == 1),
        "each word placed once: {seen:?}"
    );
    // A window is the model input of a contiguous run of words: the vectors of the words it
    // provides equal those of encoding that run of words as a sentence of its own.
    let windowed =
        Embedder::new(&enc.model, &short, vec![3], WordPool::Mean, 4, Device::Cpu).unwrap();
    let direct = Embedder::new(
        &enc.model,
        &enc.tokenizer,
        vec![3],
        WordPool::Mean,
        4,
        Device::Cpu,
    )
    .unwrap();
    let got = rows(
        &windowed
            .embed(std::slice::from_ref(&words))
            .unwrap()
            .words
            .get(0),
    );
    assert_eq!(got.len(), words.len());
    let w1 = &e.windows[1];
    assert!(w1.span.start > 0 && w1.span.end <= words.len());
    assert!(
        w1.span.start < e.windows[0].span.end,
        "consecutive windows overlap"
    );
    let alone = rows(
        &direct
            .embed(&[words[w1.span.clone()].to_vec()])
            .unwrap()
            .words
            .get(0),
    );
    assert!(!w1.words.is_empty());
    for p in &w1.words {
        assert!(
            close(&got[p.word], &alone[p.word - w1.span.start], 1e-5),
            "word {}",
            p.word
        );
    }
    // A word longer than a whole window is refused.
    let tiny_window = enc.tokenizer.with_max_len(3).unwrap();
    let err = tiny_window
        .encode(&["unbelievable"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("more than a whole window"), "{err}");
}

#[test]
fn pooling_functions_compute_what_they_say() {
    tch::manual_seed(3);
    let h = Tensor::randn([2, 5, 4], (Kind::Float, Device::Cpu));
    let spans = [
        SubwordSpan {
            row: 0,
            start: 1,
            end: 3,
        },
        SubwordSpan {
            row: 1,
            start: 2,
            end: 5,
        },
        SubwordSpan {
            row: 1,
            start: 1,
            end: 2,
        },
    ];
    let at = |r: i64, p: i64| h.get(r).get(p);
    let first = pool_words(&h, &spans, WordPool::First);
    let last = pool_words(&h, &spans, WordPool::Last);
    let mean = pool_words(&h, &spans, WordPool::Mean);
    let want_first = Tensor::stack(&[at(0, 1), at(1, 2), at(1, 1)], 0);
    let want_last = Tensor::stack(&[at(0, 2), at(1, 4), at(1, 1)], 0);
    let want_mean = Tensor::stack(
        &[
            (at(0, 1) + at(0, 2)) / 2.0,
            (at(1, 2) + at(1, 3) + at(1, 4)) / 3.0,
            at(1, 1),
        ],
        0,
    );
    for (g, w) in [
        (&first, &want_first),
        (&last, &want_last),
        (&mean, &want_mean),
    ] {
        assert!((g - w).abs().max().double_value(&[]) < 1e-6);
    }
    // Leading dimensions (a stack of layers) are kept.
    let stacked = Tensor::stack(&[h.shallow_clone(), &h * 2.0], 0);
    let m2 = pool_words(&stacked, &spans, WordPool::Mean);
    assert_eq!(m2.size(), vec![2, 3, 4]);
    assert!((m2.get(1) - &mean * 2.0).abs().max().double_value(&[]) < 1e-6);
    // Pairs are [dependent ; head]; spans and sentences average their words.
    let words = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
    let p = pair_vectors(&words, &[(2, 0)]).unwrap();
    assert_eq!(p.size(), vec![1, 6]);
    assert!(
        (p.get(0) - Tensor::cat(&[words.get(2), words.get(0)], 0))
            .abs()
            .max()
            .double_value(&[])
            < 1e-7
    );
    let s = mean_of_groups(&words, &[vec![0, 3], vec![1]]).unwrap();
    assert!(
        (s.get(0) - (words.get(0) + words.get(3)) / 2.0)
            .abs()
            .max()
            .double_value(&[])
            < 1e-6
    );
    assert!((s.get(1) - words.get(1)).abs().max().double_value(&[]) < 1e-7);
    assert!(mean_of_groups(&words, &[vec![]]).is_err());
    assert!(mean_of_groups(&words, &[vec![4]]).is_err());
    assert!(pair_vectors(&words, &[(0, 9)]).is_err());
}

fn write_input(dir: &Path, text: &str) -> PathBuf {
    let p = dir.join("input.txt");
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn embed_file_writes_every_layer_in_input_order_and_a_manifest() {
    let enc = tiny();
    let r = reference();
    let dir = scratch("ok");
    let text: String = r.sentences.iter().map(|s| s.join(" ") + "\n").collect();
    let input = write_input(&dir, &text);
    let out = dir.join("out");
    for (pool, chunk) in [(EmbedPool::Word(WordPool::Mean), 3), (EmbedPool::Cls, 1000)] {
        let opts = EmbedFileOptions {
            input: input.clone(),
            out: out.clone(),
            pool,
            layers: parse_layers("all", 3).unwrap(),
            batch_size: 2,
            chunk_words: chunk,
            stop: None,
        };
        let mut calls = Vec::new();
        let s = embed_file(&enc, &opts, |d, t| calls.push((d, t))).unwrap();
        assert_eq!(calls.last(), Some(&(5, 5)));
        assert_eq!(s.sentences, 5);
        let n_words: usize = r.sentences.iter().map(Vec::len).sum();
        assert_eq!(s.words, n_words);
        for l in 0..4 {
            let a = tunescope_data::npy::read_f32(out.join(format!("layer-{l}.npy"))).unwrap();
            match pool {
                EmbedPool::Word(p) => {
                    assert_eq!(a.shape, vec![n_words, 32]);
                    for (i, w) in r.words(l, p).iter().enumerate() {
                        assert!(close(a.row(i), w, 1e-4), "layer {l} row {i}");
                    }
                }
                EmbedPool::Cls => {
                    assert_eq!(a.shape, vec![5, 32]);
                    let n_tok: usize = r.word_ids.iter().map(Vec::len).sum();
                    let mut off = 0;
                    for (i, wids) in r.word_ids.iter().enumerate() {
                        let st = (l * n_tok + off) * 32;
                        assert!(
                            close(a.row(i), &r.states[st..st + 32], 1e-4),
                            "cls layer {l} row {i}"
                        );
                        off += wids.len();
                    }
                }
            }
        }
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("manifest.json")).unwrap())
                .unwrap();
        assert_eq!(m["pooling"], pool.name());
        assert_eq!(m["layers"], serde_json::json!([0, 1, 2, 3]));
        assert_eq!(m["model"]["weights_sha256"], enc.weights_sha256.as_str());
        assert_eq!(m["model"]["model_type"], "bert");
        assert_eq!(m["rows"], s.rows);
    }
}

#[test]
fn embed_file_is_deterministic_and_rejects_bad_input_without_output() {
    let enc = tiny();
    let dir = scratch("bad");
    let opts = |input: PathBuf, out: PathBuf| EmbedFileOptions {
        input,
        out,
        pool: EmbedPool::Word(WordPool::First),
        layers: vec![0, 3],
        batch_size: 3,
        chunk_words: 4,
        stop: None,
    };
    let good = write_input(&dir, "the cat sat\ndogs were running\nhello\n");
    embed_file(&enc, &opts(good.clone(), dir.join("a")), |_, _| {}).unwrap();
    embed_file(&enc, &opts(good, dir.join("b")), |_, _| {}).unwrap();
    for f in ["layer-0.npy", "layer-3.npy"] {
        assert_eq!(
            std::fs::read(dir.join("a").join(f)).unwrap(),
            std::fs::read(dir.join("b").join(f)).unwrap()
        );
    }
    assert!(!dir.join("a/layer-1.npy").exists());
    for (text, needle) in [
        ("the cat\nthe  dog\n", "input.txt:2: empty word"),
        ("the cat\n\nthe dog\n", "input.txt:2: empty line"),
        ("", "no sentences"),
    ] {
        let input = write_input(&dir, text);
        let out = dir.join("never");
        let e = format!(
            "{:#}",
            embed_file(&enc, &opts(input, out.clone()), |_, _| {}).unwrap_err()
        );
        assert!(e.contains(needle), "{e}");
        assert!(!out.join("layer-0.npy").exists() && !out.join("manifest.json").exists());
    }
    let e = embed_file(
        &enc,
        &opts(dir.join("absent.txt"), dir.join("never")),
        |_, _| {},
    )
    .unwrap_err();
    assert!(format!("{e:#}").contains("absent.txt"));
    assert!(parse_layers("0,9", 3)
        .unwrap_err()
        .to_string()
        .contains("layer 9 does not exist"));
    assert!(parse_layers("1,1", 3).is_err());
    assert!(parse_layers("x", 3).is_err());
    // Files are numbered in increasing order, as the config demands of its layer lists.
    let e = parse_layers("3,0", 3).unwrap_err().to_string();
    assert!(e.contains("increasing order"), "{e}");
    assert_eq!(parse_layers("0,3", 3).unwrap(), vec![0, 3]);
}

fn opts_for(input: PathBuf, out: PathBuf) -> EmbedFileOptions {
    EmbedFileOptions {
        input,
        out,
        pool: EmbedPool::Word(WordPool::First),
        layers: vec![0, 3],
        batch_size: 3,
        chunk_words: 4,
        stop: None,
    }
}

/// An over-long word at the end of a long input used to be found only when the model reached
/// it, with neither file nor line and the whole word in the message.
#[test]
fn an_over_long_word_is_found_before_any_model_work() {
    let enc = tiny();
    let dir = scratch("long");
    let long: String = (0..300u32)
        .map(|i| char::from_u32(0x4e00 + i).unwrap())
        .collect();
    let mut text = "the cat sat\n".repeat(2000);
    text.push_str(&format!("a {long} b\n"));
    let input = write_input(&dir, &text);
    let out = dir.join("out");
    let t = std::time::Instant::now();
    let e = format!(
        "{:#}",
        embed_file(&enc, &opts_for(input, out.clone()), |_, _| {}).unwrap_err()
    );
    let cut: String = long.chars().take(80).collect();
    assert!(e.contains("input.txt:2001: word 2"), "{e}");
    assert!(e.contains(&format!("{cut}…")), "{e}");
    assert!(
        !e.contains(&long.chars().take(81).collect::<String>()),
        "{e}"
    );
    assert!(
        e.contains("300 characters") && e.contains("sub-words"),
        "{e}"
    );
    assert!(!out.exists(), "output left behind");
    // Validation only: far less than embedding 2,000 sentences.
    assert!(t.elapsed().as_secs_f64() < 30.0);
}

/// A TAB inside a word was taken as part of the word.
#[test]
fn a_tab_inside_a_word_is_an_error() {
    let enc = tiny();
    let dir = scratch("tab");
    let input = write_input(&dir, "the cat\nthe\tdog sat\n");
    let out = dir.join("out");
    let e = format!(
        "{:#}",
        embed_file(&enc, &opts_for(input, out.clone()), |_, _| {}).unwrap_err()
    );
    assert!(
        e.contains("input.txt:2: word 1") && e.contains("TAB"),
        "{e}"
    );
    assert!(!out.exists());
}

/// A stop request (Ctrl-C) ends the run with an error and leaves no temporary file.
#[test]
fn a_stop_request_removes_the_unfinished_files() {
    let enc = tiny();
    let dir = scratch("stop");
    let input = write_input(&dir, &"the cat sat\n".repeat(50));
    let out = dir.join("out");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut opts = opts_for(input, out.clone());
    opts.stop = Some(stop.clone());
    let e = embed_file(&enc, &opts, |done, _| {
        if done >= 4 {
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    })
    .unwrap_err();
    assert!(e.to_string().contains("interrupted after"), "{e}");
    let left: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Non-finite hidden states are an error, not silent all-NaN vectors.
#[test]
fn non_finite_hidden_states_are_an_error() {
    let enc = tiny();
    let dir = scratch("nan-out");
    tch::no_grad(|| {
        let mut vars = enc.vs.variables();
        let (_, w) = vars
            .iter_mut()
            .find(|(n, _)| n.contains("word_embeddings"))
            .unwrap();
        let _ = w.fill_(f64::NAN);
    });
    let input = write_input(&dir, "the cat\n");
    let out = dir.join("out");
    let e = embed_file(&enc, &opts_for(input, out.clone()), |_, _| {}).unwrap_err();
    assert!(e.to_string().contains("NaN or infinite"), "{e}");
    assert!(!out.join("layer-0.npy").exists());
}

/// A checkpoint with one NaN weight used to give all-NaN vectors with exit 0.
#[test]
fn a_nan_weight_in_the_checkpoint_is_refused_at_load() {
    let dir = scratch("nan-weights");
    let model = dir.join("model");
    std::fs::create_dir_all(&model).unwrap();
    for f in std::fs::read_dir(fixture().join("model")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), model.join(f.file_name())).unwrap();
    }
    let st = model.join("model.safetensors");
    let mut bytes = std::fs::read(&st).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let (name, entry) = header
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, v)| k.contains("layer.1.") && v["dtype"] == "F32")
        .unwrap();
    let at = 8 + n + entry["data_offsets"][0].as_u64().unwrap() as usize + 4;
    bytes[at..at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    std::fs::write(&st, bytes).unwrap();
    let e = format!("{:#}", encoder::load(&model, Device::Cpu).err().unwrap());
    assert!(
        e.contains("model.safetensors") && e.contains(name.as_str()),
        "{e}"
    );
    assert!(e.contains("1 NaN or infinite"), "{e}");
}
