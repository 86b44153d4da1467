#!/usr/bin/env bash
# Benchmark (b) of issue 4: one epoch of fine-tuning MiniLM on Brown POS, `tunescope finetune`
# against HF transformers' Trainer (scripts/bench/finetune_trainer.py, default padding), same
# sentences, hyper-parameters and thread count, one after the other in this run: wall time end
# to end and peak RSS (GNU time), printed with their ratios.
#
#   scripts/bench/finetune_vs_trainer.sh [SENTENCES=5000] [THREADS=2]
#
# Data: a seeded sample (seed 42) of SENTENCES sentences of the Brown train split (by document,
# as docs/data.md), tags normalised as `brown-pos` (base tags), written once as JSONL that both
# tools read. tunescope also scores a 100-sentence dev and test file (the first 100 training
# sentences) after the epoch, and both save the final model. Needs the reference virtualenv
# (scripts/reference/hf_reference.sh) and GNU time. TUNESCOPE_BIN runs a prebuilt binary;
# KEEP_DIR=DIR keeps the data, logs and outputs there.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-5000}
threads=${2:-2}
py=${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}/venv-ref/bin/python
model=$root/assets/all-MiniLM-L6-v2
[ -x "$py" ] || { echo "no reference virtualenv at $py (run scripts/reference/hf_reference.sh)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "GNU time (/usr/bin/time) is required" >&2; exit 1; }
# Trainer needs accelerate, which the reference virtualenv does not otherwise install.
"$py" -c 'import accelerate' 2>/dev/null || "$(dirname "$py")/pip" install --quiet 'accelerate==1.15.0'
work=${KEEP_DIR:-$(mktemp -d)}
[ -n "${KEEP_DIR:-}" ] || trap 'rm -rf "$work"' EXIT
mkdir -p "$work"
cd "$root"
bin=${TUNESCOPE_BIN:-}
[ -n "$bin" ] || { cargo build --release -q -p tunescope && bin=$root/target/release/tunescope; }

python3 - "$root/assets/brown" "$n" "$work" <<'PY'
import json, os, random, re, sys
corpus, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
files = sorted(f for f in os.listdir(corpus) if re.fullmatch(r"c[a-r]\d\d", f))
by_genre = {}
for f in files:
    by_genre.setdefault(f[1], []).append(f)
train_files = [f for g in sorted(by_genre) for i, f in enumerate(by_genre[g]) if i % 10 not in (3, 4)]

def norm(tag):
    tag = tag.lower()
    if tag.startswith("fw-"):
        tag = tag[3:]
    while re.search(r"-(tl|hl|nc)$", tag):
        tag = tag[:-3]
    tag = tag.split("+")[0]
    return tag[:-1] if len(tag) > 1 and tag.endswith("*") else tag

sentences = []
for f in sorted(train_files):
    for line in open(os.path.join(corpus, f), encoding="utf-8"):
        toks = [t.rsplit("/", 1) for t in line.split()]
        if toks:
            sentences.append({"tokens": [w for w, _ in toks], "tags": [norm(t) for _, t in toks]})
keep = sorted(random.Random(42).sample(range(len(sentences)), n))
with open(f"{work}/train.jsonl", "w") as out:
    for i in keep:
        out.write(json.dumps(sentences[i]) + "\n")
PY
head -n 100 "$work/train.jsonl" >"$work/dev.jsonl"
cat >"$work/bench.toml" <<EOF
[study]
name = "bench"
seed = 42
out = "$work/ts"
[data]
format = "jsonl"
task = "tagging"
train = "$work/train.jsonl"
dev = "$work/dev.jsonl"
test = "$work/dev.jsonl"
[model]
path = "$model"
pooling = "first"
max_subwords = 128
[finetune]
epochs = 1
lr = 5e-5
batch_size = 32
warmup_ratio = 0.1
weight_decay = 0.01
grad_clip = 1.0
dropout = 0.1
checkpoint_every = 0
EOF
words=$(python3 -c "import json,sys; print(sum(len(json.loads(l)['tokens']) for l in open(sys.argv[1])))" "$work/train.jsonl")

measure() { # name, command...: prints "wall_s rss_kb load_at_start"
  local name=$1 load
  shift
  load=$(cut -d' ' -f1 /proc/loadavg)
  /usr/bin/time -f '%e %M' -o "$work/$name.time" "$@" >"$work/$name.log" 2>&1 ||
    { cat "$work/$name.log" >&2; exit 1; }
  echo "$(cat "$work/$name.time") $load"
}
read -r ts_wall ts_rss ts_load < <(measure tunescope "$bin" finetune "$work/bench.toml" --threads "$threads")
read -r hf_wall hf_rss hf_load < <(measure hf "$py" scripts/bench/finetune_trainer.py "$model" \
  "$work/train.jsonl" "$work/hf" "$threads")
end_load=$(cut -d' ' -f1-3 /proc/loadavg)

echo "machine: $(nproc) cores; threads=$threads; $n Brown train sentences ($words words), brown-pos tags, 1 epoch"
echo "tunescope: $(grep -E '^kept update' "$work/tunescope.log" || true)"
echo "trainer:   $(tail -n 1 "$work/hf.log")"
python3 - "$ts_wall" "$ts_rss" "$ts_load" "$hf_wall" "$hf_rss" "$hf_load" "$end_load" <<'PY'
import sys
tw, tr, tl, hw, hr, hl, el = sys.argv[1:8]
tw, tr, hw, hr = float(tw), float(tr), float(hw), float(hr)
print("| | wall time, s | peak RSS, MB | load (1 min) at start |")
print("|---|---|---|---|")
print(f"| tunescope finetune | {tw:.1f} | {tr / 1024:.0f} | {tl} |")
print(f"| HF Trainer | {hw:.1f} | {hr / 1024:.0f} | {hl} |")
print(f"| ratio | {hw / tw:.2f}x faster (goal >= 1.5) | {tr / hr:.2f}x the RSS (goal <= 0.7) | end: {el} |")
PY
