"""The leaderboard's submission format: a harness result file plus a ``submission`` block.

The format is one published JSON Schema (draft 2020-12), ``degzoo/benchmark/result.schema.json``
(:func:`~degzoo.benchmark.results.result_schema`; ``degzoo leaderboard build`` also writes it to
the board folder, so anyone can check a file without torch). A submission carries::

    "submission": {
        "name": "display name",                 # 1-100 characters, at least one ASCII letter/digit
        "authors": "A. Author, B. Author",      # a string or a list of strings
        "code_url": "https://..." | null,       # http(s) only
        "paper_url": "https://..." | null,      # http(s) only
        "package": {"name": "mypkg", "version": "1.2.0",   # the importable metric/control, pinned
                    "entry": "mypkg.metrics:MyMetric"}      # optional: a module of that package
    }

:func:`check_document` returns *every* problem of a parsed document (a :class:`Problem` names the
field and says how to fix it); nothing here raises on bad input. It runs the schema and the
harness's consistency checks (:func:`~degzoo.benchmark.results.result_problems`: no NaN, intervals
contain their value, the summary equals the suite scores), then what only the leaderboard knows:
the zoo release and its manifest sha256 are ones this degzoo knows, a result degzoo ships is
entered by the maintainers, and a metric reports a main score for every ranked suite.

**Reference entries** are not declared by a flag: a result is a reference (★), a reference
implementation, a baseline or a negative control exactly when its content (:func:`content_key`) is
that of a result file degzoo ships in ``degzoo/reference/<folder>/`` (:data:`SHIPPED_ROLES`,
:func:`shipped_role`). A result whose measurements (:func:`result_fingerprint`: the zoo and every
suite's status, scores and details) are a shipped result's but whose content is not (its cost,
package, name or metric edited) is refused as a duplicate of it (:func:`shipped_duplicate`). Names,
authors and parameters may not carry the board's marks (★, ✓, "(baseline)", ...), and a package
called ``degzoo`` must be the installed degzoo's version (:data:`BOARD_MARKS`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from degzoo._version import __version__
from degzoo.benchmark.results import SUMMARY_SCORES, Problem, result_problems
from degzoo.benchmark.suites import protocol_differences
from degzoo.errors import ValidationError
from degzoo.release_folders import named_release_path, named_releases, pinned_releases

__all__ = [
    "INVARIANCES",
    "KNOWN_RELEASES",
    "LEVELS",
    "MAX_FILE_BYTES",
    "METRIC_SUITES",
    "SHIPPED_ROLES",
    "TRACKS",
    "KnownRelease",
    "Problem",
    "Shipped",
    "SubmissionError",
    "check_document",
    "content_key",
    "entry_id",
    "known_releases",
    "layout_path",
    "read_shipped",
    "result_fingerprint",
    "safe_url",
    "shipped_duplicate",
    "shipped_role",
    "track_of",
]

#: Largest accepted result file (bytes).
MAX_FILE_BYTES = 1_000_000
MAX_URL = 500

#: Kept equal to ``degzoo.metrics.base.LEVELS`` / ``INVARIANCES`` and to the schema (a test checks it).
LEVELS: tuple[str, ...] = ("behaviour", "dynamics", "weights", "representation")
INVARIANCES: frozenset[str] = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})
TRACKS: tuple[str, ...] = (*(f"metric-{level}" for level in LEVELS), "control")
#: Every suite a metric entry contains: the same names as ``degzoo.benchmark.SUITES`` (a test checks it).
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
CONTROL_BUDGET_PREFIX = "control-track/"
#: Folders of ``degzoo/reference`` whose result files the board marks, and the role each gets:
#: ``"reference"`` (★, the paper's metrics and controls), ``"reference implementation"`` (a
#: package users use today, e.g. ``dsa-metric``, scored through its own code), ``"baseline"``
#: (measures users actually reach for, to show where a naive or classical choice lands) or
#: ``"negative control"`` (metrics that must score low for the benchmark to be valid).
SHIPPED_ROLES: dict[str, str] = {
    "metrics": "reference",
    "control": "reference",
    "implementations": "reference implementation",
    "baselines": "baseline",
    "negative-controls": "negative control",
}
#: What the board writes beside an entry's name to say what it is (see ``render``): symbols, and
#: words in brackets. A submitted name, author or parameter that holds one is refused, so that no
#: entry can look like one degzoo ships or verified (compared after NFKC and case folding).
BOARD_MARKS: tuple[str, ...] = ("★", "☆", "✩", "✪", "✫", "✬", "✭", "✮", "✯", "✰", "⭐", "🌟", "✓", "✔",
                                "✅", "☑", "🗸", "✗", "✘", "❌")
_MARK_WORDS = re.compile(
    r"[(\[{<]\s*(?:ref(?:erence)?\.?\s*impl(?:ementation)?\.?|reference|negative\s+control|control|"
    r"baseline|shipped|verified|unverified|not\s+reproduced|incomplete|official)\s*[)\]}>]",
    re.IGNORECASE,
)

_COMPONENT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_URL_FORBIDDEN = re.compile(r"[\s\"'<>\\`{}|^\x00-\x1f\x7f]")


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


@functools.lru_cache(maxsize=1)
def _packaged_releases() -> tuple[KnownRelease, ...]:
    """The finished releases degzoo opens by name (``degzoo/releases/<name>/``, e.g. ``zoo-v2``, and
    a source checkout's ``releases/<name>/``), read like :func:`_embedded_release` (name and sha256
    of ``manifest.json``), without importing ``degzoo.zoo``; and the pinned Hub releases, by their
    pins (a folder of the same name wins)."""
    out = []
    for folder in filter(None, map(named_release_path, named_releases())):
        try:
            data = (folder / "manifest.json").read_bytes()
            name = json.loads(data)["release"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not finished yet, or not a release
        if isinstance(name, str) and name == folder.name:
            out.append(KnownRelease(name=name, manifest_sha256=hashlib.sha256(data).hexdigest()))
    present = {known.name for known in out}
    out += [KnownRelease(name=pin.name, manifest_sha256=pin.manifest_sha256)
            for pin in pinned_releases().values() if pin.name not in present]
    return tuple(out)


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
    """The releases a result may cite: the embedded zoo, the releases degzoo ships
    (``degzoo/releases/``, opened by name), :data:`KNOWN_RELEASES`, and ``extra``.

    ``extra`` maps a release name to its manifest sha256 (or a :class:`KnownRelease`); it wins
    over the built-in entries (tests use it to declare a synthetic zoo).
    """
    out: dict[str, KnownRelease] = {}
    if include_embedded and (emb := _embedded_release()) is not None:
        out[emb.name] = emb
    out.update({r.name: r for r in _packaged_releases()})
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


# --------------------------------------------------------------------------------------------
# results degzoo ships
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shipped:
    """A result file degzoo ships: its role, where it is (``<folder>/<file>``) and its fingerprint."""

    role: str
    where: str
    fingerprint: str


def result_fingerprint(doc: Mapping[str, Any]) -> str:
    """sha256 of what a run measured: the zoo and each suite's status, scores and details.

    Unlike :func:`content_key` it leaves out what one may edit without measuring anything (cost,
    timings, environment, messages, metric identity, settings, summary, submission), so an edited
    copy of a result keeps its fingerprint.
    """
    suites = doc.get("suites") if isinstance(doc.get("suites"), Mapping) else {}
    body = {
        "zoo": doc.get("zoo"),
        "suites": {
            name: {k: suite.get(k) for k in ("status", "scores", "details")}
            for name, suite in suites.items()
            if isinstance(suite, Mapping)
        },
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def read_shipped(base: Any) -> dict[str, Shipped]:
    """``content_key`` → :class:`Shipped` of every result file in ``<base>/<folder>/`` and its
    release subfolders (``metrics/zoo-v2/dsa.json``; see :data:`SHIPPED_ROLES`); ``base`` is a
    folder (a path or an ``importlib.resources`` traversable)."""
    out: dict[str, Shipped] = {}
    for folder, role in SHIPPED_ROLES.items():
        path = base / folder
        if not path.is_dir():
            continue
        subfolders = [(f"{folder}/", path)] + [(f"{folder}/{sub.name}/", sub) for sub in
                                               sorted(path.iterdir(), key=lambda x: x.name) if sub.is_dir()]
        for where, sub in subfolders:
            for item in sorted(sub.iterdir(), key=lambda x: x.name):
                if item.name.endswith(".json"):
                    doc = json.loads(item.read_text("utf-8"))
                    out[content_key(doc)] = Shipped(role, f"{where}{item.name}", result_fingerprint(doc))
    return out


@functools.lru_cache(maxsize=1)
def _shipped_results() -> dict[str, Shipped]:
    """The result files of ``degzoo/reference/`` (:func:`read_shipped`)."""
    return read_shipped(resources.files("degzoo") / "reference")


def shipped_role(doc: Mapping[str, Any]) -> str | None:
    """``"reference"``, ``"reference implementation"``, ``"baseline"``, ``"negative control"`` or
    ``None``: the role of a result degzoo ships, by content."""
    try:
        key = content_key(doc)
    except (TypeError, ValueError):
        return None
    shipped = _shipped_results().get(key)
    return None if shipped is None else shipped.role


def shipped_duplicate(doc: Mapping[str, Any]) -> Shipped | None:
    """The shipped result whose measurements ``doc`` copies (:func:`result_fingerprint`), unless
    ``doc`` is that very result (then it has its role); ``None`` otherwise."""
    try:
        key, fingerprint = content_key(doc), result_fingerprint(doc)
    except (TypeError, ValueError):
        return None
    shipped = _shipped_results()
    if key in shipped:
        return None
    return next((s for s in shipped.values() if s.fingerprint == fingerprint), None)


# --------------------------------------------------------------------------------------------
# the checks
# --------------------------------------------------------------------------------------------


def check_document(
    doc: Any,
    *,
    known: Mapping[str, str | KnownRelease] | None = None,
    require_submission: bool = True,
) -> list[Problem]:
    """Every problem of a parsed result document (``[]``: valid). Never raises on bad input.

    ``known`` adds zoo releases (name → manifest sha256) to those of :func:`known_releases`.
    ``require_submission=False`` checks a bare harness result (no ``submission`` block).
    """
    problems = result_problems(doc, entry=require_submission)
    if isinstance(doc, dict):
        problems += _zoo_problems(doc.get("zoo"), known_releases(known))
        if not problems:
            problems += _ranking_problems(doc) + _protocol_problems(doc)
        sub = doc.get("submission")
        package = sub.get("package") if isinstance(sub, dict) else None
        foreign = isinstance(package, dict) and package.get("name") != "degzoo"
        if not problems and foreign and shipped_role(doc):
            problems.append(Problem("submission", "this result is one degzoo ships; it is entered by "
                                        "the maintainers (degzoo leaderboard add-reference), not submitted"))
        if not problems and (copied := shipped_duplicate(doc)) is not None:
            problems.append(Problem("<file>", f"duplicates the shipped result {copied.where} "
                                    f"({copied.role}): every suite's status, scores and details are that "
                                    "file's, only cost, package, name or identity differ; a result that "
                                    "reproduces a shipped one exactly adds no entry to the board"))
        problems += _mark_problems(doc) + _package_problems(doc)
    return problems


def _strings(value: Any, field: str) -> Iterator[tuple[str, str]]:
    """Every string in ``value`` (keys included) with the field it sits at."""
    if isinstance(value, str):
        yield field, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k, field)
            yield from _strings(v, f"{field}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{field}[{i}]")


def board_mark(text: str) -> str | None:
    """The board mark (:data:`BOARD_MARKS`, or a word such as "(baseline)") that ``text`` holds."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    found = next((m for m in BOARD_MARKS if m in folded), None)
    if found is None and (match := _MARK_WORDS.search(re.sub(r"\s+", " ", folded))):
        found = match.group(0)
    return found


def _mark_problems(doc: dict[str, Any]) -> list[Problem]:
    """A name, author or parameter may not look like a mark the board sets itself."""
    sub = doc.get("submission") if isinstance(doc.get("submission"), dict) else {}
    ident = doc.get("metric") if doc.get("kind") == "metric" else doc.get("control")
    ident = ident if isinstance(ident, dict) else {}
    places = [*_strings(sub.get("name"), "submission.name"),
              *_strings(sub.get("authors"), "submission.authors"),
              *_strings(ident.get("name"), f"{doc.get('kind')}.name"),
              *_strings(ident.get("params"), f"{doc.get('kind')}.params")]
    problems = []
    for field, text in places:
        if (mark := board_mark(text)) is not None:
            problems.append(Problem(field, f"holds {mark!r}, a mark the board sets itself (references, "
                                    "verified, baselines, controls); remove it"))
    return problems


def _package_problems(doc: dict[str, Any]) -> list[Problem]:
    """A package named degzoo is this degzoo: its version must be the installed one."""
    sub = doc.get("submission")
    package = sub.get("package") if isinstance(sub, dict) else None
    if not isinstance(package, dict) or not isinstance(package.get("name"), str):
        return []
    if re.sub(r"[-_.]+", "", package["name"]).lower() != "degzoo" or package.get("version") == __version__:
        return []
    if shipped_role(doc) is not None:
        return []  # a result degzoo ships names the degzoo that computed it
    pinned = f"{package['name']}=={package.get('version')}"
    return [Problem("submission.package", f"is {pinned}, but the installed "
                    f"degzoo is {__version__}: only results degzoo ships may name another degzoo; a "
                    "metric of your own names your package, a degzoo metric the installed version")]


def _zoo_problems(zoo: Any, known: Mapping[str, KnownRelease]) -> list[Problem]:
    """The cited zoo release must be one this degzoo knows, with that release's manifest sha256."""
    if not isinstance(zoo, dict) or not isinstance(zoo.get("release"), str):
        return []  # the schema reports it
    release, sha = zoo["release"], zoo.get("manifest_sha256")
    if release.startswith(CONTROL_BUDGET_PREFIX):
        known = {**control_budgets(), **known}
    if release not in known:
        names = ", ".join(sorted(known)) or "none (this installation has no embedded zoo)"
        return [Problem("zoo.release", f"unknown zoo release {release!r}; results must be computed on a "
                        f"published zoo release known to this degzoo version (known: {names}). Upgrade "
                        "degzoo or re-run the harness on a known release.")]
    if isinstance(sha, str) and sha != known[release].manifest_sha256:
        return [Problem("zoo.manifest_sha256", f"does not match zoo release {release!r} (expected "
                        f"{known[release].manifest_sha256}): the result was computed on a different or "
                        "modified copy of the zoo; re-run the harness on the published release.")]
    return []


def _protocol_problems(doc: dict[str, Any]) -> list[Problem]:
    """A metric result is ranked only if it was scored with the board's protocol (same sizes)."""
    if doc["kind"] != "metric":
        return []
    return [Problem(f"settings.{name}", f"is {json.dumps(recorded)}, but the board compares results scored "
                    f"with {json.dumps(protocol)} (the harness's defaults); re-run `degzoo evaluate` "
                    f"without changing it")
            for name, (recorded, protocol) in protocol_differences(doc.get("settings") or {}).items()]


def _ranking_problems(doc: dict[str, Any]) -> list[Problem]:
    """A valid document must also give the leaderboard the scores it ranks by."""
    from degzoo.leaderboard.tiers import CONTROL_LEVELS, RANKED_SUITES, entry_units

    units = entry_units(doc)
    problems = []
    if doc["kind"] == "metric":
        for name in RANKED_SUITES:
            if doc["suites"][name]["status"] == "ok" and units[name] is None:
                wanted = " or ".join(repr(k) for s, k in SUMMARY_SCORES if s == name)
                problems.append(Problem(f"suites.{name}.scores", f"has no main score for the leaderboard: "
                                        f"report {wanted}"))
        return problems
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
