//! Tokens/s of the encoder's forward pass (all hidden states, no autograd) on a fixed 32×64
//! batch of random ids, for scripts/bench/embed_vs_hf.sh.
//!
//! `cargo run --release -p tunescope-model --example forward_throughput -- MODEL_DIR THREADS ITERS`

use anyhow::{Context, Result};
use tch::{Device, Kind, Tensor};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, threads, iters] = args.as_slice() else {
        anyhow::bail!("usage: forward_throughput MODEL_DIR THREADS ITERS");
    };
    let threads: usize = threads.parse().context("THREADS must be a number")?;
    let iters: usize = iters.parse().context("ITERS must be a number")?;
    tunescope_model::encoder::set_threads(Some(threads))?;
    let enc = tunescope_model::encoder::load(dir, Device::Cpu)?;
    tch::manual_seed(0);
    let ids = Tensor::randint_low(
        1000,
        enc.config.vocab_size,
        [32, 64],
        (Kind::Int64, Device::Cpu),
    );
    let mask = ids.ones_like();
    let _guard = tch::no_grad_guard();
    enc.model.forward_t(&ids, &mask, false);
    let t = std::time::Instant::now();
    for _ in 0..iters {
        enc.model.forward_t(&ids, &mask, false);
    }
    let dt = t.elapsed().as_secs_f64();
    println!(
        "tunescope_fixed_tok_per_s {:.1}",
        (32 * 64 * iters) as f64 / dt
    );
    Ok(())
}
