"""Statistics and planted twins of the benchmark harness."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata, spearmanr

from degzoo.benchmark import stats
from degzoo.benchmark.twins import TransformedEnsemble, make_twin, random_orthogonal
from degzoo.models import Architecture
from degzoo.models.rnn import init_params
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble


def test_ari_of_a_perfect_clustering_is_one():
    truth = [0, 0, 0, 1, 1, 1, 2, 2]
    assert stats.adjusted_rand_index(truth, truth) == 1.0
    assert stats.adjusted_rand_index(truth, [5, 5, 5, 9, 9, 9, 7, 7]) == 1.0  # names do not matter
    assert stats.adjusted_rand_index(truth, [0, 1, 2, 0, 1, 2, 0, 1]) < 0.1


def test_ari_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        a, b = rng.integers(0, 3, 30), rng.integers(0, 4, 30)
        assert np.isclose(stats.adjusted_rand_index(a, b), sklearn.adjusted_rand_score(a, b))


def test_clustering_recovers_planted_families():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(3, 5)) * 10
    pts = np.concatenate([c + rng.normal(size=(6, 5)) for c in centres])
    D = np.sqrt(((pts[:, None] - pts[None]) ** 2).sum(-1))
    labels = np.repeat(np.arange(3), 6)
    assert stats.adjusted_rand_index(labels, stats.cluster(D, 3)) == 1.0


def test_ranks_auroc_and_spearman_match_scipy():
    rng = np.random.default_rng(2)
    for _ in range(50):
        x = rng.integers(0, 4, size=(3, 9)).astype(float)
        np.testing.assert_allclose(stats.rank(x, axis=1), rankdata(x, axis=1))
        np.testing.assert_allclose(stats.rank(x[0]), rankdata(x[0]))
        y = rng.normal(size=9)
        assert np.isclose(stats.spearman(x[0], y), spearmanr(x[0], y).statistic)
        assert np.allclose(stats.spearman_rows(y, x), [spearmanr(y, r).statistic for r in x],
                           equal_nan=True)
    assert stats.auroc([2, 3], [0, 1]) == 1.0 and stats.auroc([0, 1], [2, 3]) == 0.0
    assert stats.auroc([1.0], [1.0]) == 0.5


def test_masked_bootstrap_rows_ignore_self_pairs():
    D = np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], dtype=float)
    idx = np.array([[0, 0, 1], [0, 1, 2]])
    vals, valid, _, _ = stats.pair_values(D, idx)
    assert valid.tolist() == [[False, True, True], [True, True, True]]
    assert np.isnan(vals[0, 0]) and vals[1].tolist() == [1, 2, 3]
    auc = stats.auroc_rows(np.array([[3.0, 4.0, np.nan, 1.0]]), np.array([[True, True, True, False]]))
    assert auc[0] == 1.0



def test_witness_auroc_separates_a_tight_group_from_a_spread_one_that_pooled_auroc_cannot():
    # random vectors of norm 1 (group 0) and norm 3 (group 1) in high dimension: within-0 ≈ 1.4,
    # within-1 ≈ 4.2, between ≈ 3.2, so the between distances sit in the middle of the within ones
    rng = np.random.default_rng(0)
    x = rng.standard_normal((24, 2000))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    x[12:] *= 3.0
    D = np.linalg.norm(x[:, None] - x[None], axis=2)
    labels = np.repeat([0, 1], 12)
    within, between = stats.within_between(D, labels)
    assert 0.4 < stats.auroc(between, within) < 0.6
    whole = np.arange(24)[None]
    assert stats.witness_auroc_rows(D, labels, whole)[0] == 1.0
    # one group split in two at random: nothing to find, on average
    same = np.linalg.norm(x[:12, None] - x[None, :12], axis=2)
    splits = [stats.witness_auroc_rows(same, rng.permutation(np.repeat([0, 1], 6)), np.arange(12)[None])[0]
              for _ in range(200)]
    assert 0.45 < np.mean(splits) < 0.55
    # copies of a member in a replicate are left out of its own means
    reps = stats.resample_within(labels, 50, rng)
    assert np.all(stats.witness_auroc_rows(D, labels, reps) == 1.0)

@pytest.fixture(params=["vanilla", "mup"])
def random_ensemble(request):
    task = get_task("flipflop", bits=2, trial_length=15)
    arch = Architecture(2, 2, hidden=6, kind=request.param, tau=0.5, gamma=2.0)
    raw = init_params(arch, [1, 2, 3])
    from degzoo.models.rnn import effective

    params = {k: v.double().numpy() for k, v in effective(raw, arch).items()}
    params["b"] = params["b"] + 0.1  # nonzero biases (µP starts them at 0)
    return Ensemble.from_arrays(params, arch, task, *task.probe(n=4))


@pytest.mark.parametrize("kind", ["permutation", "sign_flip"])
def test_permutation_and_sign_flip_twins_are_exact_copies(random_ensemble, kind):
    rng = np.random.default_rng(0)
    twin = make_twin(random_ensemble, kind, rng)
    out, rates = random_ensemble.run()
    tout, trates = twin.run()
    np.testing.assert_allclose(tout, out, atol=1e-10)
    assert not np.allclose(trates, rates)  # same function, other units
    # the twin's states are a signed permutation of the original's
    for e in range(len(twin)):
        a = rates[e].reshape(-1, rates.shape[-1])
        b = trates[e].reshape(-1, rates.shape[-1])
        match = np.abs(a.T @ b) / (np.linalg.norm(a, axis=0)[:, None] * np.linalg.norm(b, axis=0)[None])
        assert np.allclose(np.sort(match.max(axis=0)), 1.0)


def test_rotated_view_changes_coordinates_not_behaviour(random_ensemble):
    rng = np.random.default_rng(0)
    G = random_orthogonal(6, len(random_ensemble), rng)
    view = TransformedEnsemble(random_ensemble, G)
    np.testing.assert_allclose(view.loss(), random_ensemble.loss())
    rotated = np.einsum("ehk,ebtk->ebth", G, random_ensemble.trajectories())
    np.testing.assert_allclose(view.trajectories(), rotated, atol=1e-12)
    np.testing.assert_allclose(view[1].trajectories(), view.trajectories()[1], atol=1e-12)
    sub = view.subset([2, 0])
    np.testing.assert_allclose(sub.trajectories(), view.trajectories()[[2, 0]], atol=1e-12)
    # weights in the rotated basis: the linear part is consistent (W_out' h' = W_out h)
    np.testing.assert_allclose(view.params["W_out"] @ G, random_ensemble.params["W_out"], atol=1e-12)
