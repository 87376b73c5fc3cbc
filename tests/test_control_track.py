"""The control track: result shape, matched-performance reporting, divergence, plug-in controls."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest
import torch

from degzoo.benchmark import control as track
from degzoo.benchmark.control import (
    BUDGETS,
    Budget,
    TrackCondition,
    format_table,
    paired_change,
    resolve_control,
    run_control_track,
)
from degzoo.benchmark.results import validate_result
from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.training import L1, Control

# threshold 2.0: every member "converges" in the first epoch, so tiny runs exercise the whole path
TEST_BUDGET = Budget(
    name="test",
    conditions=(
        TrackCondition("ff-bits1", {"name": "flipflop", "bits": 1, "trial_length": 15}, 8, 3,
                       {"lr": 1e-2, "batch_size": 8, "max_steps": 40, "steps_per_epoch": 10,
                        "patience_epochs": 1, "threshold": 2.0}),
    ),
    metrics={
        "behaviour": ("behaviour_ood", {"n_trials": 8}),
        "dynamics": ("dsa", {"n_delays": 3, "rank": 4, "n_starts": 1, "max_iter": 50}),
        "weights": ("weights_perm", {"n_starts": 0, "n_kicks": 2}),
    },
    probe_trials=8,
    n_boot=200,
)


@pytest.fixture(autouse=True)
def test_budget():
    BUDGETS["test"] = TEST_BUDGET
    yield
    BUDGETS.pop("test", None)


@dataclass(frozen=True)
class NaNPenalty(Control):
    """A broken control: its penalty is NaN for the members in ``members`` (all when empty)."""

    name: ClassVar[str] = "nan_penalty"
    members: tuple[int, ...] = ()

    def penalty(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        n = params["W_hh"].shape[0]
        out = torch.zeros(n, dtype=params["W_hh"].dtype)
        if not self.members:
            return out + float("nan")
        # the trainer passes the members still running; index them only while all 3 are
        if n == 3:
            out[list(self.members)] = float("nan")
        return out


def _run(method, tmp_path, **kwargs):
    kwargs.setdefault("params", None)
    return run_control_track(method, budget="test", out_dir=tmp_path / "out", workers=1,
                             progress=False, **kwargs)


def test_result_shape_and_file(tmp_path):
    result = _run("l1", tmp_path, params={"weight": 1e-3})
    assert result["kind"] == "control" and result["schema_version"] == 2
    assert set(result) >= {"degzoo_version", "zoo", "control", "suites", "summary", "cost",
                           "environment", "created"}
    assert result["zoo"]["release"] == "control-track/test" and len(result["zoo"]["manifest_sha256"]) == 64
    assert result["control"]["name"] == "l1" and result["control"]["params"]["weight"] == 1e-3
    suite = result["suites"]["ff-bits1"]
    assert suite["status"] == "ok", suite["message"]
    assert suite["message"] is None
    assert set(suite) == {"status", "scores", "details", "message", "seconds"}
    for level in ("behaviour", "dynamics", "weights"):
        for what in ("baseline", "method", "change", "ratio"):
            score = suite["scores"][f"{level}_{what}"]
            assert set(score) == {"value", "low", "high", "n"} and score["n"] == 3
            assert score["low"] <= score["high"]
        assert suite["details"]["levels"][level]["direction"] in (
            "decrease", "increase", "no significant change")
    assert suite["scores"]["converged_baseline"]["value"] == 1.0
    assert suite["details"]["performance_matched"] is True
    # written as strict JSON and readable back
    path = tmp_path / "out" / "control-l1-test.json"
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"non-JSON {c}")) == result
    assert path.stat().st_mode & 0o777 == 0o644  # readable by all, like metric results and shards
    table = format_table(result)
    assert "ff-bits1" in table and "weights" in table and "matched" in table
    validate_result(result)
    for level in ("behaviour", "dynamics", "weights"):
        g = result["summary"][f"{level}.ratio_geomean"]
        assert g["low"] <= g["value"] <= g["high"] or g["n"] == 1
    # the baseline is cached: a second method retrains only its own arm
    again = _run("nuclear", tmp_path, params={"weight": 1e-3})
    assert again["cost"]["ensembles_trained"] == 1 and again["cost"]["ensembles_cached"] == 1
    for level in ("behaviour", "dynamics", "weights"):
        key = f"{level}_baseline"
        assert again["suites"]["ff-bits1"]["scores"][key] == suite["scores"][key]


def test_mismatched_performance_is_reported_not_dropped(tmp_path):
    result = _run(NaNPenalty(members=(0,)), tmp_path)
    suite = result["suites"]["ff-bits1"]
    det = suite["details"]
    assert det["method"]["diverged"] == 1 and det["method"]["converged"] == 2
    assert det["baseline"]["converged"] == 3
    assert det["performance_matched"] is False
    assert "performance not matched" in suite["message"]
    assert det["paired_members"] == [1, 2]
    assert suite["scores"]["converged_method"]["value"] == pytest.approx(2 / 3)
    assert suite["scores"]["weights_change"]["n"] == 2
    assert result["summary"]["performance.matched"]["value"] == 0
    assert result["summary"]["performance.diverged_method"]["value"] == 1
    assert "NOT matched" in format_table(result)


def test_diverging_control_is_reported_and_the_run_continues(tmp_path):
    result = _run(NaNPenalty(), tmp_path)
    suite = result["suites"]["ff-bits1"]
    assert suite["status"] == "failed"
    assert suite["details"]["method"]["diverged"] == 3
    assert "converged in both arms" in suite["message"]
    assert not any(k.startswith(("behaviour", "dynamics", "weights")) for k in suite["scores"])
    json.dumps(result, allow_nan=False)  # no NaN anywhere
    assert "[failed]" in format_table(result)


def test_control_that_raises_is_an_error_not_a_crash(tmp_path):
    # aux only applies to delayed discrimination: configure raises on flip-flop
    result = _run("aux", tmp_path)
    suite = result["suites"]["ff-bits1"]
    assert suite["status"] == "error" and "aux" in suite["message"]


MODULE = '''
from dataclasses import dataclass
from typing import ClassVar
from degzoo.training import Control

@dataclass(frozen=True)
class Shrink(Control):
    name: ClassVar[str] = "shrink"
    weight: float = 1e-3

    def penalty(self, params):
        return self.weight * (params["W_hh"] ** 2).flatten(1).sum(1)

INSTANCE = Shrink(weight=5e-3)

def not_a_control(**kw):
    return 42
'''


def test_module_attr_control_loads(tmp_path, monkeypatch):
    (tmp_path / "my_controls.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    made = resolve_control("my_controls:Shrink", {"weight": 2e-3})
    assert made.name == "shrink" and made.weight == 2e-3
    assert resolve_control("my_controls:INSTANCE").weight == 5e-3
    result = _run("my_controls:Shrink", tmp_path, params={"weight": 1e-2})
    ident = result["control"]
    assert ident == {"name": "shrink", "params": {"weight": 1e-2}}
    info = track.track_info(result)
    assert info["spec"] == "my_controls:Shrink" and info["class"] == "my_controls:Shrink"
    assert info["label"] == "shrink" and result["suites"]["ff-bits1"]["status"] == "ok"
    with pytest.raises(InvalidParameterError, match=r"not a degzoo\.training\.Control"):
        resolve_control("my_controls:not_a_control")
    with pytest.raises(InvalidParameterError, match="instance"):
        resolve_control("my_controls:INSTANCE", {"weight": 1.0})


def test_unknown_control_gives_a_clear_error():
    with pytest.raises(UnknownNameError, match=r"unknown control 'lasso'.*l1.*module:attr"):
        resolve_control("lasso")
    with pytest.raises(UnknownNameError, match="failed to import"):
        resolve_control("no_such_module_xyz:Thing")
    with pytest.raises(UnknownNameError, match="has no attribute 'Nope'"):
        resolve_control("degzoo.training:Nope")
    with pytest.raises(InvalidParameterError, match="l1"):
        resolve_control("l1", {"strength": 1.0})
    with pytest.raises(UnknownNameError, match="unknown budget"):
        run_control_track(L1(), budget="huge", out_dir=None, progress=False)


def test_baseline_and_training_overrides_keep_the_track_identity(tmp_path):
    # the γ reference: µP at γ=2 against µP at γ=1, with its own learning rate
    result = _run("mup", tmp_path, params={"gamma": 2.0, "tau": 0.5},
                  baseline=[{"name": "mup", "gamma": 1.0, "tau": 0.5}], training={"lr": 2e-2},
                  label="gamma")
    info = track.track_info(result)
    assert info["baseline"][0]["name"] == "mup" and info["overrides"]["training"] == {"lr": 2e-2}
    assert result["suites"]["ff-bits1"]["details"]["training"]["lr"] == 2e-2
    assert result["zoo"]["manifest_sha256"] == TEST_BUDGET.sha256
    refs = track.load_reference_results("test", tmp_path / "out")
    assert list(refs) == ["gamma"]
    assert "training overrides (lr=0.02)" in format_table(result)
    with pytest.raises(InvalidParameterError, match="unknown setting"):
        _run("l1", tmp_path, training={"learning_rate": 1.0})


def test_dask_local_cluster_engine(tmp_path):
    pytest.importorskip("distributed")
    local = _run("l1", tmp_path, params={"weight": 1e-3}, cache=False)
    dask = run_control_track("l1", params={"weight": 1e-3}, budget=TEST_BUDGET, out_dir=None,
                             cluster="local:1", progress=False)
    assert dask["cost"]["engine"] == "dask local:1"
    for key, score in local["suites"]["ff-bits1"]["scores"].items():
        assert dask["suites"]["ff-bits1"]["scores"][key] == pytest.approx(score), key


def test_paired_change_statistics():
    rng = np.random.default_rng(0)
    x = rng.random((6, 6))
    d = x + x.T
    np.fill_diagonal(d, 0)
    same = paired_change(d, d, "pairwise", n_boot=200)
    assert same["change"]["value"] == 0 and same["change"]["low"] == same["change"]["high"] == 0
    double = paired_change(d, 2 * d, "pairwise", n_boot=200)
    assert double["ratio"]["value"] == pytest.approx(2) and double["ratio"]["low"] == pytest.approx(2)
    scores = rng.random(6)
    s = paired_change(scores, 0.5 * scores, "scores", n_boot=200)
    assert s["baseline"]["value"] == pytest.approx(scores.std())
    assert s["change"]["high"] < 0 and s["ratio"]["value"] == pytest.approx(0.5)
    lo, hi = track.wilson(8, 8)
    assert 0.6 < lo < 1 and hi == 1.0 and not math.isnan(lo)


def test_cli_evaluate_and_show(tmp_path, capsys):
    from degzoo.cli import control as cli

    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "cli"
    args = parser.parse_args(["control", "evaluate", "--method", "l1", "--param", "weight=1e-3",
                              "--budget", "test", "--out", str(out), "--workers", "1", "--quiet",
                              "--references", str(tmp_path / "none")])
    assert args.run(args, []) == 0
    printed = capsys.readouterr().out
    assert "ff-bits1" in printed and "behaviour" in printed
    # a second result in the same folder serves as a reference column for the first
    args = parser.parse_args(["control", "evaluate", "--method", "nuclear", "--param", "weight=1e-3",
                              "--budget", "test", "--out", str(out), "--workers", "1", "--quiet",
                              "--references", str(tmp_path / "none")])
    assert args.run(args, []) == 0
    capsys.readouterr()
    args = parser.parse_args(["control", "show", str(out / "control-l1-test.json"),
                              "--references", str(out)])
    assert args.run(args, []) == 0
    shown = capsys.readouterr().out
    assert "nuclear" in shown.splitlines()[3]  # the header row names the reference column
    args = parser.parse_args(["control", "budgets"])
    assert args.run(args, []) == 0
    assert "small" in capsys.readouterr().out
