"""Behavioural degeneracy: how differently networks that all solve the task generalise.

The paper's measure is σ_OOD, the population standard deviation across members of the loss on the
task's out-of-distribution variant (double trial length; double delay for delayed discrimination).
Two further probes of the same kind are options: Gaussian noise on the inputs, and Gaussian noise
on the recurrent weights (relative to their RMS; one draw per weight position, so that variant
claims no invariance). A behaviour metric's ``member_scores`` are the
per-member losses; its pairwise distance is the absolute difference of two members' losses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import Metric

Variant = Literal["ood", "input_noise", "weight_noise"]


@dataclass
class BehaviourOOD(Metric):
    """Per-member loss under a distribution shift; degeneracy is its std across members (σ_OOD)."""

    name: ClassVar[str] = "behaviour_ood"
    level: ClassVar[str] = "behaviour"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation", "sign_flip"})

    variant: Variant = "ood"
    n_trials: int = 64
    noise: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.variant not in ("ood", "input_noise", "weight_noise"):
            raise InvalidParameterError(
                f"behaviour_ood: variant must be 'ood', 'input_noise' or 'weight_noise', got {self.variant!r}"
            )
        if not self.noise >= 0:
            raise InvalidParameterError(f"behaviour_ood: noise must be >= 0, got {self.noise!r}")
        if self.variant == "weight_noise":
            # One draw of noise per weight position: relabelled or sign-flipped units meet other
            # noise, so a twin's loss differs (the benchmark's conformance suite caught the claim).
            self.invariances = frozenset()

    def member_scores(self, ensemble: Any) -> np.ndarray:
        """Loss ``[E]`` of every member under this metric's shift."""
        task = ensemble.task
        rng = np.random.default_rng([self.seed, 0xB0])
        if self.variant == "ood":
            inputs, targets = task.ood().probe(n=self.n_trials, seed=self.seed)
            losses = ensemble.loss(inputs, targets)
        elif self.variant == "input_noise":
            inputs, targets = task.probe(n=self.n_trials, seed=self.seed)
            noisy = inputs + self.noise * rng.standard_normal(inputs.shape).astype(inputs.dtype)
            losses = ensemble.loss(noisy, targets)
        else:
            inputs, targets = task.probe(n=self.n_trials, seed=self.seed)
            params = dict(ensemble.params)
            W = params["W_hh"]
            rms = np.sqrt((W**2).mean(axis=(1, 2), keepdims=True))
            params["W_hh"] = W + self.noise * rms * rng.standard_normal(W.shape).astype(W.dtype)
            losses = ensemble.with_params(params).loss(inputs, targets)
        losses = np.asarray(losses, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(losses))
        if bad.size:
            raise MetricError(
                f"metric {self.name!r}: member {int(bad[0])} has a non-finite loss; "
                "check its weights for NaN"
            )
        return losses

    def embed(self, ensemble: Any) -> np.ndarray:
        return self.member_scores(ensemble)

    def compare(self, emb_a: np.ndarray, emb_b: np.ndarray, symmetric: bool) -> np.ndarray:
        return np.abs(emb_a[:, None] - emb_b[None, :])
