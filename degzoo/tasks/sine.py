"""Sine-wave generation: a static input selects a frequency, the output oscillates at it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError
from degzoo.limits import check_budget
from degzoo.tasks.base import Task, _as_float, _as_int, _set


@dataclass(frozen=True)
class SineWave(Task):
    """Sine-wave generation, with ``channels`` independent oscillators.

    For each trial and channel a frequency f is drawn uniformly from ``n_freq`` evenly spaced
    values ``np.linspace(f_min, f_max, n_freq)`` (``n_freq = 1`` gives ``f_min``), independently
    per channel.

    Inputs ``[n, T, channels]``: static over the trial, channel c is
    ``input_offset + f_c / f_max`` (default offset 0.25, so the input lies in (0.25, 1.25] and
    the lowest frequency still gets a clearly nonzero drive, as in Sussillo & Barak's sine task).

    Targets ``[n, T, channels]``: ``sin(2π f_c t dt)`` for steps t = 0, ..., T-1 (every trial
    starts at phase 0, so the target at step 0 is 0).

    Time step: ``dt = 0.01`` s (100 Hz sampling, Nyquist 50 Hz), so the fastest default
    frequency, 30 Hz, is represented with 3.3 samples per cycle, and the default T = 100 steps
    (1 s) holds one full cycle of the slowest, 1 Hz. ``f_max`` must stay below the Nyquist
    frequency 1 / (2 dt).

    Parameters
    ----------
    channels:
        Independent output channels (complexity knob), >= 1. Default 1.
    n_freq:
        Number of distinct frequencies N_freq (complexity knob), >= 1. Default 10.
    f_min, f_max:
        Frequency range in Hz, 0 < f_min <= f_max < 1/(2 dt). Default [1, 30] (PAPER-FACTS).
    dt:
        Seconds per step, > 0. Default 0.01.
    trial_length:
        Steps per trial T, >= 1. Default 100.
    input_offset:
        Constant added to the frequency code f / f_max. Default 0.25.

    Out of distribution: twice the trial length. MSE threshold 0.05 (PAPER-FACTS).
    """

    name: ClassVar[str] = "sine"
    mse_threshold: ClassVar[float] = 0.05

    channels: int = 1
    n_freq: int = 10
    f_min: float = 1.0
    f_max: float = 30.0
    dt: float = 0.01
    trial_length: int = 100
    input_offset: float = 0.25

    def __post_init__(self) -> None:
        w = "sine"
        _set(self, "channels", _as_int(w, "channels", self.channels, minimum=1))
        _set(self, "n_freq", _as_int(w, "n_freq", self.n_freq, minimum=1))
        check_budget(f"{w}: n_freq={self.n_freq} values", self.n_freq * 8.0, "n_freq")
        _set(self, "trial_length", _as_int(w, "trial_length", self.trial_length, minimum=1))
        _set(self, "dt", _as_float(w, "dt", self.dt, low=0.0, low_open=True))
        _set(self, "f_min", _as_float(w, "f_min", self.f_min, low=0.0, low_open=True))
        _set(self, "f_max", _as_float(w, "f_max", self.f_max, low=0.0, low_open=True))
        _set(self, "input_offset", _as_float(w, "input_offset", self.input_offset))
        if self.f_min > self.f_max:
            raise InvalidParameterError(
                f"sine: f_min must be <= f_max, got f_min={self.f_min}, f_max={self.f_max}"
            )
        nyquist = 1.0 / (2.0 * self.dt)
        if self.f_max >= nyquist:
            raise InvalidParameterError(
                f"sine: f_max={self.f_max} Hz is not representable with dt={self.dt} s (Nyquist "
                f"frequency {nyquist:g} Hz); lower f_max or use dt < {1.0 / (2.0 * self.f_max):g}"
            )

    @property
    def n_inputs(self) -> int:
        return self.channels

    @property
    def n_outputs(self) -> int:
        return self.channels

    @property
    def frequencies(self) -> np.ndarray:
        """The ``n_freq`` frequencies (Hz) a trial can use."""
        return np.linspace(self.f_min, self.f_max, self.n_freq)

    def complexity(self) -> dict[str, float]:
        return {"channels": float(self.channels), "n_freq": float(self.n_freq)}

    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        f = self.frequencies[rng.integers(self.n_freq, size=(n, self.channels))]  # [n, C]
        code = self.input_offset + f / self.f_max
        inputs = np.broadcast_to(code[:, None, :], (n, self.trial_length, self.channels))
        t = np.arange(self.trial_length) * self.dt
        targets = np.sin(2.0 * np.pi * f[:, None, :] * t[None, :, None])
        return inputs, targets
