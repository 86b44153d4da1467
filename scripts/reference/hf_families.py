"""Parity fixtures for tunescope's RoBERTa, XLM-R, DistilBERT and ELECTRA encoders, from Hugging
Face transformers (never run by CI).

Run through hf_families.sh (sets up the virtualenv). For each family writes, under
crates/model/tests/fixtures/families/<family>/:

  model/          a tiny random-weight model in HF layout (config.json, model.safetensors,
                  tokenizer.json and the tokenizer's side files), seed 0; its tokenizer is
                  trained here with the `tokenizers` library on a small fixed corpus:
                  byte-level BPE (RoBERTa), SentencePiece Unigram (XLM-R), WordPiece uncased
                  (DistilBERT) and cased (ELECTRA)
  reference.json  the pre-tokenized sentences, HF's input_ids and word_ids (special tokens
                  included, word id -1), the keys transformers reported missing/unexpected when
                  loading the model back, versions
  hidden.npy      float32 [layers + 1, total tokens, hidden]: every hidden state of every real
                  (non-pad) token, sentences concatenated in order

The sentences are run as ONE padded batch (output_hidden_states=True, eval mode, 1 thread), so
padding (and RoBERTa's position ids around it) is exercised. Tokenization is what a researcher
gets from AutoTokenizer with is_split_into_words=True (add_prefix_space=True for byte-level BPE,
which transformers requires for pre-tokenized input).
"""

import json
import os
import sys

import numpy as np
import tokenizers
import torch
import transformers
from tokenizers import BertWordPieceTokenizer, ByteLevelBPETokenizer, SentencePieceUnigramTokenizer
from transformers import (
    AutoModel,
    AutoTokenizer,
    BertTokenizer,
    DistilBertConfig,
    DistilBertModel,
    DistilBertTokenizer,
    ElectraConfig,
    ElectraModel,
    RobertaConfig,
    RobertaModel,
    RobertaTokenizer,
    XLMRobertaConfig,
    XLMRobertaModel,
    XLMRobertaTokenizer,
)

ROOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..")
FIXTURES = os.path.join(ROOT, "crates", "model", "tests", "fixtures", "families")

# Capitals, punctuation, numbers, hyphens, apostrophes and non-ASCII words.
SENTENCES = [
    "The quick brown fox jumps over the lazy dog .".split(" "),
    "Dr. Müller's well-known café re-opened in 1998 , didn't it ?".split(" "),
    "Naïve señor Zoë paid €42.50 for 25 croissants !".split(" "),
    "Hello".split(" "),
    "“ Straße ” and 東京 : O'Brien's 3-to-2 win".split(" "),
]
CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "The dog sat on the mat and the cat sat on the dog",
    "Dr. Smith's café opened in 1999, didn't it?",
    "A well-known doctor re-opened the old shop in 2001.",
    "Hello world! Hello again, said the naïve man.",
    "Señor Müller paid 42 euros for 25 croissants.",
    "They were running quickly; we were walking slowly.",
    "Unbelievable: the people of the town know the way.",
    "I don't know what you mean, but it's a good day.",
    "Zoë and O'Brien won 3-2 in the final in Berlin.",
    "Straße, Tokyo and Paris are names of places.",
    "numbers like 1, 2, 3, 10, 100 and 1998 appear in text",
] * 3

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48)
MAX_LEN = 64


def randomize(model):
    """Larger-than-default random weights, so attention is far from uniform and every parameter
    (LayerNorm included) visibly matters."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name or "layer_norm.weight" in name:
                p.copy_(1.0 + 0.3 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
            elif "embeddings" in name:
                p.copy_(torch.randn_like(p))
            else:
                p.copy_(0.25 * torch.randn_like(p))


def trained_model(tok):
    """The `model` section of a trained `tokenizers` tokenizer's JSON."""
    return json.loads(tok._tokenizer.to_str())["model"]


def train_roberta_tokenizer():
    """Byte-level BPE with RoBERTa's special tokens (ids 0-3: <s> <pad> </s> <unk>)."""
    tok = ByteLevelBPETokenizer()
    tok.train_from_iterator(
        CORPUS, vocab_size=300, min_frequency=2,
        special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
    )
    m = trained_model(tok)
    return RobertaTokenizer(vocab=m["vocab"], merges=[tuple(x) for x in m["merges"]])


def train_xlmr_tokenizer():
    """SentencePiece Unigram with XLM-R's special tokens (ids 0-3, <mask> last)."""
    tok = SentencePieceUnigramTokenizer()
    tok.train_from_iterator(
        CORPUS, vocab_size=150, special_tokens=["<s>", "<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    vocab = [tuple(x) for x in trained_model(tok)["vocab"]] + [("<mask>", 0.0)]
    return XLMRobertaTokenizer(vocab=vocab)


def train_wordpiece(lowercase, cls):
    tok = BertWordPieceTokenizer(lowercase=lowercase)
    tok.train_from_iterator(CORPUS, vocab_size=180, min_frequency=2)
    return cls(vocab=trained_model(tok)["vocab"], do_lower_case=lowercase)


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
    return ids, word_ids, torch.cat(rows, dim=1).numpy().astype(np.float32)


def tokenizer_kwargs(family):
    return {"add_prefix_space": True} if family == "roberta" else {}


def reference(family, model_dir, out_dir, sentences):
    """Loads `model_dir` with AutoModel/AutoTokenizer and writes reference.json + hidden.npy."""
    model, info = AutoModel.from_pretrained(model_dir, output_loading_info=True)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir, **tokenizer_kwargs(family))
    ids, word_ids, hidden = hidden_states(model, tokenizer, sentences)
    np.save(os.path.join(out_dir, "hidden.npy"), hidden)
    meta = {
        "family": family,
        "model_class": type(model).__name__,
        "sentences": sentences,
        "input_ids": ids,
        "word_ids": word_ids,
        "layers": hidden.shape[0],
        "hidden_size": hidden.shape[2],
        "missing_keys": sorted(info["missing_keys"]),
        "unexpected_keys": sorted(info["unexpected_keys"]),
        "mismatched_keys": sorted(str(k) for k in info["mismatched_keys"]),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(meta, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {out_dir}: {meta['model_class']}, hidden {hidden.shape}, loading info {info}")
    return meta


def build(family):
    out = os.path.join(FIXTURES, family)
    model_dir = os.path.join(out, "model")
    os.makedirs(model_dir, exist_ok=True)
    for f in os.listdir(model_dir):
        os.remove(os.path.join(model_dir, f))
    if family == "roberta":
        tok = train_roberta_tokenizer()
        config = RobertaConfig(
            vocab_size=len(tok), max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, layer_norm_eps=1e-5, **TINY,
        )
        model = RobertaModel(config)
    elif family == "xlm-roberta":
        tok = train_xlmr_tokenizer()
        config = XLMRobertaConfig(
            vocab_size=len(tok), max_position_embeddings=MAX_LEN + 2, type_vocab_size=1,
            pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id, layer_norm_eps=1e-5, hidden_act="gelu_new", **TINY,
        )
        model = XLMRobertaModel(config)
    elif family == "distilbert":
        tok = train_wordpiece(True, DistilBertTokenizer)
        config = DistilBertConfig(
            vocab_size=len(tok), dim=TINY["hidden_size"], n_layers=TINY["num_hidden_layers"],
            n_heads=TINY["num_attention_heads"], hidden_dim=TINY["intermediate_size"],
            max_position_embeddings=MAX_LEN, pad_token_id=tok.pad_token_id,
        )
        model = DistilBertModel(config)
    elif family == "electra":
        tok = train_wordpiece(False, BertTokenizer)
        config = ElectraConfig(
            vocab_size=len(tok), embedding_size=16, max_position_embeddings=MAX_LEN,
            pad_token_id=tok.pad_token_id, **TINY,
        )
        model = ElectraModel(config)
    else:
        raise ValueError(family)
    randomize(model)
    model.save_pretrained(model_dir, safe_serialization=True)
    tok.save_pretrained(model_dir)
    return reference(family, model_dir, out, SENTENCES)


if __name__ == "__main__":
    torch.set_num_threads(1)
    families = sys.argv[2:] or ["roberta", "xlm-roberta", "distilbert", "electra"]
    for family in families:
        meta = build(family)
        assert not (meta["missing_keys"] or meta["unexpected_keys"]), meta
