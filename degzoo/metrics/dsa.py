"""Dynamical Similarity Analysis (Ostrow et al. 2023): fast, deterministic, reliable.

DSA compares two networks by their *dynamics*: each network's hidden-state trajectories are
delay-embedded, a linear operator is fitted to them by HAVOK-style reduced-rank DMD, and two
operators are compared up to an orthogonal change of basis,

    d(A, B) = min over C in O(n) of  || A/|A| - C (B/|B|) C^T ||_F                (euclidean)
    d(A, B) = arccos( max over C in O(n) of  <A, C B C^T> / (|A| |B|) )          (angular)

(|.| is the Frobenius norm, <X, Y> = tr(X^T Y)). The definitions are those of the reference
implementation ``dsa-metric`` 2.0.2 (package ``DSA``), and so are the DMD operator (``DMD.A_v``)
and the eigenvalue-spectrum ("wasserstein") variant. What differs is how the minimisation is done:

- the reference runs Adam from one random start for a fixed number of iterations (twice, the second
  time on B with two units swapped, to reach the det = -1 half of O(n)); it often stops far from
  the optimum (about 0.3 rad on a network against a copy of itself with permuted units);
- here every pair is solved from several starting points (structured ones from eigen-bases of
  both operators with signs chosen by a sign-synchronisation step, the identity, a reflection,
  seeded random orthogonal matrices; both components of O(n) are always covered) by a Riemannian
  gradient method with Barzilai-Borwein steps, a non-monotone line search and a Cayley retraction,
  run until the Riemannian gradient norm is below ``tol``, as one batched ``torch`` computation
  over all pairs x starts; the best optimum is kept.

A smaller distance is a more similar pair. The distance is exactly symmetric: each unordered pair
is solved once, in an orientation fixed by the content of the two operators.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from scipy.linalg import eigh as _scipy_eigh
from scipy.optimize import linear_sum_assignment

from degzoo.errors import InvalidParameterError
from degzoo.metrics.base import Level, Metric

__all__ = [
    "DSA",
    "DSAWasserstein",
    "ProcrustesInfo",
    "cross_dsa",
    "delay_embed",
    "eigenvalue_distance",
    "fit_dmd",
    "fit_dmd_operators",
    "min_trial_length",
    "pairwise_dsa",
    "similarity_transform_distance",
]

SCORES = ("angular", "euclidean", "wasserstein")

# --------------------------------------------------------------------------------------------
# DMD: delay embedding + HAVOK reduced-rank regression (matches DSA.dmd.DMD, reduced_rank_reg=False)
# --------------------------------------------------------------------------------------------


def min_trial_length(n_delays: int, delay_interval: int = 1) -> int:
    """Shortest trial for which the delay embedding has at least one one-step transition."""
    return (n_delays - 1) * delay_interval + 2


def _check_dmd_params(n_delays: int, rank: int, delay_interval: int) -> None:
    for label, value in (("n_delays", n_delays), ("rank", rank), ("delay_interval", delay_interval)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise InvalidParameterError(f"DSA: {label} must be a positive integer, got {value!r}")


def _as_trials(trajectories: Any, what: str = "trajectories") -> np.ndarray:
    x = np.asarray(trajectories, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise InvalidParameterError(
            f"DSA: {what} must be [n_trials, T, H] (or [T, H]), got shape {x.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise InvalidParameterError(f"DSA: {what} contain NaN or inf; check the network's weights")
    return x


def delay_embed(trajectories: np.ndarray, n_delays: int, delay_interval: int = 1) -> np.ndarray:
    """Delay embedding ``[n_trials, T', n_delays * H]`` with the reference's layout.

    ``T' = T - (n_delays - 1) * delay_interval``; row ``t`` holds, block ``d``, the state at time
    ``t + (n_delays - 1 - d) * delay_interval`` (block 0 is the most recent state), exactly as
    ``DSA.dmd.embed_signal_torch``. Only used for inspection: :func:`fit_dmd` never builds it.
    """
    x = _as_trials(trajectories)
    _check_dmd_params(n_delays, 1, delay_interval)
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


def _hankel_gram(x: np.ndarray, n_delays: int, delay_interval: int, t_eff: int) -> np.ndarray:
    """``H^T H`` of the delay embedding, from lagged cross-products (never builds ``H``).

    Block ``(d1, d2)`` is ``sum_k sum_{t<T'} x[k, t+o1] x[k, t+o2]^T`` with ``o = (D-1-d) tau``;
    for each lag the per-time outer products are summed over trials and prefix-summed over time,
    so the cost is ``O(D K T H^2)`` instead of ``O(K T (D H)^2)``.
    """
    k, t, h = x.shape
    dim = n_delays * h
    gram = np.empty((dim, dim))
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(1, 2, 0)))  # [T, H, K]
    offsets = [(n_delays - 1 - d) * delay_interval for d in range(n_delays)]
    for m in range(n_delays):
        lag = m * delay_interval
        # S[u] = sum_k x[k, u] x[k, u + lag]^T, u = 0 .. T - lag - 1
        s = torch.bmm(xt[: t - lag], xt[lag:].transpose(1, 2))
        cs = torch.zeros((t - lag + 1, h, h), dtype=torch.float64)
        torch.cumsum(s, dim=0, out=cs[1:])
        csn = cs.numpy()
        for d1 in range(n_delays):
            o1 = offsets[d1]
            # d2 with o2 = o1 - lag  (block below the diagonal in d-order: d2 = d1 + m)
            d2 = d1 + m
            if d2 >= n_delays:
                continue
            o2 = offsets[d2]  # = o1 - lag
            # sum over t of x[t + o2] x[t + o2 + lag]^T = S summed over u = o2 .. o2 + T' - 1
            blk = csn[o2 + t_eff] - csn[o2]  # [H, H]: rows from x[u] = block d2, cols block d1
            gram[d2 * h : (d2 + 1) * h, d1 * h : (d1 + 1) * h] = blk
            if m:
                gram[d1 * h : (d1 + 1) * h, d2 * h : (d2 + 1) * h] = blk.T
    return gram


def fit_dmd(
    trajectories: Any,
    n_delays: int,
    rank: int,
    delay_interval: int = 1,
    lamb: float = 1e-8,
) -> np.ndarray:
    """HAVOK DMD operator ``[rank, rank]`` of one network's trajectories ``[n_trials, T, H]``.

    Same definition as ``DSA.dmd.DMD(n_delays, delay_interval, rank, lamb).fit(x).A_v``: the delay
    embedding ``H`` (all trials stacked), its leading ``rank`` right singular vectors ``V``
    (eigen-time-delay coordinates, ``V^T V = I``), and the ridge regression of ``V[t+1]`` on ``V[t]``
    within trials. ``V`` comes from an eigendecomposition of ``H^T H`` restricted to the ``rank``
    largest eigenvalues (float64); each column's sign is fixed so that its largest-magnitude entry
    is positive, which makes the operator identical for trajectories that differ by a
    permutation, sign flip or rotation of the hidden units (or a rescaling).
    """
    _check_dmd_params(n_delays, rank, delay_interval)
    x = _as_trials(trajectories)
    k, t, h = x.shape
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
    gram = _hankel_gram(x, n_delays, delay_interval, t_eff)
    evals, evecs = _scipy_eigh(gram, subset_by_index=[dim - rank, dim - 1], driver="evr")
    evals, evecs = evals[::-1], evecs[:, ::-1]
    lam_max = evals[0]
    if not evals[-1] > 1e-13 * lam_max:
        raise InvalidParameterError(
            f"DSA: rank={rank} exceeds the numerical rank of the delay-embedded trajectories "
            f"(singular value ratio sigma_rank/sigma_1 = {math.sqrt(max(evals[-1], 0) / lam_max):.2e});"
            " lower rank"
        )
    sv = np.sqrt(evals)
    # V = H U / S, built block by block from the trajectories
    proj = np.zeros((k, t_eff, rank))
    for d in range(n_delays):
        o = (n_delays - 1 - d) * delay_interval
        proj += x[:, o : o + t_eff] @ evecs[d * h : (d + 1) * h]
    v = proj / sv
    flat = v.reshape(-1, rank)
    idx = np.argmax(np.abs(flat), axis=0)
    signs = np.sign(flat[idx, np.arange(rank)])
    signs[signs == 0] = 1.0
    v *= signs
    v_minus = v[:, :-1].reshape(-1, rank)
    v_plus = v[:, 1:].reshape(-1, rank)
    gram_v = v_minus.T @ v_minus + lamb * np.eye(rank)
    cross = v_minus.T @ v_plus
    return np.linalg.solve(gram_v, cross).T


def fit_dmd_operators(
    trajectories: Any,
    n_delays: int,
    rank: int,
    delay_interval: int = 1,
    lamb: float = 1e-8,
) -> np.ndarray:
    """DMD operators ``[E, rank, rank]`` of an ensemble's trajectories ``[E, n_trials, T, H]``."""
    trajs = np.asarray(trajectories)
    if trajs.ndim != 4:
        raise InvalidParameterError(
            f"DSA: ensemble trajectories must be [E, n_trials, T, H], got shape {trajs.shape}"
        )
    out = np.empty((trajs.shape[0], rank, rank))
    for e in range(trajs.shape[0]):
        out[e] = fit_dmd(trajs[e], n_delays, rank, delay_interval, lamb)
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
    return a


def _digest(op: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(op, dtype=np.float64).tobytes(), digest_size=16).digest()


def _normalise(ops: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(ops, axis=(1, 2))
    norms[norms == 0] = 1.0
    return ops / norms[:, None, None]


class _OperatorFeatures:
    """Per-operator decompositions used to build starting points (computed once per operator)."""

    def __init__(self, ops: np.ndarray):
        self.a = _normalise(ops)
        sym = 0.5 * (self.a + self.a.transpose(0, 2, 1))
        _, self.sym_basis = np.linalg.eigh(sym)  # ascending eigenvalues
        self.eigvals, vecs = np.linalg.eig(self.a)
        self.eigvecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
        try:
            self.eigvecs_inv = np.linalg.inv(self.eigvecs)
        except np.linalg.LinAlgError:
            self.eigvecs_inv = np.linalg.pinv(self.eigvecs)


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


def _start_names(n_random: int) -> list[str]:
    return [
        "identity",
        "swap01",
        "signs",
        "signs_flip",
        "sym_eig",
        "sym_eig_flip",
        "eig",
        *[f"random{i}" for i in range(n_random)],
    ]


def _build_starts(
    fa: _OperatorFeatures,
    fb: _OperatorFeatures,
    ia: np.ndarray,
    ib: np.ndarray,
    n_random: int,
    seed: int,
) -> np.ndarray:
    """Starting transforms ``[P, S, n, n]`` for pairs ``(fa.a[ia], fb.a[ib])``, aiming at A ~ C B C^T."""
    a = fa.a[ia]
    b = fb.a[ib]
    p, n, _ = a.shape
    eye = np.broadcast_to(np.eye(n), (p, n, n))
    starts = []
    starts.append(eye)
    swap = np.eye(n)
    if n > 1:
        swap[[0, 1]] = swap[[1, 0]]
    else:
        swap = -swap
    starts.append(np.broadcast_to(swap, (p, n, n)))
    # identity bases: DMD coordinates are principal components of each network's trajectories,
    # so matched components up to sign are a natural guess
    d, d2 = _sign_sync(a, b)
    starts.append(np.einsum("pi,ij->pij", d, np.eye(n)))
    starts.append(np.einsum("pi,ij->pij", d2, np.eye(n)))
    # eigenbases of the symmetric parts, sorted by eigenvalue, signs synchronised
    ea, eb = fa.sym_basis[ia], fb.sym_basis[ib]
    at = ea.transpose(0, 2, 1) @ a @ ea
    bt = eb.transpose(0, 2, 1) @ b @ eb
    d, d2 = _sign_sync(at, bt)
    ebt = eb.transpose(0, 2, 1)
    starts.append((ea * d[:, None, :]) @ ebt)
    starts.append((ea * d2[:, None, :]) @ ebt)
    # eigenvectors with eigenvalues matched by optimal assignment, phases from the eigenvector Grams
    starts.append(_eig_starts(fa, fb, ia, ib))
    if n_random:
        rnd = _random_orthogonal(n, n_random, seed)
        starts.extend(np.broadcast_to(rnd[i], (p, n, n)) for i in range(n_random))
    return np.stack(starts, axis=1)


def _eig_starts(fa: _OperatorFeatures, fb: _OperatorFeatures, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """C = polar(Re(V_A D V_B^-1)) with eigenvalues matched by assignment and phases D solved."""
    p = len(ia)
    n = fa.a.shape[-1]
    out = np.empty((p, n, n))
    for k in range(p):
        la, lb = fa.eigvals[ia[k]], fb.eigvals[ib[k]]
        _, perm = linear_sum_assignment(np.abs(la[:, None] - lb[None, :]) ** 2)
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


def _evaluate(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """f = <a, C b C^T> and its Riemannian gradient g (skew, right-trivialised: C(t) = C exp(t g))."""
    m = c.transpose(1, 2) @ a @ c
    f = (m * b).sum(dim=(1, 2))
    bt = b.transpose(1, 2)
    x = m @ bt - bt @ m
    g = 0.5 * (x - x.transpose(1, 2))
    return f, g


def _cayley(omega: torch.Tensor) -> torch.Tensor:
    n = omega.shape[-1]
    eye = torch.eye(n, dtype=omega.dtype, device=omega.device)
    return torch.linalg.solve(eye - 0.5 * omega, eye + 0.5 * omega)


def _ascend(
    a: torch.Tensor,
    b: torch.Tensor,
    c: torch.Tensor,
    max_iter: int,
    tol: float,
    state: dict[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Maximise f(C) = <a, C b C^T> over O(n) from each start ``c`` (batched, in place per item).

    Riemannian gradient ascent with alternating Barzilai-Borwein steps, the Zhang-Hager
    non-monotone Armijo line search and the Cayley retraction. An item stops when its gradient
    norm is below ``tol`` (or when no step can increase f any more, in floating point); stopped
    items are frozen, so an item's result does not depend on the others in the batch.
    """
    rho, eta, max_ls = 1e-4, 0.85, 40
    tau_min, tau_max = 1e-10, 1e6
    if state is None:
        f, g = _evaluate(a, b, c)
        nb = a.shape[0]
        state = {
            "c": c,
            "f": f,
            "g": g,
            "gn": torch.linalg.vector_norm(g, dim=(1, 2)),
            "tau": torch.ones(nb, dtype=a.dtype, device=a.device),
            "fref": f.clone(),
            "q": torch.ones(nb, dtype=a.dtype, device=a.device),
            "iters": torch.zeros(nb, dtype=torch.long, device=a.device),
            "stalled": torch.zeros(nb, dtype=torch.bool, device=a.device),
        }
    s = state
    for _ in range(max_iter):
        active = (s["gn"] > tol) & ~s["stalled"]
        idx = active.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        a_i, b_i, c_i, g_i = a[idx], b[idx], s["c"][idx], s["g"][idx]
        tau_i, fref_i = s["tau"][idx].clone(), s["fref"][idx]
        gn2_i = s["gn"][idx] ** 2
        new_c, new_f, new_g = c_i.clone(), s["f"][idx].clone(), g_i.clone()
        accepted = torch.zeros(idx.numel(), dtype=torch.bool, device=a.device)
        pending = torch.arange(idx.numel(), device=a.device)
        for _ls in range(max_ls):
            om = tau_i[pending, None, None] * g_i[pending]
            cn = c_i[pending] @ _cayley(om)
            fn, gn = _evaluate(a_i[pending], b_i[pending], cn)
            ok = fn >= fref_i[pending] + rho * tau_i[pending] * gn2_i[pending]
            good = pending[ok]
            new_c[good], new_f[good], new_g[good] = cn[ok], fn[ok], gn[ok]
            accepted[good] = True
            pending = pending[~ok]
            if pending.numel() == 0:
                break
            tau_i[pending] *= 0.5
        # items whose line search failed cannot increase f in floating point: stop them
        stalled = ~accepted
        # Barzilai-Borwein step for the next iteration (steps in the Lie algebra)
        y = new_g - g_i
        sy = -tau_i * (g_i * y).sum(dim=(1, 2))  # <s, y> for the minimisation of -f
        ss = tau_i**2 * gn2_i
        yy = (y * y).sum(dim=(1, 2))
        it = s["iters"][idx]
        bb1 = ss / torch.where(sy > 0, sy, torch.ones_like(sy))
        bb2 = sy / torch.where(yy > 0, yy, torch.ones_like(yy))
        bb = torch.where(it % 2 == 0, bb1, bb2)
        bb = torch.where(sy > 0, bb, 2.0 * tau_i)
        tau_next = bb.clamp(tau_min, tau_max)
        q_new = eta * s["q"][idx] + 1.0
        fref_new = (eta * s["q"][idx] * fref_i + new_f) / q_new
        s["c"][idx] = new_c
        s["f"][idx] = new_f
        s["g"][idx] = new_g
        s["gn"][idx] = torch.linalg.vector_norm(new_g, dim=(1, 2))
        s["tau"][idx] = torch.where(accepted, tau_next, tau_i)
        s["q"][idx] = q_new
        s["fref"][idx] = torch.where(accepted, fref_new, fref_i)
        s["iters"][idx] = it + accepted.long()
        s["stalled"][idx] = stalled
    return s


def _solve_pairs(
    ops_a: np.ndarray,
    ops_b: np.ndarray,
    ia: np.ndarray,
    ib: np.ndarray,
    *,
    n_starts: int,
    max_iter: int,
    tol: float,
    screen_iter: int,
    keep: int,
    seed: int,
    device: str | torch.device,
    max_batch_bytes: int,
    fa: _OperatorFeatures | None = None,
    fb: _OperatorFeatures | None = None,
) -> list[ProcrustesInfo]:
    """Solve max_C <a_i, C b_j C^T> for the pairs (ia[k], ib[k]); one ProcrustesInfo per pair."""
    fa = fa if fa is not None else _OperatorFeatures(ops_a)
    fb = fb if fb is not None else _OperatorFeatures(ops_b)
    n = ops_a.shape[-1]
    names = _start_names(n_starts)
    n_s = len(names)
    dev = torch.device(device)
    per_item = 24 * n * n * 8
    pairs_per_chunk = max(1, max_batch_bytes // (per_item * n_s))
    infos: list[ProcrustesInfo] = []
    for lo in range(0, len(ia), pairs_per_chunk):
        ca, cb = ia[lo : lo + pairs_per_chunk], ib[lo : lo + pairs_per_chunk]
        p = len(ca)
        starts = _build_starts(fa, fb, ca, cb, n_starts, seed)  # [p, S, n, n]
        a = torch.from_numpy(fa.a[ca]).to(dev)
        b = torch.from_numpy(fb.a[cb]).to(dev)
        c0 = torch.from_numpy(np.ascontiguousarray(starts.reshape(p * n_s, n, n))).to(dev)
        a_rep = a.repeat_interleave(n_s, dim=0)
        b_rep = b.repeat_interleave(n_s, dim=0)
        start_id = torch.arange(n_s, device=dev).repeat(p)
        pair_id = torch.arange(p, device=dev).repeat_interleave(n_s)
        if 0 < screen_iter < max_iter and keep < n_s:
            st = _ascend(a_rep, b_rep, c0, screen_iter, tol)
            fs = st["f"].reshape(p, n_s)
            order = torch.argsort(-fs, dim=1, stable=True)[:, :keep]
            sel = (order + torch.arange(p, device=dev)[:, None] * n_s).reshape(-1)
            st = {k: v[sel].clone() for k, v in st.items()}
            a_rep, b_rep = a_rep[sel], b_rep[sel]
            start_id, pair_id = start_id[sel], pair_id[sel]
            st = _ascend(a_rep, b_rep, st["c"], max_iter - screen_iter, tol, state=st)
            k_per = keep
        else:
            st = _ascend(a_rep, b_rep, c0, max_iter, tol)
            k_per = n_s
        f = st["f"].reshape(p, k_per)
        best = torch.argmax(f, dim=1)  # first maximum: deterministic
        rows = torch.arange(p, device=dev) * k_per + best
        c_best = st["c"][rows]
        # distance from the residual itself: accurate near 0, unlike arccos(f)
        resid = a - c_best @ b @ c_best.transpose(1, 2)
        eucl = torch.linalg.vector_norm(resid, dim=(1, 2)).cpu().numpy()
        cos = st["f"][rows].cpu().numpy()
        gn = st["gn"][rows].cpu().numpy()
        its = st["iters"][rows].cpu().numpy()
        stalled = st["stalled"][rows].cpu().numpy()
        sid = start_id[rows].cpu().numpy()
        cb_np = c_best.cpu().numpy()
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
    return _spectrum_distance(la, lb)


def _spectrum_distance(la: np.ndarray, lb: np.ndarray) -> float:
    n = max(len(la), len(lb))
    la = np.concatenate([la, np.zeros(n - len(la))])
    lb = np.concatenate([lb, np.zeros(n - len(lb))])
    cost = np.abs(la[:, None] - lb[None, :]) ** 2
    r, c = linear_sum_assignment(cost)
    return float(np.sort(cost[r, c]).sum() / n)


def _wasserstein_matrix(
    ops_a: np.ndarray, ops_b: np.ndarray, pairs: Sequence[tuple[int, int]]
) -> np.ndarray:
    la = np.linalg.eigvals(ops_a)
    lb = la if ops_b is ops_a else np.linalg.eigvals(ops_b)
    da = [_digest(o) for o in ops_a]
    db = da if ops_b is ops_a else [_digest(o) for o in ops_b]
    out = np.zeros((len(ops_a), len(ops_b)))
    for i, j in pairs:
        if da[i] <= db[j]:
            out[i, j] = _spectrum_distance(la[i], lb[j])
        else:
            out[i, j] = _spectrum_distance(lb[j], la[i])
    return out


def _oriented_pairs(
    da: list[bytes], db: list[bytes], pairs: Sequence[tuple[int, int]]
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
    screen_iter: int,
    keep: int,
    seed: int,
    device: str | torch.device,
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
    da = [_digest(o) for o in ops_a]
    db = da if same else [_digest(o) for o in ops_b]
    ii, jj, flip = _oriented_pairs(da, db, pairs)
    # stack both operator sets so a flipped pair is just (b_j, a_i); features computed once
    allops = ops_a if same else np.concatenate([ops_a, ops_b])
    off = 0 if same else len(ops_a)
    feats = _OperatorFeatures(allops)
    first = np.where(flip, jj + off, ii)
    second = np.where(flip, ii, jj + off)
    res = _solve_pairs(
        allops,
        allops,
        first,
        second,
        n_starts=n_starts,
        max_iter=max_iter,
        tol=tol,
        screen_iter=screen_iter,
        keep=keep,
        seed=seed,
        device=device,
        max_batch_bytes=max_batch_bytes,
        fa=feats,
        fb=feats,
    )
    for (i, j), info, fl in zip(pairs, res, flip):
        out[i, j] = _score_from(info, score)
        if return_info:
            if fl:  # report C for A ~ C B C^T in the caller's orientation
                info = dataclasses.replace(info, transform=info.transform.T.copy())
            infos[(i, j)] = info
    return out, infos


_DEFAULTS: dict[str, Any] = {
    "n_starts": 4,
    "max_iter": 2000,
    "tol": 1e-9,
    "screen_iter": 40,
    "keep": 3,
    "seed": 0,
    "device": "cpu",
    "max_batch_bytes": 1 << 28,
}


def _solver_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    unknown = set(kwargs) - set(_DEFAULTS)
    if unknown:
        raise InvalidParameterError(
            f"DSA: unknown solver option(s) {sorted(unknown)}; known: {sorted(_DEFAULTS)}"
        )
    opts = {**_DEFAULTS, **kwargs}
    for key in ("n_starts", "screen_iter", "seed"):
        if int(opts[key]) < 0:
            raise InvalidParameterError(f"DSA: {key} must be >= 0, got {opts[key]!r}")
    for key in ("max_iter", "keep", "max_batch_bytes"):
        if int(opts[key]) < 1:
            raise InvalidParameterError(f"DSA: {key} must be >= 1, got {opts[key]!r}")
    if not float(opts["tol"]) > 0:
        raise InvalidParameterError(f"DSA: tol must be > 0, got {opts['tol']!r}")
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
    ``2 arcsin(euclidean / 2)``, the same number but accurate near 0; ``score="wasserstein"``:
    :func:`eigenvalue_distance`. Both are minimisations: smaller is more similar. Exactly
    symmetric and deterministic. Solver options: ``n_starts`` (random starts added to the
    structured ones), ``max_iter``, ``tol`` (Riemannian gradient norm), ``screen_iter`` and
    ``keep`` (after ``screen_iter`` iterations only the ``keep`` best starts continue), ``seed``,
    ``device``. With ``return_info=True`` also returns a :class:`ProcrustesInfo`.
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

    Every unordered pair is solved once (one batched computation, chunked to bound memory).
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
    by the content of the two operators.
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


@dataclasses.dataclass
class DSA(Metric):
    """Dynamical Similarity Analysis between networks of an ensemble (level: dynamics).

    ``embed`` fits one DMD operator per network on ``ensemble.trajectories()``; ``compare``
    solves the orthogonal Procrustes-over-vector-fields problem for every pair. Parameters:
    ``n_delays``, ``rank``, ``delay_interval``, ``lamb`` (DMD); ``score`` ("angular" or
    "euclidean"); ``n_starts``, ``max_iter``, ``tol``, ``screen_iter``, ``keep``, ``seed``
    (solver); ``device`` (where the batched solver runs, e.g. "cuda").
    """

    name: ClassVar[str] = "dsa"
    level: ClassVar[Level] = "dynamics"
    # the DMD coordinates are whitened, so a rescaling of the states changes nothing either
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"permutation", "sign_flip", "orthogonal", "scale"}
    )

    n_delays: int = 20
    rank: int = 50
    delay_interval: int = 1
    score: str = "angular"
    lamb: float = 1e-8
    n_starts: int = 4
    max_iter: int = 2000
    tol: float = 1e-9
    screen_iter: int = 40
    keep: int = 3
    seed: int = 0
    device: str = "cpu"

    def __post_init__(self) -> None:
        _check_dmd_params(self.n_delays, self.rank, self.delay_interval)
        _check_score(self.score)
        self._solver()  # validates

    def _solver(self) -> dict[str, Any]:
        return _solver_kwargs(
            {
                "n_starts": self.n_starts,
                "max_iter": self.max_iter,
                "tol": self.tol,
                "screen_iter": self.screen_iter,
                "keep": self.keep,
                "seed": self.seed,
                "device": self.device,
            }
        )

    def embed(self, ensemble: Any) -> np.ndarray:
        trajs = ensemble.trajectories() if hasattr(ensemble, "trajectories") else ensemble
        return fit_dmd_operators(trajs, self.n_delays, self.rank, self.delay_interval, self.lamb)

    def compare(self, emb_a: Any, emb_b: Any, symmetric: bool) -> np.ndarray:
        if symmetric:
            return pairwise_dsa(emb_a, self.score, **self._solver())
        return cross_dsa(emb_a, emb_b, self.score, **self._solver())


@dataclasses.dataclass
class DSAWasserstein(Metric):
    """DSA's eigenvalue variant: squared 2-Wasserstein distance between the DMD spectra.

    Cheap (one optimal assignment per pair) and invariant to any similarity transform, orthogonal
    or not; it ignores the eigenvectors (the geometry of the flow), which the full DSA compares.
    """

    name: ClassVar[str] = "dsa_wasserstein"
    level: ClassVar[Level] = "dynamics"
    invariances: ClassVar[frozenset[str]] = frozenset(
        {"permutation", "sign_flip", "orthogonal", "scale"}
    )

    n_delays: int = 20
    rank: int = 50
    delay_interval: int = 1
    lamb: float = 1e-8

    def __post_init__(self) -> None:
        _check_dmd_params(self.n_delays, self.rank, self.delay_interval)

    def embed(self, ensemble: Any) -> np.ndarray:
        trajs = ensemble.trajectories() if hasattr(ensemble, "trajectories") else ensemble
        return fit_dmd_operators(trajs, self.n_delays, self.rank, self.delay_interval, self.lamb)

    def compare(self, emb_a: Any, emb_b: Any, symmetric: bool) -> np.ndarray:
        if symmetric:
            return pairwise_dsa(emb_a, "wasserstein")
        return cross_dsa(emb_a, emb_b, "wasserstein")
