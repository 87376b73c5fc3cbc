"""Permutation-invariant weight distance: degzoo's solver against qc-procrustes.

For every pair of independently trained networks (or random networks with ``--random``), solve
min_P ‖W1 − Pᵀ W2 P‖_F with :func:`degzoo.metrics.weights.permutation_distance` and with
``procrustes.permutation_2sided(W2, W1, single=True, method=...)`` (qc-procrustes, which the paper
cites), and report the time per pair, the distance reached (‖·‖_F / H², the paper's
normalisation), the share of pairs where ours is ≤ theirs and the speed ratio.

    python benchmarks/weight_distance.py --hidden 64 --members 8 --train-steps 300

qc-procrustes methods for a single shared permutation: ``k-opt`` (greedy k-swap local search from
the identity; ``--kopt-k``, its default k=3 costs ~20 s per pair at H=32), ``approx-normal1``,
``approx-normal2``, ``approx-umeyama``, ``approx-umeyama-svd`` and ``nmf`` (the directed-graph
iterative procedure when the matrices are not symmetric). BLAS runs on one thread for both sides.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np

from degzoo.metrics.weights import permutation_distance
from degzoo.threads import one_blas_thread


def trained_networks(hidden: int, members: int, steps: int, bits: int, seed: int) -> np.ndarray:
    """Recurrent matrices ``[E, H, H]`` of a briefly trained flip-flop ensemble."""
    from degzoo.models import Architecture
    from degzoo.tasks import get_task
    from degzoo.training import TrainSettings, train_ensemble

    task = get_task("flipflop", bits=bits)
    arch = Architecture(task.n_inputs, task.n_outputs, hidden=hidden)
    settings = TrainSettings(max_steps=steps, batch_size=32, lr=3e-3, steps_per_epoch=50)
    result = train_ensemble(task, arch, range(seed, seed + members), settings, progress=False)
    print(f"trained {members} networks, H={hidden}, {steps} steps: {result.summary()}")
    return np.asarray(result.params["W_hh"], dtype=np.float64)


def random_networks(hidden: int, members: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    bound = 1 / np.sqrt(hidden)
    return rng.uniform(-bound, bound, size=(members, hidden, hidden))


def theirs(W1: np.ndarray, W2: np.ndarray, method: str, k: int) -> np.ndarray:
    from procrustes import permutation_2sided

    options = {"k": k} if method == "k-opt" else None
    res = permutation_2sided(W2, W1, single=True, method=method, options=options)
    return np.argmax(res.t, axis=0)  # P[perm[i], i] = 1  ⇒  Pᵀ W2 P = W2[perm][:, perm]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--members", type=int, default=8, help="networks; all pairs are compared")
    parser.add_argument("--train-steps", type=int, default=300)
    parser.add_argument("--bits", type=int, default=3)
    parser.add_argument("--random", action="store_true", help="random (untrained) networks")
    parser.add_argument("--methods", default="k-opt,approx-normal1,approx-umeyama,nmf")
    parser.add_argument("--kopt-k", type=int, default=2)
    parser.add_argument("--n-starts", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    if args.random:
        W = random_networks(args.hidden, args.members, args.seed)
    else:
        W = trained_networks(args.hidden, args.members, args.train_steps, args.bits, args.seed)
    H = args.hidden
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    pairs = list(itertools.combinations(range(len(W)), 2))
    ours_d, ours_t = [], []
    their_d = {m: [] for m in methods}
    their_t = {m: [] for m in methods}

    def dist(perm: np.ndarray, i: int, j: int) -> float:
        return float(np.linalg.norm(W[i] - W[j][np.ix_(perm, perm)])) / H**2

    with one_blas_thread():
        for i, j in pairs:
            t0 = time.perf_counter()
            d, _ = permutation_distance(W[i], W[j], n_starts=args.n_starts, seed=args.seed)
            ours_t.append(time.perf_counter() - t0)
            ours_d.append(d)
            for m in methods:
                t0 = time.perf_counter()
                perm_m = theirs(W[i], W[j], m, args.kopt_k)
                their_t[m].append(time.perf_counter() - t0)
                their_d[m].append(dist(perm_m, i, j))

    ours_d_arr = np.array(ours_d)
    ident = np.array([np.linalg.norm(W[i] - W[j]) / H**2 for i, j in pairs])
    print(f"\nH={H}, {len(pairs)} pairs ({'random' if args.random else 'trained'} networks); "
          "distance = ‖W1 − PᵀW2P‖_F / H²")
    print(f"{'solver':<22}{'s/pair':>10}{'mean dist':>14}{'ours ≤ it':>12}{'speed ratio':>13}")
    print(f"{'identity (no perm)':<22}{'':>10}{ident.mean():>14.6g}")
    print(f"{'degzoo':<22}{np.mean(ours_t):>10.4f}{ours_d_arr.mean():>14.6g}")
    best_theirs = np.full(len(pairs), np.inf)
    for m in methods:
        d_m = np.array(their_d[m])
        best_theirs = np.minimum(best_theirs, d_m)
        share = np.mean(ours_d_arr <= d_m * (1 + 1e-9))
        label = f"{m} (k={args.kopt_k})" if m == "k-opt" else m
        print(f"{label:<22}{np.mean(their_t[m]):>10.4f}{d_m.mean():>14.6g}{share:>11.0%}"
              f"{np.mean(their_t[m]) / np.mean(ours_t):>12.2f}×")
    if methods:
        share = np.mean(ours_d_arr <= best_theirs * (1 + 1e-9))
        gap = (ours_d_arr - best_theirs) / best_theirs
        print(f"{'best of theirs':<22}{'':>10}{best_theirs.mean():>14.6g}{share:>11.0%}")
        print(f"ours relative to the best of theirs: median {np.median(gap):+.2%}, "
              f"worst {gap.max():+.2%}")


if __name__ == "__main__":
    main()
