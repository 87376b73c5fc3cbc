"""Small statistics for the scorecard: rank correlation, AUROC, ARI, clustering, bootstraps.

Every interval here is a percentile interval (95 % by default) from resampling *members* (networks),
the independent units of the zoo: a pair of networks is never the unit, because pairs that share a
network are not independent. A member drawn twice in one replicate is never compared with itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

from degzoo.benchmark.results import Score

ALPHA = 0.05


def rank(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Ranks (1-based) along ``axis``, ties given their average rank, like scipy's ``rankdata``
    (reimplemented in numpy: called thousands of times per bootstrap)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0:
        return np.ones(())
    if x.ndim == 1:
        return _rank1(x)
    y = np.moveaxis(x, axis, -1)
    flat = y.reshape(-1, y.shape[-1])
    r, n = flat.shape
    order = np.argsort(flat, axis=1, kind="mergesort")
    s = np.take_along_axis(flat, order, axis=1)
    pos = np.broadcast_to(np.arange(n), (r, n))
    start = np.ones((r, n), dtype=bool)
    start[:, 1:] = s[:, 1:] != s[:, :-1]
    end = np.ones((r, n), dtype=bool)
    end[:, :-1] = start[:, 1:]
    first = np.maximum.accumulate(np.where(start, pos, 0), axis=1)
    last = np.flip(np.minimum.accumulate(np.flip(np.where(end, pos, n - 1), axis=1), axis=1), axis=1)
    ranks = np.empty((r, n))
    np.put_along_axis(ranks, order, (first + last) / 2.0 + 1.0, axis=1)
    return np.moveaxis(ranks.reshape(y.shape), -1, axis)


def _rank1(x: np.ndarray) -> np.ndarray:
    sorter = np.argsort(x, kind="mergesort")
    xs = x[sorter]
    obs = np.empty(x.size, dtype=bool)
    obs[:1] = True
    np.not_equal(xs[1:], xs[:-1], out=obs[1:])
    dense = np.cumsum(obs)
    counts = np.append(np.flatnonzero(obs), x.size)
    out = np.empty(x.size)
    out[sorter] = 0.5 * (counts[dense] + counts[dense - 1] + 1)
    return out


def spearman(x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation; NaN when either side is constant (undefined)."""
    x, y = np.asarray(x, dtype=np.float64).ravel(), np.asarray(y, dtype=np.float64).ravel()
    if x.size != y.size:
        raise ValueError(f"spearman: {x.size} vs {y.size} values")
    if x.size < 2:
        return float("nan")
    return _pearson(rank(x), rank(y))


def spearman_rows(x: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Spearman correlation of the fixed ``x [k]`` with every row of ``Y [r, k]`` (NaN if constant)."""
    rx = rank(x)
    rY = rank(Y, axis=1)
    rx = rx - rx.mean()
    rY = rY - rY.mean(axis=1, keepdims=True)
    den = np.sqrt((rx**2).sum() * (rY**2).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (rY @ rx) / np.where(den > 0, den, 1.0), np.nan)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """P(a positive exceeds a negative) + ½ P(tie): the Mann–Whitney AUROC; NaN if either is empty."""
    pos, neg = np.asarray(positive, np.float64).ravel(), np.asarray(negative, np.float64).ravel()
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    neg = np.sort(neg)
    below = np.searchsorted(neg, pos, side="left")
    upto = np.searchsorted(neg, pos, side="right")
    return float((below.sum() + 0.5 * (upto - below).sum()) / (pos.size * neg.size))


def adjusted_rand_index(labels_true: Sequence[int], labels_pred: Sequence[int]) -> float:
    """Adjusted Rand index (Hubert & Arabie 1985): 1 for identical partitions, ~0 for chance."""
    a, b = np.asarray(labels_true), np.asarray(labels_pred)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("adjusted_rand_index: two label vectors of the same length")
    _, ia = np.unique(a, return_inverse=True)
    _, ib = np.unique(b, return_inverse=True)
    table = np.zeros((ia.max() + 1, ib.max() + 1), dtype=np.int64)
    np.add.at(table, (ia, ib), 1)

    def comb2(x: np.ndarray) -> float:
        return float((x * (x - 1) // 2).sum())

    index = comb2(table)
    sum_a, sum_b = comb2(table.sum(axis=1)), comb2(table.sum(axis=0))
    total = a.size * (a.size - 1) / 2
    if total == 0:
        return 1.0
    expected = sum_a * sum_b / total
    max_index = (sum_a + sum_b) / 2
    if max_index == expected:  # both partitions trivial (one cluster, or all singletons)
        return 1.0
    return float((index - expected) / (max_index - expected))


def cluster(dist: np.ndarray, k: int, method: str = "average") -> np.ndarray:
    """Labels of ``k`` clusters from a distance matrix by hierarchical clustering (scipy)."""
    d = np.asarray(dist, dtype=np.float64)
    d = 0.5 * (d + d.T)
    np.fill_diagonal(d, 0.0)
    z = linkage(squareform(np.maximum(d, 0.0), checks=False), method=method)
    return fcluster(z, t=k, criterion="maxclust")


def off_diagonal(dist: np.ndarray) -> np.ndarray:
    """Upper-triangle entries (i < j) of a square matrix."""
    iu = np.triu_indices(dist.shape[0], 1)
    return np.asarray(dist)[iu]


def interval(reps: np.ndarray, confidence: float = 1 - ALPHA) -> tuple[float, float]:
    """Percentile interval of the finite replicates (NaN, NaN when there are none)."""
    reps = np.asarray(reps, dtype=np.float64)
    reps = reps[np.isfinite(reps)]
    if reps.size == 0:
        return float("nan"), float("nan")
    a = (1 - confidence) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return float(lo), float(hi)


def score(value: float, reps: np.ndarray | None, n: int) -> Score | None:
    """A :class:`Score` from a point value and bootstrap replicates; None if ``value`` is undefined."""
    if value is None or not np.isfinite(value):
        return None
    if reps is None:
        return Score.exact(float(value), n)
    lo, hi = interval(reps)
    if not (np.isfinite(lo) and np.isfinite(hi)):
        lo = hi = float(value)
    return Score(float(value), min(lo, hi), max(lo, hi), n)


def score_dict(value: float, reps: np.ndarray, n: int, confidence: float) -> dict[str, Any] | None:
    """``{value, low, high, n}`` with the central ``confidence`` interval of the finite bootstrap
    replicates ``reps`` (as result files store it); None if ``value`` or every replicate is undefined."""
    reps = reps[np.isfinite(reps)]
    if not math.isfinite(value) or reps.size == 0:
        return None
    alpha = (1 - confidence) / 2
    low, high = np.quantile(reps, [alpha, 1 - alpha])
    return {"value": float(value), "low": float(low), "high": float(high), "n": int(n)}


def group_resample(groups: Sequence[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """One bootstrap replicate: members resampled with replacement within each group."""
    return [g[rng.integers(0, g.size, size=g.size)] for g in groups]


def bootstrap_matrix_stat(
    dist: np.ndarray,
    labels: np.ndarray,
    stat: Callable[[np.ndarray, np.ndarray, np.ndarray], float],
    *,
    n_boot: int,
    seed: int,
) -> np.ndarray:
    """Replicates of ``stat(dist_sub, labels_sub, origin)`` with members resampled within labels.

    ``origin`` gives each resampled row's original member, so that ``stat`` can drop pairs of a
    member with its own copy.
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    groups = [np.flatnonzero(labels == u) for u in np.unique(labels)]
    reps = np.empty(n_boot)
    for r in range(n_boot):
        idx = np.concatenate(group_resample(groups, rng))
        reps[r] = stat(dist[np.ix_(idx, idx)], labels[idx], idx)
    return reps


def within_between(dist: np.ndarray, labels: np.ndarray, origin: np.ndarray | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Distances of pairs within a label and between labels (each unordered pair once).

    Pairs of a member with a copy of itself (same ``origin``) are left out.
    """
    n = dist.shape[0]
    origin = np.arange(n) if origin is None else np.asarray(origin)
    iu, ju = np.triu_indices(n, 1)
    keep = origin[iu] != origin[ju]
    iu, ju = iu[keep], ju[keep]
    same = labels[iu] == labels[ju]
    d = dist[iu, ju]
    return d[same], d[~same]


def mean_distinct(dist: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Mean over pairs of distinct original members, for replicate index sets ``idx [r, n]``."""
    sub = dist[idx[:, :, None], idx[:, None, :]]
    distinct = idx[:, :, None] != idx[:, None, :]
    counts = distinct.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, (sub * distinct).sum(axis=(1, 2)) / np.maximum(counts, 1), np.nan)


# --------------------------------------------------------------------------------------------
# Vectorised bootstraps: all replicates at once, invalid entries (a member paired with its own
# copy) masked. Masked values are set to NaN, which sorts last, so the ranks of the valid entries
# of a row are exactly their ranks among themselves.
# --------------------------------------------------------------------------------------------


def resample_within(labels: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Index replicates ``[n_boot, N]``: members resampled with replacement within each label."""
    labels = np.asarray(labels)
    parts = []
    for u in np.unique(labels):
        g = np.flatnonzero(labels == u)
        parts.append(g[rng.integers(0, g.size, size=(n_boot, g.size))])
    return np.concatenate(parts, axis=1)


def pair_values(dist: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Upper-triangle pairs of every replicate: values ``[r, P]`` (NaN where a member meets its own
    copy), the valid mask, and the positions ``(iu, ju)`` of the pairs in the replicate."""
    n = idx.shape[1]
    iu, ju = np.triu_indices(n, 1)
    a, b = idx[:, iu], idx[:, ju]
    valid = a != b
    vals = np.where(valid, dist[a, b], np.nan)
    return vals, valid, iu, ju


def auroc_rows(values: np.ndarray, positive: np.ndarray) -> np.ndarray:
    """Row-wise AUROC of the ``positive`` entries against the others; NaN entries are ignored."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.isfinite(values)
    r = rank(np.where(valid, values, np.nan), axis=1)
    pos = positive & valid
    neg = ~positive & valid
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    # ranks among valid entries only: NaNs sort last, so valid entries' ranks are unaffected
    r_pos = np.where(pos, r, 0.0).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (r_pos - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)
    return np.where((n_pos > 0) & (n_neg > 0), out, np.nan)


def witness_auroc_rows(dist: np.ndarray, labels: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Two-group discriminability that unequal spreads cannot fool, for replicates ``idx [r, n]``.

    Each member's witness is its mean distance to group 0 minus its mean distance to group 1 (its
    own copies left out); the AUROC is P(witness of a group-1 member > that of a group-0 member).
    The pooled between-vs-within AUROC is 0.5 when one group is tight and the other spread out
    with the between distances in the middle (for example small and large weights); the witness,
    the leave-one-out form of the energy-distance test, still separates them. ``labels`` are 0/1.
    """
    labels = np.asarray(labels)
    sub = dist[idx[:, :, None], idx[:, None, :]]
    distinct = idx[:, :, None] != idx[:, None, :]
    lab = labels[idx]
    to = []
    for g in (0, 1):
        mask = distinct & (lab[:, None, :] == g)
        with np.errstate(invalid="ignore", divide="ignore"):
            to.append((sub * mask).sum(axis=2) / mask.sum(axis=2))
    witness = to[0] - to[1]
    return auroc_rows(witness, lab == 1)


def spearman_masked_rows(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Row-wise Spearman of ``A`` and ``B`` ``[r, P]`` over the entries finite in both."""
    valid = np.isfinite(A) & np.isfinite(B)
    ra = rank(np.where(valid, A, np.nan), axis=1)
    rb = rank(np.where(valid, B, np.nan), axis=1)
    k = valid.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        ma = np.where(valid, ra, 0.0).sum(axis=1, keepdims=True) / k
        mb = np.where(valid, rb, 0.0).sum(axis=1, keepdims=True) / k
        da, db = np.where(valid, ra - ma, 0.0), np.where(valid, rb - mb, 0.0)
        den = np.sqrt((da * da).sum(axis=1) * (db * db).sum(axis=1))
        return np.where(den > 0, (da * db).sum(axis=1) / np.where(den > 0, den, 1.0), np.nan)
