"""``degzoo leaderboard validate|verify|build|submit|add-reference``: the leaderboard's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_ROOT = Path("leaderboard")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("leaderboard", help="validate, verify, build and submit leaderboard results")
    lsub = p.add_subparsers(dest="leaderboard_command", metavar="LEADERBOARD_COMMAND", required=True)

    v = lsub.add_parser(
        "validate",
        help="check result files (or a whole leaderboard folder) against the schema",
        description="Every problem of every file is reported, each with what to fix. A folder that "
        "holds results/ is checked as a whole leaderboard (layout, duplicates).",
    )
    v.add_argument("paths", nargs="+", type=Path, help="result files or folders")
    v.add_argument("--root", type=Path, help="leaderboard folder to check duplicates against")
    v.add_argument(
        "--against",
        type=Path,
        metavar="OLD_DIR",
        help="previous leaderboard folder: fail if an entry of it was removed or modified",
    )
    v.add_argument("--allow-modified", action="store_true", help="with --against: only removals are errors")
    v.add_argument(
        "--allow-verification-records",
        action="store_true",
        help="with --against: accept changes under verified/ (only for the board's own verify job)",
    )
    v.set_defaults(run=run_validate)

    ver = lsub.add_parser(
        "verify",
        help="re-run every ranked suite of a submission and record whether its scores reproduce",
        description="Re-runs every ranked suite through the harness with the result's seed on the zoo "
        "release it cites, and compares every main score with a tolerance from the re-run's own "
        "sampling error (never by overlap with the claimed interval).",
    )
    ver.add_argument("result", type=Path, help="the submitted result file (JSON)")
    ver.add_argument("--root", type=Path, help="leaderboard folder (default: the one RESULT is in)")
    ver.add_argument(
        "--max-members",
        type=int,
        default=None,
        help="networks per condition in the re-run (default: the result's, the full protocol; fewer: "
        "a fixed subset, compared with a tolerance from its sampling error)",
    )
    ver.add_argument(
        "--atol", type=float, default=1e-3, help="floor of every tolerance: float round-off (default 1e-3)"
    )
    ver.add_argument(
        "--allow-version-mismatch",
        action="store_true",
        help="run even if the installed package is not the pinned version (recorded)",
    )
    ver.add_argument("--release", type=Path, help="zoo release folder (default: the one the result cites)")
    ver.add_argument("--no-write", action="store_true", help="print the record, do not store it")
    ver.set_defaults(run=run_verify)

    b = lsub.add_parser("build", help="rebuild LEADERBOARD.md, index.html and results.parquet")
    b.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="leaderboard folder")
    b.add_argument("--check", action="store_true", help="write nothing; fail if the board is stale")
    b.add_argument("--no-parquet", action="store_true", help="skip the parquet mirror")
    b.set_defaults(run=run_build)

    s = lsub.add_parser("submit", help="validate a result and open a pull request on the Hub")
    s.add_argument("result", type=Path, help="the result file to submit (from `degzoo evaluate --name ...`)")
    s.add_argument("--repo-id", required=True, help="the leaderboard's Hub dataset repo (ORG/NAME)")
    s.add_argument("--endpoint", help="Hub URL (default: $HF_ENDPOINT or https://huggingface.co)")
    s.add_argument("--token", help="Hub access token (default: the one saved by `hf auth login`)")
    s.set_defaults(run=run_submit)

    a = lsub.add_parser(
        "add-reference", help="(maintainers) add harness result files as reference entries and rebuild"
    )
    a.add_argument("results_dir", type=Path, help="folder of harness result files (or one file)")
    a.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="leaderboard folder")
    a.add_argument("--code-url", help="URL of the code that produced the results (recorded in each entry)")
    a.set_defaults(run=run_add_reference)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    """Dispatch to the sub-command (also reachable through ``args.run``)."""
    return int(args.run(args, extra) or 0)


def run_validate(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.leaderboard import SubmissionError, check_no_removals, validate_paths

    status = 0
    try:
        entries = validate_paths(args.paths, root=args.root)
    except SubmissionError as exc:
        print(exc, file=sys.stderr)
        status = 1
    else:
        for e in entries:
            print(f"ok  {e.path}  →  {e.layout}")
            if (warning := e.incomplete_warning()) is not None:
                print(f"warning: {warning}", file=sys.stderr)
    if args.against is not None:
        for target in [p for p in args.paths if p.is_dir()]:
            problems = check_no_removals(args.against, target, allow_modified=args.allow_modified,
                                         allow_verification=args.allow_verification_records)
            for problem in problems:
                print(f"{target}: {problem}", file=sys.stderr)
            status = status or (1 if problems else 0)
    return status


def run_verify(args: argparse.Namespace, extra: list[str]) -> int:
    import json

    from degzoo.leaderboard import verify_result
    from degzoo.leaderboard.verify import check_tolerances

    check_tolerances(args.atol)  # before anything runs: a one-line error, exit 2
    record, path = verify_result(
        args.result,
        root=args.root,
        max_members=args.max_members,
        atol=args.atol,
        allow_version_mismatch=args.allow_version_mismatch,
        write=not args.no_write,
        release=args.release,
    )
    print(f"re-ran {', '.join(record['suites'])} on {record['subset']['members']}")
    for row in record["differences"]:
        mark = "ok " if row["ok"] else "BAD"
        if "submitted" not in row:
            where = row["suite"] if row.get("score") is None else f"{row['suite']} {row['score']}"
            if not row["ok"] or row.get("note"):
                print(f"  {mark} {where}: {row.get('note', '')}")
        else:
            a, b = row["submitted"], row["rerun"]
            print(
                f"  {mark} {row['suite']}.{row['score']}: submitted "
                f"{a['value']:.4g} [{a['low']:.4g}, {a['high']:.4g}], re-run {b['value']:.4g} "
                f"[{b['low']:.4g}, {b['high']:.4g}], tolerance ±{row['tolerance']:.3g}"
                + (f" — {row['note']}" if row.get("note") else "")
            )
    print(f"{record['entry']}: {record['status'].replace('_', ' ')}")
    if path is not None:
        print(f"record written to {path}")
    elif args.no_write:
        print(json.dumps(record, indent=2))
    return 0 if record["status"] == "verified" else 1


def run_build(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.leaderboard import SubmissionError, build_board

    try:
        report = build_board(args.root, parquet=not args.no_parquet, check=args.check)
    except SubmissionError as exc:
        print(exc, file=sys.stderr)
        print("the board was not rebuilt; fix or remove the files above", file=sys.stderr)
        return 1
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if args.check:
        for path in report.stale:
            print(f"stale: {path} (run `degzoo leaderboard build --root {args.root}`)", file=sys.stderr)
        if not report.stale:
            print(f"{args.root}: the board is up to date ({report.n_entries} entries)")
        return 1 if report.stale else 0
    for path in report.written:
        print(f"wrote {path}")
    print(f"{report.n_entries} entries")
    return 0


def run_submit(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.leaderboard import SubmissionError, submit_result

    try:
        sub = submit_result(args.result, args.repo_id, endpoint=args.endpoint, token=args.token)
    except SubmissionError as exc:
        print(exc, file=sys.stderr)
        print("nothing was sent", file=sys.stderr)
        return 1
    print(f"opened pull request #{sub.pr_num} on {sub.repo_id} adding {sub.path_in_repo}")
    if sub.pr_url:
        print(sub.pr_url)
    return 0


def run_add_reference(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.leaderboard import SubmissionError, add_reference_results

    try:
        written = add_reference_results(args.results_dir, args.root, code_url=args.code_url)
    except SubmissionError as exc:
        print(exc, file=sys.stderr)
        return 1
    for path in written:
        print(f"added {path}")
    return 0
