#!/usr/bin/env python3
"""Helper of scripts/bench/similarity.sh: writes the bench inputs, times the numpy/scipy
reference permutation null (scripts/reference/measures_reference.py: every index recomputed from
scratch on B[perm], the textbook definitions) and checks tunescope's output against it.

  similarity_ref.py gen DIR N D                 -> DIR/a.npy, DIR/b.npy (seeded)
  similarity_ref.py ref DIR PERMS K SEED OUT    -> OUT (JSON: the reference's scores, seconds)
  similarity_ref.py compare REF.json OURS.json TUNESCOPE_SECONDS
"""

import json
import pathlib
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "reference"))
import measures_reference as ref  # noqa: E402


def gen(out, n, d):
    rng = np.random.default_rng(20261205)
    a = rng.normal(size=(n, d)) * np.linspace(2.0, 0.2, d)
    b = a @ rng.normal(size=(d, d)) / np.sqrt(d) + 0.8 * rng.normal(size=(n, d))
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "a.npy", a)
    np.save(out / "b.npy", b)


def main():
    cmd = sys.argv[1]
    if cmd == "gen":
        gen(pathlib.Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "ref":
        d = pathlib.Path(sys.argv[2])
        perms, k, seed = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
        a, b = np.load(d / "a.npy"), np.load(d / "b.npy")
        start = time.perf_counter()
        scores = ref.calibrated(a, b, perms, k, seed)
        seconds = time.perf_counter() - start
        for s in scores.values():
            s.pop("null")
        pathlib.Path(sys.argv[6]).write_text(json.dumps({"seconds": seconds, "scores": scores}))
    elif cmd == "compare":
        r = json.loads(pathlib.Path(sys.argv[2]).read_text())
        ours = json.loads(pathlib.Path(sys.argv[3]).read_text())
        ts = float(sys.argv[4])
        worst = 0.0
        for name, s in r["scores"].items():
            o = ours[name]
            for field in ("value", "null_mean", "null_std", "p_value"):
                rel = abs(o[field] - s[field]) / max(abs(s[field]), 1e-12)
                worst = max(worst, rel)
            print("%-19s %-10s value %.6f (ref %.6f)  null %.6f ± %.6f  p %.4f" % (
                name, s["kind"], o["value"], s["value"], o["null_mean"], o["null_std"],
                o["p_value"]))
        print("largest relative difference from the reference (value, null mean/std, p): %.1e"
              % worst)
        print("numpy reference %.2f s, tunescope %.2f s: tunescope is %.1fx faster"
              % (r["seconds"], ts, r["seconds"] / ts))
    else:
        sys.exit("usage: see the module docstring")


if __name__ == "__main__":
    main()
