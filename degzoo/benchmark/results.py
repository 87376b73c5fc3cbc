"""The result file of a scorecard: schema, writing, loading and strict validation.

A result file is one JSON object (``schema_version`` 2)::

    {
      "schema_version": 2,
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
      "summary": {"<suite>.<score>": {"value", "low", "high", "n"}},   # copies of SUMMARY_SCORES
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

The format is published as a JSON Schema (draft 2020-12), ``result.schema.json`` next to this
module (:func:`result_schema`): its root is a leaderboard submission, ``$defs/result`` a bare
result. Anyone can check the shape with it, without torch (``check-jsonschema --schemafile
result.schema.json FILE``). :func:`consistency_problems` adds, in one place, what a schema cannot
say: no NaN or infinity, ``low <= value <= high``, and a metric's ``summary`` that only copies
suite scores, at least the :data:`SUMMARY_SCORES` they report (rankings recompute it).
:func:`validate_result` lists every problem with how to fix it; :func:`load_result` reads and
validates a file; :meth:`MetricResult.write` validates and writes atomically, mode 0644.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from jsonschema import Draft202012Validator
from jsonschema import ValidationError as JsonSchemaError
from referencing import Registry, Resource

from degzoo._version import __version__
from degzoo.environment import environment
from degzoo.errors import ValidationError
from degzoo.files import write_atomically

#: 2: the suites of benchmark validity v2 (no unit identity, required invariances, matched cheap
#: statistics, trend scored on evidence, reliability by test-retest only). Results of version 1
#: were scored by other suites and are not comparable: they are refused, not mis-ranked.
SCHEMA_VERSION = 2
#: The JSON Schema of result files, shipped next to this module (see :func:`result_schema`).
SCHEMA_FILE = "result.schema.json"
KINDS = ("metric", "control")
STATUSES = ("ok", "failed", "timeout", "error", "skipped")

#: Each suite's headline scores: the harness copies them to the result's ``summary``, and the board
#: averages them (each clipped to [0, 1]) into the suite's main score (:mod:`degzoo.leaderboard.tiers`).
#: All are better higher. ``sample_size`` has none: it is shown, not ranked. The planted families
#: (equal cheap statistics by construction) are the main discriminability score; beside them, on a
#: release with real solution families (zoo-v2's initial gain and low rank beside their baseline),
#: ``family_witness_auroc``: graded (the reference metrics score 0.25-1 there), though weight size
#: alone also separates a gain-3 family, which the planted families, averaged with it, keep from
#: paying. The real-condition scores ``calibration.mixture_ari`` and ``discriminability.auroc`` are
#: shown, not main, and computed only on such a release: on embedded-v1 the conditions that share a
#: task differ mostly in weight size (L1 shrinks it), so a size-only metric solves them and the
#: reference metrics cannot (AUROC 0.45-0.51, ARI about 0).
MAIN_SCORES: dict[str, tuple[str, ...]] = {
    "conformance": ("checks_passed",),
    "calibration": ("twin_auroc", "noise_spearman", "confound_auroc"),
    "trend": ("evidence_share",),
    "discriminability": ("planted_auroc", "family_witness_auroc"),
    "reliability": ("test_retest_spearman",),
    "agreement": ("spearman",),
    "cost": ("seconds_per_pair",),
}
#: The headline scores a metric result's summary copies from its suites, as ``suite.score``.
SUMMARY_SCORES: tuple[tuple[str, str], ...] = tuple(
    (suite, score) for suite, names in MAIN_SCORES.items() for score in names)


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
        return write_atomically(path, text)

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
# Validation: the published JSON Schema, then the checks a schema cannot express
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a result file: where (``file``, ``field``) and what to do about it."""

    field: str
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = " ".join(x for x in (self.file, self.field) if x)
        return f"{where}: {self.message}" if where else self.message

    def in_file(self, file: str) -> Problem:
        return Problem(self.field, self.message, file)


@functools.lru_cache(maxsize=1)
def result_schema() -> dict[str, Any]:
    """The published JSON Schema (draft 2020-12) of a leaderboard submission; ``$defs/result``: a result."""
    return json.loads((resources.files("degzoo.benchmark") / SCHEMA_FILE).read_text("utf-8"))


@functools.lru_cache(maxsize=2)
def _validator(entry: bool) -> Draft202012Validator:
    schema = result_schema()
    registry: Registry[Any] = Registry().with_resource(schema["$id"], Resource.from_contents(schema))
    root = {"$ref": schema["$id"] if entry else f"{schema['$id']}#/$defs/result"}
    return Draft202012Validator(root, registry=registry)


def schema_problems(data: Any, *, entry: bool = False) -> list[Problem]:
    """Where ``data`` breaks the JSON Schema (``entry``: as a leaderboard submission), each with the fix."""
    problems: dict[tuple[str, str], Problem] = {}
    for err in _validator(entry).iter_errors(data):
        for problem in _explain(err):
            problems.setdefault((problem.field, problem.message), problem)
    return sorted(problems.values(), key=lambda p: p.field)


def _explain(err: JsonSchemaError) -> list[Problem]:
    field = ""
    for part in err.absolute_path:
        field += f"[{part}]" if isinstance(part, int) else f"{'.' if field else ''}{_clip(str(part))}"
    value, rule, schema = err.instance, err.validator, err.schema if isinstance(err.schema, dict) else {}
    hint = schema.get("description") or ""
    if rule == "required":
        return [
            Problem(_join(field, k), "is required but missing; add it" + (f" ({hint})" if hint else ""))
            for k in err.validator_value
            if isinstance(value, dict) and k not in value
        ]
    if rule == "additionalProperties":
        allowed = ", ".join(schema.get("properties", {}))
        return [
            Problem(_join(field, k), f"unknown field; remove it (allowed here: {allowed})")
            for k in value
            if k not in schema.get("properties", {})
        ]
    if rule == "propertyNames":
        return [Problem(_join(field, err.instance), err.message.replace(repr(err.instance), "this name"))]
    if rule == "type":
        wanted = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        text = f"must be {' or '.join(_TYPE_WORDS[t] for t in wanted)}, got {_kind(value)}"
    elif rule in ("minimum", "maximum"):
        lo, hi = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        text = f"{value!r} is outside the valid range [{lo:g}, {hi:g}]"
    elif rule in ("enum", "const"):
        options = err.validator_value if rule == "enum" else [err.validator_value]
        text = f"{_short(value)} is not allowed; use one of {', '.join(json.dumps(o) for o in options)}"
    elif rule == "maxLength":
        text = f"is {len(value)} characters long; shorten it to at most {err.validator_value}"
    elif rule in ("pattern", "minLength"):
        text = f"{_short(value)} is not valid"
    elif rule == "not":
        text = "is not allowed here"
    else:
        text = err.message
    return [Problem(field or "<document>", f"{text}; {hint}" if hint else text)]


_TYPE_WORDS = {"object": "a JSON object", "array": "a list", "string": "a string", "number": "a number",
               "integer": "an integer", "boolean": "true or false", "null": "null"}


def _join(field: str, key: Any) -> str:
    return f"{field}.{_clip(str(key))}" if field else _clip(str(key))


def _clip(text: str) -> str:
    text = text if len(text) <= 40 else text[:37] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list",
            dict: "an object"}.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    if isinstance(value, str):
        return _clip(repr(value))
    small = isinstance(value, (bool, float)) or (isinstance(value, int) and abs(value) < 10**30)
    return _clip(json.dumps(value)) if value is None or small else _kind(value)


def summary_of(suites: Any) -> dict[str, Any]:
    """The summary a result must carry: the :data:`SUMMARY_SCORES` its suites report, copied."""
    if not isinstance(suites, dict):
        return {}
    out = {}
    for suite, score in SUMMARY_SCORES:
        scores = suites.get(suite, {}).get("scores") if isinstance(suites.get(suite), dict) else None
        if isinstance(scores, dict) and score in scores:
            out[f"{suite}.{score}"] = scores[score]
    return out


def consistency_problems(data: Any) -> list[Problem]:
    """What the schema cannot check: finite numbers, ``low <= value <= high``, the summary recomputed.

    A metric's summary holds copies of suite scores, ``{"<suite>.<score>": score}``, at least the
    :data:`SUMMARY_SCORES` its suites report (:func:`summary_of`); rankings never read it.

    Safe on any input (it looks only at the parts that have the right shape).
    """
    if not isinstance(data, dict):
        return []
    problems = []
    try:
        json.dumps(data, allow_nan=False)
    except (ValueError, TypeError) as exc:
        problems.append(Problem("<document>", f"holds a value JSON cannot store exactly ({exc}); NaN and "
                                "infinity are not allowed: drop a score that cannot be computed"))
    suites = data.get("suites") if isinstance(data.get("suites"), dict) else {}
    summary = data.get("summary") if isinstance(data.get("summary"), dict) else {}
    scored = [(f"summary.{k}", v) for k, v in summary.items()]
    for name, suite in suites.items():
        if isinstance(suite, dict) and isinstance(suite.get("scores"), dict):
            scored += [(f"suites.{name}.scores.{k}", v) for k, v in suite["scores"].items()]
    for where, score in scored:
        if isinstance(score, dict) and all(_finite(score.get(k)) for k in ("value", "low", "high")):
            lo, v, hi = score["low"], score["value"], score["high"]
            tol = 1e-9 * max(1.0, abs(v))
            if not (lo <= v + tol and v <= hi + tol):
                problems.append(Problem(where, f"confidence interval [{lo!r}, {hi!r}] does not contain the "
                                        f"value {v!r}; low ≤ value ≤ high is required"))
    if data.get("kind") != "metric":
        return problems  # a control's summary aggregates over conditions (the board ranks its suites)
    for key, score in summary.items():
        suite, _, name = key.partition(".")
        source = suites.get(suite, {}).get("scores", {}) if isinstance(suites.get(suite), dict) else {}
        if not isinstance(source, dict) or name not in source:
            problems.append(Problem(f"summary.{_clip(key)}", f"{suite}.{name} is not a score of the suites; "
                                    "the summary only copies suite scores: remove it"))
        elif score != source[name]:
            problems.append(Problem(f"summary.{_clip(key)}", f"must equal suites.{suite}.scores.{name}; the "
                                    "summary only copies suite scores (re-run the harness)"))
    for key in sorted(set(summary_of(suites)) - set(summary)):
        problems.append(Problem(f"summary.{key}", "is missing; a metric's summary copies every headline "
                                "score its suites report (re-run the harness)"))
    return problems


def result_problems(data: Any, *, entry: bool = False) -> list[Problem]:
    """Every problem of a parsed result (``entry``: a leaderboard submission): schema, then consistency."""
    return schema_problems(data, entry=entry) + consistency_problems(data)


def validate_result(
    data: Any, *, manifest_sha256: str | None = None, raise_on_error: bool = True
) -> list[str]:
    """Every problem of a result dict, each with how to fix it; raises unless ``raise_on_error=False``.

    ``manifest_sha256``, when given, must equal the file's ``zoo.manifest_sha256`` (a result
    computed on another zoo release is rejected).
    """
    problems = result_problems(data)
    zoo = data.get("zoo") if isinstance(data, dict) else None
    sha = zoo.get("manifest_sha256") if isinstance(zoo, dict) else None
    if manifest_sha256 is not None and isinstance(sha, str) and sha != manifest_sha256:
        problems.append(Problem("zoo.manifest_sha256", f"{sha[:12]}… does not match the release's "
                                f"{manifest_sha256[:12]}…: the result was computed on another zoo release; "
                                "recompute it on this one"))
    texts = [str(p) for p in problems]
    if texts and raise_on_error:
        raise ValidationError(_problem_text(texts, "invalid result"))
    return texts


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


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
    "MAIN_SCORES",
    "SCHEMA_FILE",
    "SCHEMA_VERSION",
    "STATUSES",
    "SUMMARY_SCORES",
    "MetricResult",
    "Problem",
    "Score",
    "SuiteResult",
    "consistency_problems",
    "environment",
    "jsonable",
    "load_result",
    "result_filename",
    "result_problems",
    "result_schema",
    "schema_problems",
    "summary_of",
    "validate_result",
]
