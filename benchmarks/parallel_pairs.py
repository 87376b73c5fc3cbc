"""All-pairs DSA of a paper-sized ensemble (E = 50, H = 128) in one process and in blocks.

    python benchmarks/parallel_pairs.py                  # 50 networks, 2 workers
    python benchmarks/parallel_pairs.py --networks 12 --workers 2 --cluster   # + a Dask LocalCluster

Networks are random tanh RNNs on a shared pulse probe set (``benchmarks/dsa_vs_reference.py``),
fitted once; the pairs are then computed by ``DSA.compare`` in this process and by
``degzoo.metrics.parallel.blocked_compare`` on ``--workers`` local processes (and, with
``--cluster``, a Dask LocalCluster of as many workers). Printed: wall time of each, the speed-up,
the largest difference between the matrices, and the peak resident memory of this process.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dsa_vs_reference import trajectories


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--networks", type=int, default=50)
    p.add_argument("--units", type=int, default=128)
    p.add_argument("--trials", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--cluster", action="store_true", help="also run on a Dask LocalCluster")
    args = p.parse_args()
    torch.set_num_threads(1)

    from degzoo.metrics import get
    from degzoo.metrics.parallel import blocked_compare

    data = argparse.Namespace(networks=args.networks, units=args.units, inputs=3, trials=args.trials,
                              steps=args.steps, gain=1.4, seed=0)
    x = trajectories(data)
    dsa = get("dsa")
    e = args.networks
    print(f"{e} tanh RNNs, H={args.units}, {args.trials} trials x {args.steps} steps; DSA defaults "
          f"(n_delays={dsa.n_delays}, rank={dsa.rank}); {e * (e - 1) // 2} pairs")
    t0 = time.perf_counter()
    ops = dsa.embed(x)
    print(f"DMD fits: {time.perf_counter() - t0:7.1f} s")

    t0 = time.perf_counter()
    one = dsa.compare(ops, ops, True)
    t_one = time.perf_counter() - t0
    print(f"one process:              {t_one:7.1f} s")
    runs = [(f"{args.workers} local processes", {"workers": args.workers})]
    if args.cluster:
        runs.append((f"Dask LocalCluster of {args.workers}", {"cluster": f"local:{args.workers}"}))
    for label, engine in runs:
        t0 = time.perf_counter()
        blocked = blocked_compare(dsa, ops, ops, e, e, True, **engine)
        t = time.perf_counter() - t0
        print(f"{label + ':':25s} {t:7.1f} s   speed-up {t_one / t:.2f}x   "
              f"max |difference| {np.abs(blocked - one).max():.1e}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MiB "
          f"(trajectories {x.nbytes / 2**20:.0f} MiB, operators {ops.nbytes / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main()
