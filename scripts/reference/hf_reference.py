"""Parity fixtures for tunescope's BERT encoder, from Hugging Face transformers.

Run through hf_reference.sh (sets up the virtualenv). Writes, under crates/model/tests/fixtures/:

  tiny-bert/model/        a tiny random-weight BERT in HF layout (config.json, model.safetensors,
                          tokenizer.json, vocab.txt, tokenizer_config.json, ...), seed 0
  tiny-bert/reference.json, tiny-bert/hidden.npy
  minilm/reference.json,    minilm/hidden.npy      (for assets/all-MiniLM-L6-v2)

reference.json holds the pre-tokenized sentences, HF's input_ids and word_ids (with [CLS]/[SEP])
and versions; hidden.npy is float32 [layers + 1, total tokens, hidden]: every hidden state of
every real (non-pad) token, sentences concatenated in order. The sentences are run as ONE padded
batch (output_hidden_states=True, eval mode, 1 thread), so the padding mask is exercised.
"""

import json
import os
import sys

import numpy as np
import torch
import transformers
from transformers import BertConfig, BertModel, BertTokenizerFast

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
FIXTURES = os.path.join(ROOT, "crates", "model", "tests", "fixtures")

TINY_WORDS = (
    "the a an quick brown fox jump jumps over lazy dog dogs cat sat on mat i you we they "
    "know don t ' . , ! ? run running were was is be quickly slowly hello world this that "
    "and or but not very good bad new old day time year people way man woman child"
).split()
TINY_PIECES = "un ##believ ##able ##s ##ing ##ly ##ed ##er re ##do".split()
TINY_SENTENCES = [
    "The quick brown fox jumps over the lazy dog .".split(" "),
    "Unbelievable ! Dogs were running quickly".split(" "),
    "I don't know , redoing that".split(" "),
    "zebra xylophone cats".split(" "),
    ["Hello"],
]
MINILM_SENTENCES = [
    "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
    "election produced `` no evidence '' that any irregularities took place .".split(" "),
    "Unbelievably , the committee's report was never published .".split(" "),
    "Hello".split(" "),
]


def hidden_states(model, tokenizer, sentences):
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    with torch.no_grad():
        out = model(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            output_hidden_states=True,
        )
    states = torch.stack(out.hidden_states)  # [L+1, B, T, H]
    ids, word_ids, rows = [], [], []
    for b in range(len(sentences)):
        n = int(enc["attention_mask"][b].sum())
        ids.append(enc["input_ids"][b, :n].tolist())
        word_ids.append([-1 if w is None else w for w in enc.word_ids(b)[:n]])
        rows.append(states[:, b, :n, :])
    hidden = torch.cat(rows, dim=1).numpy().astype(np.float32)
    return ids, word_ids, hidden


def write(out_dir, sentences, ids, word_ids, hidden):
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "hidden.npy"), hidden)
    meta = {
        "sentences": sentences,
        "input_ids": ids,
        "word_ids": word_ids,
        "layers": hidden.shape[0],
        "hidden_size": hidden.shape[2],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1)
        f.write("\n")
    print(f"wrote {out_dir}: hidden {hidden.shape}")


def tiny():
    out = os.path.join(FIXTURES, "tiny-bert")
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + TINY_WORDS + TINY_PIECES
    tokenizer = BertTokenizerFast(vocab={t: i for i, t in enumerate(vocab)}, do_lower_case=True)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=48,
        max_position_embeddings=24,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
    )
    torch.manual_seed(0)
    model = BertModel(config).eval()
    # Larger-than-default random weights, so that attention is far from uniform and every
    # parameter (LayerNorm included) visibly matters.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(0.25 * torch.randn_like(p))
    model.save_pretrained(model_dir, safe_serialization=True)
    tokenizer.save_pretrained(model_dir)
    # Classic BERT directories also carry vocab.txt (used when tokenizer.json is absent).
    with open(os.path.join(model_dir, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    model = BertModel.from_pretrained(model_dir).eval()
    tokenizer = BertTokenizerFast.from_pretrained(model_dir)
    write(out, TINY_SENTENCES, *hidden_states(model, tokenizer, TINY_SENTENCES))


def minilm():
    src = os.path.join(ROOT, "assets", "all-MiniLM-L6-v2")
    model = BertModel.from_pretrained(src).eval()
    tokenizer = BertTokenizerFast.from_pretrained(src)
    out = os.path.join(FIXTURES, "minilm")
    write(out, MINILM_SENTENCES, *hidden_states(model, tokenizer, MINILM_SENTENCES))


if __name__ == "__main__":
    torch.set_num_threads(1)
    tiny()
    minilm()
