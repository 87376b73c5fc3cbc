"""Representation distances (CKA, Procrustes shape, SVCCA): invariances, known values, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import degzoo.metrics.representation as rep
from degzoo.errors import MetricError
from degzoo.metrics.representation import (
    CKA,
    SVCCA,
    ProcrustesShape,
    linear_cka,
    procrustes_shape_distance,
    svcca_distance,
)
from degzoo.models import Architecture, effective, init_params
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble

METRICS = [CKA(), ProcrustesShape(), SVCCA(), SVCCA(n_components=4)]
TASK = get_task("flipflop", bits=2, trial_length=20)


class TrajectoryStub:
    """The part of an ensemble a representation metric uses: trajectories [E, n, T, H]."""

    params = None

    def __init__(self, traj: np.ndarray) -> None:
        self.traj = traj

    def __len__(self) -> int:
        return len(self.traj)

    def trajectories(self, inputs=None) -> np.ndarray:
        return self.traj


def smooth_trajectories(E: int, H: int, seed: int, n: int = 3, T: int = 25) -> np.ndarray:
    """Low-dimensional latent dynamics read out by random tanh units, plus private noise."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, T)
    latents = np.stack([np.sin(2 * np.pi * (k + 1) * t[None, :] + rng.uniform(0, 6, (n, 1)))
                        for k in range(3)], axis=-1)  # [n, T, 3]
    out = []
    for _ in range(E):
        out.append(np.tanh(latents @ rng.standard_normal((3, H)) + 0.2 * rng.standard_normal((n, T, H))))
    return np.stack(out)


def distance_fn(metric):
    if metric.name == "cka":
        return lambda x, y: 1 - linear_cka(x, y)
    if metric.name == "procrustes":
        return procrustes_shape_distance
    return lambda x, y: svcca_distance(x, y, variance=metric.variance, n_components=metric.n_components)


@pytest.mark.parametrize("metric", METRICS, ids=lambda m: f"{m.name}-{getattr(m, 'n_components', '')}")
def test_zero_for_rotated_permuted_scaled_copies_and_positive_otherwise(metric):
    H = 10
    base = smooth_trajectories(3, H, seed=0)
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((H, H)))
    signs = np.where(rng.random(H) < 0.5, -1.0, 1.0)
    perm = rng.permutation(H)
    copies = [base[0] @ Q, 3.7 * base[0][..., perm] * signs, 0.01 * base[0] @ Q + 5.0]
    ens = TrajectoryStub(np.concatenate([base, np.stack(copies)]))
    D = metric.pairwise(ens)
    np.testing.assert_allclose(D[0, 3:], 0.0, atol=1e-6)  # invariances: orthogonal, perm, sign, scale
    assert np.all(D[0, 1:3] > 0.01) and D[1, 2] > 0.01
    np.testing.assert_allclose(D, D.T, atol=0)
    assert np.all(np.diag(D) == 0)
    # Blocked all-pairs computation agrees with the plain two-matrix function.
    X = ens.traj.reshape(len(ens), -1, H)
    assert D[1, 2] == pytest.approx(distance_fn(metric)(X[1], X[2]), rel=1e-9, abs=1e-12)
    assert metric.invariances == {"permutation", "sign_flip", "orthogonal", "scale"}
    assert metric.level == "representation"


def test_one_dimensional_representations_give_closed_forms():
    """For single units x, y: CKA = r², Procrustes angle = arccos |r|, SVCCA = 1 − |r|."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((200, 1))
    y = 0.6 * x + 0.8 * rng.standard_normal((200, 1))
    r = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    assert linear_cka(x, y) == pytest.approx(r**2, rel=1e-12)
    assert procrustes_shape_distance(x, y) == pytest.approx(np.arccos(abs(r)), rel=1e-12)
    assert svcca_distance(x, -y) == pytest.approx(1 - abs(r), rel=1e-12)


def test_cross_between_ensembles_and_chunking(monkeypatch):
    a = TrajectoryStub(smooth_trajectories(3, 8, seed=3))
    b = TrajectoryStub(smooth_trajectories(4, 6, seed=4))  # different widths compare directly
    for metric in METRICS:
        full = metric.cross(a, b)
        assert full.shape == (3, 4)
        assert np.all(full > 0)
        monkeypatch.setattr(rep, "_BLOCK_BYTES", 1)  # one member per block
        np.testing.assert_allclose(metric.cross(a, b), full, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(metric.pairwise(a), metric.pairwise(a).T)
        monkeypatch.undo()


def networks(seeds, H=12) -> dict[str, np.ndarray]:
    arch = Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H)
    raw = init_params(arch, list(seeds), dtype=torch.float64)
    return {k: v.numpy().copy() for k, v in effective(raw, arch).items()}


def test_relabelled_and_sign_flipped_networks_have_zero_distance():
    """Real networks: relabelling or negating units permutes/negates their rates exactly."""
    H = 12
    p = networks([1, 2], H)
    pi = np.random.default_rng(0).permutation(H)
    s = np.where(np.arange(H) % 3 == 0, -1.0, 1.0)
    twin = {
        "W_hh": (s[:, None] * p["W_hh"][0] * s[None, :])[np.ix_(pi, pi)],
        "W_in": (s[:, None] * p["W_in"][0])[pi],
        "b": (s * p["b"][0])[pi],
        "W_out": (p["W_out"][0] * s[None, :])[:, pi],
        "b_out": p["b_out"][0],
    }
    params = {k: np.stack([p[k][0], twin[k], p[k][1]]) for k in p}
    x, y = TASK.sample(4, 0)
    ens = Ensemble.from_arrays(params, Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H), TASK, x, y)
    for metric in METRICS:
        D = metric.pairwise(ens)
        assert D[0, 1] == pytest.approx(0.0, abs=1e-6)
        assert D[0, 2] > 1e-3


def test_nan_weights_and_constant_trajectories_raise_metric_errors():
    H = 8
    p = networks([1, 2, 3], H)
    p["W_in"][1, 0, 0] = np.nan
    x, y = TASK.sample(2, 0)
    ens = Ensemble.from_arrays(p, Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H), TASK, x, y)
    for metric in METRICS:
        with pytest.raises(MetricError, match=rf"{metric.name}.*member 1"):
            metric.pairwise(ens)
    traj = smooth_trajectories(3, H, seed=5)
    traj[2] = 0.3
    for metric in METRICS:
        with pytest.raises(MetricError, match=r"member 2.*zero variance"):
            metric.pairwise(TrajectoryStub(traj))
