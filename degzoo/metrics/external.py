"""The reference implementations that users run today, as degzoo metrics scored through their own code.

- :class:`ReferenceDSA` (``dsa_metric_ref``, dynamics): DSA as computed by ``dsa-metric`` 2.0.2
  (package ``DSA``). Each member's probe-set trajectories (the same ones degzoo's ``dsa`` uses) are
  fitted by the reference's own HAVOK DMD (``DSA.dmd.DMD``, same delays, rank, interval and ridge as
  degzoo's defaults); each pair is then scored by the reference's ``SimilarityTransformDist`` with the
  settings of its user-facing ``DSA`` class (Adam, 1500 iterations at lr 5e-3, run twice per pair:
  once on B with two coordinates swapped, to reach the det = -1 half of O(n)). Within one ensemble each
  unordered pair is solved once, ``(i, j)`` with ``i > j``, and mirrored, as the ``DSA`` class does;
  the diagonal is 0 there without a solve. The reference's optimiser starts from a random point drawn
  from torch's global generator: every pair is solved with that generator seeded with ``seed`` (and
  restored afterwards), so results do not depend on the order of the pairs.
- :class:`QCPermutationProcrustes` (``qc_procrustes_perm``, weights): the two-sided permutation
  Procrustes of ``qc-procrustes`` (``procrustes.permutation_2sided``, single transformation, its
  default ``k-opt`` heuristic: greedy ``k``-swaps from the identity) on the recurrent weights. The
  distance is ``‖W_a − Pᵀ W_b P‖_F`` at the permutation it returns, normalised as degzoo's
  ``weights_perm`` (``normalize="entries"``: divided by H²), so the two are in the same units.
  A local search from the identity: it recovers relabellings within a few ``k``-swaps of it (a
  planted 3-cycle exactly) but misses most random relabellings of 16-32 units, which then score
  as far apart as different networks (tests/test_external_metrics.py shows both).

Both packages are the optional extra ``[reference]``; this module imports without them, and making
either metric without its package raises :class:`~degzoo.errors.InvalidParameterError` saying
``pip install "degzoo[reference]"``. ``qc-procrustes`` is GPL-3.0 licensed: it stays an optional
extra that degzoo never imports unless this metric is used, and degzoo's own code copies none of it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.metrics.base import Level, Metric, checkpoint
from degzoo.metrics.dsa import DSA_INVARIANCES, as_trials, check_dmd_params, min_trial_length
from degzoo.metrics.weights import (
    NORMALIZATIONS,
    Normalize,
    check_finite_params,
    check_same_width,
    normalised_distance,
)

__all__ = ["INSTALL_HINT", "QCPermutationProcrustes", "ReferenceDSA"]

#: What to run to get the reference implementations.
INSTALL_HINT = 'pip install "degzoo[reference]"'


def _reference(module: str, metric: str, package: str) -> ModuleType:
    """``module`` of a reference package, or a one-line error saying how to install the extra."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise InvalidParameterError(
            f"metric {metric!r} runs the reference implementation {package}, which is not installed: "
            f"{INSTALL_HINT}"
        ) from None


@dataclass
class ReferenceDSA(Metric):
    """DSA computed by ``dsa-metric`` itself (DMD fit and angular/euclidean score), on degzoo's trajectories.

    DMD: ``n_delays``, ``rank``, ``delay_interval``, ``lamb`` (degzoo's ``dsa`` defaults). Score:
    ``score`` ("angular" or "euclidean"), optimised by the reference's Adam for ``iters`` steps at
    ``lr`` (its ``DSA`` class defaults), seeded with ``seed``; ``device`` is passed to the reference.
    """

    n_delays: int = 10
    rank: int = 30
    delay_interval: int = 1
    lamb: float = 1e-8
    score: str = "angular"
    iters: int = 1500
    lr: float = 5e-3
    seed: int = 0
    device: str = "cpu"

    name: ClassVar[str] = "dsa_metric_ref"
    level: ClassVar[Level] = "dynamics"
    #: The distribution whose code computes the distances (its version goes into every result).
    implementation: ClassVar[str] = "dsa-metric"
    invariances: ClassVar[frozenset[str]] = DSA_INVARIANCES

    def __post_init__(self) -> None:
        check_dmd_params(self.n_delays, self.rank, self.delay_interval)
        if self.score not in ("angular", "euclidean"):
            raise InvalidParameterError(
                f"{self.name}: score must be 'angular' or 'euclidean', got {self.score!r}")
        if isinstance(self.iters, bool) or not isinstance(self.iters, int) or self.iters < 1:
            raise InvalidParameterError(f"{self.name}: iters must be a positive integer, got {self.iters!r}")
        if not self.lr > 0:
            raise InvalidParameterError(f"{self.name}: lr must be > 0, got {self.lr!r}")
        _reference("DSA", self.name, "dsa-metric")

    def embed(self, ensemble: Any) -> np.ndarray:
        """The reference's DMD operator ``A_v`` of every member, ``[E, rank, rank]`` (float64)."""
        dmd = _reference("DSA.dmd", self.name, "dsa-metric")
        trajs = np.asarray(ensemble.trajectories() if hasattr(ensemble, "trajectories") else ensemble)
        if trajs.ndim != 4:
            raise InvalidParameterError(
                f"{self.name}: ensemble trajectories must be [E, n_trials, T, H], got shape {trajs.shape}")
        out = np.empty((trajs.shape[0], self.rank, self.rank))
        for e in range(trajs.shape[0]):
            checkpoint()
            x = self._checked_trials(trajs[e])
            fit = dmd.DMD(x, n_delays=self.n_delays, delay_interval=self.delay_interval, rank=self.rank,
                          lamb=self.lamb, device=self.device)
            fit.fit()
            out[e] = fit.A_v.detach().cpu().numpy()
        return out

    def _checked_trials(self, x: np.ndarray) -> np.ndarray:
        """One member's ``[n_trials, T, H]`` trajectories, if long and rich enough for the DMD settings."""
        x = as_trials(x)
        k, t, h = x.shape
        t_min = min_trial_length(self.n_delays, self.delay_interval)
        if t < t_min:
            raise InvalidParameterError(
                f"{self.name}: trials of T={t} steps are too short for n_delays={self.n_delays} at "
                f"delay_interval={self.delay_interval}; the minimum is T={t_min}")
        t_eff = t - (self.n_delays - 1) * self.delay_interval
        max_rank = min(self.n_delays * h, k * (t_eff - 1))
        if self.rank > max_rank:
            raise InvalidParameterError(
                f"{self.name}: rank={self.rank} exceeds what the trajectories support ({max_rank}); "
                "lower rank")
        return x

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        simdist = _reference("DSA.simdist", self.name, "dsa-metric")
        na, nb = len(emb_a), len(emb_b)
        out = np.zeros((na, nb))
        on_cpu = torch.device(self.device).type == "cpu"
        for i in range(na):
            for j in range(i if symmetric else nb):
                checkpoint()
                with torch.random.fork_rng(devices=[] if on_cpu else None):
                    torch.manual_seed(self.seed)
                    solver = simdist.SimilarityTransformDist(
                        iters=self.iters, score_method=self.score, lr=self.lr, device=self.device)
                    # float64 arrays: the reference converts them to new float32 tensors, which it
                    # then normalises in place (it would otherwise normalise our embedding)
                    out[i, j] = float(solver.fit_score(emb_a[i].copy(), emb_b[j].copy()))
        if symmetric:
            out = out + out.T
        return out


@dataclass
class QCPermutationProcrustes(Metric):
    """``‖W_a − Pᵀ W_b P‖_F / H²`` with P from ``qc-procrustes``'s ``permutation_2sided`` (k-opt).

    ``k``: the order of the swaps its local search tries (its default 3). ``normalize``: as
    ``weights_perm`` ("entries": / H², "rms": / H, "none").
    """

    k: int = 3
    normalize: Normalize = "entries"

    name: ClassVar[str] = "qc_procrustes_perm"
    level: ClassVar[Level] = "weights"
    implementation: ClassVar[str] = "qc-procrustes"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation"})

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise InvalidParameterError(f"{self.name}: normalize must be one of {NORMALIZATIONS}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 2:
            raise InvalidParameterError(f"{self.name}: k must be an integer >= 2, got {self.k!r}")
        _reference("procrustes", self.name, "qc-procrustes")

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        return check_finite_params(self.name, getattr(ensemble, "params", None), ("W_hh",))

    def permutation(self, W_a: np.ndarray, W_b: np.ndarray) -> np.ndarray:
        """The permutation matrix P that ``permutation_2sided`` returns for ``Pᵀ W_b P ≈ W_a``."""
        procrustes = _reference("procrustes", self.name, "qc-procrustes")
        if self.k > W_a.shape[0]:
            raise InvalidParameterError(
                f"{self.name}: k={self.k} must not exceed the number of hidden units ({W_a.shape[0]})")
        res = procrustes.permutation_2sided(W_b, W_a, single=True, method="k-opt", options={"k": self.k})
        return np.asarray(res.t, dtype=np.float64)

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        check_same_width(self, emb_a, emb_b)
        wa, wb = emb_a["W_hh"], emb_b["W_hh"]
        n_entries = wa.shape[1] * wa.shape[2]
        out = np.zeros((len(wa), len(wb)))
        for i in range(len(wa)):
            for j in range(i + 1 if symmetric else 0, len(wb)):
                checkpoint()
                P = self.permutation(wa[i], wb[j])
                sq = float(np.sum((wa[i] - P.T @ wb[j] @ P) ** 2))
                out[i, j] = normalised_distance(sq, n_entries, self.normalize)
        if symmetric:
            out = out + out.T
        return out
