"""Real solution families as a ground truth: the groups a release declares (a baseline and the
conditions trained beside it under solution-family controls), and the witness score on them."""

from __future__ import annotations

import numpy as np
import pytest

from degzoo.benchmark import stats
from degzoo.benchmark.results import MAIN_SCORES, SuiteResult
from degzoo.benchmark.suites import Settings, _family_witness
from degzoo.training.controls import split_solution_family

SETTINGS = Settings(n_boot=200)


def test_a_condition_is_a_family_when_its_controls_are_its_baselines_plus_family_controls():
    mup = {"name": "mup", "gamma": 1.0, "tau": 0.5}
    assert split_solution_family([]) == ([], False)
    assert split_solution_family([{"name": "init_gain", "gain": 3.0}]) == ([], True)
    assert split_solution_family([mup, {"name": "low_rank", "rank": 2}]) == ([mup], True)
    l1 = {"name": "l1", "weight": 1e-5}
    assert split_solution_family([l1]) == ([l1], False)
    assert split_solution_family([{"name": "not-installed"}]) == ([{"name": "not-installed"}], False)


def _blocks(rng: np.random.Generator, spreads: tuple[float, ...], offset: float, n: int = 8
            ) -> tuple[np.ndarray, np.ndarray]:
    """Points on a line: condition k centred at k·offset with its own spread; D = |x_i - x_j|."""
    x = np.concatenate([k * offset + s * rng.standard_normal(n) for k, s in enumerate(spreads)])
    return np.abs(x[:, None] - x[None, :]), np.repeat(np.arange(len(spreads)), n)


def test_family_witness_is_one_for_separated_families_and_chance_for_one_cloud():
    rng = np.random.default_rng(0)
    apart = _blocks(rng, (1.0, 1.0, 1.0), offset=20.0)
    one_cloud = _blocks(rng, (1.0, 1.0, 1.0), offset=0.0)
    out = SuiteResult()
    _family_witness(out, [apart], [["base", "gain", "rank"]], SETTINGS, np.random.default_rng(1))
    assert out.scores["family_witness_auroc"].value == 1.0
    assert [p["family"] for p in out.details["families"]["pairs"]] == ["gain", "rank"]
    out = SuiteResult()
    _family_witness(out, [one_cloud], [["base", "gain", "rank"]], SETTINGS, np.random.default_rng(1))
    score = out.scores["family_witness_auroc"]
    assert 0.15 < score.value < 0.85 and score.low < 0.5 < score.high


def test_family_witness_is_not_fooled_by_a_tight_family_inside_a_spread_baseline():
    # the pooled between/within AUROC is about 0.5 here; the families differ all the same
    rng = np.random.default_rng(2)
    spread = 5 * rng.standard_normal((12, 50)) / np.sqrt(50)  # baseline members 7 apart, 5 from 0
    tight = 0.01 * rng.standard_normal((12, 50))               # the family: all near 0
    x = np.concatenate([spread, tight])
    D, labels = np.linalg.norm(x[:, None] - x[None, :], axis=2), np.repeat([0, 1], 12)
    vals, _, iu, ju = stats.pair_values(D, np.arange(24)[None])
    assert stats.auroc_rows(vals, (labels[iu] != labels[ju])[None])[0] < 0.6
    out = SuiteResult()
    _family_witness(out, [(D, labels)], [["base", "tight"]], SETTINGS, np.random.default_rng(3))
    assert out.scores["family_witness_auroc"].value == 1.0


def test_families_are_a_headline_score_of_discriminability():
    assert MAIN_SCORES["discriminability"] == ("planted_auroc", "family_witness_auroc")


def test_zoo_v2_is_scored_on_its_families_and_embedded_v1_on_its_shared_task_groups():
    from degzoo.benchmark.harness import evaluate_metric
    from degzoo.leaderboard.schema import known_releases

    if "zoo-v2" not in known_releases():
        pytest.skip("this checkout has no finished zoo-v2")
    res = evaluate_metric("control_scale-weights", release="zoo-v2", suites="calibration,discriminability",
                          max_members=4, n_boot=50, progress=False)
    assert "mixture_ari" in res.suites["calibration"].scores  # a mixture of real families
    assert res.settings["groups"] == [["flipflop-bits3", "flipflop-bits3-gain3", "flipflop-bits3-rank3"],
                                      ["path-2d", "path-2d-gain3", "path-2d-rank2"],
                                      ["dd-ch1", "dd-ch1-gain3"]]
    assert res.settings["home_condition"] == "flipflop-bits3"
    suite = res.suites["discriminability"]
    assert len(suite.details["families"]["pairs"]) == 5 and "family_witness_auroc" in suite.scores
    emb = evaluate_metric("control_scale-weights", suites="discriminability", max_members=4, n_boot=50,
                          progress=False)
    assert emb.suites["discriminability"].details["groups"].startswith("skipped: the release declares no")
    assert "family_witness_auroc" not in emb.suites["discriminability"].scores
    assert all(len(g) >= 2 for g in emb.settings["groups"])
