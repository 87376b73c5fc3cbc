"""The embedded zoo ships with the package, is complete, and is reproduced by its own recipe."""

from __future__ import annotations

import numpy as np
import pytest
from contract import MEDIAN_OOD_FACTOR, assert_intervals_overlap, assert_retrained_within_contract

from degzoo import metrics
from degzoo.environment import same_bits
from degzoo.metrics.degeneracy import degeneracy
from degzoo.tasks import get_task
from degzoo.zoo import Ensemble, Release, embedded_path, load, open_release
from degzoo.zoo.builder import build_condition
from degzoo.zoo.recipes import recipe_from_dict


@pytest.fixture(scope="module")
def embedded() -> Release:
    return open_release()  # verifies every file against the manifest


def test_embedded_zoo_is_complete(embedded):
    assert embedded.root == embedded_path()
    conditions = {c["id"]: c for c in embedded.conditions}
    assert all(c["members"] >= 16 for c in conditions.values())
    tasks = {c["task"]["name"] for c in conditions.values()}
    assert tasks == {"flipflop", "sine", "delayed_discrimination", "path_integration"}
    factors = {lad["factor"] for lad in embedded.ladders}
    assert {"complexity", "width", "regularisation", "feature_learning"} <= factors
    for ladder in embedded.ladders:
        assert all(c in conditions for c in ladder["conditions"])
        task = conditions[ladder["conditions"][0]]["task"]["name"]
        if ladder["factor"] == "complexity" and task != "path_integration":
            assert len(ladder["conditions"]) >= 3, ladder["name"]
    card = (embedded.root / "README.md").read_text()
    assert card.startswith("---\n") and "Build:" in card
    assert sum(p.stat().st_size for p in embedded.root.rglob("*") if p.is_file()) < 25e6


def test_load_by_condition_offline(embedded, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ens = load("flipflop", bits=3)
    assert ens.name == "flipflop-bits3" and len(ens) >= 16
    assert load("flipflop", bits=3, l1=1e-5).name == "flipflop-bits3-l1-1e-5"


def test_trained_flipflop_networks_hold_their_bits(embedded):
    ens = embedded.ensemble("flipflop-bits3")
    converged = ens.converged
    assert converged.sum() >= 12
    task = get_task("flipflop", bits=3, trial_length=60)
    x, y = task.probe(n=32, seed=5)
    out = ens.run(x)[0][converged]
    assert np.mean(np.sign(out) == np.sign(y)) > 0.99


def test_recipe_reproduces_a_shipped_condition(embedded, tmp_path):
    """Retrain flipflop-bits1 from the shipped recipe and seeds: the shipped networks, within the contract.

    Bitwise where the shipped build recorded this machine's kernels, BLAS and threads; elsewhere the
    README's cross-machine tolerances (tests/contract.py), since float32 training is chaotic and the
    shipped zoo may have been built on another CPU. The whole condition is retrained because
    members are trained as one batch.
    """
    ens = embedded.ensemble("flipflop-bits1")
    recipe = recipe_from_dict(embedded.manifest["recipe"])
    assert tuple(int(s) for s in ens.seeds) == recipe.condition("flipflop-bits1").seeds
    build_condition(embedded.manifest["recipe"], "flipflop-bits1", str(tmp_path))
    with Ensemble.open(tmp_path / "ensembles" / "flipflop-bits1.h5") as again:
        if same_bits(ens.provenance.get("environment")):
            np.testing.assert_array_equal(again.members["steps"], ens.members["steps"])
            for k, shipped in ens.params.items():
                np.testing.assert_array_equal(again.params[k], shipped, err_msg=k)
            return
        assert_retrained_within_contract(ens, again)
        for level in ("weights_perm", "dsa", "cka"):
            metric = metrics.get(level)
            assert_intervals_overlap(degeneracy(ens, metric), degeneracy(again, metric), level)
        ood = metrics.get("behaviour_ood")
        median_old = np.median(ood.member_scores(ens))
        median_new = np.median(ood.member_scores(again))
        assert 1 / MEDIAN_OOD_FACTOR <= median_new / median_old <= MEDIAN_OOD_FACTOR, (median_new, median_old)


def test_a_build_is_bit_identical_on_the_same_machine(tmp_path):
    """The contract's same-machine half: the same condition built twice gives the same bits."""
    recipe = {
        "release": {"name": "twice", "seed": 3},
        "defaults": {"members": 3, "hidden": 8,
                     "training": {"lr": 1e-2, "batch_size": 8, "max_steps": 60, "steps_per_epoch": 20}},
        "condition": [{"id": "ff", "task": {"name": "flipflop", "bits": 2, "trial_length": 20}}],
    }
    for run in ("a", "b"):
        build_condition(recipe, "ff", str(tmp_path / run))
    files = [tmp_path / run / "ensembles" / "ff.h5" for run in ("a", "b")]
    with Ensemble.open(files[0]) as a, Ensemble.open(files[1]) as b:
        assert same_bits(a.provenance["environment"]) and same_bits(b.provenance["environment"])
        for k in a.params:
            np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)
        np.testing.assert_array_equal(a.members["loss_curve"], b.members["loss_curve"])
