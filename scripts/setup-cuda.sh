#!/usr/bin/env bash
# Install the CUDA libraries of the PyPI torch wheel into a virtualenv that holds torch installed
# with --no-deps (scripts/setup-assets.sh does that: only the CUDA runtime and CUPTI, which
# libtorch_cpu links, come with it).
#
#   scripts/setup-cuda.sh [VENV]      default VENV: $TUNESCOPE_CACHE/venv-torch-2.13.0
#
# Needed (a) on a GPU machine, for `cargo build --features cuda` and `tunescope ... --device
# cuda:0`: libtorch_cuda is then linked and loads cuDNN, cuBLAS, NCCL, ... from the venv; and
# (b) for Python's `import torch` at all (libtorch.so links libtorch_cuda), i.e. for the
# reference scripts under scripts/reference/ and the benchmark's Python side. Several GB.
# The versions are the exact ones torch 2.13.0's wheel metadata requires. Idempotent.
set -euo pipefail
cache=${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}
venv=${1:-$cache/venv-torch-2.13.0}
[ -x "$venv/bin/pip" ] || { echo "setup-cuda: no virtualenv at $venv (run scripts/setup-assets.sh first)" >&2; exit 1; }
"$venv/bin/python" -c 'import importlib.metadata as m; assert m.version("torch") == "2.13.0"' 2>/dev/null ||
  { echo "setup-cuda: $venv does not hold torch 2.13.0" >&2; exit 1; }
echo "setup-cuda: installing torch 2.13.0's CUDA libraries into $venv (several GB)" >&2
"$venv/bin/pip" install --quiet \
  'cuda-toolkit[cublas,cudart,cufft,cufile,cupti,curand,cusolver,cusparse,nvjitlink,nvrtc,nvtx]==13.0.3' \
  'nvidia-cudnn-cu13==9.20.0.48' 'nvidia-cusparselt-cu13==0.8.1' \
  'nvidia-nccl-cu13==2.29.7' 'nvidia-nvshmem-cu13==3.4.5'
"$venv/bin/python" -c 'import torch; print("setup-cuda: torch", torch.__version__, "imports; CUDA available:", torch.cuda.is_available())' >&2
