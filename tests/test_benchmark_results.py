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
                                 scores={"evidence_share": Score(0.5, 0.0, 1.0, 2)}),
        },
        summary={"conformance.checks_passed": Score.exact(1.0, 7),
                 "trend.evidence_share": Score(0.5, 0.0, 1.0, 2)},
        cost={"total_seconds": 1.0},
    )


def test_valid_result_roundtrips(tmp_path):
    res = _result()
    path = res.write(tmp_path / "sub" / "m.json")
    assert path.exists() and not list(path.parent.glob("*.tmp"))
    assert path.stat().st_mode & 0o777 == 0o644  # readable by all, like the zoo's shards
    loaded = load_result(path)
    assert loaded.to_json() == res.to_json()
    assert validate_result(res.to_json()) == []
    assert validate_result(res.to_json(), manifest_sha256=SHA) == []


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda d: d.update(extra=1), "extra: unknown field"),
        (lambda d: d.update(schema_version=1), "schema_version: 1 is not allowed; use one of 2"),
        (lambda d: d.pop("environment"), "environment: is required but missing"),
        (lambda d: d["suites"]["trend"]["scores"]["evidence_share"].update(value=float("nan")),
         "NaN and infinity are not allowed"),
        (lambda d: d["suites"]["trend"]["scores"]["evidence_share"].update(low=0.9), "value ≤ high"),
        (lambda d: d["suites"]["trend"].update(status="great"), "trend.status: 'great' is not allowed"),
        (lambda d: d["suites"]["trend"].update(message=None), "needs a message saying why"),
        (lambda d: d["suites"]["trend"].update(colour="red"), "suites.trend.colour: unknown field"),
        (lambda d: d["zoo"].update(manifest_sha256="xyz"), "64-digit lower-case hex"),
        (lambda d: d["metric"].update(level="vibes"), "metric.level: 'vibes' is not allowed"),
        (lambda d: d["metric"].update(invariances=["rotation"]), "metric.invariances[0]: 'rotation'"),
        (lambda d: d.update(kind="control"), "has no 'metric' block; remove it"),
        (lambda d: d["summary"]["conformance.checks_passed"].update(n=-1), "n: -1 is outside the valid"),
        (lambda d: d.update(created="yesterday"), "ISO-8601"),
        (lambda d: d["suites"]["trend"]["scores"]["evidence_share"].update(value=0.6),
         "summary.trend.evidence_share: must equal suites.trend.scores.evidence_share"),
        (lambda d: d["summary"].update({"trend.fabricated_auroc": d["summary"]["conformance.checks_passed"]}),
         "trend.fabricated_auroc is not a score of the suites"),
        (lambda d: d["summary"].pop("trend.evidence_share"), "trend.evidence_share: is missing"),
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


def test_the_published_schema_is_valid_and_matches_the_code():
    from jsonschema import Draft202012Validator

    from degzoo.benchmark import SUITES, results
    from degzoo.metrics import base

    schema = results.result_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    d = schema["$defs"]
    assert tuple(d["metric"]["properties"]["level"]["enum"][:-1]) == base.LEVELS
    assert set(d["metric"]["properties"]["invariances"]["items"]["enum"]) == base.INVARIANCES
    assert tuple(d["suite"]["properties"]["status"]["enum"]) == results.STATUSES
    assert tuple(schema["then"]["properties"]["suites"]["required"]) == tuple(SUITES)
    assert {s for s, _ in results.SUMMARY_SCORES} <= set(SUITES)


def test_scores_are_checked_against_the_range_their_name_implies():
    data = _result().to_json()
    scores = data["suites"]["conformance"]["scores"]
    scores["twin_auroc"] = {"value": 1.2, "low": 1.2, "high": 1.2, "n": 3}  # an AUROC is in [0, 1]
    scores["noise_spearman"] = {"value": -0.5, "low": -1.0, "high": 0.0, "n": 3}  # a correlation: fine
    scores["spearman_width"] = {"value": -0.5, "low": -1.0, "high": 0.0, "n": 3}  # correlation wins
    scores["seconds_per_pair"] = {"value": -1.0, "low": -1.0, "high": -1.0, "n": 3}  # a cost is >= 0
    problems = validate_result(data, raise_on_error=False)
    assert sorted(p.split(":")[0] for p in problems) == [
        "suites.conformance.scores.seconds_per_pair.high",
        "suites.conformance.scores.seconds_per_pair.low",
        "suites.conformance.scores.seconds_per_pair.value",
        "suites.conformance.scores.twin_auroc.high",
        "suites.conformance.scores.twin_auroc.low",
        "suites.conformance.scores.twin_auroc.value",
    ], problems
