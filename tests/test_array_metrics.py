"""Metrics from functions of plain arrays, set_params, reprs, and the names suggested for typos."""

from __future__ import annotations

import numpy as np
import pytest

from degzoo import metrics, zoo
from degzoo.errors import InvalidParameterError, MetricError, UnknownNameError
from degzoo.metrics import FunctionMetric, from_function
from degzoo.plugins import did_you_mean


def _frobenius(X: np.ndarray, Y: np.ndarray, scale: float = 1.0) -> float:
    return scale * float(np.linalg.norm(X - Y))


def test_trajectory_functions_get_each_networks_rates_once(tiny_ensemble):
    """f(X, Y) gets [trials * T, H] arrays, the same array of a member for every pair it is in."""
    seen: dict[int, list[int]] = {}

    def mean_rate_distance(X, Y):
        for arr in (X, Y):
            seen.setdefault(round(float(arr.sum()), 9), []).append(id(arr))
        return float(np.abs(X.mean(axis=0) - Y.mean(axis=0)).sum())

    metric = from_function(mean_rate_distance, level="representation")
    dist = metric.pairwise(tiny_ensemble)
    rates = tiny_ensemble.trajectories()
    e, trials, steps, hidden = rates.shape
    X = [rates[i].reshape(trials * steps, hidden).astype(np.float64) for i in range(e)]
    assert dist[0, 2] == pytest.approx(np.abs(X[0].mean(axis=0) - X[2].mean(axis=0)).sum())
    assert len(seen) == e and all(len(set(ids)) == 1 and len(ids) == e - 1 for ids in seen.values())


def test_weight_and_param_functions(tiny_ensemble):
    W = tiny_ensemble.params["W_hh"].astype(np.float64)
    weights = from_function(_frobenius, level="weights", on="weights").pairwise(tiny_ensemble)
    assert weights[1, 3] == pytest.approx(np.linalg.norm(W[1] - W[3]))

    def readout_distance(P, Q):
        assert set(P) == {"W_in", "W_hh", "b", "W_out", "b_out"}
        return float(np.linalg.norm(P["W_out"] - Q["W_out"]))

    out = from_function(readout_distance, level="weights", on="params").pairwise(tiny_ensemble)
    W_out = tiny_ensemble.params["W_out"]
    assert out[0, 1] == pytest.approx(np.linalg.norm(W_out[0] - W_out[1]))


def test_a_function_of_arrays_given_networks_says_to_use_from_function(tiny_ensemble):
    def shape_distance(X, Y):
        return float(len(X) - len(Y))

    with pytest.raises(MetricError, match=r"has no len\(\).*metrics\.from_function\(f, level=\.\.\., "
                                          r"on='trajectories'"):
        metrics.get(shape_distance, level="representation").pairwise(tiny_ensemble)


def test_bad_from_function_arguments_are_named():
    with pytest.raises(InvalidParameterError, match="on must be one of"):
        from_function(_frobenius, level="weights", on="rates")
    with pytest.raises(InvalidParameterError, match="level must be one of"):
        from_function(_frobenius, level="neural")
    with pytest.raises(InvalidParameterError, match="not a function"):
        from_function("cka", level="representation")
    with pytest.raises(InvalidParameterError, match=r"has no parameter.*scal.*its parameters: scale"):
        from_function(_frobenius, level="weights", on="weights", scal=2.0)


def test_set_params_on_a_function_metric(tiny_ensemble):
    metric = from_function(_frobenius, level="weights", on="weights")
    one = metric.pairwise(tiny_ensemble)
    assert metric.set_params(scale=2.0) is metric
    assert metric.get_params() == {"scale": 2.0}
    np.testing.assert_allclose(metric.pairwise(tiny_ensemble), 2.0 * one)


def test_set_params_on_a_dataclass_metric_checks_values_and_names():
    dsa = metrics.get("dsa")
    assert dsa.set_params(rank=12, n_delays=4) is dsa
    assert (dsa.rank, dsa.n_delays) == (12, 4)
    with pytest.raises(InvalidParameterError, match="rank must be a positive integer"):
        dsa.set_params(rank=-1)
    assert dsa.rank == 12  # a refused value leaves the metric as it was
    with pytest.raises(InvalidParameterError, match=r"has no parameter.*n_delay\b.*its parameters: n_delays"):
        dsa.set_params(n_delay=3)
    control = metrics.get("control_noise-weights").set_params(level="dynamics")
    assert (control.name, control.level) == ("control_noise-dynamics", "dynamics")


def test_reprs_name_the_function_level_and_parameters():
    metric = from_function(_frobenius, level="weights", on="weights", scale=0.5)
    assert repr(metric) == "FunctionMetric(_frobenius, level='weights', on='weights', scale=0.5)"
    named = FunctionMetric(lambda a, b: 0.0, level="dynamics", name="zero")
    assert repr(named) == "FunctionMetric(<lambda>, level='dynamics', on='networks', name='zero')"
    assert repr(metrics.get("cka")).startswith("CKA(")


def test_did_you_mean():
    assert did_you_mean("dssa", ["dsa", "cka"]) == " (did you mean 'dsa'?)"
    assert did_you_mean("zoo_v2", ["zoo-v2"]) == " (did you mean 'zoo-v2'?)"
    assert did_you_mean("WEIGHTS_PERM", ["weights_perm", "weights_frobenius"]) == (
        " (did you mean 'weights_perm'?)")
    assert did_you_mean("xyz", ["dsa", "cka"]) == ""


def test_typos_in_metric_release_task_and_filter_names_get_a_suggestion():
    with pytest.raises(UnknownNameError, match=r"unknown metric 'dssa' \(did you mean 'dsa'\?\); available:"):
        metrics.get("dssa")
    with pytest.raises(InvalidParameterError,
                       match=r"unknown filter 'bit' \(did you mean 'bits'\?\).*: bits,"):
        zoo.load("flipflop", bit=3)
    with pytest.raises(UnknownNameError, match=r"no task 'flipflp' \(did you mean 'flipflop'\?\)"):
        zoo.load("flipflp", bits=3)
    with pytest.raises(InvalidParameterError,
                       match=r"release 'zoo_v2' is not .*\(did you mean 'zoo-v2'\?\); "
                             r"shipped releases: zoo-v2"):
        zoo.load("flipflop", bits=3, release="zoo_v2")
    assert zoo.shipped_releases() == ["zoo-v2", "zoo-v3"]  # the package's and the checkout's


def test_parameters_given_with_an_instance_go_to_a_copy(tiny_ensemble):
    """``degzoo evaluate --metric mymodule:metric --param scale=2`` on a module's metric object."""
    metric = from_function(_frobenius, level="weights", on="weights")
    scaled = metrics.get(metric, scale=2.0)
    assert scaled is not metric and metric.get_params() == {} and scaled.get_params() == {"scale": 2.0}
    np.testing.assert_allclose(scaled.pairwise(tiny_ensemble), 2.0 * metric.pairwise(tiny_ensemble))
    assert metrics.get(metric) is metric
    with pytest.raises(InvalidParameterError, match="has no parameter"):
        metrics.get(metrics.get("cka"), rank=3)
