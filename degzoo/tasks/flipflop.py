"""N-bit flip-flop (Sussillo & Barak 2013): remember the sign of the last pulse of every channel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from degzoo.tasks.base import Task, _as_float, _as_int, _set


@dataclass(frozen=True)
class FlipFlop(Task):
    """N-bit flip-flop.

    Inputs ``[n, T, bits]``: every channel carries pulses in {-1, 0, +1}. At each step a channel
    pulses with probability ``p_pulse``, with a sign drawn ±1 with equal probability
    (balanced). **Every channel pulses at step 0**, so the state is defined from the start and
    every target value is ±1: the task has exactly 2^bits stable states (no "0 before the first
    pulse" state).

    Targets ``[n, T, bits]``: channel c holds the value of the last nonzero pulse of input
    channel c, up to and including the current step (a pulse is reported on the step it
    arrives).

    Parameters
    ----------
    bits:
        Number of independent channels N (complexity knob), >= 1. Default 3.
    trial_length:
        Steps per trial T, >= 1. Default 100 (a state is held 1/(p_pulse/2) = 40 steps on average).
    p_pulse:
        Probability that a channel receives a pulse at a step (after step 0), in [0, 1].
        Default 0.05 (5 pulses per channel per 100 steps).

    Out of distribution: twice the trial length. MSE threshold 0.001 (PAPER-FACTS).
    """

    name: ClassVar[str] = "flipflop"
    mse_threshold: ClassVar[float] = 0.001

    bits: int = 3
    trial_length: int = 100
    p_pulse: float = 0.05

    def __post_init__(self) -> None:
        _set(self, "bits", _as_int("flipflop", "bits", self.bits, minimum=1))
        _set(self, "trial_length", _as_int("flipflop", "trial_length", self.trial_length, minimum=1))
        _set(self, "p_pulse", _as_float("flipflop", "p_pulse", self.p_pulse, 0.0, 1.0))

    @property
    def n_inputs(self) -> int:
        return self.bits

    @property
    def n_outputs(self) -> int:
        return self.bits

    def complexity(self) -> dict[str, float]:
        return {"bits": float(self.bits)}

    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        shape = (n, self.trial_length, self.bits)
        pulse = rng.random(shape) < self.p_pulse
        pulse[:, 0, :] = True
        sign = (rng.random(shape) >= 0.5) * 2.0 - 1.0  # -1 below 0.5, else +1
        inputs = np.where(pulse, sign, 0.0)
        # flat index of the last pulse at or before t (step 0 always pulses; indices grow with t),
        # then one gather: several times faster than take_along_axis over the time axis
        flat = np.arange(inputs.size).reshape(shape)
        last = np.maximum.accumulate(np.where(pulse, flat, 0), axis=1)
        targets = inputs.ravel()[last]
        return inputs, targets
