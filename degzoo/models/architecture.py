"""The declared architecture of an ensemble: vanilla tanh RNN or the µP-style rate network."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Literal

from degzoo.errors import InvalidParameterError

Kind = Literal["vanilla", "mup"]

PARAM_NAMES: tuple[str, ...] = ("W_in", "W_hh", "b", "W_out", "b_out")


@dataclass(frozen=True)
class Architecture:
    """Shape and parameterisation of every member of an ensemble.

    ``vanilla`` (the paper's default): h_t = tanh(W_hh h_{t-1} + W_in x_t + b), y_t = W_out h_t + b_out,
    h_0 = 0, every weight and bias drawn from U(-1/√H, 1/√H) as ``torch.nn.RNN`` does.

    ``mup`` (the paper's feature-learning experiments): a leaky rate network
    h_t = (1-τ) h_{t-1} + τ (J/H · tanh(h_{t-1}) + U x_t + b), y_t = W/(γH) · tanh(h_t) + b_out.
    Our choices where the paper is silent: J_ij ~ N(0, H) so that the effective recurrent matrix J/H
    starts with variance 1/H (a stable, non-chaotic start); U_ij, W_ij ~ N(0, 1); biases start at 0;
    Adam's learning rate is multiplied by γ. Larger γ shrinks the initial readout, forcing the
    hidden layer to move further: stronger feature learning.

    Stored weights are always the *effective* matrices (J/H, W/(γH)), so metrics compare like with
    like across parameterisations; ``multipliers`` gives the factor from raw trained parameters.
    """

    n_inputs: int
    n_outputs: int
    hidden: int = 128
    kind: Kind = "vanilla"
    tau: float = 0.1
    gamma: float = 1.0

    def __post_init__(self) -> None:
        for field in ("n_inputs", "n_outputs", "hidden"):
            value = getattr(self, field)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"Architecture: {field} must be a positive integer, got {value!r}"
                )
        if self.kind not in ("vanilla", "mup"):
            raise InvalidParameterError(
                f"Architecture: kind must be 'vanilla' or 'mup', got {self.kind!r}"
            )
        if not 0.0 < self.tau <= 1.0:
            raise InvalidParameterError(f"Architecture: tau must be in (0, 1], got {self.tau}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise InvalidParameterError(f"Architecture: gamma must be > 0, got {self.gamma}")

    @property
    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Shape of each parameter of one member."""
        H, In, Out = self.hidden, self.n_inputs, self.n_outputs
        return {"W_in": (H, In), "W_hh": (H, H), "b": (H,), "W_out": (Out, H), "b_out": (Out,)}

    @property
    def multipliers(self) -> dict[str, float]:
        """Effective parameter = multiplier × raw trained parameter."""
        if self.kind == "vanilla":
            return dict.fromkeys(PARAM_NAMES, 1.0)
        H = self.hidden
        return {"W_in": 1.0, "W_hh": 1.0 / H, "b": 1.0, "W_out": 1.0 / (self.gamma * H), "b_out": 1.0}

    @property
    def lr_scale(self) -> float:
        """Factor on the optimiser's learning rate (γ under µP)."""
        return self.gamma if self.kind == "mup" else 1.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Architecture:
        return cls(**data)
