"""Ensemble-level degeneracy with a bootstrap confidence interval over members."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from degzoo.errors import InvalidParameterError


@dataclass(frozen=True)
class Estimate:
    """A value with its bootstrap confidence interval."""

    value: float
    low: float
    high: float
    n: int
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}]"


def mean_off_diagonal(dist: np.ndarray) -> float:
    """Mean of the pairwise distances between distinct members."""
    n = dist.shape[0]
    if n < 2:
        raise InvalidParameterError("degeneracy needs at least 2 members")
    return float((dist.sum() - np.trace(dist)) / (n * (n - 1)))


def bootstrap_pairwise(
    dist: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean off-diagonal distance, CI from resampling members with replacement.

    A resampled member drawn twice is not compared with itself: only pairs of distinct original
    members enter each replicate's mean.
    """
    dist = np.asarray(dist, dtype=np.float64)
    n = dist.shape[0]
    value = mean_off_diagonal(dist)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    sub = dist[idx[:, :, None], idx[:, None, :]]
    distinct = idx[:, :, None] != idx[:, None, :]
    counts = distinct.sum(axis=(1, 2))
    ok = counts > 0
    reps = (sub * distinct).sum(axis=(1, 2))[ok] / counts[ok]
    return _interval(value, reps, n, confidence)


def bootstrap_std(
    scores: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Population standard deviation of per-member scores (σ_OOD), CI from resampling members."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size < 2:
        raise InvalidParameterError("bootstrap_std needs a 1-D array of at least 2 member scores")
    rng = np.random.default_rng(seed)
    reps = scores[rng.integers(0, scores.size, size=(n_boot, scores.size))].std(axis=1)
    return _interval(float(scores.std()), reps, scores.size, confidence)


def bootstrap_mean(
    scores: np.ndarray, *, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> Estimate:
    """Mean of per-member scores with a bootstrap CI."""
    scores = np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    reps = scores[rng.integers(0, scores.size, size=(n_boot, scores.size))].mean(axis=1)
    return _interval(float(scores.mean()), reps, scores.size, confidence)


def _interval(value: float, reps: np.ndarray, n: int, confidence: float) -> Estimate:
    if not 0 < confidence < 1:
        raise InvalidParameterError(f"confidence must be in (0, 1), got {confidence}")
    alpha = (1 - confidence) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return Estimate(value, float(low), float(high), n, confidence)


def degeneracy(
    ensemble: Any,
    metric: Any,
    *,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    **parallel: Any,
) -> Estimate:
    """Ensemble-level degeneracy of ``ensemble`` under ``metric``.

    Behaviour metrics (those with ``member_scores``) give the population std of the per-member
    score (σ_OOD); every other level gives the mean off-diagonal pairwise distance, computed in
    parallel when given ``workers``, ``cluster`` or ``scheduler`` (see ``Metric.pairwise``).
    """
    if hasattr(metric, "member_scores"):
        return bootstrap_std(metric.member_scores(ensemble), n_boot=n_boot, confidence=confidence, seed=seed)
    dist = metric.pairwise(ensemble, **parallel)
    return bootstrap_pairwise(dist, n_boot=n_boot, confidence=confidence, seed=seed)
