"""``degzoo evaluate``: score metrics on a zoo release and write their result files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score degeneracy metrics on a zoo release (scorecard + result file)",
        description="Run metrics through the benchmark suites (conformance, calibration, trend, "
        "discriminability, reliability, sample size, agreement, cost) on a zoo release, print "
        "each scorecard and write OUT/results/<metric>.json. Without --metric, scores every "
        "reference metric and also writes the report (OUT/report.html, as degzoo report). "
        "Exit status 1 when a metric could not be loaded (its result file says why), 130 when "
        "interrupted.",
    )
    p.add_argument("--metric", action="append", default=[], metavar="NAME|module:attr",
                   help="a registered metric or a 'module:attr' (repeatable; default: the reference metrics)")
    p.add_argument("--release", default=None,
                   help="zoo release: a folder, or a Hub dataset repo with --revision "
                   "(default: the embedded zoo)")
    p.add_argument("--revision", default=None, help="release tag of a Hub release (e.g. v1.0)")
    p.add_argument("--out", type=Path, default=Path("degzoo-results"),
                   help="output folder; result files go to OUT/results/ (default: degzoo-results)")
    p.add_argument("--suites", default=None, help="comma-separated suites (default: all)")
    p.add_argument("--max-members", type=int, default=6, help="members per condition (default: 6)")
    p.add_argument("--time-limit", type=float, default=60.0,
                   help="seconds per suite, 0 for none (default: 60)")
    p.add_argument("--budget", type=float, default=0.0,
                   help="seconds for each metric's whole scorecard, 0 for none (default: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the metrics' many small products run fastest so)")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=None,
                   help="write OUT/report.html: degeneracy along the release's ladders and the "
                   "scorecards (default: yes without --metric, no with it; needs the [plots] extra)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run, accepts_extra=False)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    import torch

    from degzoo.benchmark import REFERENCE_METRICS, evaluate_metric, format_scorecard, result_filename

    torch.set_num_threads(args.threads)
    from degzoo.zoo import open_release

    release = open_release(args.release, revision=args.revision)
    metrics = args.metric or list(dict.fromkeys(REFERENCE_METRICS.values()))
    out_dir = args.out / "results"
    written = []
    code = 0
    for spec in metrics:
        result = evaluate_metric(spec, release, suites=args.suites, max_members=args.max_members,
                                 time_limit=args.time_limit or None, seed=args.seed,
                                 budget=args.budget or None, progress=not args.quiet)
        path = result.write(out_dir / result_filename(result.metric["name"]))
        written.append(path)
        print(format_scorecard(result))
        print(f"wrote {path}\n")
        if result.metric.get("level") is None:  # the metric could not be loaded: nothing ran
            code = max(code, 1)
        if result.cost.get("interrupted"):
            print("degzoo evaluate: interrupted; the partial result was written", file=sys.stderr)
            code = 130
            break
    if len(written) > 1:
        print("result files: " + ", ".join(str(p) for p in written))
    if code != 130 and (args.report if args.report is not None else not args.metric):
        _write_report(release, args)
    return code


def _write_report(release: object, args: argparse.Namespace) -> None:
    """The report of ``degzoo report`` on the same release, with this run's scorecards."""
    import importlib.util
    import os

    if importlib.util.find_spec("matplotlib") is None:
        print("degzoo evaluate: report not written: its figures need matplotlib "
              "(pip install 'degzoo[plots]'); the result files are complete", file=sys.stderr)
        return
    from degzoo.benchmark.report import compute_ladder_degeneracy, load_results, write_report

    data = compute_ladder_degeneracy(release, max_members=args.max_members, seed=args.seed,
                                     workers=os.cpu_count() or 1, progress=not args.quiet)
    path = write_report(args.out / "report.html", data, load_results(args.out / "results"))
    print(f"wrote {path}")
