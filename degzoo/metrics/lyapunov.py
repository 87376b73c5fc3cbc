"""Finite-time Lyapunov spectra of a network along its input-driven trajectories (Benettin QR method).

A network run on a trial is the map ``h_t = F(h_{t−1}; u_t)`` of :func:`degzoo.models.rnn.forward`
on the stored (effective) weights, with the input drive ``u_t = W_in x_t + b``: ``tanh(W_hh h + u)``
(vanilla) or ``(1 − τ) h + τ (W_hh tanh(h) + u)`` (µP, ``h`` the leaky pre-activation state), from
``h_0 = 0``. Its step Jacobians ``D_t = ∂h_t/∂h_{t−1}`` are those of
:func:`~degzoo.metrics.fixed_points.step_jacobian` with the drive in place of the bias. The
``k`` largest finite-time Lyapunov exponents of a trial are the growth rates of a ``k``-dimensional
frame carried by the ``D_t`` and re-orthonormalised every step, ``Q_t R_t = D_t Q_{t−1}``:
``λ_i = (1/T) Σ_t log |R_t[i, i]|`` (Benettin et al. 1980; as used for RNNs by Vogt et al. 2022 and
Engelken, Wolf & Abbott 2023), in float64.

The start frame ``Q_0`` is the ``k`` leading right-singular vectors of the trial's first Jacobian
``D_1``, not the first ``k`` unit axes: relabelling and sign-flipping units (a signed permutation
``P``) turns every ``D_t`` into ``P D_t Pᵀ`` and this frame into ``P Q_0 S`` (``S`` diagonal signs),
so every ``Q_t`` into ``P Q_t S_t`` and every ``|R_t[i, i]|`` is unchanged: the exponents are
exactly invariant, at any ``T`` (a frame of unit axes would be invariant only as ``T → ∞``). This
holds wherever the first Jacobian's ``k + 1`` leading singular values are distinct (generic for a
trained network; where they tie, as for ``a·O`` with ``O`` orthogonal, the tied directions grow
alike and the exponents do not depend on the choice either).
"""

from __future__ import annotations

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.metrics.fixed_points import autonomous_step, step_jacobian
from degzoo.models import Architecture

__all__ = ["FLOAT32_EPS", "lyapunov_exponents", "trial_exponents"]

#: float32's machine epsilon, the default floor of a per-step stretch ``|R_t[i, i]|``: the networks
#: are trained and stored in float32, where a direction shrunk by more than this in one step is
#: lost to rounding.
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def lyapunov_exponents(W_hh: np.ndarray, W_in: np.ndarray, b: np.ndarray, arch: Architecture,
                       inputs: np.ndarray, n_exponents: int, *, warmup: int = 0,
                       stretch_floor: float = FLOAT32_EPS) -> np.ndarray:
    """The ``n_exponents`` largest finite-time Lyapunov exponents ``[B, k]`` (natural log per step)
    of one network on each of the trials ``inputs [B, T, I]``, largest first.

    The frame is carried through all ``T`` steps; the first ``warmup`` steps' stretches are not
    counted (``λ_i`` is their mean over the last ``T − warmup`` steps). A stretch below
    ``stretch_floor`` counts as ``stretch_floor``: a rank-deficient ``W_hh`` (a low-rank network)
    or a unit saturated to ``tanh = ±1`` has exponents of ``−∞``, which the floor keeps finite.
    """
    W = torch.as_tensor(np.asarray(W_hh, dtype=np.float64))
    H = W.shape[0]
    x = np.asarray(inputs, dtype=np.float64)
    if x.ndim != 3 or x.shape[2] != np.shape(W_in)[1]:
        raise InvalidParameterError(f"lyapunov_exponents: inputs must be [B, T, I={np.shape(W_in)[1]}], "
                                    f"got {x.shape}")
    T = x.shape[1]
    if not 1 <= n_exponents <= H:
        raise InvalidParameterError(f"lyapunov_exponents: n_exponents must be in 1..{H}, got {n_exponents}")
    if not 0 <= warmup < T:
        raise InvalidParameterError(f"lyapunov_exponents: warmup must be in 0..{T - 1} (the trials "
                                    f"are {T} steps), got {warmup}")
    drive = torch.as_tensor(x) @ torch.as_tensor(np.asarray(W_in, dtype=np.float64)).T
    drive = drive + torch.as_tensor(np.asarray(b, dtype=np.float64))
    with torch.no_grad():
        exponents = trial_exponents(W, drive, arch, n_exponents, warmup=warmup,
                                    stretch_floor=stretch_floor).numpy()
    return -np.sort(-exponents, axis=1)


def trial_exponents(W_hh: torch.Tensor, drive: torch.Tensor, arch: Architecture, n_exponents: int, *,
                    warmup: int = 0, stretch_floor: float = FLOAT32_EPS) -> torch.Tensor:
    """The exponents ``[B, k]`` of :func:`lyapunov_exponents` (not sorted) from the recurrent
    weights and the input drive ``W_in x_t + b`` ``[B, T, H]``, as a differentiable torch
    computation (the start frame is held fixed): what a network is trained to match when it is
    made to carry another's Lyapunov spectrum (:mod:`degzoo.benchmark.trained_matches`)."""
    B, T, H = drive.shape
    h = drive.new_zeros(B, H)
    log_floor = float(np.log(stretch_floor))
    total = drive.new_zeros(B, n_exponents)
    Q = None
    for t in range(T):
        D = step_jacobian(h, W_hh, drive[:, t], arch)  # [B, H, H]
        if Q is None:  # leading right-singular vectors
            Q = torch.linalg.svd(D.detach())[2][:, :n_exponents].transpose(1, 2)
        Q, R = torch.linalg.qr(D @ Q)
        if t >= warmup:
            stretch = torch.diagonal(R, dim1=1, dim2=2).abs()
            total = total + torch.log(stretch).clamp(min=log_floor)
        h = autonomous_step(h, W_hh, drive[:, t], arch)
    return total / (T - warmup)
