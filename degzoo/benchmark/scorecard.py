"""A plain-text scorecard for the terminal: every score, which are main, which way is better,
and the one score the board ranks by."""

from __future__ import annotations

import textwrap
from typing import Any

from degzoo.benchmark.results import MAIN_SCORES, MetricResult, Score
from degzoo.benchmark.scoring import RANKED_SUITES, metric_score
from degzoo.benchmark.suites import higher_is_better

_ARROW = {True: "↑", False: "↓", None: " "}


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1e4 or abs(x) < 1e-3:
        return f"{x:.2e}"
    return f"{x:.4g}"


def _interval(s: Score) -> str:
    if s.low == s.high == s.value:
        return "exact"
    return f"[{_fmt(s.low)}, {_fmt(s.high)}]"


def format_scorecard(result: MetricResult | dict[str, Any], *, width: int = 100) -> str:
    """The scorecard as a table: one row per score, suites with their status and time, then the
    messages of suites that did not pass."""
    if isinstance(result, dict):
        result = MetricResult.from_json(result)
    ident = result.metric
    sha = result.zoo.get("manifest_sha256") or ""
    lines = [
        f"degzoo scorecard: {ident.get('name')} (level {ident.get('level')}) on zoo "
        f"{result.zoo.get('release')} (manifest {sha[:12]})",
        f"claimed invariances: {', '.join(ident.get('invariances') or []) or 'none'}; "
        f"params: {_params(ident.get('params') or {})}",
    ]
    header = (f"{'suite':<17} {'status':<8} {'time':>7}  {'score (* main, ↑↓ better)':<34} {'value':>10}  "
              f"{'95% interval':<23} {'n':>4}")
    lines += ["", header, "-" * len(header)]
    notes: list[str] = []
    for name, suite in result.suites.items():
        first = True
        head = f"{name:<17} {suite.status:<8} {suite.seconds:6.1f}s"
        if not suite.scores:
            lines.append(f"{head}  {'-':<34}")
        for sname, score in suite.scores.items():
            prefix = head if first else " " * len(head)
            main = "*" if sname in MAIN_SCORES.get(name, ()) and name in RANKED_SUITES else " "
            label = f"{main}{_ARROW[higher_is_better(name, sname)]} {sname}"[:34]
            lines.append(f"{prefix}  {label:<34} {_fmt(score.value):>10}  {_interval(score):<23} "
                         f"{score.n:>4}")
            first = False
        if suite.message and suite.status != "ok":
            notes.append(textwrap.fill(f"{name} ({suite.status}): {suite.message}", width=width,
                                       subsequent_indent="    "))
    board = metric_score(result.to_json()["suites"])
    if board is not None:
        value, low, high = board
        lines += ["", f"board score {value:.3f} [{low:.3f}, {high:.3f}] (95 %; higher is better): the mean "
                  "of the main (*) scores", f"of {', '.join(RANKED_SUITES)}, each in [0, 1]"]
    cost = result.cost
    if cost:
        resumed = cost.get("resumed_suites") or []
        lines += ["", f"time: {cost.get('total_seconds', 0):.1f} s {'in this run' if resumed else 'in all'}, "
                  f"{cost.get('metric_seconds', 0):.1f} s "
                  f"in the metric, {cost.get('reference_seconds', 0):.1f} s in reference metrics, "
                  f"{cost.get('pairs', 0)} pairs"]
        if resumed:
            every = sum(s.seconds for s in result.suites.values())
            lines.append(textwrap.fill(
                f"{every:.1f} s in all its suites ({', '.join(resumed)} taken from the checkpoint "
                "of an earlier run)", width=width, initial_indent="      ", subsequent_indent="      "))
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _params(params: dict[str, Any]) -> str:
    text = ", ".join(f"{k}={v}" for k, v in params.items())
    return text if len(text) < 80 else text[:77] + "..."
