"""HF side of the one-epoch fine-tuning benchmark (scripts/bench/finetune_vs_trainer.sh).

The obvious transformers recipe for token classification: AutoModelForTokenClassification from
MODEL_DIR, the train JSONL ({"tokens": [...], "tags": [...]} per line) tokenised with
is_split_into_words, truncation at 128 sub-words ([CLS]/[SEP] included), the label on each
word's first sub-word (-100 elsewhere), DataCollatorForTokenClassification (pads each batch to
its longest sentence) and Trainer with the hyper-parameters tunescope uses: AdamW lr 5e-5,
weight decay 0.01 (not on biases and LayerNorm), linear warm-up over ceil(0.1 x updates) then
linear decay, batch 32, clipping 1.0, dropout 0.1, one epoch, seed 42. Saves the final model
to OUT_DIR, as tunescope does.

    python finetune_trainer.py MODEL_DIR TRAIN_JSONL OUT_DIR THREADS
"""

import json
import math
import sys
import time

import torch
from transformers import (
    AutoModelForTokenClassification,
    AutoTokenizer,
    DataCollatorForTokenClassification,
    Trainer,
    TrainingArguments,
)

model_dir, train_path, out_dir, threads = sys.argv[1:5]
torch.set_num_threads(int(threads))
start = time.perf_counter()

rows = [json.loads(line) for line in open(train_path, encoding="utf-8") if line.strip()]
labels = sorted({t for r in rows for t in r["tags"]})
label_id = {l: i for i, l in enumerate(labels)}
tokenizer = AutoTokenizer.from_pretrained(model_dir)


def encode(row):
    enc = tokenizer(row["tokens"], is_split_into_words=True, truncation=True, max_length=128)
    tags, previous = [], None
    for w in enc.word_ids():
        tags.append(-100 if w is None or w == previous else label_id[row["tags"][w]])
        previous = w
    enc["labels"] = tags
    return dict(enc)


train = [encode(r) for r in rows]
model = AutoModelForTokenClassification.from_pretrained(
    model_dir,
    num_labels=len(labels),
    id2label=dict(enumerate(labels)),
    label2id=label_id,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)
batch = 32
updates = math.ceil(len(train) / batch)
args = TrainingArguments(
    output_dir=out_dir,
    per_device_train_batch_size=batch,
    learning_rate=5e-5,
    weight_decay=0.01,
    adam_beta1=0.9,
    adam_beta2=0.999,
    adam_epsilon=1e-8,
    max_grad_norm=1.0,
    num_train_epochs=1,
    lr_scheduler_type="linear",
    warmup_steps=math.ceil(0.1 * updates),
    seed=42,
    save_strategy="no",
    logging_steps=max(1, updates // 10),
    report_to="none",
    use_cpu=True,
    dataloader_num_workers=0,
    disable_tqdm=True,
)
trainer = Trainer(
    model=model,
    args=args,
    train_dataset=train,
    data_collator=DataCollatorForTokenClassification(tokenizer),
)
result = trainer.train()
trainer.save_model(out_dir)
tokens = sum(len(x["input_ids"]) for x in train)
print(
    json.dumps(
        {
            "sentences": len(train),
            "updates": result.global_step,
            "subwords": tokens,
            "train_loss": round(result.training_loss, 4),
            "train_s": round(result.metrics["train_runtime"], 1),
            "total_s": round(time.perf_counter() - start, 1),
        }
    )
)
