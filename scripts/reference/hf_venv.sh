# Sourced by the reference scripts (hf_reference.sh, hf_families.sh): sets up the reference
# virtualenv $TUNESCOPE_CACHE/venv-ref (default ~/.cache/tunescope) and sets $venv and $root.
#
# The PyPI torch 2.13.0 wheel with --no-deps plus the pure-Python packages torch imports, its CUDA
# libraries (scripts/setup-cuda.sh: Python's `import torch` loads libtorch_cuda even on a CPU
# machine), then transformers (with its `tokenizers`), numpy and safetensors.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${TUNESCOPE_CACHE:-$HOME/.cache/tunescope}
venv=$cache/venv-ref
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
if ! "$venv/bin/python" -c 'import torch, transformers, tokenizers, numpy, safetensors' 2>/dev/null; then
  whl=$(find "$cache" -maxdepth 1 -name 'torch-2.13.0-*.whl' | head -n 1)
  "$venv/bin/pip" install --quiet --no-deps "${whl:-torch==2.13.0}" \
    'nvidia-cuda-runtime==13.0.96' 'nvidia-cuda-cupti==13.0.85'
  "$venv/bin/pip" install --quiet filelock typing-extensions 'setuptools>=77.0.3' sympy networkx \
    jinja2 fsspec
  "$root/scripts/setup-cuda.sh" "$venv"
  "$venv/bin/pip" install --quiet 'transformers==5.24.0' numpy safetensors
fi
"$venv/bin/python" -c 'import torch; print("reference: torch", torch.__version__)'
