#!/usr/bin/env python3
"""Reference values for tunescope-geometry's calibrated similarity and geometry descriptors.

Writes crates/geometry/tests/fixtures/measures.json: seeded inputs and the outputs of textbook
numpy/scipy implementations written independently of the Rust code:

* mutual k-NN (Huh et al. 2024): rows L2-normalised, scipy cdist, self excluded, a stable argsort
  (ties to the lower index), mean |N_A(i) & N_B(i)| / k;
* angular Procrustes (Williams et al. 2021): arccos of numpy.linalg.norm(A^T B, "nuc") after
  centring and unit Frobenius scaling;
* linear / debiased CKA and RSA from n x n Gram matrices / scipy (imported from
  similarity_reference.py);
* the permutation null: the same Fisher-Yates permutations as the Rust code (xoshiro256**
  seeded by SplitMix64, Lemire's bounded draw), every index recomputed from scratch on B[perm],
  then null mean, sample std, p = (1 + #{at least as extreme}) / (N + 1) and the z-score;
* TwoNN (Facco et al. 2017, MLE n / sum ln(r2/r1)) with numpy.unique duplicate removal and
  scipy cdist; anisotropy as the mean of the upper triangle of the cosine matrix; effective
  rank (Roy & Vetterli 2007) from numpy.linalg.svd; NC1 (Papyan et al. 2020) with
  numpy.linalg.pinv(Sigma_B, rcond=1e-10).

Run: ~/.cache/tunescope/venv-ref/bin/python scripts/reference/measures_reference.py
(needs numpy and scipy; CI only reads the committed JSON).
"""

import json
import pathlib

import numpy as np
import scipy
import scipy.spatial.distance

from similarity_reference import cka_debiased, cka_gram, rotl
from similarity_reference import rsa as rsa_metric

OUT = (
    pathlib.Path(__file__).resolve().parents[2]
    / "crates/geometry/tests/fixtures/measures.json"
)
MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15


def splitmix64(state):
    state = (state + GOLDEN) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


class Rng:
    """xoshiro256** seeded by four SplitMix64 outputs (tunescope_geometry::stats::Rng)."""

    def __init__(self, seed):
        self.s = []
        state = seed
        for _ in range(4):
            state, out = splitmix64(state)
            self.s.append(out)

    def next_u64(self):
        s = self.s
        result = (rotl((s[1] * 5) & MASK, 7) * 9) & MASK
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, bound):
        m = self.next_u64() * bound
        if (m & MASK) < bound:
            threshold = ((-bound) & MASK) % bound
            while (m & MASK) < threshold:
                m = self.next_u64() * bound
        return m >> 64

    def shuffle(self, xs):
        for i in range(len(xs) - 1, 0, -1):
            j = self.below(i + 1)
            xs[i], xs[j] = xs[j], xs[i]


def null_permutation(seed, index, n):
    _, out = splitmix64((seed + index * GOLDEN) & MASK)
    rng = Rng(out)
    p = list(range(n))
    rng.shuffle(p)
    return p


def knn_sets(x, k):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    d = scipy.spatial.distance.cdist(u, u, "euclidean")
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")
    return [set(row[:k].tolist()) for row in order]


def mutual_knn(x, y, k):
    na, nb = knn_sets(x, k), knn_sets(y, k)
    return float(np.mean([len(a & b) / k for a, b in zip(na, nb)]))


def procrustes_angular(x, y):
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    return float(np.arccos(min(np.linalg.norm(xc.T @ yc, "nuc"), 1.0)))


def rsa(x, y):
    return rsa_metric(x, y, "euclidean")


MEASURES = [
    ("linear_cka", "similarity", cka_gram),
    ("debiased_cka", "similarity", cka_debiased),
    ("mutual_knn", "similarity", None),
    ("procrustes_angular", "distance", procrustes_angular),
    ("rsa", "similarity", rsa),
]


def calibrated(a, b, permutations, k, seed):
    out = {}
    perms = [null_permutation(seed, i, a.shape[0]) for i in range(permutations)]
    for name, kind, f in MEASURES:
        fn = (lambda x, y: mutual_knn(x, y, k)) if f is None else f
        value = fn(a, b)
        null = np.array([fn(a, b[p]) for p in perms])
        tol = 1e-12 * max(1.0, abs(value))
        hits = np.sum(null >= value - tol) if kind == "similarity" else np.sum(null <= value + tol)
        mean, std = float(null.mean()), float(null.std(ddof=1))
        out[name] = {
            "value": value,
            "kind": kind,
            "null_mean": mean,
            "null_std": std,
            "p_value": float((1 + hits) / (permutations + 1)),
            "calibrated": (value - mean) / std,
            "null": null.tolist(),
        }
    return out


def two_nn(x):
    u = np.unique(x, axis=0)
    d = scipy.spatial.distance.cdist(u, u, "euclidean")
    np.fill_diagonal(d, np.inf)
    d.sort(axis=1)
    mu = d[:, 1] / d[:, 0]
    return {"dimension": float(len(u) / np.sum(np.log(mu))), "points": int(len(u))}


def anisotropy(x):
    u = x / np.linalg.norm(x, axis=1, keepdims=True)
    c = u @ u.T
    iu = np.triu_indices(len(x), 1)
    return float(np.mean(c[iu]))


def effective_rank(x):
    s = np.linalg.svd(x - x.mean(0), compute_uv=False)
    p = s / s.sum()
    p = p[p > 0]
    return float(np.exp(-np.sum(p * np.log(p))))


def nc1(x, y):
    classes = np.unique(y)
    mu_g = x.mean(0)
    d = x.shape[1]
    sw = np.zeros((d, d))
    sb = np.zeros((d, d))
    for c in classes:
        xc = x[y == c]
        mu = xc.mean(0)
        z = xc - mu
        sw += z.T @ z
        m = (mu - mu_g)[:, None]
        sb += m @ m.T
    sw /= len(x)
    sb /= len(classes)
    return float(np.trace(sw @ np.linalg.pinv(sb, rcond=1e-10)) / len(classes))


def main():
    rng = np.random.default_rng(20260515)
    n = 30
    a = rng.normal(size=(n, 6)) * np.array([2.5, 2.0, 1.2, 1.0, 0.6, 0.3]) + 1.5
    b = a @ rng.normal(size=(6, 9)) + 1.1 * rng.normal(size=(n, 9)) - 0.5
    c = rng.normal(size=(n, 4))
    pairs = {
        "a_b": calibrated(a, b, 40, 4, 7),
        "a_c": calibrated(a, c, 40, 5, 11),
    }

    # Geometry: a labelled cloud with a duplicated row, a low-rank cloud.
    m = 60
    labels = rng.integers(0, 4, size=m)
    centres = rng.normal(size=(4, 8)) * 3.0
    g = centres[labels] + rng.normal(size=(m, 8)) * np.linspace(1.5, 0.3, 8)
    g[17] = g[5]
    g[40] = g[5]
    low = rng.normal(size=(50, 3)) @ rng.normal(size=(3, 12)) + 2.0
    geometry = {}
    for name, x, y in [("labelled", g, labels), ("low_rank", low, None)]:
        entry = {
            "two_nn": two_nn(x),
            "anisotropy": anisotropy(x),
            "effective_rank": effective_rank(x),
        }
        if y is not None:
            entry["nc1"] = nc1(x, y)
            entry["labels"] = y.tolist()
        geometry[name] = entry

    doc = {
        "generator": "scripts/reference/measures_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matrices": {"a": a.tolist(), "b": b.tolist(), "c": c.tolist(), "labelled": g.tolist(),
                     "low_rank": low.tolist()},
        "calibrated": {
            "a_b": {"first": "a", "second": "b", "permutations": 40, "k": 4, "seed": 7,
                    "measures": pairs["a_b"]},
            "a_c": {"first": "a", "second": "c", "permutations": 40, "k": 5, "seed": 11,
                    "measures": pairs["a_c"]},
        },
        "permutations_seed3_n10": [null_permutation(3, i, 10) for i in range(3)],
        "geometry": geometry,
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
