#!/usr/bin/env python3
"""Reference values for tunescope-geometry's similarity, PCA and statistics code.

Writes crates/geometry/tests/fixtures/similarity.json: the (seeded) inputs and the outputs of
textbook implementations written independently of the Rust code:

* linear CKA from centred n x n Gram matrices: tr(K H L H) / sqrt(tr(K H K H) tr(L H L H))
  (Kornblith et al. 2019, eq. 3-5);
* debiased CKA from Song et al. 2012's unbiased HSIC applied to the raw (uncentred) n x n linear
  kernels;
* RSA: scipy.spatial.distance.pdist + scipy.stats.spearmanr;
* orthogonal Procrustes distance (Ding et al. 2021): numpy.linalg.norm(..., "nuc");
* PCA: numpy.linalg.svd of the centred data, sign fixed so each axis's largest-magnitude entry is
  positive;
* Pearson (numpy.corrcoef), Spearman (scipy.stats.spearmanr), std (numpy.std), percentiles
  (numpy.percentile, linear), exact paired sign-flip p-values by enumerating itertools.product;
* SplitMix64 / xoshiro256** output streams, from the published C reference algorithms.

Run: ~/.cache/tunescope/venv-ref/bin/python scripts/reference/similarity_reference.py
(needs numpy and scipy; CI only reads the committed JSON).
"""

import itertools
import json
import pathlib

import numpy as np
import scipy
import scipy.spatial.distance
import scipy.stats

OUT = (
    pathlib.Path(__file__).resolve().parents[2]
    / "crates/geometry/tests/fixtures/similarity.json"
)
MASK = (1 << 64) - 1


def cka_gram(x, y):
    n = x.shape[0]
    k, l = x @ x.T, y @ y.T
    h = np.eye(n) - np.ones((n, n)) / n
    kc, lc = h @ k @ h, h @ l @ h
    return float(np.sum(kc * lc) / np.sqrt(np.sum(kc * kc) * np.sum(lc * lc)))


def hsic_unbiased(k, l):
    """Song et al. 2012, eq. 5: unbiased HSIC on kernels with zeroed diagonals."""
    n = k.shape[0]
    kt, lt = k.copy(), l.copy()
    np.fill_diagonal(kt, 0.0)
    np.fill_diagonal(lt, 0.0)
    one = np.ones(n)
    term1 = np.trace(kt @ lt)
    term2 = (one @ kt @ one) * (one @ lt @ one) / ((n - 1) * (n - 2))
    term3 = 2.0 / (n - 2) * (one @ kt @ lt @ one)
    return (term1 + term2 - term3) / (n * (n - 3))


def cka_debiased(x, y):
    k, l = x @ x.T, y @ y.T
    return float(
        hsic_unbiased(k, l) / np.sqrt(hsic_unbiased(k, k) * hsic_unbiased(l, l))
    )


def rsa(x, y, metric):
    dx = scipy.spatial.distance.pdist(x, metric)
    dy = scipy.spatial.distance.pdist(y, metric)
    return float(scipy.stats.spearmanr(dx, dy).statistic)


def procrustes(x, y):
    xc, yc = x - x.mean(0), y - y.mean(0)
    xc, yc = xc / np.linalg.norm(xc), yc / np.linalg.norm(yc)
    return float(
        np.sum(xc**2) + np.sum(yc**2) - 2.0 * np.linalg.norm(xc.T @ yc, "nuc")
    )


def pca(x, k, others):
    mu = x.mean(0)
    xc = x - mu
    _, s, vt = np.linalg.svd(xc, full_matrices=False)
    comps = vt[:k].copy()
    for row in comps:
        if row[np.argmax(np.abs(row))] < 0:
            row *= -1
    var = s**2 / (x.shape[0] - 1)
    return {
        "k": k,
        "mean": mu.tolist(),
        "components": comps.tolist(),
        "explained_variance": var[:k].tolist(),
        "explained_variance_ratio": (var[:k] / np.sum(xc**2) * (x.shape[0] - 1)).tolist(),
        "projections": [((o - mu) @ comps.T).tolist() for o in others],
    }


def exact_sign_flip_p(a, b):
    d = np.asarray(a) - np.asarray(b)
    obs = abs(d.sum())
    hits = total = 0
    for signs in itertools.product((1.0, -1.0), repeat=len(d)):
        total += 1
        if abs(np.dot(signs, d)) >= obs - 1e-12 * np.abs(d).sum():
            hits += 1
    return hits / total


def splitmix64_stream(seed, count):
    out, state = [], seed
    for _ in range(count):
        state = (state + 0x9E3779B97F4A7C15) & MASK
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        out.append(z ^ (z >> 31))
    return out


def rotl(x, k):
    return ((x << k) | (x >> (64 - k))) & MASK


def xoshiro256ss_stream(seed, count):
    s = splitmix64_stream(seed, 4)
    out = []
    for _ in range(count):
        out.append((rotl((s[1] * 5) & MASK, 7) * 9) & MASK)
        t = (s[1] << 17) & MASK
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
    return out


def main():
    rng = np.random.default_rng(20220522)
    n = 48
    x = rng.normal(size=(n, 7)) * np.array([3.0, 2.0, 1.5, 1.0, 0.7, 0.5, 0.2]) + 4.0
    y = x @ rng.normal(size=(7, 10)) + 0.8 * rng.normal(size=(n, 10)) - 2.0
    w = rng.normal(size=(n, 5))
    layers = [x, y, w]
    names = ["x", "y", "w"]
    pairs = [("x", "y"), ("x", "w"), ("y", "w"), ("y", "x")]
    mats = dict(zip(names, layers))

    similarity = []
    for a, b in pairs:
        xa, xb = mats[a], mats[b]
        similarity.append(
            {
                "first": a,
                "second": b,
                "linear_cka": cka_gram(xa, xb),
                "debiased_cka": cka_debiased(xa, xb),
                "rsa_euclidean": rsa(xa, xb, "euclidean"),
                "rsa_cosine": rsa(xa, xb, "cosine"),
                "procrustes": procrustes(xa, xb),
            }
        )
    cka_matrix = [[cka_gram(a, b) for b in layers] for a in layers]
    dcka_matrix = [[cka_debiased(a, b) for b in layers] for a in layers]

    z = rng.normal(size=(10, 7)) * 2.0 + 1.0
    wide = rng.normal(size=(6, 12)) + np.linspace(0.0, 3.0, 12)
    pcas = {
        "tall": {"input": "x", **pca(x, 3, [x, z])},
        "wide": {"input": "wide", **pca(wide, 3, [wide])},
    }

    a = rng.normal(size=30)
    b = 0.6 * a + 0.8 * rng.normal(size=30)
    ai = np.round(2.0 * a)
    bi = np.round(2.0 * b)
    stats = {
        "a": a.tolist(),
        "b": b.tolist(),
        "a_tied": ai.tolist(),
        "b_tied": bi.tolist(),
        "pearson_ab": float(np.corrcoef(a, b)[0, 1]),
        "pearson_tied": float(np.corrcoef(ai, bi)[0, 1]),
        "spearman_ab": float(scipy.stats.spearmanr(a, b).statistic),
        "spearman_tied": float(scipy.stats.spearmanr(ai, bi).statistic),
        "rankdata_a_tied": scipy.stats.rankdata(ai).tolist(),
        "mean_a": float(np.mean(a)),
        "std_a_ddof0": float(np.std(a, ddof=0)),
        "std_a_ddof1": float(np.std(a, ddof=1)),
        "quantile_qs": [0.0, 0.025, 0.3, 0.5, 0.975, 1.0],
        "quantiles_a": [float(np.percentile(a, 100 * q)) for q in [0.0, 0.025, 0.3, 0.5, 0.975, 1.0]],
    }
    perm_cases = []
    for m, shift in [(10, 0.3), (12, 0.0), (7, 1.5)]:
        pa = rng.normal(size=m)
        pb = pa - shift + 0.5 * rng.normal(size=m)
        perm_cases.append(
            {"a": pa.tolist(), "b": pb.tolist(), "p_exact": exact_sign_flip_p(pa, pb)}
        )
    stats["permutation"] = perm_cases

    doc = {
        "generator": "scripts/reference/similarity_reference.py",
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "matrices": {
            "x": x.tolist(),
            "y": y.tolist(),
            "w": w.tolist(),
            "z": z.tolist(),
            "wide": wide.tolist(),
        },
        "similarity": similarity,
        "layers": names,
        "cka_matrix": cka_matrix,
        "debiased_cka_matrix": dcka_matrix,
        "pca": pcas,
        "stats": stats,
        "rng": {
            "splitmix64_seed0": [str(v) for v in splitmix64_stream(0, 4)],
            "xoshiro256ss_seed42": [str(v) for v in xoshiro256ss_stream(42, 6)],
        },
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
