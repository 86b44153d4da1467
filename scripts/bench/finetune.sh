#!/usr/bin/env bash
# Fine-tuning training-step benchmark: tokens/s of forward + backward + clipping + AdamW
# (dropout on) on one fixed MiniLM batch, tunescope (libtorch from Rust) against PyTorch +
# transformers, measured one after the other in this run on this machine.
#
#   scripts/bench/finetune.sh [BATCH] [SEQ] [STEPS] [full|lora]      (default 32 64 10 full)
#
# `lora`: LoRA adapters (r = 8, alpha = 16, dropout 0.1 on query and value; the encoder frozen)
# on both sides — PyTorch through PEFT — and tunescope's full fine-tuning step as well.
# Needs the reference virtualenv of scripts/reference/hf_reference.sh, with peft for `lora`
# (scripts/reference/peft_reference.sh installs it); PYTHON overrides it. Prints the JSON lines
# and the ratios tunescope / PyTorch (goal ≥ 1.0) and, for `lora`, LoRA / full.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
py=${PYTHON:-${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}/venv-ref/bin/python}
model=$root/assets/all-MiniLM-L6-v2
batch=${1:-32} seq=${2:-64} steps=${3:-10} method=${4:-full}
(cd "$root" && cargo build --release -q -p tunescope-model --example finetune_step)
echo "cores: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
bin=$root/target/release/examples/finetune_step
ours=$("$bin" "$model" "$batch" "$seq" "$steps" "$method")
theirs=$("$py" "$root/scripts/bench/finetune_step.py" "$model" "$batch" "$seq" "$steps" "$method")
full=$ours
[ "$method" = full ] || full=$("$bin" "$model" "$batch" "$seq" "$steps" full)
echo "tunescope $method: $ours"
echo "pytorch $method:   $theirs"
[ "$method" = full ] || echo "tunescope full: $full"
python3 - "$ours" "$theirs" "$full" "$method" <<'PY'
import json, sys
a, b, c = (json.loads(x) for x in sys.argv[1:4])
m = sys.argv[4]
print(f"ratio tunescope/pytorch tokens/s ({m}): {a['tokens_per_s'] / b['tokens_per_s']:.2f}")
if m != "full":
    print(f"ratio tunescope {m}/full tokens/s: {a['tokens_per_s'] / c['tokens_per_s']:.2f}")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
