"""A plain-text scorecard for the terminal: every score, which are main, which way is better,
and the one score the board ranks by — or why there is none: a suite that did not finish
(*incomplete*, with the command that completes it) or a protocol other than the board's
(*not rankable*). The same verdict is used by the HTML report (:func:`board_verdict`)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from degzoo.benchmark.results import MAIN_SCORES, MetricResult, Score
from degzoo.benchmark.scoring import RANKED_SUITES, metric_score
from degzoo.benchmark.suites import SUITES, higher_is_better, protocol_differences

#: Message of a suite that a stopped run did not reach (it scores 0 until a resumed run runs it).
NOT_RUN = "not run: the run stopped before this suite"
#: Message of a suite stopped by Ctrl-C.
INTERRUPTED = "interrupted by the user"

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


def incomplete_suites(suites: Mapping[str, Any]) -> list[str]:
    """The suites (JSON form) that did not finish: stopped by a time limit or a budget, interrupted,
    or not reached by a run that stopped. A metric's own error is a finished (failed) suite."""
    return [name for name, suite in suites.items() if isinstance(suite, Mapping) and (
        suite.get("status") == "timeout"
        or (suite.get("status") == "error" and suite.get("message") in (NOT_RUN, INTERRUPTED)))]


def not_rankable_reasons(settings: Mapping[str, Any]) -> list[str]:
    """Why a result's protocol is not the board's (fewer suites, members, twins...); [] if it is."""
    reasons = [f"{name} {json.dumps(recorded)} instead of {json.dumps(protocol)}"
               for name, (recorded, protocol) in protocol_differences(settings).items()]
    ran = settings.get("suites")
    missing = [s for s in SUITES if isinstance(ran, list) and s not in ran]
    if missing:
        reasons.append(f"suites {', '.join(missing)} not run")
    return reasons


@dataclass(frozen=True)
class BoardVerdict:
    """The board score of a result (None when it has none), or why it has none."""

    score: tuple[float, float, float] | None
    incomplete: list[str]
    not_rankable: list[str]
    complete_with: str | None

    def lines(self) -> list[str]:
        """Plain text for the terminal."""
        out = []
        if self.incomplete:
            out.append(f"INCOMPLETE: suite(s) {', '.join(self.incomplete)} did not finish, so this "
                       "result has no board score yet")
            if self.complete_with:
                out.append(f"complete it with: {self.complete_with}")
        if self.not_rankable:
            out.append(f"not rankable: the board's protocol differs ({'; '.join(self.not_rankable)}); "
                       "no board score")
        if self.score is not None and not out:
            value, low, high = self.score
            out += [f"board score {value:.3f} [{low:.3f}, {high:.3f}] (95 %; higher is better): the mean "
                    "of the main (*) scores", f"of {', '.join(RANKED_SUITES)}, each in [0, 1]"]
        return out


def board_verdict(result: Mapping[str, Any]) -> BoardVerdict:
    """The board verdict of a result (JSON form): a score only for a finished run at the protocol."""
    suites = result.get("suites") if isinstance(result.get("suites"), Mapping) else {}
    settings = result.get("settings") if isinstance(result.get("settings"), Mapping) else {}
    cost = result.get("cost") if isinstance(result.get("cost"), Mapping) else {}
    marker = cost.get("incomplete") if isinstance(cost.get("incomplete"), Mapping) else {}
    incomplete = incomplete_suites(suites)
    rankable = not_rankable_reasons(settings) if result.get("kind", "metric") == "metric" else []
    score = metric_score(suites) if not incomplete and not rankable else None
    command = marker.get("complete_with") if incomplete else None
    return BoardVerdict(score, incomplete, rankable, command if isinstance(command, str) else None)


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
    verdict = board_verdict(result.to_json()).lines()
    if verdict:
        lines += ["", *verdict]
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
