"""LoRA parity fixture: tunescope's PEFT-layout adapter loaded by the real `peft`.

Run through peft_reference.sh (which first has tunescope write the adapter and the merged model).

  python peft_reference.py ROOT MERGED_DIR

Loads crates/model/tests/fixtures/peft-lora/adapter/ (written by tunescope) with
peft.PeftModel.from_pretrained onto the tiny BERT fixture (transformers' BertModel), runs the
tiny fixture's sentences (tiny-bert/reference.json input ids, one padded batch, eval mode) through
PEFT's un-merged forward (W x + alpha/r · B A x), and

  1. checks the hidden states against tunescope's merged model MERGED_DIR loaded by
     transformers (max |diff| <= 1e-4, else exit 1);
  2. checks PEFT's own merge_and_unload() weights against tunescope's merged weights;
  3. writes PEFT's hidden states as peft-lora/hidden.npy ([layers + 1, real tokens, hidden],
     sentences concatenated) and peft-lora/reference.json (sentences, input_ids, word_ids,
     versions, the two differences), the format of crates/model/tests/encoder_parity.rs.
"""

import json
import os
import sys

import numpy as np
import peft
import torch
import transformers
from safetensors.torch import load_file
from transformers import BertModel

ROOT = sys.argv[1]
MERGED = sys.argv[2]
FIXTURES = os.path.join(ROOT, "crates", "model", "tests", "fixtures")
BASE = os.path.join(FIXTURES, "tiny-bert", "model")
OUT = os.path.join(FIXTURES, "peft-lora")
ADAPTER = os.path.join(OUT, "adapter")


def batch(ref):
    ids = ref["input_ids"]
    width = max(len(x) for x in ids)
    input_ids = torch.zeros(len(ids), width, dtype=torch.long)
    mask = torch.zeros(len(ids), width, dtype=torch.long)
    for b, x in enumerate(ids):
        input_ids[b, : len(x)] = torch.tensor(x)
        mask[b, : len(x)] = 1
    return input_ids, mask


def hidden(model, input_ids, mask):
    with torch.no_grad():
        out = model(input_ids=input_ids, attention_mask=mask, output_hidden_states=True)
    states = torch.stack(out.hidden_states)  # [L+1, B, T, H]
    rows = [states[:, b, : int(mask[b].sum()), :] for b in range(input_ids.shape[0])]
    return torch.cat(rows, dim=1).numpy().astype(np.float32)


def main():
    torch.set_num_threads(1)
    with open(os.path.join(FIXTURES, "tiny-bert", "reference.json")) as f:
        tiny = json.load(f)
    input_ids, mask = batch(tiny)

    base = BertModel.from_pretrained(BASE).eval()
    lora = peft.PeftModel.from_pretrained(base, ADAPTER).eval()
    n_adapted = sum(1 for n, _ in lora.named_modules() if n.endswith("lora_A.default"))
    assert n_adapted == 9, f"expected 9 adapted layers, PEFT found {n_adapted}"
    h_peft = hidden(lora, input_ids, mask)

    merged = BertModel.from_pretrained(MERGED).eval()
    h_merged = hidden(merged, input_ids, mask)
    hidden_diff = float(np.abs(h_peft - h_merged).max())
    print(f"PEFT un-merged forward vs tunescope's merged model: max |diff| = {hidden_diff:.3g}")

    peft_merged = lora.merge_and_unload().state_dict()
    ours = load_file(os.path.join(MERGED, "model.safetensors"))
    weight_diff = max(float((peft_merged[k] - ours[k]).abs().max()) for k in ours)
    print(f"PEFT merge_and_unload vs tunescope's merged weights: max |diff| = {weight_diff:.3g}")
    if hidden_diff > 1e-4 or weight_diff > 1e-5:
        sys.exit("tunescope's merged model disagrees with PEFT")

    np.save(os.path.join(OUT, "hidden.npy"), h_peft)
    meta = {
        "sentences": tiny["sentences"],
        "input_ids": tiny["input_ids"],
        "word_ids": tiny["word_ids"],
        "layers": h_peft.shape[0],
        "hidden_size": h_peft.shape[2],
        "max_abs_diff_vs_tunescope_merged": hidden_diff,
        "max_abs_weight_diff_vs_peft_merge": weight_diff,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
    }
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {OUT}: hidden {h_peft.shape}")


if __name__ == "__main__":
    main()
