#!/usr/bin/env bash
# Regenerate the RoBERTa, XLM-R, DistilBERT and ELECTRA parity fixtures with Hugging Face
# transformers (never run by CI).
#
#   scripts/reference/hf_families.sh [FAMILY...]     default: all four
#
# Sets up the reference virtualenv (scripts/reference/hf_venv.sh), then runs hf_families.py,
# which writes crates/model/tests/fixtures/families/<family>/{model/,reference.json,hidden.npy}.
# The fine-tuning fixtures of the same models come from finetune_reference.py.
set -euo pipefail
. "$(dirname "$0")/hf_venv.sh"
exec "$venv/bin/python" "$root/scripts/reference/hf_families.py" "$root" "$@"
