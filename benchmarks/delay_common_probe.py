"""Is zoo-v2's "memory → dynamics, opposite" a trial-length artefact? DSA on one probe set for all delays.

The report measures each delayed-discrimination condition on its own probe set, so longer delays
are measured on longer trials. Here every condition of the ``dd-delay`` ladder is measured on the
probe set of its shortest-delay condition (delays 5–10 steps, inside every condition's training
range), the same trials for all, and printed beside the report's own-probe values
(``degzoo/reference/report/zoo-v2.json``). If DSA still rises with the trained delay on common
trials, the opposite direction is a property of the networks, not of the trial length.

    python benchmarks/delay_common_probe.py [--members 32] [--n-boot 1000]

About 1.5 minutes per condition on one core. Measured (2026-12-03, 32 members): 0.164, 0.277, 0.268,
0.304 for delays ≤ 10, 20, 30, 40 on common trials (own trials: 0.164, 0.290, 0.325, 0.351);
Δ = +0.140 (+0.104 to +0.179): most of the rise is not the trial length.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from degzoo.benchmark.control import statistic_replicates
from degzoo.benchmark.stats import score_dict, spearman_rows
from degzoo.metrics import get
from degzoo.zoo import Ensemble, open_release

REPORT = Path(__file__).resolve().parent.parent / "degzoo" / "reference" / "report" / "zoo-v2.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=32, help="converged members per condition")
    parser.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples of members")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    rel = open_release("zoo-v2")
    ladder = next(lad for lad in rel.ladders if lad["name"] == "dd-delay")
    report = json.loads(REPORT.read_text())
    own = {cid: report["conditions"][cid]["levels"]["dsa"]["estimate"] for cid in ladder["conditions"]}
    with rel.ensemble(ladder["conditions"][0]) as shortest:
        inputs, targets = shortest.probe_inputs, shortest.probe_targets
    dsa = get("dsa")
    rng = np.random.default_rng(args.seed)
    values, reps = [], []
    print(f"DSA on the probe set of {ladder['conditions'][0]} ({inputs.shape[0]} trials of {inputs.shape[1]} "
          f"steps) vs each condition's own probe set (report)")
    for cid, delay in zip(ladder["conditions"], ladder["values"], strict=True):
        with rel.ensemble(cid) as ens:
            used = np.flatnonzero(np.asarray(ens.status) == "converged")[: args.members]
            sub = ens.subset(used)
            common = Ensemble.from_arrays(sub.params, sub.architecture, sub.task, inputs, targets,
                                          name=f"{cid}@common-probe")
            t0 = time.perf_counter()
            D = np.asarray(dsa.pairwise(common), dtype=np.float64)
        n = used.size
        value = float(statistic_replicates(D, "pairwise", np.arange(n)[None])[0])
        r = statistic_replicates(D, "pairwise", rng.integers(0, n, size=(args.n_boot, n)))
        values.append(value)
        reps.append(r)
        est = score_dict(value, r, n, 0.95)
        print(f"  delay ≤ {delay:>2}: common {est['value']:.3f} ({est['low']:.3f}–{est['high']:.3f})   "
              f"own {own[cid]['value']:.3f} ({own[cid]['low']:.3f}–{own[cid]['high']:.3f})   "
              f"[{n} members, {time.perf_counter() - t0:.0f} s]")
    R = np.stack(reps, axis=1)
    x = np.asarray(ladder["values"], dtype=np.float64)
    delta = score_dict(values[-1] - values[0], R[:, -1] - R[:, 0], len(x), 0.95)
    rho = score_dict(float(spearman_rows(x, np.asarray(values)[None])[0]), spearman_rows(x, R), len(x), 0.95)
    print(f"common probe: Δ = {delta['value']:+.3f} ({delta['low']:+.3f} to {delta['high']:+.3f}), "
          f"Spearman ρ = {rho['value']:+.2f} ({rho['low']:+.2f} to {rho['high']:+.2f}); the paper: ↓")


if __name__ == "__main__":
    main()
