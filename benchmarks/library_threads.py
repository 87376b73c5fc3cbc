"""A library call against the command line's settings, for the same work, side by side.

    python benchmarks/library_threads.py                 # 5 rounds
    python benchmarks/library_threads.py --rounds 3 --without   # + the call with the caller's threads

The work: ``metrics.get("dsa").pairwise(zoo.load("flipflop", bits=3).subset(range(4)))``, each run
in a fresh process with the thread defaults a user has (OMP_NUM_THREADS and the like removed from
the environment), timed around the call only:

- ``cli``: the process first sets what ``degzoo evaluate`` sets (``torch.set_num_threads(1)``, one
  BLAS thread), as the command line's process does before it runs a metric;
- ``library``: a plain script that sets nothing (degzoo's calls set the threads themselves);
- ``without`` (``--without``): the plain script with ``degzoo.threads.set_threads(None)``, i.e. the
  call running on the caller's thread settings, as before degzoo set them (slow on a busy machine).

The kinds alternate round by round, so a change in the machine's load hits them alike. Printed:
each run's wall and CPU seconds, the medians per kind and their ratios to ``cli`` (the goal: the
library within 10 % of the command line). On a loaded machine the wall times of single runs
scatter by a factor of two; the CPU seconds (one thread: the work itself) scatter less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SETUP = {
    "cli": "import torch\nfrom threadpoolctl import threadpool_limits\ntorch.set_num_threads(1)\n"
           "threadpool_limits(limits=1, user_api='blas')\n",
    "library": "",
    "without": "import degzoo.threads\ndegzoo.threads.set_threads(None)\n",
}

CALL = """
import json, time
import torch
from degzoo import metrics, zoo
ensemble = zoo.load("flipflop", bits=3).subset(range(4))
metric = metrics.get("dsa")
threads = torch.get_num_threads()
start, cpu = time.perf_counter(), time.process_time()
metric.pairwise(ensemble)
print(json.dumps({"seconds": time.perf_counter() - start, "cpu_seconds": time.process_time() - cpu,
                  "caller_threads": threads}))
"""

#: Variables that would give the "library" process other thread defaults than a user's shell.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "DEGZOO_THREADS")


def run(kind: str) -> dict[str, float]:
    """One fresh process of ``kind``: its call's wall and CPU seconds, and the torch threads it
    started with."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", SETUP[kind] + CALL], env=env, check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="runs of each kind (default 5)")
    p.add_argument("--without", action="store_true",
                   help="also run the call on the caller's thread settings (can take minutes under load)")
    args = p.parse_args()
    kinds = ["cli", "library"] + (["without"] if args.without else [])
    runs: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
          "dsa.pairwise on flipflop bits=3, members 0-3 (6 pairs)")
    for round_ in range(args.rounds):
        for kind in kinds if round_ % 2 == 0 else kinds[::-1]:
            result = run(kind)
            runs[kind].append(result)
            print(f"  round {round_ + 1} {kind:8s} {result['seconds']:7.2f} s wall, "
                  f"{result['cpu_seconds']:7.2f} s CPU "
                  f"(process started with {result['caller_threads']} torch threads)", flush=True)
    medians = {kind: {key: statistics.median(r[key] for r in runs[kind])
                      for key in ("seconds", "cpu_seconds")} for kind in kinds}
    for kind in kinds:
        wall, cpu = medians[kind]["seconds"], medians[kind]["cpu_seconds"]
        print(f"{kind:8s} median {wall:7.2f} s wall ({wall / medians['cli']['seconds']:5.2f}x cli), "
              f"{cpu:7.2f} s CPU ({cpu / medians['cli']['cpu_seconds']:5.2f}x cli)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
