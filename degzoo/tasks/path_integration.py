"""Path integration in a 2-D square or 3-D cube: integrate heading and speed into position."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from degzoo.errors import InvalidParameterError
from degzoo.tasks.base import Task, _as_float, _as_int, _set

#: half-width of the arena: positions lie in [-ARENA, ARENA] in every dimension (PAPER-FACTS)
ARENA = 5.0


def reflect(x: np.ndarray, half_width: float = ARENA) -> np.ndarray:
    """Fold free positions into ``[-half_width, half_width]`` by specular reflection at the walls.

    A point that would move ``d`` past a wall ends ``d`` inside it (and so on for several
    bounces): the triangle wave ``L - |((x + L) mod 4L) - 2L|``, which is the identity inside.
    """
    lw = half_width
    return lw - np.abs(np.mod(x + lw, 4.0 * lw) - 2.0 * lw)


@dataclass(frozen=True)
class PathIntegration(Task):
    """Path integration in ``dims`` = 2 (square) or 3 (cube) dimensions, arena [-5, 5]^dims.

    Movement: a trial starts at a position drawn uniformly in the arena. The heading performs a
    random walk — 2-D: the angle θ changes by N(0, heading_noise²) per step from a uniform
    start; 3-D: the unit heading vector gets isotropic N(0, heading_noise²) noise per component
    and is renormalised (uniform start on the sphere). Speed is drawn per step uniformly in
    [0, speed_max]. The free path ``start + cumsum(speed · heading)`` is folded back into the
    arena by specular reflection at the walls (:func:`reflect`); the **inputs describe the
    reflected movement** (heading and speed of each step's actual displacement), so the target
    is exactly ``start + cumsum(velocity given by the inputs)`` and always lies in [-5, 5].
    (A step that bounces off a wall is reported as its net displacement.)

    Inputs ``[n, T, 5]`` (2-D) or ``[n, T, 8]`` (3-D), angles encoded as cos/sin to avoid the
    wrap-around discontinuity:

    - 2-D: ``cos θ, sin θ, v, x0/5, y0/5``; velocity = v (cos θ, sin θ);
    - 3-D: ``cos φ, sin φ, cos ψ, sin ψ, v, x0/5, y0/5, z0/5`` with azimuth φ and elevation
      ψ ∈ [-π/2, π/2]; velocity = v (cos ψ cos φ, cos ψ sin φ, sin ψ);

    the start-position channels carry the start at step 0 and are 0 afterwards, so the start is
    given to the network, not guessed.

    Targets ``[n, T, dims]``: the position after the step's movement,
    ``y_t = start + Σ_{s<=t} velocity_s``, in [-5, 5].

    Parameters
    ----------
    dims:
        2 or 3 (complexity knob). Default 2.
    trial_length:
        Steps per trial T, >= 1. Default 100.
    speed_max:
        Largest speed (arena units per step), > 0. Default 0.3 (mean path 15 units per trial,
        so walls are hit in a fair share of trials).
    heading_noise:
        Standard deviation of the heading change per step (radians in 2-D), >= 0. Default 0.3.

    Out of distribution: twice the trial length. MSE threshold 0.05 (PAPER-FACTS).
    """

    name: ClassVar[str] = "path_integration"
    mse_threshold: ClassVar[float] = 0.05
    output_range: ClassVar[tuple[float, float]] = (-ARENA, ARENA)

    dims: int = 2
    trial_length: int = 100
    speed_max: float = 0.3
    heading_noise: float = 0.3

    def __post_init__(self) -> None:
        w = "path_integration"
        _set(self, "dims", _as_int(w, "dims", self.dims))
        if self.dims not in (2, 3):
            raise InvalidParameterError(f"{w}: dims must be 2 or 3, got {self.dims}")
        _set(self, "trial_length", _as_int(w, "trial_length", self.trial_length, minimum=1))
        _set(self, "speed_max", _as_float(w, "speed_max", self.speed_max, low=0.0, low_open=True))
        _set(self, "heading_noise", _as_float(w, "heading_noise", self.heading_noise, low=0.0))

    @property
    def n_inputs(self) -> int:
        return 5 if self.dims == 2 else 8

    @property
    def n_outputs(self) -> int:
        return self.dims

    def complexity(self) -> dict[str, float]:
        return {"dims": float(self.dims)}

    def _sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        d, t_len = self.dims, self.trial_length
        start = rng.uniform(-ARENA, ARENA, size=(n, d))
        speed = rng.uniform(0.0, self.speed_max, size=(n, t_len))
        if d == 2:
            theta0 = rng.uniform(-np.pi, np.pi, size=(n, 1))
            steps = rng.normal(0.0, self.heading_noise, size=(n, t_len))
            steps[:, 0] = 0.0
            theta = theta0 + np.cumsum(steps, axis=1)
            heading = np.stack([np.cos(theta), np.sin(theta)], axis=2)
        else:
            noise = rng.normal(0.0, 1.0, size=(n, t_len + 1, 3))
            heading = np.empty((n, t_len, 3))
            h = noise[:, 0] / np.linalg.norm(noise[:, 0], axis=1, keepdims=True)
            for t in range(t_len):
                if t:
                    h = h + self.heading_noise * noise[:, t + 1]
                    h = h / np.linalg.norm(h, axis=1, keepdims=True)
                heading[:, t] = h
        free = start[:, None, :] + np.cumsum(speed[:, :, None] * heading, axis=1)
        pos = reflect(free)
        vel = np.diff(np.concatenate([start[:, None, :], pos], axis=1), axis=1)
        v = np.linalg.norm(vel, axis=2)
        start_in = np.zeros((n, t_len, d))
        start_in[:, 0, :] = start / ARENA
        if d == 2:
            th = np.arctan2(vel[..., 1], vel[..., 0])
            chans = [np.cos(th), np.sin(th), v]
        else:
            az = np.arctan2(vel[..., 1], vel[..., 0])
            el = np.arctan2(vel[..., 2], np.hypot(vel[..., 0], vel[..., 1]))
            chans = [np.cos(az), np.sin(az), np.cos(el), np.sin(el), v]
        inputs = np.concatenate([np.stack(chans, axis=2), start_in], axis=2)
        return inputs, pos
