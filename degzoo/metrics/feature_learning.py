"""Feature-learning measures: how far each network moved from its initialisation.

Both are *per-member* scores (not pairwise distances); an ensemble-level figure is their mean
with a bootstrap confidence interval (:func:`degzoo.metrics.degeneracy.bootstrap_mean`), as the
``summary`` methods of :class:`WeightChange` and :class:`KernelAlignment` return.

- :func:`weight_change` — ‖W_T − W_0‖_F on the recurrent matrix (or on all parameters).
- :func:`kernel_alignment` — alignment of the empirical neural tangent kernels at the start and
  the end of training, A(K0, KT) = ⟨K0, KT⟩_F / (‖K0‖_F ‖KT‖_F), with K = J Jᵀ and
  J = ∂ outputs / ∂ parameters evaluated on the first ``n_trials`` probe trials, at every
  ``time_stride``-th time step, all output channels. A = 1 means the kernel did not change (lazy
  / kernel regime); lower values mean stronger feature learning.

Parameterisation. The zoo stores *effective* weights (for µP, J/H and W/(γH)); by default both
measures use them (``parameters="effective"``). ``parameters="raw"`` uses the trained raw
parameters instead (effective = multiplier × raw, :attr:`Architecture.multipliers`): for the
weight change, raw = effective / multiplier; for the NTK, the Jacobian block of each parameter is
scaled by its multiplier, K_raw = Σ_p m_p² J_p J_pᵀ. For the vanilla RNN the two coincide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from degzoo.errors import InvalidParameterError
from degzoo.metrics.degeneracy import Estimate, bootstrap_mean
from degzoo.metrics.weights import check_finite_params
from degzoo.models import PARAM_NAMES, forward

Parameters = Literal["effective", "raw"]


def _multipliers(ensemble: Any, parameters: str) -> dict[str, float]:
    if parameters not in ("effective", "raw"):
        raise InvalidParameterError(f"parameters must be 'effective' or 'raw', got {parameters!r}")
    if parameters == "effective":
        return dict.fromkeys(PARAM_NAMES, 1.0)
    return dict(ensemble.architecture.multipliers)


def _weights(name: str, ensemble: Any, keys: Sequence[str], *, initial: bool) -> dict[str, np.ndarray]:
    """Trained or initial effective weights, checked for NaN/inf member by member."""
    if not initial:
        return check_finite_params(name, getattr(ensemble, "params", None), keys)
    try:
        params = ensemble.initial_params
    except (AttributeError, InvalidParameterError):
        params = None
    if params is None:
        raise InvalidParameterError(
            f"{name}: the ensemble has no initial weights (initial_params); feature-learning "
            "measures compare trained weights with their initialisation"
        )
    return check_finite_params(name, params, keys, what="initial weights")


def weight_change(
    ensemble: Any, *, which: Literal["W_hh", "all"] = "W_hh", parameters: Parameters = "effective"
) -> np.ndarray:
    """``‖W_T − W_0‖_F`` per member ``[E]``: on ``W_hh``, or on all parameters concatenated."""
    if which not in ("W_hh", "all"):
        raise InvalidParameterError(f"weight_change: which must be 'W_hh' or 'all', got {which!r}")
    keys = ("W_hh",) if which == "W_hh" else PARAM_NAMES
    final = _weights("weight_change", ensemble, keys, initial=False)
    initial = _weights("weight_change", ensemble, keys, initial=True)
    mult = _multipliers(ensemble, parameters)
    sq = sum(
        np.sum(((final[k] - initial[k]) / mult[k]).reshape(final[k].shape[0], -1) ** 2, axis=1)
        for k in keys
    )
    return np.sqrt(sq)


def _ntk_blocks(
    params: dict[str, np.ndarray],
    inputs: np.ndarray,
    arch: Any,
    t_idx: np.ndarray,
    *,
    max_bytes: int = 128 * 2**20,
) -> torch.Tensor:
    """Per-parameter Gram blocks J_p J_pᵀ of every member: ``[E, len(PARAM_NAMES), n_out, n_out]``.

    One Jacobian row per output (trial b, step t0, channel o), ordered (b, t0, o). The rates come
    from :func:`degzoo.models.forward`; the rows from backpropagating all outputs of a trial at
    once (the adjoint of each output is injected at its own step t0 and carried back with the
    shared recurrent matrix), so the cost is one batched matrix product per step:

    - vanilla: G_t = (G_{t+1} W_hh + inj_t) ⊙ (1 − h_t²), with G = ∂y/∂(pre-activation);
    - µP: g_t = (1−τ) g_{t+1} + (τ g_{t+1} W_hh + inj_t) ⊙ (1 − r_t²), with g = ∂y/∂h, and a
      factor τ on every input to h;

    inj_t = W_out[o] for outputs read at step t. Then ∂y/∂W_hh = c Σ_t G_t ⊗ s_{t−1},
    ∂y/∂W_in = c Σ_t G_t ⊗ x_t, ∂y/∂b = c Σ_t G_t (c = 1 or τ, s the rates, s_{−1} = 0),
    ∂y/∂W_out[o'] = [o' = o] s_{t0}, ∂y/∂b_out[o'] = [o' = o]. The test suite checks these
    rows against autograd through ``forward``.
    """
    dtype = torch.float64
    P = {k: torch.as_tensor(np.asarray(params[k]), dtype=dtype) for k in PARAM_NAMES}
    x = torch.as_tensor(np.asarray(inputs), dtype=dtype)
    horizon = int(t_idx.max()) + 1
    x = x[:, :horizon]
    B, T, I = x.shape
    E, H, O = P["W_hh"].shape[0], arch.hidden, arch.n_outputs
    leaky = arch.kind != "vanilla"
    c = arch.tau if leaky else 1.0
    n_t = len(t_idx)
    D = n_t * O  # outputs per trial, ordered (t0, o)
    step_of = {int(t): i for i, t in enumerate(t_idx)}
    per_member = 8 * B * D * (H * H + H * I + 2 * H + T * H)
    chunk = max(1, int(max_bytes // max(1, per_member)))
    eye_o = torch.eye(O, dtype=dtype)
    out = []
    with torch.no_grad():
        for start in range(0, E, chunk):
            sl = slice(start, min(E, start + chunk))
            p = {k: v[sl] for k, v in P.items()}
            e = p["W_hh"].shape[0]
            _, rates = forward(p, x, arch)  # [e, B, T, H]
            slope = 1 - rates * rates
            prev = torch.cat([rates.new_zeros(e, B, 1, H), rates[:, :, :-1]], dim=2)
            G = rates.new_zeros(e, B, D, H)
            Gs = rates.new_zeros(T, e, B, D, H)
            W_out = p["W_out"]  # [e, O, H]
            for t in range(T - 1, -1, -1):
                carry = torch.einsum("ebdh,ehk->ebdk", G, p["W_hh"])
                if leaky:
                    carry = c * carry
                i = step_of.get(t)
                if i is not None:
                    carry[:, :, i * O : (i + 1) * O] += W_out[:, None]
                new = carry * slope[:, :, t, None, :]
                G = (1 - c) * G + new if leaky else new
                Gs[t] = G
            Gs = Gs * c
            J_hh = torch.einsum("tebdh,ebtk->ebdhk", Gs, prev).reshape(e, B * D, H * H)
            J_in = torch.einsum("tebdh,btk->ebdhk", Gs, x).reshape(e, B * D, H * I)
            J_b = Gs.sum(0).reshape(e, B * D, H)
            # Readout rows: output (b, t0, o) depends on W_out[o, :] through s_{t0} only.
            s_read = rates[:, :, torch.as_tensor(t_idx)]  # [e, B, n_t, H]
            J_out = torch.einsum("ebth,op->ebtpoh", s_read, eye_o).reshape(e, B * D, O * H)
            J_bout = eye_o.repeat(B * n_t, 1).expand(e, B * D, O)
            rows = {"W_in": J_in, "W_hh": J_hh, "b": J_b, "W_out": J_out, "b_out": J_bout}
            out.append(torch.stack([rows[k] @ rows[k].transpose(1, 2) for k in PARAM_NAMES], dim=1))
    return torch.cat(out)


def ntk_grams(
    ensemble: Any,
    *,
    initial: bool = False,
    n_trials: int = 8,
    time_stride: int | None = None,
    parameters: Parameters = "effective",
) -> np.ndarray:
    """Empirical NTK ``K = J Jᵀ`` per member ``[E, n_out, n_out]`` (n_out = trials × steps × O)."""
    mult = _multipliers(ensemble, parameters)
    params = _weights("kernel_alignment", ensemble, PARAM_NAMES, initial=initial)
    inputs, t_idx = _probe_subset(ensemble, n_trials, time_stride)
    blocks = _ntk_blocks(params, inputs, ensemble.architecture, t_idx)
    scale = torch.tensor([mult[k] ** 2 for k in PARAM_NAMES], dtype=torch.float64)
    return torch.einsum("epij,p->eij", blocks, scale).detach().numpy()


def _probe_subset(ensemble: Any, n_trials: int, time_stride: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidParameterError(
            f"kernel_alignment: n_trials must be a positive integer, got {n_trials!r}"
        )
    inputs = np.asarray(ensemble.probe_inputs)[:n_trials]
    T = inputs.shape[1]
    stride = max(1, T // 10) if time_stride is None else time_stride
    if not isinstance(stride, int) or stride < 1:
        raise InvalidParameterError(
            f"kernel_alignment: time_stride must be a positive integer, got {stride!r}"
        )
    t_idx = np.arange(T - 1, -1, -stride)[::-1].copy()  # ends on the last step
    return inputs, t_idx


def kernel_alignment(
    ensemble: Any,
    *,
    n_trials: int = 8,
    time_stride: int | None = None,
    parameters: Parameters = "effective",
) -> np.ndarray:
    """NTK alignment ``⟨K0, KT⟩_F / (‖K0‖_F ‖KT‖_F)`` per member ``[E]``, in [0, 1].

    K0 and KT are the empirical NTKs of the network at initialisation and after training, on the
    first ``n_trials`` probe trials, every ``time_stride``-th step ending on the last one
    (default: T // 10, about ten steps). Computed in float64; the Jacobian rows come from one
    batched adjoint (BPTT) pass per member (see ``_ntk_blocks``; checked against autograd in the
    tests). ``torch.func.jacrev`` is not used: the model's recurrence is a custom autograd
    Function that functorch cannot transform, and per-output parameter copies are memory-bound.
    """
    kw = {"n_trials": n_trials, "time_stride": time_stride, "parameters": parameters}
    K0 = ntk_grams(ensemble, initial=True, **kw)
    KT = ntk_grams(ensemble, initial=False, **kw)
    num = np.einsum("eij,eij->e", K0, KT)
    den = np.linalg.norm(K0.reshape(len(K0), -1), axis=1) * np.linalg.norm(KT.reshape(len(KT), -1), axis=1)
    if np.any(den == 0):
        member = int(np.flatnonzero(den == 0)[0])
        raise InvalidParameterError(f"kernel_alignment: member {member} has a zero tangent kernel")
    return np.clip(num / den, -1.0, 1.0)


@dataclass
class WeightChange:
    """Per-member ``‖W_T − W_0‖_F`` (see :func:`weight_change`) and its ensemble mean with a CI."""

    which: Literal["W_hh", "all"] = "W_hh"
    parameters: Parameters = "effective"

    name: ClassVar[str] = "weight_change"

    def scores(self, ensemble: Any) -> np.ndarray:
        return weight_change(ensemble, which=self.which, parameters=self.parameters)

    def summary(self, ensemble: Any, *, n_boot: int = 1000, confidence: float = 0.95,
                seed: int = 0) -> Estimate:
        return bootstrap_mean(self.scores(ensemble), n_boot=n_boot, confidence=confidence, seed=seed)


@dataclass
class KernelAlignment:
    """Per-member NTK alignment (see :func:`kernel_alignment`) and its ensemble mean with a CI."""

    n_trials: int = 8
    time_stride: int | None = None
    parameters: Parameters = "effective"

    name: ClassVar[str] = "kernel_alignment"

    def scores(self, ensemble: Any) -> np.ndarray:
        return kernel_alignment(ensemble, n_trials=self.n_trials, time_stride=self.time_stride,
                                parameters=self.parameters)

    def summary(self, ensemble: Any, *, n_boot: int = 1000, confidence: float = 0.95,
                seed: int = 0) -> Estimate:
        return bootstrap_mean(self.scores(ensemble), n_boot=n_boot, confidence=confidence, seed=seed)
