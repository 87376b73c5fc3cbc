"""How a metric result's suites combine into the one score the board ranks by.

Each ranked suite has a *main score*: the mean of its headline scores
(:data:`~degzoo.benchmark.results.MAIN_SCORES`), each clipped to [0, 1], all better higher. A
metric's score is the mean of its ranked suites' main scores; a suite that failed, timed out or
raised counts 0 ± 0, one that was skipped (it does not apply) is left out. Its interval propagates
the suites' own measurement error (the five suites define the score: they are not a sample).
The leaderboard (:mod:`degzoo.leaderboard.tiers`) ranks with the same pieces.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from degzoo.benchmark.results import SUMMARY_SCORES

#: Metric suites that make up a metric track's main score.
RANKED_SUITES: tuple[str, ...] = ("conformance", "calibration", "trend", "discriminability", "reliability")
_METRIC_SUITES = {s for s, _ in SUMMARY_SCORES}
Z95 = 1.959963984540054

Triple = tuple[float, float, float]


def score_triple(score: Any) -> Triple | None:
    """``(value, low, high)`` of a score in a result file; ``None`` when missing or not finite."""
    try:
        out = float(score["value"]), float(score["low"]), float(score["high"])
    except (KeyError, TypeError, ValueError):
        return None
    return out if all(math.isfinite(x) for x in out) else None


def main_score_names(suite_name: str, suite: Mapping[str, Any]) -> list[str]:
    """The suite's headline scores: its :data:`~degzoo.benchmark.results.SUMMARY_SCORES` it reports.

    Computed from the suite itself, never from the file's ``summary``; a suite with no headline
    score but a ``main`` score (or, outside the metric suites, a single score) uses that.
    """
    scores = suite.get("scores") or {}
    names = [k for s, k in SUMMARY_SCORES if s == suite_name and k in scores]
    if names:
        return names
    if "main" in scores:
        return ["main"]
    return [next(iter(scores))] if len(scores) == 1 and suite_name not in _METRIC_SUITES else []


def suite_main_score(suite_name: str, suite: Mapping[str, Any], *, clip: bool = True) -> Triple | None:
    """``(value, low, high)`` of a suite's main score; ``None`` when the suite is not ok or has none.

    Several headline scores are averaged (clipped to [0, 1] with ``clip``, the default); the
    interval is ``mean ± 1.96 · sqrt(Σ se²) / m`` with ``se = (high - low) / 3.92`` each.
    """
    if suite.get("status") != "ok":
        return None
    triples = []
    for name in main_score_names(suite_name, suite):
        t = score_triple((suite.get("scores") or {}).get(name))
        if t is None:
            return None
        if clip:
            t = (min(1.0, max(0.0, t[0])), min(1.0, max(0.0, t[1])), min(1.0, max(0.0, t[2])))
        triples.append(t)
    if not triples:
        return None
    if len(triples) == 1:
        return triples[0]
    m = len(triples)
    value = sum(t[0] for t in triples) / m
    se = math.sqrt(sum(((t[2] - t[1]) / (2 * Z95)) ** 2 for t in triples)) / m
    lo, hi = value - Z95 * se, value + Z95 * se
    if clip:
        lo, hi = max(0.0, lo), min(1.0, hi)
    return value, lo, hi


def metric_score(suites: Mapping[str, Any]) -> Triple | None:
    """The board's score of a metric result's ``suites`` (JSON form), with its 95 % interval."""
    units = []
    for name in RANKED_SUITES:
        suite = suites.get(name) or {}
        if suite.get("status") == "skipped":
            continue
        units.append(suite_main_score(name, suite) or (0.0, 0.0, 0.0))
    if not units:
        return None
    value = sum(u[0] for u in units) / len(units)
    se = math.sqrt(sum(((u[2] - u[1]) / (2 * Z95)) ** 2 for u in units)) / len(units)
    return value, max(0.0, value - Z95 * se), min(1.0, value + Z95 * se)
