"""Dynamical Similarity Analysis (Ostrow et al. 2023): fast, deterministic, reliable.

DSA compares two networks by their *dynamics*: each network's hidden-state trajectories are
delay-embedded, a linear operator is fitted to them by HAVOK-style reduced-rank DMD, and two
operators are compared up to an orthogonal change of basis:

    euclidean:  d(A, B) = min_{C in O(n)} || A/|A| - C (B/|B|) C^T ||_F           in [0, 2]
    angular:    d(A, B) = arccos max_{C in O(n)} <A, C B C^T> / (|A| |B|)           in [0, pi]

(``|.|`` the Frobenius norm, ``<X, Y> = tr(X^T Y)``; both are minimisations of the same problem,
euclidean = 2 sin(angular / 2)). The definitions are those of the reference implementation
``dsa-metric`` 2.0.2 (package ``DSA``): the operator is its ``DMD.A_v``, the scores those of
``SimilarityTransformDist.score`` (operators normalised to unit Frobenius norm), and the
``wasserstein`` variant its eigenvalue-spectrum transport cost. What differs is the optimiser:

- the reference runs Adam for a fixed number of iterations from one random start (and again on B
  with two coordinates swapped, to reach the det = -1 half of O(n)); it often stops short of a
  local optimum, and on a network against a copy of itself with permuted units it can return
  0.3 rad instead of 0;
- here each pair is solved from ``n_starts`` starting points (first structured ones: eigenbases of
  the symmetric parts, eigenvectors and right singular vectors matched between the two operators
  with signs or phases solved for, exact for twins; then seeded random orthogonal matrices, of
  both determinants) by Riemannian ascent on O(n) with the Cayley retraction, in two phases:
  every start is first moved by scaled gradient steps to a Riemannian gradient norm of
  ``screen_tol`` (a dozen or two cheap iterations); then the ``keep`` best per pair (above
  rank 16; all of them up to it) are run to a gradient norm <= ``tol`` by Riemannian L-BFGS,
  which needs about half the iterations of gradient steps on these ill-conditioned problems.
  All pairs x starts are one batched ``torch`` computation (CPU or GPU, chunked to bound
  memory). The best optimum is kept; its distance is evaluated in float64 from the residual,
  accurate near 0.

The problem is posed between canonical forms of the two operators (each in the eigenbasis of its
symmetric part, basis signs fixed by the operator itself) and every starting point is built from
them, so the distance found is the same in every basis of either operator, as the distance itself
is. (Starts taken from the operators' own coordinates made it depend on them: the same dynamics
written with other singular-vector signs, as by the reference's DMD, could get another optimum.)

The landscape is rugged: at rank 50, 16 starts typically end in about 10 distinct local optima,
and the ranking after screening predicts the final one only weakly. ``n_starts`` and ``keep`` are
therefore the knobs of a speed / reliability trade-off (``benchmarks/dsa_vs_reference.py``).

A smaller distance is a more similar pair. Results are deterministic and exactly symmetric: each
unordered pair is solved once, in an orientation fixed by the content of the two operators.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.linalg import eigh as _scipy_eigh
from scipy.optimize import linear_sum_assignment
from scipy.sparse.linalg import ArpackError as _ArpackError
from scipy.sparse.linalg import eigsh as _eigsh

from degzoo.errors import InvalidParameterError
from degzoo.metrics.base import Level, Metric, checkpoint

__all__ = [
    "DSA",
    "DSAWasserstein",
    "ProcrustesInfo",
    "cross_dsa",
    "delay_embed",
    "dmd_operator",
    "eigenvalue_distance",
    "fit_dmd",
    "fit_dmd_operators",
    "min_trial_length",
    "pairwise_dsa",
    "similarity_transform_distance",
    "spectrum_distance",
]

SCORES = ("angular", "euclidean", "wasserstein")

# --------------------------------------------------------------------------------------------
# DMD: delay embedding + HAVOK reduced-rank regression (matches DSA.dmd.DMD, reduced_rank_reg=False)
# --------------------------------------------------------------------------------------------


def min_trial_length(n_delays: int, delay_interval: int = 1) -> int:
    """Shortest trial for which the delay embedding has at least one one-step transition."""
    return (n_delays - 1) * delay_interval + 2


def check_dmd_params(n_delays: int, rank: int, delay_interval: int) -> None:
    """DMD settings are positive integers (shared with ``dsa_metric_ref``, which fits the same DMD)."""
    for label, value in (("n_delays", n_delays), ("rank", rank), ("delay_interval", delay_interval)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"DSA: {label} must be a positive integer, got {value!r}")


def as_trials(trajectories: Any, what: str = "trajectories") -> np.ndarray:
    """Finite float64 trajectories ``[n_trials, T, H]`` (one ``[T, H]`` trial is promoted)."""
    x = np.asarray(trajectories, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InvalidParameterError(f"DSA: {what} must be [n_trials, T, H] (or [T, H]), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError(f"DSA: {what} contain NaN or inf; check the network's weights")
    return x


def delay_embed(trajectories: np.ndarray, n_delays: int, delay_interval: int = 1) -> np.ndarray:
    """Delay embedding ``[n_trials, T', n_delays * H]`` with the reference's layout.

    ``T' = T - (n_delays - 1) * delay_interval``; row ``t`` holds, block ``d``, the state at time
    ``t + (n_delays - 1 - d) * delay_interval`` (block 0 is the most recent state), exactly as
    ``DSA.dmd.embed_signal_torch``. Only used for inspection: :func:`fit_dmd` never builds it.
    """
    x = as_trials(trajectories)
    check_dmd_params(n_delays, 1, delay_interval)
    k, t, h = x.shape
    t_eff = t - (n_delays - 1) * delay_interval
    if t_eff < 1:
        raise InvalidParameterError(
            f"DSA: trials of {t} steps are too short for {n_delays} delays at interval "
            f"{delay_interval}; need T >= {(n_delays - 1) * delay_interval + 1}"
        )
    out = np.empty((k, t_eff, n_delays * h))
    for d in range(n_delays):
        o = (n_delays - 1 - d) * delay_interval
        out[:, :, d * h : (d + 1) * h] = x[:, o : o + t_eff]
    return out


def _hankel_gram(x: torch.Tensor, n_delays: int, delay_interval: int, t_eff: int) -> torch.Tensor:
    """``H^T H`` of the delay embedding, from lagged cross-products (never builds ``H``).

    Block ``(d1, d2)`` is ``sum_k sum_{t<T'} x[k, t+o1] x[k, t+o2]^T`` with ``o = (D-1-d) tau``;
    for each lag the per-time outer products are summed over trials and prefix-summed over time,
    so the cost is ``O(D K T H^2)`` instead of ``O(K T (D H)^2)``.
    """
    _, t, h = x.shape
    dim = n_delays * h
    gram = torch.empty((dim, dim), dtype=x.dtype, device=x.device)
    xt = x.permute(1, 2, 0).contiguous()  # [T, H, K]
    offsets = [(n_delays - 1 - d) * delay_interval for d in range(n_delays)]
    for m in range(n_delays):
        lag = m * delay_interval
        # S[u] = sum_k x[k, u] x[k, u + lag]^T, u = 0 .. T - lag - 1, prefix-summed over u
        s = torch.bmm(xt[: t - lag], xt[lag:].mT)
        cs = torch.cat([torch.zeros_like(s[:1]), torch.cumsum(s, dim=0)])
        for d1 in range(n_delays - m):
            d2 = d1 + m  # o2 = o1 - lag: rows of the block come from x[u], u = o2 .. o2 + T' - 1
            o2 = offsets[d2]
            blk = cs[o2 + t_eff] - cs[o2]
            gram[d2 * h : (d2 + 1) * h, d1 * h : (d1 + 1) * h] = blk
            if m:
                gram[d1 * h : (d1 + 1) * h, d2 * h : (d2 + 1) * h] = blk.T
    return gram


def _top_eigh(gram: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``rank`` largest eigenpairs of a symmetric PSD matrix, in decreasing order.

    Large CPU problems (the paper's 128 units x 20 delays: 2560 x 2560, rank 50) use Lanczos
    (ARPACK, to machine precision, fixed start vector: deterministic), several times faster than a
    full decomposition; small ones and GPU tensors a full ``eigh``.
    """
    dim = gram.shape[0]
    if gram.device.type == "cpu" and dim > 512 and rank < dim // 3:
        g = gram.numpy()
        try:
            w, v = _eigsh(g, k=rank, which="LA", tol=0, v0=np.ones(dim))
        except _ArpackError:
            w, v = _scipy_eigh(g, subset_by_index=[dim - rank, dim - 1], driver="evr")
        order = np.argsort(w)[::-1]
        return torch.from_numpy(w[order].copy()), torch.from_numpy(v[:, order].copy())
    evals, evecs = torch.linalg.eigh(gram)
    return evals.flip(0)[:rank], evecs.flip(1)[:, :rank]


def fit_dmd(
    trajectories: Any,
    n_delays: int,
    rank: int,
    delay_interval: int = 1,
    lamb: float = 1e-8,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """HAVOK DMD operator ``[rank, rank]`` of one network's trajectories ``[n_trials, T, H]``.

    Same definition as ``DSA.dmd.DMD(n_delays=, delay_interval=, rank=, lamb=).fit(x).A_v``:
    the delay embedding ``H`` (all trials stacked), its leading ``rank`` right singular vectors
    ``V`` (eigen-time-delay coordinates, ``V^T V = I``) and the ridge regression of ``V[t+1]`` on
    ``V[t]`` within trials. ``V`` comes from the eigendecomposition of ``H^T H`` (float64, built
    from lagged cross-products without forming ``H``); each column's sign is fixed so that its
    largest-magnitude entry is positive, which makes the operator *identical* for trajectories
    that differ by a permutation, sign flip, rotation or rescaling of the hidden units.
    """
    check_dmd_params(n_delays, rank, delay_interval)
    x_np = as_trials(trajectories)
    k, t, h = x_np.shape
    t_min = min_trial_length(n_delays, delay_interval)
    if t < t_min:
        raise InvalidParameterError(
            f"DSA: trials of T={t} steps are too short for n_delays={n_delays} at "
            f"delay_interval={delay_interval}: the minimum is T={t_min} "
            f"((n_delays - 1) * delay_interval + 2); use fewer delays or longer trials"
        )
    t_eff = t - (n_delays - 1) * delay_interval
    dim = n_delays * h
    max_rank = min(dim, k * (t_eff - 1))
    if rank > max_rank:
        raise InvalidParameterError(
            f"DSA: rank={rank} exceeds what the data support: at most min(n_delays * H, "
            f"n_trials * (T' - 1)) = min({dim}, {k * (t_eff - 1)}) = {max_rank} with "
            f"T' = T - (n_delays - 1) * delay_interval = {t_eff}; lower rank or add delays/trials"
        )
    return dmd_operator(torch.from_numpy(x_np).to(device), n_delays, rank, delay_interval, lamb).cpu().numpy()


def dmd_operator(x: torch.Tensor, n_delays: int, rank: int, delay_interval: int = 1, lamb: float = 1e-8, *,
                 differentiable: bool = False) -> torch.Tensor:
    """:func:`fit_dmd`'s operator from trajectories ``x`` ``[n_trials, T, H]`` (a float64 tensor,
    checked by the caller). ``differentiable``: the leading eigenvectors by a full ``eigh`` that
    autograd can follow, so that a loss on the operator trains the network behind ``x``
    (:mod:`degzoo.benchmark.trained_matches`); the same operator up to round-off."""
    _, t, h = x.shape
    t_eff = t - (n_delays - 1) * delay_interval
    gram = _hankel_gram(x, n_delays, delay_interval, t_eff)
    if differentiable:
        evals, evecs = torch.linalg.eigh(gram)
        evals, evecs = evals.flip(0)[:rank], evecs.flip(1)[:, :rank]
    else:
        evals, evecs = _top_eigh(gram, rank)
    lam_max, lam_min = float(evals[0].detach()), float(evals[-1].detach())
    if not lam_min > 1e-13 * lam_max:
        ratio = math.sqrt(max(lam_min, 0.0) / lam_max) if lam_max > 0 else 0.0
        raise InvalidParameterError(
            f"DSA: rank={rank} exceeds the numerical rank of the delay-embedded trajectories "
            f"(sigma_rank / sigma_1 = {ratio:.2e}); lower rank"
        )
    # V = H U / S, built block by block from the trajectories
    offsets = [(n_delays - 1 - d) * delay_interval for d in range(n_delays)]
    v = sum(x[:, o : o + t_eff] @ evecs[d * h : (d + 1) * h] for d, o in enumerate(offsets)) / evals.sqrt()
    flat = v.reshape(-1, rank)
    peak = flat.gather(0, flat.abs().argmax(dim=0, keepdim=True))[0]
    v = v * torch.where(peak < 0, -1.0, 1.0).to(v.dtype)
    v_minus = v[:, :-1].reshape(-1, rank)
    v_plus = v[:, 1:].reshape(-1, rank)
    gram_v = v_minus.T @ v_minus + lamb * torch.eye(rank, dtype=v.dtype, device=v.device)
    return torch.linalg.solve(gram_v, v_minus.T @ v_plus).T


def fit_dmd_operators(
    trajectories: Any,
    n_delays: int,
    rank: int,
    delay_interval: int = 1,
    lamb: float = 1e-8,
    device: str | torch.device = "cpu",
) -> np.ndarray:
    """DMD operators ``[E, rank, rank]`` of an ensemble's trajectories ``[E, n_trials, T, H]``."""
    trajs = np.asarray(trajectories)
    if trajs.ndim != 4:
        raise InvalidParameterError(
            f"DSA: ensemble trajectories must be [E, n_trials, T, H], got shape {trajs.shape}"
        )
    out = np.empty((trajs.shape[0], rank, rank))
    for e in range(trajs.shape[0]):
        checkpoint()
        out[e] = fit_dmd(trajs[e], n_delays, rank, delay_interval, lamb, device)
    return out


# --------------------------------------------------------------------------------------------
# Orthogonal similarity transform distance (Procrustes over vector fields)
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ProcrustesInfo:
    """Diagnostics of one solved pair: the best start, its gradient norm and iterations."""

    euclidean: float  # ||A/|A| - C B/|B| C^T||_F at the optimum found
    cosine: float  # <A, C B C^T> / (|A| |B|) there
    grad_norm: float  # Riemannian gradient norm there (normalised operators)
    iterations: int
    converged: bool
    start: str  # which starting point gave the best optimum
    det: float  # det(C): +1 or -1
    transform: np.ndarray  # C with A ~ C B C^T


def _check_score(score: str) -> None:
    if score not in SCORES:
        raise InvalidParameterError(f"DSA: score must be one of {SCORES}, got {score!r}")


def _as_operators(ops: Any, what: str) -> np.ndarray:
    a = np.asarray(ops, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] != a.shape[2]:
        raise InvalidParameterError(f"DSA: {what} must be [E, r, r] square operators, got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise InvalidParameterError(f"DSA: {what} contain NaN or inf")
    zero = np.linalg.norm(a, axis=(1, 2)) == 0
    if zero.any():
        raise InvalidParameterError(
            f"DSA: {what}[{int(np.argmax(zero))}] is all zeros; the distance is undefined for an "
            "operator without dynamics (check the trajectories it was fitted on)"
        )
    return a


def _digest(op: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(op, dtype=np.float64).tobytes(), digest_size=16).digest()


def _normalise(ops: np.ndarray) -> np.ndarray:
    return ops / np.linalg.norm(ops, axis=(1, 2))[:, None, None]


def _tree_signs(skew: np.ndarray) -> np.ndarray:
    """Signs ``d`` fixing an operator's canonical form up to a global sign (one operator).

    ``skew`` is the skew part of the operator in its symmetric-part eigenbasis, where the
    symmetric part is diagonal; flipping basis vector ``j`` flips row and column ``j``. Along a
    maximum spanning tree of ``|skew|`` grown from vector 0 (Prim), each new vector ``j`` reached
    from ``i`` takes the sign that makes ``d_lo d_hi skew[lo, hi] > 0`` (``lo < hi``). Every
    choice depends only on the operator, not on its coordinates; entries of zero weight (a
    symmetric block) leave the form unchanged under either sign.
    """
    n = skew.shape[0]
    weight = np.abs(skew)
    d = np.ones(n)
    reached = np.zeros(n, dtype=bool)
    reached[0] = True
    best = weight[0].copy()  # strongest link of each unreached vector to the tree
    parent = np.zeros(n, dtype=np.int64)
    for _ in range(n - 1):
        j = int(np.argmax(np.where(reached, -1.0, best)))
        i = int(parent[j])
        lo, hi = min(i, j), max(i, j)
        d[j] = d[i] * (-1.0 if skew[lo, hi] < 0 else 1.0)
        reached[j] = True
        closer = ~reached & (weight[j] > best)
        best[closer], parent[closer] = weight[j][closer], j
    return d


class _OperatorFeatures:
    """Each operator's canonical form and the decompositions that starting points are built from.

    The canonical form ``m = E^T a E`` is the normalised operator in the eigenbasis ``E`` of its
    symmetric part (eigenvalues ascending), the basis signs fixed by :func:`_tree_signs`; it is
    the same for ``a`` and ``Q a Q^T`` (any orthogonal ``Q``) up to rounding, so a solver that
    sees only canonical forms returns the same distance in every basis. ``frame`` is ``E``.
    """

    def __init__(self, ops: np.ndarray):
        a = _normalise(ops)
        sym = 0.5 * (a + a.transpose(0, 2, 1))
        self.sym_eigvals, frame = np.linalg.eigh(sym)
        m = frame.transpose(0, 2, 1) @ a @ frame
        for k in range(len(m)):
            d = _tree_signs(0.5 * (m[k] - m[k].T))
            frame[k] *= d
            m[k] *= d[:, None] * d
        self.frame, self.m = frame, m
        eigvals, vecs = np.linalg.eig(m)
        # LAPACK's order moves with rounding: sort by real, imaginary part
        order = np.lexsort((eigvals.imag, eigvals.real), axis=-1)
        self.eigvals = np.take_along_axis(eigvals, order, axis=-1)
        vecs = np.take_along_axis(vecs, order[:, None, :], axis=-1)
        self.eigvecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        try:
            self.eigvecs_inv = np.linalg.inv(self.eigvecs)
        except np.linalg.LinAlgError:
            self.eigvecs_inv = np.linalg.pinv(self.eigvecs)
        _, _, vh = np.linalg.svd(m)
        self.right_sv = vh.transpose(0, 2, 1)  # right singular vectors, decreasing values


def _sign_sync(a_t: np.ndarray, b_t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Signs ``d`` (batch ``[P, n]``) maximising ``sum_ij a_ij d_i b_ij d_j``, and a flip of one sign.

    Spectral initialisation (the leading eigenvector of the off-diagonal weight matrix; exact when
    ``a = D b D``) followed by greedy single flips; the second output is the best solution with
    the opposite parity (one more sign flipped, the cheapest), which lies in the other component
    of O(n).
    """
    w = a_t * b_t
    w = 0.5 * (w + w.transpose(0, 2, 1))
    n = w.shape[-1]
    w[:, np.arange(n), np.arange(n)] = 0.0
    _, vecs = np.linalg.eigh(w)
    d = np.sign(vecs[:, :, -1])
    d[d == 0] = 1.0
    rows = np.arange(d.shape[0])
    for _ in range(4 * n):
        gain = -4.0 * d * np.einsum("pij,pj->pi", w, d)
        best = np.argmax(gain, axis=1)
        improve = gain[rows, best] > 1e-14
        if not improve.any():
            break
        d[rows[improve], best[improve]] *= -1.0
    gain = -4.0 * d * np.einsum("pij,pj->pi", w, d)
    flip = np.argmax(gain, axis=1)
    d_other = d.copy()
    d_other[rows, flip] *= -1.0
    return d, d_other


def _polar(m: np.ndarray) -> np.ndarray:
    u, _, vh = np.linalg.svd(m)
    return u @ vh


def _random_orthogonal(n: int, count: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng([seed, n])
    out = np.empty((count, n, n))
    for i in range(count):
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        q = q * np.sign(np.diag(r))
        if (np.linalg.det(q) > 0) != (i % 2 == 0):  # alternate det +1 / det -1
            q[:, 0] = -q[:, 0]
        out[i] = q
    return out


_STRUCTURED = ("sym_eig", "sym_eig_flip", "eig", "svd", "svd_flip")


def _start_names(n_starts: int) -> list[str]:
    """Names of the first ``n_starts`` starting points: structured ones, then seeded random ones."""
    names = list(_STRUCTURED[:n_starts])
    names += [f"random{i}" for i in range(n_starts - len(names))]
    return names


def _matched_bases(
    ma: np.ndarray, mb: np.ndarray, ea: np.ndarray, eb: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``E_a D E_b^T`` for bases ``[P, n, n]`` paired column by column, signs ``D`` synchronised.

    Returns the transform with the synchronised signs and the one with one sign more flipped
    (the other component of O(n)).
    """
    ebt = eb.transpose(0, 2, 1)
    d, d2 = _sign_sync(ea.transpose(0, 2, 1) @ ma @ ea, ebt @ mb @ eb)
    return (ea * d[:, None, :]) @ ebt, (ea * d2[:, None, :]) @ ebt


def _build_starts(
    fa: _OperatorFeatures,
    fb: _OperatorFeatures,
    ia: np.ndarray,
    ib: np.ndarray,
    n_starts: int,
    seed: int,
) -> np.ndarray:
    """Starting transforms ``[P, S, n, n]`` for the canonical forms of the pairs ``(a[ia], b[ib])``.

    They aim at ``m_a ~ C m_b C^T`` and are built from the canonical forms only, so that they
    are the same in every basis of the operators. In order: the symmetric parts' eigenbases
    (sorted by eigenvalue, the canonical coordinates themselves) matched with the signs chosen by
    sign synchronisation, and the same with one sign flipped (the other component of O(n));
    eigenvectors matched by an optimal assignment of the eigenvalues; the right singular vectors
    (sorted by singular value) matched up to sign, and flipped; then random orthogonal matrices
    from ``seed``, alternately of determinant +1 and -1. The first three are exact for twins
    (A = Q B Q^T) with a generic spectrum.
    """
    ma, mb = fa.m[ia], fb.m[ib]
    p, n, _ = ma.shape
    names = _start_names(n_starts)
    out = np.empty((p, len(names), n, n))
    built: dict[str, Any] = {}
    if {"sym_eig", "sym_eig_flip"} & set(names):  # in canonical coordinates: signs only
        built["sym_eig"], built["sym_eig_flip"] = (d[:, :, None] * np.eye(n) for d in _sign_sync(ma, mb))
    if "eig" in names:
        built["eig"] = _eig_starts(fa, fb, ia, ib)
    if {"svd", "svd_flip"} & set(names):
        built["svd"], built["svd_flip"] = _matched_bases(ma, mb, fa.right_sv[ia], fb.right_sv[ib])
    n_random = sum(name.startswith("random") for name in names)
    rnd = _random_orthogonal(n, n_random, seed) if n_random else None
    for s, name in enumerate(names):
        out[:, s] = rnd[int(name[6:])] if name.startswith("random") else built[name]
    return out


_TIE_BREAK = 1e-9  # weight of the term that decides between mirror-image matchings of eigenvalues


def _eig_starts(fa: _OperatorFeatures, fb: _OperatorFeatures, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """C = polar(Re(V_A D V_B^-1)) with eigenvalues matched by assignment and phases D solved.

    The cost of matching eigenvalue ``l`` of A to ``m`` of B is ``|l - m|^2``; a matching and
    its mirror image (a part of it with every eigenvalue replaced by its complex conjugate, e.g.
    two real eigenvalues of A matched to a complex pair of B either way round) cost the same,
    so that rounding alone would decide between them. ``- 1e-9 Im(l m)``, which changes sign
    under the mirror, decides instead; it is far below the cost differences of distinct matchings.
    """
    p = len(ia)
    n = fa.m.shape[-1]
    out = np.empty((p, n, n))
    for k in range(p):
        la, lb = fa.eigvals[ia[k]], fb.eigvals[ib[k]]
        cost = np.abs(la[:, None] - lb[None, :]) ** 2 - _TIE_BREAK * (la[:, None] * lb[None, :]).imag
        _, perm = linear_sum_assignment(cost)
        va = fa.eigvecs[ia[k]]
        vb = fb.eigvecs[ib[k]][:, perm]
        vb_inv = fb.eigvecs_inv[ib[k]][perm]
        ga = va.conj().T @ va
        gb = vb.conj().T @ vb
        m = gb * ga.conj()
        m = 0.5 * (m + m.conj().T)
        _, w = np.linalg.eigh(m)
        w = w[:, -1]
        mag = np.abs(w)
        dd = np.where(mag > 1e-9, w.conj() / np.where(mag > 1e-9, mag, 1.0), 1.0)
        q = (va * dd) @ vb_inv
        q = q * np.exp(-0.5j * np.angle(np.sum(q * q)))
        c = q.real
        if not np.all(np.isfinite(c)) or np.linalg.norm(c) < 1e-12:
            out[k] = np.eye(n)
        else:
            out[k] = _polar(c)
    return out


def _orthonormalise(c: torch.Tensor) -> torch.Tensor:
    """One Newton-Schulz step towards the nearest orthogonal matrix (C is nearly orthogonal)."""
    eye = torch.eye(c.shape[-1], dtype=c.dtype, device=c.device)
    return 0.5 * torch.bmm(c, 3.0 * eye - torch.bmm(c.mT, c))


_MEMORY = 4  # L-BFGS memory: more costs more per iteration than it saves
_MAX_STEP = 4.0  # largest |W|_F of a step C <- C cay(W)


def _dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Row-wise dot products of two ``[B, k]`` batches (BLAS; ``linalg.vecdot`` is slower on CPU).

    A batch of one is computed as a batch of two: ``bmm`` takes another kernel (another summation
    order) for a single item, which made a pair's result depend on what else was in its batch."""
    if u.shape[0] == 1:
        return torch.bmm(u.repeat(2, 1).unsqueeze(1), v.repeat(2, 1).unsqueeze(2)).view(-1)[:1]
    return torch.bmm(u.unsqueeze(1), v.unsqueeze(2)).view(-1)


def _evaluate(
    a: torch.Tensor, b: torch.Tensor, bt: torch.Tensor, c: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """f = <a, C b C^T> and G = 2 x its Riemannian gradient (skew; f(C e^W) = f + <G, W>/2 + ...)."""
    m = torch.bmm(c.mT, torch.bmm(a, c))
    f = _dot(m.flatten(1), b.flatten(1))
    x = torch.baddbmm(torch.bmm(m, bt), bt, m, alpha=-1.0)
    return f, torch.sub(x, x.mT)


def _inverse_skew_shifted(x: torch.Tensor, leaf: int = 16) -> torch.Tensor:
    """Inverse of a batch of ``I + K`` with ``K`` skew-symmetric, by recursive 2x2 blocking.

    Every leading block and every Schur complement of ``I + K`` has a symmetric part >= I, hence
    singular values >= 1, so block elimination without pivoting is stable. Blocks of up to
    ``leaf`` rows go to LAPACK; above, batched matrix products, which on CPU are several times
    faster than a batched LAPACK inverse of the whole matrix.
    """
    n = x.shape[-1]
    if n <= leaf:
        return torch.linalg.inv_ex(x)[0]
    h = n // 2
    x11, x12, x21, x22 = x[:, :h, :h], x[:, :h, h:], x[:, h:, :h], x[:, h:, h:]
    inv11 = _inverse_skew_shifted(x11, leaf)
    t12 = torch.bmm(inv11, x12)
    inv22 = _inverse_skew_shifted(torch.baddbmm(x22, x21, t12, alpha=-1.0), leaf)
    t21 = torch.bmm(inv22, torch.bmm(x21, inv11))
    out = torch.empty_like(x)
    out[:, :h, :h] = torch.baddbmm(inv11, t12, t21)
    out[:, :h, h:] = torch.bmm(t12, inv22).neg_()
    out[:, h:, :h] = t21.neg_()
    out[:, h:, h:] = inv22
    return out


def _ascend(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    max_iter: int,
    tol: float,
    memory: int = _MEMORY,
) -> dict[str, torch.Tensor]:
    """Maximise f(C) = <a, C b C^T> over O(n) from each start ``c`` (a batch of items).

    Riemannian L-BFGS with ``memory`` pairs in the Lie algebra: a step is C <- C cay(W), W skew,
    and the gradients of different points are compared there (left trivialisation, the usual
    identity transport); a backtracking Armijo line search from the unit step; the Cayley
    retraction, which stays in the start's component of O(n). ``memory=0`` gives gradient steps
    scaled by the last Barzilai-Borwein ratio: cheaper per iteration, used to screen starts.
    An item stops when its
    Riemannian gradient norm is <= ``tol``, when three successive steps give no increase of f
    measurable in ``a.dtype`` or no step is accepted ("stalled": the precision limit), or after
    ``max_iter`` iterations. A stopped item is frozen (and leaves the working set once an eighth of
    it has stopped), so an item's result does not depend on the rest of the batch.
    Returns ``c, f, gn, it, stalled`` per item.
    """
    c1, max_ls, mem = 1e-4, 30, memory
    nb, n = a.shape[0], a.shape[-1]
    dev, dt = a.device, a.dtype
    slack = 8.0 * torch.finfo(dt).eps  # |f| <= 1: a change below this is rounding noise
    bt = b.mT.contiguous()
    f, big_g = _evaluate(a, b, bt, c)
    g = 0.5 * big_g.flatten(1)  # f(C cay(W)) = f + <g, W> + O(|W|^2)
    w: dict[str, torch.Tensor] = {
        "a": a,
        "b": b,
        "bt": bt,
        "c": c.clone(),
        "f": f,
        "g": g,
        "gg": _dot(g, g),
        "s": torch.zeros((nb, mem, n * n), dtype=dt, device=dev),  # past steps W (flat)
        "y": torch.zeros((nb, mem, n * n), dtype=dt, device=dev),  # -(change of g) over them
        "rho": torch.zeros((nb, mem), dtype=dt, device=dev),  # 1 / <s, y>; 0: empty slot
        "gamma": torch.ones(nb, dtype=dt, device=dev),  # initial inverse-Hessian scale
        "it": torch.zeros(nb, dtype=torch.long, device=dev),
        "flat": torch.zeros(nb, dtype=torch.long, device=dev),
        "stalled": torch.zeros(nb, dtype=torch.bool, device=dev),
    }
    result_keys = ("c", "f", "gg", "it", "stalled")
    out = {k: w[k].clone() for k in result_keys}
    ids = torch.arange(nb, device=dev)
    for k in itertools.count():
        checkpoint()  # a cancelled call (Ctrl-C in the harness) stops here, not at exit in torch
        active = (w["gg"] > tol * tol) & ~w["stalled"] & (w["it"] < max_iter)
        n_act = int(active.sum())
        if n_act * 8 <= len(ids) * 7:  # compact: >= 1/8 of the working set has stopped
            stop = ~active
            for key in result_keys:
                out[key][ids[stop]] = w[key][stop]
            if n_act == 0:
                break
            keep = active.nonzero().squeeze(1)
            w = {key: v[keep] for key, v in w.items()}
            ids = ids[keep]
            active = torch.ones(n_act, dtype=torch.bool, device=dev)
        g, s_hist, y_hist, rho, gamma = w["g"], w["s"], w["y"], w["rho"], w["gamma"]
        # two-loop recursion over the filled slots, newest first: d = H g, an ascent direction
        d = g.clone()
        slots = [(k - 1 - i) % mem for i in range(min(k, mem))]
        alphas = []
        for j in slots:
            alpha = rho[:, j] * _dot(s_hist[:, j], d)
            d.sub_(alpha[:, None] * y_hist[:, j])
            alphas.append(alpha)
        d.mul_(gamma[:, None])
        for j, alpha in zip(reversed(slots), reversed(alphas), strict=True):
            beta = rho[:, j] * _dot(y_hist[:, j], d)
            d.add_((alpha - beta)[:, None] * s_hist[:, j])
        gd = _dot(g, d)
        bad = ~(gd > 0)
        if bool(bad.any()):  # not an ascent direction: forget the history, take the gradient
            d[bad] = g[bad] * gamma[bad, None]
            gd = torch.where(bad, gamma * w["gg"], gd)
            rho[bad] = 0.0
        # a longer step is not a larger rotation (cay maps it near -I) and loses orthogonality
        shrink = (_MAX_STEP / _dot(d, d).sqrt()).clamp(max=1.0)
        d.mul_(shrink[:, None])
        gd = gd * shrink
        d = d.view(-1, n, n)
        a_w, b_w, bt_w, c_w, f_w = w["a"], w["b"], w["bt"], w["c"], w["f"]
        t = torch.ones(len(ids), dtype=dt, device=dev)
        new_c = _cayley(c_w, d)
        if k % 4 == 0:  # rounding errors of the retraction would otherwise accumulate
            new_c = _orthonormalise(new_c)
        new_f, new_big_g = _evaluate(a_w, b_w, bt_w, new_c)
        accepted = (new_f >= f_w + c1 * gd - slack) & active
        pend = (active & ~accepted).nonzero().squeeze(1)
        for _ls in range(max_ls):
            if pend.numel() == 0:
                break
            t[pend] *= 0.5
            cn = _cayley(c_w[pend], d[pend] * t[pend, None, None])
            fn, gn = _evaluate(a_w[pend], b_w[pend], bt_w[pend], cn)
            ok = fn >= f_w[pend] + c1 * t[pend] * gd[pend] - slack
            good = pend[ok]
            new_c[good], new_f[good], new_big_g[good] = cn[ok], fn[ok], gn[ok]
            accepted[good] = True
            pend = pend[~ok]
        new_g = 0.5 * new_big_g.flatten(1)
        s = d.flatten(1) * t[:, None]
        y = g - new_g  # <s, y> > 0 where f is locally concave
        sy, yy, ss = (_dot(u, v) for u, v in ((s, y), (y, y), (s, s)))
        update = accepted & (sy > 1e-10 * torch.sqrt(yy * ss))
        if mem:
            j = k % mem
            s_hist[update, j], y_hist[update, j] = s[update], y[update]
            rho[:, j] = torch.where(update, 1.0 / sy.clamp_min(1e-30), torch.zeros_like(sy))
        w["gamma"] = torch.where(update, sy / yy.clamp_min(1e-30), gamma)
        flat = accepted & (new_f <= f_w)
        w["flat"] = torch.where(flat, w["flat"] + 1, torch.zeros_like(w["flat"]))
        if bool(accepted.all()):
            w["c"], w["g"], w["f"] = new_c, new_g, new_f
        else:
            w["c"] = torch.where(accepted[:, None, None], new_c, c_w)
            w["g"] = torch.where(accepted[:, None], new_g, g)
            w["f"] = torch.where(accepted, new_f, f_w)
        w["gg"] = _dot(w["g"], w["g"])
        w["it"] = w["it"] + active.long()
        w["stalled"] = w["stalled"] | (active & ~accepted) | (w["flat"] >= 3)
    out["gn"] = out.pop("gg").clamp_min(0).sqrt()
    return out


def _cayley(c: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """C cay(W) for skew W: cay(W) = (I - W/2)^-1 (I + W/2) = 2 (I - W/2)^-1 - I."""
    x = w * -0.5
    x.diagonal(dim1=1, dim2=2).add_(1.0)
    inv = _inverse_skew_shifted(x) if x.device.type == "cpu" else torch.linalg.inv_ex(x)[0]
    return torch.baddbmm(c, c, inv, beta=-1.0, alpha=2.0)


_SMALL_RANK = 16  # up to this rank every start is run to convergence by default
_KEEP = 4  # above it, the best starts after screening that are run to convergence


def _solve_pairs(
    feats: _OperatorFeatures,
    first: np.ndarray,
    second: np.ndarray,
    *,
    n_starts: int,
    max_iter: int,
    tol: float,
    keep: int | None,
    screen_tol: float,
    seed: int,
    device: str | torch.device,
    dtype: str,
    max_batch_bytes: int,
) -> list[ProcrustesInfo]:
    """Solve max_C <a_i, C a_j C^T> for the pairs (first[k], second[k]); one info per pair.

    The problem is solved between the operators' canonical forms (``feats.m``), so the result is
    the same in every basis of either operator; the transform reported maps back to theirs.

    Every start is first run by gradient steps until its gradient norm is below ``screen_tol``
    (a dozen or two iterations; the basin is decided here); then the ``keep`` best of each pair
    (by f; None: all up to rank 16, else 4) are run to convergence (gradient norm <= ``tol``)
    by L-BFGS. The iterations run in ``dtype`` (float32: about twice as fast as float64
    and, at the default tolerance, within ~1e-6 of the float64 optimum; rounding drift is
    removed by a Newton-Schulz step every 4 iterations); each pair's final candidates are
    re-orthonormalised and compared, and the distance evaluated, in float64.
    """
    n = feats.m.shape[-1]
    names = _start_names(n_starts)
    n_s = len(names)
    keep = min(n_s if keep is None and n <= _SMALL_RANK else keep or _KEEP, n_s)
    dev = torch.device(device)
    work = torch.float32 if dtype == "float32" else torch.float64
    per_item = 56 * n * n * (4 if dtype == "float32" else 8)  # iterates, temporaries, L-BFGS history
    pairs_per_chunk = max(1, max_batch_bytes // (per_item * n_s))
    infos: list[ProcrustesInfo] = []
    for lo in range(0, len(first), pairs_per_chunk):
        ca, cb = first[lo : lo + pairs_per_chunk], second[lo : lo + pairs_per_chunk]
        p = len(ca)
        starts = _build_starts(feats, feats, ca, cb, n_starts, seed)  # [p, S, n, n]
        a = torch.from_numpy(feats.m[ca]).to(dev)
        b = torch.from_numpy(feats.m[cb]).to(dev)
        aw, bw = a.to(work), b.to(work)
        c0 = torch.from_numpy(np.ascontiguousarray(starts.reshape(p * n_s, n, n))).to(dev, work)
        iters = torch.zeros(p * n_s, dtype=torch.long, device=dev)
        if tol < screen_tol:
            st = _ascend(
                aw.repeat_interleave(n_s, dim=0),
                bw.repeat_interleave(n_s, dim=0),
                c0,
                max_iter,
                screen_tol,
                memory=0,
            )
            f1 = st["f"].reshape(p, n_s)
            order = torch.argsort(-f1, dim=1, stable=True)[:, :keep]  # ties: first start
            sel = (order + torch.arange(p, device=dev)[:, None] * n_s).reshape(-1)
            c0, iters, start_ids = st["c"][sel], st["it"][sel], order.reshape(-1)
            per = keep
        else:
            start_ids = torch.arange(n_s, device=dev).repeat(p)
            per = n_s
        st = _ascend(
            aw.repeat_interleave(per, dim=0),
            bw.repeat_interleave(per, dim=0),
            c0,
            max_iter,
            tol,
        )
        # pick each pair's best candidate in float64 (float32 cannot rank near-ties, e.g. twins)
        # exactly orthogonal (polar factor), so every distance is attained by some C in O(n)
        u, _, vh = torch.linalg.svd(st["c"].to(torch.float64))
        c_all = torch.bmm(u, vh)
        a_rep, b_rep = a.repeat_interleave(per, dim=0), b.repeat_interleave(per, dim=0)
        resid_all = a_rep - torch.bmm(torch.bmm(c_all, b_rep), c_all.mT)
        eucl_all = torch.linalg.vector_norm(resid_all, dim=(1, 2)).reshape(p, per)
        best = torch.argmin(eucl_all, dim=1)  # first minimum: deterministic
        rows = torch.arange(p, device=dev) * per + best
        c_best = c_all[rows]
        # the distance from the residual itself: accurate near 0, unlike arccos(f)
        eucl = eucl_all.reshape(-1)[rows].cpu().numpy()
        cos = torch.linalg.vecdot(a.flatten(1), (a - resid_all[rows]).flatten(1)).cpu().numpy()
        gn = st["gn"][rows].to(torch.float64).cpu().numpy()
        its = (st["it"][rows] + iters[rows]).cpu().numpy()
        stalled = st["stalled"][rows].cpu().numpy()
        sid = start_ids[rows].cpu().numpy()
        # back from canonical coordinates: a ~ C b C^T with C = E_a C_m E_b^T
        cb_np = feats.frame[ca] @ c_best.cpu().numpy() @ feats.frame[cb].transpose(0, 2, 1)
        for k in range(p):
            infos.append(
                ProcrustesInfo(
                    euclidean=float(eucl[k]),
                    cosine=float(cos[k]),
                    grad_norm=float(gn[k]),
                    iterations=int(its[k]),
                    converged=bool(gn[k] <= tol or stalled[k]),
                    start=names[int(sid[k])],
                    det=float(np.sign(np.linalg.det(cb_np[k]))),
                    transform=cb_np[k],
                )
            )
    return infos


def _score_from(info: ProcrustesInfo, score: str) -> float:
    eucl = info.euclidean
    if score == "euclidean":
        return eucl
    return float(2.0 * math.asin(min(1.0, eucl / 2.0)))


def eigenvalue_distance(A: Any, B: Any) -> float:
    """The reference's ``wasserstein`` score between the eigenvalue spectra of two operators.

    Eigenvalues are points of the complex plane with uniform weights; the score is the optimal
    transport cost with squared-euclidean ground cost, as ``ot.emd2(1/n, 1/n, ot.dist(a, b))`` in
    ``DSA.simdist``: ``min over permutations s of (1/n) sum_i |l_i - m_s(i)|^2`` (a squared
    2-Wasserstein distance, on the raw, unnormalised operators). Spectra of different sizes are
    padded with zeros, as in the reference.
    """
    la = np.linalg.eigvals(np.asarray(A, dtype=np.float64))
    lb = np.linalg.eigvals(np.asarray(B, dtype=np.float64))
    return spectrum_distance(la, lb)


def spectrum_distance(la: np.ndarray, lb: np.ndarray) -> float:
    """:func:`eigenvalue_distance` between two sets of eigenvalues."""
    n = max(len(la), len(lb))
    la = np.concatenate([la, np.zeros(n - len(la))])
    lb = np.concatenate([lb, np.zeros(n - len(lb))])
    cost = np.abs(la[:, None] - lb[None, :]) ** 2
    r, c = linear_sum_assignment(cost)
    return float(np.sort(cost[r, c]).sum() / n)


def _wasserstein_matrix(ops_a: np.ndarray, ops_b: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    la = np.linalg.eigvals(ops_a)
    lb = la if ops_b is ops_a else np.linalg.eigvals(ops_b)
    da = [_digest(o) for o in ops_a]
    db = da if ops_b is ops_a else [_digest(o) for o in ops_b]
    out = np.zeros((len(ops_a), len(ops_b)))
    for i, j in pairs:
        if da[i] <= db[j]:
            out[i, j] = spectrum_distance(la[i], lb[j])
        else:
            out[i, j] = spectrum_distance(lb[j], la[i])
    return out


def _orientation_keys(feats: _OperatorFeatures, ops: np.ndarray) -> list[tuple[Any, ...]]:
    """Per operator, a key that orders the two operators of a pair, the same in every basis.

    The symmetric part's spectrum of the normalised operator, rounded to 1e-9: far above the
    ~1e-15 differences a change of basis leaves in it, so a rotated operator gets the same key
    (unless a value lies within ~1e-15 of a rounding boundary). Operators with equal spectra
    (twins) are ordered by their bytes.
    """
    return [(*np.round(ev, 9).tolist(), _digest(op)) for ev, op in zip(feats.sym_eigvals, ops, strict=True)]


def _oriented_pairs(
    da: Sequence[Any], db: Sequence[Any], pairs: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each pair, whether to solve it as (a_i, b_j) or as (b_j, a_i): fixed by content."""
    flip = np.array([da[i] > db[j] for i, j in pairs], dtype=bool)
    ii = np.array([i for i, _ in pairs], dtype=np.int64)
    jj = np.array([j for _, j in pairs], dtype=np.int64)
    return ii, jj, flip


def _distance_matrix(
    ops_a: np.ndarray,
    ops_b: np.ndarray,
    pairs: Sequence[tuple[int, int]],
    score: str,
    *,
    n_starts: int,
    max_iter: int,
    tol: float,
    keep: int | None,
    screen_tol: float,
    seed: int,
    device: str | torch.device,
    dtype: str,
    max_batch_bytes: int,
    return_info: bool = False,
) -> tuple[np.ndarray, dict[tuple[int, int], ProcrustesInfo]]:
    _check_score(score)
    out = np.zeros((len(ops_a), len(ops_b)))
    infos: dict[tuple[int, int], ProcrustesInfo] = {}
    if not pairs:
        return out, infos
    if score == "wasserstein":
        return _wasserstein_matrix(ops_a, ops_b, pairs), infos
    if ops_a.shape[-1] != ops_b.shape[-1]:
        raise InvalidParameterError(
            f"DSA: operators of different ranks ({ops_a.shape[-1]} vs {ops_b.shape[-1]}) cannot be "
            "compared up to an orthogonal transform; fit both with the same rank, or use "
            "score='wasserstein'"
        )
    same = ops_b is ops_a
    # stack both operator sets so a flipped pair is just (b_j, a_i); features computed once
    allops = ops_a if same else np.concatenate([ops_a, ops_b])
    off = 0 if same else len(ops_a)
    feats = _OperatorFeatures(allops)
    keys = _orientation_keys(feats, allops)
    ii, jj, flip = _oriented_pairs(keys[: len(ops_a)], keys[off:], pairs)
    first = np.where(flip, jj + off, ii)
    second = np.where(flip, ii, jj + off)
    res = _solve_pairs(
        feats,
        first,
        second,
        n_starts=n_starts,
        max_iter=max_iter,
        tol=tol,
        keep=keep,
        screen_tol=screen_tol,
        seed=seed,
        device=device,
        dtype=dtype,
        max_batch_bytes=max_batch_bytes,
    )
    for (i, j), info, fl in zip(pairs, res, flip, strict=True):
        out[i, j] = _score_from(info, score)
        if return_info:
            if fl:  # report C for A ~ C B C^T in the caller's orientation
                info = dataclasses.replace(info, transform=info.transform.T.copy())
            infos[(i, j)] = info
    return out, infos


_DEFAULTS: dict[str, Any] = {
    "n_starts": 16,
    "keep": None,
    "screen_tol": 1e-2,
    "max_iter": 1000,
    "tol": 1e-5,
    "seed": 0,
    "device": "cpu",
    "dtype": "float32",
    "max_batch_bytes": 1 << 30,
}


def _solver_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(_DEFAULTS)
    if unknown:
        raise InvalidParameterError(
            f"DSA: unknown solver option(s) {sorted(unknown)}; known: {sorted(_DEFAULTS)}"
        )
    opts = {**_DEFAULTS, **kwargs}
    positive = ["n_starts", "max_iter", "max_batch_bytes"] + (["keep"] if opts["keep"] else [])
    for key in positive:
        value = opts[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"DSA: {key} must be an integer >= 1, got {value!r}")
    if opts["keep"] is not None and opts["keep"] == 0:
        raise InvalidParameterError("DSA: keep must be None or an integer >= 1, got 0")
    seed = opts["seed"]
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"DSA: seed must be an integer, got {opts['seed']!r}")
    if opts["dtype"] not in ("float32", "float64"):
        raise InvalidParameterError(f"DSA: dtype must be 'float32' or 'float64', got {opts['dtype']!r}")
    for key in ("tol", "screen_tol"):
        if not float(opts[key]) > 0:
            raise InvalidParameterError(f"DSA: {key} must be > 0, got {opts[key]!r}")
    return opts


def similarity_transform_distance(
    A: Any,
    B: Any,
    score: str = "angular",
    *,
    return_info: bool = False,
    **solver: Any,
) -> float | tuple[float, ProcrustesInfo | None]:
    """Distance between two operators up to an orthogonal similarity transform.

    ``score="euclidean"``: ``min_{C in O(n)} ||A/|A| - C (B/|B|) C^T||_F`` (in [0, 2]);
    ``score="angular"``: ``arccos max_C <A, C B C^T>/(|A||B|)`` (in [0, pi]), computed as
    ``2 arcsin(euclidean / 2)``: the same number, accurate near 0; ``score="wasserstein"``:
    :func:`eigenvalue_distance`. Smaller is more similar; exactly symmetric and deterministic.

    Solver options (keywords): ``n_starts`` (16: structured starts first, then seeded random
    ones), ``keep`` (None: every start is run to convergence up to rank 16, the best 4 after
    screening above), ``screen_tol`` (1e-2), ``tol`` (1e-5, on the Riemannian gradient norm of
    the normalised problem), ``max_iter`` (1000 per phase), ``seed``, ``dtype`` ("float32" for
    the iterations, twice as fast; "float64"), ``device`` ("cpu", "cuda", ...). With
    ``return_info=True`` also returns a :class:`ProcrustesInfo` (transform, convergence).
    """
    opts = _solver_kwargs(solver)
    a = _as_operators(A, "A")
    b = _as_operators(B, "B")
    if a.shape[0] != 1 or b.shape[0] != 1:
        raise InvalidParameterError("DSA: similarity_transform_distance takes two single operators")
    dist, infos = _distance_matrix(a, b, [(0, 0)], score, return_info=return_info, **opts)
    if return_info:
        return float(dist[0, 0]), infos.get((0, 0))
    return float(dist[0, 0])


def pairwise_dsa(operators: Any, score: str = "angular", **solver: Any) -> np.ndarray:
    """All-pairs distances ``[E, E]`` between an ensemble's operators: symmetric, zero diagonal.

    Every unordered pair is solved once, all of them in one batched computation (chunked to
    bound memory). Solver options as in :func:`similarity_transform_distance`.
    """
    opts = _solver_kwargs(solver)
    ops = _as_operators(operators, "operators")
    e = len(ops)
    pairs = [(i, j) for i in range(e) for j in range(i + 1, e)]
    dist, _ = _distance_matrix(ops, ops, pairs, score, **opts)
    dist = dist + dist.T
    np.fill_diagonal(dist, 0.0)
    return dist


def cross_dsa(ops_a: Any, ops_b: Any, score: str = "angular", **solver: Any) -> np.ndarray:
    """Distances ``[Ea, Eb]`` between the operators of two ensembles.

    ``cross_dsa(a, b) == cross_dsa(b, a).T`` exactly: each pair is solved in an orientation fixed
    by the content of the two operators. Solver options as in
    :func:`similarity_transform_distance`.
    """
    opts = _solver_kwargs(solver)
    a = _as_operators(ops_a, "ops_a")
    b = _as_operators(ops_b, "ops_b")
    pairs = [(i, j) for i in range(len(a)) for j in range(len(b))]
    dist, _ = _distance_matrix(a, b, pairs, score, **opts)
    return dist


# --------------------------------------------------------------------------------------------
# Metric classes
# --------------------------------------------------------------------------------------------

#: What every DSA metric (ours and ``dsa_metric_ref``) is invariant to; the DMD coordinates are
#: whitened, so a rescaling of the states changes nothing either.
DSA_INVARIANCES = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})


@dataclasses.dataclass
class DSA(Metric):
    """Dynamical Similarity Analysis between the networks of an ensemble (level: dynamics).

    ``embed`` fits one DMD operator per network on ``ensemble.trajectories()``
    (``[E, n_trials, T, H]``); ``compare`` solves the orthogonal Procrustes problem for every
    pair. DMD: ``n_delays``, ``rank``, ``delay_interval``, ``lamb`` (ridge). Score: "angular"
    (the paper's) or "euclidean". Solver: ``n_starts``, ``keep``, ``screen_tol``, ``max_iter``,
    ``tol``, ``seed``, ``dtype``, see :func:`similarity_transform_distance`. ``device`` runs the
    DMD fits and the batched solver there (e.g. "cuda").

    The defaults (10 delays, rank 30) are degzoo's standard DSA settings, the same for every
    task and used by the harness, the control track and the report, so that values are
    comparable across the zoo: 10 delays fit the zoo's shortest trials (30 steps), and rank 30
    keeps most of the delay-embedded variance of 32-128-unit networks. DSA's scale depends on
    them: compare values only between runs with the same settings (results record them).
    """

    name: ClassVar[str] = "dsa"
    level: ClassVar[Level] = "dynamics"
    invariances: ClassVar[frozenset[str]] = DSA_INVARIANCES

    n_delays: int = 10
    rank: int = 30
    delay_interval: int = 1
    lamb: float = 1e-8
    score: str = "angular"
    n_starts: int = _DEFAULTS["n_starts"]
    keep: int | None = _DEFAULTS["keep"]
    screen_tol: float = _DEFAULTS["screen_tol"]
    max_iter: int = _DEFAULTS["max_iter"]
    tol: float = _DEFAULTS["tol"]
    seed: int = _DEFAULTS["seed"]
    dtype: str = _DEFAULTS["dtype"]
    device: str = _DEFAULTS["device"]

    def __post_init__(self) -> None:
        check_dmd_params(self.n_delays, self.rank, self.delay_interval)
        if self.score not in ("angular", "euclidean"):
            raise InvalidParameterError(
                f"DSA: score must be 'angular' or 'euclidean' (for the eigenvalue variant use "
                f"DSAWasserstein), got {self.score!r}"
            )
        self._solver()  # validates

    def _solver(self) -> dict[str, Any]:
        return _solver_kwargs({k: getattr(self, k) for k in _DEFAULTS if k != "max_batch_bytes"})

    def embed(self, ensemble: Any) -> np.ndarray:
        trajs = ensemble.trajectories() if hasattr(ensemble, "trajectories") else ensemble
        return fit_dmd_operators(trajs, self.n_delays, self.rank, self.delay_interval, self.lamb, self.device)

    def compare(self, emb_a: Any, emb_b: Any, symmetric: bool) -> np.ndarray:
        if symmetric:
            return pairwise_dsa(emb_a, self.score, **self._solver())
        return cross_dsa(emb_a, emb_b, self.score, **self._solver())


@dataclasses.dataclass
class DSAWasserstein(Metric):
    """DSA's eigenvalue variant: the reference's ``wasserstein`` score between DMD spectra.

    The mean squared distance between the two operators' eigenvalues under their optimal
    assignment (see :func:`eigenvalue_distance`). Cheap (one assignment per pair) and invariant to
    any similarity transform, orthogonal or not; it ignores the eigenvectors (the geometry of the
    flow), which the full DSA compares: another solution trained to carry a network's DMD spectrum
    (:mod:`degzoo.benchmark.trained_matches`) is near it here and far from it in DSA.
    """

    name: ClassVar[str] = "dsa_wasserstein"
    level: ClassVar[Level] = "dynamics"
    invariances: ClassVar[frozenset[str]] = DSA_INVARIANCES

    n_delays: int = 10
    rank: int = 30
    delay_interval: int = 1
    lamb: float = 1e-8
    device: str = "cpu"

    def __post_init__(self) -> None:
        check_dmd_params(self.n_delays, self.rank, self.delay_interval)

    def embed(self, ensemble: Any) -> np.ndarray:
        trajs = ensemble.trajectories() if hasattr(ensemble, "trajectories") else ensemble
        return fit_dmd_operators(trajs, self.n_delays, self.rank, self.delay_interval, self.lamb, self.device)

    def compare(self, emb_a: Any, emb_b: Any, symmetric: bool) -> np.ndarray:
        if symmetric:
            return pairwise_dsa(emb_a, "wasserstein")
        return cross_dsa(emb_a, emb_b, "wasserstein")
