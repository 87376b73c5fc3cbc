"""``evaluate_metric``: run a metric through the suites on a zoo release and return its scorecard.

Robustness contract: whatever the metric does — fail to import, raise on some pairs, return NaN or
a wrong shape, hang — each suite ends with a status and a message, and the run goes on with the
next suite; :func:`evaluate_metric` always returns a :class:`MetricResult` that can be written.

Time limits: each suite runs in a worker thread under a cooperative deadline (checked before and
after every metric call; a call that the metric's measured speed says cannot finish in the time
left is not started). The suite then stops with status ``timeout`` and keeps the scores it finished.
A single metric call that overruns is waited for until 1.5 × the limit + 10 s; after that the suite
is reported as ``timeout`` and abandoned: the call is cancelled, which stops a metric that calls
:func:`degzoo.metrics.base.checkpoint` between steps (DSA does); any other call cannot be killed
and finishes in the background (the message says so, and :func:`abandoned_suites` lists them).

Ctrl-C cancels the running suite the same way and waits up to :data:`INTERRUPT_GRACE_SECONDS`
for its call to stop: a thread left running inside native code (torch) while the interpreter
shuts down aborts the process ("terminate called without an active exception").

Progress: while a suite runs, a status line (suite, seconds, pairs so far) is refreshed on a
terminal; when stderr is not a terminal a plain line is written every
:data:`degzoo.progress.LOG_INTERVAL` instead, so a log gets a few lines, not thousands.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import sys
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

import degzoo
import degzoo.progress
from degzoo.benchmark.results import SUMMARY_SCORES, MetricResult, Score, SuiteResult, jsonable, load_result
from degzoo.benchmark.scorecard import INTERRUPTED, NOT_RUN, incomplete_suites
from degzoo.benchmark.store import CallStats, Deadline, MetricRunner, SuiteTimeout, usable_members
from degzoo.benchmark.suites import (
    REFERENCE_METRICS,
    RUN_LIMITS,
    SUITE_FUNCTIONS,
    SUITES,
    Context,
    Settings,
    matched_statistics_of,
)
from degzoo.benchmark.twins import matched_statistics
from degzoo.environment import environment
from degzoo.errors import InvalidParameterError
from degzoo.metrics.base import MAX_NAME_LENGTH, check_name
from degzoo.training.controls import split_solution_family

#: A suite whose metric call overruns its time limit is waited for until
#: ``HARD_FACTOR × time_limit + HARD_GRACE_SECONDS``, then abandoned.
HARD_FACTOR = 1.5
HARD_GRACE_SECONDS = 10.0
#: After Ctrl-C, how long the running suite's call is given to stop at a checkpoint.
INTERRUPT_GRACE_SECONDS = 10.0
#: Progress while a suite runs: refresh period on a terminal (in a log: degzoo.progress.LOG_INTERVAL).
TTY_PROGRESS_SECONDS = 1.0

# Runners of reference metrics (default parameters) kept across runs in this process, so that the
# agreement suite of a later metric reuses the distances the reference computed in its own run.
_SHARED: dict[tuple[str, str], MetricRunner] = {}


def clear_cache() -> None:
    """Forget the reference metrics' distances kept between runs in this process."""
    for runner in _SHARED.values():
        runner.clear()
    _SHARED.clear()


def reference_runners(release: Any) -> dict[str, MetricRunner]:
    """The runners of the reference metrics (default parameters) scored on ``release`` in this
    process, by metric name: what the report takes its distances from instead of measuring again."""
    sha = getattr(release, "sha256", None)
    return {name: runner for (rel_sha, name), runner in _SHARED.items() if rel_sha == sha}


def evaluate_metric(
    metric: Any,
    release: Any = None,
    *,
    suites: Iterable[str] | str | None = None,
    max_members: int = Settings.max_members,
    time_limit: float | None = 60.0,
    seed: int = 0,
    progress: bool = True,
    n_boot: int = 1000,
    condition: str | None = None,
    budget: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: bool = False,
    workers: int = 1,
    submission: dict[str, Any] | None = None,
    complete_with: str | None = None,
    scheduler: str | None = None,
) -> MetricResult:
    """Score ``metric`` (a registered name, ``"module:attr"``, a :class:`~degzoo.metrics.Metric`,
    a class or a plain function with a ``level`` attribute) on a zoo release.

    ``release``: None for the embedded zoo, a folder, or an opened :class:`~degzoo.zoo.Release`.
    ``suites``: names (or ``"a,b"``) from :data:`SUITES`, default all. ``max_members``: members
    per condition used by the suites (the first converged ones). ``time_limit``: seconds per suite
    (None: no limit). ``condition``: the condition used by the single-condition suites
    (default: the baseline of the largest group of solution families, else the first condition of
    the largest group sharing task and architecture; see :func:`_choose_conditions`).
    ``budget``: seconds for the whole scorecard (None: no budget); each suite then gets
    ``min(time_limit, budget left)``, and suites left when it is spent are reported as ``timeout``.
    ``checkpoint``: a result file rewritten (atomically) after every suite, suites not run yet
    marked :data:`NOT_RUN`, so that a long run that stops keeps what it finished. With ``resume``,
    the suites it finished (ok, failed, or skipped as not applicable) are taken from it instead of
    run again, once it is checked to be the same metric, zoo, settings and degzoo version; each
    suite draws from its own seeded stream, so a resumed result equals an uninterrupted one
    (timings aside). ``workers``: local processes that compute the distance matrices of the zoo's
    conditions and constructed networks in blocks of members (see :class:`MetricRunner`); the scores
    do not depend on it for a metric whose pairs are independent, so a run may be resumed with
    another count, and the cost suite still times one process. ``submission``: the leaderboard's
    block (name, authors, package, ...) that the result, and every checkpoint of it, carries.
    ``complete_with``: the command that completes this run if a suite does not finish (default:
    this call again with ``resume=True``); a result with such a suite records it in
    ``cost.incomplete`` (``suites``, ``complete_with``) and has no board score. ``scheduler``: the
    address of a Dask scheduler whose workers compute the distance matrices' blocks instead of
    local processes (:func:`degzoo.engine.dask_scheduler` starts a ``local:N`` cluster once for
    many calls); the scores are the same.

    A release that cannot be opened, an unknown suite name or a checkpoint that
    cannot be resumed raise; everything the metric does is recorded in the result instead. On
    Ctrl-C the suite under way is stopped, the partial result (``cost.interrupted``) is written to
    ``checkpoint`` and :class:`EvaluationInterrupted` carries it out, so that a script looping over
    metrics stops too.
    """
    t_start = time.perf_counter()
    from degzoo.zoo import Release, open_release

    rel = release if isinstance(release, Release) else open_release(release)
    names = suite_names(suites)
    if not isinstance(max_members, int) or max_members < 2:
        raise InvalidParameterError(
            f"evaluate_metric: max_members must be an integer >= 2, got {max_members!r}")
    if not isinstance(n_boot, int) or n_boot < 10:
        raise InvalidParameterError(f"evaluate_metric: n_boot must be an integer >= 10, got {n_boot!r}")
    if time_limit is not None and not time_limit > 0:
        raise InvalidParameterError(
            f"evaluate_metric: time_limit must be > 0 seconds or None, got {time_limit!r}")
    if budget is not None and not budget > 0:
        raise InvalidParameterError(f"evaluate_metric: budget must be > 0 seconds or None, got {budget!r}")
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise InvalidParameterError(
            f"evaluate_metric: workers must be a positive number of processes, got {workers!r}")
    settings = Settings(max_members=max_members, time_limit=time_limit, seed=seed, n_boot=n_boot,
                        budget=budget)
    zoo = {"release": rel.name, "manifest_sha256": rel.sha256}
    log = _Logger(progress)

    try:
        m = _resolve(metric)
        identity = _identity(m)
        check_name(identity["name"])
    except Exception as exc:
        spec = metric if isinstance(metric, str) else getattr(metric, "__name__", repr(metric))
        spec = _printable(str(spec))
        msg = f"the metric could not be loaded: {type(exc).__name__}: {exc}"
        log(f"[{spec}] {msg}")
        result = MetricResult(zoo=zoo, metric={"name": spec, "level": None, "params": {},
                                               "invariances": []}, submission=submission)
        for name in names:
            result.suites[name] = SuiteResult(status="error", message=msg)
        result.cost = {"total_seconds": round(time.perf_counter() - t_start, 3)}
        result.settings = _settings_json(settings, names, None, [])
        if checkpoint is not None and not (resume and os.path.exists(checkpoint)):
            write_checkpoint(result, checkpoint)  # a checkpoint to resume keeps the suites it finished
        return result

    runner = MetricRunner(m, rel, store=None if checkpoint is None else distance_store(checkpoint),
                          header={"zoo": zoo, "metric": identity, "degzoo_version": degzoo.__version__},
                          workers=workers, scheduler=scheduler, seed=seed)
    home, groups, families = _choose_conditions(runner, rel, condition)
    ctx = Context(metric=m, release=rel, runner=runner, settings=settings, home=home, groups=groups,
                  families=families, progress=progress,
                  reference_runner=lambda ref: _reference_runner(ref, m, rel, runner))
    result = MetricResult(zoo=zoo, metric=identity, environment=_environment(m), submission=submission)
    this_run = _settings_json(settings, names, home, groups)
    done = _resumable_suites(checkpoint, result, this_run) if resume else {}
    if resume:
        runner.load_store()
    elif runner.store is not None and os.path.exists(runner.store):
        os.remove(runner.store)  # a fresh run: distances of an earlier one are not reused
    per_suite: dict[str, Any] = {}
    interrupted = False
    resume_hint = complete_with or (
        "evaluate_metric(...) again with the same arguments and resume=True"
        + ("" if checkpoint is not None else ", checkpoint=<a result file>"))
    log(f"[{identity['name']}] scoring on {rel.name} ({len(rel.conditions)} conditions); "
        f"home condition {home}, {len(groups)} group(s) "
        + ("of solution families beside their baseline" if families else "sharing task and architecture"))

    def save_checkpoint() -> None:
        if checkpoint is not None:
            snapshot = MetricResult(zoo=zoo, metric=identity, environment=result.environment,
                                    submission=submission, suites={
                n: result.suites.get(n) or SuiteResult(status="error", message=NOT_RUN) for n in names})
            _finish(snapshot, settings, names, home, groups, runner, per_suite, t_start, done, False,
                    resume_hint)
            write_checkpoint(snapshot, checkpoint)

    for name in names:
        if interrupted:
            result.suites[name] = SuiteResult(status="error", message=NOT_RUN)
            continue
        if name in done:
            result.suites[name], per_suite[name] = done[name]
            log(f"[{identity['name']}] {name:<17} {result.suites[name].status:<8} (from {checkpoint})")
            continue
        limit = time_limit
        if budget is not None:
            left = budget - (time.perf_counter() - t_start)
            if left <= 0:
                result.suites[name] = SuiteResult(
                    status="timeout",
                    message=f"the scorecard's budget of {budget:g} s was spent before this suite")
                log(f"[{identity['name']}] {name:<17} timeout  (budget spent)")
                continue
            limit = left if limit is None else min(limit, left)
        t_suite = time.perf_counter()
        try:
            res, stats = run_suite(name, ctx, limit, progress=log.ticker(f"[{identity['name']}] {name:<17}"))
        except KeyboardInterrupt:
            interrupted = True
            res, stats = SuiteResult(status="error", message=INTERRUPTED), runner.stats
            res.seconds = time.perf_counter() - t_suite
        result.suites[name] = res
        per_suite[name] = {"seconds": round(res.seconds, 4), **stats.to_json()}
        log(f"[{identity['name']}] {name:<17} {res.status:<8} {res.seconds:7.1f} s"
            + (f"  {_first_score(res)}" if res.scores else "")
            + (f"  — {res.message}" if res.message and res.status != "ok" else ""))
        if not interrupted and name != names[-1]:
            save_checkpoint()

    runner.clear()
    if _is_default_reference(m):  # keep its distances for the agreement suite of later metrics
        _SHARED.setdefault((rel.sha256, identity["name"]), runner)
    _finish(result, settings, names, home, groups, runner, per_suite, t_start, done, interrupted,
            resume_hint)
    if checkpoint is not None:
        write_checkpoint(result, checkpoint)
    if interrupted:
        raise EvaluationInterrupted(result)
    return result


class EvaluationInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped :func:`evaluate_metric`; ``result`` is the partial result it wrote (the
    suites it finished, the rest marked not run), which ``resume=True`` continues."""

    def __init__(self, result: MetricResult):
        super().__init__("evaluate_metric was interrupted; the partial result was written")
        self.result = result


def result_content_hash(doc: dict[str, Any]) -> str:
    """sha256 of a result (JSON form) without its own ``cost.checkpoint_sha256``: a result file whose
    content was changed after it was written (a suite status, a score) no longer matches it."""
    data = json.loads(json.dumps(doc, allow_nan=False))
    if isinstance(data.get("cost"), dict):
        data["cost"].pop("checkpoint_sha256", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_checkpoint(result: MetricResult, path: str | os.PathLike[str]) -> None:
    """Write ``result`` with the hash of its content in ``cost.checkpoint_sha256``, which a resumed
    run checks before taking any suite from it."""
    result.cost.pop("checkpoint_sha256", None)
    result.cost["checkpoint_sha256"] = result_content_hash(result.to_json())
    result.write(path)


def _environment(metric: Any) -> dict[str, Any]:
    """This machine's :func:`~degzoo.environment.environment`, and for a metric that runs another
    package's code (its ``implementation``, e.g. ``dsa-metric``) that package's installed version."""
    env = environment()
    package = getattr(metric, "implementation", None)
    if isinstance(package, str):
        try:
            env["implementation"] = f"{package} {importlib.metadata.version(package)}"
        except importlib.metadata.PackageNotFoundError:
            env["implementation"] = f"{package} (version unknown: not installed as a distribution)"
    return env


def distance_store(checkpoint: str | os.PathLike[str]) -> str:
    """The file beside a checkpoint where its run keeps the zoo's distances (``NAME.distances.npz``)."""
    path = os.fspath(checkpoint)
    return (path[:-5] if path.endswith(".json") else path) + ".distances.npz"


#: Statuses of suites a resumed run takes over (errors and timeouts are run again).
_FINISHED = ("ok", "failed", "skipped")


def _finish(result: MetricResult, settings: Settings, names: Sequence[str], home: str | None,
            groups: list[list[str]], runner: MetricRunner, per_suite: dict[str, Any], t_start: float,
            resumed: dict[str, Any], interrupted: bool, complete_with: str) -> None:
    """Fill ``result``'s summary, cost and settings from its suites and the runner's counters."""
    total = time.perf_counter() - t_start
    result.summary = {f"{s}.{k}": result.suites[s].scores[k] for s, k in SUMMARY_SCORES
                      if s in result.suites and k in result.suites[s].scores}
    cost_scores = result.suites.get("cost", SuiteResult()).scores
    metric_seconds = runner.total.seconds
    reference_seconds = runner.total.reference_seconds
    result.cost = {
        **{k: v.value for k, v in cost_scores.items()},
        "total_seconds": round(total, 3),
        "metric_seconds": round(metric_seconds, 3),
        "reference_seconds": round(reference_seconds, 3),
        "harness_seconds": round(max(0.0, total - metric_seconds - reference_seconds), 3),
        "pairs": runner.total.pairs,
        "networks_embedded": runner.total.networks,
        "workers": runner.workers,  # processes behind this run's suite seconds (the cost suite: one)
        "memory_method": "tracemalloc peak (Python + numpy, not torch) and getrusage ru_maxrss growth",
        "per_suite": per_suite,
    }
    if resumed:
        result.cost["resumed_suites"] = sorted(resumed)
    if interrupted:
        result.cost["interrupted"] = True
    unfinished = incomplete_suites({n: s.to_json() for n, s in result.suites.items()})
    if unfinished:
        result.cost["incomplete"] = {"suites": unfinished, "complete_with": complete_with}
    result.settings = _settings_json(settings, names, home, groups)


def _resumable_suites(checkpoint: str | os.PathLike[str] | None, result: MetricResult,
                      settings: dict[str, Any]) -> dict[str, tuple[SuiteResult, dict[str, Any]]]:
    """The finished suites of ``checkpoint`` (with their cost entries), if it is this very run."""
    if checkpoint is None:
        raise InvalidParameterError("evaluate_metric: resume=True needs checkpoint= (the result file)")
    if not os.path.exists(checkpoint):
        return {}
    old = load_result(checkpoint)
    with open(checkpoint, encoding="utf-8") as file:
        written = json.load(file)  # as written (load_result validated it)
    recorded = old.cost.get("checkpoint_sha256")
    if recorded != result_content_hash(written):
        raise InvalidParameterError(
            f"cannot resume from {checkpoint}: it was changed after it was written "
            f"({'it has no content hash' if recorded is None else 'its content hash does not match'}); "
            "its suites cannot be trusted: run without resuming to replace it, or give another "
            "output folder")

    def identity(res: MetricResult, run: dict[str, Any]) -> dict[str, Any]:
        free = {*RUN_LIMITS, "suites"}  # may differ between the two runs
        return {"zoo": res.zoo, "metric": res.metric, "degzoo_version": res.degzoo_version,
                **{f"settings.{k}": v for k, v in jsonable(run).items() if k not in free}}

    mine, theirs = identity(result, settings), identity(old, old.settings)
    differ = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    if differ:
        raise InvalidParameterError(
            f"cannot resume from {checkpoint}: it is another run ({', '.join(differ)} differ); "
            "run without resuming to replace it, or give another output folder")
    per_suite = old.cost.get("per_suite") or {}
    today = tuple(sorted(matched_statistics(result.metric.get("level"))))
    taken = {}
    for name, suite in old.suites.items():
        if suite.status not in _FINISHED:
            continue
        built_with = matched_statistics_of(name, suite)
        if built_with is not None and built_with != today:
            warnings.warn(f"{checkpoint}: its {name} suite was built with other ground truths (networks "
                          f"matched on {', '.join(built_with)}; today {', '.join(today)}): it runs again",
                          stacklevel=3)
            continue
        taken[name] = (suite, per_suite.get(name, {"seconds": suite.seconds}))
    return taken


def run_suite(name: str, ctx: Context, time_limit: float | None,
              progress: Callable[[float, CallStats], None] | None = None) -> tuple[SuiteResult, CallStats]:
    """Run one suite in a worker thread under its time limit; never raises (but KeyboardInterrupt).

    ``progress(seconds, stats)`` is called about every second while the suite runs."""
    out = SuiteResult()
    runner = ctx.runner
    deadline = Deadline(time_limit)
    stats = CallStats()
    runner.deadline, runner.stats = deadline, stats
    outcome: dict[str, Any] = {}
    fn = SUITE_FUNCTIONS[name]

    def target() -> None:
        try:
            fn(ctx, out)
        except SuiteTimeout as exc:
            outcome["timeout"] = str(exc)
        except BaseException as exc:
            outcome["error"] = exc
            outcome["traceback"] = traceback.format_exc()

    thread = threading.Thread(target=target, name=f"degzoo-suite-{name}", daemon=True)
    thread.start()
    hard = None if time_limit is None else HARD_FACTOR * time_limit + HARD_GRACE_SECONDS
    try:
        while thread.is_alive():
            left = float("inf") if hard is None else hard - deadline.elapsed
            if left <= 0:
                break
            thread.join(min(TTY_PROGRESS_SECONDS, left))
            if progress is not None and thread.is_alive():
                progress(deadline.elapsed, stats)
    except KeyboardInterrupt:
        deadline.cancelled.set()  # the worker stops at its next metric call or checkpoint
        thread.join(INTERRUPT_GRACE_SECONDS)  # a second Ctrl-C ends the wait
        raise
    if thread.is_alive():
        deadline.cancelled.set()
        snapshot = SuiteResult(
            status="timeout",
            scores=dict(out.scores),
            details=_copy_details(out.details),
            message=f"time limit of {time_limit:g} s: a metric call had not returned after "
            f"{deadline.elapsed:.0f} s; the suite was abandoned (the call was cancelled; one that "
            "does not stop at a checkpoint finishes in the background)",
        )
        snapshot.seconds = deadline.elapsed
        return snapshot, stats
    out.seconds = deadline.elapsed
    if "timeout" in outcome:
        out.status = "timeout"
        out.message = outcome["timeout"] + (" (scores so far are kept)" if out.scores else "")
    elif "error" in outcome:
        exc = outcome["error"]
        if isinstance(exc, KeyboardInterrupt):
            raise exc
        out.status = "error"
        out.message = f"{type(exc).__name__}: {exc}"
        out.details["traceback"] = outcome["traceback"][-2000:]
    _check_scores(out)
    return out, stats


def abandoned_suites() -> list[threading.Thread]:
    """Worker threads of suites still running (abandoned after a hard time limit or an interrupt,
    inside a metric call that does not stop at a checkpoint). A process should not shut its
    interpreter down around such a thread: in native code (torch) it aborts the process."""
    return [t for t in threading.enumerate() if t.name.startswith("degzoo-suite-") and t.is_alive()]


def result_stem(name: str, params: dict[str, Any] | None = None) -> str:
    """The file name of a result: ``<name>.json``, or ``<name>--<key>-<value>...json`` when
    parameters were given (so two settings of one metric do not overwrite each other); a long
    parameter list is shortened to a hash of it."""
    from degzoo.benchmark.results import result_filename

    if not params:
        return result_filename(name)
    text = "--".join(f"{k}-{json.dumps(v, sort_keys=True) if not isinstance(v, str) else v}"
                     for k, v in sorted(params.items()))
    text = re.sub(r"[^A-Za-z0-9_.-]+", "_", text)
    if len(text) > 80:
        text = "params-" + hashlib.sha256(text.encode()).hexdigest()[:12]
    return result_filename(f"{name}--{text}")


def _printable(text: str) -> str:
    """``text`` if it can name a metric, else its ASCII escape, shortened."""
    try:
        return check_name(text)
    except InvalidParameterError:
        return ascii(text)[:MAX_NAME_LENGTH]


def _check_scores(out: SuiteResult) -> None:
    bad = [k for k, s in out.scores.items() if not isinstance(s, Score)]
    for k in bad:
        out.scores.pop(k)
    if bad and out.status == "ok":
        out.status, out.message = "error", f"the suite produced malformed scores {bad}"


def _copy_details(details: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(jsonable(details)))
    except Exception:
        return {}


def suite_names(suites: Iterable[str] | str | None) -> list[str]:
    """The suites to run (``"a,b"``, a list, or None for all), or a usage error naming the unknown."""
    if suites is None:
        return list(SUITES)
    if isinstance(suites, str):
        suites = [s.strip() for s in suites.split(",") if s.strip()]
    names = list(suites)
    unknown = [s for s in names if s not in SUITE_FUNCTIONS]
    if unknown or not names:
        raise InvalidParameterError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES)}")
    return names


def _resolve(metric: Any) -> Any:
    from degzoo.metrics import Metric, get

    if isinstance(metric, Metric):
        return metric
    return get(metric)


def _identity(metric: Any) -> dict[str, Any]:
    try:
        ident = dict(metric.identity)
    except Exception:
        ident = {"name": getattr(metric, "name", type(metric).__name__),
                 "level": getattr(metric, "level", None), "params": {},
                 "invariances": sorted(getattr(metric, "invariances", ()))}
    ident["params"] = jsonable(ident.get("params", {}))
    ident["invariances"] = sorted(ident.get("invariances", ()))
    return ident


def _is_default_reference(metric: Any) -> bool:
    name = getattr(metric, "name", None)
    if name not in REFERENCE_METRICS.values():
        return False
    try:
        from degzoo.metrics import get

        return get(name).identity == metric.identity and type(get(name)) is type(metric)
    except Exception:
        return False


def _reference_runner(ref_name: str, metric: Any, release: Any, runner: MetricRunner
                      ) -> MetricRunner | None:
    """The shared runner of reference ``ref_name``, its time charged to ``runner``'s suite as
    reference time; None when ``metric`` is that reference."""
    if _is_default_reference(metric) and metric.name == ref_name:
        return None
    key = (release.sha256, ref_name)
    if key not in _SHARED:
        from degzoo.metrics import get

        _SHARED[key] = MetricRunner(get(ref_name), release)
    ref = _SHARED[key]
    ref.release, ref.reference, ref.workers, ref.scheduler = release, True, runner.workers, runner.scheduler
    ref.deadline, ref.stats, ref.total = runner.deadline, runner.stats, runner.total
    return ref


def _choose_conditions(runner: MetricRunner, rel: Any, condition: str | None
                       ) -> tuple[str, list[list[str]], bool]:
    """The home condition, the groups the suites compare (largest first), and whether those are
    solution families.

    A release that builds solution families beside a baseline (conditions of the same task,
    architecture and probe set whose controls are the baseline's plus
    :attr:`~degzoo.training.controls.Control.solution_family` ones, such as zoo-v2's initial gain
    and low rank) is compared on them: each group is the baseline first, then its families.
    Otherwise a group is every set of >= 2 conditions sharing task, architecture and probe set.
    """
    keys: dict[tuple, list[str]] = {}
    usable: list[str] = []
    for cond in rel.conditions:
        cid = cond["id"]
        ens = runner.ensemble(cid)
        if usable_members(ens).size < 2:
            continue
        usable.append(cid)
        probe = hashlib.sha256(np.ascontiguousarray(ens.probe_inputs).tobytes()).hexdigest()
        key = (repr(ens.task), repr(ens.architecture), probe)
        keys.setdefault(key, []).append(cid)
    split = {c["id"]: split_solution_family(c.get("controls") or []) for c in rel.conditions}
    families = []
    for group in keys.values():
        for cid in group:
            base = split[cid][0]
            members = [c for c in group if split[c] == (base, True)]
            if split[cid] == (base, False) and members:
                families.append([cid, *members])
    groups = sorted(families or (g for g in keys.values() if len(g) >= 2), key=lambda g: -len(g))
    if condition is not None:
        rel.condition(condition)  # raises with the list of conditions if unknown
        home = condition
    elif groups:
        home = groups[0][0]
    else:
        home = (usable or [rel.conditions[0]["id"]])[0]
    return home, groups, bool(families)


def _settings_json(settings: Settings, names: Sequence[str], home: str | None,
                   groups: list[list[str]]) -> dict[str, Any]:
    return {**settings.to_json(), "suites": list(names), "home_condition": home, "groups": groups}


def _first_score(res: SuiteResult) -> str:
    name, score = next(iter(res.scores.items()))
    return f"{name} = {score}"


class _Logger:
    """Progress on stderr: whole lines, and while a suite runs either a status line refreshed in
    place (a terminal) or a plain line every :data:`degzoo.progress.LOG_INTERVAL` (a log file)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self._pending = False  # a status line waits to be overwritten

    def __call__(self, text: str) -> None:
        if self.enabled:
            self._clear()
            print(text, file=sys.stderr, flush=True)

    def _clear(self) -> None:
        if self._pending:
            sys.stderr.write("\r\033[K")
            self._pending = False

    def ticker(self, label: str) -> Callable[[float, CallStats], None] | None:
        if not self.enabled:
            return None
        last = [0.0]

        def tick(seconds: float, stats: CallStats) -> None:
            text = (f"{label} running {seconds:5.0f} s: {stats.calls} metric call(s), "
                    f"{stats.pairs} pair(s), {stats.networks} network(s) embedded"
                    + (f", {stats.reference_seconds:.0f} s in the reference metric"
                       if stats.reference_seconds >= 1 else "")
                    + (f"; now: {stats.current}" if stats.current else ""))
            if self.tty:
                sys.stderr.write("\r" + text + "\033[K")
                sys.stderr.flush()
                self._pending = True
            elif seconds - last[0] >= degzoo.progress.LOG_INTERVAL:
                last[0] = seconds
                print(text, file=sys.stderr, flush=True)

        return tick
