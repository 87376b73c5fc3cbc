"""degzoo's metrics against the reference implementations scored as degzoo metrics: cost and optimum found.

    PYTHONPATH=. python benchmarks/reference_metrics.py                   # 4 members: 6 pairs each
    PYTHONPATH=. python benchmarks/reference_metrics.py --members 6 --condition flipflop-bits2

Two comparisons on the first ``--members`` members of an embedded-zoo condition, every unordered
pair once, with each metric's default settings (those the harness scores):

- ``dsa`` (degzoo) vs ``dsa_metric_ref`` (dsa-metric's DMD and Adam optimiser);
- ``weights_perm`` (degzoo) vs ``qc_procrustes_perm`` (qc-procrustes's 3-opt ``permutation_2sided``).

Each pair minimises the same quantity (angular distance over orthogonal C; ‖W_a − PᵀW_bP‖_F / H²
over permutations P), so the lower number is the better optimum found. Printed per comparison:
embedding seconds per network, seconds per pair (wall and process CPU) and their ratio, and on how
many pairs each metric gives the smaller distance (beyond ``--eps`` relative) and by how much.
Needs the [reference] extra; the default run takes about 3 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
import torch

PAIRS = (("dsa", "dsa_metric_ref"), ("weights_perm", "qc_procrustes_perm"))


def timed_pairs(metric: Any, ensemble: Any) -> tuple[np.ndarray, dict[str, float]]:
    """Upper-triangle distances of ``ensemble`` and the wall / CPU seconds of embedding and comparing."""
    t0 = time.perf_counter()
    emb = metric.embed(ensemble)
    t1, c1 = time.perf_counter(), time.process_time()
    dist = np.asarray(metric.compare(emb, emb, True), dtype=np.float64)
    t2, c2 = time.perf_counter(), time.process_time()
    n = len(ensemble)
    n_pairs = n * (n - 1) // 2
    cost = {"embed_wall": (t1 - t0) / n, "pair_wall": (t2 - t1) / n_pairs, "pair_cpu": (c2 - c1) / n_pairs}
    return dist[np.triu_indices(n, 1)], cost


def report(ours_name: str, ref_name: str, ours: np.ndarray, ref: np.ndarray, cost_ours: dict[str, float],
           cost_ref: dict[str, float], eps: float) -> None:
    """Print cost and which metric found the smaller distance on how many pairs, by how much."""
    print(f"{ours_name} vs {ref_name}: {ours.size} pairs")
    for label, cost in ((ours_name, cost_ours), (ref_name, cost_ref)):
        print(f"  {label:<20} embed {cost['embed_wall']:8.3f} s/network   pairs "
              f"{cost['pair_wall']:8.3f} s/pair wall ({cost['pair_cpu']:8.3f} s cpu)")
    print(f"  {ref_name} / {ours_name} per pair: wall {cost_ref['pair_wall'] / cost_ours['pair_wall']:.1f}x, "
          f"cpu {cost_ref['pair_cpu'] / cost_ours['pair_cpu']:.1f}x")
    rel = (ref - ours) / np.maximum(np.abs(ours), 1e-300)  # > 0: the reference is higher (worse)
    for label, mask, sign in ((ours_name, rel > eps, 1.0), (ref_name, rel < -eps, -1.0)):
        if mask.any():
            gap = sign * rel[mask]
            print(f"  {label:<20} lower on {mask.sum():3d} pairs, by {100 * gap.mean():.1f} % on average "
                  f"(max {100 * gap.max():.1f} %; mean {np.abs(ref - ours)[mask].mean():.4g} in its units)")
        else:
            print(f"  {label:<20} lower on   0 pairs")
    print(f"  equal (within {100 * eps:g} %) on {int((np.abs(rel) <= eps).sum()):3d} pairs; mean distance "
          f"{ours_name} {ours.mean():.4g}, {ref_name} {ref.mean():.4g}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--condition", default="flipflop-bits3", help="embedded-zoo condition")
    p.add_argument("--members", type=int, default=4, help="first members used (all pairs among them)")
    p.add_argument("--only", choices=["dynamics", "weights"], help="run one comparison only")
    p.add_argument("--eps", type=float, default=1e-3, help="relative difference counted as equal")
    p.add_argument("--threads", type=int, default=1, help="torch threads (1: as degzoo evaluate)")
    args = p.parse_args()

    from degzoo.metrics import get
    from degzoo.zoo import open_release

    torch.set_num_threads(args.threads)
    ensemble = open_release().ensemble(args.condition).subset(list(range(args.members)))
    print(f"{args.condition}: members 0-{args.members - 1}, H={ensemble.params['W_hh'].shape[1]}, "
          f"probe {ensemble.trajectories().shape[1:3]}; torch threads {args.threads}")
    for ours_name, ref_name in PAIRS:
        level = get(ours_name).level
        if args.only is not None and level != args.only:
            continue
        ours, cost_ours = timed_pairs(get(ours_name), ensemble)
        ref, cost_ref = timed_pairs(get(ref_name), ensemble)
        report(ours_name, ref_name, ours, ref, cost_ours, cost_ref, args.eps)


if __name__ == "__main__":
    main()
