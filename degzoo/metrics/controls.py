"""Negative controls: metrics that obey the axioms a distance must obey but measure nothing of a solution.

They are the benchmark's self-test. Each is a well-formed (pseudo-)metric — finite, non-negative,
symmetric, zero on identical networks, blind to the invariances it claims — that reads only a
confound: a seeded random number keyed on the weights (``control_noise``), how large the weights or
states are (``control_scale``), their singular values (``control_spectrum``), or where a network
sits in its ensemble (``control_order``). A benchmark whose suites rank one of them level with the
reference metric of its level cannot tell solutions apart from these confounds; the harness's
ground truths are built so that none of them can pass (:mod:`degzoo.benchmark.suites`).

Every control takes the ``level`` it poses as, and is registered once per level as
``<control>-<level>`` (``get("control_scale-dynamics")``, ``degzoo evaluate --metric
control_noise-weights``); ``negative_control = True`` marks them for reports and leaderboards, and
their names start with ``control_``. Distances are Euclidean between per-network feature vectors;
at the behaviour level the feature is one number per member (``member_scores``), as for
``behaviour_ood``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError
from degzoo.metrics.base import LEVELS, Metric
from degzoo.models import PARAM_NAMES

ALL_INVARIANCES = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})


@dataclass
class NegativeControl(Metric):
    """A feature per network, compared by Euclidean distance; see the module docstring."""

    name: ClassVar[str] = "control"
    negative_control: ClassVar[bool] = True
    levels: ClassVar[tuple[str, ...]] = LEVELS
    #: claimed invariances per level (a control claims every invariance its feature has)
    claims: ClassVar[dict[str, frozenset[str]]] = {}

    level: str = "weights"  # type: ignore[misc]  # a parameter here, a class constant elsewhere

    def __post_init__(self) -> None:
        if self.level not in self.levels:
            raise InvalidParameterError(
                f"{self.name}: level must be one of {', '.join(self.levels)}, got {self.level!r}")
        self.invariances = self.claims.get(self.level, frozenset())  # type: ignore[misc]
        self.name = f"{type(self).name}-{self.level}"  # type: ignore[misc]

    @property
    def member_scores(self) -> Any:
        """The per-member score of a behaviour-level control (absent at the other levels)."""
        if self.level != "behaviour":
            raise AttributeError("member_scores exists at the behaviour level only")
        return lambda ensemble: self.features(ensemble)[:, 0]

    def features(self, ensemble: Any) -> np.ndarray:
        """``[E, k]`` features, one row per member."""
        raise NotImplementedError

    def embed(self, ensemble: Any) -> np.ndarray:
        return np.asarray(self.features(ensemble), dtype=np.float64).reshape(len(ensemble), -1)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        return np.sqrt(((emb_a[:, None, :] - emb_b[None, :, :]) ** 2).sum(axis=-1))


def _states(ensemble: Any) -> np.ndarray:
    """Probe-set rates ``[E, samples, H]`` in float64."""
    x = np.asarray(ensemble.trajectories(), dtype=np.float64)
    return x.reshape(x.shape[0], -1, x.shape[-1])


@dataclass
class NoiseControl(NegativeControl):
    """A uniform number in [0, 1) per network, from a hash of its weights (sorted magnitudes of
    every parameter, so unit relabelling and sign flips leave it unchanged) and ``seed``."""

    name: ClassVar[str] = "control_noise"
    claims: ClassVar[dict[str, frozenset[str]]] = {lvl: frozenset({"permutation", "sign_flip"})
                                                   for lvl in LEVELS}
    seed: int = 0

    def features(self, ensemble: Any) -> np.ndarray:
        params = ensemble.params
        out = np.empty((len(ensemble), 1))
        for e in range(len(ensemble)):
            h = hashlib.sha256(str(self.seed).encode())
            for k in PARAM_NAMES:
                h.update(np.sort(np.abs(np.asarray(params[k][e], np.float32)).ravel()).tobytes())
            out[e, 0] = int.from_bytes(h.digest()[:8], "little") / 2.0**64
        return out


@dataclass
class ScaleControl(NegativeControl):
    """How large a network is: RMS of ``W_hh`` (weights), of the probe-set states (dynamics,
    representation) or of the outputs (behaviour)."""

    name: ClassVar[str] = "control_scale"
    claims: ClassVar[dict[str, frozenset[str]]] = {
        "weights": ALL_INVARIANCES,
        "dynamics": frozenset({"permutation", "sign_flip", "orthogonal"}),
        "representation": frozenset({"permutation", "sign_flip", "orthogonal"}),
        "behaviour": frozenset({"permutation", "sign_flip"}),
    }

    def features(self, ensemble: Any) -> np.ndarray:
        if self.level == "weights":
            x = np.asarray(ensemble.params["W_hh"], np.float64).reshape(len(ensemble), -1)
        elif self.level == "behaviour":
            x = np.asarray(ensemble.run()[0], np.float64).reshape(len(ensemble), -1)
        else:
            x = _states(ensemble).reshape(len(ensemble), -1)
        return np.sqrt(np.mean(x**2, axis=1))[:, None]


@dataclass
class SpectrumControl(NegativeControl):
    """The ``k`` largest singular values of ``W_hh`` (weights) or of the probe-set state matrix
    divided by √samples (dynamics, representation)."""

    name: ClassVar[str] = "control_spectrum"
    levels: ClassVar[tuple[str, ...]] = ("weights", "dynamics", "representation")
    claims: ClassVar[dict[str, frozenset[str]]] = {
        "weights": ALL_INVARIANCES,
        "dynamics": frozenset({"permutation", "sign_flip", "orthogonal"}),
        "representation": frozenset({"permutation", "sign_flip", "orthogonal"}),
    }
    k: int = 8

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.k, int) or self.k < 1:
            raise InvalidParameterError(f"{self.name}: k must be an integer >= 1, got {self.k!r}")

    def features(self, ensemble: Any) -> np.ndarray:
        if self.level == "weights":
            s = np.linalg.svd(np.asarray(ensemble.params["W_hh"], np.float64), compute_uv=False)
        else:
            x = _states(ensemble)  # singular values of x / √samples, from the H × H second moments
            gram = np.einsum("esh,esk->ehk", x, x) / x.shape[1]
            s = np.sqrt(np.clip(np.linalg.eigvalsh(gram)[:, ::-1], 0.0, None))
        out = np.zeros((len(ensemble), self.k))
        m = min(self.k, s.shape[1])
        out[:, :m] = s[:, :m]
        return out


@dataclass
class OrderControl(NegativeControl):
    """Where a network sits in the ensemble it is handed in: member ``i`` → ``i``."""

    name: ClassVar[str] = "control_order"
    claims: ClassVar[dict[str, frozenset[str]]] = {lvl: ALL_INVARIANCES for lvl in LEVELS}

    def features(self, ensemble: Any) -> np.ndarray:
        return np.arange(len(ensemble), dtype=np.float64)[:, None]


#: The negative controls and the levels each is run at (the benchmark's self-test).
NEGATIVE_CONTROLS: dict[str, type[NegativeControl]] = {
    c.name: c for c in (NoiseControl, ScaleControl, SpectrumControl, OrderControl)
}


def control_names() -> list[str]:
    """The registered name of every control at every level it supports (``control_scale-weights``, ...)."""
    return [f"{name}-{lvl}" for name, cls in NEGATIVE_CONTROLS.items() for lvl in cls.levels]


def control_factories() -> dict[str, Callable[..., NegativeControl]]:
    """Registry entries: ``<control>-<level>`` → a factory of that control at that level."""
    return {f"{name}-{lvl}": partial(cls, level=lvl) for name, cls in NEGATIVE_CONTROLS.items()
            for lvl in cls.levels}
