"""The result file of a scorecard: schema, writing, loading and strict validation.

A result file is one JSON object (``schema_version`` 1)::

    {
      "schema_version": 1,
      "kind": "metric",                       # or "control" (then "control" replaces "metric")
      "degzoo_version": "0.1.0",
      "zoo": {"release": "embedded-v1", "manifest_sha256": "<64 hex>"},
      "metric": {"name": ..., "level": ..., "params": {...}, "invariances": [...]},
      "settings": {"max_members": 6, "time_limit": 60.0, "seed": 0, ...},  # optional for controls
      "suites": {
        "<suite>": {
          "status": "ok" | "failed" | "timeout" | "error" | "skipped",
          "scores": {"<score>": {"value": x, "low": lo, "high": hi, "n": k}},
          "details": {...},                   # small, free-form JSON (evidence, per-item values)
          "message": "what went wrong" | null,
          "seconds": 12.3
        }
      },
      "summary": {"<suite>.<score>": {"value", "low", "high", "n"}},   # the main scores
      "cost": {...},                          # seconds per pair, peak memory, time per suite
      "environment": {"python", "torch", "numpy", "platform", "cpu_count"},
      "created": "2025-12-01T12:00:00+00:00"
    }

Every score carries an uncertainty: ``low``/``high`` bound a 95 % interval (bootstrap unless the
suite's details say otherwise; ``low == high == value`` for exact quantities) and ``n`` counts the
independent units behind it (members, pairs, ladders). Status ``failed`` means the suite ran and the
metric did not meet the suite's pass criterion (conformance); ``timeout`` that the suite's time limit
was hit (its scores are the part finished in time); ``error`` that the metric (or the harness) raised
(the message says what); ``skipped`` that the suite does not apply (the message says why).

Validation is strict: unknown top-level, suite or score fields, a missing field, a non-finite number
(NaN or infinity anywhere, also as the JSON tokens ``NaN``/``Infinity``), an unknown schema version
or a malformed checksum are all rejected by :func:`validate_result`, which lists every problem with
how to fix it. :func:`load_result` reads and validates a file; :meth:`MetricResult.write` validates
and writes atomically.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from degzoo._version import __version__
from degzoo.environment import environment
from degzoo.errors import ValidationError

# Same values as degzoo.metrics.base (a test checks): not imported from there, so that validating
# a result file does not import the metrics (and torch).
LEVELS: tuple[str, ...] = ("behaviour", "dynamics", "weights", "representation")
INVARIANCES: frozenset[str] = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})

SCHEMA_VERSION = 1
KINDS = ("metric", "control")
STATUSES = ("ok", "failed", "timeout", "error", "skipped")

_COMMON_KEYS = ("schema_version", "kind", "degzoo_version", "zoo", "settings", "suites", "summary",
                "cost", "environment", "created")
_SUITE_KEYS = ("status", "scores", "details", "message", "seconds")
_SCORE_KEYS = ("value", "low", "high", "n")
_ENV_KEYS = ("python", "torch", "numpy", "platform", "cpu_count")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """A number with its interval ``[low, high]`` from ``n`` units; ``low <= value <= high`` always.

    A percentile bootstrap interval need not contain the point estimate (an ARI computed on
    subsamples, say); the interval is then widened to reach it, never the value moved.
    """

    value: float
    low: float
    high: float
    n: int

    def __post_init__(self) -> None:
        for name in ("value", "low", "high"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(float(v)):
                raise ValueError(f"score {name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        object.__setattr__(self, "low", min(self.low, self.value))
        object.__setattr__(self, "high", max(self.high, self.value))
        object.__setattr__(self, "n", int(self.n))

    @classmethod
    def exact(cls, value: float, n: int) -> Score:
        """A quantity without sampling uncertainty (a count, a fraction of checks)."""
        return cls(value, value, value, n)

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high, "n": self.n}

    def __str__(self) -> str:
        if self.low == self.high == self.value:
            return f"{self.value:.3g}"
        return f"{self.value:.3g} [{self.low:.3g}, {self.high:.3g}]"


@dataclass
class SuiteResult:
    """What one suite found; suites fill ``scores`` and ``details`` as they go (partial on timeout)."""

    status: str = "ok"
    scores: dict[str, Score] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "scores": {k: s.to_json() for k, s in self.scores.items()},
            "details": jsonable(self.details),
            "message": self.message,
            "seconds": round(float(self.seconds), 4),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SuiteResult:
        return cls(status=data["status"],
                   scores={k: Score(**v) for k, v in data["scores"].items()},
                   details=data["details"], message=data["message"], seconds=data["seconds"])


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass
class MetricResult:
    """A metric's scorecard on one zoo release (the content of a result file)."""

    zoo: dict[str, Any]
    metric: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    suites: dict[str, SuiteResult] = field(default_factory=dict)
    summary: dict[str, Score] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=environment)
    created: str = field(default_factory=now_iso)
    degzoo_version: str = __version__
    kind: str = "metric"
    schema_version: int = SCHEMA_VERSION
    submission: dict[str, Any] | None = None  # the leaderboard's block (degzoo evaluate --name ...)

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict (the file's content)."""
        sub = {} if self.submission is None else {"submission": jsonable(self.submission)}
        return {
            "schema_version": self.schema_version,
            "kind": self.kind,
            "degzoo_version": self.degzoo_version,
            "zoo": jsonable(self.zoo),
            "metric": jsonable(self.metric),
            "settings": jsonable(self.settings),
            "suites": {name: s.to_json() for name, s in self.suites.items()},
            "summary": {name: s.to_json() for name, s in self.summary.items()},
            "cost": jsonable(self.cost),
            "environment": jsonable(self.environment),
            "created": self.created,
            **sub,
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, allow_nan=False) + "\n"

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Validate, then write atomically (temporary file + rename); returns the path."""
        data = self.to_json()
        problems = validate_result(data, raise_on_error=False)
        if problems:
            raise ValidationError(_problem_text(problems, "refusing to write an invalid result"))
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MetricResult:
        """From a validated dict (see :func:`validate_result`)."""
        validate_result(data)
        return cls(
            zoo=data["zoo"],
            metric=data.get("metric", data.get("control", {})),
            settings=data.get("settings", {}),
            suites={k: SuiteResult.from_json(v) for k, v in data["suites"].items()},
            summary={k: Score(**v) for k, v in data["summary"].items()},
            cost=data["cost"],
            environment=data["environment"],
            created=data["created"],
            degzoo_version=data["degzoo_version"],
            kind=data["kind"],
            schema_version=data["schema_version"],
            submission=data.get("submission"),
        )


def _reject_constant(token: str) -> Any:
    raise ValueError(f"non-finite number {token} (JSON has no NaN/Infinity; write null or a number)")


def load_result(path: str | os.PathLike[str]) -> MetricResult:
    """Read and validate a result file; :class:`ValidationError` lists what is wrong."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read the result file ({exc})") from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ValidationError(f"{path}: not a valid result file: {exc}") from None
    problems = validate_result(data, raise_on_error=False)
    if problems:
        raise ValidationError(_problem_text(problems, f"{path} is not a valid result file"))
    return MetricResult.from_json(data)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def validate_result(
    data: Any, *, manifest_sha256: str | None = None, raise_on_error: bool = True
) -> list[str]:
    """Every problem of a result dict, each with how to fix it; raises unless ``raise_on_error=False``.

    ``manifest_sha256``, when given, must equal the file's ``zoo.manifest_sha256`` (a result
    computed on another zoo release is rejected).
    """
    problems: list[str] = []
    if not isinstance(data, dict):
        problems.append(f"a result is a JSON object, got {type(data).__name__}")
        return _done(problems, raise_on_error)
    version = data.get("schema_version")
    if version != SCHEMA_VERSION:
        problems.append(
            f"schema_version is {version!r}; this degzoo reads schema_version {SCHEMA_VERSION} — "
            "recompute the result with this version of degzoo (or upgrade degzoo)"
        )
        return _done(problems, raise_on_error)
    kind = data.get("kind")
    if kind not in KINDS:
        problems.append(f"kind must be one of {KINDS}, got {kind!r}")
        kind = "metric"
    identity_key = "metric" if kind == "metric" else "control"
    allowed = {*_COMMON_KEYS, identity_key, "submission"}  # submission: the leaderboard checks it
    required = allowed - {"submission"} if kind == "metric" else allowed - {"settings", "submission"}
    for key in sorted(set(data) - allowed):
        problems.append(f"unknown field {key!r} at the top level; remove it (allowed: {sorted(allowed)})")
    for key in sorted(required - set(data)):
        problems.append(f"missing field {key!r}; results are written by degzoo.benchmark — do not edit them")
    try:
        json.dumps(data, allow_nan=False)
    except (ValueError, TypeError) as exc:
        problems.append(f"the result holds a value JSON cannot store exactly ({exc}); "
                        "non-finite numbers (NaN, inf) are not allowed — write null or drop the entry")
    if not isinstance(data.get("degzoo_version", ""), str):
        problems.append("degzoo_version must be a string")
    _check_zoo(data.get("zoo"), manifest_sha256, problems)
    if identity_key in data:
        _check_identity(data[identity_key], identity_key, problems)
    suites = data.get("suites")
    if suites is not None:
        if not isinstance(suites, dict):
            problems.append("suites must be an object {suite_name: {...}}")
        else:
            for name, suite in suites.items():
                _check_suite(name, suite, problems)
    summary = data.get("summary")
    if summary is not None:
        if not isinstance(summary, dict):
            problems.append("summary must be an object {score_name: {value, low, high, n}}")
        else:
            for name, score in summary.items():
                _check_score(f"summary.{name}", score, problems)
    for key in ("cost", "settings"):
        if key in data and not isinstance(data[key], dict):
            problems.append(f"{key} must be an object")
    env = data.get("environment")
    if env is not None:
        if not isinstance(env, dict):
            problems.append("environment must be an object")
        else:
            for key in _ENV_KEYS:
                if key not in env:
                    problems.append(f"environment.{key} is missing")
    created = data.get("created")
    if created is not None:
        try:
            datetime.fromisoformat(str(created))
        except ValueError:
            problems.append(f"created must be an ISO 8601 time, got {created!r}")
    return _done(problems, raise_on_error)


def _check_zoo(zoo: Any, expected: str | None, problems: list[str]) -> None:
    if zoo is None:
        return
    if not isinstance(zoo, dict):
        problems.append("zoo must be an object {release, manifest_sha256}")
        return
    for key in sorted(set(zoo) - {"release", "manifest_sha256"}):
        problems.append(f"unknown field zoo.{key!r}; remove it")
    if not isinstance(zoo.get("release"), str) or not zoo.get("release"):
        problems.append("zoo.release must name the zoo release (e.g. 'embedded-v1')")
    sha = zoo.get("manifest_sha256")
    if not isinstance(sha, str) or not _HEX64.match(sha):
        problems.append(f"zoo.manifest_sha256 must be 64 lowercase hex digits, got {sha!r}")
    elif expected is not None and sha != expected:
        problems.append(
            f"zoo.manifest_sha256 {sha[:12]}… does not match the release's {expected[:12]}…: the "
            "result was computed on another zoo release; recompute it on this one"
        )


def _check_identity(ident: Any, where: str, problems: list[str]) -> None:
    if not isinstance(ident, dict):
        problems.append(f"{where} must be an object {{name, level, params, invariances}}")
        return
    for key in sorted(set(ident) - {"name", "level", "params", "invariances"}):
        problems.append(f"unknown field {where}.{key!r}; remove it")
    if not isinstance(ident.get("name"), str) or not ident.get("name"):
        problems.append(f"{where}.name must be a non-empty string")
    if where == "metric":
        # level is null only when the metric could not even be loaded (every suite then says why)
        if ident.get("level") is not None and ident.get("level") not in LEVELS:
            problems.append(f"metric.level must be one of {LEVELS} (or null), got {ident.get('level')!r}")
        inv = ident.get("invariances")
        if not isinstance(inv, list) or any(i not in INVARIANCES for i in inv):
            problems.append(
                f"metric.invariances must be a list drawn from {sorted(INVARIANCES)}, got {inv!r}")
    if not isinstance(ident.get("params"), dict):
        problems.append(f"{where}.params must be an object of the parameters")


def _check_suite(name: str, suite: Any, problems: list[str]) -> None:
    where = f"suites.{name}"
    if not isinstance(suite, dict):
        problems.append(f"{where} must be an object")
        return
    for key in sorted(set(suite) - set(_SUITE_KEYS)):
        problems.append(f"unknown field {where}.{key!r}; remove it (allowed: {list(_SUITE_KEYS)})")
    for key in _SUITE_KEYS:
        if key not in suite:
            problems.append(f"{where}.{key} is missing")
    if "status" in suite and suite["status"] not in STATUSES:
        problems.append(f"{where}.status must be one of {STATUSES}, got {suite['status']!r}")
    scores = suite.get("scores", {})
    if not isinstance(scores, dict):
        problems.append(f"{where}.scores must be an object")
    else:
        for sname, score in scores.items():
            _check_score(f"{where}.scores.{sname}", score, problems)
    if "details" in suite and not isinstance(suite["details"], dict):
        problems.append(f"{where}.details must be an object")
    if suite.get("message") is not None and not isinstance(suite["message"], str):
        problems.append(f"{where}.message must be a string or null")
    if suite.get("status") in ("failed", "timeout", "error", "skipped") and not suite.get("message"):
        problems.append(f"{where}: status {suite['status']!r} needs a message saying why")
    sec = suite.get("seconds", 0.0)
    if not _finite(sec) or sec < 0:
        problems.append(f"{where}.seconds must be a finite number >= 0, got {sec!r}")


def _check_score(where: str, score: Any, problems: list[str]) -> None:
    if not isinstance(score, dict):
        problems.append(f"{where} must be an object {{value, low, high, n}}")
        return
    for key in sorted(set(score) - set(_SCORE_KEYS)):
        problems.append(f"unknown field {where}.{key!r}; a score has only {list(_SCORE_KEYS)}")
    for key in ("value", "low", "high"):
        if key not in score:
            problems.append(f"{where}.{key} is missing")
        elif not _finite(score[key]):
            problems.append(f"{where}.{key} must be a finite number, got {score[key]!r}; drop a score "
                            "that cannot be computed instead of writing NaN")
    n = score.get("n")
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        problems.append(f"{where}.n must be an integer >= 0 (the number of units behind the score)")
    if _finite(score.get("low")) and _finite(score.get("high")) and score["low"] > score["high"]:
        problems.append(f"{where}: low {score['low']} > high {score['high']}; the interval is inverted")


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _done(problems: list[str], raise_on_error: bool) -> list[str]:
    if problems and raise_on_error:
        raise ValidationError(_problem_text(problems, "invalid result"))
    return problems


def _problem_text(problems: list[str], head: str) -> str:
    return f"{head} ({len(problems)} problem(s)):\n" + "\n".join(f"  - {p}" for p in problems)


# --------------------------------------------------------------------------------------------
# JSON conversion
# --------------------------------------------------------------------------------------------


def jsonable(obj: Any, *, depth: int = 0) -> Any:
    """Plain JSON types from numpy scalars/arrays, tuples, sets and dataclass-like values.

    Non-finite floats become ``None`` (details may say "not computed"; scores never hold NaN, see
    :class:`Score`); anything else unknown becomes its ``repr``.
    """
    if depth > 32:
        return repr(obj)
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, bool):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    if isinstance(obj, Score):
        return obj.to_json()
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist(), depth=depth + 1)
    if isinstance(obj, dict):
        return {str(k): jsonable(v, depth=depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=repr) if isinstance(obj, (set, frozenset)) else obj
        return [jsonable(v, depth=depth + 1) for v in items]
    if hasattr(obj, "to_dict"):
        try:
            return jsonable(obj.to_dict(), depth=depth + 1)
        except Exception:
            pass
    return repr(obj)


def result_filename(name: str) -> str:
    """A safe file name for a metric's result: ``<name>.json``."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "metric"
    return f"{safe}.json"


__all__ = [
    "KINDS",
    "SCHEMA_VERSION",
    "STATUSES",
    "MetricResult",
    "Score",
    "SuiteResult",
    "environment",
    "jsonable",
    "load_result",
    "result_filename",
    "validate_result",
]
