"""``lyapunov_spectrum``: exponents found where they are known, the model's own trajectories and
Jacobians, distances 0 between a network and itself or its relabelled copy, and the conformance
suite passed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from baseline_checks import assert_conformance_fails_only_on_its_own_spectrum
from scipy.stats import ortho_group

from degzoo import zoo
from degzoo.benchmark.twins import relabelled
from degzoo.errors import InvalidParameterError
from degzoo.metrics import LyapunovSpectrum, get
from degzoo.metrics.lyapunov import FLOAT32_EPS, lyapunov_exponents
from degzoo.models import Architecture
from degzoo.models.rnn import forward
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble, open_release


def _tiny_inputs(B: int, T: int, n_inputs: int = 1, seed: int = 0) -> np.ndarray:
    return 1e-6 * np.random.default_rng(seed).standard_normal((B, T, n_inputs))


def test_a_vanilla_network_with_a_scaled_orthogonal_w_has_every_exponent_log_a():
    # linear regime (tanh' = 1 at 0): D_t = a·O, every direction shrinks by a per step
    H, a = 8, 0.7
    W = a * ortho_group.rvs(H, random_state=1)
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=H)
    lam = lyapunov_exponents(W, np.ones((H, 1)), np.zeros(H), arch, _tiny_inputs(3, 40), H)
    np.testing.assert_allclose(lam, np.log(a), rtol=0, atol=1e-9)


def test_a_mup_network_in_the_linear_regime_has_exponents_log_of_one_minus_tau_plus_tau_lambda():
    # D_t = (1 − τ)I + τ a O with O symmetric orthogonal (eigenvalues ±1): growth (1 − τ) ± τa
    H, a, tau = 8, 0.5, 0.25
    U = ortho_group.rvs(H, random_state=2)
    O = U @ np.diag([1.0] * 4 + [-1.0] * 4) @ U.T
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=H, kind="mup", tau=tau)
    lam = lyapunov_exponents(a * O, np.ones((H, 1)), np.zeros(H), arch, _tiny_inputs(2, 30), 6)
    expected = np.log([1 - tau + tau * a] * 4 + [1 - tau - tau * a] * 2)
    np.testing.assert_allclose(lam, np.tile(expected, (2, 1)), rtol=0, atol=1e-9)


def test_long_trials_of_a_constant_non_normal_map_reach_its_eigenvalue_moduli():
    # the QR method, not one step's singular values: σ(W) = (2.13, 0.21), eigenvalues 0.9 and 0.5
    W = np.array([[0.9, 2.0], [0.0, 0.5]])
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=2)
    lam = lyapunov_exponents(W, np.ones((2, 1)), np.zeros(2), arch, _tiny_inputs(1, 2000), 2)
    np.testing.assert_allclose(lam[0], np.log([0.9, 0.5]), rtol=0, atol=2e-3)


@pytest.mark.parametrize("condition", ["flipflop-bits3", "flipflop-mup-g1-h16"])
def test_the_exponents_sum_to_the_mean_log_determinant_of_the_models_own_step_jacobians(condition):
    # with all H exponents, Σλ = (1/T) Σ_t log|det D_t|; D_t built here from forward()'s rates in float64
    ens = open_release().ensemble(condition).subset([0])
    arch, H = ens.architecture, ens.architecture.hidden
    params = {k: torch.as_tensor(np.asarray(v, dtype=np.float64)) for k, v in ens.params.items()}
    inputs = np.asarray(ens.probe_inputs[:4], dtype=np.float64)
    _, rates = forward(params, torch.as_tensor(inputs), arch)
    r, W = rates[0].numpy(), params["W_hh"][0].numpy()
    if arch.kind == "vanilla":
        D = (1 - r**2)[..., None] * W
    else:  # D_t = (1 − τ)I + τ W diag(1 − r_{t−1}²), r_0 = 0
        before = np.concatenate([np.zeros_like(r[:, :1]), r[:, :-1]], axis=1)
        D = (1 - arch.tau) * np.eye(H) + arch.tau * W * (1 - before**2)[:, :, None, :]
    expected = np.linalg.slogdet(D)[1].mean(axis=1)
    lam = lyapunov_exponents(W, ens.params["W_in"][0], ens.params["b"][0], arch, inputs, H,
                             stretch_floor=1e-300)
    np.testing.assert_allclose(lam.sum(axis=1), expected, rtol=1e-10)
    assert np.all(np.diff(lam, axis=1) <= 0)  # largest first


def test_warmup_steps_move_the_frame_but_do_not_count():
    # one exponent is one column's log stretches: the whole trial's sum = the warm-up's + the rest's
    ens = open_release().ensemble("flipflop-bits3").subset([1])
    args = (ens.params["W_hh"][0], ens.params["W_in"][0], ens.params["b"][0], ens.architecture)
    x, w = ens.probe_inputs[:5], 12
    T = x.shape[1]
    full = lyapunov_exponents(*args, x, 1)
    first = lyapunov_exponents(*args, x[:, :w], 1)
    rest = lyapunov_exponents(*args, x, 1, warmup=w)
    np.testing.assert_allclose(T * full, w * first + (T - w) * rest, rtol=1e-12)


def test_a_rank_one_network_has_one_finite_exponent_and_the_rest_at_the_floor():
    H = 6
    rng = np.random.default_rng(3)
    W = np.outer(rng.standard_normal(H), rng.standard_normal(H)) / H
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=H)
    x = rng.standard_normal((3, 20, 1))
    for floor in (FLOAT32_EPS, 1e-3):
        lam = lyapunov_exponents(W, np.ones((H, 1)), np.zeros(H), arch, x, 4, stretch_floor=floor)
        assert np.all(lam[:, 0] > np.log(floor) + 1)
        np.testing.assert_allclose(lam[:, 1:], np.log(floor), rtol=1e-12)


@pytest.fixture(scope="module")
def flipflop() -> Ensemble:
    return zoo.load("flipflop", bits=3).subset([0, 1, 2, 3])


def test_a_network_is_at_distance_zero_from_itself_and_the_matrix_is_symmetric(flipflop):
    metric = LyapunovSpectrum()
    emb = metric.embed(flipflop)
    assert emb.shape == (4, 16) and np.all(np.diff(emb, axis=1) <= 0)
    D = metric.compare(emb, emb, False)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    np.testing.assert_allclose(D, D.T, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(metric.compare(emb, emb, True), D)
    assert D[~np.eye(4, dtype=bool)].min() > 0.01  # independently trained networks differ


@pytest.mark.parametrize("condition", ["flipflop-bits3", "flipflop-mup-g1-h16"])
def test_a_relabelled_and_sign_flipped_copy_is_at_distance_zero(condition):
    ens = open_release().ensemble(condition).subset([0, 1, 2, 3])
    twin = relabelled(ens, np.random.default_rng(7))
    assert not np.allclose(twin.params["W_hh"], ens.params["W_hh"])
    metric = LyapunovSpectrum()
    between = np.median(metric.pairwise(ens)[~np.eye(4, dtype=bool)])
    assert np.abs(np.diag(metric.cross(ens, twin))).max() <= 1e-9 * between


@pytest.mark.parametrize(("params", "message"), [
    ({"n_exponents": 0}, "n_exponents must be a positive integer"),
    ({"n_exponents": 1.5}, "n_exponents must be a positive integer"),
    ({"n_exponents": True}, "n_exponents must be a positive integer"),
    ({"warmup": -1}, "warmup must be a non-negative integer"),
    ({"warmup": "2"}, "warmup must be a non-negative integer"),
    ({"stretch_floor": 0.0}, r"stretch_floor must be a number in \(0, 1\)"),
    ({"stretch_floor": 1.0}, r"stretch_floor must be a number in \(0, 1\)"),
    ({"stretch_floor": float("nan")}, r"stretch_floor must be a number in \(0, 1\)"),
])
def test_bad_parameters_are_refused_naming_the_parameter(params, message):
    with pytest.raises(InvalidParameterError, match=f"lyapunov_spectrum: {message}"):
        get("lyapunov_spectrum", **params)


def test_more_exponents_than_units_or_a_warmup_past_the_trials_are_refused_when_embedding(flipflop):
    with pytest.raises(InvalidParameterError, match="n_exponents=33 exceeds the networks' 32 units"):
        LyapunovSpectrum(n_exponents=33).embed(flipflop)
    with pytest.raises(InvalidParameterError, match="warmup=60 leaves none of the probe trials' 60 steps"):
        LyapunovSpectrum(warmup=60).embed(flipflop)


def test_exponent_sets_of_different_sizes_are_refused():
    with pytest.raises(InvalidParameterError, match="different numbers of exponents"):
        LyapunovSpectrum().compare(np.zeros((2, 8)), np.zeros((2, 16)), False)


def test_a_hand_built_ensemble_embeds_to_its_trial_averaged_exponents():
    arch = Architecture(n_inputs=1, n_outputs=1, hidden=3)
    W = np.diag([0.6, -0.4, 0.2])
    params = {"W_in": 1e-6 * np.ones((1, 3, 1)), "W_hh": W[None], "b": np.zeros((1, 3)),
              "W_out": np.ones((1, 1, 3)), "b_out": np.zeros((1, 1))}
    task = get_task("flipflop", bits=1, trial_length=10)
    ens = Ensemble.from_arrays(params, arch, task, *task.probe(n=4))
    np.testing.assert_allclose(LyapunovSpectrum(n_exponents=2).embed(ens), [np.log([0.6, 0.4])], atol=1e-9)


def test_it_passes_every_conformance_check_but_the_network_trained_on_its_spectrum():
    assert_conformance_fails_only_on_its_own_spectrum(LyapunovSpectrum(), "lyapunov")
