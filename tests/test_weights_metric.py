"""Permutation-invariant weight distance: exact recovery, optimality on small cases, invariances."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.weights import (
    FrobeniusWeightDistance,
    PermutationWeightDistance,
    _two_opt,
    match_units,
    permutation_distance,
    qap_objective,
    signed_permutation_distance,
)
from degzoo.models import Architecture, effective, init_params, simulate
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble

TASK = get_task("flipflop", bits=2, trial_length=20)


def random_params(H: int, seeds, arch: Architecture | None = None) -> dict[str, np.ndarray]:
    arch = arch or Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H)
    raw = init_params(arch, list(seeds), dtype=torch.float64)
    return {k: v.numpy().copy() for k, v in effective(raw, arch).items()}


def permuted(params: dict[str, np.ndarray], i: int, pi: np.ndarray) -> dict[str, np.ndarray]:
    """Member i relabelled so that its unit pi[j] is the original unit j (W2[pi][:, pi] = W)."""
    out = {}
    W = params["W_hh"][i]
    W2 = np.empty_like(W)
    W2[np.ix_(pi, pi)] = W
    out["W_hh"] = W2
    out["W_in"] = np.empty_like(params["W_in"][i])
    out["W_in"][pi] = params["W_in"][i]
    out["b"] = np.empty_like(params["b"][i])
    out["b"][pi] = params["b"][i]
    out["W_out"] = np.empty_like(params["W_out"][i])
    out["W_out"][:, pi] = params["W_out"][i]
    out["b_out"] = params["b_out"][i].copy()
    return out


def ensemble_of(members: list[dict[str, np.ndarray]], H: int) -> Ensemble:
    arch = Architecture(TASK.n_inputs, TASK.n_outputs, hidden=H)
    params = {k: np.stack([m[k] for m in members]) for k in members[0]}
    x, y = TASK.sample(4, 0)
    return Ensemble.from_arrays(params, arch, TASK, x, y)


def member(params: dict[str, np.ndarray], i: int) -> dict[str, np.ndarray]:
    return {k: v[i].copy() for k, v in params.items()}


@pytest.mark.parametrize("H", [16, 32])
@pytest.mark.parametrize("use_io", [False, True])
def test_permuted_copy_is_exactly_zero_and_recovers_the_permutation(H, use_io):
    params = random_params(H, [1])
    pi = np.random.default_rng(H).permutation(H)
    p2 = permuted(params, 0, pi)
    d, perm = permutation_distance(
        params["W_hh"][0], p2["W_hh"], use_io=use_io,
        W_in=(params["W_in"][0], p2["W_in"]), W_out=(params["W_out"][0], p2["W_out"]),
        b=(params["b"][0], p2["b"]),
    )
    assert d == 0.0
    np.testing.assert_array_equal(perm, pi)
    # Without any io hint the recurrent matrix alone suffices.
    d, perm = permutation_distance(params["W_hh"][0], p2["W_hh"])
    assert d == 0.0
    np.testing.assert_array_equal(perm, pi)


def test_reported_distance_is_the_normalised_frobenius_norm_at_the_returned_permutation():
    params = random_params(12, [1, 2])
    A, B = params["W_hh"]
    H = A.shape[0]
    d, perm = permutation_distance(A, B)
    residual = np.linalg.norm(A - B[np.ix_(perm, perm)])
    assert d == pytest.approx(residual / H**2, rel=1e-12)  # ‖·‖_F / number of entries
    assert d <= np.linalg.norm(A - B) / H**2  # never worse than matching units by index
    assert permutation_distance(A, B, normalize="rms")[0] == pytest.approx(residual / H, rel=1e-12)
    assert permutation_distance(A, B, normalize="none")[0] == pytest.approx(residual, rel=1e-12)


def brute_force_optimum(A, B, C=None) -> float:
    n = A.shape[0]
    perms = np.array(list(itertools.permutations(range(n))))
    vals = np.einsum("ij,pij->p", A, B[perms[:, :, None], perms[:, None, :]])
    if C is not None:
        vals += C[np.arange(n), perms].sum(axis=1)
    return float(vals.max())


@pytest.mark.parametrize("seed", range(4))
def test_solver_reaches_the_brute_force_optimum_on_small_instances(seed):
    rng = np.random.default_rng(seed)
    n = 7
    A, B = rng.standard_normal((2, n, n))
    C = rng.standard_normal((n, n)) if seed % 2 else None
    perm = match_units(A, B, C, seed=seed)
    assert qap_objective(A, B, perm, C) == pytest.approx(brute_force_optimum(A, B, C), rel=1e-12)


def test_two_opt_gains_match_explicit_swaps():
    """The vectorised 2-opt stops at a point where no single swap improves the objective."""
    rng = np.random.default_rng(3)
    n = 9
    A, B, C = rng.standard_normal((3, n, n))
    perm = _two_opt(A, B, C, rng.permutation(n), max_iter=1000)
    base = qap_objective(A, B, perm, C)
    for r, s in itertools.combinations(range(n), 2):
        swapped = perm.copy()
        swapped[[r, s]] = swapped[[s, r]]
        assert qap_objective(A, B, swapped, C) <= base + 1e-12


def test_not_worse_than_scipy_faq():
    from scipy.optimize import quadratic_assignment

    params = random_params(24, [5, 6])
    A, B = params["W_hh"]
    ours = qap_objective(A, B, permutation_distance(A, B)[1])
    options = {"maximize": True, "rng": np.random.default_rng(0)}
    res = quadratic_assignment(A, B, method="faq", options=options)
    assert ours >= qap_objective(A, B, res.col_ind) - 1e-12


def test_one_shot_row_assignment_is_not_enough():
    """Matching rows by a linear assignment ignores that columns move with them."""
    from scipy.optimize import linear_sum_assignment

    params = random_params(16, [1, 2])
    A, B = params["W_hh"]
    _, cols = linear_sum_assignment(((A[:, None, :] - B[None, :, :]) ** 2).sum(-1))
    one_shot = np.linalg.norm(A - B[np.ix_(cols, cols)])
    assert permutation_distance(A, B, normalize="none")[0] < one_shot


def test_metric_pairwise_permutation_invariant_and_frobenius_is_not():
    H = 16
    params = random_params(H, [1, 2])
    pi = np.random.default_rng(0).permutation(H)
    ens = ensemble_of([member(params, 0), permuted(params, 0, pi), member(params, 1)], H)
    for metric in (PermutationWeightDistance(), PermutationWeightDistance(use_io=True)):
        D = metric.pairwise(ens)
        assert D[0, 1] == 0.0
        assert D[0, 2] > 0 and D[1, 2] > 0
        np.testing.assert_allclose(D, D.T)
        assert np.all(np.diag(D) == 0)
        assert D[0, 2] == pytest.approx(D[1, 2], rel=1e-9)  # relabelling a member changes nothing
    F = FrobeniusWeightDistance().pairwise(ens)
    assert F[0, 1] > 0  # the baseline sees a relabelled copy as a different network
    assert F[0, 2] == pytest.approx(np.linalg.norm(params["W_hh"][0] - params["W_hh"][1]) / H**2)
    assert FrobeniusWeightDistance.invariances == frozenset()
    assert PermutationWeightDistance.invariances == frozenset({"permutation", "sign_flip"})


def test_sign_flip_is_functionally_identical_and_the_metric_is_blind_to_it():
    """Flipping units' signs keeps a tanh RNN's function: the metric gives 0, the paper's
    permutation-only measure does not."""
    H = 16
    params = random_params(H, [3])
    s = np.ones(H)
    s[: H // 2] = -1
    flipped = member(params, 0)
    flipped["W_hh"] = s[:, None] * flipped["W_hh"] * s[None, :]
    flipped["W_in"] = s[:, None] * flipped["W_in"]
    flipped["b"] = s * flipped["b"]
    flipped["W_out"] = flipped["W_out"] * s[None, :]
    ens = ensemble_of([member(params, 0), flipped], H)
    y, _ = simulate(ens.params, ens.probe_inputs, ens.architecture)
    np.testing.assert_allclose(y[0], y[1], atol=1e-12)  # same function
    assert PermutationWeightDistance().pairwise(ens)[0, 1] == 0.0
    assert permutation_distance(params["W_hh"][0], flipped["W_hh"])[0] > 0
    assert "sign_flip" in PermutationWeightDistance.invariances


def test_nan_weights_raise_a_metric_error_naming_metric_and_member():
    params = random_params(8, [1, 2, 3])
    params["W_hh"][2, 0, 0] = np.nan
    ens = ensemble_of([member(params, i) for i in range(3)], 8)
    for metric in (PermutationWeightDistance(), FrobeniusWeightDistance()):
        with pytest.raises(MetricError, match=rf"{metric.name}.*member 2"):
            metric.pairwise(ens)


def test_deterministic_cross_and_parameters():
    H = 12
    a = ensemble_of([member(random_params(H, [i]), 0) for i in (1, 2)], H)
    b = ensemble_of([member(random_params(H, [i]), 0) for i in (3, 4, 5)], H)
    metric = PermutationWeightDistance(n_starts=2, seed=7)
    D1, D2 = metric.cross(a, b), metric.cross(a, b)
    assert D1.shape == (2, 3)
    np.testing.assert_array_equal(D1, D2)
    assert metric.identity["params"] == {
        "use_io": False, "n_starts": 2, "n_kicks": 32, "seed": 7, "normalize": "entries"
    }
    with pytest.raises(InvalidParameterError):
        PermutationWeightDistance(normalize="squared")
    wide = ensemble_of([member(random_params(H + 1, [1]), 0)], H + 1)
    with pytest.raises(InvalidParameterError, match="same width"):
        metric.compare(metric.embed(a), metric.embed(wide), False)


def test_symmetric_and_independent_of_unit_labels():
    """d(W1, W2) = d(W2, W1) and relabelling either network leaves d unchanged (bit for bit)."""
    params = random_params(20, [8, 9])
    A, B = params["W_hh"]
    d, perm = permutation_distance(A, B)
    d_rev, perm_rev = permutation_distance(B, A)
    assert d == d_rev
    np.testing.assert_array_equal(perm_rev, np.argsort(perm))
    pi = np.random.default_rng(1).permutation(20)
    assert permutation_distance(A[np.ix_(pi, pi)], B)[0] == d


def test_signed_distance_is_zero_on_a_relabelled_sign_flipped_copy():
    params = random_params(16, [3])
    rng = np.random.default_rng(0)
    perm, signs = rng.permutation(16), np.where(rng.random(16) < 0.5, -1.0, 1.0)
    W, W_in, b, W_out = (params[k][0] for k in ("W_hh", "W_in", "b", "W_out"))
    twin = {"W_hh": signs[:, None] * W[np.ix_(perm, perm)] * signs[None, :],
            "W_in": signs[:, None] * W_in[perm],
            "b": signs * b[perm], "W_out": W_out[:, perm] * signs[None, :]}
    d, found, s = signed_permutation_distance(W, twin["W_hh"], W_in=(W_in, twin["W_in"]), b=(b, twin["b"]),
                                              W_out=(W_out, twin["W_out"]))
    assert d == 0.0
    np.testing.assert_array_equal(s[:, None] * twin["W_hh"][np.ix_(found, found)] * s[None, :], W)
    assert permutation_distance(W, twin["W_hh"])[0] > 0  # the paper's measure sees another network


@pytest.mark.parametrize("seed", range(3))
def test_signed_distance_ends_where_no_single_flip_or_swap_helps(seed):
    rng = np.random.default_rng(seed)
    n = 7
    A, B = rng.standard_normal((2, n, n))
    d, perm, s = signed_permutation_distance(A, B, normalize="none")

    def residual(perm: np.ndarray, s: np.ndarray) -> float:
        return float(np.linalg.norm(A - s[:, None] * B[np.ix_(perm, perm)] * s[None, :]))

    assert residual(perm, s) == pytest.approx(d, rel=1e-12)
    for r in range(n):
        flipped = s.copy()
        flipped[r] = -flipped[r]
        assert residual(perm, flipped) >= d - 1e-12
    for r, t in itertools.combinations(range(n), 2):
        p2, s2 = perm.copy(), s.copy()
        p2[[r, t]], s2[[r, t]] = p2[[t, r]], s2[[t, r]]
        assert residual(p2, s2) >= d - 1e-12


def test_on_trained_networks_signs_find_closer_alignments_than_permutations_alone():
    from degzoo.zoo import open_release

    P = open_release().ensemble("flipflop-bits3").params
    for j in range(1, 4):
        io = {k: (P[k][0], P[k][j]) for k in ("W_in", "b", "W_out")}
        signed = signed_permutation_distance(P["W_hh"][0], P["W_hh"][j], **io)[0]
        assert signed <= permutation_distance(P["W_hh"][0], P["W_hh"][j], **io)[0]
