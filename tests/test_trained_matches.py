"""Different solutions trained to carry another network's dynamics spectrum: the ground truth
against metrics that read a Lyapunov, fixed-point or DMD spectrum, and how the trained networks are
kept."""

from __future__ import annotations

import dataclasses
import time
import warnings

import numpy as np
import pytest

import degzoo.benchmark.trained_matches as tm
from degzoo.benchmark import evaluate_metric
from degzoo.benchmark.store import Deadline
from degzoo.benchmark.twins import MATCHED_STATISTICS, from_params, member, perturb
from degzoo.metrics import get
from degzoo.zoo import open_release

SHORT = {"lyapunov": 150, "fixed_points": 600, "dmd_spectrum": 150}


@pytest.fixture(scope="module")
def ens():
    return open_release().ensemble("flipflop-bits3").subset([2, 3])


@pytest.fixture
def short_training(monkeypatch):
    """Fewer steps than the protocol's, enough to show the method on the embedded zoo's 32 units."""
    for statistic, steps in SHORT.items():
        monkeypatch.setitem(tm.TRAINED_STATISTICS, statistic,
                            dataclasses.replace(tm.TRAINED_STATISTICS[statistic], steps=steps))


@pytest.mark.parametrize(("statistic", "metric"), [("lyapunov", "lyapunov_spectrum"),
                                                   ("fixed_points", "fixed_point_spectrum"),
                                                   ("dmd_spectrum", "dsa_wasserstein")])
def test_a_trained_match_carries_the_targets_spectrum_and_stays_a_different_solution(
        ens, short_training, statistic, metric):
    assert statistic in MATCHED_STATISTICS["dynamics"]
    a, b = member(ens, 0), member(ens, 1)
    c, info = tm.trained_match(b, a, statistic, ens.architecture, ens.task, ens.probe_inputs, seed=3)
    twin = {k: v[0] for k, v in perturb(a, [0.01], np.random.default_rng(0)).items()}
    nets = from_params(ens, {k: np.stack([a[k], twin[k], b[k], c[k]]) for k in a}, "m")
    reader = np.asarray(get(metric).pairwise(nets))
    # the reader of that spectrum puts the matched network beside A, far nearer than B was ...
    assert info["mismatch"] < 0.2 * info["mismatch_before"]
    assert reader[0, 3] < 0.2 * reader[0, 2]
    # ... while it still solves the task and is, in DSA, as far from A as another solution
    assert info["task_mse"] < 3 * ens.task.mse_threshold
    dsa = np.asarray(get("dsa").pairwise(nets))
    assert dsa[0, 3] > 0.5 * dsa[0, 2] > 5 * dsa[0, 1]


def test_matches_are_kept_read_back_and_a_corrupt_one_is_trained_again(ens, monkeypatch, tmp_path):
    monkeypatch.setenv(tm.CACHE_ENV, str(tmp_path))
    monkeypatch.setitem(tm.TRAINED_STATISTICS, "lyapunov",
                        dataclasses.replace(tm.TRAINED_STATISTICS["lyapunov"], steps=3))
    args = ([member(ens, 1)], [member(ens, 0)], "lyapunov", ens.architecture, ens.task, ens.probe_inputs)
    first, info = tm.trained_matches(*args, progress=False)
    (kept,) = (tmp_path / "matched").glob("*.npz")
    assert kept.stem == tm.match_key(args[0][0], args[1][0], *args[2:])

    def no_training(*a, **k):
        raise AssertionError("a kept match was trained again")

    monkeypatch.setattr(tm, "trained_match", no_training)
    again, info_again = tm.trained_matches(*args, progress=False)
    assert info_again == info
    for k, v in first[0].items():
        np.testing.assert_array_equal(again[0][k], v)

    calls = []
    monkeypatch.setattr(tm, "trained_match", lambda *a, **k: calls.append(1) or (first[0], info[0]))
    kept.write_bytes(kept.read_bytes()[:100])  # truncated
    with pytest.warns(UserWarning, match="not usable"):
        tm.trained_matches(*args, progress=False)
    assert calls == [1]
    other = {k: v.copy() for k, v in member(ens, 1).items()}
    other["W_hh"][0, 0] += 1e-3
    assert tm.match_key(other, args[1][0], *args[2:]) != kept.stem


def test_the_embedded_zoos_suites_use_the_shipped_matches(monkeypatch, tmp_path):
    """Board protocol and the shortcut tests' sizes: nothing is trained, nothing goes to the cache."""
    monkeypatch.setenv(tm.CACHE_ENV, str(tmp_path))

    def no_training(*a, **k):
        raise AssertionError("a match the embedded zoo's suites need is not shipped")

    monkeypatch.setattr(tm, "trained_match", no_training)
    for max_members in (16, 6):
        result = evaluate_metric(get("control_noise-dynamics"), suites="conformance,calibration", n_boot=50,
                                 progress=False, time_limit=None, max_members=max_members)
        assert result.suites["calibration"].status == "ok", result.suites["calibration"].message
        for statistic in tm.TRAINED_STATISTICS:
            assert f"confound_auroc[{statistic}]" in result.suites["calibration"].scores
    assert not (tmp_path / "matched").exists()


def test_a_paused_deadline_stands_still_and_resumes():
    deadline = Deadline(10.0)
    with deadline.paused():
        frozen = deadline.elapsed
        time.sleep(0.02)
        assert deadline.elapsed == frozen
    time.sleep(0.02)
    assert deadline.elapsed > frozen


def test_no_pickle_is_read(ens, monkeypatch, tmp_path):
    """A kept file that needs unpickling (an object array) is refused, never loaded."""
    monkeypatch.setenv(tm.CACHE_ENV, str(tmp_path))
    key = tm.match_key(member(ens, 1), member(ens, 0), "lyapunov", ens.architecture, ens.task,
                       ens.probe_inputs)
    path = tmp_path / "matched" / f"{key}.npz"
    path.parent.mkdir()
    np.savez(path, key=np.array(key), W_hh=np.array([{"x": 1}], dtype=object))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert tm._read(path, key) is None
    assert any("not usable" in str(w.message) for w in caught)
