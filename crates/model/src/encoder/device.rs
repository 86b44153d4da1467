//! Choosing the libtorch device and thread count.

use anyhow::{bail, Result};
use tch::Device;

/// Parses `cpu`, `cuda` or `cuda:N`, checking that a requested GPU is visible to libtorch.
pub fn parse_device(s: &str) -> Result<Device> {
    let idx = match s {
        "cpu" => return Ok(Device::Cpu),
        "cuda" => 0,
        _ => match s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
        {
            Some(i) => i,
            None => bail!("unknown device {s:?} (expected cpu, cuda or cuda:N)"),
        },
    };
    let n = tch::Cuda::device_count() as usize;
    if idx >= n {
        bail!(
            "device {s} requested but libtorch sees {n} CUDA device(s); on a GPU machine build \
             with `--features cuda` and install the CUDA libraries (scripts/setup-cuda.sh)"
        );
    }
    Ok(Device::Cuda(idx))
}

/// Sets libtorch's intra-op thread count (`None` keeps its default).
pub fn set_threads(threads: Option<usize>) -> Result<()> {
    match threads {
        Some(0) => bail!("thread count must be at least 1"),
        Some(n) => tch::set_num_threads(n as i32),
        None => {}
    }
    Ok(())
}
