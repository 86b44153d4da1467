#!/usr/bin/env bash
# Benchmark: `tunescope embed` vs the obvious HF transformers script (scripts/bench/embed_hf.py),
# measured in the same run on the same machine with the same thread count.
#
#   scripts/bench/embed_vs_hf.sh [SENTENCES=20000] [THREADS=2]
#
# 1. Whole-file extraction of every layer's word vectors (first sub-word) for the first
#    SENTENCES Brown sentences in corpus order (their real, varied lengths): wall time and peak
#    RSS (GNU time) of each tool, their ratios, and the largest |difference| between the two
#    tools' outputs (a sanity check that both computed the same thing).
# 2. Tokens/s of one forward pass with all hidden states on a fixed 32x64 batch.
# Needs the reference virtualenv (scripts/reference/hf_reference.sh sets it up), GNU time, and
# about 9 GB of free disk under $TMPDIR for 20,000 sentences (outputs are deleted at the end).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-20000}
threads=${2:-2}
py=${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}/venv-ref/bin/python
model=$root/assets/all-MiniLM-L6-v2
[ -x "$py" ] || { echo "no reference virtualenv at $py (run scripts/reference/hf_reference.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is required" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
# `--example` alone would restrict the build to the example: name the binary too.
cargo build --release -q -p tunescope --bin tunescope
cargo build --release -q -p tunescope-model --example forward_throughput
target=${CARGO_TARGET_DIR:-$root/target}
# Brown `word/tag` tokens -> words (tag = text after the last slash), one sentence per line.
awk -v n="$n" 'NF {
  out = ""; for (i = 1; i <= NF; i++) { w = $i; sub(/\/[^\/]*$/, "", w); out = out (i > 1 ? " " : "") w }
  print out; if (++c == n) exit }' assets/brown/c[a-r][0-9][0-9] >"$work/input.txt"
words=$(wc -w <"$work/input.txt")
load=$(cut -d' ' -f1-3 /proc/loadavg)

measure() { # name, command...: prints "wall_s rss_kb"
  local name=$1
  shift
  /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" >&2; exit 1; }
  cat "$work/$name.time"
}
read -r ts_wall ts_rss < <(measure tunescope "$target/release/tunescope" embed --model "$model" \
  --input "$work/input.txt" --out "$work/ts" --pool first --layers all --threads "$threads")
load_hf=$(cut -d' ' -f1-3 /proc/loadavg)
read -r hf_wall hf_rss < <(measure hf "$py" scripts/bench/embed_hf.py "$model" "$work/input.txt" \
  "$work/hf" "$threads")
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
diff=$("$py" - "$work" <<'PY'
import sys, numpy as np
w = sys.argv[1]
worst = 0.0
for l in range(7):
    a = np.load(f"{w}/ts/layer-{l}.npy", mmap_mode="r")
    b = np.load(f"{w}/hf/layer-{l}.npy", mmap_mode="r")
    assert a.shape == b.shape, (l, a.shape, b.shape)
    for s in range(0, a.shape[0], 65536):
        worst = max(worst, float(np.abs(a[s:s + 65536] - b[s:s + 65536]).max()))
print(f"{worst:.2e}")
PY
)
ts_fixed=$("$target/release/examples/forward_throughput" "$model" "$threads" 20 | awk '{print $2}')
hf_fixed=$("$py" scripts/bench/embed_hf.py "$model" --fixed "$threads" 20 | awk '{print $2}')

echo "$(date -u +%F), $(nproc) cores, threads=$threads; load average (1, 5, 15 min) before tunescope: $load, before HF: $load_hf, after HF: $load_end"
echo "input: $n Brown sentences, $words words; outputs agree to max |diff| $diff"
printf '| measure | tunescope | HF transformers | ratio |\n|---|---|---|---|\n'
awk -v a="$ts_wall" -v b="$hf_wall" 'BEGIN { printf "| wall time, s | %.1f | %.1f | %.2fx faster |\n", a, b, b / a }'
awk -v a="$ts_rss" -v b="$hf_rss" 'BEGIN { printf "| peak RSS, MB | %.0f | %.0f | %.2fx the RSS |\n", a / 1024, b / 1024, a / b }'
awk -v a="$ts_fixed" -v b="$hf_fixed" 'BEGIN { printf "| 32x64 batch, tok/s | %.0f | %.0f | %.2fx |\n", a, b, a / b }'
