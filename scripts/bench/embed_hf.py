"""The obvious Hugging Face transformers way to get every layer's word vectors (benchmark side of
scripts/bench/embed_vs_hf.sh): a DataLoader of batch 32 over the sentences in input order,
padding to the longest in the batch, output_hidden_states=True, first sub-word per word, vectors
collected in memory and saved with np.save per layer at the end.

  python embed_hf.py MODEL_DIR INPUT OUT_DIR THREADS        # whole file
  python embed_hf.py MODEL_DIR --fixed THREADS ITERS        # tokens/s on a fixed 32x64 batch
"""

import os
import sys
import time

import numpy as np
import torch
from torch.utils.data import DataLoader
from transformers import AutoModel, AutoTokenizer


def fixed(model_dir, threads, iters):
    torch.set_num_threads(threads)
    model = AutoModel.from_pretrained(model_dir).eval()
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1000, model.config.vocab_size, (32, 64), generator=g)
    mask = torch.ones_like(ids)
    with torch.inference_mode():
        model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        t = time.perf_counter()
        for _ in range(iters):
            model(input_ids=ids, attention_mask=mask, output_hidden_states=True)
        dt = time.perf_counter() - t
    print(f"hf_fixed_tok_per_s {32 * 64 * iters / dt:.1f}")


def whole(model_dir, input_path, out_dir, threads):
    torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    with open(input_path, encoding="utf-8") as f:
        sentences = [line.rstrip("\n").split(" ") for line in f]

    def collate(batch):
        enc = tok(batch, is_split_into_words=True, padding=True, return_tensors="pt")
        firsts = []
        for b in range(len(batch)):
            seen = set()
            pos = []
            for p, w in enumerate(enc.word_ids(b)):
                if w is not None and w not in seen:
                    seen.add(w)
                    pos.append(p)
            firsts.append(pos)
        return enc, firsts

    loader = DataLoader(sentences, batch_size=32, shuffle=False, collate_fn=collate)
    layers = None
    with torch.no_grad():
        for enc, firsts in loader:
            out = model(**enc, output_hidden_states=True)
            if layers is None:
                layers = [[] for _ in out.hidden_states]
            for l, h in enumerate(out.hidden_states):
                for b, pos in enumerate(firsts):
                    layers[l].append(h[b, pos].numpy())
    os.makedirs(out_dir, exist_ok=True)
    for l, rows in enumerate(layers):
        np.save(os.path.join(out_dir, f"layer-{l}.npy"), np.concatenate(rows).astype(np.float32))


if __name__ == "__main__":
    if sys.argv[2] == "--fixed":
        fixed(sys.argv[1], int(sys.argv[3]), int(sys.argv[4]))
    else:
        whole(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
