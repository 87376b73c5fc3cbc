"""Weight-level degeneracy: distance between recurrent weight matrices up to a relabelling of units.

The paper's measure (Huang et al. 2025) is

    d(W1, W2) = min_P ‖W1 − Pᵀ W2 P‖_F / (number of entries),

over permutation matrices P, on the recurrent matrices. Rows and columns are permuted *together*
(unit i of one network plays the role of unit π(i) of the other), so this is a quadratic
assignment problem (QAP), NP-hard in general: a one-shot assignment on rows does not solve it.

Normalisation: the paper says "divided by the number of entries"; we take it literally, so the
default reported value is ``‖W1 − Pᵀ W2 P‖_F / H²`` — the Frobenius norm (not its square) divided
by H² (``normalize="entries"``). ``"rms"`` gives ‖·‖_F / H (root-mean-square entry difference) and
``"none"`` the raw norm. With ``use_io=True`` the permutation also acts on the rows of ``W_in`` and
the entries of ``b`` (inputs to each unit) and on the columns of ``W_out`` (its readout), their
squared differences join the objective, and the number of entries counted is H² + H·I + H + O·H.

Solver (deterministic given ``seed``):

0. canonical form — each network's units are put in a canonical order (sorted by their
   signature, below) and the pair is oriented canonically, so the result does not depend on how
   either network labels its units, and d(W1, W2) = d(W2, W1) bit for bit;
1. starting points — a *unit-signature* assignment (a linear assignment on permutation-invariant
   statistics of each unit: its self-weight, its sorted incoming and sorted outgoing weights and,
   when given, its input weights, bias and readout weights), an assignment on the input/readout
   alignment alone when ``W_in``/``W_out`` are given, the identity of the canonical order, the
   barycentre, and ``n_starts`` random doubly-stochastic points;
2. FAQ (Vogelstein et al. 2015: Frank–Wolfe on the doubly-stochastic relaxation, exact line
   search), extended with the linear term that the input/readout weights contribute, runs from
   the signature/io seeds, the barycentre and the random points;
3. every candidate permutation is polished by best-improvement 2-opt (swap two units) to a local
   optimum, with all H² swap gains evaluated at once in O(H³);
4. an iterated local search then makes ``n_kicks`` attempts to leave the best local optimum
   (shuffle 3–8 random units, 2-opt again, keep if better);
5. the best permutation found is kept; an exact match (distance 0) stops the search at once.

A heuristic for an NP-hard problem: the distance is an upper bound on the true minimum. It is
exact for a relabelled copy, reaches the brute-force optimum on small instances in the tests, and
beats qc-procrustes's ``permutation_2sided`` on trained networks (``benchmarks/weight_distance.py``).

Invariances: the metric (:class:`PermutationWeightDistance`, :func:`signed_permutation_distance`)
is invariant to permutations of hidden units and to flips of a unit's sign: a tanh network whose
unit i has all its weights negated (W_hh → D W_hh D, W_in → D W_in, b → D b, W_out → W_out D with
D = diag(±1)) computes the same function, so it is the same solution. The paper's measure
minimises over permutations only; ours over signed permutations, ``min_{P,D} ‖W1 − (DP)ᵀ W2 (DP)‖``
(whose optimum is never above the paper's; both searches are heuristics). Signs are first made
canonical per unit (each unit's largest input, bias or readout weight positive: those weights
change sign with their own unit only, so a sign-flipped copy becomes identical), units are put in
canonical order, then the permutation search runs, then best
single-unit sign flips alternate with 2-opt until neither helps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from scipy.optimize import linear_sum_assignment

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import Level, Metric
from degzoo.threads import one_blas_thread

Normalize = Literal["entries", "rms", "none"]
#: The values of ``normalize`` (see :func:`normalised_distance`).
NORMALIZATIONS = ("entries", "rms", "none")
_PAIR_NAMES = ("W_in", "b", "W_out")


# --------------------------------------------------------------------------------------------
# The assignment problem
# --------------------------------------------------------------------------------------------


def _lap(score: np.ndarray) -> np.ndarray:
    """Permutation maximising ``Σ_i score[i, perm[i]]``."""
    _, cols = linear_sum_assignment(score, maximize=True)
    return cols


def _perm_matrix(perm: np.ndarray) -> np.ndarray:
    n = perm.size
    P = np.zeros((n, n))
    P[np.arange(n), perm] = 1.0
    return P


def qap_objective(A: np.ndarray, B: np.ndarray, perm: np.ndarray, C: np.ndarray | None = None) -> float:
    """``Σ_ij A_ij B_{π(i)π(j)} + Σ_i C_{iπ(i)}`` (the quantity the solver maximises)."""
    value = float(np.sum(A * B[np.ix_(perm, perm)]))
    if C is not None:
        value += float(C[np.arange(perm.size), perm].sum())
    return value


def _faq(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray | None,
    P: np.ndarray,
    *,
    max_iter: int,
    tol: float,
) -> np.ndarray:
    """FAQ: Frank–Wolfe on ``max tr(Aᵀ P B Pᵀ) + tr(Cᵀ P)`` over doubly-stochastic P; returns a perm."""
    n = A.shape[0]
    At, Bt = A.T, B.T
    for _ in range(max_iter):
        grad = A @ P @ Bt + At @ P @ B
        if C is not None:
            grad = grad + C
        Q = _perm_matrix(_lap(grad))
        D = Q - P
        DB = D @ B
        PB = P @ B
        quad = float(np.sum(A * (DB @ D.T)))
        lin = float(np.sum(A * (PB @ D.T + DB @ P.T)))
        if C is not None:
            lin += float(np.sum(C * D))
        if quad < 0:  # concave along D: interior maximum, clipped to [0, 1]
            alpha = min(1.0, max(0.0, -lin / (2 * quad)))
        elif quad + lin > 0:  # convex: the better end point
            alpha = 1.0
        else:
            alpha = 0.0
        if alpha == 0.0:
            break
        step = alpha * D
        P = P + step
        if np.linalg.norm(step) / np.sqrt(n) < tol:
            break
    return _lap(P)


def _two_opt(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray | None,
    perm: np.ndarray,
    *,
    max_iter: int,
) -> np.ndarray:
    """Best-improvement 2-opt: swap the pair of units that most increases the objective, repeat.

    All H(H−1)/2 swap gains are evaluated at once: with M = B[π][:, π] (the permuted second
    matrix), the gain of exchanging π(r) and π(s) is a sum of terms read off A Mᵀ, Aᵀ M and the
    diagonals (O(H³) per move, in BLAS).
    """
    perm = perm.copy()
    n = perm.size
    if n < 2:
        return perm
    M = B[np.ix_(perm, perm)]
    Cp = C[:, perm] if C is not None else None
    a_d = np.diag(A)
    scale = float(np.abs(A).sum() * np.abs(B).max() + (np.abs(C).sum() if C is not None else 0.0))
    threshold = 1e-12 * max(scale, 1e-300)
    AmAt = A - A.T
    # Pieces that depend on A only.
    a_col = a_d[:, None]
    a_row = a_d[None, :]
    for _ in range(max_iter):
        m_d = np.diag(M)
        G = A @ M.T
        K = A.T @ M
        g_d, k_d = np.diag(G), np.diag(K)
        m_col, m_row = m_d[:, None], m_d[None, :]
        gain = (
            G + G.T - g_d[:, None] - g_d[None, :]
            - (a_col - A.T) * (M.T - m_col)
            - (A - a_row) * (m_row - M)
            + K + K.T - k_d[:, None] - k_d[None, :]
            - (a_col - A) * (M - m_col)
            - (A.T - a_row) * (m_row - M.T)
            + (a_col - a_row) * (m_row - m_col)
            + AmAt * (M.T - M)
        )
        if Cp is not None:
            c_d = np.diag(Cp)
            gain += Cp + Cp.T - c_d[:, None] - c_d[None, :]
        np.fill_diagonal(gain, -np.inf)
        flat = int(np.argmax(gain))
        r, s = divmod(flat, n)
        if not gain[r, s] > threshold:
            break
        perm[[r, s]] = perm[[s, r]]
        M[[r, s], :] = M[[s, r], :]
        M[:, [r, s]] = M[:, [s, r]]
        if Cp is not None:
            Cp[:, [r, s]] = Cp[:, [s, r]]
    return perm


def _sinkhorn(K: np.ndarray, n_iter: int = 100) -> np.ndarray:
    for _ in range(n_iter):
        K = K / K.sum(axis=1, keepdims=True)
        K = K / K.sum(axis=0, keepdims=True)
    return K


def _unit_signature(W: np.ndarray, extra: list[np.ndarray]) -> np.ndarray:
    """Permutation-invariant description of each unit: features that move with the unit."""
    n = W.shape[0]
    off = ~np.eye(n, dtype=bool)
    rows = np.sort(W[off].reshape(n, n - 1), axis=1)  # outgoing-to-others weights, as a multiset
    cols = np.sort(W.T[off].reshape(n, n - 1), axis=1)  # incoming-from-others weights
    return np.concatenate([np.diag(W)[:, None], rows, cols, *extra], axis=1)


def match_units(
    A: np.ndarray,
    B: np.ndarray,
    C: np.ndarray | None = None,
    *,
    seeds: list[np.ndarray] | None = None,
    n_starts: int = 4,
    n_kicks: int = 32,
    seed: int = 0,
    max_faq_iter: int = 30,
    max_swaps: int | None = None,
    exact_objective: float | None = None,
) -> np.ndarray:
    """Heuristic solution of ``max_π Σ_ij A_ij B_{π(i)π(j)} + Σ_i C_{iπ(i)}``.

    ``seeds`` (candidate permutations) and the identity are polished by 2-opt; FAQ then runs from
    the seeds, the barycentre and ``n_starts`` random doubly-stochastic points, each result
    polished by 2-opt. Finally an iterated local search makes ``n_kicks`` attempts to escape the
    best local optimum: shuffle a few random units of it, 2-opt again, keep the result if better.
    If ``exact_objective`` (the largest possible value, reached only by an exact match) is
    given, the search stops as soon as a candidate reaches it. Deterministic given ``seed``.
    """
    n = A.shape[0]
    if n == 1:
        return np.zeros(1, dtype=np.intp)
    max_swaps = 20 * n if max_swaps is None else max_swaps
    rng = np.random.default_rng(seed)
    best_perm, best_val = np.arange(n), -np.inf

    def consider(perm: np.ndarray) -> bool:
        nonlocal best_perm, best_val
        perm = _two_opt(A, B, C, perm, max_iter=max_swaps)
        val = qap_objective(A, B, perm, C)
        if val > best_val:
            best_perm, best_val = perm, val
        return exact_objective is not None and best_val >= exact_objective * (1 - 1e-12) - 1e-300

    for perm in [*(seeds or []), np.arange(n)]:
        if consider(np.asarray(perm, dtype=np.intp)):
            return best_perm
    # FAQ from the seeds (not from the arbitrary identity), the barycentre and random points.
    starts = [_perm_matrix(np.asarray(perm)) for perm in seeds or []]
    starts.append(np.full((n, n), 1.0 / n))
    for _ in range(n_starts):
        starts.append(0.5 * (np.full((n, n), 1.0 / n) + _sinkhorn(rng.random((n, n)))))
    for P0 in starts:
        if consider(_faq(A, B, C, P0, max_iter=max_faq_iter, tol=1e-6)):
            return best_perm
    for _ in range(n_kicks):
        size = int(rng.integers(3, min(n, 8) + 1)) if n >= 3 else 2
        units = rng.choice(n, size=size, replace=False)
        kicked = best_perm.copy()
        kicked[units] = kicked[rng.permutation(units)]
        if consider(kicked):
            break
    return best_perm


# --------------------------------------------------------------------------------------------
# The distance
# --------------------------------------------------------------------------------------------


def _as_pair(value: Any, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    if value is None:
        return None
    try:
        first, second = value
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"permutation_distance: {name} must be a pair (net1, net2)") from exc
    return np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)


def normalised_distance(sq: float, n_entries: int, normalize: str) -> float:
    """``sqrt(sq)`` normalised as ``normalize`` says (one of :data:`NORMALIZATIONS`)."""
    if normalize == "entries":
        return float(np.sqrt(sq)) / n_entries
    if normalize == "rms":
        return float(np.sqrt(sq / n_entries))
    return float(np.sqrt(sq))


def permutation_distance(
    W1: np.ndarray,
    W2: np.ndarray,
    *,
    use_io: bool = False,
    W_in: tuple[np.ndarray, np.ndarray] | None = None,
    W_out: tuple[np.ndarray, np.ndarray] | None = None,
    b: tuple[np.ndarray, np.ndarray] | None = None,
    n_starts: int = 4,
    n_kicks: int = 32,
    seed: int = 0,
    normalize: Normalize = "entries",
    max_faq_iter: int = 30,
) -> tuple[float, np.ndarray]:
    """``min_P ‖W1 − Pᵀ W2 P‖_F / H²`` over unit permutations, and the permutation found.

    Returns ``(distance, perm)`` with ``W2[perm][:, perm]`` the relabelled ``W2`` (unit i of net 1
    ↔ unit ``perm[i]`` of net 2). ``W_in``, ``W_out``, ``b`` are ``(net1, net2)`` pairs
    (``W_in [H, I]``, ``W_out [O, H]``, ``b [H]``); when given they seed the search, and with
    ``use_io=True`` their terms ‖W_in1 − P_rows W_in2‖², ‖b1 − P b2‖², ‖W_out1 − W_out2 P‖² join
    the objective and the count of entries. A heuristic: the result is an upper bound on the
    true minimum, exact when ``W2`` is a relabelled copy of ``W1``.
    """
    if normalize not in NORMALIZATIONS:
        raise InvalidParameterError(f"permutation_distance: normalize must be one of {NORMALIZATIONS}")
    A = np.asarray(W1, dtype=np.float64)
    B = np.asarray(W2, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape != B.shape:
        raise InvalidParameterError(
            f"permutation_distance: W1 and W2 must be square matrices of the same shape, "
            f"got {A.shape} and {B.shape}"
        )
    if not (np.isfinite(A).all() and np.isfinite(B).all()):
        raise InvalidParameterError("permutation_distance: the weights contain NaN or inf")
    n = A.shape[0]
    pairs = {"W_in": _as_pair(W_in, "W_in"), "b": _as_pair(b, "b"), "W_out": _as_pair(W_out, "W_out")}
    if use_io and pairs["W_in"] is None and pairs["W_out"] is None:
        raise InvalidParameterError("permutation_distance: use_io=True needs W_in and/or W_out")
    # Per-unit feature blocks [H, k] for the io terms: rows of W_in, entries of b, columns of W_out.
    unit_feats: list[tuple[np.ndarray, np.ndarray]] = []
    for key, pair in pairs.items():
        if pair is None:
            continue
        f1, f2 = pair
        if key == "W_out":
            f1, f2 = f1.T, f2.T
        f1, f2 = f1.reshape(n, -1), f2.reshape(n, -1)
        if f1.shape != f2.shape:
            raise InvalidParameterError(f"permutation_distance: {key} shapes differ between nets")
        unit_feats.append((f1, f2))

    # Canonical labels: order each network's units by their signature, so that the search (its
    # random starts included) does not depend on how either network happens to label its units,
    # and orient the pair canonically, so that d(W1, W2) and d(W2, W1) are the same computation.
    net1 = _canonical(A, [f for f, _ in unit_feats])
    net2 = _canonical(B, [f for _, f in unit_feats])
    swap = net2.key < net1.key
    first, second = (net2, net1) if swap else (net1, net2)
    perm_c, sq = _solve(first, second, use_io, n_starts, n_kicks, seed, max_faq_iter)
    if swap:  # perm_c maps net-2 units to net-1 units; invert it
        perm_c = np.argsort(perm_c)
    perm = np.empty(n, dtype=np.intp)
    perm[net1.order] = net2.order[perm_c]
    n_entries = n * n + (sum(f1.size for f1, _ in unit_feats) if use_io else 0)
    return normalised_distance(sq, n_entries, normalize), perm


def signed_permutation_distance(
    W1: np.ndarray,
    W2: np.ndarray,
    *,
    W_in: tuple[np.ndarray, np.ndarray] | None = None,
    W_out: tuple[np.ndarray, np.ndarray] | None = None,
    b: tuple[np.ndarray, np.ndarray] | None = None,
    use_io: bool = False,
    n_starts: int = 4,
    n_kicks: int = 32,
    seed: int = 0,
    normalize: Normalize = "entries",
    max_rounds: int = 10,
    sign_starts: int = 8,
) -> tuple[float, np.ndarray, np.ndarray]:
    """``min ‖W1 − (DP)ᵀ W2 (DP)‖_F / H²`` over unit permutations P and sign flips D, and the
    ``perm`` and ``signs`` found: unit i of net 1 ↔ unit ``perm[i]`` of net 2 times ``signs[i]``.

    Exact for a relabelled and sign-flipped copy when input, bias or readout weights are given
    (they set each unit's canonical sign). The search: a permutation search on the canonical signs;
    from its permutation, best single flips alternating with 2-opt, from no flips and from
    ``sign_starts`` random flips (seeded by ``seed``); then a second permutation search with the
    best flips found, polished the same way. Other arguments as :func:`permutation_distance`.
    """
    A = np.asarray(W1, dtype=np.float64)
    B = np.asarray(W2, dtype=np.float64)
    n = A.shape[0] if A.ndim == 2 else 0
    pairs = {"W_in": _as_pair(W_in, "W_in"), "b": _as_pair(b, "b"), "W_out": _as_pair(W_out, "W_out")}
    feats1, feats2 = [], []
    for key, pair in pairs.items():
        if pair is not None:
            f1, f2 = (pair[0].T, pair[1].T) if key == "W_out" else pair
            feats1.append(np.asarray(f1).reshape(n, -1))
            feats2.append(np.asarray(f2).reshape(n, -1))
    s1, s2 = canonical_signs(feats1, n), canonical_signs(feats2, n)

    def flipped(s: np.ndarray, W: np.ndarray, feats: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
        return s[:, None] * W * s[None, :], [f * s[:, None] for f in feats]

    # canonical unit order and pair orientation, as permutation_distance: the search, its sign flips
    # and swaps included, then does not depend on how either network labels its units
    net1, net2 = _canonical(*flipped(s1, A, feats1)), _canonical(*flipped(s2, B, feats2))
    swap = net2.key < net1.key
    first, second = (net2, net1) if swap else (net1, net2)
    perm_c, t_c, sq = _signed_search(first, second, [k for k, v in pairs.items() if v is not None],
                                     use_io, n_starts, n_kicks, seed, max_rounds, sign_starts)
    if swap:  # first unit i ↔ second unit perm_c[i] (flip t_c[i]), read from the other side
        inverse = np.argsort(perm_c)
        perm_c, t_c = inverse, t_c[inverse]
    perm = np.empty(n, dtype=np.intp)
    perm[net1.order] = net2.order[perm_c]
    t = np.empty(n)
    t[net1.order] = t_c
    signs = s1 * t * s2[perm]  # net-2 unit perm[i], flipped by s2 then t_i, then back by s1
    n_entries = n * n + (sum(f.size for f in feats1) if use_io else 0)
    return normalised_distance(sq, n_entries, normalize), perm, signs


def _signed_search(a: _Net, b: _Net, given: list[str], use_io: bool, n_starts: int, n_kicks: int, seed: int,
                   max_rounds: int, sign_starts: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Best (perm, flips of b's matched units, squared residual) found between two canonical nets."""
    A1, g1, B2, g2 = a.W, a.feats, b.W, b.feats
    n = A1.shape[0]
    rng = np.random.default_rng(seed)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    u = np.ones(n)  # flips of net 2's units (in its own labels) before the permutation search
    for round_ in range(2):  # a full permutation search for the canonical, then the best signs so far
        Bu = u[:, None] * B2 * u[None, :]
        gu = [f * u[:, None] for f in g2]
        io_u = dict(zip(given, zip(g1, gu, strict=True), strict=True))
        if "W_out" in io_u:
            io_u["W_out"] = (io_u["W_out"][0].T, io_u["W_out"][1].T)
        _, perm0 = permutation_distance(A1, Bu, use_io=use_io, n_starts=n_starts, n_kicks=n_kicks, seed=seed,
                                        normalize="none", **io_u)
        starts = [np.ones(n)] + [np.where(rng.random(n) < 0.5, -1.0, 1.0) for _ in range(sign_starts if
                                                                                       round_ == 0 else 0)]
        for t0 in starts:
            perm, t, sq = _polish_signs(A1, Bu, g1, gu, perm0, use_io, max_rounds, t0)
            if best is None or sq < best[0] * (1 - 1e-12):
                best = (sq, perm, u[perm] * t)
        if best[0] == 0.0:
            break
        u = np.empty(n)
        u[best[1]] = best[2]
    sq, perm, t = best
    return perm, t, sq


def canonical_signs(feats: list[np.ndarray], n: int) -> np.ndarray:
    """±1 per unit that makes its largest-magnitude entry of ``feats`` (per-unit rows whose sign
    follows the unit's own flip only: input weights, bias, readout weights) positive; all +1 without them."""
    if not feats:
        return np.ones(n)
    F = np.concatenate(feats, axis=1)
    s = np.sign(F[np.arange(n), np.argmax(np.abs(F), axis=1)])
    return np.where(s == 0, 1.0, s)


def _polish_signs(A: np.ndarray, B: np.ndarray, f1: list[np.ndarray], f2: list[np.ndarray], perm: np.ndarray,
                  use_io: bool, max_rounds: int, t0: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """From flips ``t0`` of net 2's matched units, alternate best single-unit sign flips (for the
    current matching) and 2-opt (for the current signs) until neither improves; returns perm, the
    flips ``t`` of net 2's matched units, and the squared residual."""
    n = A.shape[0]
    t = t0.copy()

    def residual(perm: np.ndarray, t: np.ndarray) -> float:
        M = t[:, None] * B[np.ix_(perm, perm)] * t[None, :]
        sq = float(np.sum((A - M) ** 2))
        if use_io:
            sq += sum(float(np.sum((a - t[:, None] * b[perm]) ** 2)) for a, b in zip(f1, f2, strict=True))
        return sq

    best = residual(perm, t)
    with one_blas_thread():
        for _ in range(max_rounds):
            M = B[np.ix_(perm, perm)]
            Q = A * M
            Q = Q + Q.T
            np.fill_diagonal(Q, 0.0)
            lin = (sum(np.sum(a * b[perm], axis=1) for a, b in zip(f1, f2, strict=True)) if use_io and f1
                   else np.zeros(n))
            while True:  # flipping r changes Σ_ij A_ij t_i t_j M_ij by -2 t_r Σ_j t_j Q_rj (and the io term)
                gain = -2.0 * t * (Q @ t) - 2.0 * t * lin
                r = int(np.argmax(gain))
                if not gain[r] > 1e-12 * max(float(np.abs(Q).sum()), 1e-300):
                    break
                t[r] = -t[r]
            u = np.empty(n)
            u[perm] = t  # the flips in net 2's own labels
            Bu = u[:, None] * B * u[None, :]
            C = (sum(a @ (u[:, None] * b).T for a, b in zip(f1, f2, strict=True)) if use_io and f1 else None)
            new_perm = _two_opt(A, Bu, C, perm, max_iter=20 * n)
            t = u[new_perm]
            value = residual(new_perm, t)
            improved = value < best * (1 - 1e-12)
            perm, best = new_perm, min(best, value)
            if not improved:
                break
    return perm, t, residual(perm, t)


@dataclass(frozen=True)
class _Net:
    """One network's weights in canonical unit order (``order[i]`` = original label of unit i)."""

    W: np.ndarray
    feats: list[np.ndarray]
    sig: np.ndarray
    order: np.ndarray
    key: tuple


def _canonical(W: np.ndarray, feats: list[np.ndarray]) -> _Net:
    sig = _unit_signature(W, feats)
    order = np.lexsort(sig.T[::-1])  # first signature column (the self-weight) is the primary key
    Wc = W[np.ix_(order, order)]
    fc = [f[order] for f in feats]
    key = (float(np.sum(Wc * Wc)), Wc.tobytes(), *(f.tobytes() for f in fc))
    return _Net(Wc, fc, sig[order], order, key)


def _solve(
    a: _Net, b: _Net, use_io: bool, n_starts: int, n_kicks: int, seed: int, max_faq_iter: int
) -> tuple[np.ndarray, float]:
    """Best permutation (b's units for a's) found, and the squared residual it leaves."""
    A, B = a.W, b.W
    C = None
    seeds: list[np.ndarray] = []
    sq_dist = (
        np.sum(a.sig**2, axis=1)[:, None] + np.sum(b.sig**2, axis=1)[None, :] - 2 * a.sig @ b.sig.T
    )
    seeds.append(_lap(-sq_dist))
    if a.feats:
        io_score = sum(f1 @ f2.T for f1, f2 in zip(a.feats, b.feats, strict=True))
        if use_io:
            # ‖A − M‖² + Σ_i ‖f1_i − f2_π(i)‖² = const − 2 (Σ A∘M + Σ_i io_score[i, π(i)])
            C = io_score
        seeds.append(_lap(io_score))
    # The objective's largest possible value: reached only when π makes every term match exactly.
    best_possible = 0.5 * (np.sum(A**2) + np.sum(B**2))
    if C is not None:
        best_possible += 0.5 * sum(np.sum(f**2) for f in (*a.feats, *b.feats))
    with one_blas_thread():
        perm = match_units(
            A, B, C, seeds=seeds, n_starts=n_starts, n_kicks=n_kicks, seed=seed,
            max_faq_iter=max_faq_iter, exact_objective=best_possible,
        )
    sq = float(np.sum((A - B[np.ix_(perm, perm)]) ** 2))
    if use_io:
        sq += sum(float(np.sum((f1 - f2[perm]) ** 2)) for f1, f2 in zip(a.feats, b.feats, strict=True))
    return perm, sq


# --------------------------------------------------------------------------------------------
# Metric classes
# --------------------------------------------------------------------------------------------


def check_finite_params(
    name: str, params: Mapping[str, Any] | None, keys: Sequence[str], *, what: str = "weights"
) -> dict[str, np.ndarray]:
    """``params[keys]`` as float64 arrays ``[E, ...]``; :class:`MetricError` naming the metric (or
    measure) ``name`` and the first member with a NaN/inf value."""
    if params is None:
        raise MetricError(f"metric {name!r} needs the ensemble's {what} (ensemble.params)")
    out = {}
    for key in keys:
        arr = np.asarray(params[key], dtype=np.float64)
        bad = ~np.isfinite(arr.reshape(arr.shape[0], -1)).all(axis=1)
        if bad.any():
            member = int(np.flatnonzero(bad)[0])
            raise MetricError(
                f"metric {name!r}: member {member} has non-finite (NaN/inf) {what} in {key} "
                f"({int(bad.sum())} member(s) affected); drop or retrain those networks"
            )
        out[key] = arr
    return out


def check_same_width(metric: Metric, emb_a: dict, emb_b: dict) -> None:
    """Weight embeddings of two ensembles have the same shapes, or a clear error naming ``metric``."""
    for key in emb_a:
        if emb_a[key].shape[1:] != emb_b[key].shape[1:]:
            raise InvalidParameterError(
                f"metric {metric.name!r}: {key} shapes differ between the ensembles "
                f"({emb_a[key].shape[1:]} vs {emb_b[key].shape[1:]}); weight distances need "
                "networks of the same width and task"
            )


@dataclass
class PermutationWeightDistance(Metric):
    """The paper's weight-level distance made blind to sign flips:
    ``min_{P,D} ‖W1 − (DP)ᵀ W2 (DP)‖_F / H²`` on recurrent weights.

    Invariant to relabelling hidden units and to flipping the sign of a unit, both symmetries of
    a tanh network (:func:`signed_permutation_distance`); not to orthogonal changes of basis or
    scale. The paper's permutation-only measure is :func:`permutation_distance`. ``use_io`` also
    aligns input weights, biases and readout weights (see :func:`permutation_distance`).
    ``n_starts`` random FAQ starts join the deterministic ones; ``seed`` makes the search
    reproducible.
    """

    use_io: bool = False
    n_starts: int = 4
    n_kicks: int = 32
    seed: int = 0
    normalize: Normalize = "entries"

    name: ClassVar[str] = "weights_perm"
    level: ClassVar[Level] = "weights"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise InvalidParameterError(f"{self.name}: normalize must be one of {NORMALIZATIONS}")
        for field in ("n_starts", "n_kicks"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 0:
                raise InvalidParameterError(f"{self.name}: {field} must be an integer >= 0, got {value!r}")

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        return check_finite_params(self.name, getattr(ensemble, "params", None), ("W_hh", *_PAIR_NAMES))

    def distance(self, emb_a: dict, i: int, emb_b: dict, j: int) -> tuple[float, np.ndarray]:
        """Distance and permutation between member ``i`` of ``emb_a`` and ``j`` of ``emb_b``."""
        found = signed_permutation_distance(
            emb_a["W_hh"][i],
            emb_b["W_hh"][j],
            use_io=self.use_io,
            W_in=(emb_a["W_in"][i], emb_b["W_in"][j]),
            b=(emb_a["b"][i], emb_b["b"][j]),
            W_out=(emb_a["W_out"][i], emb_b["W_out"][j]),
            n_starts=self.n_starts,
            n_kicks=self.n_kicks,
            seed=self.seed,
            normalize=self.normalize,
        )
        return found[0], found[1]

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        check_same_width(self, emb_a, emb_b)
        na, nb = emb_a["W_hh"].shape[0], emb_b["W_hh"].shape[0]
        out = np.zeros((na, nb))
        for i in range(na):
            for j in range(i + 1 if symmetric else 0, nb):
                out[i, j] = self.distance(emb_a, i, emb_b, j)[0]
        if symmetric:
            out = out + out.T
        return out


@dataclass
class FrobeniusWeightDistance(Metric):
    """Baseline: ``‖W1 − W2‖_F / H²`` with units matched by index — no invariance at all.

    Useful as a control: it changes when the units of one network are relabelled, which the
    conformance suite must detect.
    """

    use_io: bool = False
    normalize: Normalize = "entries"

    name: ClassVar[str] = "weights_frobenius"
    level: ClassVar[Level] = "weights"
    invariances: ClassVar[frozenset[str]] = frozenset()

    def __post_init__(self) -> None:
        if self.normalize not in NORMALIZATIONS:
            raise InvalidParameterError(f"{self.name}: normalize must be one of {NORMALIZATIONS}")

    def embed(self, ensemble: Any) -> dict[str, np.ndarray]:
        keys = ("W_hh", *_PAIR_NAMES) if self.use_io else ("W_hh",)
        emb = check_finite_params(self.name, getattr(ensemble, "params", None), keys)
        flat = np.concatenate([emb[k].reshape(emb[k].shape[0], -1) for k in keys], axis=1)
        return {"W_hh": emb["W_hh"], "flat": flat}

    def compare(self, emb_a: dict, emb_b: dict, symmetric: bool) -> np.ndarray:
        check_same_width(self, emb_a, emb_b)
        fa, fb = emb_a["flat"], emb_b["flat"]
        out = np.empty((fa.shape[0], fb.shape[0]))
        for i in range(fa.shape[0]):  # direct differences: exact 0 for identical members
            out[i] = np.sqrt(np.sum((fb - fa[i]) ** 2, axis=1))
        n_entries = fa.shape[1]
        if self.normalize == "entries":
            return out / n_entries
        if self.normalize == "rms":
            return out / np.sqrt(n_entries)
        return out
