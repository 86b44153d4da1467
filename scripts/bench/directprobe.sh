#!/usr/bin/env bash
# DirectProbe benchmark: the whole probe (clustering, prediction of the test points, hull
# distances, label metrics) on ../shared/bench/directprobe/n2000_d384_L10 (beside the
# repository) and, for scaling, on larger instances generated with the bench folder's gen.py.
#
#   scripts/bench/directprobe.sh [--threads N] [--scaling] [--scaling-real]
#
# --scaling-real extracts real spaces itself: the first 100,000 Brown train words (universal
# POS) and 2,000 test words, embedded (mean sub-word pooling) with all-MiniLM-L6-v2 before and
# after fine-tuning it on the embedded default (`tunescope finetune examples/brown-pos.toml`),
# layers 0 and 6; then runs `tunescope directprobe` on the first n train words for n in
# TUNESCOPE_DP_REAL_N (default 2000 5000 10000 20000 50000 100000), each under a time limit
# (TUNESCOPE_DP_REAL_LIMIT seconds, default 900), printing time per phase, counters and peak
# RSS. Spaces are cached in ~/.cache/tunescope/dp-bench/real.
#
# TUNESCOPE_BIN overrides the binary (default: target/release/tunescope, built here).
# PYTHON (default: ~/.cache/tunescope/venv-ref/bin/python, needs numpy) runs gen.py for
# --scaling; generated instances are cached in ~/.cache/tunescope/dp-bench.
# Prints, from this run: seconds per phase, the counters (LP calls, filter hits), whether a
# 1-thread run gives byte-identical clusters, and the speed-up over the original's recorded
# 1,611 s on the n2000 instance (README of the bench folder; the original is not rerun here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=${TUNESCOPE_DP_BENCH:-$root/../shared/bench/directprobe}
threads=2
scaling=0
real=0
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --scaling) scaling=1; shift ;;
    --scaling-real) real=1; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "${TUNESCOPE_BIN:-}" ]; then
  (cd "$root" && cargo build --release -p tunescope --quiet)
  TUNESCOPE_BIN=$root/target/release/tunescope
fi
PYTHON=${PYTHON:-$HOME/.cache/tunescope/venv-ref/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

run() { # name dir threads
  /usr/bin/time -f '%M' -o "$out/$1-t$3.rss" "$TUNESCOPE_BIN" directprobe --train-vectors "$2/X_train.npy" --train-labels "$2/y_train.npy" \
    --test-vectors "$2/X_test.npy" --test-labels "$2/y_test.npy" --out "$out/$1-t$3" \
    --threads "$3" 2>/dev/null
}

summary() { # name dir threads
  [ -f "$out/$1-t$3.rss" ] && echo "  peak RSS $(( $(tail -n1 "$out/$1-t$3.rss") / 1024 )) MB"
  python3 - "$out/$1-t$3/metrics.json" "$1" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
s, c = m["seconds"], m["counters"]
print(f"{sys.argv[2]}: n={m['n_points']} d={m['dim']} labels={m['n_labels']} "
      f"clusters={m['n_clusters']} linear={m['linear']} threads={m['threads']}")
print(f"  seconds: cluster {s['cluster']:.2f}  predict({m['n_test']}) {s['predict']:.2f}  "
      f"hull distances {s['hull_distances']:.2f}  label metrics {s['label_metrics']:.2f}  "
      f"load {s['load']:.2f}  total {s['total']:.2f}")
print(f"  candidates {c['candidates']}  merges {c['merges']}  rejected {c['rejected']}  "
      f"sphere-pruned {c['sphere_pruned']}  blacklist {c['blacklist_hits']}  "
      f"hyperplane re-check {c['hyperplane_hits']}  nearest-point separated "
      f"{c['mnp_separated']} / intersect {c['mnp_intersect']}  LP calls {c['lp_calls']} "
      f"(intersect {c['lp_intersect']})")
print(f"  components {c.get('components')}  settled labels {c.get('settled_labels')}  "
      f"zone-skipped tests {c.get('zone_skipped')}")
print(f"  min_distance {m['min_distance']:.6g}  intra_accuracy {m['intra_accuracy']}")
if sys.argv[2] == "n2000_d384_L10":
    print(f"  speed-up over the original's recorded 1611 s: {1611 / s['total']:.0f}x")
EOF
}

run n2000_d384_L10 "$bench/n2000_d384_L10" "$threads"
summary n2000_d384_L10 "$bench/n2000_d384_L10" "$threads"
run n2000_d384_L10 "$bench/n2000_d384_L10" 1
if cmp -s "$out/n2000_d384_L10-t$threads/clusters.txt" "$out/n2000_d384_L10-t1/clusters.txt"; then
  echo "  1-thread run: identical clusters.txt"
else
  echo "  1-thread run: clusters.txt DIFFERS" && exit 1
fi
summary n2000_d384_L10 "$bench/n2000_d384_L10" 1

if [ "$scaling" = 1 ]; then
  cache=$HOME/.cache/tunescope/dp-bench
  mkdir -p "$cache"
  for name in n5000_d384_L20 n10000_d384_L45; do
    [ -f "$cache/$name/y_test.npy" ] || "$PYTHON" "$bench/gen.py" --out "$cache" --only "$name" >/dev/null
    run "$name" "$cache/$name" "$threads"
    summary "$name" "$cache/$name" "$threads"
  done
fi

if [ "$real" = 1 ]; then
  cache=$HOME/.cache/tunescope/dp-bench/real
  limit=${TUNESCOPE_DP_REAL_LIMIT:-900}
  mkdir -p "$cache"
  (cd "$root" && scripts/setup-assets.sh >/dev/null)
  if [ ! -f "$cache/test/labels.txt" ]; then
    (cd "$root" && cargo build --release -p tunescope-data --example brown_units --quiet)
    units=${CARGO_TARGET_DIR:-$root/target}/release/examples/brown_units
    "$units" "$root/assets/brown" train 100000 "$cache/train"
    "$units" "$root/assets/brown" test 2000 "$cache/test"
  fi
  if [ ! -f "$cache/finetuned/config.json" ]; then
    ft=$(mktemp -d)
    (cd "$root" && "$TUNESCOPE_BIN" finetune examples/brown-pos.toml --set "study.out=$ft" >/dev/null)
    rm -rf "$cache/finetuned" && cp -r "$ft/models/finetuned" "$cache/finetuned" && rm -rf "$ft"
  fi
  for model in pretrained finetuned; do
    dir=$root/assets/all-MiniLM-L6-v2
    [ "$model" = finetuned ] && dir=$cache/finetuned
    for split in train test; do
      [ -f "$cache/$model-$split/layer-6.npy" ] && continue
      "$TUNESCOPE_BIN" embed --model "$dir" --input "$cache/$split/sentences.txt" --pool mean \
        --layers 0,6 --out "$cache/$model-$split" 2>/dev/null
    done
  done
  for model in pretrained finetuned; do
    for layer in 0 6; do
      for n in ${TUNESCOPE_DP_REAL_N:-2000 5000 10000 20000 50000 100000}; do
        name=$model-L$layer-n$n
        inst=$cache/inst/$name
        if [ ! -f "$inst/y_test.txt" ]; then
          mkdir -p "$inst"
          "$PYTHON" - "$cache" "$model" "$layer" "$n" "$inst" <<'EOF'
import sys, numpy as np
cache, model, layer, n, inst = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
x = np.load(f"{cache}/{model}-train/layer-{layer}.npy")
y = np.array(open(f"{cache}/train/labels.txt").read().split())
assert len(y) == len(x), (len(y), len(x))
x, y = x[:n], y[:n]
# As the study does: rows whose vector also occurs with another label (the same word at the
# same position at layer 0) cannot be separated by any clustering; leave them all out.
_, group = np.unique(x, axis=0, return_inverse=True)
group = group.ravel()
labels_of = {}
for g, l in zip(group, y):
    labels_of.setdefault(g, set()).add(l)
keep = np.array([len(labels_of[g]) == 1 for g in group])
np.save(f"{inst}/X_train.npy", x[keep])
open(f"{inst}/y_train.txt", "w").write("\n".join(y[keep]) + "\n")
print(f"{inst}: {n - keep.sum()} conflicting rows left out", file=sys.stderr)
np.save(f"{inst}/X_test.npy", np.load(f"{cache}/{model}-test/layer-{layer}.npy"))
open(f"{inst}/y_test.txt", "w").write(open(f"{cache}/test/labels.txt").read())
EOF
        fi
        status=0
        timeout "$limit" /usr/bin/time -f '%M' -o "$out/$name-t$threads.rss" \
          "$TUNESCOPE_BIN" directprobe --train-vectors "$inst/X_train.npy" \
          --train-labels "$inst/y_train.txt" --test-vectors "$inst/X_test.npy" \
          --test-labels "$inst/y_test.txt" --out "$out/$name-t$threads" --threads "$threads" \
          2>"$out/$name.err" || status=$?
        if [ "$status" = 0 ]; then
          summary "$name" "$inst" "$threads"
        elif [ "$status" = 124 ]; then
          echo "$name: no result within ${limit} s"
        else
          echo "$name: failed: $(tail -n1 "$out/$name.err")"
        fi
      done
    done
  done
fi
