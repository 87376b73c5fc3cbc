"""Fixed points of a network's autonomous dynamics (Sussillo & Barak 2013, "Opening the black box").

With zero input a network is the map ``F(h)`` of :mod:`degzoo.models.rnn` on the stored (effective)
weights: ``F(h) = tanh(W_hh h + b)`` (vanilla) or ``F(h) = (1 − τ) h + τ (W_hh tanh(h) + b)`` (µP,
``h`` the leaky pre-activation state). Its slow points minimise the speed ``q(h) = ½‖F(h) − h‖²``;
fixed points are those where ``q`` is 0. :func:`find_fixed_points` minimises ``q`` from many starting
states at once by Levenberg–Marquardt (Gauss–Newton on the residual ``F(h) − h`` with a damping per
start) in float64, at most a fixed number of iterations (a start stops once converged):
deterministic, and quadratically convergent near a fixed point, stable or not, where Adam or
gradient descent on ``q`` creep.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.models import Architecture

__all__ = ["FixedPoints", "autonomous_step", "find_fixed_points", "starting_states", "step_jacobian"]

#: Levenberg–Marquardt damping: its first value, its factors on a rejected and an accepted step,
#: and its bounds.
_DAMPING, _REJECT, _ACCEPT, _DAMPING_RANGE = 1e-3, 10.0, 0.3, (1e-12, 1e12)
#: A start has converged, and stops, once its speed is this fraction of the tolerance.
_SETTLED = 1e-12


@dataclass(frozen=True)
class FixedPoints:
    """The distinct slow points of one network (see :func:`find_fixed_points` for their order).

    ``points [M, H]``: states (the update's own state: the rates of a vanilla network, the leaky
    pre-activation of a µP one); ``speeds [M]``: ``q`` at each; ``visits [M]``: how many starting
    states ended there; ``eigenvalues [M, H]``: those of the Jacobian of ``F`` at each, largest
    modulus first; ``fixed``: whether they are fixed points (``q < tolerance``) or, when no start
    reached one, the slowest points found.
    """

    points: np.ndarray
    speeds: np.ndarray
    visits: np.ndarray
    eigenvalues: np.ndarray
    fixed: bool

    def __len__(self) -> int:
        return len(self.points)


def autonomous_step(h: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor, arch: Architecture) -> torch.Tensor:
    """``F(h)``, the zero-input update of :func:`degzoo.models.rnn.forward`, for states ``[S, H]``."""
    if arch.kind == "vanilla":
        return torch.tanh(h @ W_hh.T + b)
    return (1 - arch.tau) * h + arch.tau * (torch.tanh(h) @ W_hh.T + b)


def step_jacobian(h: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor, arch: Architecture) -> torch.Tensor:
    """The Jacobian of ``F`` at states ``[S, H]``: ``[S, H, H]``, row i the gradient of ``F_i``."""
    if arch.kind == "vanilla":
        f = torch.tanh(h @ W_hh.T + b)
        return (1 - f * f)[:, :, None] * W_hh
    r = torch.tanh(h)
    eye = torch.eye(h.shape[-1], dtype=h.dtype)
    return (1 - arch.tau) * eye + arch.tau * W_hh * (1 - r * r)[:, None, :]


def starting_states(rates: np.ndarray, n_starts: int, arch: Architecture) -> np.ndarray:
    """``n_starts`` states ``[n, H]`` at evenly spaced (trial, time) points of one network's probe
    trajectories ``[B, T, H]`` (rates; a µP network's state is ``atanh`` of its rates)."""
    x = np.asarray(rates, dtype=np.float64).reshape(-1, np.shape(rates)[-1])
    states = x[np.round(np.linspace(0, len(x) - 1, n_starts)).astype(int)]
    return states if arch.kind == "vanilla" else np.arctanh(np.clip(states, -1 + 1e-12, 1 - 1e-12))


def find_fixed_points(W_hh: np.ndarray, b: np.ndarray, arch: Architecture, starts: np.ndarray, *,
                      iterations: int = 50, tolerance: float = 1e-12,
                      dedup_tolerance: float = 1e-4) -> FixedPoints:
    """The slow points reached from ``starts [S, H]`` by at most ``iterations`` Levenberg–Marquardt steps.

    Kept: every end point with ``q < tolerance``; if there is none, the end points of all starts
    (the slowest points found, ``fixed=False``). End points whose root-mean-square difference per
    unit is below ``dedup_tolerance`` are one point (the first start's end point stands for it).
    Fixed points are ordered by how many starts reached them, then by the first start that did:
    an order that follows the probe trajectories and not ``q``, which is rounding error at every
    fixed point (relabelled units or float round-off would reorder them). Slow points, whose ``q``
    is no rounding error, are ordered slowest first.
    """
    W = torch.as_tensor(np.asarray(W_hh, dtype=np.float64))
    bias = torch.as_tensor(np.asarray(b, dtype=np.float64))
    h = torch.as_tensor(np.array(starts, dtype=np.float64))
    if h.ndim != 2 or h.shape[1] != W.shape[0]:
        raise InvalidParameterError(f"find_fixed_points: starts must be [S, H={W.shape[0]}], "
                                    f"got {tuple(h.shape)}")
    q = _speed(h, W, bias, arch)
    damping = torch.full_like(q, _DAMPING)
    eye = torch.eye(h.shape[1], dtype=h.dtype)
    for _ in range(iterations):
        # a start stops once it has converged, or when no damping gives a step that lowers q
        active = torch.nonzero((q >= _SETTLED * tolerance) & (damping < _DAMPING_RANGE[1])).flatten()
        if not len(active):
            break
        h_a, q_a, damping_a = h[active], q[active], damping[active]
        residual = autonomous_step(h_a, W, bias, arch) - h_a
        A_t = (step_jacobian(h_a, W, bias, arch) - eye).transpose(1, 2)
        step = torch.linalg.solve(A_t @ A_t.transpose(1, 2) + damping_a[:, None, None] * eye,
                                  -(A_t @ residual[:, :, None])[..., 0])
        h_new = h_a + step
        q_new = _speed(h_new, W, bias, arch)
        better = q_new < q_a
        h[active] = torch.where(better[:, None], h_new, h_a)
        q[active] = torch.where(better, q_new, q_a)
        damping[active] = torch.where(better, damping_a * _ACCEPT, damping_a * _REJECT).clamp(*_DAMPING_RANGE)
    points, speeds = h.numpy(), q.numpy()
    fixed = bool((speeds < tolerance).any())
    kept = np.flatnonzero(speeds < tolerance) if fixed else np.arange(len(points))
    jacobians = step_jacobian(h[kept], W, bias, arch).numpy()
    return _distinct(points[kept], speeds[kept], jacobians, dedup_tolerance, fixed)


def _speed(h: torch.Tensor, W_hh: torch.Tensor, b: torch.Tensor, arch: Architecture) -> torch.Tensor:
    """``q(h) = ½‖F(h) − h‖²`` of states ``[S, H]``."""
    return 0.5 * ((autonomous_step(h, W_hh, b, arch) - h) ** 2).sum(-1)


def _distinct(points: np.ndarray, speeds: np.ndarray, jacobians: np.ndarray, dedup_tolerance: float,
              fixed: bool) -> FixedPoints:
    """End points merged when closer than ``dedup_tolerance`` (RMS per unit), in the order of
    :func:`find_fixed_points`."""
    scale = np.sqrt(points.shape[1]) * dedup_tolerance
    first: list[int] = []
    visits: list[int] = []
    for i, p in enumerate(points):
        near = [k for k, j in enumerate(first) if np.linalg.norm(p - points[j]) < scale]
        if near:
            visits[near[0]] += 1
        else:
            first.append(i)
            visits.append(1)
    if fixed:
        order = sorted(range(len(first)), key=lambda k: (-visits[k], first[k]))
    else:
        order = sorted(range(len(first)), key=lambda k: (speeds[first[k]], first[k]))
    rep = np.array([first[k] for k in order], dtype=int)
    eigs = np.linalg.eigvals(jacobians[rep])
    eigs = np.take_along_axis(eigs, np.argsort(-np.abs(eigs), axis=1, kind="stable"), axis=1)
    return FixedPoints(points=points[rep], speeds=speeds[rep], visits=np.array([visits[k] for k in order]),
                       eigenvalues=eigs, fixed=fixed)
