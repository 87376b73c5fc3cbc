"""What the tests of the dynamics baselines (fixed points, Lyapunov spectra) check alike."""

from __future__ import annotations

from typing import Any

from degzoo.benchmark import evaluate_metric


def assert_passes_conformance_claiming_relabelling_and_sign_flips_only(metric: Any) -> None:
    """The conformance suite on 4 members: ok, its two claimed invariances passed, orthogonal
    invariance measured but not required."""
    assert metric.invariances == {"permutation", "sign_flip"}
    result = evaluate_metric(metric, suites="conformance", n_boot=200, progress=False, time_limit=None,
                             max_members=4)
    conformance = result.suites["conformance"]
    assert conformance.status == "ok", conformance.message
    checks = {c["check"]: c for c in conformance.details["checks"]}
    assert checks["invariance:permutation"]["passed"] and checks["invariance:sign_flip"]["passed"]
    assert checks["invariance:orthogonal"]["required"] is False  # measured, not claimed
