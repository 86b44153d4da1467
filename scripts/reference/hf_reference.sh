#!/usr/bin/env bash
# Regenerate the BERT encoder parity fixtures with Hugging Face transformers (never run by CI).
#
#   scripts/reference/hf_reference.sh
#
# Sets up the reference virtualenv (scripts/reference/hf_venv.sh), then runs hf_reference.py,
# which writes
#   crates/model/tests/fixtures/tiny-bert/model/   tiny random-weight BERT in HF layout
#   crates/model/tests/fixtures/tiny-bert/*.npy|json   its hidden states on fixed sentences
#   crates/model/tests/fixtures/minilm/*.npy|json      the same for assets/all-MiniLM-L6-v2
set -euo pipefail
. "$(dirname "$0")/hf_venv.sh"
exec "$venv/bin/python" "$root/scripts/reference/hf_reference.py" "$root"
