"""Fixtures for the HF compatibility of `tunescope finetune`'s output (never run by CI).

Run with the reference virtualenv that scripts/reference/hf_reference.sh sets up:

    ~/.cache/tunescope/venv-ref/bin/python scripts/reference/finetune_reference.py [ROOT [FAMILY...]]

FAMILY: bert (the tiny BERT of hf_reference.py), roberta, xlm-roberta, distilbert, electra (the
tiny models of hf_families.py); default all of them.

1. writes a tiny synthetic tagging task (JSONL, seeded) under
   crates/model/tests/fixtures/finetune-tiny/ and, per family, a study config (BERT:
   finetune-tiny/config.toml; others: fixtures/families/<family>/finetune/config.toml),
2. fine-tunes the family's tiny random model on it with the real CLI
   (`cargo run --release -p tunescope -- finetune`, or $TUNESCOPE_BIN when set),
3. copies the run's models/finetuned/ to <fixture>/finetuned/,
4. loads that directory with transformers.AutoModel.from_pretrained and records its hidden
   states on fixed sentences (reference.json, hidden.npy: float32 [layers + 1, tokens, hidden],
   real tokens of the sentences concatenated), the class AutoModel chose and the keys
   transformers reported as missing or unexpected while loading.

crates/model/tests/finetune_hf.rs loads the committed directories with tunescope's encoder and
checks every hidden state against these values.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import transformers
from transformers import AutoModel, AutoTokenizer

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
FIXTURES = os.path.join(ROOT, "crates", "model", "tests", "fixtures")
OUT = os.path.join(FIXTURES, "finetune-tiny")
FAMILIES = ["bert", "roberta", "xlm-roberta", "distilbert", "electra"]
WORDS = "the a quick brown fox jumps over lazy dog cat sat on mat i you we they run was is good bad new old day".split()
SENTENCES = [
    "The quick brown fox jumps over the lazy dog".split(),
    "we run on a new day".split(),
    "Unbelievable ! cats".split(),
    "Dr. Müller's well-known café , 1998".split(),
]


def write_task():
    rng = random.Random(0)
    for split, n in [("train", 48), ("dev", 12), ("test", 12)]:
        with open(os.path.join(OUT, f"{split}.jsonl"), "w") as f:
            for _ in range(n):
                tokens = [rng.choice(WORDS) for _ in range(rng.randint(3, 12))]
                tags = ["T%d" % (WORDS.index(t) % 3) for t in tokens]
                f.write(json.dumps({"tokens": tokens, "tags": tags}) + "\n")


def write_config(family, out):
    """The study config fine-tuning `family`'s tiny model on the task; returns its path."""
    model = "tiny-bert/model" if family == "bert" else f"families/{family}/model"
    config = f"""# Study config of the fine-tuning HF-compatibility fixture (scripts/reference/finetune_reference.py).
[study]
name = "finetune-tiny"
seed = 3

[data]
format = "jsonl"
task = "tagging"
train = "crates/model/tests/fixtures/finetune-tiny/train.jsonl"
dev = "crates/model/tests/fixtures/finetune-tiny/dev.jsonl"
test = "crates/model/tests/fixtures/finetune-tiny/test.jsonl"

[model]
path = "crates/model/tests/fixtures/{model}"
max_subwords = 24

[finetune]
lr = 1e-3
batch_size = 8
epochs = 2
"""
    path = os.path.join(out, "config.toml")
    with open(path, "w") as f:
        f.write(config)
    return path


def hidden_states(model, tokenizer, sentences):
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"], output_hidden_states=True)
    states = torch.stack(out.hidden_states)
    ids, rows = [], []
    for b in range(len(sentences)):
        n = int(enc["attention_mask"][b].sum())
        ids.append(enc["input_ids"][b, :n].tolist())
        rows.append(states[:, b, :n, :])
    return ids, torch.cat(rows, dim=1).numpy().astype(np.float32)


def finetune(family):
    out = OUT if family == "bert" else os.path.join(FIXTURES, "families", family, "finetune")
    os.makedirs(out, exist_ok=True)
    config = write_config(family, out)
    with tempfile.TemporaryDirectory() as run:
        binary = os.environ.get("TUNESCOPE_BIN")
        command = [binary] if binary else ["cargo", "run", "--release", "-q", "-p", "tunescope", "--"]
        subprocess.run(
            command + ["finetune", config, "--set", f"study.out={run}", "--threads", "1"],
            cwd=ROOT, check=True,
        )
        dest = os.path.join(out, "finetuned")
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(os.path.join(run, "models", "finetuned"), dest)
    model, info = AutoModel.from_pretrained(dest, output_loading_info=True)
    model.eval()
    # Byte-level BPE needs add_prefix_space=True for pre-tokenized input.
    kwargs = {"add_prefix_space": True} if family == "roberta" else {}
    tokenizer = AutoTokenizer.from_pretrained(dest, **kwargs)
    ids, hidden = hidden_states(model, tokenizer, SENTENCES)
    np.save(os.path.join(out, "hidden.npy"), hidden)
    meta = {
        "sentences": SENTENCES,
        "input_ids": ids,
        "layers": hidden.shape[0],
        "hidden_size": hidden.shape[2],
        "model_class": type(model).__name__,
        "missing_keys": sorted(info["missing_keys"]),
        "unexpected_keys": sorted(info["unexpected_keys"]),
        "mismatched_keys": sorted(str(k) for k in info["mismatched_keys"]),
        "id2label": {str(k): v for k, v in model.config.id2label.items()},
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(os.path.join(out, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out}: {meta['model_class']}, hidden {hidden.shape}, loading info {info}")


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    write_task()
    for family in sys.argv[2:] or FAMILIES:
        finetune(family)


if __name__ == "__main__":
    main()
