"""Where the time of ``degzoo evaluate`` (the main job) goes, and today's job against the old one.

The main job is the four reference metrics through every suite on the embedded zoo, then the
report (degeneracy along the ladders, MDS maps). This script runs it as ``degzoo evaluate`` does,
in one process, and prints per metric and suite the wall time and the time inside metric calls,
then the report's two parts (conditions, maps), then the whole job:

- ``new``: ``--workers`` processes (default: the cores this process may use, as ``degzoo
  evaluate``) on the blocks of each distance matrix, or on whole matrices where a suite asks for
  many in a row (:meth:`degzoo.benchmark.store.MetricRunner.prefetch_pairwise`), and the report
  taking the distances the suites computed (one measurement cache:
  :func:`degzoo.benchmark.harness.reference_runners`);
- ``old``: the job before that change, emulated on the same code: one process per distance
  matrix, and the report measuring every ladder condition again (on all cores, as it did).

``--mode both`` runs old then new in the same process on the same machine and prints the ratio,
with the load average before and after each, and this machine's single-thread matmul rate (the
figure to compare machines by). Every score of the two runs is compared: they must be equal.

Every registered metric class gets a timing wrapper around ``embed``, ``compare`` and
``member_scores`` (outermost call only); calls made in worker processes are not seen here, so with
workers the "metric s" column is this process's share only — compare wall times.

    python benchmarks/evaluate_cost.py --max-members 4            # structure, in a few minutes
    python benchmarks/evaluate_cost.py --mode both --json cost.json  # the board's protocol (long)
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import torch

from degzoo.benchmark import REFERENCE_METRICS, clear_cache, evaluate_metric
from degzoo.benchmark.harness import reference_runners
from degzoo.benchmark.report import compute_ladder_degeneracy
from degzoo.benchmark.suites import Settings
from degzoo.engine import usable_cores
from degzoo.metrics import available, get
from degzoo.zoo import open_release

CALLS: dict[tuple[str, str], float] = defaultdict(float)
_DEPTH = threading.local()


def instrument() -> None:
    """Wrap ``embed``/``compare``/``member_scores`` of every registered metric class."""
    classes = {type(get(name)) for name in available()}
    for cls in classes:
        for method in ("embed", "compare", "member_scores"):
            orig = getattr(cls, method, None)
            if orig is None or getattr(orig, "_timed", False):
                continue
            setattr(cls, method, _timed(orig))


def _timed(fn):
    def wrapper(self, *args, **kwargs):
        depth = getattr(_DEPTH, "n", 0)
        _DEPTH.n = depth + 1
        t0 = time.perf_counter()
        try:
            return fn(self, *args, **kwargs)
        finally:
            _DEPTH.n = depth
            if depth == 0:
                suite = threading.current_thread().name.removeprefix("degzoo-suite-")
                CALLS[(suite, self.name)] += time.perf_counter() - t0

    wrapper._timed = True  # type: ignore[attr-defined]
    return wrapper


def matmul_gflops(seconds: float = 1.0, n: int = 256) -> float:
    """Single-thread float32 matmul rate of this machine (GFLOP/s), at the sizes the metrics use."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    a, b = torch.randn(n, n), torch.randn(n, n)
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        a @ b
        count += 1
    torch.set_num_threads(threads)
    return 2 * n**3 * count / (time.perf_counter() - t0) / 1e9


def run_job(mode: str, release: Any, args: argparse.Namespace) -> dict[str, Any]:
    """The main job in ``mode`` (new | old): per-suite rows, report parts, totals, scores."""
    clear_cache()
    workers = args.workers if mode == "new" else 1
    load_before = os.getloadavg()
    rows, scores = [], {}
    t_job = time.perf_counter()
    print(f"\n== {mode}: {workers} worker(s) per distance matrix, report "
          f"{'from the suites' if mode == 'new' else 'measured again'}; load {_load(load_before)}")
    print(f"{'metric':<15} {'suite':<17} {'status':<8} {'wall s':>8} {'metric s':>9}")
    for name in args.metrics.split(","):
        CALLS.clear()
        t0 = time.perf_counter()
        result = evaluate_metric(name, release, suites=args.suites, max_members=args.max_members,
                                 time_limit=None, progress=False, workers=workers)
        for suite, rec in result.suites.items():
            in_metric = sum(v for (s, _), v in CALLS.items() if s == suite)
            rows.append({"metric": name, "suite": suite, "status": rec.status, "wall": rec.seconds,
                         "metric_calls": in_metric})
            print(f"{name:<15} {suite:<17} {rec.status:<8} {rec.seconds:8.1f} {in_metric:9.1f}")
        wall = time.perf_counter() - t0
        rows.append({"metric": name, "suite": "(all)", "wall": wall})
        print(f"{name:<15} {'(all, with setup)':<17} {'':<8} {wall:8.1f}")
        scores[name] = {k: [s.value, s.low, s.high] for k, s in result.summary.items()
                        if not k.startswith("cost.")}  # timings differ from run to run
    suites_wall = time.perf_counter() - t_job
    report: dict[str, Any] = {}
    if not args.no_report:
        t0 = time.perf_counter()
        data = compute_ladder_degeneracy(
            release, max_members=args.max_members, workers=args.workers if mode == "new" else usable_cores(),
            runners=reference_runners(release) if mode == "new" else None)
        report = {"wall": time.perf_counter() - t0, **data["cost"]}
        conditions = report["conditions_wall_seconds"]
        print(f"{'report':<15} {'conditions':<17} {'':<8} {conditions:8.1f}")
        print(f"{'report':<15} {'ladders + maps':<17} {'':<8} {report['wall'] - conditions:8.1f}")
    total = time.perf_counter() - t_job
    load_after = os.getloadavg()
    print(f"{mode}: {total:.1f} s in all ({suites_wall:.1f} s scorecards, {report.get('wall', 0.0):.1f} s "
          f"report); load {_load(load_after)}")
    return {"mode": mode, "workers": workers, "rows": rows, "report": report,
            "scorecards_seconds": suites_wall, "total_seconds": total, "load_before": load_before,
            "load_after": load_after, "scores": scores}


def _compare_with_shipped(scores: dict[str, dict[str, list[float]]]) -> None:
    """Each main score of the last run against the shipped result of the same metric."""
    from degzoo.benchmark.results import load_result

    shipped_dir = Path(__file__).resolve().parents[1] / "degzoo" / "reference" / "metrics"
    for name, mine in scores.items():
        path = shipped_dir / f"{name}.json"
        if not path.exists():
            continue
        shipped = {k: [s.value, s.low, s.high] for k, s in load_result(path).summary.items()
                   if not k.startswith("cost.")}
        differ = sorted(k for k in shipped.keys() | mine.keys() if shipped.get(k) != mine.get(k))
        print(f"{name}: " + ("every main score equals the shipped result" if not differ else
                             "differs from the shipped result in " + ", ".join(
                                 f"{k} ({shipped.get(k, [None])[0]} shipped, {mine.get(k, [None])[0]} now)"
                                 for k in differ)))


def _load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in load) + " (1/5/15 min)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--release", default=None, help="release folder (default: the embedded zoo)")
    ap.add_argument("--metrics", default=",".join(dict.fromkeys(REFERENCE_METRICS.values())))
    ap.add_argument("--suites", default=None)
    ap.add_argument("--max-members", type=int, default=Settings.max_members,
                    help=f"members per condition (default {Settings.max_members}, the board's protocol)")
    ap.add_argument("--mode", choices=("new", "old", "both"), default="new")
    ap.add_argument("--workers", type=int, default=usable_cores(),
                    help="processes per distance matrix in the new job (default: the usable cores)")
    ap.add_argument("--no-report", action="store_true", help="scorecards only")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    torch.set_num_threads(1)  # as degzoo evaluate
    release = open_release(args.release)
    instrument()
    peak = matmul_gflops()
    print(f"release {release.name} ({len(release.conditions)} conditions), max_members={args.max_members}, "
          f"{usable_cores()} usable core(s), single-thread matmul {peak:.1f} GFLOP/s (256 x 256 float32)")
    modes = ["old", "new"] if args.mode == "both" else [args.mode]
    runs = [run_job(mode, release, args) for mode in modes]
    if len(runs) == 2:
        old, new = runs
        same = old["scores"] == new["scores"]
        print(f"\nnew / old: {new['total_seconds']:.1f} s / {old['total_seconds']:.1f} s = "
              f"{new['total_seconds'] / old['total_seconds']:.2f}; every score equal (timings aside): {same}")
    if args.release is None and args.max_members == Settings.max_members and args.suites is None:
        _compare_with_shipped(runs[-1]["scores"])
    if args.json:
        args.json.write_text(json.dumps({"matmul_gflops": peak, "max_members": args.max_members,
                                         "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
