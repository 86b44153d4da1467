#!/usr/bin/env bash
# Regenerate the LoRA parity fixture with Hugging Face PEFT (never run by CI).
#
#   scripts/reference/peft_reference.sh
#
# 1. tunescope writes a LoRA adapter for the tiny BERT fixture in PEFT's layout and the merged
#    model (crates/model/examples/lora_fixture.rs);
# 2. peft_reference.py loads that adapter with the real `peft` onto the base model, checks its
#    hidden states against tunescope's merged model (<= 1e-4) and PEFT's own merge against
#    tunescope's merged weights, and stores PEFT's hidden states as the fixture
#    crates/model/tests/fixtures/peft-lora/{adapter/,hidden.npy,reference.json}
#    (checked by crates/model/tests/encoder_parity.rs).
set -euo pipefail
. "$(dirname "$0")/hf_venv.sh"
# peft and accelerate without their torch requirement (torch's CUDA wheels are set up above).
"$venv/bin/python" -c 'import peft' 2>/dev/null || {
  "$venv/bin/pip" install --quiet --no-deps 'peft==0.21.2' 'accelerate==1.16.0'
  "$venv/bin/pip" install --quiet psutil pyyaml tqdm packaging
}
cd "$root"
fixture=crates/model/tests/fixtures/peft-lora
merged=$(mktemp -d)
trap 'rm -rf "$merged"' EXIT
cargo run --release -q -p tunescope-model --example lora_fixture -- \
  crates/model/tests/fixtures/tiny-bert/model "$fixture/adapter" "$merged"
"$venv/bin/python" scripts/reference/peft_reference.py "$root" "$merged"
