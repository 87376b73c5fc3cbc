"""The report: degeneracy along the zoo's ladders, which of the paper's directions reproduce, scorecards.

Two steps, so that the expensive one can be shipped as reference results:

1. :func:`compute_ladder_degeneracy` measures every condition that a ladder of the release names
   (behaviour σ_OOD, mean pairwise DSA, mean pairwise permutation weight distance by default),
   with bootstrap CIs over members, and per ladder and metric: Spearman's ρ between the ladder's
   value and degeneracy, and Δ = degeneracy(last) − degeneracy(first), both with bootstrap CIs
   (members resampled within each condition), and a verdict against the paper's direction. It
   also stores joint pairwise matrices for MDS maps of ladders whose conditions share one task.
   The result is plain JSON.
2. :func:`render_report` turns that data (and optional scorecard result files) into one
   self-contained HTML page: figures are PNGs embedded as base64, no external assets.

Verdicts (per ladder × metric): *reproduces* when Δ's CI excludes 0 on the paper's side and ρ has
the paper's sign; *opposite* when Δ's CI excludes 0 on the other side; *inconclusive* otherwise;
*n/a* when a condition has no estimate or fell back to unconverged members.

(This module is the HTML report of ``degzoo report``; the terminal scorecard of ``degzoo
evaluate`` lives in :mod:`degzoo.benchmark.scorecard`.)
"""

from __future__ import annotations

import html
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from degzoo._version import __version__
from degzoo.benchmark.control import statistic_replicates
from degzoo.benchmark.scorecard import board_verdict
from degzoo.benchmark.scoring import RANKED_SUITES
from degzoo.benchmark.stats import score_dict, spearman_rows
from degzoo.engine import run_jobs
from degzoo.errors import InvalidParameterError
from degzoo.files import write_atomically
from degzoo.progress import heartbeat

__all__ = [
    "DEFAULT_METRICS",
    "PAPER_DIRECTIONS",
    "compute_ladder_degeneracy",
    "load_results",
    "render_report",
    "write_report",
]

DATA_FORMAT = "degzoo-ladder-degeneracy"
DATA_VERSION = 1

#: Reference metrics of the report and their parameters (all at their defaults).
DEFAULT_METRICS: dict[str, dict[str, Any]] = {
    "behaviour_ood": {},
    "dsa": {},
    "weights_perm": {},
}

_DOWN3 = {"dynamics": -1, "weights": -1, "behaviour": -1}
_COMPLEX = {"dynamics": -1, "weights": 1, "behaviour": -1}
#: PAPER-FACTS: direction of each level's degeneracy as the factor increases (+1 up, −1 down).
PAPER_DIRECTIONS: dict[str, dict[str, int]] = {
    "complexity": _COMPLEX,
    "memory": _COMPLEX,
    "aux": _COMPLEX,
    "feature_learning": {"dynamics": -1, "weights": 1, "behaviour": 1},
    "width": _DOWN3,
    "regularisation": _DOWN3,
}
FACTOR_LABELS = {
    "complexity": "task complexity (channels / bits, 2D→3D)",
    "memory": "memory demand (longer delay)",
    "aux": "auxiliary loss",
    "feature_learning": "feature learning γ (µP)",
    "width": "width at fixed γ (µP)",
    "regularisation": "L1 / nuclear-norm regularisation",
}
FACTOR_ORDER = ("complexity", "memory", "aux", "feature_learning", "width", "regularisation")
LEVEL_ORDER = ("dynamics", "weights", "behaviour", "representation")
ARROW = {-1: "↓", 1: "↑"}


# ------------------------------------------------------------------------------------------------
# computing
# ------------------------------------------------------------------------------------------------


def _make_metrics(metrics: Any) -> list[Any]:
    from degzoo.metrics import Metric, get

    if metrics is None:
        metrics = DEFAULT_METRICS
    out = []
    if isinstance(metrics, Mapping):
        items: Iterable[Any] = [(k, v) for k, v in metrics.items()]
    elif isinstance(metrics, (str, Metric)) or callable(metrics):
        items = [metrics]
    else:
        items = metrics
    for item in items:
        if isinstance(item, tuple):
            spec, params = item
            out.append(get(spec, **dict(params or {})))
        elif isinstance(item, str) and item in DEFAULT_METRICS:
            out.append(get(item, **DEFAULT_METRICS[item]))
        else:
            out.append(get(item))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"report: metrics must have distinct names, got {names}")
    return out


def _finite_members(params: Mapping[str, np.ndarray]) -> np.ndarray:
    ok = np.ones(params["W_hh"].shape[0], dtype=bool)
    for v in params.values():
        ok &= np.isfinite(v.reshape(v.shape[0], -1)).all(axis=1)
    return ok


def _measure_condition(root: str, cid: str, metrics: list[Any], max_members: int | None) -> dict[str, Any]:
    """Degeneracy inputs of one condition: per-member scores or pairwise matrices, per metric
    (none: only the condition's record, for metrics measured through a runner afterwards)."""
    import torch

    from degzoo.zoo import Release

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        rel = Release(root, verify=False)
        cond = rel.condition(cid)
        with rel.ensemble(cid) as ens:
            rec, used = _condition_record(ens, cond, max_members)
            if used.size < 2:
                return rec
            sub = ens.subset(used)
            for metric in metrics:
                t0 = time.perf_counter()
                try:
                    if hasattr(metric, "member_scores"):
                        entry: dict[str, Any] = {"scores": np.asarray(metric.member_scores(sub)).tolist()}
                    else:
                        entry = {"pairwise": np.asarray(metric.pairwise(sub)).tolist()}
                        if metric.level == "weights":  # the null: the same members before training
                            at_init = sub.with_params(sub.initial_params)
                            entry["initial_pairs"] = [float(metric.cross(at_init.subset([i]), at_init.subset(
                                [j]))[0, 0]) for i, j in enumerate(_next_member(len(at_init)))]
                    entry["seconds"] = round(time.perf_counter() - t0, 2)
                    rec["levels"][metric.name] = entry
                except Exception as exc:
                    rec["errors"][metric.name] = f"{exc.__class__.__name__}: {exc}"
    finally:
        torch.set_num_threads(threads)
    rec["seconds"] = round(time.perf_counter() - start, 2)
    return rec


def _condition_record(ens: Any, cond: Mapping[str, Any], max_members: int | None
                      ) -> tuple[dict[str, Any], np.ndarray]:
    """The record of one condition before any metric (members, convergence, the members used)."""
    status = np.asarray(ens.status)
    conv = np.flatnonzero(status == "converged")
    finite = np.flatnonzero(_finite_members(ens.params))
    converged_only = conv.size >= 2
    used = conv if converged_only else finite
    if max_members:
        used = used[:max_members]
    rec: dict[str, Any] = {
        "task": ens.task.to_dict(),
        "hidden": int(ens.architecture.hidden),
        "kind": ens.architecture.kind,
        "controls": cond.get("controls", []),
        "members": len(ens),
        "converged": int(conv.size),
        "diverged": int((status == "diverged").sum()),
        "converged_only": bool(converged_only),
        "used": [int(i) for i in used],
        "threshold": float(ens.task.mse_threshold),
        "levels": {},
        "errors": {},
    }
    loss = ens.members.get("final_loss")
    if loss is not None and np.isfinite(loss[used]).any():
        rec["final_loss_median"] = float(np.nanmedian(loss[used]))
    if used.size < 2:
        rec["errors"]["all"] = f"only {used.size} usable member(s)"
    return rec, used


def _measure_through_runners(rec: dict[str, Any], cid: str, runners: Mapping[str, Any]) -> None:
    """Add to ``rec`` the measurements of the metrics that have a runner: the distances it already
    holds (computed by the suites of ``degzoo evaluate``) are taken, what it lacks is computed
    through it (in its worker processes, and kept in its distance store)."""
    if "all" in rec["errors"]:
        return
    used = np.asarray(rec["used"], dtype=np.int64)
    start = time.perf_counter()
    for name, runner in runners.items():
        t0 = time.perf_counter()
        try:
            if runner.behaviour:
                entry: dict[str, Any] = {"scores": runner.member_scores(cid, used).tolist()}
            else:
                entry = {"pairwise": runner.within(cid, used).tolist()}
                if runner.metric.level == "weights":  # the null: the same members before training
                    sub = runner.sub(cid, used)
                    init = sub.with_params(sub.initial_params)
                    key = ("initial", cid, tuple(int(i) for i in used))
                    entry["initial_pairs"] = runner.paired(key, init, key, init,
                                                           _next_member(len(init))).tolist()
            entry["seconds"] = round(time.perf_counter() - t0, 2)
            rec["levels"][name] = entry
        except Exception as exc:
            rec["errors"][name] = f"{exc.__class__.__name__}: {exc}"
    rec["seconds"] = round(rec.get("seconds", 0.0) + time.perf_counter() - start, 2)


def _next_member(n: int) -> np.ndarray:
    """The weight null's pairs, member i with member i + 1 (the last with the first): n pairs of
    random initial networks, whose mean distance equals the n(n - 1)/2 pairs' to 4-5 digits
    (zoo-v2) at a fraction of the cost (random weights are the alignment search's worst case)."""
    return np.roll(np.arange(n), -1)


def _known_cross(runner: Any, cids: list[str], used: list[list[int]]) -> dict[tuple[int, int], np.ndarray]:
    """The cross blocks of a map that ``runner`` already holds (computed by the suites)."""
    if runner is None:
        return {}
    known = {}
    for a in range(len(cids)):
        for b in range(a + 1, len(cids)):
            block = runner.known_between(cids[a], used[a], cids[b], used[b])
            if block is not None:
                known[(a, b)] = block
    return known


def _usable_runners(runners: Mapping[str, Any] | None, metrics: list[Any], rel: Any) -> dict[str, Any]:
    """The runners given for ``metrics`` (same identity, same release), ready for calls outside any
    suite: no deadline, their own counters."""
    from degzoo.benchmark.store import CallStats, Deadline

    out = {}
    for metric in metrics:
        runner = (runners or {}).get(metric.name)
        if runner is None or getattr(runner.release, "sha256", None) != rel.sha256:
            continue
        if dict(runner.metric.identity) != dict(metric.identity):
            continue
        runner.deadline, runner.stats, runner.total = Deadline(None), CallStats(), CallStats()
        runner.reference = False
        out[metric.name] = runner
    return out


class _ConditionCache:
    """One JSON file per measured condition, under a header naming what made it: the metrics, the
    members used and the condition's networks (the sha256 of its shard), not the release they came
    in, so that a snapshot of a build in progress reuses what an earlier snapshot measured.

    Files hold the record as :func:`_measure_condition` returns it (non-finite floats kept, so a
    reused record is exactly the computed one). Records with a metric error are not kept: the
    error may be passing, and recomputing it costs only that condition. Files of version 1 (keyed
    by the whole release's manifest) are read when they name this release's manifest.
    """

    VERSION = 2

    def __init__(self, folder: str | os.PathLike[str], rel: Any, metrics: list[Any],
                 max_members: int | None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.rel = rel
        self.common = json.loads(json.dumps(_clean({
            "format": "degzoo-ladder-condition", "degzoo_version": __version__,
            "metrics": [m.identity for m in metrics], "max_members": max_members,
        })))

    def header(self, cid: str) -> dict[str, Any]:
        shard = self.rel.manifest["files"][self.rel.condition(cid)["file"]]["sha256"]
        return {**self.common, "version": self.VERSION, "condition": cid, "shard_sha256": shard}

    def _v1_header(self) -> dict[str, Any]:
        return {**self.common, "version": 1, "release": self.rel.name, "manifest_sha256": self.rel.sha256}

    def load(self, cid: str) -> dict[str, Any] | None:
        """The cached record of ``cid``, or None when there is none; an error when it cannot be used."""
        path = self.folder / f"{cid}.json"
        if not path.exists():
            return None
        try:
            doc = json.loads(path.read_text("utf-8"))
            header, record = doc["header"], doc["record"]
            expected = self._v1_header() if header.get("version") == 1 else self.header(cid)
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InvalidParameterError(
                f"report cache {path} cannot be read ({exc.__class__.__name__}: {exc}); delete it to "
                "measure that condition again") from None
        if header != expected:
            differ = sorted(k for k in set(header) | set(expected) if header.get(k) != expected.get(k))
            raise InvalidParameterError(
                f"report cache {path} was made with other settings ({', '.join(differ)} differ); "
                "use another cache folder, or delete its files to measure again")
        return record

    def save(self, cid: str, record: dict[str, Any]) -> None:
        if set(record["errors"]) - {"all"}:
            return
        write_atomically(self.folder / f"{cid}.json",
                         json.dumps({"header": self.header(cid), "record": record}) + "\n")


def _joint_matrix(root: str, cids: list[str], used: list[list[int]], metric: Any,
                  blocks: list[np.ndarray | None],
                  known: Mapping[tuple[int, int], np.ndarray] | None = None) -> dict[str, Any]:
    """Distances between all chosen members of several conditions (one task): for an MDS map.
    ``blocks``: each condition's own distances; ``known``: cross blocks ``(a, b)`` already computed
    (by the suites), the others are computed here."""
    import torch

    from degzoo.metrics.base import check_comparable, check_distances
    from degzoo.zoo import Release

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    try:
        rel = Release(root, verify=False)
        subs = []
        for cid, idx in zip(cids, used, strict=True):
            with rel.ensemble(cid) as ens:
                subs.append(ens.subset(idx))
        for s in subs[1:]:
            check_comparable(metric, subs[0], s)
        known = known or {}
        needed = {i for a in range(len(subs)) for b in range(a + 1, len(subs)) if (a, b) not in known
                  for i in (a, b)} | {a for a, block in enumerate(blocks) if block is None}
        embs = [metric.embed(s) if i in needed else None for i, s in enumerate(subs)]
        sizes = [len(s) for s in subs]
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        total = int(offsets[-1])
        mat = np.zeros((total, total))
        for a in range(len(subs)):
            for b in range(a, len(subs)):
                if a == b:
                    block = blocks[a] if blocks[a] is not None else metric.compare(embs[a], embs[a], True)
                elif (a, b) in known:
                    block = known[(a, b)]
                else:
                    block = np.asarray(metric.compare(embs[a], embs[b], False), dtype=np.float64)
                    check_distances(metric, block, (sizes[a], sizes[b]))
                sa, sb = slice(offsets[a], offsets[a + 1]), slice(offsets[b], offsets[b + 1])
                mat[sa, sb] = block
                mat[sb, sa] = np.asarray(block).T
        np.fill_diagonal(mat, 0.0)
        labels = np.repeat(np.arange(len(subs)), sizes)
        return {"matrix": mat.tolist(), "labels": labels.tolist(),
                "seconds": round(time.perf_counter() - start, 2)}
    except InvalidParameterError as exc:  # the metric cannot compare these networks (e.g. other widths)
        return {"skipped": str(exc), "seconds": round(time.perf_counter() - start, 2)}
    except Exception as exc:
        return {"error": f"{exc.__class__.__name__}: {exc}", "seconds": round(time.perf_counter() - start, 2)}
    finally:
        torch.set_num_threads(threads)


def _parallel(calls: list[tuple[Callable[..., Any], tuple]], workers: int) -> Iterable[tuple[int, Any]]:
    """``(i, fn(*args))`` for every call, in order of completion, on the package's engine."""
    yield from run_jobs(_indexed, [(i, fn, args) for i, (fn, args) in enumerate(calls)], workers=workers)


def _indexed(i: int, fn: Callable[..., Any], args: tuple) -> tuple[int, Any]:
    return i, fn(*args)


def _cond_rng(seed: int, cid: str) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(cid.encode())])


def _verdict(expected: int | None, delta: dict | None, rho: dict | None, usable: bool) -> str:
    if expected is None or delta is None or rho is None or not usable:
        return "n/a"
    if delta["low"] > 0 or delta["high"] < 0:
        sign = 1 if delta["low"] > 0 else -1
        if sign != expected:
            return "opposite"
        return "reproduces" if np.sign(rho["value"]) == expected else "inconclusive"
    return "inconclusive"


def compute_ladder_degeneracy(
    release: Any = None,
    metrics: Any = None,
    *,
    max_members: int | None = None,
    seed: int = 0,
    n_boot: int = 1000,
    confidence: float = 0.95,
    maps: bool = True,
    map_members: int = 6,
    ladders: Sequence[str] | None = None,
    workers: int = 1,
    progress: bool | Callable[[str], None] = False,
    cache: str | os.PathLike[str] | None = None,
    runners: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Degeneracy of every ladder condition of ``release`` under ``metrics``, with CIs (plain JSON).

    ``release``: a :class:`degzoo.zoo.Release`, a release folder, or None for the embedded zoo.
    ``metrics``: registered names (default: :data:`DEFAULT_METRICS` with their parameters),
    ``(name, params)`` pairs, a ``{name: params}`` dict or Metric instances. Each condition uses
    its converged members (the first ``max_members`` by index when given — recorded in the output;
    it keeps DSA and the permutation distance tractable); when fewer than 2 converged, it falls
    back to its members with finite weights and says so. ``maps``: joint pairwise matrices of
    ``map_members`` members per condition for the ladders whose conditions share one task.
    ``ladders``: restrict to these ladder names. ``workers``: local processes.
    ``cache``: a folder that keeps each condition's measurements (``<condition>.json``) as soon as
    they are made, so that a stopped report resumes where it was and a long one can be committed
    piece by piece; a file made with another release, metric set, member count or degzoo version
    is an error, never silently reused. ``runners``: metric name → the
    :class:`~degzoo.benchmark.store.MetricRunner` that scored that metric (same parameters) on this
    release, as ``degzoo evaluate`` hands them over: the distances its suites computed are reused,
    and what they lack is computed through it — one measurement cache for the suites and the report.
    """
    from degzoo.zoo import Release, open_release

    say = progress if callable(progress) else (
        (lambda line: print(line, file=sys.stderr, flush=True)) if progress else (lambda line: None))
    rel = release if isinstance(release, Release) else open_release(release)
    metric_objs = _make_metrics(metrics)
    if max_members is not None and (not isinstance(max_members, int) or max_members < 2):
        raise InvalidParameterError(f"max_members must be an integer >= 2 or None, got {max_members!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise InvalidParameterError(f"n_boot must be an integer >= 10 (bootstrap resamples), got {n_boot!r}")
    all_ladders = rel.ladders
    if ladders is not None:
        unknown = sorted(set(ladders) - {lad["name"] for lad in all_ladders})
        if unknown:
            raise InvalidParameterError(
                f"release {rel.name!r} has no ladder(s) {unknown}; it has "
                f"{', '.join(lad['name'] for lad in all_ladders) or 'none'}"
            )
        all_ladders = [lad for lad in all_ladders if lad["name"] in ladders]
    if not all_ladders:
        raise InvalidParameterError(f"release {rel.name!r} declares no ladders: nothing to report")
    cids = list(dict.fromkeys(cid for lad in all_ladders for cid in lad["conditions"]))
    root = str(rel.root)
    start = time.perf_counter()
    say(f"measuring {len(cids)} conditions of {rel.name} with {', '.join(m.name for m in metric_objs)}")
    conditions: dict[str, Any] = {}
    store = None if cache is None else _ConditionCache(cache, rel, metric_objs, max_members)
    if store is not None:
        conditions = {cid: rec for cid in cids if (rec := store.load(cid)) is not None}
        if conditions:
            say(f"  {len(conditions)} condition(s) from {store.folder}")
    todo = [cid for cid in cids if cid not in conditions]
    through = _usable_runners(runners, metric_objs, rel)
    pooled = [m for m in metric_objs if m.name not in through]
    if through:
        say(f"  {', '.join(through)}: from the distances the suites computed (the rest measured now)")
    calls = [(_measure_condition, (root, cid, pooled, max_members)) for cid in todo]
    with heartbeat(f"measuring {len(todo)} conditions", say):
        for done, (i, rec) in enumerate(_parallel(calls, workers if pooled else 1), 1):
            _measure_through_runners(rec, todo[i], through)
            conditions[todo[i]] = rec
            if store is not None:
                store.save(todo[i], rec)
            say(f"  [{done}/{len(todo)}] {todo[i]}: {len(rec['used'])} members, {rec.get('seconds', 0):.0f} s"
                + (f" — errors: {rec['errors']}" if rec["errors"] else ""))
    conditions = {cid: conditions[cid] for cid in cids}
    measured_at = time.perf_counter()

    # per-condition estimates and bootstrap replicates (same replicates in every ladder)
    reps: dict[tuple[str, str], np.ndarray] = {}
    for cid, rec in conditions.items():
        n = len(rec["used"])
        idx = _cond_rng(seed, cid).integers(0, max(n, 1), size=(n_boot, n)) if n else None
        for name, entry in rec["levels"].items():
            kind = "scores" if "scores" in entry else "pairwise"
            data = np.asarray(entry[kind], dtype=np.float64)
            value = float(statistic_replicates(data, kind, np.arange(n)[None])[0])
            r = statistic_replicates(data, kind, idx)
            reps[(cid, name)] = r
            entry["estimate"] = score_dict(value, r, n, confidence)
            if "initial_pairs" in entry:  # n pairs (member i, member i + 1), resampled by member
                pairs = np.asarray(entry["initial_pairs"], dtype=np.float64)
                entry["initial_estimate"] = score_dict(float(pairs.mean()), pairs[idx].mean(axis=1), n,
                                                       confidence)
            elif "initial_pairwise" in entry:  # all pairs, as records of degzoo <= 0.1 measured it
                null = np.asarray(entry["initial_pairwise"], dtype=np.float64)
                entry["initial_estimate"] = score_dict(
                    float(statistic_replicates(null, "pairwise", np.arange(n)[None])[0]),
                    statistic_replicates(null, "pairwise", idx), n, confidence)

    ladder_out = []
    for lad in all_ladders:
        entry: dict[str, Any] = {k: lad[k] for k in ("name", "factor", "conditions", "values")}
        entry["levels"] = {}
        values = np.asarray(lad["values"], dtype=np.float64)
        for m in metric_objs:
            expected = PAPER_DIRECTIONS.get(lad["factor"], {}).get(m.level)
            ests = [conditions[c]["levels"].get(m.name, {}).get("estimate") for c in lad["conditions"]]
            usable = all(conditions[c]["converged_only"] for c in lad["conditions"])
            stats: dict[str, Any] = {"expected": expected, "level": m.level}
            if all(e is not None for e in ests):
                point = np.array([e["value"] for e in ests])
                r = np.stack([reps[(c, m.name)] for c in lad["conditions"]], axis=1)
                rho0 = float(spearman_rows(values, point[None])[0])
                stats["spearman"] = score_dict(rho0, spearman_rows(values, r), len(values), confidence)
                stats["delta"] = score_dict(float(point[-1] - point[0]), r[:, -1] - r[:, 0],
                                        len(values), confidence)
            else:
                missing = [c for c, e in zip(lad["conditions"], ests, strict=True) if e is None]
                stats["note"] = f"no estimate for {', '.join(missing)}"
            if not usable:
                weak = [c for c in lad["conditions"] if not conditions[c]["converged_only"]]
                stats["note"] = (stats.get("note", "") + "; " if stats.get("note") else "") + (
                    f"fewer than 2 converged members in {', '.join(weak)}")
            stats["verdict"] = _verdict(expected, stats.get("delta"), stats.get("spearman"), usable)
            entry["levels"][m.name] = stats
        ladder_out.append(entry)

    map_out = []
    if maps and map_members >= 2:
        calls, keys = [], []
        for lad in all_ladders:
            conds = [conditions[c] for c in lad["conditions"]]
            if len({json.dumps(c["task"], sort_keys=True) for c in conds}) != 1:
                continue
            used = [c["used"][:map_members] for c in conds]
            if min(len(u) for u in used) < 2:
                continue
            for m in metric_objs:
                if m.level == "behaviour" or any(m.name not in c["levels"] for c in conds):
                    continue
                blocks = [np.asarray(c["levels"][m.name]["pairwise"])[: len(u), : len(u)]
                          for c, u in zip(conds, used, strict=True)]
                known = _known_cross(through.get(m.name), list(lad["conditions"]), used)
                calls.append((_joint_matrix, (root, list(lad["conditions"]), used, m, blocks, known)))
                keys.append((lad, m))
        if calls:
            say(f"joint distance matrices for {len(calls)} MDS map(s)")
        for i, res in _parallel(calls, workers):
            lad, m = keys[i]
            res.update(ladder=lad["name"], metric=m.name, level=m.level,
                       conditions=list(lad["conditions"]),
                       used=[conditions[c]["used"][:map_members] for c in lad["conditions"]])
            map_out.append(res)
        order = {(lad["name"], m.name): j for j, (lad, m) in enumerate(keys)}
        map_out.sort(key=lambda r: order[(r["ladder"], r["metric"])])

    manifest = rel.manifest
    return _clean({
        "format": DATA_FORMAT,
        "version": DATA_VERSION,
        "degzoo_version": __version__,
        "created": datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
        "release": {
            "name": rel.name,
            "manifest_sha256": rel.sha256,
            "degzoo_version": manifest.get("degzoo_version"),
            "conditions": len(rel.conditions),
            "build": manifest.get("build", {}),
        },
        "settings": {
            "max_members": max_members,
            "member_rule": "converged members in index order"
            + (f", the first {max_members}" if max_members else "")
            + "; all members with finite weights when fewer than 2 converged (flagged)",
            "seed": seed, "n_boot": n_boot, "confidence": confidence,
            "map_members": map_members if maps else 0,
        },
        "metrics": [{**m.identity} for m in metric_objs],
        "conditions": conditions,
        "ladders": ladder_out,
        "maps": map_out,
        "cost": {"seconds": round(time.perf_counter() - start, 1),
                 "conditions_wall_seconds": round(measured_at - start, 1),
                 "condition_seconds": round(sum(c.get("seconds", 0) for c in conditions.values()), 1),
                 "map_seconds": round(sum(m.get("seconds", 0) for m in map_out), 1),
                 "workers": workers},
    })


def _clean(obj: Any) -> Any:
    """Strict JSON: tuples to lists, numpy scalars to Python, non-finite floats to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    if obj is None or isinstance(obj, (str, int, bool)):
        return obj
    return str(obj)


def load_results(directory: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Every ``*.json`` in ``directory``, sorted by name, for the scorecards section.

    Nothing is dropped silently: a file that is not JSON or not a result becomes an entry with an
    ``_error`` (the page says it was skipped), and a result that does not validate against the
    results schema keeps its problems in ``_invalid`` (the page shows them above its table).
    """
    from degzoo.benchmark.results import validate_result

    root = Path(directory)
    if not root.is_dir():
        raise InvalidParameterError(f"results folder {root}: not a folder")
    out: list[dict[str, Any]] = []
    for path in sorted(root.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            out.append({"_file": path.name, "_error": f"not readable JSON ({exc})"})
            continue
        if not isinstance(data, dict) or data.get("kind") not in ("metric", "control"):
            out.append({"_file": path.name, "_error": "not a degzoo result file (no kind metric/control)"})
            continue
        problems = validate_result(data, raise_on_error=False)
        if problems:
            data["_invalid"] = "; ".join(problems)
        data["_file"] = path.name
        out.append(data)
    return out


# ------------------------------------------------------------------------------------------------
# rendering
# ------------------------------------------------------------------------------------------------

E = html.escape

CSS = """
body{font-family:-apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:#24292f;
 margin:0;background:#f6f8fa;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px;background:#fff;box-sizing:border-box;
 overflow-wrap:anywhere}
h1{font-size:26px;margin:0 0 4px}h2{font-size:20px;margin:34px 0 8px;border-bottom:1px solid #d0d7de;
 padding-bottom:4px}h3{font-size:16px;margin:22px 0 6px}
p.lead{color:#57606a;margin:0 0 14px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 14px;display:block;max-width:100%;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f6f8fa;font-weight:600}td.num{font-variant-numeric:tabular-nums;white-space:nowrap}
.badge{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;font-weight:600;color:#fff;
 white-space:nowrap}
.reproduces{background:#1a7f37}.opposite{background:#cf222e}.inconclusive{background:#6e7781}
.mixed{background:#bf8700}td.id{white-space:nowrap}h4{font-size:14px;margin:16px 0 0}
.na{background:#afb8c1}.ok{background:#1a7f37}.failed,.error{background:#cf222e}.partial{background:#bf8700}
.timeout,.incomplete{background:#bf8700}.skipped,.unknown{background:#6e7781}
.meta td:first-child{font-weight:600;background:#f6f8fa}
img{max-width:100%;display:block;margin:6px 0 2px}
.caption{font-size:12.5px;color:#57606a;margin:0 0 16px}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 10px;border-radius:6px;font-size:13px}
code{font-size:12.5px;background:#f6f8fa;padding:0 3px;border-radius:3px}
details summary{cursor:pointer;font-weight:600;margin:8px 0}
.small{font-size:12px;color:#57606a}
"""


def _fmt(x: float | None, signed: bool = False) -> str:
    if x is None:
        return "n/a"
    return f"{x:+.3g}" if signed else f"{x:.3g}"


def _ci(s: Mapping[str, Any] | None, signed: bool = False) -> str:
    if not s:
        return "n/a"
    return f"{_fmt(s['value'], signed)} [{_fmt(s['low'], signed)}, {_fmt(s['high'], signed)}]"


def _badge(verdict: str) -> str:
    cls = {"n/a": "na"}.get(verdict, verdict.replace(" ", "-"))
    return f'<span class="badge {E(cls)}">{E(verdict)}</span>'


def _badge_status(status: str) -> str:
    """A suite's status (ok, failed, error, timeout, skipped) or a result's (incomplete) as a badge."""
    known = ("ok", "failed", "error", "timeout", "skipped", "incomplete", "partial")
    return f'<span class="badge {status if status in known else "unknown"}">{E(status)}</span>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{E(alt)}">'


def _metric_list(data: Mapping[str, Any]) -> list[dict[str, Any]]:
    metrics = list(data.get("metrics", []))
    return sorted(metrics, key=lambda m: LEVEL_ORDER.index(m["level"]) if m["level"] in LEVEL_ORDER else 9)


def _directions_table(data: Mapping[str, Any]) -> str:
    metrics = _metric_list(data)
    by_factor: dict[str, list[dict[str, Any]]] = {}
    for lad in data["ladders"]:
        by_factor.setdefault(lad["factor"], []).append(lad)
    rows = []
    head = ("<tr><th>factor ↑</th><th>level</th><th>paper</th><th>ladder</th>"
            "<th>Spearman ρ [95% CI]</th><th>Δ = last − first [95% CI]</th><th>verdict</th>"
            "<th>on this zoo</th></tr>")
    for factor in sorted(by_factor, key=lambda f: FACTOR_ORDER.index(f) if f in FACTOR_ORDER else 99):
        lads = by_factor[factor]
        factor_rows = []
        for m in metrics:
            exp = PAPER_DIRECTIONS.get(factor, {}).get(m["level"])
            verdicts = [lad["levels"].get(m["name"], {}).get("verdict", "n/a") for lad in lads]
            n_rep = verdicts.count("reproduces")
            n_opp = verdicts.count("opposite")
            n_def = sum(v != "n/a" for v in verdicts)
            if n_def == 0:
                overall = "n/a"
            elif n_rep == n_def:
                overall = "reproduces"
            elif n_opp and n_rep:
                overall = "mixed"
            elif n_opp:
                overall = "opposite"
            else:
                overall = "inconclusive"
            summary = (f"{_badge(overall)}<br><span class='small'>{n_rep}/{len(lads)} ladder(s) "
                       f"reproduce, {n_opp} opposite</span>")
            for j, lad in enumerate(lads):
                st = lad["levels"].get(m["name"], {})
                note = f"<br><span class='small'>{E(st['note'])}</span>" if st.get("note") else ""
                cells = (f"<td>{E(lad['name'])}</td><td class='num'>{_ci(st.get('spearman'), True)}</td>"
                         f"<td class='num'>{_ci(st.get('delta'), True)}</td>"
                         f"<td>{_badge(st.get('verdict', 'n/a'))}{note}</td>")
                lead = ""
                if j == 0:
                    lead = (f"<td rowspan='{len(lads)}'>{E(m['level'])}<br><span class='small'>"
                            f"{E(m['name'])}</span></td><td rowspan='{len(lads)}' style='font-size:18px;"
                            f"text-align:center'>{ARROW.get(exp, '–')}</td>")
                tail = f"<td rowspan='{len(lads)}'>{summary}</td>" if j == 0 else ""
                factor_rows.append((lead, cells, tail))
        for k, (lead, cells, tail) in enumerate(factor_rows):
            first = (f"<td rowspan='{len(factor_rows)}'><b>{E(FACTOR_LABELS.get(factor, factor))}</b></td>"
                     if k == 0 else "")
            rows.append(f"<tr>{first}{lead}{cells}{tail}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _conditions_table(data: Mapping[str, Any]) -> str:
    metrics = _metric_list(data)
    head = ("<tr><th>condition</th><th>task</th><th>width</th><th>controls</th><th>converged</th>"
            "<th>used</th>" + "".join(f"<th>{E(m['level'])}<br><span class='small'>{E(m['name'])}"
                                      "</span></th>" for m in metrics) + "</tr>")
    rows = []
    for cid, c in data["conditions"].items():
        task = ", ".join(f"{k}={v}" for k, v in c["task"].items() if k != "name")
        controls = ", ".join(
            f"{ctl.get('name')}(" + ", ".join(f"{k}={v}" for k, v in ctl.items() if k != "name") + ")"
            for ctl in c.get("controls", [])) or "—"
        flag = "" if c.get("converged_only") else " ⚠"
        errors = c.get("errors", {})
        cells = "".join(
            f"<td class='num'>{_ci(c['levels'].get(m['name'], {}).get('estimate'))}"
            + _initial_null(c["levels"].get(m["name"], {}))
            + (f"<br><span class='small'>{E(errors[m['name']])}</span>" if m["name"] in errors else "")
            + "</td>" for m in metrics)
        rows.append(
            f"<tr><td class='id'>{E(cid)}</td>"
            f"<td>{E(c['task']['name'])}<br><span class='small'>{E(task)}</span></td>"
            f"<td class='num'>{int(c['hidden'])}</td><td>{E(controls)}</td>"
            f"<td class='num'>{int(c['converged'])}/{int(c['members'])}{flag}</td>"
            f"<td class='num'>{len(c['used'])}</td>{cells}</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _initial_null(level: Mapping[str, Any]) -> str:
    """The weight-level null beside a value: the same distance between the members' initial weights
    (the mean over pairs of consecutive members)."""
    null, trained = level.get("initial_estimate"), level.get("estimate")
    if not null or not trained or not null["value"]:
        return ""
    return (f"<br><span class='small'>at init {_ci(null)} · trained/init "
            f"×{trained['value'] / null['value']:.2f}</span>")


def _ladder_section(data: Mapping[str, Any]) -> str:
    from degzoo.benchmark.figures import ladder_figure

    metrics = _metric_list(data)
    parts = []
    by_factor: dict[str, list[dict[str, Any]]] = {}
    for lad in data["ladders"]:
        by_factor.setdefault(lad["factor"], []).append(lad)
    for factor in sorted(by_factor, key=lambda f: FACTOR_ORDER.index(f) if f in FACTOR_ORDER else 99):
        parts.append(f"<h3>{E(FACTOR_LABELS.get(factor, factor))}</h3>")
        for lad in by_factor[factor]:
            uri = ladder_figure(lad, data["conditions"], metrics)
            conds = " → ".join(f"{c} ({v:g})" for c, v in zip(lad["conditions"], lad["values"], strict=True))
            parts.append(f"<h4>{E(lad['name'])}</h4>")
            parts.append(_img(uri, f"degeneracy along ladder {lad['name']}"))
            parts.append(f"<p class='caption'>{E(conds)}. Points: ensemble degeneracy with its 95% "
                         "bootstrap CI over members; hollow markers: fewer than 2 converged members "
                         "(unconverged members used).</p>")
    return "".join(parts)


def _maps_section(data: Mapping[str, Any]) -> str:
    from degzoo.benchmark.figures import classical_mds, mds_figure

    parts = []
    by_ladder: dict[str, list[dict[str, Any]]] = {}
    for entry in data.get("maps", []):
        by_ladder.setdefault(entry["ladder"], []).append(entry)
    for ladder, entries in by_ladder.items():
        panels, notes = [], []
        for entry in entries:
            if "skipped" in entry:
                notes.append(f"no {entry['level']} map: {entry['metric']} does not compare the networks of "
                             f"this ladder with each other ({entry['skipped']})")
                continue
            if "error" in entry:
                notes.append(f"no {entry['level']} map: {entry['metric']} failed on it ({entry['error']})")
                continue
            coords, explained = classical_mds(np.asarray(entry["matrix"]))
            panels.append({"title": f"{entry['level']} [{entry['metric']}]", "groups": entry["conditions"],
                           "coords": coords, "labels": entry["labels"],
                           "note": f"2 dims explain {explained:.0%}"})
        if panels:
            parts.append(f"<h3>{E(ladder)}</h3>")
            parts.append(_img(mds_figure(panels), f"MDS maps of ladder {ladder}"))
            per = len(entries[0].get("used", [[]])[0]) if entries else 0
            parts.append(f"<p class='caption'>Classical MDS of the joint pairwise distances between "
                         f"{per} members per condition, coloured by condition.</p>")
        for note in notes:
            parts.append(f"<p class='small'>{E(ladder)}: {E(note)}.</p>")
    # within-condition maps for ladders whose conditions differ in task (no cross distances exist)
    mapped = set(by_ladder)
    for lad in data["ladders"]:
        if lad["name"] in mapped:
            continue
        metrics = [m for m in _metric_list(data) if m["level"] != "behaviour"]
        panels = []
        for m in metrics:
            coords_all, labels, groups = [], [], []
            for cid in lad["conditions"]:
                pw = data["conditions"][cid]["levels"].get(m["name"], {}).get("pairwise")
                if pw is None or len(pw) < 3:
                    continue
                coords, _ = classical_mds(np.asarray(pw))
                coords_all.append(coords)
                labels += [len(groups)] * len(coords)
                groups.append(cid)
            if coords_all:
                panels.append({"title": f"{m['level']} [{m['name']}]", "groups": groups,
                               "coords": np.concatenate(coords_all), "labels": labels,
                               "note": "separate maps, common scale"})
        if panels:
            tasks = {json.dumps(data["conditions"][cid].get("task"), sort_keys=True)
                     for cid in lad["conditions"]}
            why = ("Its conditions are different tasks, so no distances exist between their members"
                   if len(tasks) > 1 else "This data holds no joint distances for this ladder (they "
                   "were not computed: maps off, or too few members)")
            parts.append(f"<h3>{E(lad['name'])} <span class='small'>(within-condition maps)</span></h3>")
            parts.append(_img(mds_figure(panels), f"within-condition MDS maps of ladder {lad['name']}"))
            parts.append(f"<p class='caption'>{E(why)}: each condition's members are mapped on their "
                         "own (centred at 0) on a common scale — the spread is the degeneracy.</p>")
    return "".join(parts) or "<p>No MDS maps in this data.</p>"


def _scorecards(results: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for res in results:
        fname = res.get("_file", "")
        if "_error" in res:
            parts.append(f"<p class='warn'>{E(fname)}: skipped — {E(res['_error'])}</p>")
            continue
        kind = res.get("kind")
        ident = res.get(kind, {}) if kind in ("metric", "control") else {}
        name = ident.get("name", "?")
        params = ident.get("params", {})
        ptxt = ", ".join(f"{k}={v}" for k, v in params.items()) if isinstance(params, dict) else str(params)
        zoo = res.get("zoo", {})
        verdict = board_verdict(res) if kind == "metric" else None
        mark = _badge_status("incomplete") if verdict is not None and verdict.incomplete else ""
        parts.append(f"<h3>{E(kind or '?')}: {E(str(name))} <span class='small'>"
                     f"({E(ptxt) or 'default parameters'})</span> {mark}</h3>")
        parts.append(f"<p class='small'>{E(fname)} · zoo {E(str(zoo.get('release')))} "
                     f"<code>{E(str(zoo.get('manifest_sha256', ''))[:12])}</code> · degzoo "
                     f"{E(str(res.get('degzoo_version')))} · {E(str(res.get('created')))}</p>")
        if res.get("_invalid"):
            parts.append(f"<p class='warn'>does not validate: {E(res['_invalid'])}</p>")
        if kind == "control":
            parts.append(_control_grid(res))
            continue
        rows = []
        summary = res.get("summary", {}) if isinstance(res.get("summary"), dict) else {}
        for suite, s in res.get("suites", {}).items():
            scores = s.get("scores", {})
            if kind == "control":
                keys = [k for k in scores if k.endswith(("_change", "_ratio")) or k.startswith("converged_")]
            else:
                # the main scores of a metric are those its summary lists for this suite
                main = [k.split(".", 1)[1] for k in summary if k.startswith(f"{suite}.")]
                keys = [k for k in main if k in scores] or list(scores)[:6]
            shown = "<br>".join(
                f"{E(k)}: {_ci(scores[k], signed=k.endswith('_change'))}" for k in keys[:12])
            rest = len(scores) - min(len(keys), 12)
            if rest > 0:
                shown += f"<br><span class='small'>… {rest} more score(s) in the file</span>"
            status = str(s.get("status", "?"))
            msg = f"<br><span class='small'>{E(str(s.get('message')))}</span>" if s.get("message") else ""
            rows.append(f"<tr><td>{E(suite)}</td><td>{_badge_status(status)}"
                        f"{msg}</td><td class='num'>{shown}</td></tr>")
        if verdict is not None and verdict.incomplete:
            how = (f" Complete it with <code>{E(verdict.complete_with)}</code>."
                   if verdict.complete_with else " Run it again with --resume to complete it.")
            parts.append(f"<p class='warn'>⚠ Incomplete: suite(s) {E(', '.join(verdict.incomplete))} did "
                         f"not finish, so this result has no board score yet.{how}</p>")
        if verdict is not None and verdict.not_rankable:
            parts.append(f"<p class='warn'>Not rankable: scored with another protocol than the board's "
                         f"({E('; '.join(verdict.not_rankable))}); no board score.</p>")
        if verdict is not None and verdict.score is not None:
            value, low, high = verdict.score
            parts.append(f"<p><b>Board score {value:.3f}</b> [{low:.3f}, {high:.3f}] (95 %; higher is "
                         f"better): the mean of the main scores of {E(', '.join(RANKED_SUITES))}, each in "
                         "[0, 1]; the scores shown per suite are its main scores.</p>")
        parts.append("<table><tr><th>suite</th><th>status</th><th>main scores [95% CI]</th></tr>"
                     + "".join(rows) + "</table>")
    return "".join(parts) or "<p>No result files.</p>"


def _control_grid(res: Mapping[str, Any]) -> str:
    """A control result: per condition, training outcome and each level's change (method − baseline)."""
    levels = ("behaviour", "dynamics", "weights")
    head = ("<tr><th>condition</th><th>status</th><th>converged<br>baseline / method</th>"
            + "".join(f"<th>{E(lvl)}: change [95% CI]<br><span class='small'>ratio method / baseline"
                      "</span></th>" for lvl in levels) + "</tr>")
    rows = []
    for suite, s in res.get("suites", {}).items():
        scores, det = s.get("scores", {}), s.get("details", {})

        def conv(arm: str, det: Mapping[str, Any] = det) -> str:
            a = det.get(arm, {})
            if "converged" not in a:
                return "error"
            div = f" ({a['diverged']} div.)" if a.get("diverged") else ""
            return f"{int(a['converged'])}/{int(a['members'])}{E(div)}"

        matched = "" if det.get("performance_matched") else "<br><span class='small'>⚠ not matched</span>"
        cells = []
        for lvl in levels:
            ch, ratio = scores.get(f"{lvl}_change"), scores.get(f"{lvl}_ratio")
            arrow = ""
            if ch:
                arrow = " ↓" if ch["high"] < 0 else (" ↑" if ch["low"] > 0 else " ≈")
            rtxt = ""
            if ratio:
                rtxt = (f"<br><span class='small'>×{ratio['value']:.2f} "
                        f"[{ratio['low']:.2f}, {ratio['high']:.2f}]</span>")
            cells.append(f"<td class='num'>{_ci(ch, signed=True)}{arrow}{rtxt}</td>")
        status = str(s.get("status", "?"))
        msg = f"<br><span class='small'>{E(str(s.get('message')))}</span>" if s.get("message") else ""
        rows.append(f"<tr><td class='id'>{E(suite)}</td><td>{_badge_status(status)}"
                    f"{msg}</td><td class='num'>{conv('baseline')} / {conv('method')}{matched}</td>"
                    + "".join(cells) + "</tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def render_report(ladder_data: Mapping[str, Any], results: Sequence[Mapping[str, Any]] = (),
                  release_info: Mapping[str, Any] | None = None, *, title: str | None = None) -> str:
    """One self-contained HTML page from :func:`compute_ladder_degeneracy` data and result files."""
    if ladder_data.get("format") != DATA_FORMAT:
        raise InvalidParameterError("render_report: ladder_data is not compute_ladder_degeneracy output")
    info = dict(ladder_data.get("release", {}))
    info.update(release_info or {})
    settings = ladder_data.get("settings", {})
    metrics = _metric_list(ladder_data)
    title = title or f"degzoo report — {info.get('name', 'zoo')}"
    n_cond = len(ladder_data["conditions"])
    unconverged = [cid for cid, c in ladder_data["conditions"].items() if not c.get("converged_only")]
    meta_rows = [
        ("zoo release", f"{E(str(info.get('name')))} · manifest sha256 "
                        f"<code>{E(str(info.get('manifest_sha256')))}</code>"),
        ("conditions", f"{n_cond} measured (in ladders) of {E(str(info.get('conditions', '?')))} in the "
                       "release"),
        ("metrics", "<br>".join(
            f"<b>{E(m['name'])}</b> ({E(m['level'])}): "
            + E(", ".join(f"{k}={v}" for k, v in m.get("params", {}).items()) or "defaults")
            for m in metrics)),
        ("members", E(str(settings.get("member_rule", "")))),
        ("bootstrap", f"{E(str(settings.get('n_boot')))} resamples of members, "
                      f"{100 * float(settings.get('confidence', 0.95)):.0f}% percentile intervals, seed "
                      f"{E(str(settings.get('seed')))}"),
        ("computed", f"degzoo {E(str(ladder_data.get('degzoo_version')))}, "
                     f"{E(str(ladder_data.get('created')))}, "
                     f"{E(str(ladder_data.get('cost', {}).get('seconds', '?')))} s"),
    ]
    if info.get("root"):
        meta_rows.insert(1, ("folder", f"<code>{E(str(info['root']))}</code>"))
    meta = "".join(f"<tr><td>{E(k)}</td><td>{v}</td></tr>" for k, v in meta_rows)
    warn = ""
    if unconverged:
        warn = (f"<p class='warn'>⚠ {len(unconverged)} condition(s) have fewer than 2 converged members "
                f"({E(', '.join(unconverged))}); they are shown with their unconverged members (hollow "
                "markers) and their ladders get no verdict.</p>")
    legend = ("<p class='small'>Verdicts: " + _badge("reproduces") + " Δ's CI excludes 0 on the paper's side "
              "and ρ has the paper's sign; " + _badge("opposite") + " Δ's CI excludes 0 on the other side; "
              + _badge("inconclusive") + " otherwise; " + _badge("n/a") + " no estimate or no converged "
              "ensemble; per factor, " + _badge("mixed") + " when its ladders disagree. With 2–3 conditions "
              "per ladder, ρ takes few values: read Δ and the figures.</p>")
    body = [
        f"<h1>{E(title)}</h1>",
        "<p class='lead'>Solution degeneracy of task-trained RNN ensembles along the zoo's ladders, at "
        "three levels — behaviour (σ_OOD, spread of out-of-distribution loss), dynamics (mean "
        "pairwise DSA) and weights (mean pairwise permutation-aligned distance) — compared with the "
        "directions reported by Huang et al. (arXiv 2410.03972).</p>",
        f"<table class='meta'>{meta}</table>",
        warn,
        "<h2>Which of the paper's directions reproduce on this zoo</h2>",
        legend,
        _directions_table(ladder_data),
        "<h2>Degeneracy along each ladder</h2>",
        _ladder_section(ladder_data),
        "<h2>MDS maps of pairwise distances</h2>",
        _maps_section(ladder_data),
        "<h2>Per-condition estimates</h2>",
        "<details open><summary>Ensemble degeneracy with 95% CI, per condition</summary>",
        "<p class='small'>Weight-level values stand beside the same distance between the same members' "
        "initial weights (“at init”, the mean over pairs of consecutive members): weight distances grow "
        "with weight scale, so what training added beyond scale is the ratio, not the value.</p>",
        _conditions_table(ladder_data),
        "</details>",
    ]
    if results:
        body += ["<h2>Scorecards</h2>", _scorecards(results)]
    scored = [str(r.get("metric", {}).get("name")) for r in results]
    body.append(f"<p class='small'>Generated by degzoo {E(__version__)}. Ladders and maps: "
                f"{E(', '.join(m['name'] for m in metrics))}."
                + (f" Scorecards: {E(', '.join(scored))}." if scored else "") + "</p>")
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{E(title)}</title>"
            f"<style>{CSS}</style></head><body><main>{''.join(body)}</main></body></html>\n")


def write_report(path: str | os.PathLike[str], ladder_data: Mapping[str, Any],
                 results: Sequence[Mapping[str, Any]] = (), release_info: Mapping[str, Any] | None = None
                 ) -> Path:
    """Render and write the page atomically; returns its path."""
    out = Path(path)
    text = render_report(ladder_data, results, release_info)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, out)
    return out
