"""Ranking with honest uncertainty: main scores, paired-bootstrap rank intervals and tiers.

Entries are compared only within one track *and* one zoo release (or control-track budget). Each
entry is reduced to a few **units**, scores with a 95 % interval that every entry of the group
reports, and its main score is the mean of its units.

- **Metric tracks** (``metric-<level>``): the units are the :data:`RANKED_SUITES` (conformance,
  calibration, trend, discriminability, reliability). A unit's value is the suite's *main score*
  (:func:`suite_main_score`): the mean of the suite's headline scores, the
  :data:`~degzoo.benchmark.results.SUMMARY_SCORES` it reports (e.g. ``calibration.twin_auroc``,
  ``calibration.noise_spearman``, ``calibration.confound_auroc``), each clipped to [0, 1] (a
  correlation counts as ``max(0, r)``); its standard error combines theirs as independent. They are
  read from the suite's own scores, never from the file's ``summary`` (which could disagree).
  Main scores lie in [0, 1], higher is better; each suite weighs the same. A suite whose status is
  ``failed``, ``timeout`` or ``error`` scores 0 ± 0 (a metric that cannot complete a suite earns
  nothing from it); a suite ``skipped`` by any entry of the group (it does not apply) is left out
  for all of them. ``sample_size``, ``agreement`` and ``cost`` are shown, not ranked: more agreement
  with the reference metrics is not better per se, and cost is a trade-off the reader weighs.
- **Control track**: the units are (condition, level) pairs; a unit's value is the degeneracy
  reduction ``-ln(method / baseline)`` from the suite's ``<level>_ratio`` score (its interval
  transformed the same way), so 0 = no change and higher = less degenerate solutions at matched
  task performance. (A suite that reports a single ``main`` score is one unit with that score.) An
  entry with a unit that did not complete is listed but not ranked.

**Uncertainty.** Result files carry per-suite scores with 95 % intervals, not per-ensemble
scores. Each bootstrap replicate (``n_boot`` = 2000, fixed seed, so the board is reproducible)

1. on the control track only, resamples the units with replacement — the *same* draw for every
   entry (paired: all entries were scored on the same conditions of the same budget). Its
   conditions are a sample of where a method could be applied, so their spread is uncertainty.
   A metric track's five suites are not a sample: they *define* its score, so they are never
   resampled (resampling them measured how unevenly a metric does across suites, not how well
   its score is known: a metric known exactly to score 1, 1, 1, 0, 0 got 0.6 ± 0.4);
2. draws each entry's value on each unit from a normal with the unit's value and standard error
   ``(high - low) / (2 · 1.96)``, independently per entry (their estimation errors are
   independent), from the entry's own stream keyed on its id: an entry's interval, and its
   difference from another entry, stay the same when other entries join the board;
3. averages over the units, giving every entry a score, and ranks the entries.

An entry's **rank interval** is the 2.5–97.5 % range of its rank over the replicates and its
score interval the same range of its score. **Tiers**: entries are sorted by main score; the
first opens tier 1; each next entry joins the current tier unless the paired bootstrap
difference between the tier's leader and it has a 95 % interval above 0 (it is then
significantly worse and opens the next tier, becoming its leader). Entries in one tier cannot
be told apart from their tier's leader at 95 %; the order inside a tier is not significant.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import rankdata

from degzoo.benchmark.scoring import (
    RANKED_SUITES,
    Z95,
    Triple,
    score_triple,
    suite_main_score,
)

__all__ = [
    "CONTROL_LEVELS",
    "RANKED_SUITES",
    "Ranking",
    "entry_units",
    "group_table",
    "rank_documents",
    "rank_with_tiers",
    "suite_main_score",
]

#: The levels the control track measures degeneracy at.
CONTROL_LEVELS: tuple[str, ...] = ("behaviour", "dynamics", "weights")
SKIPPED = "skipped"


def entry_units(doc: Mapping[str, Any]) -> dict[str, Triple | str | None]:
    """The ranking units of one (valid) result: name → (value, low, high), ``None`` or ``"skipped"``."""
    suites = doc.get("suites") or {}
    out: dict[str, Triple | str | None] = {}
    if doc.get("kind") == "metric":
        for name in RANKED_SUITES:
            suite = suites.get(name) or {}
            if suite.get("status") == SKIPPED:
                out[name] = SKIPPED
            else:
                out[name] = suite_main_score(name, suite)
        return out
    for cid, suite in suites.items():
        if suite.get("status") == SKIPPED:
            continue
        ok = suite.get("status") == "ok"
        scores = suite.get("scores") or {}
        if "main" in scores or not any(f"{lvl}_ratio" in scores for lvl in CONTROL_LEVELS):
            out[cid] = score_triple(scores.get("main")) if ok else None
            continue
        for lvl in CONTROL_LEVELS:
            ratio = score_triple(scores.get(f"{lvl}_ratio")) if ok else None
            if ratio is None or min(ratio) <= 0:
                out[f"{cid}/{lvl}"] = None
            else:
                v, lo, hi = ratio
                out[f"{cid}/{lvl}"] = (-math.log(v), -math.log(hi), -math.log(lo))
    return out


def group_table(
    docs: Sequence[Mapping[str, Any]],
) -> tuple[list[str], np.ndarray, np.ndarray, list[bool]]:
    """Shared units of a group, values and standard errors ``[K_ranked, U]``, and which entries rank.

    Metric groups: every entry ranks; a missing or failed unit is 0 ± 0. Control groups: entries
    with a unit that did not complete do not rank; the others are compared on the units they share.
    """
    per_entry = [entry_units(d) for d in docs]
    if docs and docs[0].get("kind") == "metric":
        units = [u for u in RANKED_SUITES if not any(e.get(u) == SKIPPED for e in per_entry)]
        rankable = [True] * len(docs)
    else:
        rankable = [bool(e) and all(v is not None for v in e.values()) for e in per_entry]
        shared = None
        for e, ok in zip(per_entry, rankable, strict=True):
            if ok:
                shared = set(e) if shared is None else shared & set(e)
        units = sorted(shared or ())
        if not units:
            rankable = [False] * len(docs)
    values, ses = [], []
    for e, ok in zip(per_entry, rankable, strict=True):
        if not ok:
            continue
        row_v, row_s = [], []
        for u in units:
            t = e.get(u)
            if isinstance(t, tuple):
                row_v.append(t[0])
                row_s.append(max(0.0, t[2] - t[1]) / (2 * Z95))
            else:
                row_v.append(0.0)
                row_s.append(0.0)
        values.append(row_v)
        ses.append(row_s)
    shape = (len(values), len(units))
    return units, np.asarray(values, float).reshape(shape), np.asarray(ses, float).reshape(shape), rankable


@dataclass(frozen=True)
class Ranking:
    """One entry's place: point score with its 95 % interval, rank interval, tier (1 = best)."""

    score: float
    score_low: float
    score_high: float
    rank: int  # position by point score (1 = best)
    rank_low: int
    rank_high: int
    tier: int


def rank_with_tiers(
    values: np.ndarray,
    ses: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    names: Sequence[str] | None = None,
    resample_units: bool = True,
) -> list[Ranking]:
    """Rank ``K`` entries scored on ``S`` shared units (``values``/``ses`` of shape ``[K, S]``).

    See the module docstring for the method; ``resample_units`` is true for the control track's
    conditions and false for a metric track's suites. Ties in the point score are broken by
    ``names`` (then by input order), so the result is deterministic.
    """
    values = np.asarray(values, dtype=float)
    ses = np.asarray(ses, dtype=float)
    if values.ndim != 2 or values.shape != ses.shape:
        raise ValueError(
            f"values and ses must be [K, S] arrays of one shape, got {values.shape}, {ses.shape}"
        )
    k, s = values.shape
    if k == 0:
        return []
    if s == 0:
        values, ses, s = np.zeros((k, 1)), np.zeros((k, 1)), 1
    point = values.mean(axis=1)
    labels = list(names) if names is not None else [""] * k
    noise = np.stack([_entry_stream(seed, labels[i], i).standard_normal((n_boot, s)) for i in range(k)],
                     axis=1)
    draws = values[None] + ses[None] * noise  # [B, K, S]
    if resample_units:
        idx = np.random.default_rng(seed).integers(0, s, size=(n_boot, s))  # shared unit draws: paired
        draws = np.take_along_axis(draws, np.broadcast_to(idx[:, None, :], (n_boot, k, s)), axis=2)
    boot = draws.mean(axis=2)  # [B, K]
    ranks = rankdata(-boot, method="min", axis=1)  # [B, K]: 1 + entries strictly better
    lo_q, hi_q = 100 * (1 - level) / 2, 100 * (1 + level) / 2
    score_lo = np.percentile(boot, lo_q, axis=0)
    score_hi = np.percentile(boot, hi_q, axis=0)
    rank_lo = np.percentile(ranks, lo_q, axis=0, method="lower").astype(int)
    rank_hi = np.percentile(ranks, hi_q, axis=0, method="higher").astype(int)
    order = sorted(range(k), key=lambda i: (-point[i], labels[i], i))
    tiers = np.zeros(k, dtype=int)
    tier, leader = 1, order[0]
    tiers[leader] = 1
    for i in order[1:]:
        diff = boot[:, leader] - boot[:, i]
        if np.percentile(diff, lo_q) > 0:
            tier, leader = tier + 1, i
        tiers[i] = tier
    position = {i: pos + 1 for pos, i in enumerate(order)}
    return [
        Ranking(
            score=float(point[i]),
            score_low=float(min(score_lo[i], point[i])),
            score_high=float(max(score_hi[i], point[i])),
            rank=position[i],
            rank_low=int(min(rank_lo[i], position[i])),
            rank_high=int(max(rank_hi[i], position[i])),
            tier=int(tiers[i]),
        )
        for i in range(k)
    ]


def _entry_stream(seed: int, name: str, index: int) -> np.random.Generator:
    """An entry's own draws, keyed on its name (its position when unnamed), so that its score
    interval, and its difference from another entry, do not change when entries join the board."""
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little") if name else index
    return np.random.default_rng([seed, key])


def rank_documents(
    docs: Sequence[Mapping[str, Any]], names: Sequence[str], *, n_boot: int = 2000, seed: int = 0
) -> list[Ranking | None]:
    """Rank the result documents of one group as the board does (``None``: listed, not ranked)."""
    _, values, ses, rankable = group_table(docs)
    ranked_names = [n for n, ok in zip(names, rankable, strict=True) if ok]
    if not ranked_names:
        return [None] * len(docs)
    metric_track = docs[0].get("kind") == "metric"
    rankings = iter(rank_with_tiers(values, ses, n_boot=n_boot, seed=seed, names=ranked_names,
                                    resample_units=not metric_track))
    return [next(rankings) if ok else None for ok in rankable]
