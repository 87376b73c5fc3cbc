"""The metric scorecard (``degzoo.benchmark.evaluate_metric`` and ``degzoo evaluate``) on a tiny zoo."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import degzoo.progress
from degzoo.benchmark import SUITES, evaluate_metric, format_scorecard, harness, load_result, validate_result
from degzoo.benchmark.harness import NOT_RUN, EvaluationInterrupted
from degzoo.benchmark.scoring import metric_score
from degzoo.benchmark.suites import Settings
from degzoo.benchmark.twins import MATCHED_STATISTICS
from degzoo.errors import InvalidParameterError, ValidationError
from degzoo.metrics import CKA, FrobeniusWeightDistance, Metric, parallel
from degzoo.zoo import Release
from degzoo.zoo.builder import build_release

RECIPE = """
[release]
name = "tiny-bench"
seed = 11

[defaults]
members = 4
hidden = 8
training = { lr = 1e-2, batch_size = 16, max_steps = 30, steps_per_epoch = 10 }

[[condition]]
id = "ff2"
task = { name = "flipflop", bits = 2, trial_length = 20 }

[[condition]]
id = "ff2-l1-1e-3"
task = { name = "flipflop", bits = 2, trial_length = 20 }
controls = [{ name = "l1", weight = 1e-3 }]

[[condition]]
id = "ff2-l1-1e-2"
task = { name = "flipflop", bits = 2, trial_length = 20 }
controls = [{ name = "l1", weight = 1e-2 }]

[[ladder]]
name = "ff-l1"
factor = "regularisation"
conditions = ["ff2", "ff2-l1-1e-3", "ff2-l1-1e-2"]
values = [0.0, 1e-3, 1e-2]
"""

FAST = {"n_boot": 200, "progress": False, "time_limit": 60.0}


@pytest.fixture(scope="session")
def tiny_release(tmp_path_factory) -> Release:
    root = tmp_path_factory.mktemp("bench")
    (root / "tiny.toml").write_text(RECIPE)
    return Release(build_release(root / "tiny.toml", root / "release", workers=1, progress=False))


# --- metrics used by the tests ---------------------------------------------------------------


@dataclass
class LyingFrobenius(FrobeniusWeightDistance):
    """Frobenius distance (matches units by index) that falsely claims permutation invariance."""

    name: ClassVar[str] = "lying_frobenius"
    invariances: ClassVar[frozenset[str]] = frozenset({"permutation"})


@dataclass
class RawTrajectoryDistance(Metric):
    """Euclidean distance between raw probe-set trajectories, falsely claiming orthogonal invariance."""

    name: ClassVar[str] = "raw_trajectories"
    level: ClassVar[str] = "representation"
    invariances: ClassVar[frozenset[str]] = frozenset({"orthogonal", "permutation"})

    def embed(self, ensemble: Any) -> np.ndarray:
        return ensemble.trajectories().reshape(len(ensemble), -1).astype(np.float64)

    def compare(self, a: np.ndarray, b: np.ndarray, symmetric: bool) -> np.ndarray:
        return np.sqrt(((a[:, None] - b[None]) ** 2).sum(-1))


@dataclass
class Flaky(FrobeniusWeightDistance):
    """Works on small calls, raises on larger ones: 'raises on some pairs'."""

    name: ClassVar[str] = "flaky"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        if a["flat"].shape[0] * b["flat"].shape[0] >= 9:
            raise RuntimeError("boom on pair (0, 2)")
        return super().compare(a, b, symmetric)


@dataclass
class NaNMetric(FrobeniusWeightDistance):
    """NaN for one pair of every call of several pairs (one-pair calls are fine)."""

    name: ClassVar[str] = "nan_metric"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        out = super().compare(a, b, symmetric)
        if out.size > 1:
            out[0, -1] = np.nan
        return out


@dataclass
class AllNaN(FrobeniusWeightDistance):
    name: ClassVar[str] = "all_nan"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        return np.full(super().compare(a, b, symmetric).shape, np.nan)


@dataclass
class ComplexOutput(FrobeniusWeightDistance):
    name: ClassVar[str] = "complex_output"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        return super().compare(a, b, symmetric) * (1 + 1j)


@dataclass
class Huge(FrobeniusWeightDistance):
    name: ClassVar[str] = "huge"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        return super().compare(a, b, symmetric) * 1e306


@dataclass
class WrongShape(FrobeniusWeightDistance):
    name: ClassVar[str] = "wrong_shape"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        return super().compare(a, b, symmetric)[:, :1]


@dataclass
class Slow(FrobeniusWeightDistance):
    name: ClassVar[str] = "slow"
    pause: float = 0.4

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        time.sleep(self.pause)
        return super().compare(a, b, symmetric)


def _roundtrip(result, path) -> dict:
    result.write(path)
    loaded = load_result(path)
    assert loaded.to_json() == json.loads(path.read_text())
    return loaded.to_json()


# --- tests -----------------------------------------------------------------------------------


def test_honest_metric_scorecard(tiny_release, tmp_path):
    suites = [s for s in SUITES if s != "agreement"]
    result = evaluate_metric("weights_perm", tiny_release, suites=suites, **{**FAST, "time_limit": None})
    data = _roundtrip(result, tmp_path / "wp.json")
    assert validate_result(data, manifest_sha256=tiny_release.sha256) == []
    assert list(data["suites"]) == suites
    statuses = {k: v["status"] for k, v in data["suites"].items()}
    assert statuses == dict.fromkeys(suites, "ok"), statuses
    conf = data["suites"]["conformance"]
    assert conf["scores"]["checks_passed"]["value"] == 1.0
    # the aligned weight distance is not orthogonally invariant, and says so (no claim, not required)
    ortho = next(c for c in conf["details"]["checks"] if c["check"] == "invariance:orthogonal")
    assert ortho["claimed"] is False and ortho["holds"] is False and ortho["passed"] is True
    cal = data["suites"]["calibration"]["scores"]
    assert cal["noise_spearman"]["value"] > 0.8  # more weight noise, larger distance
    # the release declares no solution families: its shared-task conditions are no mixture ground truth
    assert "mixture_ari" not in cal
    assert data["suites"]["calibration"]["details"]["mixture"].startswith("skipped: the release declares no")
    trend = data["suites"]["trend"]
    assert trend["details"]["ladders"][0]["ladder"] == "ff-l1"
    assert trend["details"]["ladders"][0]["expected"] == "decrease"
    assert 0 <= trend["scores"]["evidence_share"]["value"] <= 1
    rel = data["suites"]["reliability"]["scores"]
    assert rel["test_retest_spearman"]["value"] == 1.0  # weights do not depend on the probe set
    group = next(g for g in data["settings"]["groups"] if data["settings"]["home_condition"] in g)
    per_condition = data["suites"]["reliability"]["details"]["conditions"]
    assert [c["condition"] for c in per_condition] == group  # the mean over the home group
    assert rel["test_retest_spearman"]["n"] == sum(len(c["members"]) for c in per_condition)
    assert "degeneracy_n4" in data["suites"]["sample_size"]["scores"]
    assert data["cost"]["pairs"] > 0 and data["cost"]["per_suite"]["calibration"]["pairs"] > 0
    for suite in data["suites"].values():
        for s in suite["scores"].values():
            assert s["low"] <= s["high"] and s["n"] >= 0
    assert data["settings"]["max_members"] == Settings.max_members and data["settings"]["groups"]
    text = format_scorecard(result)
    assert "conformance" in text and "checks_passed" in text and "weights_perm" in text
    # the scorecard says which scores are main, which way is better, and the score the board ranks by
    assert "*↑ checks_passed" in text and "*↑ twin_auroc" in text and " ↓ self_distance_ratio" in text
    # a quick run (200 resamples, no agreement suite) is not the board's protocol: no board score
    assert ("not rankable: the board's protocol differs (n_boot 200 instead of 1000; suites agreement "
            "not run); no board score") in text
    assert not any(line.startswith("board score") for line in text.splitlines())
    # the same suites at the board's protocol: the score the board ranks by
    data["settings"].update(n_boot=Settings.n_boot, suites=list(SUITES))
    board = metric_score(data["suites"])
    text = format_scorecard(data)
    assert f"board score {board[0]:.3f} [{board[1]:.3f}, {board[2]:.3f}]" in text
    assert "not rankable" not in text and "INCOMPLETE" not in text


def test_false_invariance_claim_fails_with_evidence(tiny_release, tmp_path):
    result = evaluate_metric(LyingFrobenius(), tiny_release, suites=["conformance"], **FAST)
    conf = result.suites["conformance"]
    assert conf.status == "failed"
    assert "claims 'permutation' invariance" in conf.message
    check = next(c for c in conf.details["checks"] if c["check"] == "invariance:permutation")
    assert check["required"] and not check["passed"]
    assert min(check["twin_distances"]) > 0.05 * check["median_between"]
    assert conf.scores["twin_ratio_permutation"].value > 0.05
    assert conf.scores["checks_passed"].value < 1
    _roundtrip(result, tmp_path / "liar.json")


def test_trajectory_invariances_via_rotated_states(tiny_release):
    honest = evaluate_metric(CKA(), tiny_release, suites=["conformance"], **FAST)
    conf = honest.suites["conformance"]
    assert conf.status == "ok", conf.message
    assert {c["check"] for c in conf.details["checks"]} >= {
        "invariance:permutation", "invariance:sign_flip", "invariance:orthogonal", "invariance:scale"}
    assert all(c["passed"] for c in conf.details["checks"])
    liar = evaluate_metric(RawTrajectoryDistance(), tiny_release, suites=["conformance"], **FAST)
    conf = liar.suites["conformance"]
    assert conf.status == "failed"
    assert "'orthogonal'" in conf.message and "'permutation'" in conf.message


@pytest.mark.parametrize(
    "metric, expect",
    [
        # Flaky raises on calls of >= 9 pairs: conformance (3 × 3) and cost (3 members) fail, the
        # trend (2 members per condition) works
        (Flaky(), {"conformance": "error", "trend": "ok", "cost": "error"}),
        (NaNMetric(), {"conformance": "failed", "trend": "error", "cost": "error"}),
        (WrongShape(), {"conformance": "error", "trend": "error", "cost": "error"}),
        ("no_such_module_for_degzoo:Metric", {"conformance": "error", "trend": "error", "cost": "error"}),
        (AllNaN(), {"conformance": "error", "trend": "error", "cost": "error"}),
        (ComplexOutput(), {"conformance": "error", "trend": "error", "cost": "error"}),
        (Huge(), {"conformance": "error", "trend": "error", "cost": "error"}),
    ],
    ids=["raises-on-some-pairs", "nan", "wrong-shape", "import-failure", "all-nan", "complex", "huge"],
)
def test_broken_metrics_are_recorded_and_the_run_completes(tiny_release, tmp_path, metric, expect):
    result = evaluate_metric(metric, tiny_release, suites=list(expect), max_members=2, **FAST)
    data = _roundtrip(result, tmp_path / "broken.json")
    got = {k: v["status"] for k, v in data["suites"].items()}
    assert got == expect
    for name, status in expect.items():
        if status != "ok":
            assert data["suites"][name]["message"]
    messages = " ".join(s["message"] or "" for s in data["suites"].values())
    if isinstance(metric, Flaky):
        assert "boom on pair" in messages
    elif isinstance(metric, NaNMetric):
        assert "non-finite" in messages
    elif isinstance(metric, WrongShape):
        assert "shape" in messages
    elif isinstance(metric, AllNaN):
        assert data["suites"]["conformance"]["message"].startswith(
            "MetricError: metric 'all_nan': compare returned no finite value (all 9 are NaN)")
    elif isinstance(metric, ComplexOutput):
        assert "metric 'complex_output': compare returned complex numbers" in messages
    elif isinstance(metric, Huge):
        assert "metric 'huge': compare returned" in messages and "beyond 1e+100" in messages
    else:
        assert "could not be loaded" in messages and "no_such_module_for_degzoo" in messages
        assert data["metric"]["level"] is None


def test_time_limit_is_reported_as_timeout(tiny_release, tmp_path):
    result = evaluate_metric(Slow(), tiny_release, suites=["trend", "cost"], n_boot=50, progress=False,
                             time_limit=0.6)
    trend = result.suites["trend"]
    assert trend.status == "timeout" and "time limit" in trend.message
    assert trend.seconds < 5
    assert result.suites["cost"].status in ("ok", "timeout")
    _roundtrip(result, tmp_path / "slow.json")
    # a budget for the whole scorecard: suites left when it is spent are timeouts too
    result = evaluate_metric(Slow(), tiny_release, suites=["trend", "cost"], n_boot=50, progress=False,
                             budget=0.3)
    assert result.suites["trend"].status == "timeout"
    assert result.suites["cost"].status == "timeout" and "budget" in result.suites["cost"].message
    assert result.settings["budget"] == 0.3


def test_a_hung_metric_call_is_abandoned(tiny_release, monkeypatch):
    monkeypatch.setattr(harness, "HARD_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(harness, "HARD_FACTOR", 1.0)
    t0 = time.perf_counter()
    result = evaluate_metric(Slow(pause=3.0), tiny_release, suites=["conformance"], n_boot=50,
                             progress=False, time_limit=0.3)
    assert time.perf_counter() - t0 < 2.5
    conf = result.suites["conformance"]
    assert conf.status == "timeout" and "abandoned" in conf.message


@dataclass
class Stepping(FrobeniusWeightDistance):
    """A long compare made of short steps that calls checkpoint() between them (as DSA does)."""

    name: ClassVar[str] = "stepping"
    steps: int = 1000

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        from degzoo.metrics.base import checkpoint

        for _ in range(self.steps):
            checkpoint()
            time.sleep(0.01)
        return super().compare(a, b, symmetric)


def test_an_abandoned_call_stops_at_its_next_checkpoint(tiny_release, monkeypatch):
    monkeypatch.setattr(harness, "HARD_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(harness, "HARD_FACTOR", 1.0)
    result = evaluate_metric(Stepping(), tiny_release, suites=["conformance"], n_boot=50,
                             progress=False, time_limit=0.3)
    assert result.suites["conformance"].status == "timeout"
    for _ in range(200):  # the 10 s call was cancelled: its thread ends within a step (a hung
        # call of an earlier test, which has no checkpoint, ends within its 3 s pause)
        if not harness.abandoned_suites():
            break
        time.sleep(0.02)
    assert harness.abandoned_suites() == []


def test_progress_inside_a_suite(tiny_release, monkeypatch, capsys):
    monkeypatch.setattr(harness, "TTY_PROGRESS_SECONDS", 0.05)
    monkeypatch.setattr(degzoo.progress, "LOG_INTERVAL", 0.5)
    evaluate_metric(Stepping(steps=30), tiny_release, suites=["conformance"], n_boot=50, time_limit=None)
    log = capsys.readouterr().err  # not a terminal: a plain line every 0.5 s of a 1.5 s call, no \r
    running = [line for line in log.splitlines() if "conformance       running" in line]
    assert 1 <= len(running) <= 20 and "\r" not in log  # about 6 s of calls: not one line per 0.05 s
    assert "metric call(s)" in running[0]
    monkeypatch.setattr(harness.sys.stderr, "isatty", lambda: True)
    evaluate_metric(Stepping(steps=30), tiny_release, suites=["conformance"], n_boot=50, time_limit=None)
    log = capsys.readouterr().err  # a terminal: one status line refreshed in place, then cleared
    assert log.count("\r[stepping] conformance       running") >= 5
    assert "\r\033[K[stepping] conformance       failed" in log  # Frobenius is not permutation invariant


def test_result_file_names_carry_given_parameters():
    assert harness.result_stem("dsa") == "dsa.json"
    stem = harness.result_stem("dsa", {"rank": 10, "score": "euclidean"})
    assert stem == "dsa--rank-10--score-euclidean.json"
    assert harness.result_stem("dsa", {"rank": 10}) != harness.result_stem("dsa", {"rank": 20})
    long = harness.result_stem("dsa", {f"p{i}": "x" * 20 for i in range(10)})
    assert long.startswith("dsa--params-") and len(long) < 40


def test_invalid_metric_names_are_refused_before_anything_runs(tiny_release, tmp_path):
    metric = FrobeniusWeightDistance()
    for bad in ("x" * 300, "evil\x1b[2Jname"):
        metric.name = bad  # an instance attribute: what a careless third party can do
        result = evaluate_metric(metric, tiny_release, suites=["conformance"], **FAST)
        assert result.metric["level"] is None
        assert "could not be loaded" in result.suites["conformance"].message
        assert len(result.metric["name"]) <= 100 and result.metric["name"].isprintable()
        _roundtrip(result, tmp_path / "bad.json")


def test_agreement_with_the_reference_metric(tiny_release):
    result = evaluate_metric("procrustes", tiny_release, suites=["agreement"], max_members=3, **FAST)
    agree = result.suites["agreement"]
    assert agree.status == "ok", agree.message
    assert agree.details["reference"] == "cka"
    assert 0.0 < agree.scores["spearman"].value <= 1.0  # shape metrics agree with CKA
    itself = evaluate_metric("cka", tiny_release, suites=["agreement"], **FAST)
    assert itself.suites["agreement"].status == "skipped"


def test_unknown_suite_is_a_usage_error(tiny_release):
    from degzoo.errors import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="unknown suite"):
        evaluate_metric("weights_frobenius", tiny_release, suites="conformance,nonsense")


def test_written_file_with_nan_is_rejected(tiny_release, tmp_path):
    result = evaluate_metric("weights_perm", tiny_release, suites=["conformance"], **FAST)
    path = result.write(tmp_path / "ok.json")
    text = path.read_text().replace('"value": 1.0', '"value": NaN', 1)
    assert "NaN" in text
    (tmp_path / "nan.json").write_text(text)
    with pytest.raises(ValidationError, match="non-finite"):
        load_result(tmp_path / "nan.json")


def test_cli_evaluate_writes_result_and_prints_table(tiny_release, tmp_path, capsys):
    from degzoo.cli import main

    code = main(["evaluate", "--metric", "weights_frobenius", "--release", str(tiny_release.root),
                 "--out", str(tmp_path / "out"), "--max-members", "3", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    path = tmp_path / "out" / "results" / "weights_frobenius.json"
    assert path.exists() and f"wrote {path}" in out
    assert "degzoo scorecard: weights_frobenius" in out and "discriminability" in out
    data = load_result(path).to_json()
    assert set(data["suites"]) == set(SUITES)
    assert data["zoo"]["manifest_sha256"] == tiny_release.sha256
    assert data["suites"]["agreement"]["details"]["reference"] == "weights_perm"


@dataclass
class StopsOnce(FrobeniusWeightDistance):
    """Frobenius distance that presses Ctrl-C inside one suite, and counts its calls per suite."""

    name: ClassVar[str] = "stops_once"
    calls: ClassVar[dict[str, int]] = {}
    stop_in: ClassVar[str | None] = None

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        suite = threading.current_thread().name.removeprefix("degzoo-suite-")
        StopsOnce.calls[suite] = StopsOnce.calls.get(suite, 0) + 1
        if suite == StopsOnce.stop_in:
            raise KeyboardInterrupt
        return super().compare(a, b, symmetric)


def test_a_stopped_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(tiny_release, tmp_path):
    suites = ["conformance", "discriminability", "reliability"]
    path = tmp_path / "results" / "stops_once.json"
    StopsOnce.stop_in = "discriminability"
    with pytest.raises(EvaluationInterrupted) as stop:  # a KeyboardInterrupt: a loop over metrics stops
        evaluate_metric(StopsOnce(), tiny_release, suites=suites, checkpoint=path, **FAST)
    stopped = stop.value.result
    on_disk = load_result(path)
    # conformance finished (the index-matched distance fails it: relabelled twins are far)
    assert on_disk.cost["interrupted"] and on_disk.suites["conformance"].status == "failed"
    not_run = on_disk.suites["reliability"]
    assert not_run.status == "error" and not_run.message == NOT_RUN
    assert stopped.suites["discriminability"].status == "error"

    StopsOnce.stop_in, StopsOnce.calls = None, {}
    resumed = evaluate_metric(StopsOnce(), tiny_release, suites=suites, checkpoint=path, resume=True, **FAST)
    assert "conformance" not in StopsOnce.calls  # taken from the checkpoint, not run again
    assert resumed.cost["resumed_suites"] == ["conformance"] and "interrupted" not in resumed.cost
    assert "s in this run" in format_scorecard(resumed)
    assert "(conformance taken from the checkpoint of an earlier run)" in format_scorecard(resumed)
    fresh = evaluate_metric(StopsOnce(), tiny_release, suites=suites, **FAST)
    for name in suites:
        expected = "failed" if name == "conformance" else "ok"
        assert resumed.suites[name].status == expected, (name, resumed.suites[name].message)
        assert resumed.suites[name].to_json()["scores"] == fresh.suites[name].to_json()["scores"], name
    assert load_result(path).to_json()["suites"] == resumed.to_json()["suites"]  # the file is final


SUBMISSION = {"name": "Stops once", "authors": "A. Author", "code_url": None, "paper_url": None,
              "package": {"name": "degzoo", "version": "0.1.0", "entry": "tests:StopsOnce"}}


def test_the_checkpoint_carries_the_submission_and_a_metric_that_fails_to_load_keeps_it(
        tiny_release, tmp_path):
    path = tmp_path / "stops_once.json"
    StopsOnce.stop_in, StopsOnce.calls = "reliability", {}
    with pytest.raises(EvaluationInterrupted):
        evaluate_metric(StopsOnce(), tiny_release, suites=["conformance", "reliability"], checkpoint=path,
                        submission=SUBMISSION, **FAST)
    assert json.loads(path.read_text())["submission"] == SUBMISSION  # the interrupted run's file
    before = path.read_bytes()
    broken = evaluate_metric("no_such_metric", tiny_release, suites=["conformance"], checkpoint=path,
                             resume=True, **FAST)
    assert broken.suites["conformance"].status == "error" and path.read_bytes() == before
    fresh = tmp_path / "no_such_metric.json"
    evaluate_metric("no_such_metric", tiny_release, suites=["conformance"], checkpoint=fresh, **FAST)
    assert "could not be loaded" in load_result(fresh).suites["conformance"].message


def test_resuming_another_run_is_refused_and_leaves_the_file(tiny_release, tmp_path):
    path = tmp_path / "cka.json"
    evaluate_metric("cka", tiny_release, suites=["conformance"], checkpoint=path, **FAST)
    before = path.read_bytes()
    with pytest.raises(InvalidParameterError, match=r"another run \(settings.seed differ\)"):
        evaluate_metric("cka", tiny_release, suites=["conformance"], checkpoint=path, resume=True,
                        **{**FAST, "seed": 1})
    assert path.read_bytes() == before
    with pytest.raises(InvalidParameterError, match="needs checkpoint="):
        evaluate_metric("cka", tiny_release, suites=["conformance"], resume=True, **FAST)


def test_a_suite_built_on_other_ground_truths_is_not_taken_over_on_resume(tiny_release, tmp_path,
                                                                         monkeypatch):
    """A checkpoint from before the suites gained a matched statistic is not silently reused."""
    path = tmp_path / "cka.json"
    evaluate_metric("cka", tiny_release, suites=["conformance"], checkpoint=path, **FAST)
    monkeypatch.setitem(MATCHED_STATISTICS, "representation", ("moments", "entries"))
    with pytest.warns(UserWarning, match="built with other ground truths .*; today entries, moments"):
        resumed = evaluate_metric("cka", tiny_release, suites=["conformance"], checkpoint=path, resume=True,
                                  **FAST)
    assert "resumed_suites" not in resumed.cost
    assert "definite:entries" in {c["check"] for c in resumed.suites["conformance"].details["checks"]}


def test_a_run_stopped_inside_a_suite_resumes_without_recomputing_stored_distances(tiny_release, tmp_path):
    path = tmp_path / "stops_once.json"
    StopsOnce.calls, StopsOnce.stop_in = {}, None
    fresh = evaluate_metric(StopsOnce(), tiny_release, suites=["trend"], **FAST)
    calls_fresh = StopsOnce.calls["trend"]
    assert calls_fresh >= 3  # one pairwise call per condition of the ladders

    class StopsAfterTwo(StopsOnce):
        def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
            if StopsOnce.calls.get("trend", 0) == 2:
                raise KeyboardInterrupt
            return super().compare(a, b, symmetric)

    StopsOnce.calls = {}
    with pytest.raises(EvaluationInterrupted) as stop:
        evaluate_metric(StopsAfterTwo(), tiny_release, suites=["trend"], checkpoint=path, **FAST)
    assert stop.value.result.cost["interrupted"]
    store = harness.distance_store(path)
    assert store.endswith("stops_once.distances.npz")
    StopsOnce.calls = {}
    again = {"suites": ["trend"], "checkpoint": path, "resume": True, **FAST}
    resumed = evaluate_metric(StopsOnce(), tiny_release, **again)
    assert StopsOnce.calls["trend"] == calls_fresh - 2  # the two stored conditions are not paid again
    assert resumed.suites["trend"].to_json()["scores"] == fresh.suites["trend"].to_json()["scores"]

    with open(store, "wb") as fh:
        fh.write(b"not an npz")
    with pytest.raises(InvalidParameterError, match=r"cannot be read.*delete it"):
        evaluate_metric(StopsOnce(), tiny_release, **again)


@pytest.mark.parametrize("suite", ["conformance", "calibration", "reliability"])
def test_a_suite_of_constructed_networks_resumes_without_recomputing_them(tiny_release, tmp_path, suite):
    """Twins, noise ladders, interpolations and second probe sets are kept in the store too, so a slow
    metric stopped inside conformance, calibration or reliability pays only for the calls it had not
    reached. (It is stopped on a call of several pairs: a call of paired distances, one pair per
    compare, is kept once all its pairs are done.)"""
    several: list[int] = []  # the calls of several pairs, by their number in the suite

    class CountsCalls(StopsOnce):
        def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
            if a["W_hh"].shape[0] * b["W_hh"].shape[0] > 1:
                several.append(StopsOnce.calls.get(suite, 0))
            return super().compare(a, b, symmetric)

    StopsOnce.calls, StopsOnce.stop_in = {}, None
    fresh = evaluate_metric(CountsCalls(), tiny_release, suites=[suite], **FAST)
    calls_fresh = StopsOnce.calls[suite]
    assert calls_fresh >= 4 and len(several) >= 2
    stop = several[len(several) // 2]
    stopped_at: list[int] = []

    class StopsHalfway(StopsOnce):
        def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
            done = StopsOnce.calls.get(suite, 0)
            if done == stop and not stopped_at:
                stopped_at.append(done)
                raise KeyboardInterrupt
            return super().compare(a, b, symmetric)

    path = tmp_path / "stops_once.json"
    StopsOnce.calls = {}
    with pytest.raises(EvaluationInterrupted) as interrupt:
        evaluate_metric(StopsHalfway(), tiny_release, suites=[suite], checkpoint=path, **FAST)
    assert interrupt.value.result.cost["interrupted"]
    StopsOnce.calls = {}
    resumed = evaluate_metric(StopsOnce(), tiny_release, suites=[suite], checkpoint=path, resume=True, **FAST)
    assert StopsOnce.calls[suite] == calls_fresh - stopped_at[0]
    assert resumed.suites[suite].to_json()["scores"] == fresh.suites[suite].to_json()["scores"]


@dataclass
class ReportsItsProcess(FrobeniusWeightDistance):
    """A distance that depends on the pair's order (Frobenius + a tenth of the first network's
    norm), whose all-pairs call fills the lower triangle, as ``dsa-metric``'s does. It leaves a
    file named after the process of every ``compare`` in ``log_dir``, and sleeps ``worker_pause``
    seconds in a process other than ``parent``'s."""

    name: ClassVar[str] = "reports_its_process"
    log_dir: str = ""
    parent: int = 0
    worker_pause: float = 0.0

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        pid = os.getpid()
        (Path(self.log_dir) / str(pid)).touch()
        if pid != self.parent:
            time.sleep(self.worker_pause)
        out = super().compare(a, b, False) + 0.1 * np.linalg.norm(a["flat"], axis=1)[:, None]
        if symmetric:
            out = np.tril(out, -1)
            out = out + out.T
        return out


def test_workers_score_as_one_process_does(tiny_release, tmp_path, monkeypatch):
    """Distance matrices cut into blocks for worker processes give the one-process scores, also for
    a metric whose distance depends on the pair's order; the cost suite still times a call in this
    process."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)  # however cheap, blocks go to workers
    suites = ["calibration", "trend", "discriminability", "reliability", "cost"]
    logs = {n: tmp_path / f"workers-{n}" for n in (1, 2)}
    results = {}
    for n, log in logs.items():
        log.mkdir()
        metric = ReportsItsProcess(log_dir=str(log), parent=os.getpid())
        results[n] = evaluate_metric(metric, tiny_release, suites=suites, workers=n, **FAST)
        assert results[n].cost["workers"] == n
    assert {p.name for p in logs[1].iterdir()} == {str(os.getpid())}
    assert {p.name for p in logs[2].iterdir()} - {str(os.getpid())}  # some blocks ran elsewhere
    for name in suites[:-1]:
        assert results[2].suites[name].status == "ok", (name, results[2].suites[name].message)
        assert results[2].suites[name].to_json()["scores"] == results[1].suites[name].to_json()["scores"]
    with pytest.raises(InvalidParameterError, match="workers must be a positive number"):
        evaluate_metric("cka", tiny_release, suites=["trend"], workers=0, **FAST)


def test_a_suite_past_its_hard_limit_stops_its_workers(tiny_release, tmp_path, monkeypatch):
    """A suite thread waiting on worker processes is cancelled as one running the metric itself."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_SECONDS", 0.0)
    monkeypatch.setattr(harness, "HARD_GRACE_SECONDS", 0.2)
    monkeypatch.setattr(harness, "HARD_FACTOR", 1.0)
    metric = ReportsItsProcess(log_dir=str(tmp_path), parent=os.getpid(), worker_pause=60.0)
    result = evaluate_metric(metric, tiny_release, suites=["trend"], workers=2, n_boot=50,
                             progress=False, time_limit=0.5)
    assert result.suites["trend"].status == "timeout"
    for _ in range(500):  # the suite's thread stops waiting within a second, not after the 60 s blocks
        if not harness.abandoned_suites():
            break
        time.sleep(0.02)
    assert harness.abandoned_suites() == []
    workers = [int(p.name) for p in tmp_path.iterdir() if int(p.name) != os.getpid()]
    assert workers and all(not Path(f"/proc/{pid}").exists() for pid in workers)  # terminated and reaped


@dataclass
class ThroughNumpy(FrobeniusWeightDistance):
    """Stands for a metric that runs another package's code (as ``dsa_metric_ref`` runs dsa-metric's)."""

    name: ClassVar[str] = "through_numpy"
    implementation: ClassVar[str] = "numpy"


def test_a_metric_of_another_package_records_that_package_and_version(tiny_release, tmp_path):
    path = tmp_path / "through_numpy.json"
    result = evaluate_metric(ThroughNumpy(), tiny_release, suites=["conformance"], checkpoint=path, **FAST)
    assert result.environment["implementation"] == f"numpy {np.__version__}"
    assert load_result(path).environment["implementation"] == f"numpy {np.__version__}"
    ours = evaluate_metric("cka", tiny_release, suites=["conformance"], **FAST)
    assert "implementation" not in ours.environment
