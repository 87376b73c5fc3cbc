"""Representation-level distances between the hidden trajectories of networks on the probe set.

Every network's rates on the probe set, ``[n, T, H]``, are flattened to a sample-by-unit matrix
X ``[N = n·T, H]``; each column is centred over samples. Three distances:

- :class:`CKA` — ``1 − CKA``, linear centred kernel alignment (Kornblith et al. 2019):
  CKA(X, Y) = ‖XᵀY‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F). Invariant to orthogonal transforms (so to
  permutations and sign flips of units) and to isotropic scaling.
- :class:`ProcrustesShape` — the angular Procrustes shape distance (Williams et al. 2021) with
  full orthogonal alignment: X and Y are centred and scaled to unit Frobenius norm and
  d = arccos(max_Q tr(XᵀY Q)) = arccos(‖XᵀY‖_*), Q orthogonal (the nuclear norm). In [0, π/2]
  for rates; networks of different widths compare directly (Q is then a partial isometry). Same
  invariances as CKA.
- :class:`SVCCA` — Raghu et al. 2017: keep the top singular directions of each X (enough to
  explain ``variance`` of the variance, or a fixed ``n_components``), then CCA between the
  reduced matrices; d = 1 − mean canonical correlation over min(k_X, k_Y) correlations. The
  canonical correlations are the singular values of Q_Xᵀ Q_Y for orthonormal bases Q of the
  kept subspaces. Invariant to permutation, sign flips, orthogonal transforms and scale.

All-pairs cost: each network is embedded once (centred, normalised, or reduced to a basis); the
cross products X_aᵀ X_b of all pairs then come from a few large matrix products, in blocks of
members so that memory stays bounded, followed by one batched reduction (a sum of squares, or
batched singular values) per block. Memory: the embedding holds ``E × N × H`` float64 values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import Level, Metric
from degzoo.metrics.weights import check_finite_params

_ALL = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})
_BLOCK_BYTES = 64 * 2**20  # cross-product block size


# --------------------------------------------------------------------------------------------
# Array-level functions (two sample-by-unit matrices)
# --------------------------------------------------------------------------------------------


def _centre(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise InvalidParameterError(f"expected a [samples, units] matrix, got shape {X.shape}")
    return X - X.mean(axis=0, keepdims=True)


def _check_samples(X: np.ndarray, Y: np.ndarray) -> None:
    if X.shape[0] != Y.shape[0]:
        raise InvalidParameterError(
            f"representations must share their samples (rows): {X.shape[0]} vs {Y.shape[0]}"
        )


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA similarity in [0, 1] between ``X [N, Hx]`` and ``Y [N, Hy]`` (centred here)."""
    _check_samples(X, Y)
    Xc, Yc = _centre(X), _centre(Y)
    cross = np.sum((Xc.T @ Yc) ** 2)
    denom = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    if denom == 0:
        raise InvalidParameterError("linear_cka: a representation has zero variance")
    return float(cross / denom)


def procrustes_shape_distance(X: np.ndarray, Y: np.ndarray) -> float:
    """Angular Procrustes distance arccos(‖X̃ᵀỸ‖_*) after centring and unit-norm scaling."""
    _check_samples(X, Y)
    Xn, Yn = _normalise(_centre(X)), _normalise(_centre(Y))
    nuc = np.linalg.svd(Xn.T @ Yn, compute_uv=False).sum()
    return float(np.arccos(np.clip(nuc, -1.0, 1.0)))


def svcca_distance(
    X: np.ndarray, Y: np.ndarray, *, variance: float = 0.99, n_components: int | None = None
) -> float:
    """1 − mean canonical correlation between the SVD-reduced ``X`` and ``Y``."""
    _check_samples(X, Y)
    Qx = _svd_basis(_centre(X), variance, n_components)
    Qy = _svd_basis(_centre(Y), variance, n_components)
    rho = np.linalg.svd(Qx.T @ Qy, compute_uv=False)
    k = min(Qx.shape[1], Qy.shape[1])
    return float(max(0.0, 1.0 - np.clip(rho[:k], 0.0, 1.0).mean()))


def _normalise(X: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(X)
    if norm == 0:
        raise InvalidParameterError("a representation has zero variance")
    return X / norm


def _svd_basis(X: np.ndarray, variance: float, n_components: int | None) -> np.ndarray:
    """Orthonormal basis ``[N, k]`` of the top-k left singular directions of centred ``X``."""
    U, s, _ = np.linalg.svd(X, full_matrices=False)
    tol = s[0] * max(X.shape) * np.finfo(np.float64).eps if s.size else 0.0
    rank = int(np.sum(s > tol))
    if rank == 0:
        raise InvalidParameterError("a representation has zero variance")
    if n_components is not None:
        k = min(n_components, rank)
    else:
        frac = np.cumsum(s[:rank] ** 2) / np.sum(s[:rank] ** 2)
        k = int(np.searchsorted(frac, variance - 1e-12) + 1)
        k = min(k, rank)
    return U[:, :k]


# --------------------------------------------------------------------------------------------
# All-pairs machinery
# --------------------------------------------------------------------------------------------


def trajectory_matrices(metric: Metric, ensemble: Any) -> np.ndarray:
    """Every member's centred probe-set rates as ``[E, N = n·T, H]`` float64, after checks."""
    if getattr(ensemble, "params", None) is not None:
        check_finite_params(metric.name, ensemble.params, ("W_in", "W_hh", "b"))
    traj = np.asarray(ensemble.trajectories(), dtype=np.float64)
    if traj.ndim != 4:
        raise MetricError(
            f"metric {metric.name!r}: ensemble.trajectories() must be [E, n, T, H], got {traj.shape}"
        )
    E = traj.shape[0]
    X = traj.reshape(E, -1, traj.shape[-1])
    bad = ~np.isfinite(X.reshape(E, -1)).all(axis=1)
    if bad.any():
        raise MetricError(
            f"metric {metric.name!r}: member {int(np.flatnonzero(bad)[0])} has non-finite "
            "trajectories; check its weights"
        )
    scale = np.maximum(1.0, np.abs(X).reshape(E, -1).max(axis=1))
    X = X - X.mean(axis=1, keepdims=True)
    flat = np.abs(X).reshape(E, -1).max(axis=1) <= 1e-12 * scale
    if flat.any():
        raise MetricError(
            f"metric {metric.name!r}: member {int(np.flatnonzero(flat)[0])} has constant "
            "trajectories on the probe set (zero variance); a representation distance is "
            "undefined for it"
        )
    return X


def _cross_reduce(
    Za: np.ndarray,
    Zb: np.ndarray,
    reduce: Callable[[np.ndarray], np.ndarray],
    symmetric: bool,
) -> np.ndarray:
    """``out[a, b] = reduce(Za[a]ᵀ Zb[b])`` for all pairs, with ``Za [Ea, N, Ha]``.

    The cross products come from blocked matrix products ``[N, ca·Ha]ᵀ [N, Eb·Hb]``; ``reduce``
    maps a batch ``[..., Ha, Hb]`` to ``[...]``. With ``symmetric`` only the upper triangle of
    blocks is computed and mirrored.
    """
    Ea, N, Ha = Za.shape
    Eb, _, Hb = Zb.shape
    A = np.ascontiguousarray(Za.transpose(1, 0, 2).reshape(N, Ea * Ha))
    B = A if symmetric else np.ascontiguousarray(Zb.transpose(1, 0, 2).reshape(N, Eb * Hb))
    out = np.zeros((Ea, Eb))
    chunk = max(1, int(_BLOCK_BYTES // max(1, 8 * Ha * Hb * Eb)))
    for start in range(0, Ea, chunk):
        stop = min(Ea, start + chunk)
        b0 = start if symmetric else 0
        block = A[:, start * Ha : stop * Ha].T @ B[:, b0 * Hb :]
        block = block.reshape(stop - start, Ha, Eb - b0, Hb).transpose(0, 2, 1, 3)
        out[start:stop, b0:] = reduce(block)
    if symmetric:
        upper = np.triu(out)
        out = upper + np.triu(out, 1).T
    return out


@dataclass
class _RepresentationMetric(Metric):
    level: ClassVar[Level] = "representation"
    invariances: ClassVar[frozenset[str]] = _ALL

    def _check_samples(self, emb_a: Any, emb_b: Any) -> None:
        na, nb = emb_a["Z"].shape[1], emb_b["Z"].shape[1]
        if na != nb:
            raise InvalidParameterError(
                f"metric {self.name!r}: the ensembles have different numbers of probe samples "
                f"({na} vs {nb}); compare on the same probe set"
            )


@dataclass
class CKA(_RepresentationMetric):
    """``1 − linear CKA`` between probe-set trajectories (see the module docstring)."""

    name: ClassVar[str] = "cka"

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        X = trajectory_matrices(self, ensemble)
        gram_norm = np.array([np.linalg.norm(x.T @ x) for x in X])
        return {"Z": X, "norm": gram_norm}

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        self._check_samples(emb_a, emb_b)
        cross = _cross_reduce(emb_a["Z"], emb_b["Z"], lambda c: np.sum(c * c, axis=(-2, -1)),
                              symmetric)
        cka = cross / np.outer(emb_a["norm"], emb_b["norm"])
        return np.clip(1.0 - cka, 0.0, 1.0)


@dataclass
class ProcrustesShape(_RepresentationMetric):
    """Angular Procrustes shape distance (Williams et al. 2021), orthogonal alignment, in radians."""

    name: ClassVar[str] = "procrustes"

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        X = trajectory_matrices(self, ensemble)
        X = X / np.linalg.norm(X.reshape(X.shape[0], -1), axis=1)[:, None, None]
        return {"Z": X}

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        self._check_samples(emb_a, emb_b)
        nuc = _cross_reduce(emb_a["Z"], emb_b["Z"], _nuclear, symmetric)
        return np.arccos(np.clip(nuc, -1.0, 1.0))


@dataclass
class SVCCA(_RepresentationMetric):
    """SVCCA distance: 1 − mean canonical correlation of the SVD-reduced trajectories.

    ``variance``: fraction of variance the kept singular directions must explain (default 0.99);
    ``n_components``: keep a fixed number instead (capped at the rank).
    """

    variance: float = 0.99
    n_components: int | None = None

    name: ClassVar[str] = "svcca"

    def __post_init__(self) -> None:
        if not 0 < self.variance <= 1:
            raise InvalidParameterError(f"svcca: variance must be in (0, 1], got {self.variance}")
        if self.n_components is not None and (
            not isinstance(self.n_components, int) or self.n_components < 1
        ):
            raise InvalidParameterError(
                f"svcca: n_components must be a positive integer or None, got {self.n_components!r}"
            )

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        X = trajectory_matrices(self, ensemble)
        bases = [_svd_basis(x, self.variance, self.n_components) for x in X]
        k = np.array([q.shape[1] for q in bases])
        Z = np.zeros((len(bases), X.shape[1], int(k.max())))
        for i, q in enumerate(bases):  # zero columns add only zero singular values
            Z[i, :, : q.shape[1]] = q
        return {"Z": Z, "k": k}

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        self._check_samples(emb_a, emb_b)
        total = _cross_reduce(emb_a["Z"], emb_b["Z"], _nuclear, symmetric)
        k = np.minimum.outer(emb_a["k"], emb_b["k"])
        return np.clip(1.0 - total / k, 0.0, 1.0)


def _nuclear(block: np.ndarray) -> np.ndarray:
    """Sum of singular values over the last two axes (batched)."""
    return np.linalg.svd(block, compute_uv=False).sum(axis=-1)
