"""The task contract shared by every generator, and the parameter checks they use.

A task is a frozen dataclass whose fields are its parameters. ``task.sample(n, rng)`` draws ``n``
trials as ``inputs [n, T, I]`` and ``targets [n, T, O]`` (float32); the same generator state always
gives the same arrays. The loss is the mean squared error over every time step and output
(PAPER-FACTS), and ``mse_threshold`` is the training threshold the paper uses for the task.
"""

from __future__ import annotations

import abc
import dataclasses
import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError
from degzoo.limits import check_budget

#: Base entropy of the standard probe set: ``probe(n, seed)`` samples with
#: ``np.random.default_rng([PROBE_SEED_BASE, seed])``, so probe trials never coincide with
#: training trials drawn from small integer seeds. (The digits are the paper's arXiv number.)
PROBE_SEED_BASE = 241003972


@dataclass(frozen=True)
class Task(abc.ABC):
    """A seeded trial generator with its parameters as (frozen) dataclass fields."""

    name: ClassVar[str]
    mse_threshold: ClassVar[float]
    #: range every target value lies in (used e.g. to discretise targets)
    output_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)

    # -- shape ---------------------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def n_inputs(self) -> int:
        """Number of input channels I."""

    @property
    @abc.abstractmethod
    def n_outputs(self) -> int:
        """Number of output channels O."""

    @property
    @abc.abstractmethod
    def trial_length(self) -> int:
        """Number of time steps T of every trial."""

    # -- sampling ------------------------------------------------------------------------------
    @abc.abstractmethod
    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` trials (any float dtype); ``sample`` checks shapes and casts to float32."""

    def sample(self, n: int, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
        """Draw ``n`` trials: ``inputs [n, T, I]`` and ``targets [n, T, O]``, both float32.

        ``rng`` is a ``numpy.random.Generator`` (an int is accepted as a seed). The same
        generator state always gives identical arrays.
        """
        n = _as_int(f"{self.name}.sample", "n", n, minimum=0)
        if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
            rng = np.random.default_rng(int(rng))
        if not isinstance(rng, np.random.Generator):
            raise InvalidParameterError(
                f"{self.name}.sample: rng must be a numpy.random.Generator "
                f"(e.g. np.random.default_rng(0)), got {type(rng).__name__}"
            )
        check_budget(f"{self.name}.sample({n}) of {self}",
                     float(n) * self.trial_length * (self.n_inputs + self.n_outputs) * 8 * 4,
                     "the number of trials or the task's sizes")
        inputs, targets = self._sample(n, rng)
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        targets = np.ascontiguousarray(targets, dtype=np.float32)
        t = self.trial_length
        assert inputs.shape == (n, t, self.n_inputs), (inputs.shape, (n, t, self.n_inputs))
        assert targets.shape == (n, t, self.n_outputs), (targets.shape, (n, t, self.n_outputs))
        return inputs, targets

    def probe(self, n: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The standard probe set: ``sample(n, np.random.default_rng([PROBE_SEED_BASE, seed]))``."""
        seed = _as_int(f"{self.name}.probe", "seed", seed, minimum=0)
        return self.sample(n, np.random.default_rng([PROBE_SEED_BASE, seed]))

    # -- variants and description --------------------------------------------------------------
    def ood(self) -> Task:
        """The out-of-distribution variant: the same task with twice the trial length."""
        return dataclasses.replace(self, trial_length=2 * self.trial_length)  # type: ignore[call-arg]

    @abc.abstractmethod
    def complexity(self) -> dict[str, float]:
        """The values of the task's complexity knobs, e.g. ``{"bits": 3.0}``."""

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., **parameters}``, JSON-serialisable; ``task_from_dict`` inverts it."""
        return {"name": self.name, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)}}

    # -- loss ----------------------------------------------------------------------------------
    def loss(self, outputs: Any, targets: Any, reduce: bool = True) -> Any:
        """Mean squared error over every time step and output channel.

        Works on numpy arrays (returns a float, or with ``reduce=False`` the per-trial MSE
        ``[n]``) and on torch tensors (returns a tensor, so it can be differentiated).
        """
        if tuple(outputs.shape) != tuple(targets.shape):
            raise InvalidParameterError(
                f"{self.name}.loss: outputs have shape {tuple(outputs.shape)} but targets have "
                f"shape {tuple(targets.shape)}; pass arrays of the same [n, T, O] shape"
            )
        diff = outputs - targets
        sq = diff * diff
        if reduce:
            m = sq.mean()
            return float(m) if isinstance(m, np.ndarray | np.generic) else m
        if len(sq.shape) < 2:
            return sq
        return sq.reshape(sq.shape[0], -1).mean(1)


# -- parameter checks used by the subclasses ---------------------------------------------------
def _as_int(where: str, field: str, value: Any, minimum: int | None = None,
            maximum: int | None = None) -> int:
    """``value`` as a Python int, or InvalidParameterError saying what is wrong."""
    if isinstance(value, bool) or not (
        isinstance(value, numbers.Integral)
        or (isinstance(value, numbers.Real) and math.isfinite(value) and float(value).is_integer())
    ):
        raise InvalidParameterError(f"{where}: {field} must be an integer, got {value!r}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise InvalidParameterError(f"{where}: {field} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise InvalidParameterError(f"{where}: {field} must be <= {maximum}, got {v}")
    return v


def _as_float(where: str, field: str, value: Any, low: float | None = None,
              high: float | None = None, low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite Python float within the given bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidParameterError(f"{where}: {field} must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise InvalidParameterError(f"{where}: {field} must be {'>' if low_open else '>='} {low}, got {v}")
    if high is not None and (v > high or (high_open and v == high)):
        raise InvalidParameterError(f"{where}: {field} must be {'<' if high_open else '<='} {high}, got {v}")
    return v


def _as_bool(where: str, field: str, value: Any) -> bool:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InvalidParameterError(f"{where}: {field} must be True or False, got {value!r}")


def _set(task: Task, field: str, value: Any) -> None:
    """Store a normalised value on a frozen dataclass (used in ``__post_init__``)."""
    object.__setattr__(task, field, value)
