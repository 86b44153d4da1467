#!/usr/bin/env bash
# Calibrated-similarity benchmark: the permutation null of `tunescope similarity` (linear and
# debiased CKA, mutual k-NN, angular Procrustes, RSA) against the numpy/scipy reference of
# scripts/reference/measures_reference.py (each index recomputed on B[perm]), on the same seeded
# inputs and the same permutations, measured in the same run; prints both times, their ratio
# and the largest relative difference between the two results.
#
#   scripts/bench/similarity.sh [N=1000] [D=384] [PERMUTATIONS=20]
#
# Needs the reference virtualenv (numpy, scipy: scripts/reference/hf_venv.sh or
# $TUNESCOPE_PYTHON). TUNESCOPE_BIN overrides the binary (default: target/release/tunescope,
# built here).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-1000}
d=${2:-384}
perms=${3:-20}
py=${TUNESCOPE_PYTHON:-${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}/venv-ref/bin/python}
if [ -z "${TUNESCOPE_BIN:-}" ]; then
  (cd "$root" && cargo build --release -p tunescope --quiet)
  TUNESCOPE_BIN=$root/target/release/tunescope
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$py" "$root/scripts/bench/similarity_ref.py" gen "$work/data" "$n" "$d"
echo "cores: $(nproc); load before: $(cut -d' ' -f1-3 /proc/loadavg); n=$n d=$d permutations=$perms"
start=$(date +%s.%N)
"$TUNESCOPE_BIN" similarity --a "$work/data/a.npy" --b "$work/data/b.npy" --out "$work/ours" \
  --permutations "$perms" --k 10 --seed 3 --rsa-sample "$n" 2>"$work/log" || { cat "$work/log"; exit 1; }
end=$(date +%s.%N)
"$py" "$root/scripts/bench/similarity_ref.py" ref "$work/data" "$perms" 10 3 "$work/ref.json"
"$py" "$root/scripts/bench/similarity_ref.py" compare "$work/ref.json" \
  "$work/ours/similarity.json" "$("$py" -c "print($end - $start)")"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
