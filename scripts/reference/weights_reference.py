#!/usr/bin/env python3
"""Reference values for tunescope-geometry's weight-update measures (crates/geometry/src/weights.rs).

Writes crates/geometry/tests/fixtures/weights.json: seeded float32 matrices W0 (48 x 32) and
three fine-tuned versions W1, with numpy's

* relative update ||W1 - W0||_F / ||W0||_F;
* effective rank (Roy & Vetterli 2007) of dW = W1 - W0: exp(-sum p ln p), p = s / sum(s) over
  numpy.linalg.svd(dW, compute_uv=False);
* intruder dimensions (Shuttleworth et al. 2024): U0, U1 = left singular vectors of W0, W1
  (numpy.linalg.svd, full_matrices=False); for each of the top k = 10 columns of U1 the largest
  |cosine| with a column of U0; intruders = how many are below 0.5.

Cases: a rank-4 update with large singular values (as LoRA makes), a small dense update (as full
fine-tuning makes), and no update. Computed in float64 from the float32 values.

Run: ~/.cache/tunescope/venv-ref/bin/python scripts/reference/weights_reference.py
(needs numpy; CI only reads the committed JSON).
"""

import json
import pathlib

import numpy as np

K, EPS = 10, 0.5
OUT = pathlib.Path(__file__).resolve().parents[2] / "crates/geometry/tests/fixtures/weights.json"


def measures(w0, w1):
    d = w1 - w0
    dn = float(np.linalg.norm(d))
    rel = dn / float(np.linalg.norm(w0)) if dn > 0 else 0.0
    if dn > 0:
        s = np.linalg.svd(d, compute_uv=False)
        p = s / s.sum()
        p = p[p > 0]
        erank = float(np.exp(-(p * np.log(p)).sum()))
    else:
        erank = None
    u0 = np.linalg.svd(w0, full_matrices=False)[0]
    u1 = np.linalg.svd(w1, full_matrices=False)[0]
    cos = np.abs(u1[:, :K].T @ u0).max(axis=1)
    return {
        "relative": rel,
        "effective_rank": erank,
        "top_cosines": cos.tolist(),
        "intruders": int((cos < EPS).sum()),
    }


def main():
    rng = np.random.default_rng(16)
    m, n = 48, 32
    w0 = (rng.standard_normal((m, n)) * 0.1).astype(np.float32)
    lowrank = (rng.standard_normal((m, 4)) @ rng.standard_normal((4, n))).astype(np.float32)
    dense = (rng.standard_normal((m, n)) * 0.005).astype(np.float32)
    cases = []
    for name, w1 in [
        ("rank-4", (w0 + 0.5 * lowrank).astype(np.float32)),
        ("dense-small", (w0 + dense).astype(np.float32)),
        ("unchanged", w0.copy()),
    ]:
        a, b = w0.astype(np.float64), w1.astype(np.float64)
        cases.append({"name": name, "after": w1.ravel().tolist(), **measures(a, b)})
    doc = {
        "numpy": np.__version__,
        "rows": m,
        "cols": n,
        "k": K,
        "eps": EPS,
        "before": w0.ravel().tolist(),
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc) + "\n")
    for c in cases:
        print(c["name"], round(c["relative"], 4), c["effective_rank"], c["intruders"])


if __name__ == "__main__":
    main()
