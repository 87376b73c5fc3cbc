"""What the tests of the dynamics baselines (fixed points, Lyapunov spectra) check alike."""

from __future__ import annotations

from typing import Any

from degzoo.benchmark import evaluate_metric


def assert_conformance_fails_only_on_its_own_spectrum(metric: Any, statistic: str) -> None:
    """The conformance suite on 4 members: its two claimed invariances pass, orthogonal invariance
    is measured but not required, and the one check it fails is ``definite`` on the network trained
    to carry its own spectrum (degzoo.benchmark.trained_matches): a reader of that spectrum."""
    assert metric.invariances == {"permutation", "sign_flip"}
    result = evaluate_metric(metric, suites="conformance", n_boot=200, progress=False, time_limit=None,
                             max_members=4)
    conformance = result.suites["conformance"]
    checks = {c["check"]: c for c in conformance.details["checks"]}
    assert checks["invariance:permutation"]["passed"] and checks["invariance:sign_flip"]["passed"]
    assert checks["invariance:orthogonal"]["required"] is False  # measured, not claimed
    failed = {name for name, c in checks.items() if c["required"] and not c["passed"]}
    assert conformance.status == "failed" and failed == {f"definite:{statistic}"}, conformance.message
