"""PyTorch side of the fine-tuning step benchmark (scripts/bench/finetune.sh).

Same work as crates/model/examples/finetune_step.rs: transformers' BertModel loaded from
MODEL_DIR plus a linear head on every word (first sub-word), dropout 0.1, cross-entropy,
backward, clip_grad_norm_(1.0), torch.optim.AdamW (lr 5e-5, wd 0.01 on everything trained), on
one fixed random batch BATCH x SEQ. METHOD `full` trains every weight; `lora` wraps the encoder
with peft.get_peft_model (LoraConfig r=8, lora_alpha=16, lora_dropout=0.1, target_modules
query and value) and trains the adapters and the head. Prints one JSON line with tokens/s.

    python finetune_step.py MODEL_DIR [BATCH] [SEQ] [STEPS] [full|lora]
"""

import json
import sys
import time

import torch
from transformers import BertModel

model_dir = sys.argv[1]
batch, seq, steps = (int(a) for a in (sys.argv[2:5] + ["32", "64", "10"][len(sys.argv[2:5]):]))
method = sys.argv[5] if len(sys.argv) > 5 else "full"
labels = 17
torch.manual_seed(0)
bert = BertModel.from_pretrained(model_dir, hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1)
if method == "lora":
    import peft

    bert = peft.get_peft_model(
        bert,
        peft.LoraConfig(r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["query", "value"]),
    )
elif method != "full":
    sys.exit(f"METHOD is full or lora, found {method}")
head = torch.nn.Linear(bert.config.hidden_size, labels)
drop = torch.nn.Dropout(0.1)
bert.train()
head.train()
ids = torch.randint(1000, 29000, (batch, seq))
ids[:, 0], ids[:, -1] = 101, 102
mask = torch.ones_like(ids)
targets = torch.randint(0, labels, (batch, seq - 2))
params = [p for p in bert.parameters() if p.requires_grad] + list(head.parameters())
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
                  "batch": batch, "seq": seq, "threads": torch.get_num_threads(), "method": method}))
