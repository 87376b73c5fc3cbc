"""Ground truths a confound cannot fake: networks that share another's cheap statistics, networks with
no unit identity, size-keeping ladders, and the suites' declared main scores."""

from __future__ import annotations

import numpy as np
import pytest

from degzoo import metrics
from degzoo.benchmark import evaluate_metric, suites
from degzoo.benchmark.harness import SUMMARY_SCORES
from degzoo.benchmark.results import MAIN_SCORES
from degzoo.benchmark.suites import SUITES, higher_is_better, matched_statistics_of
from degzoo.benchmark.twins import (
    ELSEWHERE,
    MATCHED_STATISTICS,
    TransformedEnsemble,
    least_tuned_condition,
    match_degrees,
    match_entries,
    match_spectrum,
    matched_ensemble,
    member,
    moment_map,
    other_trials,
    perturb,
    random_orthogonal,
    relabelled,
    rms,
    shuffled,
    task_variables,
)
from degzoo.errors import InvalidParameterError
from degzoo.leaderboard.tiers import RANKED_SUITES
from degzoo.zoo import open_release


@pytest.fixture(scope="module")
def ens():
    return open_release().ensemble("flipflop-bits1").subset([0, 1, 2])


def _sv(W):
    return np.linalg.svd(np.asarray(W, np.float64), compute_uv=False)


def _sorted_rows(a):
    """The rows of ``a`` (along its first axis, each flattened) in lexicographic order: its multiset
    of trials, units or other per-row vectors."""
    flat = a.reshape(len(a), -1)
    return flat[np.lexsort(flat.T[::-1])]


def test_match_spectrum_has_the_targets_size_and_spectrum_but_other_connectivity(ens):
    a, b = member(ens, 0), member(ens, 1)
    m = match_spectrum(b, a)
    np.testing.assert_allclose(_sv(m["W_hh"]), _sv(a["W_hh"]), rtol=1e-5, atol=1e-6)
    for k in ("W_in", "b", "W_out"):
        assert np.linalg.norm(m[k]) == pytest.approx(np.linalg.norm(a[k]), rel=1e-5)
    # the connectivity is b's, not a's: far from a, near b (whose spectrum differs a little)
    assert np.linalg.norm(m["W_hh"] - a["W_hh"]) > 0.5 * np.linalg.norm(a["W_hh"])
    assert np.linalg.norm(m["W_hh"] - b["W_hh"]) < np.linalg.norm(m["W_hh"] - a["W_hh"])


def test_moment_map_gives_the_targets_mean_and_covariance():
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((500, 4)) @ rng.standard_normal((4, 4)) + 3.0
    xt = rng.standard_normal((500, 4)) * np.array([3.0, 1.0, 0.5, 0.1]) - 1.0
    G, c = moment_map(xs, xt)
    y = xs @ G.T + c
    np.testing.assert_allclose(y.mean(axis=0), xt.mean(axis=0), atol=1e-10)
    np.testing.assert_allclose(np.cov(y.T), np.cov(xt.T), atol=1e-10)


def test_match_entries_holds_the_targets_values_in_the_sources_wiring(ens):
    a, b = member(ens, 0), member(ens, 1)
    m = match_entries(b, a)
    for k in a:
        np.testing.assert_array_equal(np.sort(m[k], axis=None), np.sort(a[k], axis=None))
        # the source's rank order: its largest weight holds the target's largest value, and so on
        np.testing.assert_array_equal(np.argsort(m[k], axis=None, kind="stable"),
                                      np.argsort(b[k], axis=None, kind="stable"))
    assert np.linalg.norm(m["W_hh"] - a["W_hh"]) > 0.5 * np.linalg.norm(a["W_hh"])


def test_match_degrees_gives_the_targets_row_and_column_norms(ens):
    a, b = member(ens, 0), member(ens, 1)
    m = match_degrees(b, a)
    for axis in (0, 1):
        np.testing.assert_allclose(np.sort(np.linalg.norm(m["W_hh"], axis=axis)),
                                   np.sort(np.linalg.norm(a["W_hh"], axis=axis)), rtol=1e-4)
    assert np.linalg.norm(m["W_hh"] - a["W_hh"]) > 0.5 * np.linalg.norm(a["W_hh"])


def test_eigenvalue_match_keeps_every_eigenvalue_in_other_weights(ens):
    m = matched_ensemble(ens, [1, 2], [0, 0], "weights", statistic="eigenvalues", name="m")
    ev = np.sort_complex(np.linalg.eigvals(ens.params["W_hh"][0].astype(np.float64)))
    for k in range(2):
        W = m.params["W_hh"][k].astype(np.float64)
        np.testing.assert_allclose(np.sort_complex(np.linalg.eigvals(W)), ev, atol=1e-4)
        assert np.linalg.norm(W - ens.params["W_hh"][0]) > 0.3 * np.linalg.norm(ens.params["W_hh"][0])


def test_rewired_keeps_every_bipartite_statistic_in_another_recurrent_wiring(ens):
    a = member(ens, 0)
    m = matched_ensemble(ens, [1], [0], "weights", statistic="wiring", name="m")
    W, Wm = a["W_hh"].astype(np.float64), m.params["W_hh"][0].astype(np.float64)
    for k in a:  # every weight array holds exactly the target's values
        np.testing.assert_array_equal(np.sort(m.params[k][0], axis=None), np.sort(a[k], axis=None))
    np.testing.assert_allclose(_sv(Wm), _sv(W), rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(Wm, axis=1), np.linalg.norm(W, axis=1), rtol=1e-12)
    np.testing.assert_allclose(np.sort(np.linalg.norm(Wm, axis=0)), np.sort(np.linalg.norm(W, axis=0)))
    # the recurrent wiring is another: other eigenvalues, far from the target in weights
    assert not np.allclose(np.sort_complex(np.linalg.eigvals(Wm)), np.sort_complex(np.linalg.eigvals(W)),
                           atol=1e-3)
    assert np.linalg.norm(Wm - W) > 0.5 * np.linalg.norm(W)
    again = matched_ensemble(ens, [2], [0], "weights", statistic="wiring", name="m")
    np.testing.assert_array_equal(again.params["W_hh"], m.params["W_hh"])  # seeded by the target


def test_io_wiring_keeps_every_weight_array_and_changes_the_behaviour(ens):
    a = {k: np.asarray(v, np.float64) for k, v in member(ens, 0).items()}
    m = matched_ensemble(ens, [1], [0], "behaviour", statistic="io_wiring", name="m")
    b = {k: np.asarray(v[0], np.float64) for k, v in m.params.items()}
    np.testing.assert_array_equal(b["W_hh"], a["W_hh"])  # every statistic of W_hh, all together
    # each unit's input weights and bias, and each unit's readout weights, are some target unit's
    np.testing.assert_array_equal(_sorted_rows(np.column_stack([b["W_in"], b["b"]])),
                                  _sorted_rows(np.column_stack([a["W_in"], a["b"]])))
    np.testing.assert_array_equal(_sorted_rows(b["W_out"].T), _sorted_rows(a["W_out"].T))
    # ... of other units: the inputs drive other units, the readout reads others
    out, _ = ens.subset([0]).run()
    out_m, _ = m.run()
    assert rms(out_m - out) > 0.5 * rms(out)


def _tuning(states, z):
    x = states.reshape(-1, states.shape[-1])
    return ((x - x.mean(axis=0)) / x.std(axis=0)).T @ z / len(z)  # [H, k] correlations


def _moments(states):
    x = states.reshape(-1, states.shape[-1])
    return np.column_stack([x.mean(axis=0), x.std(axis=0)])


def _one_minus_cka(a, b):
    a, b = (x.reshape(-1, x.shape[-1]) for x in (a, b))
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    return 1 - np.linalg.norm(a.T @ b) ** 2 / (np.linalg.norm(a.T @ a) * np.linalg.norm(b.T @ b))


def test_tuning_match_gives_another_solution_the_targets_tuning_where_units_are_not_all_tuning():
    dd = open_release().ensemble("dd-ch1").subset([0, 1, 2])
    m = matched_ensemble(dd, [1, 2], [0, 1], "representation", statistic="tuning", name="m")
    x, y, z = dd.trajectories(), m.trajectories(), task_variables(dd)
    for k, (s, t) in enumerate([(1, 0), (2, 1)]):
        # every unit takes one target unit's |tuning| vector, mean and variance, together
        unit = lambda a: _sorted_rows(np.column_stack([np.abs(_tuning(a, z)), _moments(a)]))  # noqa: E731
        np.testing.assert_allclose(unit(y[k]), unit(x[t]), atol=2e-5)  # states are float32
        # ... on the source's activity: about as far from the target as the source, near the source
        assert _one_minus_cka(y[k], x[t]) > 0.5 * _one_minus_cka(x[s], x[t])
        assert _one_minus_cka(y[k], x[s]) < _one_minus_cka(x[s], x[t])
    with pytest.raises(InvalidParameterError, match="probe set only"):
        m.run(np.zeros((2, 5, dd.probe_inputs.shape[-1]), np.float32))


def test_tuning_is_matched_on_the_least_tuned_condition_where_flip_flop_units_are_all_tuning():
    rel = open_release()
    few = {c: rel.ensemble(c).subset([0, 1, 2]) for c in ("flipflop-bits3", "dd-ch1", "sine-ch1")}
    chosen, r2 = least_tuned_condition(few)
    assert chosen == "dd-ch1" and r2["flipflop-bits3"] > 0.9 > 0.5 > r2["dd-ch1"]
    assert set(ELSEWHERE) == {"tuning"}
    assert all("tuning" in MATCHED_STATISTICS[level] for level in ("representation", "dynamics"))


def test_tuning_is_not_built_on_a_release_whose_units_are_all_tuned(monkeypatch):
    # as if every condition were flip-flop: the least tuned one (dd-ch1, R² 0.15) above the limit
    monkeypatch.setattr(suites, "MAX_TUNED_FRACTION", 0.1)
    result = evaluate_metric(metrics.get("cka"), suites="conformance,calibration", n_boot=100,
                             progress=False, time_limit=None, max_members=4)
    conformance, calibration = result.suites["conformance"], result.suites["calibration"]
    definite = next(c for c in conformance.details["checks"] if c["check"] == "definite:tuning")
    assert not definite["required"] and "not built" in definite["skipped"]
    assert conformance.status == "ok" and conformance.scores["checks_passed"].value == 1.0
    assert "confound_auroc[tuning]" not in calibration.scores and "confound_auroc" in calibration.scores
    assert calibration.details["confound"]["different"]["tuning"] is None
    assert "not built" in calibration.details["confound"]["skipped"]["tuning"]
    # recorded, so a resumed run takes these suites over instead of calling them stale
    assert "tuning" in matched_statistics_of("conformance", conformance)
    assert "tuning" in matched_statistics_of("calibration", calibration)


def test_trial_pairing_keeps_every_trajectory_and_answers_other_inputs(ens):
    m = matched_ensemble(ens, [1], [0], "representation", statistic="trial_pairing", name="m")
    x, y = ens.trajectories()[0], m.trajectories()[0]  # [trials, steps, H]
    np.testing.assert_array_equal(_sorted_rows(y), _sorted_rows(x))  # the same trajectories, every one
    inputs = ens.probe_inputs.reshape(len(x), -1)
    for i in range(len(y)):  # each answering inputs other than those that produced it
        sources = [j for j in range(len(x)) if np.array_equal(y[i], x[j])]
        assert all(not np.array_equal(inputs[i], inputs[j]) for j in sources)
    z = relabelled(m, np.random.default_rng(1)).trajectories()[0]  # anonymised: the pairing stays
    np.testing.assert_allclose(np.abs(z).sum(axis=-1), np.abs(y).sum(axis=-1), rtol=1e-5)


def test_behavioural_trial_pairing_hands_the_targets_outputs_to_other_inputs_on_any_probe(ens):
    m = matched_ensemble(ens, [1], [0], "behaviour", statistic="trial_pairing", name="m")
    for inputs in (ens.probe_inputs, ens.task.ood().probe(n=24, seed=5)[0]):  # the probe set, and any other
        out, out_m = ens.subset([0]).run(inputs)[0][0], m.run(inputs)[0][0]  # [trials, steps, O]
        np.testing.assert_array_equal(_sorted_rows(out_m), _sorted_rows(out))  # the target's output sequences
        assert all(not np.array_equal(out_m[i], out[i]) for i in range(len(out)))  # each for other inputs
        assert m.loss(inputs, out)[0] > 0.1 * rms(out) ** 2  # so it fails the target's own answers
        np.testing.assert_array_equal(m[0].run(inputs)[0], out_m)  # network by network, as a whole
    # a metric that runs the weights it is shown meets another member, the source, not the target
    for k, v in m.params.items():
        np.testing.assert_array_equal(v[0], member(ens, 1)[k])
    noisy = m.with_params({k: v * 1.01 for k, v in m.params.items()})
    assert type(noisy) is type(ens) and np.array_equal(noisy.params["W_hh"], m.params["W_hh"] * 1.01)
    shown = matched_ensemble(ens, [1], [0], "representation", statistic="trial_pairing", name="r")
    with pytest.raises(InvalidParameterError, match="no weights to replace"):  # no weights behind its states
        shown.with_params(m.params)


def test_other_trials_avoids_identical_inputs():
    inputs = np.repeat(np.arange(4), [3, 1, 2, 2])[:, None] * np.ones((1, 5))
    p = other_trials(inputs, np.random.default_rng(0))
    assert sorted(p) == list(range(8)) and all(inputs[p[i], 0] != inputs[i, 0] for i in range(8))


def test_sample_relabelling_keeps_every_states_magnitudes_not_its_units(ens):
    m = matched_ensemble(ens, [1], [0], "representation", statistic="sample_relabelling", name="m")
    x, y = ens.trajectories()[0], m.trajectories()[0]
    np.testing.assert_array_equal(np.sort(np.abs(y), axis=-1), np.sort(np.abs(x), axis=-1))
    # unit k is another unit from one sample to the next: the states' correlations are gone
    corr = np.corrcoef(x.reshape(-1, x.shape[-1]).T)[np.triu_indices(x.shape[-1], 1)]
    corr_m = np.corrcoef(y.reshape(-1, y.shape[-1]).T)[np.triu_indices(y.shape[-1], 1)]
    assert np.mean(np.abs(corr_m)) < 0.5 * np.mean(np.abs(corr))
    np.testing.assert_array_equal(m.trajectories(ens.probe_inputs), m.trajectories())  # fixed, not redrawn


@pytest.mark.parametrize("statistic", ["sample_order", "sample_relabelling", "unit_histories", "trial_frames",
                                       "step_frames"])
def test_dynamics_views_of_a_targets_states_show_another_members_weights(ens, statistic):
    """At the dynamics level a metric may read weights: a view of the target's own states made into
    a different solution shows another member's, so both readings say 'different'."""
    m = matched_ensemble(ens, [1], [0], "dynamics", statistic=statistic, name="m")
    x, y = ens.trajectories()[0], m.trajectories()[0]
    np.testing.assert_array_equal(m.params["W_hh"][0], ens.params["W_hh"][1])
    if statistic == "sample_order":  # the same cloud of states, in another order
        flat = lambda a: a.reshape(-1, a.shape[-1])  # noqa: E731
        np.testing.assert_array_equal(np.sort(flat(y), axis=0), np.sort(flat(x), axis=0))
        assert np.mean(np.all(flat(y) == flat(x), axis=1)) < 0.2
    elif statistic == "sample_relabelling":  # every state's magnitudes, not its units
        np.testing.assert_allclose(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1), rtol=1e-6)
    elif statistic == "trial_frames":  # every trajectory's geometry, each in a frame of its own
        within = lambda a: np.linalg.norm(a[:, :, None] - a[:, None], axis=-1)  # noqa: E731
        np.testing.assert_allclose(within(y), within(x), atol=1e-5)  # [trials, steps, steps]
        across = lambda a: np.linalg.norm(a[0] - a[1], axis=-1)  # noqa: E731
        assert not np.allclose(across(y), across(x), atol=1e-2)  # trials no longer share one space
    elif statistic == "step_frames":  # every step's geometry across trials, each in a frame of its own
        at_step = lambda a: np.linalg.norm(a[:, None] - a[None], axis=-1)  # noqa: E731
        np.testing.assert_allclose(at_step(y), at_step(x), atol=1e-5)  # [trials, trials, steps]
        step = lambda a: np.linalg.norm(a[:, 1:] - a[:, :-1], axis=-1)  # noqa: E731
        assert not np.allclose(step(y), step(x), atol=1e-2)  # no one flow field from step to step
    else:  # every unit's own trajectories, each from another trial
        for k in range(x.shape[-1]):
            np.testing.assert_array_equal(_sorted_rows(y[:, :, k]), _sorted_rows(x[:, :, k]))
        assert np.mean(np.all(y == x, axis=(1, 2))) < 0.2
    r = relabelled(m, np.random.default_rng(2))  # anonymised: weights and states stay the view's
    np.testing.assert_allclose(np.sort(np.abs(r.params["W_hh"][0]), axis=None),
                               np.sort(np.abs(ens.params["W_hh"][1]), axis=None))


def test_marginals_give_another_solution_the_targets_unit_distributions(ens):
    m = matched_ensemble(ens, [1, 2], [0, 0], "dynamics", statistic="marginals", name="m")
    H = ens.architecture.hidden
    target = np.sort(ens.trajectories()[0].reshape(-1, H), axis=0)
    for k, source in ((0, 1), (1, 2)):
        y = m.trajectories()[k].reshape(-1, H)
        # unit by unit, exactly the values of one target unit (each target unit used once)
        np.testing.assert_array_equal(np.sort(np.sort(y, axis=0), axis=1), np.sort(target, axis=1))
        # in the source's rank order: its states, not the target's
        x = ens.trajectories()[source].reshape(-1, H)
        assert all(np.corrcoef(np.argsort(np.argsort(x[:, j])), np.argsort(np.argsort(y[:, j])))[0, 1] > 0.99
                   for j in range(H) if np.ptp(x[:, j]) > 0)
    np.testing.assert_array_equal(m.params["W_hh"], ens.params["W_hh"][[1, 2]])  # the sources' weights


def test_relabelled_networks_are_the_same_solutions_without_unit_identity(ens):
    r = relabelled(ens, np.random.default_rng(4))
    out, states = ens.run()
    r_out, r_states = r.run()
    np.testing.assert_allclose(r_out, out, atol=1e-5)  # the same function
    assert not np.allclose(r.params["W_hh"], ens.params["W_hh"])  # no unit keeps its label and sign
    # each member's states are a signed permutation of the original's: the same multiset of |rates|
    for k in range(len(ens)):
        np.testing.assert_allclose(np.sort(np.abs(r_states[k]).mean(axis=(0, 1))),
                                   np.sort(np.abs(states[k]).mean(axis=(0, 1))), rtol=1e-4)
    np.testing.assert_array_equal(r.seeds, ens.seeds)


def test_relabelling_a_transformed_view_relabels_its_states(ens):
    G = random_orthogonal(ens.architecture.hidden, len(ens), np.random.default_rng(5))
    view = TransformedEnsemble(ens, G, offset=np.ones((len(ens), ens.architecture.hidden)))
    r = relabelled(view, np.random.default_rng(6))
    x, y = view.trajectories(), r.trajectories()
    for k in range(len(ens)):  # y = S x for a signed permutation S: same sorted |column means|
        np.testing.assert_allclose(np.sort(np.abs(y[k].mean(axis=(0, 1)))),
                                   np.sort(np.abs(x[k].mean(axis=(0, 1)))), rtol=1e-5)
    np.testing.assert_array_equal(r.run()[0], view.run()[0])


@pytest.mark.parametrize("level", ["dynamics", "behaviour"])
def test_matched_ensemble_gives_the_targets_state_or_output_size(ens, level):
    m = matched_ensemble(ens, [1, 2], [0, 0], level, name="m")
    out, states = ens.run()
    m_out, m_states = m.run()
    if level == "dynamics":
        for k in range(2):
            x, y = m_states[k].reshape(-1, states.shape[-1]), states[0].reshape(-1, states.shape[-1])
            np.testing.assert_allclose(_sv(x)[:8], _sv(y)[:8], rtol=1e-4)
        # outputs (behaviour) are the sources', untouched by a change of recorded basis
        np.testing.assert_array_equal(m_out, out[[1, 2]])
    else:
        for k in range(2):
            assert rms(m_out[k]) == pytest.approx(rms(out[0]), rel=1e-4)


def test_size_keeping_noise_ladder_keeps_every_norm_and_moves_away(ens):
    a = member(ens, 0)
    levels = [0.01, 0.1, 0.3, 1.0]
    ladder = perturb(a, levels, np.random.default_rng(1), keep_norm=True)
    for k in ("W_hh", "W_in", "W_out"):
        np.testing.assert_allclose([rms(x) for x in ladder[k]], rms(a[k]), rtol=1e-5)
    dist = [np.linalg.norm(w - a["W_hh"]) for w in ladder["W_hh"]]
    assert np.all(np.diff(dist) > 0)


def test_shuffled_hands_members_over_in_another_order(ens):
    sh, order = shuffled(ens, np.random.default_rng(3))
    assert sorted(order.tolist()) == [0, 1, 2] and np.all(order != np.arange(3))
    np.testing.assert_array_equal(sh.params["W_hh"], ens.params["W_hh"][order])


def test_every_ranked_suite_declares_main_scores_that_the_summary_carries():
    assert set(MAIN_SCORES) <= set(SUITES)
    assert set(RANKED_SUITES) <= set(MAIN_SCORES)
    assert set(SUMMARY_SCORES) == {(s, k) for s, ks in MAIN_SCORES.items() for k in ks}
    for suite in RANKED_SUITES:
        assert all(higher_is_better(suite, k) for k in MAIN_SCORES[suite]), suite


@pytest.mark.parametrize(("suite", "score", "expected"), [
    ("calibration", "twin_ratio", False),
    ("conformance", "twin_ratio_scale", False),
    ("cost", "seconds_per_pair", False),
    ("sample_size", "degeneracy_n8", None),
    ("trend", "spearman[flipflop-bits]", None),
    ("agreement", "spearman", None),
    ("calibration", "confound_auroc", True),
])
def test_score_directions(suite, score, expected):
    assert higher_is_better(suite, score) is expected


def test_equivalent_is_the_same_solution_under_every_claimed_invariance(ens):
    from degzoo.benchmark.twins import equivalent
    from degzoo.metrics import get

    kinds = ["orthogonal", "permutation", "scale", "sign_flip"]
    eq = equivalent(ens, kinds, np.random.default_rng(2))
    np.testing.assert_allclose(eq.run()[0], ens.run()[0], atol=1e-5)  # same outputs
    d = np.diag(get("cka").cross(ens, eq))  # cka claims all four invariances
    assert np.all(d < 1e-6)


def test_a_failed_check_without_a_value_is_explained_not_a_type_error():
    from degzoo.benchmark.suites import Settings, _explain

    text = _explain({"check": "symmetric", "max_asymmetry": None, "ratio": None}, Settings())
    assert text == "d(a, b) and d(b, a) differ by up to n/a (n/a× the median)"
