"""PyTorch side of the fine-tuning step benchmark (scripts/bench/finetune.sh).

Same work as crates/model/examples/finetune_step.rs: transformers' BertModel loaded from
MODEL_DIR plus a linear head on every word (first sub-word), dropout 0.1, cross-entropy,
backward, clip_grad_norm_(1.0), torch.optim.AdamW (lr 5e-5, wd 0.01 on everything), on one
fixed random batch BATCH x SEQ. Prints one JSON line with tokens/s.

    python finetune_step.py MODEL_DIR [BATCH] [SEQ] [STEPS]
"""

import json
import sys
import time

import torch
from transformers import BertModel

model_dir = sys.argv[1]
batch, seq, steps = (int(a) for a in (sys.argv[2:5] + ["32", "64", "10"][len(sys.argv[2:5]):]))
labels = 17
torch.manual_seed(0)
bert = BertModel.from_pretrained(model_dir, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
head = torch.nn.Linear(bert.config.hidden_size, labels)
drop = torch.nn.Dropout(0.1)
bert.train()
head.train()
ids = torch.randint(1000, 29000, (batch, seq))
ids[:, 0], ids[:, -1] = 101, 102
mask = torch.ones_like(ids)
targets = torch.randint(0, labels, (batch, seq - 2))
params = list(bert.parameters()) + list(head.parameters())
opt = torch.optim.AdamW(params, lr=5e-5, weight_decay=0.01)


def step():
    opt.zero_grad()
    hidden = bert(input_ids=ids, attention_mask=mask).last_hidden_state[:, 1:-1]
    logits = head(drop(hidden)).reshape(-1, labels)
    loss = torch.nn.functional.cross_entropy(logits, targets.reshape(-1))
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    return loss.item()


for _ in range(2):
    step()
t0 = time.perf_counter()
for _ in range(steps):
    step()
secs = (time.perf_counter() - t0) / steps
print(json.dumps({"tokens_per_s": round(batch * seq / secs, 1), "seconds_per_step": round(secs, 4),
                  "batch": batch, "seq": seq, "threads": torch.get_num_threads()}))
