"""The leaderboard's submission schema: a harness result file plus a ``submission`` block.

A result file (schema version 1) is written by the scoring harness (:mod:`degzoo.benchmark`);
the leaderboard accepts it as a *submission* when it also carries::

    "submission": {
        "name": "display name",                 # any text, 1-100 characters (escaped on the board)
        "authors": "A. Author, B. Author",      # a string or a list of strings
        "code_url": "https://..." | null,       # http(s) only
        "paper_url": "https://..." | null,      # http(s) only
        "package": {"name": "mypkg", "version": "1.2.0",   # the importable metric/control, pinned
                    "entry": "mypkg.metrics:MyMetric"},     # optional: how to import it (verify)
        "reference": false                      # true only for the package's own reference results
    }

:func:`check_document` checks one parsed document and returns *every* problem found (a
:class:`Problem` names the field and says how to fix it); nothing here raises on bad input.
The checks are strict: required fields, no unknown fields, finite numbers inside the range a
score can take (AUROC, shares and pass rates in [0, 1], correlations in [-1, 1], costs and
counts ≥ 0), confidence intervals with ``low ≤ value ≤ high``, a supported schema version, a
zoo release whose manifest sha256 is known to this package, valid version strings, and
strings that can be written out safely (UTF-8 encodable, no control characters in names).

When the harness's own validator (``degzoo.benchmark.results.validate_result``) is importable
it is run too, on the document without its ``submission`` block, and its verdict is added to
the leaderboard's own checks (see :func:`harness_problems`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import inspect
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from degzoo.errors import ValidationError

__all__ = [
    "INVARIANCES",
    "KNOWN_RELEASES",
    "LEVELS",
    "MAX_FILE_BYTES",
    "METRIC_SUITES",
    "SUPPORTED_SCHEMA_VERSIONS",
    "TRACKS",
    "KnownRelease",
    "Problem",
    "SubmissionError",
    "check_document",
    "content_key",
    "entry_id",
    "known_releases",
    "layout_path",
    "safe_url",
    "track_of",
]

#: Result-file schema versions the leaderboard reads.
SUPPORTED_SCHEMA_VERSIONS = frozenset({1})
#: Largest accepted result file (bytes).
MAX_FILE_BYTES = 1_000_000
#: Deepest nesting of objects/arrays accepted anywhere in a result file.
MAX_DEPTH = 32
MAX_STRING = 10_000
MAX_KEY = 200
MAX_NAME = 100
MAX_AUTHORS = 500
MAX_URL = 500
#: Numbers in scores must be smaller than this in magnitude; integers anywhere must fit in int64.
MAX_SCORE_MAGNITUDE = 1e15
_INT64 = 2**63

#: Kept equal to ``degzoo.metrics.base.LEVELS`` / ``INVARIANCES`` (a test checks it); copied so
#: that validating a file does not import torch.
LEVELS: tuple[str, ...] = ("behaviour", "dynamics", "weights", "representation")
INVARIANCES: frozenset[str] = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})
TRACKS: tuple[str, ...] = (*(f"metric-{level}" for level in LEVELS), "control")
KINDS = ("metric", "control")
STATUSES = ("ok", "failed", "timeout", "error", "skipped")
#: Every suite a metric result must contain (a leaderboard entry is a full harness run); the
#: same names as ``degzoo.benchmark.SUITES`` (a test checks it).
METRIC_SUITES: tuple[str, ...] = (
    "conformance",
    "calibration",
    "trend",
    "discriminability",
    "reliability",
    "sample_size",
    "agreement",
    "cost",
)

_TOP_REQUIRED = (
    "schema_version",
    "kind",
    "degzoo_version",
    "zoo",
    "suites",
    "summary",
    "cost",
    "environment",
    "created",
)
_TOP_OPTIONAL = ("metric", "control", "settings", "submission")
_SUITE_KEYS = ("status", "scores", "details", "message", "seconds")
_SCORE_KEYS = ("value", "low", "high", "n")
_SUBMISSION_REQUIRED = ("name", "authors", "code_url", "paper_url", "package", "reference")
_PACKAGE_REQUIRED = ("name", "version")
_PACKAGE_OPTIONAL = ("entry",)

_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_COMPONENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
#: A zoo release name, or a control-track budget ``control-track/<budget>`` (one slash).
_RELEASE_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}(/[A-Za-z0-9][A-Za-z0-9._-]{0,63})?")
CONTROL_BUDGET_PREFIX = "control-track/"
_IDENT_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
_PKG_NAME_RE = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,98}[A-Za-z0-9])?")
_ENTRY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_.]*")
_URL_FORBIDDEN = re.compile(r"[\s\"'<>\\`{}|^\x00-\x1f\x7f]")

# score-name tokens → the range the score can take
_UNIT_TOKENS = frozenset({
    "auroc", "auc", "share", "fraction", "frac", "rate", "accuracy", "proportion", "probability",
    "prob", "pvalue", "coverage", "power", "pass", "passed", "converged", "main",
})  # fmt: skip
_CORR_TOKENS = frozenset({"spearman", "pearson", "kendall", "correlation", "corr", "rho", "icc", "ari"})
_NONNEG_TOKENS = frozenset({
    "seconds", "time", "cost", "memory", "bytes", "mb", "members", "count", "std", "sd", "se",
    "variance", "var", "distance", "width", "pairs", "networks", "ratio",
})  # fmt: skip


# --------------------------------------------------------------------------------------------
# problems
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a submission: where (``file``, ``field``) and what to do about it."""

    field: str
    message: str
    file: str | None = None

    def __str__(self) -> str:
        where = " ".join(x for x in (self.file, self.field) if x)
        return f"{where}: {self.message}" if where else self.message

    def in_file(self, file: str) -> Problem:
        return Problem(self.field, self.message, file)


class SubmissionError(ValidationError):
    """A result file or submission was rejected; ``problems`` lists every reason."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        n = len(self.problems)
        super().__init__(f"{source}: rejected, {n} problem{'s' * (n != 1)}:\n{lines}")


# --------------------------------------------------------------------------------------------
# known zoo releases
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownRelease:
    """A zoo release results may cite: its name, its manifest's sha256 and where it lives."""

    name: str
    manifest_sha256: str
    repo_id: str | None = None  # Hub dataset repo; None: the embedded zoo
    revision: str | None = None  # the release tag on the Hub


#: Zoo releases published on the Hub, by name. Add a release here when it is published (the
#: embedded zoo is always known: :func:`known_releases` reads it from the installed package).
KNOWN_RELEASES: dict[str, KnownRelease] = {}


@functools.lru_cache(maxsize=1)
def _embedded_release() -> KnownRelease | None:
    """Name and manifest sha256 of the embedded zoo, read without importing ``degzoo.zoo``.

    Same values as ``degzoo.zoo.open_release()`` ``.name`` / ``.sha256`` (the sha256 of the
    ``manifest.json`` bytes); ``None`` when this installation has no embedded zoo yet.
    """
    try:
        data = (resources.files("degzoo") / "embedded" / "manifest.json").read_bytes()
        name = json.loads(data)["release"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(name, str):
        return None
    return KnownRelease(name=name, manifest_sha256=hashlib.sha256(data).hexdigest())


def _control_budgets() -> tuple[KnownRelease, ...]:
    try:  # imports torch: only done for control results
        from degzoo.benchmark.control import BUDGETS  # type: ignore[import-not-found]

        return tuple(KnownRelease(f"{CONTROL_BUDGET_PREFIX}{b.name}", b.sha256) for b in BUDGETS.values())
    except Exception:
        return ()


def control_budgets() -> dict[str, KnownRelease]:
    """The control-track budgets of this degzoo (``control-track/<name>`` → its sha256)."""
    return {r.name: r for r in _control_budgets()}


def known_releases(
    extra: Mapping[str, str | KnownRelease] | None = None, *, include_embedded: bool = True
) -> dict[str, KnownRelease]:
    """The releases a result may cite: the embedded zoo, :data:`KNOWN_RELEASES`, and ``extra``.

    ``extra`` maps a release name to its manifest sha256 (or a :class:`KnownRelease`); it wins
    over the built-in entries (tests use it to declare a synthetic zoo).
    """
    out: dict[str, KnownRelease] = {}
    if include_embedded and (emb := _embedded_release()) is not None:
        out[emb.name] = emb
    out.update(KNOWN_RELEASES)
    for name, value in (extra or {}).items():
        out[name] = value if isinstance(value, KnownRelease) else KnownRelease(name, str(value))
    return out


# --------------------------------------------------------------------------------------------
# helpers used by the layout and the renderers
# --------------------------------------------------------------------------------------------


def track_of(doc: Mapping[str, Any]) -> str | None:
    """The leaderboard track of a (shape-valid) result: ``metric-<level>`` or ``control``."""
    kind = doc.get("kind")
    if kind == "control":
        return "control"
    if kind == "metric":
        metric = doc.get("metric")
        level = metric.get("level") if isinstance(metric, Mapping) else None
        if level in LEVELS:
            return f"metric-{level}"
    return None


def entry_id(name: str) -> str:
    """The file-name stem of a submission named ``name``: lower-case ``[a-z0-9._-]``.

    ``"My DSA (fast)"`` → ``"my-dsa-fast"``; accents are dropped (``"Métrique"`` →
    ``"metrique"``). Two names with the same id are the same entry. May return ``""``
    (a name with no ASCII letter or digit), which the validator rejects.
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_name).lower()
    slug = re.sub(r"\.{2,}", ".", slug)
    slug = re.sub(r"-{2,}", "-", slug).strip("-._")
    return slug[:100].strip("-._")


def release_dir(release: str) -> str:
    """The folder name of a release: the name itself, ``/`` written as ``--`` (control budgets)."""
    return release.replace("/", "--")


def layout_path(doc: Mapping[str, Any]) -> PurePosixPath:
    """Where a (valid) submission lives: ``results/<track>/<zoo release>/<entry id>.json``."""
    track = track_of(doc)
    release = release_dir(doc["zoo"]["release"])
    stem = entry_id(doc["submission"]["name"])
    if not track or not _safe_component(release) or not _safe_component(stem):
        raise ValidationError(
            "cannot place this result in the leaderboard layout: validate it first "
            "(degzoo leaderboard validate FILE)"
        )
    return PurePosixPath("results", track, release, f"{stem}.json")


def content_key(doc: Mapping[str, Any]) -> str:
    """sha256 of the result itself (without ``submission`` and ``created``), for duplicate checks."""
    body = {k: v for k, v in doc.items() if k not in ("submission", "created")}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def safe_url(url: Any) -> str | None:
    """``url`` if it is an absolute http(s) URL without characters that could break out of markup."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or _URL_FORBIDDEN.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or parts.username:
        return None
    return url


def _safe_component(name: Any) -> bool:
    return isinstance(name, str) and bool(_COMPONENT_RE.fullmatch(name)) and ".." not in name


def score_range(suite: str, score: str, kind: str) -> tuple[float, float]:
    """The range a score can take, from its name (see the module docstring)."""
    tokens = set(re.split(r"[^a-z0-9]+", score.lower())) - {""}
    if suite == "cost":
        return (0.0, math.inf)
    if tokens & _CORR_TOKENS:
        return (-1.0, 1.0)
    if tokens & _UNIT_TOKENS and not (kind == "control" and "main" in tokens):
        return (0.0, 1.0)
    if tokens & _NONNEG_TOKENS:
        return (0.0, math.inf)
    return (-math.inf, math.inf)


# --------------------------------------------------------------------------------------------
# the checker
# --------------------------------------------------------------------------------------------


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def add(self, field: str, message: str) -> None:
        self.problems.append(Problem(field, message))

    # -- generic ----------------------------------------------------------------------------
    def obj(
        self,
        value: Any,
        field: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> bool:
        if not isinstance(value, dict):
            self.add(field or "<document>", f"must be a JSON object, got {_kind(value)}")
            return False
        for key in required:
            if key not in value:
                self.add(_join(field, key), "is required but missing; add it")
        allowed = set(required) | set(optional)
        for key in value:
            if key not in allowed:
                self.add(
                    _join(field, key),
                    f"unknown field; remove it (allowed here: {', '.join(sorted(allowed))})",
                )
        return True

    def string(
        self,
        value: Any,
        field: str,
        *,
        max_len: int = MAX_STRING,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
        allow_empty: bool = False,
    ) -> bool:
        if not isinstance(value, str):
            self.add(field, f"must be a string, got {_kind(value)}")
            return False
        if not allow_empty and not value.strip():
            self.add(field, "must not be empty")
            return False
        if len(value) > max_len:
            self.add(field, f"is {len(value)} characters long; shorten it to at most {max_len}")
            return False
        if pattern is not None and not pattern.fullmatch(value):
            self.add(field, f"{_short(value)} is not valid{'; ' + hint if hint else ''}")
            return False
        return True

    def number(self, value: Any, field: str, lo: float = -math.inf, hi: float = math.inf) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.add(field, f"must be a number, got {_kind(value)}")
            return False
        if isinstance(value, float) and not math.isfinite(value):
            self.add(field, f"must be a finite number, got {value}; report a failed suite instead")
            return False
        if abs(value) > MAX_SCORE_MAGNITUDE:
            self.add(field, f"{value:.3g} is implausibly large (limit ±{MAX_SCORE_MAGNITUDE:.0e})")
            return False
        if not lo <= value <= hi:
            self.add(field, f"{value!r} is outside the valid range [{lo:g}, {hi:g}]")
            return False
        return True

    def integer(self, value: Any, field: str, lo: int = 0) -> bool:
        if isinstance(value, bool) or not isinstance(value, int):
            self.add(field, f"must be an integer, got {_kind(value)}")
            return False
        if not lo <= value < _INT64:
            self.add(field, f"{_short(value)} is outside the valid range [{lo}, 2^63)")
            return False
        return True

    def version(self, value: Any, field: str) -> None:
        if not self.string(value, field, max_len=64):
            return
        from packaging.version import InvalidVersion, Version

        try:
            Version(value)
        except InvalidVersion:
            self.add(
                field,
                f"{_short(value)} is not a version number; pin an exact release such as '1.2.0' "
                "(PEP 440, no ranges)",
            )

    def free(self, value: Any, field: str) -> None:
        """A free-form JSON value (params, details, summary, ...): safe strings, ints, finite floats."""
        stack = [(value, field)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, dict):
                for key, sub in item.items():
                    self.text_ok(key, f"{where} (key {_short(key)})", max_len=MAX_KEY, control=True)
                    stack.append((sub, _join(where, key)))
            elif isinstance(item, list):
                stack.extend((sub, f"{where}[{i}]") for i, sub in enumerate(item))
            elif isinstance(item, str):
                self.text_ok(item, where, max_len=MAX_STRING, control=False)
            elif isinstance(item, bool) or item is None:
                continue
            elif isinstance(item, int):
                if not -_INT64 <= item < _INT64:
                    self.add(where, "integer does not fit in 64 bits; store it as a string")
            elif isinstance(item, float):
                if not math.isfinite(item):
                    self.add(where, f"must be finite, got {item}")
            else:  # pragma: no cover - json never produces anything else
                self.add(where, f"unsupported value of type {type(item).__name__}")

    def text_ok(self, text: str, field: str, *, max_len: int, control: bool) -> bool:
        """No lone surrogates (cannot be written as UTF-8); with ``control``, no control characters."""
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.add(field, "contains an invalid character (a lone UTF-16 surrogate); fix the text")
            return False
        if len(text) > max_len:
            self.add(field, f"is {len(text)} characters long; shorten it to at most {max_len}")
            return False
        if "\x00" in text or (control and any(unicodedata.category(c) in ("Cc", "Cf") for c in text)):
            self.add(field, "contains control characters; remove them")
            return False
        return True

    # -- the result document --------------------------------------------------------------------
    def document(self, doc: Any, known: Mapping[str, KnownRelease], *, require_submission: bool) -> None:
        if not self.obj(doc, "", _TOP_REQUIRED, _TOP_OPTIONAL):
            return
        sv = doc.get("schema_version")
        if "schema_version" in doc and (
            isinstance(sv, bool) or not isinstance(sv, int) or sv not in SUPPORTED_SCHEMA_VERSIONS
        ):
            self.add(
                "schema_version",
                f"{_short(sv)} is not a supported schema version (supported: "
                f"{sorted(SUPPORTED_SCHEMA_VERSIONS)}); re-run the harness with this degzoo version",
            )
        kind = doc.get("kind")
        if "kind" in doc and kind not in KINDS:
            self.add("kind", f"{_short(kind)} is not a kind; use 'metric' or 'control'")
        if kind == "metric":
            self.metric(doc)
        elif kind == "control":
            self.control(doc)
        if "degzoo_version" in doc:
            self.version(doc["degzoo_version"], "degzoo_version")
        if "zoo" in doc:
            self.zoo(doc["zoo"], known)
        if "suites" in doc:
            self.suites(doc["suites"], kind if kind in KINDS else None)
        if kind == "metric" and isinstance(doc.get("summary"), dict):
            self.summary_scores(doc["summary"])
        free = ("cost", "environment", "settings")
        for key in free if kind == "metric" else ("summary", *free):
            if key in doc:
                if isinstance(doc[key], dict):
                    self.free(doc[key], key)
                else:
                    self.add(key, f"must be a JSON object, got {_kind(doc[key])}")
        if "created" in doc:
            self.created(doc["created"])
        if "submission" in doc:
            self.submission(doc["submission"])
        elif require_submission:
            self.add(
                "submission",
                'is required for a leaderboard entry: add {"name", "authors", "code_url", '
                '"paper_url", "package": {"name", "version"}, "reference": false}',
            )

    def metric(self, doc: dict[str, Any]) -> None:
        if "control" in doc:
            self.add("control", "a result of kind 'metric' has no 'control' block; remove it")
        if "metric" not in doc:
            self.add("metric", "is required for kind 'metric' (name, level, params, invariances)")
            return
        m = doc["metric"]
        if not self.obj(m, "metric", ("name", "level", "params", "invariances")):
            return
        if "name" in m:
            self.string(m["name"], "metric.name", max_len=200)
            if isinstance(m["name"], str):
                self.text_ok(m["name"], "metric.name", max_len=200, control=True)
        if "level" in m and m["level"] not in LEVELS:
            self.add("metric.level", f"{_short(m['level'])} is not a level; use one of {', '.join(LEVELS)}")
        if "params" in m:
            if isinstance(m["params"], dict):
                self.free(m["params"], "metric.params")
            else:
                self.add("metric.params", f"must be a JSON object, got {_kind(m['params'])}")
        if "invariances" in m:
            inv = m["invariances"]
            if not isinstance(inv, list):
                self.add("metric.invariances", f"must be a list of strings, got {_kind(inv)}")
            else:
                bad = [x for x in inv if not isinstance(x, str) or x not in INVARIANCES]
                if bad:
                    self.add(
                        "metric.invariances",
                        f"unknown invariance(s) {', '.join(_short(x) for x in bad[:5])}; "
                        f"use {', '.join(sorted(INVARIANCES))}",
                    )
                elif len(set(inv)) != len(inv):
                    self.add("metric.invariances", "lists an invariance twice; list each once")

    def control(self, doc: dict[str, Any]) -> None:
        if "metric" in doc:
            self.add("metric", "a result of kind 'control' has no 'metric' block; remove it")
        if "control" not in doc:
            self.add("control", "is required for kind 'control' (name, params)")
            return
        c = doc["control"]
        if not self.obj(c, "control", ("name", "params")):
            return
        if "name" in c and self.string(c["name"], "control.name", max_len=200):
            self.text_ok(c["name"], "control.name", max_len=200, control=True)
        if "params" in c:
            if isinstance(c["params"], dict):
                self.free(c["params"], "control.params")
            else:
                self.add("control.params", f"must be a JSON object, got {_kind(c['params'])}")

    def zoo(self, zoo: Any, known: Mapping[str, KnownRelease]) -> None:
        if not self.obj(zoo, "zoo", ("release", "manifest_sha256")):
            return
        release, sha = zoo.get("release"), zoo.get("manifest_sha256")
        ok_name = "release" in zoo and self.string(
            release,
            "zoo.release",
            max_len=128,
            pattern=_RELEASE_RE,
            hint="a release name uses letters, digits, '.', '_' and '-' (control budgets: "
            "'control-track/<budget>')",
        )
        if ok_name and (".." in release or "--" in release):
            self.add("zoo.release", "must not contain '..' or '--'")
            ok_name = False
        if ok_name and "/" in release and not release.startswith(CONTROL_BUDGET_PREFIX):
            self.add(
                "zoo.release", f"only control-track budgets ({CONTROL_BUDGET_PREFIX}<budget>) contain '/'"
            )
            ok_name = False
        ok_sha = "manifest_sha256" in zoo and self.string(
            sha,
            "zoo.manifest_sha256",
            max_len=64,
            pattern=_SHA256_RE,
            hint="it is the 64-digit lower-case hex sha256 of the release's manifest.json",
        )
        if not ok_name:
            return
        if release.startswith(CONTROL_BUDGET_PREFIX):
            known = {**control_budgets(), **known}
        names = ", ".join(sorted(known)) or "none (this installation has no embedded zoo)"
        if release not in known:
            self.add(
                "zoo.release",
                f"unknown zoo release {release!r}; results must be computed on a published zoo "
                f"release known to this degzoo version (known: {names}). Upgrade degzoo or re-run "
                "the harness on a known release.",
            )
        elif ok_sha and sha != known[release].manifest_sha256:
            self.add(
                "zoo.manifest_sha256",
                f"does not match zoo release {release!r} (expected "
                f"{known[release].manifest_sha256}): the result was computed on a different or "
                "modified copy of the zoo; re-run the harness on the published release.",
            )

    def suites(self, suites: Any, kind: str | None) -> None:
        if not isinstance(suites, dict):
            self.add("suites", f"must be a JSON object of suite name → suite, got {_kind(suites)}")
            return
        if not suites:
            self.add("suites", "is empty; a result needs at least one suite")
            return
        if kind == "metric":
            missing = [s for s in METRIC_SUITES if s not in suites]
            if missing:
                self.add(
                    "suites",
                    f"missing suite(s) {', '.join(missing)}: a leaderboard entry is a full harness "
                    "run; run all suites (a suite that fails is reported with its status)",
                )
        for name, suite in suites.items():
            field = _join("suites", name)
            if not _IDENT_RE.fullmatch(name):
                self.add(field, "suite names use letters, digits, '_', '.', ':' and '-' (≤ 64)")
                continue
            if kind == "metric" and name not in METRIC_SUITES:
                self.add(field, f"unknown metric suite; the suites are {', '.join(METRIC_SUITES)}")
                continue
            self.suite(suite, field, name, kind or "metric")

    def suite(self, suite: Any, field: str, name: str, kind: str) -> None:
        if not self.obj(suite, field, _SUITE_KEYS):
            return
        status = suite.get("status")
        if "status" in suite and status not in STATUSES:
            self.add(f"{field}.status", f"{_short(status)} is not a status; use one of {', '.join(STATUSES)}")
        if "message" in suite:
            msg = suite["message"]
            if msg is not None and self.string(msg, f"{field}.message", allow_empty=True):
                self.text_ok(msg, f"{field}.message", max_len=MAX_STRING, control=False)
            if status in STATUSES and status != "ok" and not (isinstance(msg, str) and msg.strip()):
                self.add(f"{field}.message", f"a suite with status {status!r} needs a message saying why")
        if "seconds" in suite:
            self.number(suite["seconds"], f"{field}.seconds", 0.0)
        if "details" in suite:
            if isinstance(suite["details"], dict):
                self.free(suite["details"], f"{field}.details")
            else:
                self.add(f"{field}.details", f"must be a JSON object, got {_kind(suite['details'])}")
        if "scores" not in suite:
            return
        scores = suite["scores"]
        if not isinstance(scores, dict):
            self.add(f"{field}.scores", f"must be a JSON object of score name → score, got {_kind(scores)}")
            return
        if status == "ok" and not scores and name != "cost":
            self.add(f"{field}.scores", "a suite with status 'ok' must report at least one score")
        for sname, score in scores.items():
            sfield = _join(f"{field}.scores", sname)
            if not sname or not self.text_ok(sname, sfield, max_len=MAX_KEY, control=True):
                if not sname:
                    self.add(sfield, "score names must not be empty")
                continue
            self.score(score, sfield, score_range(name, sname, kind))

    def score(self, score: Any, field: str, rng: tuple[float, float]) -> None:
        if not self.obj(score, field, _SCORE_KEYS):
            return
        ok = {k: k in score and self.number(score[k], f"{field}.{k}", *rng) for k in ("value", "low", "high")}
        if "n" in score:
            self.integer(score["n"], f"{field}.n", 0)
        if all(ok.values()):
            lo, v, hi = score["low"], score["value"], score["high"]
            tol = 1e-9 * max(1.0, abs(v))
            if not (lo <= v + tol and v <= hi + tol):
                self.add(
                    field,
                    f"confidence interval [{lo!r}, {hi!r}] does not contain the value {v!r}; "
                    "low ≤ value ≤ high is required",
                )

    def summary_scores(self, summary: dict[str, Any]) -> None:
        """A metric result's summary: its main scores, ``{"<suite>.<score>": score}``."""
        for key, score in summary.items():
            field = _join("summary", key)
            if not key or not self.text_ok(key, field, max_len=MAX_KEY, control=True):
                if not key:
                    self.add(field, "summary keys look like '<suite>.<score>'")
                continue
            suite, _, name = key.partition(".")
            self.score(score, field, score_range(suite, name or suite, "metric"))

    def created(self, value: Any) -> None:
        if not self.string(value, "created", max_len=64):
            return
        text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
        try:
            _dt.datetime.fromisoformat(text)
        except ValueError:
            self.add("created", f"{_short(value)} is not an ISO-8601 timestamp (e.g. 2025-06-01T12:00:00Z)")

    def submission(self, sub: Any) -> None:
        if not self.obj(sub, "submission", _SUBMISSION_REQUIRED):
            return
        if (
            "name" in sub
            and self.string(sub["name"], "submission.name", max_len=MAX_NAME)
            and self.text_ok(sub["name"], "submission.name", max_len=MAX_NAME, control=True)
            and not entry_id(sub["name"])
        ):
            self.add(
                "submission.name",
                "must contain at least one ASCII letter or digit (it also names the entry's file)",
            )
        if "authors" in sub:
            authors = sub["authors"]
            if isinstance(authors, list):
                if not authors or len(authors) > 50:
                    self.add("submission.authors", "list 1 to 50 authors")
                for i, a in enumerate(authors[:50]):
                    if self.string(a, f"submission.authors[{i}]", max_len=200):
                        self.text_ok(a, f"submission.authors[{i}]", max_len=200, control=True)
            elif self.string(authors, "submission.authors", max_len=MAX_AUTHORS, hint="a string or list"):
                self.text_ok(authors, "submission.authors", max_len=MAX_AUTHORS, control=True)
        for key in ("code_url", "paper_url"):
            if key in sub and sub[key] is not None and safe_url(sub[key]) is None:
                self.add(
                    f"submission.{key}",
                    f"{_short(sub[key])} is not an absolute http:// or https:// URL (≤ {MAX_URL} "
                    "characters, no spaces or quotes); use null if there is none",
                )
        if "reference" in sub and not isinstance(sub["reference"], bool):
            self.add("submission.reference", f"must be true or false, got {_kind(sub['reference'])}")
        if "package" in sub:
            pkg = sub["package"]
            if self.obj(pkg, "submission.package", _PACKAGE_REQUIRED, _PACKAGE_OPTIONAL):
                if "name" in pkg:
                    self.string(
                        pkg["name"],
                        "submission.package.name",
                        max_len=100,
                        pattern=_PKG_NAME_RE,
                        hint="use the distribution name you install with pip",
                    )
                if "version" in pkg:
                    self.version(pkg["version"], "submission.package.version")
                if "entry" in pkg:
                    self.string(
                        pkg["entry"],
                        "submission.package.entry",
                        max_len=200,
                        pattern=_ENTRY_RE,
                        hint="write it as 'module.path:ObjectName'",
                    )


def _join(field: str, key: Any) -> str:
    key = str(key)
    if len(key) > 40:
        key = key[:37] + "..."
    key = key.encode("utf-8", "backslashreplace").decode("utf-8")
    return f"{field}.{key}" if field else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _short(value: Any, limit: int = 40) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value) if _plain(value) else _kind(value)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _plain(value: Any) -> bool:
    return (
        value is None
        or isinstance(value, bool)
        or (isinstance(value, (int, float)) and (not isinstance(value, int) or abs(value) < 10**30))
    )


def json_depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests objects/arrays at most ``limit`` deep (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return False
            children = item.values() if isinstance(item, dict) else item
            stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return True


def check_document(
    doc: Any,
    *,
    known: Mapping[str, str | KnownRelease] | None = None,
    require_submission: bool = True,
    harness: bool = True,
) -> list[Problem]:
    """Every problem of a parsed result document (``[]``: valid). Never raises on bad input.

    ``known`` adds zoo releases (name → manifest sha256) to those of :func:`known_releases`.
    ``require_submission=False`` checks a bare harness result (no ``submission`` block).
    ``harness`` also runs the harness's own validator when it is importable.
    """
    if not json_depth_ok(doc):
        return [Problem("<document>", f"nests deeper than {MAX_DEPTH} levels; flatten it")]
    checker = _Checker()
    checker.document(doc, known_releases(known), require_submission=require_submission)
    problems = checker.problems
    if not problems:
        problems += _ranking_problems(doc)
    if harness:
        problems += harness_problems(doc, problems)
    return problems


def _ranking_problems(doc: dict[str, Any]) -> list[Problem]:
    """A shape-valid document must also give the leaderboard the scores it ranks by."""
    from degzoo.leaderboard.tiers import (
        CONTROL_LEVELS,
        RANKED_SUITES,
        SUITE_MAIN_SCORE,
        entry_units,
        main_score_names,
    )

    problems = []
    summary = doc.get("summary")
    if doc["kind"] == "metric":
        for name in RANKED_SUITES:
            suite = doc["suites"][name]
            if suite["status"] != "ok":
                continue
            mains = main_score_names(name, suite, summary)
            wanted = " or ".join(repr(n) for n in SUITE_MAIN_SCORE[name])
            if not mains:
                problems.append(
                    Problem(
                        f"suites.{name}.scores",
                        f"has no main score for the leaderboard: list it in summary as '{name}.<score>' "
                        f"or report it as {wanted} (in [0, 1], higher is better)",
                    )
                )
            for main in mains:
                if score_range(name, main.rpartition(".")[2], "metric")[1] > 1:
                    problems.append(
                        Problem(
                            f"suites.{name}.scores",
                            f"its main score {main!r} is not a score in [0, 1] (or a correlation); "
                            "the leaderboard averages main scores in [0, 1], higher is better",
                        )
                    )
        return problems
    units = entry_units(doc)
    for cid, suite in doc["suites"].items():
        if suite["status"] != "ok":
            continue
        bad = [u for u, v in units.items() if v is None and (u == cid or u.startswith(f"{cid}/"))]
        if bad:
            problems.append(
                Problem(
                    f"suites.{cid}.scores",
                    "has no usable score for the leaderboard: report 'main' (higher is better) or "
                    f"positive '<level>_ratio' scores for {', '.join(CONTROL_LEVELS)}",
                )
            )
    return problems


# --------------------------------------------------------------------------------------------
# the harness's own validator, when there is one
# --------------------------------------------------------------------------------------------


def _harness_validator() -> Any:
    try:
        from degzoo.benchmark.results import validate_result  # type: ignore[import-not-found]
    except Exception:  # not written yet, or not importable in this installation
        return None
    return validate_result


def harness_problems(doc: Any, already: Sequence[Problem] = ()) -> list[Problem]:
    """Problems the harness's ``validate_result`` finds in ``doc`` (its ``submission`` removed).

    It may return a list of problems (called with ``raise_on_error=False`` when it accepts that),
    raise :class:`~degzoo.errors.ValidationError`, or return anything else for "valid". A message
    about a field that ``already`` reports is dropped (the leaderboard's own message says it).
    Any other exception is reported as a problem, never re-raised.
    """
    validate = _harness_validator()
    if validate is None or not isinstance(doc, dict):
        return []
    body = {k: v for k, v in doc.items() if k != "submission"}
    try:
        params = inspect.signature(validate).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {"raise_on_error": False} if "raise_on_error" in params else {}
    try:
        out = validate(body, **kwargs)
    except ValidationError as exc:
        out = [str(exc) or type(exc).__name__]
    except Exception as exc:
        out = [f"the harness validator could not read this file ({type(exc).__name__}: {exc})"]
    if not isinstance(out, (list, tuple)):
        return []
    fields = [p.field for p in already if p.field and not p.field.startswith("<")]
    problems = []
    for item in out:
        if isinstance(item, Problem):
            problems.append(item)
            continue
        text = str(item)
        if any(f in text or f.split(".")[-1] in (text.split("'")[1:2] or [""]) for f in fields):
            continue
        problems.append(Problem("<harness schema>", text))
    return problems
