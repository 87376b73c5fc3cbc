"""The result-file schema: strict validation, atomic writing, round trips."""

from __future__ import annotations

import copy
import json

import pytest

from degzoo.benchmark import MetricResult, Score, SuiteResult, load_result, validate_result
from degzoo.errors import ValidationError

SHA = "ab" * 32


def _result() -> MetricResult:
    return MetricResult(
        zoo={"release": "tiny", "manifest_sha256": SHA},
        metric={"name": "m", "level": "weights", "params": {"k": 1}, "invariances": ["permutation"]},
        settings={"max_members": 6},
        suites={
            "conformance": SuiteResult(scores={"checks_passed": Score.exact(1.0, 7)},
                                       details={"checks": []}, seconds=0.5),
            "trend": SuiteResult(status="timeout", message="time limit of 1 s reached",
                                 scores={"expected_sign_share": Score(0.5, 0.0, 1.0, 2)}),
        },
        summary={"conformance.checks_passed": Score.exact(1.0, 7)},
        cost={"total_seconds": 1.0},
    )


def test_valid_result_roundtrips(tmp_path):
    res = _result()
    path = res.write(tmp_path / "sub" / "m.json")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    loaded = load_result(path)
    assert loaded.to_json() == res.to_json()
    assert validate_result(res.to_json()) == []
    assert validate_result(res.to_json(), manifest_sha256=SHA) == []


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.update(extra=1), "unknown field 'extra'"),
        (lambda d: d.update(schema_version=2), "schema_version is 2"),
        (lambda d: d.pop("environment"), "missing field 'environment'"),
        (lambda d: d["suites"]["trend"]["scores"]["expected_sign_share"].update(value=float("nan")),
         "finite"),
        (lambda d: d["suites"]["trend"]["scores"]["expected_sign_share"].update(low=2.0), "inverted"),
        (lambda d: d["suites"]["trend"].update(status="great"), "status must be one of"),
        (lambda d: d["suites"]["trend"].update(message=None), "needs a message"),
        (lambda d: d["suites"]["trend"].update(colour="red"), "unknown field suites.trend.'colour'"),
        (lambda d: d["zoo"].update(manifest_sha256="xyz"), "64 lowercase hex"),
        (lambda d: d["metric"].update(level="vibes"), "metric.level must be one of"),
        (lambda d: d["metric"].update(invariances=["rotation"]), "invariances must be a list"),
        (lambda d: d.update(kind="control"), "unknown field 'metric'"),
        (lambda d: d["summary"]["conformance.checks_passed"].update(n=-1), "n must be an integer"),
        (lambda d: d.update(created="yesterday"), "ISO 8601"),
    ],
)
def test_invalid_results_are_rejected(edit, match):
    data = copy.deepcopy(_result().to_json())
    edit(data)
    problems = validate_result(data, raise_on_error=False)
    assert any(match in p for p in problems), problems
    with pytest.raises(ValidationError, match="problem"):
        validate_result(data)


def test_wrong_zoo_checksum_is_rejected():
    problems = validate_result(_result().to_json(), manifest_sha256="cd" * 32, raise_on_error=False)
    assert any("another zoo release" in p for p in problems)


def test_nan_tokens_in_a_file_are_rejected(tmp_path):
    text = json.dumps(_result().to_json(), indent=2).replace('"value": 0.5', '"value": NaN')
    (tmp_path / "bad.json").write_text(text)
    with pytest.raises(ValidationError, match="non-finite number NaN"):
        load_result(tmp_path / "bad.json")


def test_write_refuses_an_invalid_result(tmp_path):
    res = _result()
    res.zoo["manifest_sha256"] = "not-a-hash"
    with pytest.raises(ValidationError, match="refusing to write"):
        res.write(tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_score_must_be_finite():
    with pytest.raises(ValueError, match="finite"):
        Score(float("inf"), 0.0, 1.0, 3)


def test_control_results_need_no_settings():
    data = _result().to_json()
    data["kind"] = "control"
    data["control"] = {"name": "l1", "params": {"weight": 1e-4}}
    del data["metric"], data["settings"]
    assert validate_result(data) == []


def test_schema_constants_match_the_metric_interface():
    from degzoo.benchmark import results
    from degzoo.metrics import base

    assert results.LEVELS == base.LEVELS and results.INVARIANCES == base.INVARIANCES
