"""The scoring harness: metric scorecards, the control track, reference results and reports.

Metric track: ``evaluate_metric("dsa")`` runs a metric through suites whose right answers are known
(:data:`SUITES`): conformance (finite, non-negative, symmetric, zero on identical networks, claimed
invariances hold on twins), calibration on planted ground truth (near-twins, weight-noise and
interpolation ladders, mixtures of conditions recovered by clustering), trend recovery along the
release's ladders against the paper's directions, discriminability of conditions, reliability
across probe sets, sample size, agreement with the level's reference metric, and cost. Every score
carries a 95 % interval and the number of units behind it; the result is a :class:`MetricResult`
(JSON schema in :mod:`degzoo.benchmark.results`), printed by :func:`format_scorecard`.

Names are imported on first use (PEP 562), so that importing one sub-module (e.g.
``degzoo.benchmark.control``) does not import the others.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    # metric scorecard
    "evaluate_metric": "harness",
    "EvaluationInterrupted": "harness",
    "run_suite": "harness",
    "clear_cache": "harness",
    "SUMMARY_SCORES": "results",
    "format_scorecard": "scorecard",
    "SCHEMA_VERSION": "results",
    "STATUSES": "results",
    "MetricResult": "results",
    "Score": "results",
    "SuiteResult": "results",
    "load_result": "results",
    "result_filename": "results",
    "validate_result": "results",
    "adjusted_rand_index": "stats",
    "auroc": "stats",
    "spearman": "stats",
    "EXPECTED_DIRECTION": "suites",
    "REFERENCE_METRICS": "suites",
    "SUITES": "suites",
    "Settings": "suites",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'degzoo.benchmark' has no attribute {name!r}")
    return getattr(importlib.import_module(f"degzoo.benchmark.{module}"), name)
