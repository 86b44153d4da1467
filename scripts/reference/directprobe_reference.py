#!/usr/bin/env python3
"""Independent reference for tunescope's DirectProbe (fixtures for crates/geometry/tests).

Written from the algorithm's definition, sharing no code with the Rust implementation:

* hull intersection: the LP  lam >= 0, mu >= 0, sum(lam) = sum(mu) = 1, A^T lam = B^T mu,
  solved by scipy's HiGHS (``scipy.optimize.linprog(method="highs")``);
* hull-to-hull and point-to-hull distance: the QP  min ||A^T lam - B^T mu||^2  over the two
  simplices, solved by Lawson-Hanson NNLS with the simplex equalities as heavily weighted rows,
  then polished exactly on the active set (equality-constrained least squares via the KKT
  system) and checked for optimality (all multipliers of inactive variables >= 0);
* nearly touching hulls (``--stall``): the same NNLS, then an active-set polish whose affine
  minimisers are least-squares solves on the support's difference vectors (numpy's SVD-based
  lstsq, which does not square their condition number), until the hyperplane normal to the
  nearest points separates the sets with a margin within 1e-3 of their distance, verified on
  every point; the instances are built with a known exact distance, which must agree;
* clustering: singletons, same-label pairs by centroid distance (ties by cluster index, new
  clusters appended), merge iff the merged hull intersects no differently-labelled active
  cluster (every test by the LP, no filters), rejected pairs never retried.

Usage (numpy + scipy, e.g. in ~/.cache/tunescope/venv-ref):
    python scripts/reference/directprobe_reference.py --out crates/geometry/tests/fixtures
    python scripts/reference/directprobe_reference.py --lowrank --out crates/geometry/tests/fixtures
    python scripts/reference/directprobe_reference.py --stall --out crates/geometry/tests/fixtures
"""
import argparse
import heapq
import json
import os

import numpy as np
from scipy.optimize import linprog, nnls


def intersects(A, B):
    """True iff conv(A) and conv(B) intersect (HiGHS LP feasibility)."""
    m, n = len(A), len(B)
    d = A.shape[1]
    A_eq = np.zeros((d + 2, m + n))
    A_eq[:d, :m] = A.T
    A_eq[:d, m:] = -B.T
    A_eq[d, :m] = 1.0
    A_eq[d + 1, m:] = 1.0
    b_eq = np.zeros(d + 2)
    b_eq[d] = b_eq[d + 1] = 1.0
    res = linprog(np.zeros(m + n), A_eq=A_eq, b_eq=b_eq, bounds=(0, None), method="highs")
    if res.status == 0:
        return True
    if res.status == 2:
        return False
    raise RuntimeError(f"HiGHS status {res.status}: {res.message}")


def hull_distance(A, B):
    """Exact minimum distance between conv(A) and conv(B) (active-set QP)."""
    m, n = len(A), len(B)
    c = np.vstack([A, B]).mean(axis=0)
    A = A - c
    B = B - c
    M = np.hstack([A.T, -B.T])  # d x (m+n)
    w = 1e4 * (1.0 + np.abs(M).max())
    E = np.zeros((2, m + n))
    E[0, :m] = 1.0
    E[1, m:] = 1.0
    z, _ = nnls(np.vstack([M, w * E]), np.concatenate([np.zeros(M.shape[0]), [w, w]]),
                maxiter=100 * (m + n))
    # Polish on the active set: min ||M_S z_S|| s.t. E_S z_S = 1 (KKT), then verify optimality.
    S = np.where(z > 1e-12)[0]
    for _ in range(50):
        MS, ES = M[:, S], E[:, S]
        K = np.block([[MS.T @ MS, ES.T], [ES, np.zeros((2, 2))]])
        rhs = np.concatenate([np.zeros(len(S)), [1.0, 1.0]])
        sol = np.linalg.lstsq(K, rhs, rcond=None)[0]
        zs = sol[: len(S)]
        if np.all(zs >= -1e-14):
            break
        S = S[zs > 1e-14]
    z = np.zeros(m + n)
    z[S] = np.maximum(zs, 0.0)
    z[:m] /= z[:m].sum()
    z[m:] /= z[m:].sum()
    x = M @ z
    dist = float(np.linalg.norm(x))
    # Optimality: x . (a_i - b_j) >= ||x||^2 for all vertices (Wolfe's criterion).
    lo = float((A @ x).min() - (B @ x).max())
    if dist > 1e-12 and lo < dist * dist * (1 - 1e-7) - 1e-12:
        raise RuntimeError(f"QP not optimal: ||x||^2={dist * dist:.3e}, min x.p={lo:.3e}")
    return dist


def certified_distance(A, B, rel=1e-3):
    """Distance of nearly touching hulls with a certificate: returns (distance, margin, normal)
    where the distance is realised by convex weights on A and B and the unit normal separates
    them with the margin (min over A minus max over B), margin >= (1 - rel) * distance."""
    m = len(A)
    c = np.vstack([A, B]).mean(axis=0)
    A = A - c
    B = B - c
    M = np.hstack([A.T, -B.T])
    w = 1e4 * (1.0 + np.abs(M).max())
    E = np.zeros((2, m + len(B)))
    E[0, :m] = 1.0
    E[1, m:] = 1.0
    z, _ = nnls(np.vstack([M, w * E]), np.concatenate([np.zeros(M.shape[0]), [w, w]]),
                maxiter=100 * E.shape[1])
    # Primal active set (Wolfe's, on the weights), from NNLS's feasible weights.
    SA = [int(i) for i in np.where(z[:m] > 1e-12)[0]]
    SB = [int(j) for j in np.where(z[m:] > 1e-12)[0]]
    lam = z[SA] / z[SA].sum()
    mu = z[m:][SB] / z[m:][SB].sum()
    Al, Bl = A.astype(np.longdouble), B.astype(np.longdouble)
    for _ in range(2000):
        # Affine minimiser on the support: min |(a0 - b0) + D g|, D = [a_k - a0, b0 - b_l],
        # refined with residuals in extended precision.
        Dl = np.hstack([(Al[SA[1:]] - Al[SA[0]]).T, (Bl[SB[0]] - Bl[SB[1:]]).T])
        rhs = -(Al[SA[0]] - Bl[SB[0]])
        D = Dl.astype(np.float64)
        g = np.linalg.lstsq(D, rhs.astype(np.float64), rcond=None)[0].astype(np.longdouble)
        for _ in range(3):
            res = (rhs - Dl @ g).astype(np.float64)
            g += np.linalg.lstsq(D, res, rcond=None)[0]
        k = len(SA) - 1
        new = np.concatenate([[1.0 - g[:k].sum()], g[:k], [1.0 - g[k:].sum()], g[k:]])
        cur = np.concatenate([lam, mu])
        if new.min() <= 0.0:
            # Step back to the simplices' faces; the vertex that limits the step leaves.
            neg = new <= 0.0
            theta = np.min(cur[neg] / (cur[neg] - new[neg]))
            cur = cur + theta * (new - cur)
            cur[np.argmin(np.where(neg, cur, np.inf))] = 0.0
            keep = cur > 1e-15
            ka = keep[:len(SA)]
            SA = [i for i, kk in zip(SA, ka) if kk]
            SB = [j for j, kk in zip(SB, keep[len(ka):]) if kk]
            lam, mu = cur[:len(ka)][ka], cur[len(ka):][keep[len(ka):]]
            continue
        lam, mu = new[:len(SA)], new[len(SA):]
        x = Al[SA].T @ lam - Bl[SB].T @ mu
        dist = np.sqrt(x @ x)
        ga, gb = Al @ x / dist, Bl @ x / dist
        margin = ga.min() - gb.max()
        # The most violating point enters; none left: optimal, which the margin must certify.
        i, j = int(np.argmin(ga)), int(np.argmax(gb))
        va = lam @ ga[SA] - ga[i] if i not in SA else 0.0
        vb = gb[j] - mu @ gb[SB] if j not in SB else 0.0
        if max(va, vb) <= 1e-9 * dist:
            if margin >= (1.0 - rel) * dist:
                return float(dist), float(margin), (x / dist).astype(np.float64).tolist()
            break
        if va >= vb:
            SA.append(i)
            lam = np.append(lam, 0.0)
        else:
            SB.append(j)
            mu = np.append(mu, 0.0)
    raise RuntimeError("no certified distance for nearly touching hulls")


def stall_cases(rng):
    """Two labels whose hulls are 3e-7 of their radius apart (below f32 precision), built with
    a known distance: on each side a face of k + 1 points (an ill-conditioned simplex, singular
    values 1 .. 1e-4, centred on the common normal u) on the plane u.x = +-delta/2, the two
    faces spanning complementary subspaces of u's complement, so that the nearest points are
    interior points of both faces and their supports hold rank + 1 points; behind each face
    generic points (100, 200) and points within a few delta of the plane (30, 60). Rank r in
    D dimensions (an isometric embedding): (32, 16) and (48, 40), the second large enough for
    tunescope's working sets. The nearest-point iteration on vertex pairs stalls on these."""
    cases = []
    for D, r, n_extra, n_shell in [(32, 16, 100, 30), (48, 40, 200, 60)]:
        ka = (r - 1) // 2
        kb = r - 1 - ka
        u = np.zeros(r)
        u[0] = 1.0
        basis = np.zeros((r - 1, r))
        basis[:, 1:] = rng.normal(size=(r - 1, r - 1))

        def face(k, V):
            Z = rng.normal(size=(k + 1, k)) * np.logspace(0, -4, k)
            return (Z - Z.mean(axis=0)) @ V

        def behind(sign, n, depth):
            E = rng.normal(size=(n, r))
            E[:, 0] = sign * depth
            return E

        FA, FB = face(ka, basis[:ka]), face(kb, basis[ka:])
        EA = behind(1.0, n_extra, 0.5 + 2.0 * np.abs(rng.normal(size=n_extra)))
        EB = behind(-1.0, n_extra, 0.5 + 2.0 * np.abs(rng.normal(size=n_extra)))
        delta = 3e-7 * np.linalg.norm(np.vstack([FA, FB, EA, EB]), axis=1).max()
        SA = behind(1.0, n_shell, delta * (0.5 + rng.uniform(0.05, 3.0, size=n_shell)))
        SB = behind(-1.0, n_shell, delta * (0.5 + rng.uniform(0.05, 3.0, size=n_shell)))
        P = np.linalg.qr(rng.normal(size=(D, r)))[0].T  # orthonormal rows: an isometry
        A = np.vstack([FA + 0.5 * delta * u, EA, SA]) @ P
        B = np.vstack([FB - 0.5 * delta * u, EB, SB]) @ P
        cases.append((A, B, float(delta)))
    return cases


def cluster(X, y):
    """Reference greedy DirectProbe clustering; returns per-point cluster ids."""
    members = [[i] for i in range(len(X))]
    labels = [int(v) for v in y]
    cents = [X[i].copy() for i in range(len(X))]
    active = [True] * len(X)
    heap = []
    for i in range(len(X)):
        for j in range(i + 1, len(X)):
            if labels[i] == labels[j]:
                heapq.heappush(heap, (float(np.sum((X[i] - X[j]) ** 2)), i, j))
    while heap:
        _, p, q = heapq.heappop(heap)
        if not (active[p] and active[q]):
            continue
        t = sorted(members[p] + members[q])
        ok = all(not intersects(X[t], X[members[k]])
                 for k in range(len(members))
                 if active[k] and labels[k] != labels[p])
        if not ok:
            continue
        m = len(members)
        members.append(t)
        labels.append(labels[p])
        cents.append(X[t].mean(axis=0))
        active[p] = active[q] = False
        active.append(True)
        for v in range(m):
            if active[v] and labels[v] == labels[m]:
                heapq.heappush(heap, (float(np.sum((cents[v] - cents[m]) ** 2)), v, m))
    ids = [-1] * len(X)
    cid = 0
    for k in range(len(members)):
        if active[k]:
            for i in members[k]:
                ids[i] = cid
            cid += 1
    return ids


def pair_cases(rng):
    """Random point-set pairs: separable, touching-close and overlapping, varied sizes."""
    cases = []
    for k in range(24):
        if k % 4 == 0:  # coincident centres, many points: mostly intersecting
            d = int(rng.integers(2, 5))
            m, n = int(rng.integers(6, 20)), int(rng.integers(6, 20))
        else:
            d = int(rng.integers(2, 9))
            m, n = int(rng.integers(1, 12)), int(rng.integers(1, 12))
        A = rng.normal(size=(m, d))
        shift = rng.normal(size=d)
        shift *= [0.0, 0.5, 1.5, 4.0][k % 4] / np.linalg.norm(shift)
        B = rng.normal(size=(n, d)) + shift
        cases.append((A, B))
    # Low-rank sets in higher dimension (like contextual embeddings).
    for k in range(6):
        d, r = 12, 3
        P = rng.normal(size=(r, d))
        A = rng.normal(size=(15, r)) @ P
        B = (rng.normal(size=(15, r)) + [0.0, 1.0, 3.0][k % 3]) @ P
        cases.append((A, B))
    return cases


def lowrank_cases(rng):
    """Large low-rank pairs (520 points of rank 6 in 16 dimensions, an isometric embedding)
    split by a hyperplane and pushed apart by a gap of 1e-2, 1e-4 and 1e-6, with twelve points
    of each set on its side's supporting plane, so the hull distance is close to the gap: the
    sizes take tunescope's working-set path and the small gaps stall plain nearest-point runs."""
    cases = []
    d, r = 16, 6
    for gap in [1e-2, 1e-4, 1e-6]:
        P = np.linalg.qr(rng.normal(size=(d, r)))[0].T  # orthonormal rows: an isometry
        Z = rng.normal(size=(520, r))
        u = rng.normal(size=r)
        u /= np.linalg.norm(u)
        s = Z @ u
        A, B = Z[s > 0], Z[s <= 0]
        for M, sign in ((A, 1.0), (B, -1.0)):
            near = np.argsort(np.abs(M @ u))[:12]
            M[near] -= np.outer(M[near] @ u, u)
            M += sign * 0.5 * gap * u
        cases.append((A @ P, B @ P))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=20221)
    ap.add_argument("--lowrank", action="store_true",
                    help="write only directprobe_lowrank.json (large low-rank near-touching pairs)")
    ap.add_argument("--stall", action="store_true",
                    help="write only directprobe_stall.json (hulls 3e-7 of their radius apart)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    if args.stall:
        cases = []
        for A, B, delta in stall_cases(rng):
            # The margin proves the hulls disjoint (HiGHS cannot decide at this scale).
            dist, margin, normal = certified_distance(A, B)
            if abs(dist - delta) > 1e-6 * delta:
                raise RuntimeError(f"distance {dist:.9e}, by construction {delta:.9e}")
            cases.append({"a": A.tolist(), "b": B.tolist(), "distance": dist,
                          "margin": margin, "normal": normal, "constructed": delta})
        with open(os.path.join(args.out, "directprobe_stall.json"), "w") as f:
            json.dump({"generator": "scripts/reference/directprobe_reference.py --stall",
                       "seed": args.seed, "cases": cases}, f)
        return
    if args.lowrank:
        cases = []
        for A, B in lowrank_cases(rng):
            inter = intersects(A, B)
            cases.append({"a": A.tolist(), "b": B.tolist(), "intersects": inter,
                          "distance": 0.0 if inter else hull_distance(A, B)})
        with open(os.path.join(args.out, "directprobe_lowrank.json"), "w") as f:
            json.dump({"generator": "scripts/reference/directprobe_reference.py --lowrank",
                       "seed": args.seed, "cases": cases}, f)
        return

    pairs = []
    for A, B in pair_cases(rng):
        inter = intersects(A, B)
        dist = 0.0 if inter else hull_distance(A, B)
        pairs.append({"a": A.tolist(), "b": B.tolist(), "intersects": inter,
                      "distance": dist, "point_distance": hull_distance(A, B[:1])
                      if not intersects(A, B[:1]) else 0.0})
    with open(os.path.join(args.out, "directprobe_pairs.json"), "w") as f:
        json.dump({"generator": "scripts/reference/directprobe_reference.py",
                   "seed": args.seed, "cases": pairs}, f)

    instances = []
    for k in range(6):
        n, d, L = [(30, 2, 2), (40, 3, 3), (50, 4, 3), (60, 3, 4), (45, 5, 2), (60, 6, 3)][k]
        y = rng.integers(0, L, size=n)
        centres = rng.normal(size=(L, d)) * [0.8, 1.5, 3.0][k % 3]
        X = centres[y] + rng.normal(size=(n, d))
        Xt = centres[(yt := rng.integers(0, L, size=10))] + rng.normal(size=(10, d))
        ids = cluster(X, y)
        K = max(ids) + 1
        mem = [[i for i in range(n) if ids[i] == c] for c in range(K)]
        clab = [int(y[m[0]]) for m in mem]
        dis = {f"{i},{j}": hull_distance(X[mem[i]], X[mem[j]])
               if not intersects(X[mem[i]], X[mem[j]]) else 0.0
               for i in range(K) for j in range(i + 1, K) if clab[i] != clab[j]}
        pdist = [[0.0 if intersects(X[mem[c]], Xt[t:t + 1]) else
                  hull_distance(X[mem[c]], Xt[t:t + 1]) for c in range(K)]
                 for t in range(len(Xt))]
        instances.append({"x": X.tolist(), "y": y.tolist(), "clusters": ids,
                          "cluster_distances": dis, "x_test": Xt.tolist(),
                          "y_test": yt.tolist(), "test_distances": pdist})
    with open(os.path.join(args.out, "directprobe_instances.json"), "w") as f:
        json.dump({"generator": "scripts/reference/directprobe_reference.py",
                   "seed": args.seed, "instances": instances}, f)


if __name__ == "__main__":
    main()
