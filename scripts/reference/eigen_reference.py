#!/usr/bin/env python3
"""Reference eigen-decompositions for tunescope-geometry's `linalg::symmetric_eigen`.

Writes crates/geometry/tests/fixtures/eigen.json: small integer matrices X (so that A = X^T X is
exact in f64 on both sides; "x", row-major) or A itself ("matrix"), and numpy.linalg.eigh of A, the eigenvalues descending and, for every
eigenvalue apart from its neighbours by more than 1e-6 of the largest, its eigenvector under the
crate's sign convention (the entry of largest magnitude positive). The cases are the shapes the
study meets:

* full_12: a full-rank 12 x 12 Gram matrix (NC1's class-mean Gram, PCA of a dozen centroids);
* lowrank_96: rank 16 with rows summing to zero (the LayerNorm hyperplane): 80 zero eigenvalues,
  the directions DirectProbe's span drops;
* graded_30: columns scaled by powers of two, eigenvalues spread over ten orders of magnitude;
* repeated_8: 3 I + J, eigenvalue 11 once and 3 seven times (only the values are compared).

Run: ~/.cache/tunescope/venv-ref/bin/python scripts/reference/eigen_reference.py
(needs numpy; CI only reads the committed JSON).
"""

import json
import pathlib

import numpy as np

OUT = (
    pathlib.Path(__file__).resolve().parents[2]
    / "crates/geometry/tests/fixtures/eigen.json"
)


def convention(v):
    """Flips v so that its entry of largest magnitude (first on ties) is positive."""
    k = int(np.argmax(np.abs(v)))
    return v if v[k] > 0 else -v


def case(name, x):
    x = np.asarray(x, dtype=np.int64)
    a = (x.T @ x).astype(np.float64)
    assert np.all(np.abs(x.T @ x) < 2**52), "Gram entries must be exact in f64"
    w, v = np.linalg.eigh(a)
    w, v = w[::-1], v[:, ::-1]
    top = max(abs(w[0]), abs(w[-1]))
    distinct = [
        i
        for i in range(len(w))
        if (i == 0 or w[i - 1] - w[i] > 1e-6 * top)
        and (i == len(w) - 1 or w[i] - w[i + 1] > 1e-6 * top)
    ]
    return {
        "name": name,
        "rows": int(x.shape[0]),
        "cols": int(x.shape[1]),
        "x": [int(t) for t in x.ravel()],
        "values": [float(t) for t in w],
        "distinct": distinct,
        "vectors": [[float(t) for t in convention(v[:, i])] for i in distinct],
    }


def main():
    rng = np.random.default_rng(14)
    full = rng.integers(-9, 10, size=(20, 12))
    u = rng.integers(-3, 4, size=(64, 16))
    w = rng.integers(-3, 4, size=(16, 96))
    low = u @ w
    low[:, -1] = -low[:, :-1].sum(axis=1)
    graded = rng.integers(-9, 10, size=(40, 30)) * (2 ** (np.arange(30) // 2))
    cases = [
        case("full_12", full),
        case("lowrank_96", low),
        case("graded_30", graded),
    ]
    # 3 I + J is stored as the matrix itself ("matrix" instead of "x").
    a = 3.0 * np.eye(8) + np.ones((8, 8))
    w_rep = np.linalg.eigh(a)[0][::-1]
    cases.append(
        {
            "name": "repeated_8",
            "matrix": [float(t) for t in a.ravel()],
            "cols": 8,
            "values": [float(t) for t in w_rep],
            "distinct": [],
            "vectors": [],
        }
    )
    OUT.write_text(
        json.dumps(
            {
                "generator": "scripts/reference/eigen_reference.py",
                "numpy": np.__version__,
                "cases": cases,
            },
            separators=(",", ":"),
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
