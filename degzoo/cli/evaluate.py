"""``degzoo evaluate``: score metrics on a zoo release and write their result files."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from degzoo.benchmark.suites import Settings
from degzoo.errors import InvalidParameterError

#: A thread count above this many times the machine's cores is refused as a typo.
MAX_THREADS_PER_CORE = 4


class _DeprecatedBudget(argparse.Action):
    """``--budget``: the old name of ``--scorecard-seconds`` (``control --budget`` is small/full)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print("degzoo evaluate: --budget is deprecated; use --scorecard-seconds", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score degeneracy metrics on a zoo release (scorecard + result file)",
        description="Run metrics through the benchmark suites (conformance, calibration, trend, "
        "discriminability, reliability, sample size, agreement, cost) on a zoo release, print "
        "each scorecard and write OUT/results/<metric>.json. Without --metric, scores every "
        "reference metric and also writes the report (OUT/report.html, as degzoo report). With "
        "--name and --authors the result file carries the leaderboard's submission block and goes "
        "straight to `degzoo leaderboard validate`/`submit`. Exit status 2 on bad arguments or a "
        "metric that cannot be loaded (nothing runs), 1 when every suite of a metric ended in an "
        "error, 130 when interrupted (the partial result is written; --resume continues it).",
    )
    p.add_argument("--metric", action="append", default=[], metavar="NAME|module:attr",
                   help="a registered metric or a 'module:attr' (repeatable; default: the reference metrics)")
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="a parameter of the metric's constructor (repeatable; VALUE is read as JSON — "
                   "10, 1e-3, true, null — else as text); recorded in the result and in its file name")
    p.add_argument("--release", default=None,
                   help="zoo release: a folder, or a Hub dataset repo with --revision "
                   "(default: the embedded zoo)")
    p.add_argument("--revision", default=None, help="release tag of a Hub release (e.g. v1.0)")
    p.add_argument("--out", type=Path, default=Path("degzoo-results"),
                   help="output folder; result files go to OUT/results/ (default: degzoo-results)")
    p.add_argument("--suites", default=None, help="comma-separated suites (default: all)")
    p.add_argument("--max-members", type=int, default=Settings.max_members,
                   help=f"members per condition (default: {Settings.max_members}, the board's protocol; "
                        "results with fewer are not ranked)")
    p.add_argument("--time-limit", type=float, default=0.0, metavar="SECONDS",
                   help="wall-clock seconds per suite, 0 for none (default: none, so that a busy "
                        "machine cannot cut a suite; a suite it stops is marked incomplete and "
                        "scores 0 on the board until --resume finishes it)")
    p.add_argument("--scorecard-seconds", type=float, default=0.0, metavar="SECONDS",
                   help="seconds for each metric's whole scorecard, 0 for none (default: none); "
                   "--budget is a deprecated alias")
    p.add_argument("--budget", dest="scorecard_seconds", type=float, action=_DeprecatedBudget,
                   default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the suites' random draws (twins, bootstrap, subsets; default: 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the metrics' many small products run fastest so)")
    p.add_argument("--workers", type=int, default=None,
                   help="local processes that compute each distance matrix in blocks of members "
                        "(default: the cores this process may use; the scores do not change, the "
                        "cost suite still times one process)")
    engine = p.add_mutually_exclusive_group()
    engine.add_argument("--cluster", default=None, metavar="local:N",
                        help="compute the distance matrices' blocks on a Dask LocalCluster of N "
                             "single-threaded workers, started once for the run (needs the [dask] extra)")
    engine.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="compute them on the workers of a running Dask scheduler (e.g. one "
                             "started by dask-jobqueue on SLURM); the scores are the same as in one process")
    p.add_argument("--report", action=argparse.BooleanOptionalAction, default=None,
                   help="write OUT/report.html: degeneracy along the release's ladders and the "
                   "scorecards (default: yes without --metric, no with it; needs the [plots] extra)")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--resume", action="store_true",
                   help="take the suites already finished in OUT/results/<metric>.json (the file is "
                        "rewritten after every suite) instead of running them again; refused if that "
                        "file is another run (metric, zoo, settings or degzoo version) or was edited")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the result files already in OUT/results/ (without it, and without "
                        "--resume, a run refuses to start on an OUT that holds a result)")
    board = p.add_argument_group(
        "leaderboard submission", "with --name and --authors (one --metric), the result file is a "
        "submission: `degzoo leaderboard validate/submit OUT/results/<file>` accept it as it is")
    board.add_argument("--name", default=None, help="display name of the entry on the leaderboard")
    board.add_argument("--authors", default=None, help="authors, as one text (e.g. 'A. Author, B. Author')")
    board.add_argument("--code-url", default=None, help="http(s) URL of the metric's code (default: none)")
    board.add_argument("--paper-url", default=None, help="http(s) URL of its paper (default: none)")
    board.add_argument("--package", default=None, metavar="NAME[==VERSION]",
                       help="the pip distribution that provides the metric, pinned (default: found "
                       "from the metric's module; the installed version when VERSION is left out)")
    p.set_defaults(run=run, accepts_extra=False)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    threads = _check_threads(args.threads)
    _check_numbers(args)
    params = parse_params(args.param)
    if params and len(args.metric) != 1:
        raise InvalidParameterError("--param applies to one metric: give exactly one --metric with it")
    if args.name is not None and len(args.metric) != 1:
        raise InvalidParameterError(
            "--name makes a leaderboard entry of one metric: give exactly one --metric")
    import torch

    from degzoo.benchmark import REFERENCE_METRICS, evaluate_metric, format_scorecard
    from degzoo.benchmark.harness import EvaluationInterrupted, abandoned_suites, result_stem
    from degzoo.engine import dask_scheduler

    specs = args.metric or list(dict.fromkeys(REFERENCE_METRICS.values()))
    metrics = [_load_metric(spec, params) for spec in specs]  # fail once, before any suite
    submission = _submission(args, specs[0], metrics[0]) if args.name is not None or args.authors else None
    if submission is not None:
        _warn_not_rankable(args)
    out_dir = args.out / "results"
    paths = [out_dir / result_stem(metric.name, params) for metric in metrics]
    _check_out(args, paths)
    lock = _lock_out(args.out)  # held until this process ends
    torch.set_num_threads(threads)
    release = _open_release(args)
    running_before = set(abandoned_suites())
    written = []
    code = 0
    complete_with = _completion_command(args)
    with dask_scheduler(args.scheduler, args.cluster) as scheduler:
        for metric, path in zip(metrics, paths, strict=True):
            try:
                result = evaluate_metric(metric, release, suites=args.suites, max_members=args.max_members,
                                         time_limit=args.time_limit or None, seed=args.seed,
                                         budget=args.scorecard_seconds or None, progress=not args.quiet,
                                         checkpoint=path, resume=args.resume, workers=args.workers,
                                         submission=submission, complete_with=complete_with,
                                         scheduler=scheduler)
            except EvaluationInterrupted as stop:
                result = stop.result
            written.append(path)
            print(format_scorecard(result))
            print(f"wrote {path}\n")
            if result.cost.get("interrupted"):
                print("degzoo evaluate: interrupted; the partial result was written", file=sys.stderr)
                code = 130
                break
            if result.suites and all(s.status == "error" for s in result.suites.values()):
                print(f"degzoo evaluate: every suite of {result.metric['name']!r} ended in an error "
                      f"(see {path})", file=sys.stderr)
                code = 1
        if len(written) > 1:
            print("result files: " + ", ".join(str(p) for p in written))
        if code != 130 and (args.report if args.report is not None else not args.metric):
            _write_report(release, args)
    lock.close()
    # A suite thread still in native code (abandoned, or just cancelled by Ctrl-C and tearing down
    # torch's thread state) aborts a normal interpreter shutdown ("terminate called without an active
    # exception", SIGABRT) instead of exiting with the code: leave at once, everything is written.
    if code == 130 or set(abandoned_suites()) - running_before:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


def _check_out(args: argparse.Namespace, paths: list[Path]) -> None:
    """``--out`` must be a writable folder that is not a zoo release, and results in it are not
    replaced unless asked (``--resume`` continues them, ``--overwrite`` replaces them)."""
    out = args.out
    if (out / "manifest.json").is_file():
        raise InvalidParameterError(
            f"--out {out} is a zoo release folder (it has a manifest.json); give another output folder")
    try:
        (out / "results").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidParameterError(
            f"--out {out}: cannot create the output folder ({exc.strerror or exc}); give a folder "
            "you can write to") from None
    if not os.access(out / "results", os.W_OK):
        raise InvalidParameterError(
            f"--out {out}: the folder is not writable; give a folder you can write to")
    if args.resume or args.overwrite:
        return
    held = [p for p in paths if p.exists()]
    if held:
        raise InvalidParameterError(
            f"--out {out} already holds {', '.join(p.name for p in held)}: add --resume to continue "
            "or reuse it, give another --out, or add --overwrite to replace it")


def _lock_out(out: Path) -> Any:
    """An exclusive lock on ``OUT/.degzoo-evaluate.lock`` for this process's lifetime (the kernel
    drops it when the process ends, however it ends): two runs never write one folder at once."""
    path = out / ".degzoo-evaluate.lock"
    handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until the process ends
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks here
        return handle
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.seek(0)
        owner = handle.read().strip() or "another process"
        handle.close()
        raise InvalidParameterError(
            f"--out {out} is being written by another degzoo evaluate ({owner}); wait for it to "
            "finish, or give another --out") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}\n")
    handle.flush()
    return handle


def _completion_command(args: argparse.Namespace) -> str:
    """The command that completes this run if a suite does not finish: the same run, resumed,
    without time limits."""
    import shlex

    words = ["degzoo", "evaluate"]
    for spec in args.metric:
        words += ["--metric", spec]
    for item in args.param:
        words += ["--param", item]
    for option, value in (("--release", args.release), ("--revision", args.revision),
                          ("--suites", args.suites), ("--name", args.name), ("--authors", args.authors),
                          ("--code-url", args.code_url), ("--paper-url", args.paper_url),
                          ("--package", args.package), ("--cluster", args.cluster),
                          ("--scheduler", args.scheduler)):
        if value is not None:
            words += [option, value]
    words += ["--out", str(args.out)]
    if args.max_members != Settings.max_members:
        words += ["--max-members", str(args.max_members)]
    if args.seed != 0:
        words += ["--seed", str(args.seed)]
    if args.report is not None:
        words.append("--report" if args.report else "--no-report")
    return shlex.join([*words, "--resume"])


def _warn_not_rankable(args: argparse.Namespace) -> None:
    """A leaderboard entry (--name) scored with another protocol than the board's is refused by
    ``leaderboard validate``: say so before the run, not after it."""
    from degzoo.benchmark.harness import suite_names
    from degzoo.benchmark.scorecard import not_rankable_reasons

    settings = {**Settings(max_members=args.max_members, seed=args.seed).to_json(),
                "suites": suite_names(args.suites)}
    reasons = not_rankable_reasons(settings)
    if reasons:
        print(f"degzoo evaluate: warning: --name makes a leaderboard entry, but this run is not at the "
              f"board's protocol ({'; '.join(reasons)}): its result will be not rankable and "
              "`degzoo leaderboard validate` will refuse it", file=sys.stderr)


def _check_threads(threads: int) -> int:
    cores = os.cpu_count() or 1
    if not 1 <= threads <= MAX_THREADS_PER_CORE * cores:
        raise InvalidParameterError(
            f"--threads must be between 1 and {MAX_THREADS_PER_CORE * cores} "
            f"({MAX_THREADS_PER_CORE} × the {cores} cores of this machine), got {threads}")
    return threads


def _check_numbers(args: argparse.Namespace) -> None:
    """Seconds are finite and >= 0 (0: no limit); a scorecard needs at least 2 members."""
    import math

    from degzoo.benchmark.harness import suite_names

    for option, value in (("--time-limit", args.time_limit), ("--scorecard-seconds", args.scorecard_seconds)):
        if not (math.isfinite(value) and value >= 0):
            raise InvalidParameterError(
                f"{option} must be a number of seconds >= 0 (0: no limit), got {value}")
    if args.workers is None:
        from degzoo.engine import usable_cores

        args.workers = usable_cores()
    if args.workers < 1:
        raise InvalidParameterError(f"--workers must be a positive number of processes, got {args.workers}")
    if args.max_members < 2:
        raise InvalidParameterError(f"--max-members must be at least 2 (distances need pairs), "
                                    f"got {args.max_members}")
    if args.suites is not None:
        suite_names(args.suites)


def parse_params(items: list[str]) -> dict[str, Any]:
    """``["rank=10", "score=angular"]`` → ``{"rank": 10, "score": "angular"}`` (values as JSON,
    else as text, as ``degzoo control --param``); NaN and infinity are refused: a result file
    cannot record them."""
    from degzoo.cli._args import parse_value

    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key.isidentifier():
            raise InvalidParameterError(
                f"--param {item!r:.80}: write it as KEY=VALUE with KEY a parameter name (e.g. rank=10)")
        if key in params:
            raise InvalidParameterError(f"--param {key} is given twice; give each parameter once")
        value = parse_value(text.strip())
        try:
            json.dumps(value, allow_nan=False)
        except ValueError:
            raise InvalidParameterError(
                f"--param {key}={text}: NaN and infinity cannot be recorded in a result; "
                "give a number") from None
        params[key] = value
    return params


def _load_metric(spec: str, params: dict[str, Any]) -> Any:
    """The metric instance for ``spec``, or a one-line error saying why it cannot be loaded."""
    from degzoo.errors import DegzooError
    from degzoo.metrics import get
    from degzoo.metrics.base import check_name

    if not spec.isprintable():
        raise InvalidParameterError(f"--metric {ascii(spec)[:80]} contains control or non-printable "
                                    "characters; give a metric name or 'module:attr'")
    try:
        metric = get(spec, **params)
        check_name(getattr(metric, "name", None))
    except DegzooError:
        raise
    except Exception as exc:  # a third party's constructor or import: say which, in one line
        raise InvalidParameterError(
            f"metric {spec!r} could not be loaded: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    return metric


def _submission(args: argparse.Namespace, spec: str, metric: Any) -> dict[str, Any]:
    """The leaderboard's ``submission`` block, checked by the leaderboard's own schema now, so
    that a bad URL or package fails before the run, not at ``leaderboard validate``."""
    from degzoo.leaderboard.schema import check_document

    if args.name is None or not args.authors:
        raise InvalidParameterError("a leaderboard submission needs both --name and --authors")
    block = {
        "name": args.name,
        "authors": args.authors,
        "code_url": args.code_url,
        "paper_url": args.paper_url,
        "package": _package(args.package, spec, metric),
    }
    problems = [p for p in check_document({"submission": block})
                if p.field.startswith("submission")]
    if problems:
        option = {"submission.name": "--name", "submission.authors": "--authors",
                  "submission.code_url": "--code-url", "submission.paper_url": "--paper-url"}
        first = problems[0]
        where = option.get(first.field, "--package" if "package" in first.field else first.field)
        raise InvalidParameterError(f"{where}: {first.message}")
    return block


def _package(text: str | None, spec: str, metric: Any) -> dict[str, str]:
    """``{"name", "version", "entry"}`` of the installed distribution that provides ``metric``,
    checked now as ``degzoo leaderboard verify`` will check it (:func:`degzoo.plugins.submission_package`)."""
    from degzoo.plugins import submission_package

    cls = getattr(metric, "fn", None) or type(metric)  # FunctionMetric: the wrapped function
    entry = spec if ":" in spec else f"{cls.__module__}:{cls.__qualname__}"
    return submission_package(entry, text)


def _open_release(args: argparse.Namespace) -> Any:
    """The release, with the Hub's download bars off when stderr is a log (one line instead)."""
    from degzoo.zoo import check_release, open_release

    check_release(args.release)
    if args.release is not None and (args.quiet or not sys.stderr.isatty()):
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
        if not args.quiet:
            print(f"degzoo evaluate: opening release {args.release}"
                  + (f" at {args.revision}" if args.revision else ""), file=sys.stderr, flush=True)
    return open_release(args.release, revision=args.revision)


def _write_report(release: object, args: argparse.Namespace) -> None:
    """The report of ``degzoo report`` on the same release, with this run's scorecards."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        print("degzoo evaluate: report not written: its figures need matplotlib "
              "(pip install 'degzoo[plots]'); the result files are complete", file=sys.stderr)
        return
    from degzoo.benchmark.harness import reference_runners
    from degzoo.benchmark.report import compute_ladder_degeneracy, load_results, write_report

    data = compute_ladder_degeneracy(release, max_members=args.max_members, seed=args.seed,
                                     workers=args.workers, progress=not args.quiet,
                                     runners=reference_runners(release))
    path = write_report(args.out / "report.html", data, load_results(args.out / "results"))
    print(f"wrote {path}")
