#!/usr/bin/env bash
# Fine-tuning training-step benchmark: tokens/s of forward + backward + clipping + AdamW
# (dropout on) on one fixed MiniLM batch, tunescope (libtorch from Rust) against PyTorch +
# transformers, measured one after the other in this run on this machine.
#
#   scripts/bench/finetune.sh [BATCH] [SEQ] [STEPS]      (default 32 64 10)
#
# Needs the reference virtualenv of scripts/reference/hf_reference.sh (PYTHON overrides it).
# Prints both JSON lines and the ratio tunescope / PyTorch (goal ≥ 1.0).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}/venv-ref/bin/python}
model=$root/assets/all-MiniLM-L6-v2
batch=${1:-32} seq=${2:-64} steps=${3:-10}
(cd "$root" && cargo build --release -q -p tunescope-model --example finetune_step)
echo "cores: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$("$root/target/release/examples/finetune_step" "$model" "$batch" "$seq" "$steps")
theirs=$("$py" "$root/scripts/bench/finetune_step.py" "$model" "$batch" "$seq" "$steps")
echo "tunescope: $ours"
echo "pytorch:   $theirs"
python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = (json.loads(x) for x in sys.argv[1:3])
print(f"ratio tunescope/pytorch tokens/s: {a['tokens_per_s'] / b['tokens_per_s']:.2f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
