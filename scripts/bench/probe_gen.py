#!/usr/bin/env python3
"""Synthetic classifier-probe benchmark input (Python standard library only).

Labels have Zipf-like frequencies and 1..4 sub-clusters each; every label owns a set of word
types (Zipf-like frequencies) whose centres sit near one of the label's sub-clusters; a vector is
its type's centre plus isotropic noise.  The noise is large enough that classes overlap, so probe
accuracy is well below 1 and hidden layers can help.  Deterministic for a given seed.

Writes DIR/{train,dev,test}_X.npy (float32 [n, d]), DIR/{train,dev,test}_y.npy (int64 [n]) and
DIR/{train,dev,test}_types.txt (one word type per line).

    python3 scripts/bench/probe_gen.py --out DIR [--n 50000 --dev 5000 --test 5000 --d 384 --labels 45]
"""
import argparse
import array
import bisect
import os
import random
import struct
import sys


def write_npy(path, descr, shape, payload):
    header = "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }" % (
        descr, ", ".join(str(s) for s in shape) + ("," if len(shape) == 1 else ""))
    total = 10 + len(header) + 1
    header += " " * ((64 - total % 64) % 64) + "\n"
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(payload)
    os.replace(tmp, path)


def zipf_cdf(k, s):
    w = [1.0 / (i + 1) ** s for i in range(k)]
    total = sum(w)
    acc, cdf = 0.0, []
    for x in w:
        acc += x / total
        cdf.append(acc)
    cdf[-1] = 1.0
    return cdf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, default=50000)
    ap.add_argument("--dev", type=int, default=5000)
    ap.add_argument("--test", type=int, default=5000)
    ap.add_argument("--d", type=int, default=384)
    ap.add_argument("--labels", type=int, default=45)
    ap.add_argument("--types-per-label", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    d, L = a.d, a.labels
    gauss = rng.gauss
    # label -> sub-cluster centres; a scale of 0.12 per coordinate against unit noise keeps
    # neighbouring labels overlapping in 384-d.
    subs = [[[gauss(0.0, 0.12) for _ in range(d)] for _ in range(rng.randint(1, 4))]
            for _ in range(L)]
    types = []  # (label, centre)
    for lab in range(L):
        for _ in range(a.types_per_label):
            base = rng.choice(subs[lab])
            types.append((lab, [c + gauss(0.0, 0.05) for c in base]))
    label_cdf = zipf_cdf(L, 1.0)
    type_cdf = zipf_cdf(a.types_per_label, 1.0)
    os.makedirs(a.out, exist_ok=True)
    for split, n in (("train", a.n), ("dev", a.dev), ("test", a.test)):
        xs = array.array("f")
        ys = array.array("q")
        names = []
        for _ in range(n):
            lab = bisect.bisect_left(label_cdf, rng.random())
            t = lab * a.types_per_label + bisect.bisect_left(type_cdf, rng.random())
            centre = types[t][1]
            xs.extend([c + gauss(0.0, 1.0) for c in centre])
            ys.append(lab)
            names.append("w%d" % t)
        if sys.byteorder != "little":
            xs.byteswap()
            ys.byteswap()
        write_npy(os.path.join(a.out, split + "_X.npy"), "<f4", (n, d), xs.tobytes())
        write_npy(os.path.join(a.out, split + "_y.npy"), "<i8", (n,), ys.tobytes())
        with open(os.path.join(a.out, split + "_types.txt"), "w") as f:
            f.write("\n".join(names) + "\n")
        print("%s: %d x %d, %d labels" % (split, n, d, len(set(ys))), file=sys.stderr)


if __name__ == "__main__":
    main()
