//! Training throughput of one fixed batch (scripts/bench/finetune.sh runs it next to PyTorch):
//! forward + backward + clipping + AdamW with dropout on, MiniLM-sized by default.
//!
//! `cargo run --release -p tunescope-model --example finetune_step -- MODEL_DIR [BATCH] [SEQ] [STEPS]`
//! prints one JSON line: `{"tokens_per_s": …, "seconds_per_step": …}`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use tch::Tensor;
use tunescope_data::{Target, UnitKind};
use tunescope_model::finetune::batch::Rng;
use tunescope_model::finetune::head::{cross_entropy, Layout, SentencePool, WordPool};
use tunescope_model::finetune::optim::{clip_grad_norm, AdamW};
use tunescope_model::finetune::prep::{make_batch, Encoded, Prepared, Specials};
use tunescope_model::finetune::train::build_model;
use tunescope_model::finetune::FinetuneConfig;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(
        args.first()
            .context("usage: finetune_step MODEL_DIR [BATCH] [SEQ] [STEPS]")?,
    );
    let num = |i: usize, d: usize| {
        args.get(i)
            .map_or(Ok(d), |s| s.parse())
            .context("sizes are integers")
    };
    let (batch, seq, steps) = (num(1, 32)?, num(2, 64)?, num(3, 10)?);
    let labels = 17;
    let cfg = FinetuneConfig {
        max_len: seq,
        ..FinetuneConfig::default()
    };
    let model = build_model(&dir, UnitKind::Token, labels, &cfg)?;
    // One random sentence per row: [CLS] + seq-2 one-sub-word words + [SEP], every word labelled.
    let mut rng = Rng::new(0);
    let sentences = (0..batch)
        .map(|_| {
            let mut ids = vec![101i64];
            ids.extend((0..seq - 2).map(|_| 1000 + rng.below(28000) as i64));
            ids.push(102);
            let words = (1..seq - 1).map(|p| Some((p, p + 1))).collect();
            let units = (0..seq - 2)
                .map(|w| (Target::Token(w), rng.below(labels)))
                .collect();
            Encoded {
                ids,
                layout: Layout { words, len: seq },
                units,
            }
        })
        .collect();
    let data = Prepared {
        sentences,
        cut_units: 0,
        cut: Vec::new(),
    };
    let sp = Specials {
        cls: 101,
        sep: 102,
        pad: 0,
    };
    let idx: Vec<usize> = (0..batch).collect();
    let b = make_batch(
        &data,
        &idx,
        sp,
        UnitKind::Token,
        WordPool::First,
        SentencePool::Cls,
    );
    let targets = Tensor::from_slice(&b.labels);
    let mut opt = AdamW::new(
        model.vs.variables().into_iter().collect(),
        0.01,
        (0.9, 0.999),
        1e-8,
    );
    let params: Vec<Tensor> = opt.params().map(|(_, t)| t.shallow_clone()).collect();
    let refs: Vec<&Tensor> = params.iter().collect();
    let mut step = || {
        opt.zero_grad();
        let loss = cross_entropy(&model.logits(&b, true, true), &targets);
        loss.backward();
        clip_grad_norm(&refs, 1.0);
        opt.step(5e-5);
        loss.double_value(&[])
    };
    for _ in 0..2 {
        step();
    }
    let t0 = Instant::now();
    for _ in 0..steps {
        step();
    }
    let secs = t0.elapsed().as_secs_f64() / steps as f64;
    println!(
        "{{\"tokens_per_s\": {:.1}, \"seconds_per_step\": {:.4}, \"batch\": {batch}, \"seq\": {seq}, \"threads\": {}}}",
        (batch * seq) as f64 / secs,
        secs,
        tch::get_num_threads()
    );
    Ok(())
}
