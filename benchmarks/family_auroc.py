"""Do a release's solution families differ at each level? AUROC of between- vs within-condition distances.

For every pair of conditions given (a baseline and a solution family built beside it, sharing task,
architecture and probe set) and every metric, prints the AUROC that a distance between a member of
one and a member of the other exceeds a distance between two members of the same condition
(1: the families are told apart perfectly, 0.5: not at all), with a 95 % interval from resampling
members within each condition. Beside it, the witness AUROC (stats.witness_auroc_rows): the pooled
AUROC is 0.5 when one condition is tight and the other spread out with the between distances in
the middle (rank-3 weights are small, gain-3 weights large), although the two are told apart
perfectly; the witness asks whether members are, on average, nearer their own condition.
Issue 13's goal: >= 0.8 for the reference metric of each level on at least one family that differs
at that level.

    python benchmarks/family_auroc.py --release DIR --pairs flipflop-bits3:flipflop-bits3-rank3 \
        --metrics weights_perm,dsa,cka,behaviour_ood --members 12
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from degzoo.benchmark import stats
from degzoo.metrics import get as get_metric
from degzoo.zoo import open_release


def family_auroc(metric, ens_a, ens_b, n_boot: int, rng: np.random.Generator
                 ) -> dict[str, tuple[float, float, float]]:
    """Pooled and witness AUROC, each with its 95 % interval over members resampled within each condition."""
    D = np.block([[metric.pairwise(ens_a), metric.cross(ens_a, ens_b)],
                  [metric.cross(ens_b, ens_a), metric.pairwise(ens_b)]])
    labels = np.repeat([0, 1], [len(ens_a), len(ens_b)])
    whole = np.arange(labels.size)[None]
    reps = stats.resample_within(labels, n_boot, rng)
    out = {}
    for name, fn in (("pooled", _pooled_rows), ("witness", stats.witness_auroc_rows)):
        boot = fn(D, labels, reps)
        lo, hi = np.nanpercentile(boot, [2.5, 97.5])
        out[name] = (float(fn(D, labels, whole)[0]), float(lo), float(hi))
    return out


def _pooled_rows(D: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """AUROC of between- vs within-condition distances for replicates ``idx`` (the harness's statistic)."""
    vals, _, iu, ju = stats.pair_values(D, idx)
    return stats.auroc_rows(vals, labels[idx[:, iu]] != labels[idx[:, ju]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--release", required=True, help="release folder or packaged release name")
    parser.add_argument("--pairs", required=True, help="BASELINE:FAMILY,... condition ids")
    parser.add_argument("--metrics", default="behaviour_ood,dsa,weights_perm,cka")
    parser.add_argument("--members", type=int, default=12, help="first N members of each condition")
    parser.add_argument("--boot", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    release = open_release(args.release)
    rng = np.random.default_rng(args.seed)
    print(f"{'baseline':24s} {'family':26s} {'metric':16s} {'pooled AUROC (95 % CI)':24s} "
          "witness AUROC (95 % CI)")
    for pair in args.pairs.split(","):
        a, b = pair.split(":")
        ens_a = release.ensemble(a).subset(np.arange(args.members))
        ens_b = release.ensemble(b).subset(np.arange(args.members))
        for name in args.metrics.split(","):
            res = family_auroc(get_metric(name), ens_a, ens_b, args.boot, rng)
            cells = [f"{v:.3f} ({lo:.3f}-{hi:.3f})" for v, lo, hi in res.values()]
            print(f"{a:24s} {b:26s} {name:16s} {cells[0]:24s} {cells[1]}", flush=True)


if __name__ == "__main__":
    main()
