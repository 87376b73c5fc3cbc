"""``degzoo report``: one self-contained HTML page about a zoo release (and scorecards)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from degzoo.errors import InvalidParameterError


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="HTML report: degeneracy along the zoo's ladders vs the paper's directions, scorecards",
        description="Measures degeneracy (behaviour σ_OOD, DSA, permutation weight distance) of every "
        "ladder condition of a release, with bootstrap CIs, and writes one self-contained HTML page "
        "(figures embedded). Use --data to render saved ladder data without recomputing.",
    )
    p.add_argument("--release", help="release folder or Hub repo (default: the embedded zoo)")
    p.add_argument("--revision", help="release tag, for a Hub release")
    p.add_argument("--results", type=Path, help="folder of result JSON files to add as scorecards")
    p.add_argument("--data", type=Path, help="ladder data saved by --save-data (skips the computation)")
    p.add_argument("--save-data", type=Path, help="also write the computed ladder data (JSON) here")
    p.add_argument("--cache", type=Path,
                   help="folder keeping each condition's measurements as they finish: a stopped "
                        "report resumes from it")
    p.add_argument("--metrics", help="comma-separated metrics (default: behaviour_ood,dsa,weights_perm)")
    p.add_argument("--max-members", type=int, default=8,
                   help="converged members per condition used by the metrics (default 8; 0: all)")
    p.add_argument("--map-members", type=int, default=6, help="members per condition in MDS maps")
    p.add_argument("--no-maps", action="store_true", help="skip the joint MDS maps (cross distances)")
    p.add_argument("--ladder", action="append", help="only this ladder (repeatable)")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--workers", type=int,
                   help="local worker processes (default: the cores this process may use)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="output HTML file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.set_defaults(run=run)


def _check_numbers(args: argparse.Namespace) -> None:
    """Counts that make sense, before anything is measured (one line each, exit 2)."""
    if args.n_boot < 10:
        raise InvalidParameterError(f"--n-boot must be at least 10 bootstrap resamples, got {args.n_boot}")
    if args.max_members < 0 or args.max_members == 1:
        raise InvalidParameterError(
            f"--max-members must be 0 (all) or at least 2 (distances need pairs), got {args.max_members}")
    if args.map_members < 0:
        raise InvalidParameterError(f"--map-members must be >= 0 (0: no maps), got {args.map_members}")
    if args.workers is not None and args.workers < 1:
        raise InvalidParameterError(f"--workers must be a positive number of processes, got {args.workers}")


def run(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.benchmark.report import compute_ladder_degeneracy, load_results, write_report
    from degzoo.engine import usable_cores

    _check_numbers(args)
    if args.data is not None:
        try:
            data = json.loads(args.data.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidParameterError(f"--data {args.data}: cannot read ladder data ({exc})") from None
    else:
        from degzoo.zoo import open_release

        release = open_release(args.release, revision=args.revision)
        metrics = [m.strip() for m in args.metrics.split(",")] if args.metrics else None
        data = compute_ladder_degeneracy(
            release, metrics, max_members=args.max_members or None, seed=args.seed, n_boot=args.n_boot,
            maps=not args.no_maps, map_members=args.map_members, ladders=args.ladder,
            workers=args.workers or usable_cores(), progress=not args.quiet, cache=args.cache,
        )
        if args.save_data:
            args.save_data.parent.mkdir(parents=True, exist_ok=True)
            args.save_data.write_text(json.dumps(data, allow_nan=False) + "\n")
    results = load_results(args.results) if args.results else []
    try:
        out = write_report(args.out, data, results)
    except OSError as exc:
        raise InvalidParameterError(
            f"--out {args.out}: cannot write the report ({exc.strerror or exc}); give a file in a folder "
            "you can write to") from None
    if not args.quiet:
        print(f"wrote {out}", file=sys.stderr)
    print(out)
    return 0
