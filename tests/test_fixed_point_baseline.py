"""``fixed_point_spectrum``: fixed points and Jacobian spectra found where they are known, distances
0 between a network and itself or its relabelled copy, and the conformance suite passed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baseline_checks import assert_conformance_fails_only_on_its_own_spectrum
from scipy.optimize import brentq

from degzoo import zoo
from degzoo.benchmark.twins import relabelled
from degzoo.errors import InvalidParameterError
from degzoo.metrics import FixedPointSpectrum, get
from degzoo.metrics.fixed_points import autonomous_step, find_fixed_points
from degzoo.models import Architecture
from degzoo.models.rnn import effective, forward, init_params
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble, open_release


def _folded(eigs: np.ndarray) -> np.ndarray:
    """Eigenvalues folded onto the upper half-plane, sorted: a spectrum compared as a set."""
    z = np.asarray(eigs).ravel()
    z = z.real + 1j * np.abs(z.imag)
    return z[np.lexsort((z.imag, z.real))]


@pytest.mark.parametrize("kind", ["vanilla", "mup"])
def test_the_autonomous_step_is_the_models_update_with_zero_input(kind):
    arch = Architecture(n_inputs=2, n_outputs=1, hidden=8, kind=kind, tau=0.3)
    params = effective(init_params(arch, [3], dtype=torch.float64), arch)
    params["b"] = params["b"] + 0.3  # µP biases start at 0: give F(0) something to do
    _, rates = forward(params, torch.zeros(1, 5, 2, dtype=torch.float64), arch)
    h = torch.zeros(1, 8, dtype=torch.float64)
    for t in range(5):
        h = autonomous_step(h, params["W_hh"][0], params["b"][0], arch)
        rate = h[0] if kind == "vanilla" else torch.tanh(h[0])
        torch.testing.assert_close(rate, rates[0, 0, t], rtol=0, atol=1e-14)


@pytest.mark.parametrize(("kind", "tau"), [("vanilla", 1.0), ("mup", 0.25)])
def test_a_contracting_network_without_bias_has_one_fixed_point_at_zero_with_the_known_spectrum(kind, tau):
    # F(0) = 0 and the Jacobian there is (1 − τ)I + τW (vanilla: τ = 1); ‖W‖ < 1 makes 0 the only fixed point
    rotation = np.array([[np.cos(0.7), -np.sin(0.7)], [np.sin(0.7), np.cos(0.7)]])
    W = np.zeros((4, 4))
    W[:2, :2], W[2, 2], W[3, 3] = 0.8 * rotation, -0.5, 0.3
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=4, kind=kind, tau=tau)
    starts = np.random.default_rng(0).uniform(-0.9, 0.9, (16, 4))
    fp = find_fixed_points(W, np.zeros(4), arch, starts)
    assert fp.fixed and len(fp) == 1 and fp.visits.tolist() == [16]
    np.testing.assert_allclose(fp.points[0], 0.0, atol=1e-10)
    expected = (1 - tau) + tau * np.linalg.eigvals(W)
    np.testing.assert_allclose(np.sort_complex(fp.eigenvalues[0]), np.sort_complex(expected), atol=1e-10)
    assert np.all(np.diff(np.abs(fp.eigenvalues[0])) <= 0)  # largest modulus first


def test_a_bistable_unit_has_three_fixed_points_the_unstable_one_included():
    # h = tanh(2h): 0 (slope 2, unstable) and ±h* with h* = tanh(2h*), slope 2(1 − h*²)
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=1)
    h_star = brentq(lambda h: np.tanh(2 * h) - h, 0.5, 1.0)
    fp = find_fixed_points(np.array([[2.0]]), np.zeros(1), arch, np.linspace(-1, 1, 9)[:, None])
    found = np.sort(fp.points[:, 0])
    np.testing.assert_allclose(found, [-h_star, 0.0, h_star], atol=1e-10)
    slope = dict(zip(np.round(fp.points[:, 0], 6), fp.eigenvalues[:, 0].real, strict=True))
    assert slope[0.0] == pytest.approx(2.0)
    for point in (h_star, -h_star):
        assert slope[round(point, 6)] == pytest.approx(2 * (1 - h_star**2))
    assert fp.visits.sum() == 9


def test_without_a_fixed_point_in_reach_the_slowest_points_stand_in():
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=1)
    fp = find_fixed_points(np.array([[2.0]]), np.zeros(1), arch, np.array([[0.9], [0.3], [-0.6]]),
                           iterations=1, tolerance=1e-300)
    assert not fp.fixed and len(fp) == 3
    assert np.all(np.diff(fp.speeds) >= 0)  # slowest first


@pytest.fixture(scope="module")
def flipflop() -> Ensemble:
    return zoo.load("flipflop", bits=3).subset([0, 1, 2, 3])


def test_trained_three_bit_flip_flops_have_their_eight_memory_states_as_stable_fixed_points(flipflop):
    params = flipflop.params
    for i, fp in enumerate(FixedPointSpectrum().fixed_points(flipflop)):
        stable = np.abs(fp.eigenvalues[:, 0]) < 1
        assert fp.fixed and stable.sum() >= 2
        readout = fp.points[stable] @ params["W_out"][i].T + params["b_out"][i]
        np.testing.assert_allclose(np.abs(readout), 1.0, atol=0.05)  # each stores ±1 on every bit
        assert len({tuple(np.sign(y)) for y in readout}) == 2**3


def test_a_network_is_at_distance_zero_from_itself_and_the_matrix_is_symmetric(flipflop):
    metric = FixedPointSpectrum()
    emb = metric.embed(flipflop)
    assert emb.shape == (4, metric.n_points * metric.n_eigs)
    D = metric.compare(emb, emb, False)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_allclose(D, D.T, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(metric.compare(emb, emb, True), np.triu(D, 1) + np.triu(D, 1).T)
    assert D[~np.eye(4, dtype=bool)].min() > 0.01  # independently trained networks differ


@pytest.mark.parametrize("condition", ["flipflop-bits3", "flipflop-mup-g1-h16"])
def test_a_relabelled_and_sign_flipped_copy_is_at_distance_zero(condition):
    ens = open_release().ensemble(condition).subset([0, 1, 2])
    twin = relabelled(ens, np.random.default_rng(7))
    assert not np.allclose(twin.params["W_hh"], ens.params["W_hh"])
    D = FixedPointSpectrum().cross(ens, twin)
    between = np.median(D[~np.eye(3, dtype=bool)])
    assert np.abs(np.diag(D)).max() <= 1e-9 * between


@pytest.mark.parametrize("params", [
    {"n_starts": 0}, {"n_points": -1}, {"n_eigs": 1.5}, {"iterations": True}, {"tolerance": 0.0},
    {"tolerance": float("nan")}, {"dedup_tolerance": float("inf")}, {"dedup_tolerance": "1e-4"},
])
def test_bad_parameters_are_refused_naming_the_parameter(params):
    (label,) = params
    with pytest.raises(InvalidParameterError, match=f"fixed_point_spectrum: {label} must be a positive"):
        get("fixed_point_spectrum", **params)


def test_more_eigenvalues_than_units_are_refused_when_embedding(flipflop):
    with pytest.raises(InvalidParameterError, match="n_eigs=33 exceeds the networks' 32 units"):
        FixedPointSpectrum(n_eigs=33).embed(flipflop)


def test_eigenvalue_sets_of_different_sizes_are_refused():
    a, b = np.zeros((2, 6), complex), np.zeros((2, 8), complex)
    with pytest.raises(InvalidParameterError, match="different sizes"):
        FixedPointSpectrum().compare(a, b, False)


def test_a_hand_built_ensemble_embeds_to_the_spectrum_at_its_one_fixed_point():
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=3)
    W = np.diag([0.6, -0.4, 0.2])
    params = {"W_in": np.ones((1, 3, 1)), "W_hh": W[None], "b": np.zeros((1, 3)),
              "W_out": np.ones((1, 1, 3)), "b_out": np.zeros((1, 1))}
    task = get_task("flipflop", bits=1, trial_length=10)
    ens = Ensemble.from_arrays(params, arch, task, *task.probe(n=4))
    emb = FixedPointSpectrum(n_points=2, n_eigs=2).embed(ens)
    np.testing.assert_allclose(_folded(emb), _folded([0.6, -0.4, 0.6, -0.4]), atol=1e-10)


def test_it_passes_every_conformance_check_but_the_network_trained_on_its_spectrum():
    assert_conformance_fails_only_on_its_own_spectrum(FixedPointSpectrum(), "fixed_points")
