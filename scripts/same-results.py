#!/usr/bin/env python3
"""Compare the result files of two study run directories byte for byte.

    scripts/same-results.py RUN_A RUN_B

Left out: manifest.json (stage keys, inputs, timings), the file-hash cache (.cache/) and
fine-tuning's resumable state. Normalised before comparing: JSON and JSON lines lose wall-clock
fields (`seconds`, `*_per_s`, `elapsed*`); each run's own directory name (its `study.out`) reads
`<out>`; in HTML, stage keys (64 hex digits) read `<key>` and the tool version line is ignored.
Exits 1 and lists the files that differ or exist on one side only.
"""
import json
import os
import re
import sys


def clock_free(v):
    if isinstance(v, dict):
        return {k: clock_free(x) for k, x in v.items()
                if not (k == "seconds" or k.endswith("_per_s") or k.startswith("elapsed"))}
    if isinstance(v, list):
        return [clock_free(x) for x in v]
    return v


def normalised(path, rel, out_name):
    data = open(path, "rb").read()
    if rel.endswith(".json") or rel.endswith(".jsonl"):
        docs = data.decode().splitlines() if rel.endswith(".jsonl") else [data.decode()]
        data = "\n".join(json.dumps(clock_free(json.loads(d)), sort_keys=True) for d in docs if d.strip()).encode()
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return data
    text = text.replace(out_name, "<out>")
    if rel.endswith(".html"):
        text = re.sub(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])", "<key>", text)
    return text.encode()


def files(run):
    out = {}
    for root, _, names in os.walk(run):
        for n in names:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, run)
            if rel == "manifest.json" or rel.startswith(".cache") or "finetune-state" in rel:
                continue
            out[rel] = p
    return out


def main():
    a, b = sys.argv[1], sys.argv[2]
    fa, fb = files(a), files(b)
    name = lambda r: json.load(open(os.path.join(r, "manifest.json")))["config"]["study"]["out"]
    na, nb = name(a), name(b)
    bad = sorted(set(fa) ^ set(fb))
    for rel in sorted(set(fa) & set(fb)):
        if normalised(fa[rel], rel, na) != normalised(fb[rel], rel, nb):
            bad.append(rel)
    print(f"{len(set(fa) & set(fb))} files in both, {len(bad)} differ or are on one side only")
    for rel in bad:
        print("  " + rel)
    sys.exit(1 if bad else 0)


main()
