"""Delayed discrimination (Romo-style): compare two pulses separated by a delay."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError
from degzoo.limits import check_budget
from degzoo.tasks.base import Task, _as_bool, _as_float, _as_int, _set


@dataclass(frozen=True)
class DelayedDiscrimination(Task):
    """Delayed discrimination of two pulses, with ``channels`` independent comparisons.

    Trial layout (all trials have the same length T = pre_steps + delay_max + 2 + response_steps):

    - steps ``0 .. pre_steps-1``: nothing;
    - step ``t1 = pre_steps``: pulse f1 (one step);
    - ``delay`` silent steps, drawn per trial uniformly from ``delay_min .. delay_max`` (shared
      by all channels);
    - step ``t2 = t1 + delay + 1``: pulse f2 (one step);
    - steps ``t2+1 .. T-1``: response period (at least ``response_steps`` steps long).

    The values f1, f2 are drawn per trial and channel from ``n_levels`` evenly spaced levels
    ``np.linspace(f_min, f_max, n_levels)`` (default the integers 2..10), with f2 != f1 so the
    answer is never ambiguous (f1 uniform; f2 uniform over the other levels).

    Inputs ``[n, T, channels]``: channel c is ``f / f_max`` (in (0, 1]) at steps t1 and t2 and 0
    elsewhere.

    Targets ``[n, T, channels]`` (``[n, T, 2·channels]`` with ``aux``): channel c is 0 up to and
    including step t2 and ``sign(f2 - f1)`` = ±1 during the response period. With ``aux=True``,
    channel ``channels + c`` is the auxiliary magnitude ``|f2 - f1| / (f_max - f_min)`` in (0, 1]
    during the response period and 0 before it.

    Parameters
    ----------
    channels:
        Independent comparisons (complexity knob), >= 1. Default 1.
    delay_min, delay_max:
        Range of silent steps between the pulses (memory-demand knob), 0 <= delay_min <=
        delay_max. Default 5..20 (PAPER-FACTS).
    aux:
        Add the auxiliary |f2 - f1| outputs (complexity knob). Default False.
    n_levels:
        Number of pulse values, >= 2. Default 9.
    f_min, f_max:
        Pulse value range, 0 < f_min < f_max. Default [2, 10] (PAPER-FACTS).
    pre_steps:
        Silent steps before f1, >= 0. Default 5.
    response_steps:
        Minimum length of the response period (reached with the longest delay), >= 1. Default 10.

    Default trial length: 5 + 20 + 2 + 10 = 37 steps. Out of distribution: the delay range is
    doubled (10..40, T = 57). MSE threshold 0.01 (PAPER-FACTS).
    """

    name: ClassVar[str] = "delayed_discrimination"
    mse_threshold: ClassVar[float] = 0.01

    channels: int = 1
    delay_min: int = 5
    delay_max: int = 20
    aux: bool = False
    n_levels: int = 9
    f_min: float = 2.0
    f_max: float = 10.0
    pre_steps: int = 5
    response_steps: int = 10

    def __post_init__(self) -> None:
        w = "delayed_discrimination"
        _set(self, "channels", _as_int(w, "channels", self.channels, minimum=1))
        _set(self, "delay_min", _as_int(w, "delay_min", self.delay_min, minimum=0))
        _set(self, "delay_max", _as_int(w, "delay_max", self.delay_max, minimum=0))
        _set(self, "aux", _as_bool(w, "aux", self.aux))
        _set(self, "n_levels", _as_int(w, "n_levels", self.n_levels, minimum=2))
        check_budget(f"{w}: n_levels={self.n_levels} values", self.n_levels * 8.0, "n_levels")
        _set(self, "f_min", _as_float(w, "f_min", self.f_min, low=0.0, low_open=True))
        _set(self, "f_max", _as_float(w, "f_max", self.f_max, low=0.0, low_open=True))
        _set(self, "pre_steps", _as_int(w, "pre_steps", self.pre_steps, minimum=0))
        _set(self, "response_steps", _as_int(w, "response_steps", self.response_steps, minimum=1))
        if self.delay_min > self.delay_max:
            raise InvalidParameterError(
                f"{w}: delay_min must be <= delay_max, got delay_min={self.delay_min}, "
                f"delay_max={self.delay_max}"
            )
        if self.f_min >= self.f_max:
            raise InvalidParameterError(
                f"{w}: f_min must be < f_max, got f_min={self.f_min}, f_max={self.f_max}"
            )

    @property
    def n_inputs(self) -> int:
        return self.channels

    @property
    def n_outputs(self) -> int:
        return 2 * self.channels if self.aux else self.channels

    @property
    def trial_length(self) -> int:
        return self.pre_steps + self.delay_max + 2 + self.response_steps

    @property
    def levels(self) -> np.ndarray:
        """The ``n_levels`` values a pulse can take."""
        return np.linspace(self.f_min, self.f_max, self.n_levels)

    def ood(self) -> DelayedDiscrimination:
        """The out-of-distribution variant: the delay range doubled (trial length follows)."""
        return dataclasses.replace(self, delay_min=2 * self.delay_min, delay_max=2 * self.delay_max)

    def complexity(self) -> dict[str, float]:
        return {
            "channels": float(self.channels),
            "delay_min": float(self.delay_min),
            "delay_max": float(self.delay_max),
            "aux": float(self.aux),
        }

    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        c, t_len, lv = self.channels, self.trial_length, self.n_levels
        delay = rng.integers(self.delay_min, self.delay_max + 1, size=n)
        i1 = rng.integers(lv, size=(n, c))
        i2 = (i1 + rng.integers(1, lv, size=(n, c))) % lv  # uniform over the other levels
        f1, f2 = self.levels[i1], self.levels[i2]
        t1 = self.pre_steps
        t2 = t1 + delay + 1
        trials = np.arange(n)
        inputs = np.zeros((n, t_len, c))
        inputs[:, t1, :] = f1 / self.f_max
        inputs[trials, t2, :] = f2 / self.f_max
        respond = (np.arange(t_len)[None, :] > t2[:, None])[:, :, None]  # [n, T, 1]
        outputs = [respond * np.sign(f2 - f1)[:, None, :]]
        if self.aux:
            outputs.append(respond * (np.abs(f2 - f1) / (self.f_max - self.f_min))[:, None, :])
        return inputs, np.concatenate(outputs, axis=2)
