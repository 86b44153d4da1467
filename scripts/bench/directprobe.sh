#!/usr/bin/env bash
# DirectProbe benchmark: the whole probe (clustering, prediction of the test points, hull
# distances, label metrics) on /work/shared/bench/directprobe/n2000_d384_L10 and, for scaling,
# on larger instances generated with the bench folder's gen.py.
#
#   scripts/bench/directprobe.sh [--threads N] [--scaling]
#
# TUNESCOPE_BIN overrides the binary (default: target/release/tunescope, built here).
# PYTHON (default: ~/.cache/tunescope/venv-ref/bin/python, needs numpy) runs gen.py for
# --scaling; generated instances are cached in ~/.cache/tunescope/dp-bench.
# Prints, from this run: seconds per phase, the counters (LP calls, filter hits), whether a
# 1-thread run gives byte-identical clusters, and the speed-up over the original's recorded
# 1,611 s on the n2000 instance (README of the bench folder; the original is not rerun here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bench=/work/shared/bench/directprobe
threads=2
scaling=0
while [ $# -gt 0 ]; do
  case $1 in
    --threads) threads=$2; shift 2 ;;
    --scaling) scaling=1; shift ;;
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
  "$TUNESCOPE_BIN" directprobe --train-vectors "$2/X_train.npy" --train-labels "$2/y_train.npy" \
    --test-vectors "$2/X_test.npy" --test-labels "$2/y_test.npy" --out "$out/$1-t$3" \
    --threads "$3" 2>/dev/null
}

summary() { # name dir threads
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
