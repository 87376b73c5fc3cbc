"""The reference results shipped in the package are what the harness computes on the embedded zoo."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest
from contract import assert_scores_agree

from degzoo.benchmark import evaluate_metric
from degzoo.benchmark.results import load_result
from degzoo.benchmark.scoring import metric_score
from degzoo.benchmark.suites import REFERENCE_METRICS, matched_statistics_of, protocol_differences
from degzoo.benchmark.twins import matched_statistics
from degzoo.zoo import open_release

REFERENCE_DIR = Path(str(resources.files("degzoo") / "reference" / "metrics"))
CONTROL_DIR = REFERENCE_DIR.parent / "negative-controls"
RECOMPUTED_SUITES = ("conformance", "discriminability", "reliability")
#: The releases with shipped reference results: the embedded zoo (top folder) and zoo-v2 (its subfolder).
RELEASES = {None: REFERENCE_DIR, "zoo-v2": REFERENCE_DIR / "zoo-v2"}


@pytest.mark.parametrize("release", list(RELEASES))
def test_reference_results_cite_their_zoo(release):
    files = sorted(RELEASES[release].glob("*.json"))
    assert {p.stem for p in files} >= {"behaviour_ood", "dsa", "weights_perm", "cka"}
    opened = open_release(release)
    for path in files:
        result = load_result(path)
        assert result.zoo == {"release": opened.name, "manifest_sha256": opened.sha256}, path.name


@pytest.mark.parametrize(("release", "name"), [(None, "cka"), (None, "behaviour_ood"), ("zoo-v2", "cka"),
                                              (None, "control_noise-representation")])
def test_recomputed_subset_matches_shipped(release, name):
    """On any machine, within the contract's score tolerance (the shipped files may come from another CPU).

    The noise control is a canary: its distances hash every parameter bit of the networks a suite
    builds, so any change to a construction that a resumed shipped suite did not see moves them
    (its discriminability went stale that way once, 0.473 shipped against 0.456 recomputed)."""
    folder = CONTROL_DIR if name.startswith("control_") else REFERENCE_DIR
    shipped = load_result((folder if release is None else folder / release) / f"{name}.json")
    settings = shipped.settings
    again = evaluate_metric(name, release=release, suites=RECOMPUTED_SUITES,
                            max_members=settings["max_members"], seed=settings["seed"],
                            n_boot=settings["n_boot"], progress=False)
    for suite in RECOMPUTED_SUITES:
        old, new = shipped.suites[suite], again.suites[suite]
        assert new.status == old.status and old.status in ("ok", "failed"), suite  # controls fail conformance
        for score, value in old.scores.items():
            assert_scores_agree(value.value, new.scores[score].value, f"{suite}.{score}")


@pytest.mark.parametrize("release", list(RELEASES))
def test_shipped_reference_metrics_meet_the_precision_goal(release):
    """The protocol's sizes give each level's reference metric a 95 % interval of at most ±0.05."""
    for name in REFERENCE_METRICS.values():
        result = load_result(RELEASES[release] / f"{name}.json")
        assert protocol_differences(result.settings) == {}, name
        value, low, high = metric_score(result.to_json()["suites"])
        assert (high - low) / 2 <= 0.05, f"{name}: {value:.3f} ({low:.3f}-{high:.3f})"


def test_every_shipped_result_is_built_on_todays_ground_truths():
    """A shipped result whose conformance or calibration matched other statistics than today's
    suites do is out of date: recompute it (``degzoo evaluate --resume`` reruns just those suites)."""
    shipped = [path for folder in ("metrics", "baselines", "negative-controls", "implementations")
               for path in sorted((REFERENCE_DIR.parent / folder).rglob("*.json"))]
    assert len(shipped) > 40
    stale = []
    for path in shipped:
        result = load_result(path)
        today = tuple(sorted(matched_statistics(result.metric.get("level"))))
        for name in ("conformance", "calibration"):
            suite = result.suites.get(name)
            built = matched_statistics_of(name, suite) if suite is not None else None
            if built is not None and built != today:
                stale.append(f"{path.relative_to(REFERENCE_DIR.parent)} {name}: {built} (today {today})")
    assert not stale, "\n".join(stale)
