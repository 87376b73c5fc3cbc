"""Controls: training interventions declared as data (name + parameters) so the zoo can record them.

A control may change the task or the architecture before training (``configure``), the members'
initial weights (``initialize``), add a per-member penalty to the loss (``penalty``), and hold the
weights on a constraint set after every optimiser step (``project``). Controls compose: a condition
is a tuple of them.
Third-party control methods subclass :class:`Control` and register with :func:`register_control`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.models import Architecture

_CONTROLS: dict[str, type[Control]] = {}


class Control:
    """Base class: a frozen dataclass with a registry ``name``."""

    name: ClassVar[str]
    #: True for a control that makes a *solution family*: the same task, architecture and probe set
    #: as the baseline beside it, trained to find other solutions (the benchmark's real families).
    solution_family: ClassVar[bool] = False

    def configure(self, task: Any, arch: Architecture) -> tuple[Any, Architecture]:
        """Return the task and architecture this control trains (default: unchanged)."""
        return task, arch

    def initialize(self, raw: dict[str, torch.Tensor], arch: Architecture) -> None:
        """Change the members' raw initial parameters ``[E, ...]`` in place (default: unchanged)."""

    def penalty(self, params: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """Per-member penalty ``[E]`` on effective parameters, added to the loss (default: none)."""
        return None

    def project(self, raw: dict[str, torch.Tensor], members: torch.Tensor) -> None:
        """After an optimiser step, map the raw parameters of ``members`` (the members just updated)
        back onto this control's constraint set, in place (default: no constraint)."""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **dataclasses.asdict(self)}  # type: ignore[call-overload]


def register_control(cls: type[Control]) -> type[Control]:
    """Class decorator adding a control to the registry under its ``name``."""
    _CONTROLS[cls.name] = cls
    return cls


def _check_nonneg(owner: str, field: str, value: float) -> None:
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise InvalidParameterError(f"{owner}: {field} must be a finite number >= 0, got {value!r}")


@register_control
@dataclass(frozen=True)
class Width(Control):
    """Number of hidden units."""

    name: ClassVar[str] = "width"
    hidden: int = 128

    def __post_init__(self) -> None:
        if not isinstance(self.hidden, int) or self.hidden < 1:
            raise InvalidParameterError(f"width: hidden must be an integer >= 1, got {self.hidden!r}")

    def configure(self, task: Any, arch: Architecture) -> tuple[Any, Architecture]:
        return task, dataclasses.replace(arch, hidden=self.hidden)


@register_control
@dataclass(frozen=True)
class MuP(Control):
    """µP-style parameterisation with feature-learning strength γ (see :class:`Architecture`)."""

    name: ClassVar[str] = "mup"
    gamma: float = 1.0
    tau: float = 0.1

    def __post_init__(self) -> None:
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise InvalidParameterError(f"mup: gamma must be > 0, got {self.gamma!r}")

    def configure(self, task: Any, arch: Architecture) -> tuple[Any, Architecture]:
        return task, dataclasses.replace(arch, kind="mup", gamma=self.gamma, tau=self.tau)


@register_control
@dataclass(frozen=True)
class L1(Control):
    """λ Σ|w| over the named effective weight matrices."""

    name: ClassVar[str] = "l1"
    weight: float = 1e-4
    params: tuple[str, ...] = ("W_in", "W_hh", "W_out")

    def __post_init__(self) -> None:
        _check_nonneg("l1", "weight", self.weight)
        object.__setattr__(self, "params", tuple(self.params))

    def penalty(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.weight * sum(params[k].abs().flatten(1).sum(1) for k in self.params)


@register_control
@dataclass(frozen=True)
class NuclearNorm(Control):
    """λ Σ σ_i(W_hh): a pressure towards low-rank recurrent connectivity."""

    name: ClassVar[str] = "nuclear"
    weight: float = 1e-3

    def __post_init__(self) -> None:
        _check_nonneg("nuclear", "weight", self.weight)

    def penalty(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.weight * torch.linalg.svdvals(params["W_hh"]).sum(-1)


@register_control
@dataclass(frozen=True)
class AuxiliaryOutput(Control):
    """Train with the task's auxiliary output (delayed discrimination: |f2 − f1|)."""

    name: ClassVar[str] = "aux"

    def configure(self, task: Any, arch: Architecture) -> tuple[Any, Architecture]:
        if not any(f.name == "aux" for f in dataclasses.fields(task)):
            raise InvalidParameterError(
                f"aux: task {task.name!r} has no auxiliary output; use it with delayed_discrimination"
            )
        task = dataclasses.replace(task, aux=True)
        return task, dataclasses.replace(arch, n_outputs=task.n_outputs)


@register_control
@dataclass(frozen=True)
class InitGain(Control):
    """Initial recurrent weights multiplied by ``gain``: how strong the random connectivity is that
    training starts from (spectral radius about 0.58·gain for vanilla networks, gain under µP).

    A large gain (chaotic at the start) lets a network solve the task with small changes to a strong
    random bulk (lazy learning); a small gain makes training build the recurrent structure itself
    (rich learning): Schuessler et al. 2020, Liu et al. 2023. A solution family of zoo-v2.
    """

    name: ClassVar[str] = "init_gain"
    solution_family: ClassVar[bool] = True
    gain: float = 1.0

    def __post_init__(self) -> None:
        if not (isinstance(self.gain, (int, float)) and math.isfinite(self.gain) and self.gain > 0):
            raise InvalidParameterError(f"init_gain: gain must be a finite number > 0, got {self.gain!r}")

    def initialize(self, raw: dict[str, torch.Tensor], arch: Architecture) -> None:
        raw["W_hh"].mul_(self.gain)


@register_control
@dataclass(frozen=True)
class LowRank(Control):
    """W_hh constrained to rank <= ``rank`` (low-rank RNNs, Mastrogiuseppe & Ostojic 2018).

    Projected Adam: the initial W_hh and, after every step, each updated member's W_hh are replaced
    by their nearest matrix of that rank (truncated SVD, Eckart–Young). The stored W_hh is the
    full matrix, so every metric reads it as it reads any other network. A solution family of
    zoo-v2: the same task solved within a few recurrent dimensions rather than all of them.
    """

    name: ClassVar[str] = "low_rank"
    solution_family: ClassVar[bool] = True
    rank: int = 2

    def __post_init__(self) -> None:
        if not isinstance(self.rank, int) or isinstance(self.rank, bool) or self.rank < 1:
            raise InvalidParameterError(f"low_rank: rank must be an integer >= 1, got {self.rank!r}")

    def configure(self, task: Any, arch: Architecture) -> tuple[Any, Architecture]:
        if self.rank >= arch.hidden:
            raise InvalidParameterError(
                f"low_rank: rank {self.rank} does not constrain {arch.hidden} hidden units; give a rank "
                f"below {arch.hidden}"
            )
        return task, arch

    def initialize(self, raw: dict[str, torch.Tensor], arch: Architecture) -> None:
        raw["W_hh"].copy_(nearest_low_rank(raw["W_hh"], self.rank))

    def project(self, raw: dict[str, torch.Tensor], members: torch.Tensor) -> None:
        raw["W_hh"][members] = nearest_low_rank(raw["W_hh"][members], self.rank)


def nearest_low_rank(matrices: torch.Tensor, rank: int) -> torch.Tensor:
    """The nearest matrices of rank <= ``rank`` in Frobenius norm (truncated SVD), batched."""
    u, s, vh = torch.linalg.svd(matrices, full_matrices=False)
    return (u[..., :rank] * s[..., None, :rank]) @ vh[..., :rank, :]


def available_controls() -> list[str]:
    return sorted(_CONTROLS)


def get_control(name: str, **params: Any) -> Control:
    """A control by registry name, e.g. ``get_control("l1", weight=1e-3)``."""
    if name not in _CONTROLS:
        raise UnknownNameError(
            f"unknown control {name!r}; available: {', '.join(available_controls())}"
        )
    try:
        return _CONTROLS[name](**params)
    except TypeError as exc:
        raise InvalidParameterError(f"control {name!r}: {exc}") from None


def split_solution_family(controls: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], bool]:
    """A condition's recorded ``controls`` without its :attr:`Control.solution_family` ones, and
    whether it had any: a solution family is its baseline's controls plus family controls."""
    controls = list(controls)
    rest = [c for c in controls if not (c.get("name") in _CONTROLS and _CONTROLS[c["name"]].solution_family)]
    return rest, len(rest) < len(controls)


def control_from_dict(data: dict[str, Any]) -> Control:
    """Inverse of :meth:`Control.to_dict`."""
    params = dict(data)
    name = params.pop("name", None)
    if name is None:
        raise InvalidParameterError(f"control {data!r} has no 'name'")
    return get_control(name, **{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def apply_controls(
    controls: Iterable[Control], task: Any, arch: Architecture
) -> tuple[Any, Architecture, list[Callable[[dict[str, torch.Tensor]], torch.Tensor | None]]]:
    """Configure task and architecture through every control; return their penalties."""
    penalties = []
    for control in controls:
        task, arch = control.configure(task, arch)
        penalties.append(control.penalty)
    return task, arch, penalties
