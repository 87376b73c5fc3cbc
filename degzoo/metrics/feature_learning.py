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


@dataclass
class _Named:
    name: str


def _initial(measure: Any, ensemble: Any) -> dict[str, np.ndarray]:
    try:
        initial = ensemble.initial_params
    except AttributeError:
        initial = None
    if initial is None:
        raise InvalidParameterError(
            f"{measure.name}: the ensemble has no initial weights (initial_params); feature-"
            "learning measures compare trained weights with their initialisation"
        )
    return initial


def weight_change(
    ensemble: Any, *, which: Literal["W_hh", "all"] = "W_hh", parameters: Parameters = "effective"
) -> np.ndarray:
    """``‖W_T − W_0‖_F`` per member ``[E]``: on ``W_hh``, or on all parameters concatenated."""
    if which not in ("W_hh", "all"):
        raise InvalidParameterError(f"weight_change: which must be 'W_hh' or 'all', got {which!r}")
    measure = _Named("weight_change")
    keys = ("W_hh",) if which == "W_hh" else PARAM_NAMES
    final = check_finite_params(measure, ensemble, keys)
    initial = check_finite_params(measure, _Params(_initial(measure, ensemble)), keys)
    mult = _multipliers(ensemble, parameters)
    sq = sum(
        np.sum(((final[k] - initial[k]) / mult[k]).reshape(final[k].shape[0], -1) ** 2, axis=1)
        for k in keys
    )
    return np.sqrt(sq)


@dataclass
class _Params:
    params: dict[str, np.ndarray]


def _ntk_jacobians(
    params: dict[str, np.ndarray],
    inputs: np.ndarray,
    arch: Any,
    t_idx: np.ndarray,
    dtype: torch.dtype,
) -> torch.Tensor:
    """Per-parameter Gram blocks J_p J_pᵀ of every member: ``[E, len(PARAM_NAMES), n_out, n_out]``."""
    x = torch.as_tensor(inputs, dtype=dtype)
    t = torch.as_tensor(t_idx, dtype=torch.long)

    def outputs(member: dict[str, torch.Tensor]) -> torch.Tensor:
        y, _ = forward({k: v.unsqueeze(0) for k, v in member.items()}, x, arch)
        return y[0][:, t, :].reshape(-1)

    jac = torch.func.jacrev(outputs)
    grams = []
    for i in range(params["W_hh"].shape[0]):
        member = {k: torch.as_tensor(np.asarray(params[k][i]), dtype=dtype) for k in PARAM_NAMES}
        J = jac(member)
        blocks = []
        for k in PARAM_NAMES:
            Jk = J[k].reshape(J[k].shape[0], -1)
            blocks.append(Jk @ Jk.T)
        grams.append(torch.stack(blocks))
    return torch.stack(grams)


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
    measure = _Named("kernel_alignment")
    if initial:
        params = check_finite_params(measure, _Params(_initial(measure, ensemble)), PARAM_NAMES)
    else:
        params = check_finite_params(measure, ensemble, PARAM_NAMES)
    inputs, t_idx = _probe_subset(ensemble, n_trials, time_stride)
    blocks = _ntk_jacobians(params, inputs, ensemble.architecture, t_idx, torch.float64)
    scale = torch.tensor([mult[k] ** 2 for k in PARAM_NAMES], dtype=torch.float64)
    return torch.einsum("epij,p->eij", blocks, scale).detach().numpy()


def _probe_subset(ensemble: Any, n_trials: int, time_stride: int | None) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidParameterError(f"kernel_alignment: n_trials must be a positive integer, got {n_trials!r}")
    inputs = np.asarray(ensemble.probe_inputs)[:n_trials]
    T = inputs.shape[1]
    stride = max(1, T // 10) if time_stride is None else time_stride
    if not isinstance(stride, int) or stride < 1:
        raise InvalidParameterError(f"kernel_alignment: time_stride must be a positive integer, got {stride!r}")
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
    (default: T // 10, about ten steps). Computed in float64 with ``torch.func.jacrev``.
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
