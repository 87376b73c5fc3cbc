"""Synthetic result files for the leaderboard tests (no test functions here).

They follow the harness's result schema (:data:`~degzoo.benchmark.results.SCHEMA_VERSION`, its
headline scores :data:`~degzoo.benchmark.results.MAIN_SCORES`) and cite a synthetic zoo release
declared with ``known=KNOWN``; they are only ever written into temporary folders.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from degzoo.benchmark.results import MAIN_SCORES, SCHEMA_VERSION
from degzoo.benchmark.suites import Settings
from degzoo.leaderboard import layout_path

RELEASE = "test-zoo-v1"
SHA = "ab" * 32
KNOWN = {RELEASE: SHA}

#: Scores a suite reports besides its headline ones (shown, not ranked).
EXTRA_SCORES = {
    "calibration": ("mixture_ari",),
    "trend": ("spearman[complexity]",),
    "discriminability": ("auroc",),
    "sample_size": ("ci_width_n4",),
}
SUITE_NAMES = ("conformance", "calibration", "trend", "discriminability", "reliability", "sample_size",
               "agreement", "cost")
#: suite → its scores in a synthetic result: the headline scores the harness lists in the summary
#: (``degzoo.benchmark.results.MAIN_SCORES``), then the others
SCORES = {s: (*MAIN_SCORES.get(s, ()), *EXTRA_SCORES.get(s, ())) for s in SUITE_NAMES}
SUMMARY = MAIN_SCORES
#: the trend suite's headline score (renamed between schema versions)
TREND = MAIN_SCORES["trend"][0]


ENVIRONMENT = {"python": "3.11.7", "torch": "2.13.0", "numpy": "2.1.0", "platform": "Linux", "cpu_count": 2}


def score(value: float, width: float, lo: float = 0.0, hi: float = 1.0, n: int = 24) -> dict[str, Any]:
    return {"value": value, "low": max(lo, value - width), "high": min(hi, value + width), "n": n}


def make_result(
    name: str = "My metric",
    *,
    level: str = "dynamics",
    value: float | dict[str, float] = 0.7,
    width: float = 0.02,
    release: str = RELEASE,
    sha: str = SHA,
    package: str = "my-metric",
    version: str = "1.0.0",
    submission: bool = True,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A valid metric submission; ``value`` is every ranked suite's main score (or per suite)."""
    values = value if isinstance(value, dict) else {}
    params = params if params is not None else {"rank": 10, "delays": 5, "seed": name}
    # what a real run's details hold differs between metrics: results of two metrics never coincide
    run = f"{level}:{json.dumps(params, sort_keys=True)}"
    suites = {}
    for suite, names in SCORES.items():
        v = values.get(suite, value if not isinstance(value, dict) else 0.5)
        if suite == "cost":
            scores = {names[0]: score(0.5, 0.1, 0.0, 10.0)}
        elif suite == "sample_size":
            scores = {names[0]: score(0.2, 0.0, 0.0, 10.0)}
        else:
            scores = {n: score(v, width) for n in names}
        suites[suite] = {
            "status": "ok",
            "scores": scores,
            "details": {"ensembles": ["flipflop-bits2", "sine"], "members": 8, "run": run},
            "message": None,
            "seconds": 1.5,
        }
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "kind": "metric",
        "degzoo_version": "0.1.0",
        "zoo": {"release": release, "manifest_sha256": sha},
        "metric": {
            "name": "dsa",
            "level": level,
            "params": params,
            "invariances": ["orthogonal", "permutation"],
        },
        "settings": {"max_members": Settings.max_members, "time_limit": 60.0, "seed": 0, "n_boot": 1000},
        "suites": suites,
        # the harness's summary: the headline scores as "<suite>.<score>"
        "summary": {
            f"{suite}.{n}": dict(suites[suite]["scores"][n])
            for suite, names in SUMMARY.items()
            for n in names
            if n in suites[suite]["scores"]
        },
        "cost": {"seconds_total": 12.5, "peak_memory_mb": 300},
        "environment": ENVIRONMENT,
        "created": "2025-06-01T12:00:00+00:00",
    }
    if submission:
        doc["submission"] = {
            "name": name,
            "authors": ["A. Author", "B. Author"],
            "code_url": "https://example.org/code",
            "paper_url": "https://arxiv.org/abs/2410.03972",
            "package": {"name": package, "version": version},
        }
    return doc


CONTROL_BUDGET = "control-track/small"
CONTROL_SHA = "cd" * 32
KNOWN[CONTROL_BUDGET] = CONTROL_SHA


def make_control(
    name: str = "L1 control", *, ratio: float = 0.7, width: float = 0.1, status: str = "ok"
) -> dict[str, Any]:
    """A control-track submission shaped like degzoo.benchmark.control's results."""
    doc = make_result(name)
    del doc["metric"]
    doc["kind"] = "control"
    doc["zoo"] = {"release": CONTROL_BUDGET, "manifest_sha256": CONTROL_SHA}
    doc["control"] = {"name": "l1", "params": {"weight": 1e-3, "tag": name}}
    suites = {}
    for cid in ("flipflop-bits2", "sine"):
        scores = {"converged_baseline": score(1.0, 0.0), "converged_method": score(1.0, 0.0)}
        for lvl in ("behaviour", "dynamics", "weights"):
            scores[f"{lvl}_baseline"] = score(0.4, 0.05, 0.0, 10.0)
            scores[f"{lvl}_method"] = score(0.4 * ratio, 0.05, 0.0, 10.0)
            scores[f"{lvl}_change"] = score(0.4 * ratio - 0.4, 0.05, -10.0, 10.0)
            scores[f"{lvl}_ratio"] = score(ratio, width, 0.01, 10.0)
        suites[cid] = {
            "status": status,
            "scores": scores,
            "details": {"members": 8},
            "message": None if status == "ok" else "did not converge",
            "seconds": 30.0,
        }
    doc["suites"] = suites
    # results.py's summary shape (scores by name); control.py nests them under "levels" today
    doc["summary"] = {
        f"{lvl}.ratio_geomean": score(ratio, width, 0.01, 10.0)
        for lvl in ("behaviour", "dynamics", "weights")
    }
    return doc


def dump(doc: Any) -> bytes:
    return json.dumps(doc, indent=1).encode("utf-8")


def write_entry(root: Path, doc: dict[str, Any]) -> Path:
    """Write ``doc`` at its layout path in the leaderboard folder ``root``."""
    path = root / layout_path(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump(doc))
    return path


def clone(doc: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(doc)


def ship(mp: Any, *docs: dict[str, Any], role: str = "reference") -> None:
    """Make degzoo treat ``docs`` as results it ships (``role``), through the MonkeyPatch ``mp``."""
    from degzoo.leaderboard import schema

    folder = next(f for f, r in schema.SHIPPED_ROLES.items() if r == role)
    added = {
        schema.content_key(d): schema.Shipped(role, f"{folder}/test-{i}.json", schema.result_fingerprint(d))
        for i, d in enumerate(docs)
    }
    shipped = {**schema._shipped_results(), **added}
    mp.setattr(schema, "_shipped_results", lambda: shipped)


def write_verified(root: Path, path: Path, rerun: dict[str, Any] | None = None, *,
                   members: int | None = None) -> Path:
    """Write the record the board's verify job writes after a re-run that returned ``rerun``
    (default: the result itself, i.e. a perfect reproduction at the full protocol)."""
    from degzoo.benchmark.scoring import RANKED_SUITES
    from degzoo.leaderboard import verify

    doc = json.loads(path.read_bytes())
    rerun = rerun if rerun is not None else doc
    kind = doc["kind"]
    suites = list(RANKED_SUITES) if kind == "metric" else sorted(doc["suites"])
    protocol = doc.get("settings", {}).get("max_members", Settings.max_members)
    record = {
        "schema_version": verify.VERIFICATION_SCHEMA_VERSION,
        "entry": path.relative_to(root).as_posix(),
        "result_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "status": "verified",
        "checked": "2026-01-01T00:00:00Z",
        "degzoo_version": "0.1.0",
        "package": doc["submission"]["package"],
        "suites": suites,
        "subset": {"max_members": members or protocol, "protocol_members": protocol, "seed": 0,
                   "members": "test"},
        "factor": verify.DEFAULT_FACTOR,
        "atol": verify.DEFAULT_ATOL,
        "rerun": {
            "loaded": {"identity": rerun[kind], "implementation": rerun["environment"].get("implementation"),
                       "module": "test", "module_package": True},
            "suites": verify._main_scores(kind, rerun, suites),
        },
        "differences": [],
        "message": None,
    }
    out = root / "verified" / path.relative_to(root / "results")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record, indent=1))
    return out
