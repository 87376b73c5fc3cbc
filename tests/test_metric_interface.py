"""The metric interface, registry, wrappers and ensemble-level degeneracy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from degzoo import metrics
from degzoo.errors import InvalidParameterError, MetricError, UnknownNameError
from degzoo.metrics import (
    BehaviourOOD,
    FunctionMetric,
    Metric,
    bootstrap_pairwise,
    bootstrap_std,
    degeneracy,
    mean_off_diagonal,
)
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble


def _permuted_twin(ensemble: Ensemble, seed: int = 0) -> Ensemble:
    """Every member with its hidden units permuted: functionally identical networks."""
    rng = np.random.default_rng(seed)
    p = ensemble.params
    out = {k: v.copy() for k, v in p.items()}
    for e in range(len(ensemble)):
        perm = rng.permutation(p["W_hh"].shape[1])
        out["W_hh"][e] = p["W_hh"][e][perm][:, perm]
        out["W_in"][e] = p["W_in"][e][perm]
        out["b"][e] = p["b"][e][perm]
        out["W_out"][e] = p["W_out"][e][:, perm]
    return ensemble.with_params(out)


@dataclass
class Constant(Metric):
    name: ClassVar[str] = "constant"
    level: ClassVar[str] = "weights"
    value: float | complex | str = 1.0
    shape_error: bool = False

    def embed(self, ensemble):
        return len(ensemble)

    def compare(self, a, b, symmetric):
        out = np.full((a, b + int(self.shape_error)), self.value)
        if self.value == "one-nan":
            out = np.ones((a, b))
            out[0, 1] = out[1, 0] = np.nan
        return out


def test_registry_has_reference_metrics_at_every_level():
    names = metrics.available()
    for name in ("behaviour_ood", "dsa", "dsa_wasserstein", "weights_perm", "weights_frobenius",
                 "cka", "procrustes", "svcca"):
        assert name in names
    levels = set()
    for name in names:
        try:
            levels.add(metrics.get(name).level)
        except InvalidParameterError as exc:  # only an optional extra that is not installed
            assert 'pip install "degzoo[' in str(exc), exc
    assert levels == {"behaviour", "dynamics", "weights", "representation"}
    assert metrics.get("dsa", rank=5).rank == 5


def test_every_registered_metric_travels_to_worker_processes():
    """``--workers`` and Dask send the metric to other processes by pickle: every registered metric
    (its optional extra installed) must survive the trip with its parameters. rsatoolbox's baseline
    once kept the imported module on itself and ended its trend suite in an error with workers."""
    import pickle

    for name in metrics.available():
        try:
            metric = metrics.get(name)
        except InvalidParameterError as exc:  # only an optional extra that is not installed
            assert 'pip install "degzoo[' in str(exc), exc
            continue
        assert pickle.loads(pickle.dumps(metric)) == metric, name


def test_module_attr_and_errors():
    metric = metrics.get("test_metric_interface:Constant", value=2.0)
    assert isinstance(metric, Constant) and metric.value == 2.0
    with pytest.raises(UnknownNameError, match="unknown metric 'nope'"):
        metrics.get("nope")
    with pytest.raises(UnknownNameError, match="failed to import"):
        metrics.get("no_such_module_xyz:Metric")
    with pytest.raises(UnknownNameError, match="has no attribute"):
        metrics.get("numpy:NoSuchMetric")


def test_plain_function_is_wrapped(tiny_ensemble):
    def readout_distance(a, b):
        return float(np.abs(a.params["b_out"] - b.params["b_out"]).sum())

    with pytest.raises(InvalidParameterError, match="level="):
        metrics.get(readout_distance)
    metric = metrics.get(readout_distance, level="weights")
    assert isinstance(metric, FunctionMetric) and metric.name == "readout_distance"
    dist = metric.pairwise(tiny_ensemble)
    b = tiny_ensemble.params["b_out"]
    assert dist[0, 1] == pytest.approx(np.abs(b[0] - b[1]).sum())
    np.testing.assert_array_equal(dist, dist.T)
    assert np.all(np.diag(dist) == 0)


def test_bad_metric_output_names_metric_and_pair(tiny_ensemble):
    with pytest.raises(MetricError, match=r"'constant' returned a non-finite value nan for pair \(0, 1\)"):
        Constant(value="one-nan").pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"'constant': compare returned no finite value \(all 16 are NaN\)"):
        Constant(value=np.nan).pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"all 16 are infinite"):
        Constant(value=np.inf).cross(tiny_ensemble, tiny_ensemble)
    with pytest.raises(MetricError, match=r"'constant': compare returned complex numbers \(complex128\)"):
        Constant(value=1 + 1e-3j).pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"16 value\(s\) of magnitude up to 1e\+308, beyond 1e\+100"):
        Constant(value=1e308).pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"compare returned <U3 values, not numbers"):
        Constant(value="far").pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match="negative distance"):
        Constant(value=-1.0).pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"shape \(4, 5\), expected \(4, 4\)"):
        Constant(shape_error=True).pairwise(tiny_ensemble)

    def raises(a, b):
        if b.index == 2:
            raise ZeroDivisionError("boom")
        return 0.0

    with pytest.raises(MetricError, match=r"raised on pair \(0, 2\): ZeroDivisionError"):
        metrics.get(raises, level="weights").pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"returned \(1\+2j\) for pair \(0, 1\); return one real number"):
        metrics.get(lambda a, b: 1 + 2j, level="weights").pairwise(tiny_ensemble)
    with pytest.raises(MetricError, match=r"returned 'far' for pair \(0, 1\)"):
        metrics.get(lambda a, b: "far", level="weights").pairwise(tiny_ensemble)


def test_metric_names_are_checked_where_they_are_declared():
    with pytest.raises(TypeError, match="is 300 characters long; use at most 100"):
        type("Long", (Constant,), {"name": "x" * 300})
    with pytest.raises(TypeError, match=r"'bad\\x1b\[2J' contains control or non-printable"):
        type("Escape", (Constant,), {"name": "bad\x1b[2J"})
    with pytest.raises(InvalidParameterError, match="contains control"):
        FunctionMetric(lambda a, b: 0.0, level="weights", name="two\nlines")
    with pytest.raises(InvalidParameterError, match="non-empty"):
        metrics.register(Constant, name=" ")
    with pytest.raises(InvalidParameterError, match="characters long"):
        metrics.register(Constant, name="y" * 101)


def test_unknown_parameters_list_the_metric_parameters():
    with pytest.raises(InvalidParameterError, match=r"'dsa' has no parameter\(s\) rnak; its parameters: n_"):
        metrics.get("dsa", rnak=10)
    assert metrics.get("dsa", rank=8).rank == 8


def test_checkpoint_raises_only_inside_a_cancelled_call():
    from degzoo.metrics.base import cancellable, checkpoint

    class Stop(Exception):
        pass

    def hook():
        raise Stop

    checkpoint()  # outside any harness: a no-op
    with cancellable(lambda: None):
        checkpoint()  # not cancelled
        with pytest.raises(Stop), cancellable(hook):
            checkpoint()
        checkpoint()  # the outer hook is back
    checkpoint()


def test_cross_rejects_different_tasks(tiny_ensemble):
    other = Ensemble.from_arrays(tiny_ensemble.params, tiny_ensemble.architecture,
                                 get_task("flipflop", bits=2, trial_length=31),
                                 tiny_ensemble.probe_inputs, tiny_ensemble.probe_targets)
    with pytest.raises(InvalidParameterError, match="different tasks"):
        Constant().cross(tiny_ensemble, other)
    shifted = Ensemble.from_arrays(tiny_ensemble.params, tiny_ensemble.architecture, tiny_ensemble.task,
                                   tiny_ensemble.probe_inputs + 1, tiny_ensemble.probe_targets)
    with pytest.raises(InvalidParameterError, match="different probe sets"):
        Constant().cross(tiny_ensemble, shifted)


def test_claimed_invariances_are_validated():
    with pytest.raises(TypeError, match="unknown invariances"):
        type("Bad", (Constant,), {"invariances": frozenset({"rotation"})})


def test_bootstrap_estimates():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 5))
    dist = np.linalg.norm(x[:, None] - x[None], axis=-1)
    est = bootstrap_pairwise(dist, n_boot=500)
    assert est.value == pytest.approx(mean_off_diagonal(dist))
    assert est.low < est.value < est.high and est.n == 30
    again = bootstrap_pairwise(dist, n_boot=500)
    assert again == est  # seeded
    scores = rng.normal(1.0, 0.2, size=40)
    std = bootstrap_std(scores)
    assert std.value == pytest.approx(scores.std()) and std.low < 0.2 < std.high * 1.2
    with pytest.raises(InvalidParameterError):
        mean_off_diagonal(np.zeros((1, 1)))


def test_behaviour_ood_matches_direct_computation(tiny_ensemble):
    metric = BehaviourOOD(n_trials=8)
    scores = metric.member_scores(tiny_ensemble)
    x, y = tiny_ensemble.task.ood().probe(n=8)
    assert x.shape[1] == 2 * tiny_ensemble.task.trial_length
    np.testing.assert_allclose(scores, tiny_ensemble.loss(x, y))
    est = degeneracy(tiny_ensemble, metric)
    assert est.value == pytest.approx(scores.std())
    # a permuted twin behaves identically
    twin_scores = metric.member_scores(_permuted_twin(tiny_ensemble))
    np.testing.assert_allclose(twin_scores, scores, rtol=1e-5)
    for variant in ("input_noise", "weight_noise"):
        noisy = BehaviourOOD(variant=variant, n_trials=8, noise=0.5)
        noisy_scores = noisy.member_scores(tiny_ensemble)
        assert noisy_scores.shape == (4,) and np.all(noisy_scores > 0)
        assert not np.allclose(noisy_scores, scores)
        # it claims permutation invariance exactly when a permuted twin keeps its loss
        twin = noisy.member_scores(_permuted_twin(tiny_ensemble))
        assert ("permutation" in noisy.invariances) == np.allclose(twin, noisy_scores, rtol=1e-5), variant
    with pytest.raises(InvalidParameterError, match="variant"):
        BehaviourOOD(variant="sideways")


def test_nan_weights_give_metric_error(tiny_ensemble):
    params = {k: v.copy() for k, v in tiny_ensemble.params.items()}
    params["W_hh"][1, 0, 0] = np.nan
    broken = tiny_ensemble.with_params(params)
    with pytest.raises(MetricError, match="member 1"):
        BehaviourOOD(n_trials=4).member_scores(broken)


def test_dsa_stops_at_a_checkpoint_when_cancelled(tiny_ensemble):
    from degzoo.metrics.base import cancellable

    class Stop(Exception):
        pass

    calls = []

    def hook():
        calls.append(1)
        if len(calls) == 3:
            raise Stop

    dsa = metrics.get("dsa", n_delays=2, rank=4)
    emb = dsa.embed(tiny_ensemble)
    with cancellable(hook), pytest.raises(Stop):
        dsa.compare(emb, emb, True)
    assert len(calls) == 3  # it checks between steps, and stops at the first cancelled check
    assert dsa.compare(emb, emb, True).shape == (4, 4)  # no hook: runs to the end
