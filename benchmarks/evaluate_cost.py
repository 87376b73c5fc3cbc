"""Where the time of ``degzoo evaluate`` goes: metric calls vs harness overhead, per suite.

Every registered metric class gets a timing wrapper around ``embed``, ``compare`` and
``member_scores`` (outermost call only, so a method calling another is not counted twice). Suites
run in threads named ``degzoo-suite-<suite>``, so each metric call is charged to its suite; calls of
a reference metric (agreement suite) count as metric calls too. Overhead = suite wall time − time in
metric calls: bootstraps, clustering, twin construction, bookkeeping. Goal: overhead < 10 %.

    python benchmarks/evaluate_cost.py                      # reference metrics, embedded zoo
    python benchmarks/evaluate_cost.py --release PATH --metrics weights_perm,cka --max-members 4
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections import defaultdict
from pathlib import Path

import torch

from degzoo.benchmark import REFERENCE_METRICS, clear_cache, evaluate_metric
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--release", default=None, help="release folder (default: the embedded zoo)")
    ap.add_argument("--metrics", default=",".join(dict.fromkeys(REFERENCE_METRICS.values())))
    ap.add_argument("--suites", default=None)
    ap.add_argument("--max-members", type=int, default=6)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1, as degzoo evaluate; 0: torch's default)")
    ap.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    release = open_release(args.release)
    instrument()
    clear_cache()
    rows, totals = [], {"wall": 0.0, "metric": 0.0}
    t_all = time.perf_counter()
    print(f"release {release.name} ({len(release.conditions)} conditions), max_members={args.max_members}, "
          f"time_limit={args.time_limit:g} s, torch threads {torch.get_num_threads()}")
    print(f"{'metric':<18} {'suite':<17} {'status':<8} {'wall s':>8} {'metric s':>9} {'overhead s':>10} "
          f"{'overhead':>9}")
    for name in args.metrics.split(","):
        CALLS.clear()
        t0 = time.perf_counter()
        result = evaluate_metric(name, release, suites=args.suites, max_members=args.max_members,
                                 time_limit=args.time_limit or None, progress=False)
        wall_metric = time.perf_counter() - t0
        m_wall = m_calls = 0.0
        for suite, rec in result.suites.items():
            in_metric = sum(v for (s, _), v in CALLS.items() if s == suite)
            over = max(0.0, rec.seconds - in_metric)
            m_wall += rec.seconds
            m_calls += in_metric
            rows.append({"metric": name, "suite": suite, "status": rec.status, "wall": rec.seconds,
                         "metric_calls": in_metric})
            print(f"{name:<18} {suite:<17} {rec.status:<8} {rec.seconds:8.2f} {in_metric:9.2f} {over:10.2f} "
                  f"{(over / rec.seconds if rec.seconds else 0):9.1%}")
        setup = wall_metric - m_wall
        print(f"{name:<18} {'(all suites)':<17} {'':<8} {m_wall:8.2f} {m_calls:9.2f} "
              f"{m_wall - m_calls:10.2f} "
              f"{((m_wall - m_calls) / m_wall if m_wall else 0):9.1%}   + {setup:.2f} s setup\n")
        totals["wall"] += m_wall
        totals["metric"] += m_calls
    total = time.perf_counter() - t_all
    over = totals["wall"] - totals["metric"]
    print(f"all metrics: {total:.1f} s wall, {totals['metric']:.1f} s in metric calls, "
          f"{over:.1f} s harness overhead inside suites ({over / max(totals['wall'], 1e-9):.1%})")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "total_seconds": total, **totals}, indent=2))


if __name__ == "__main__":
    main()
