"""Negative controls: well-formed metrics that measure nothing of a solution, and the benchmark's
self-test — every control ranks in a lower tier than the reference metric of its level."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from degzoo.benchmark import evaluate_metric
from degzoo.benchmark.suites import REFERENCE_METRICS
from degzoo.benchmark.twins import make_twin, member, perturb
from degzoo.errors import InvalidParameterError
from degzoo.leaderboard.tiers import RANKED_SUITES, rank_documents, suite_main_score
from degzoo.metrics import NEGATIVE_CONTROLS, available, control_names, get
from degzoo.zoo import open_release

REFERENCE = Path(str(resources.files("degzoo") / "reference"))
CONTROL_DIR = REFERENCE / "negative-controls"
#: How far below the reference metric of its level a control's main score must be.
MARGIN = 0.05
#: Recomputed here (the others simulate many networks: their shipped results are checked only).
CHEAP = ("control_noise-weights", "control_scale-weights", "control_spectrum-weights",
         "control_order-weights", "control_noise-behaviour", "control_order-dynamics")
#: Largest change of a suite's main score between the shipped and a recomputed result: rank
#: statistics over distances that are exactly tied up to float rounding (a scale control on
#: networks of equal size) may order differently on another machine's BLAS.
MAIN_TOLERANCE = 0.15


@pytest.fixture(scope="module")
def ens():
    return open_release().ensemble("flipflop-bits2").subset([0, 1, 2, 3])


def test_every_control_is_registered_per_level_and_marked():
    names = control_names()
    assert set(names) <= set(available())
    assert {n.split("-")[0] for n in names} == set(NEGATIVE_CONTROLS)
    for name in names:
        m = get(name)
        assert m.negative_control and m.name == name and name.startswith("control_")
        assert m.level == name.split("-", 1)[1] == m.identity["level"]
        assert hasattr(m, "member_scores") == (m.level == "behaviour")


def test_a_control_refuses_a_level_it_cannot_pose_as():
    with pytest.raises(InvalidParameterError, match="level must be one of weights, dynamics"):
        NEGATIVE_CONTROLS["control_spectrum"](level="behaviour")


def test_order_control_is_the_position_difference(ens):
    D = get("control_order-weights").pairwise(ens)
    i = np.arange(4)
    np.testing.assert_array_equal(D, np.abs(i[:, None] - i[None, :]))


def test_scale_control_sees_only_the_size_of_w_hh(ens):
    p = {k: np.asarray(v).copy() for k, v in ens.params.items()}
    p["W_hh"][1] = 2.0 * p["W_hh"][0]  # member 1: member 0's connectivity at twice the size
    p["W_in"][1] = p["W_in"][0]
    two = ens.with_params(p)
    w = np.asarray(p["W_hh"][0], np.float64)
    D = get("control_scale-weights").pairwise(two)
    assert D[0, 1] == pytest.approx(np.sqrt(np.mean(w**2)), rel=1e-6)


def test_noise_control_is_blind_to_relabelling_but_not_to_float_rounding(ens):
    m = get("control_noise-weights")
    rng = np.random.default_rng(0)
    u = m.embed(ens)[:, 0]
    assert np.all((u >= 0) & (u < 1)) and np.unique(u).size == 4
    for kind in ("permutation", "sign_flip"):
        np.testing.assert_array_equal(m.embed(make_twin(ens, kind, rng))[:, 0], u)
    jitter = perturb(member(ens, 0), [1e-6], rng)
    assert m.embed(ens.subset([0]).with_params(jitter))[0, 0] != u[0]


#: Releases with shipped results: the embedded zoo (the folders' top level) and zoo-v2 (a subfolder).
RELEASES = ("", "zoo-v2")


#: Shipped baselines that read one summary statistic or match units by index: each must rank a tier
#: and the margin below the reference of its level (issue 22's goal). The fixed-point and Lyapunov
#: spectra read a summary of the dynamics, which the trained matches of
#: degzoo.benchmark.trained_matches share with another solution. rsatoolbox's RSA compares solutions.
SHORTCUT_BASELINES = ("unit_correlation", "sorted_weights", "weights_frobenius", "fixed_point_spectrum",
                      "lyapunov_spectrum")


def _shipped(release: str = "") -> dict[str, dict]:
    docs = {}
    for folder in (REFERENCE / "metrics", CONTROL_DIR, REFERENCE / "baselines"):
        docs.update({p.stem: json.loads(p.read_text()) for p in sorted((folder / release).glob("*.json"))})
    return docs


def _board(docs: dict[str, dict], level: str) -> dict[str, tuple[float, int]]:
    """(main score, tier) of every result of ``level``, ranked together as on the leaderboard."""
    group = {n: d for n, d in docs.items() if d["metric"]["level"] == level}
    names = sorted(group)
    ranks = rank_documents([group[n] for n in names], names)
    return {n: (r.score, r.tier) for n, r in zip(names, ranks, strict=True)}


def _assert_below(docs: dict[str, dict], name: str, *, tier: bool) -> None:
    level = docs[name]["metric"]["level"]
    board = _board(docs, level)
    ref = REFERENCE_METRICS[level]
    (ref_score, ref_tier), (score, control_tier) = board[ref], board[name]
    assert score <= ref_score - MARGIN, f"{name} {score:.3f} vs {ref} {ref_score:.3f}"
    if tier:
        assert control_tier > ref_tier, f"{name} ({score:.3f}) in tier {ref_tier} with {ref} {ref_score:.3f}"


@pytest.mark.parametrize("where", RELEASES)
def test_shipped_control_results_cover_every_control_and_cite_their_zoo(where):
    release = open_release(where or None)
    docs = _shipped(where)
    assert set(control_names()) <= set(docs)
    for name in control_names():
        assert docs[name]["zoo"] == {"release": release.name, "manifest_sha256": release.sha256}, name
        assert docs[name]["metric"]["name"] == name


@pytest.mark.parametrize("where", RELEASES)
def test_every_shipped_control_scores_at_least_the_margin_below_the_reference_of_its_level(where):
    docs = _shipped(where)
    for name in control_names():
        _assert_below(docs, name, tier=False)


@pytest.mark.parametrize("where", RELEASES)
@pytest.mark.parametrize("name", control_names())
def test_shipped_control_ranks_in_a_lower_tier_than_the_reference_of_its_level(name, where):
    _assert_below(_shipped(where), name, tier=True)


@pytest.mark.parametrize("where", RELEASES)
@pytest.mark.parametrize("name", SHORTCUT_BASELINES)
def test_a_shipped_shortcut_baseline_ranks_a_tier_and_the_margin_below_the_reference(name, where):
    _assert_below(_shipped(where), name, tier=True)


def test_recomputed_controls_match_shipped_and_still_rank_below():
    docs = _shipped()
    for name in CHEAP:
        settings = docs[name]["settings"]
        again = evaluate_metric(name, suites=list(RANKED_SUITES), max_members=settings["max_members"],
                                seed=settings["seed"], n_boot=settings["n_boot"], progress=False).to_json()
        for suite in RANKED_SUITES:
            old = suite_main_score(suite, docs[name]["suites"][suite])
            new = suite_main_score(suite, again["suites"][suite])
            if old is None or new is None:
                assert old == new, f"{name}.{suite}: status changed"
            else:
                assert abs(old[0] - new[0]) <= MAIN_TOLERANCE, f"{name}.{suite}: {old[0]:.3f} → {new[0]:.3f}"
        docs[name] = again
        _assert_below(docs, name, tier=True)
