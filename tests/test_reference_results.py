"""The reference results shipped in the package are what the harness computes on the embedded zoo."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from contract import assert_scores_agree

from degzoo.benchmark import evaluate_metric
from degzoo.benchmark.results import load_result
from degzoo.benchmark.scoring import metric_score
from degzoo.benchmark.suites import REFERENCE_METRICS, protocol_differences
from degzoo.zoo import open_release

REFERENCE_DIR = Path(str(resources.files("degzoo") / "reference" / "metrics"))
RECOMPUTED_SUITES = ("conformance", "discriminability", "reliability")


def test_reference_results_cite_the_embedded_zoo():
    files = sorted(REFERENCE_DIR.glob("*.json"))
    assert {p.stem for p in files} >= {"behaviour_ood", "dsa", "weights_perm", "cka"}
    release = open_release()
    for path in files:
        result = load_result(path)
        assert result.zoo == {"release": release.name, "manifest_sha256": release.sha256}, path.name


@pytest.mark.parametrize("name", ["cka", "behaviour_ood"])
def test_recomputed_subset_matches_shipped(name):
    """On any machine, within the contract's score tolerance (the shipped files may come from another CPU)."""
    shipped = load_result(REFERENCE_DIR / f"{name}.json")
    settings = shipped.settings
    again = evaluate_metric(name, suites=RECOMPUTED_SUITES, max_members=settings["max_members"],
                            seed=settings["seed"], n_boot=settings["n_boot"], progress=False)
    for suite in RECOMPUTED_SUITES:
        old, new = shipped.suites[suite], again.suites[suite]
        assert new.status == old.status == "ok", suite
        for score, value in old.scores.items():
            assert_scores_agree(value.value, new.scores[score].value, f"{suite}.{score}")


def test_shipped_reference_metrics_meet_the_precision_goal():
    """The protocol's sizes give each level's reference metric a 95 % interval of at most ±0.05."""
    for name in REFERENCE_METRICS.values():
        result = load_result(REFERENCE_DIR / f"{name}.json")
        assert protocol_differences(result.settings) == {}, name
        value, low, high = metric_score(result.to_json()["suites"])
        assert (high - low) / 2 <= 0.05, f"{name}: {value:.3f} ({low:.3f}-{high:.3f})"
