"""Re-run every ranked suite of a submission through the real harness and record what reproduces.

``degzoo leaderboard verify RESULT`` imports the submission's metric (``submission.package.entry``
if given, else the result's ``metric.name`` through the metric registry, with the recorded
``metric.params``) — a ``module:attr`` only when the module is one of the pinned distribution's
top-level packages (``importlib.metadata``), never any other module —, checks that the installed
package is the pinned version, and re-runs **every ranked suite** (:data:`RANKED_SUITES`) with the
result's own seed and bootstrap size on the zoo release it cites (the embedded zoo, a release
degzoo ships such as ``zoo-v2``, or a known Hub release).

**Which networks.** By default the re-run is the board's full protocol (``max_members`` = the
result's, 16): the same seeded computation as the submission's (``r = 1``). For a metric too slow
for that, ``max_members=m`` re-runs on a fixed subset, the first ``m`` converged members of each
condition with the result's seed (``r = m / M``, at least :data:`MIN_SUBSET`: a smaller subset's
bootstrap is too coarse, e.g. a twin AUROC of 1 with a zero-width interval from 3 networks against
0.71 from 12); the record says which (``subset``). When a score does not reproduce, the metric is
re-run once more: if the two re-runs differ, the metric is **not deterministic** given its seed
(the record keeps both).

**When a main score reproduces** (every score of :data:`~degzoo.benchmark.results.MAIN_SCORES` of
every ranked suite; ``hw`` = the re-run's 95 % half-width, ``atol`` a floor for float round-off
across CPUs):

- status: the same (a suite the submission reports as ``timeout`` or ``error`` counts 0 on the
  board whatever it holds, and is not compared);
- the same main scores on both sides (one only the submission claims, or one it left out, is a
  mismatch);
- a deterministic metric at the full protocol: value, low and high each within ``atol`` of the
  re-run's, and the same count — it is the same computation;
- otherwise: ``|claimed - re-run| <= factor · max(hw, PROTOCOL_HW) · s + atol`` with
  ``s = sqrt(1 - r)`` for a deterministic metric on a subset (the sampling error of a nested
  subset's estimate about the full one is ``sqrt(σ_m² - σ_M²) ≈ σ_m · sqrt(1 - r)``) and ``s = 1``
  for a metric that is not deterministic (two runs on the same networks differ by about their
  sampling error). :data:`PROTOCOL_HW` (0.05) is the precision the protocol is sized for: a
  bootstrap near a score's ceiling (an AUROC of 0.96 from 8 networks: ±0.01) understates how far
  the full run may land (0.036 on the shipped ``behaviour_ood (variant=input_noise)``);
- and, in that case, the claimed half-width between ``hw · r / 8 - atol`` and ``hw`` plus the
  tolerance: a claimed interval much narrower than the re-run's (e.g. zero-width where the
  re-run's is not) or wider than it is a mismatch (a wide interval keeps an entry in tier 1, a
  narrow one separates it). Near a ceiling intervals shrink faster than ``1/n`` (``cka``'s
  test-retest: ±0.002 on 16 members, ±0.021 on 8), hence the slack of 8.

The claimed interval never widens the tolerance: overlapping intervals prove nothing.

**Identity.** The result's ``metric`` (name, level, params, invariances) must be what the re-run
loads, the loaded metric must come from the pinned package (the module of its class), and
``environment.implementation`` (the package a reference implementation runs) must match.

The record is a separate file, ``verified/<track>/<release>/<entry id>.json`` (the result file is
never edited). It carries the sha256 of the result it checked and the re-run's own scores and
identity, from which the board **re-derives** the status with its own tolerances
(:func:`recheck`): a record's ``status`` field is never trusted. Records are written by the
board's verify job only; ``degzoo leaderboard validate --against BASE`` refuses a pull request that
adds, edits or removes one (:func:`~degzoo.leaderboard.validate.check_no_removals`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from degzoo._version import __version__
from degzoo.benchmark.results import MAIN_SCORES
from degzoo.benchmark.scoring import RANKED_SUITES, score_triple
from degzoo.benchmark.suites import Settings
from degzoo.errors import DegzooError, InvalidParameterError, ValidationError
from degzoo.leaderboard.schema import KnownRelease, Problem, SubmissionError, known_releases
from degzoo.leaderboard.validate import (
    RESULTS_DIR,
    VERIFIED_DIR,
    Entry,
    find_root,
    parse_result_bytes,
    validate_file,
)

__all__ = [
    "DEFAULT_ATOL",
    "DEFAULT_FACTOR",
    "VERIFICATION_SCHEMA_VERSION",
    "check_tolerances",
    "compare_results",
    "read_verification",
    "recheck",
    "verification_path",
    "verify_result",
]

VERIFICATION_SCHEMA_VERSION = 2
#: Floor of every tolerance: float round-off across CPUs and BLAS builds (scores are shown to 3 places).
DEFAULT_ATOL = 1e-3
#: How many re-run half-widths (scaled by ``sqrt(1 - r)``) a subset's estimate may differ by.
DEFAULT_FACTOR = 2.0
#: The smallest subset verify re-runs on, as a fraction of the result's members per condition.
MIN_SUBSET = 0.5
#: The 95 % half-width the board's protocol is sized for (``degzoo.benchmark.suites.Settings``):
#: the smallest sampling error a tolerance assumes outside an exact reproduction.
PROTOCOL_HW = 0.05
#: How much narrower than the re-run's (times ``r``) a claimed interval may be.
NARROW_SLACK = 8.0
STATUSES = ("verified", "not_reproduced")
#: Suite statuses that count 0 on the board whatever the suite holds: a claim of them cannot help.
_COUNTS_ZERO = ("timeout", "error")
_IDENTITY_FIELDS = ("name", "level", "params", "invariances")


def verification_path(root: str | os.PathLike[str], entry: Entry) -> Path:
    """Where the verification record of ``entry`` lives in the leaderboard folder ``root``."""
    return Path(root) / VERIFIED_DIR / entry.layout.relative_to(RESULTS_DIR)


def read_verification(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """Read a verification record (strict JSON); raise :class:`ValidationError` if it is malformed
    or from an older verify (schema version 1 re-ran only some suites)."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        raise ValidationError(f"{p}: not a regular file")
    data = p.read_bytes()
    record = parse_result_bytes(data, str(p))
    if not isinstance(record, dict) or record.get("schema_version") != VERIFICATION_SCHEMA_VERSION:
        raise ValidationError(f"{p}: not a verification record of schema version "
                              f"{VERIFICATION_SCHEMA_VERSION} (re-run `degzoo leaderboard verify`)")
    if (
        not isinstance(record.get("result_sha256"), str)
        or record.get("status") not in STATUSES
        or not isinstance(record.get("rerun"), dict)
        or not isinstance(record.get("subset"), dict)
    ):
        raise ValidationError(f"{p}: not a verification record (result_sha256, status, rerun, subset)")
    return record, data


def check_tolerances(atol: Any, factor: Any = DEFAULT_FACTOR) -> None:
    """Raise :class:`InvalidParameterError` unless ``atol`` and ``factor`` are finite and >= 0."""
    for name, value in (("atol", atol), ("factor", factor)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or value < 0:
            raise InvalidParameterError(f"verify: {name} must be a finite number >= 0, got {value!r}")


def _compared_scores(kind: str, suite: str, scores: Mapping[str, Any]) -> list[str]:
    """The scores of a suite that the board ranks by and verify therefore compares."""
    if kind == "metric":
        return [k for k in MAIN_SCORES.get(suite, ()) if k in scores]
    return [k for k in scores if k == "main" or k.endswith("_ratio")]


def _row(suite: str, score: str | None, ok: bool, note: str, **extra: Any) -> dict[str, Any]:
    return {"suite": suite, "score": score, "ok": ok, "note": note, **extra}


def _compare_score(a: tuple[float, float, float], na: Any, b: tuple[float, float, float], nb: Any,
                   r: float, factor: float, atol: float, deterministic: bool) -> tuple[bool, float, str]:
    """``(ok, tolerance, note)`` for a claimed score ``a`` against its re-run ``b`` (module docstring)."""
    hw = max(0.0, b[2] - b[1]) / 2
    claimed_hw = max(0.0, a[2] - a[1]) / 2
    if r >= 1 and deterministic:
        worst = max(abs(x - y) for x, y in zip(a, b, strict=True))
        if worst > atol:
            return False, atol, f"the full re-run differs by {worst:.3g} (allowed {atol:g})"
        if na != nb:
            return False, atol, f"count {na} claimed, {nb} on re-run"
        return True, atol, ""
    s = math.sqrt(max(0.0, 1 - r)) if deterministic else 1.0
    tol = factor * max(hw, PROTOCOL_HW) * s + atol
    what = "the subset re-run" if deterministic else "a metric that is not deterministic"
    if abs(a[0] - b[0]) > tol:
        return False, tol, f"differs by {a[0] - b[0]:+.3g}; {what} allows ±{tol:.3g}"
    # a zero-width claim is judged by its value: exact scores are legitimate on the full protocol
    # (a fraction of checks; trend verdicts that no replicate changes), and the full re-run, the
    # default, checks every interval exactly
    if 0 < claimed_hw < hw * r / NARROW_SLACK - atol:
        return False, tol, (f"claimed interval half-width {claimed_hw:.3g} is much narrower than the "
                            f"re-run's {hw:.3g} on {r:.0%} of the members")
    if claimed_hw > hw + tol:
        return False, tol, (f"claimed interval half-width {claimed_hw:.3g} is wider than the re-run's "
                            f"{hw:.3g} by more than ±{tol:.3g}")
    return True, tol, ""


def _same_scores(first: Mapping[str, Any], second: Mapping[str, Any], atol: float) -> bool:
    """Whether two re-runs' suites (``{suite: {status, scores}}``) agree to ``atol`` (deterministic)."""
    for name, suite in first.items():
        other = second.get(name) or {}
        if suite.get("status") != other.get("status") or set(suite.get("scores") or {}) != set(
                other.get("scores") or {}):
            return False
        for key, score in (suite.get("scores") or {}).items():
            x, y = score_triple(score), score_triple(other["scores"][key])
            if x is None or y is None or max(abs(p - q) for p, q in zip(x, y, strict=True)) > atol:
                return False
    return True


def compare_results(
    submitted: Mapping[str, Any],
    rerun: Mapping[str, Any],
    suites: Sequence[str],
    *,
    subset: float = 1.0,
    factor: float = DEFAULT_FACTOR,
    atol: float = DEFAULT_ATOL,
    deterministic: bool = True,
) -> tuple[bool, list[dict[str, Any]]]:
    """``(reproduced, rows)``: one row per compared suite status or main score (module docstring).

    ``subset`` is ``r``, the re-run's members per condition over the result's (1: the full
    protocol); ``deterministic``: whether two runs of the metric on the same networks agree.
    """
    check_tolerances(atol, factor)
    kind = str(submitted.get("kind"))
    rows: list[dict[str, Any]] = []
    compared = 0
    for name in suites:
        old = (submitted.get("suites") or {}).get(name)
        new = (rerun.get("suites") or {}).get(name)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            rows.append(_row(name, None, False,
                             "suite missing from the " + ("submission" if old is None else "re-run")))
            continue
        if old.get("status") in _COUNTS_ZERO:
            rows.append(_row(name, None, True, f"submitted as {old.get('status')!r}: counts 0, not compared"))
            continue
        if old.get("status") != new.get("status"):
            rows.append(_row(name, None, False, f"status {old.get('status')!r} submitted, "
                             f"{new.get('status')!r} on re-run"
                             + (f": {new.get('message')}" if new.get("message") else "")))
            continue
        old_scores, new_scores = old.get("scores") or {}, new.get("scores") or {}
        claimed, found = _compared_scores(kind, name, old_scores), _compared_scores(kind, name, new_scores)
        for score in sorted(set(claimed) ^ set(found)):
            side = "submission only" if score in claimed else "re-run only"
            rows.append(_row(name, score, False, f"main score in the {side}"))
        for score in [s for s in claimed if s in found]:
            a, b = score_triple(old_scores[score]), score_triple(new_scores[score])
            if a is None or b is None:
                rows.append(_row(name, score, False, "malformed or non-finite score"))
                continue
            ok, tol, note = _compare_score(a, old_scores[score].get("n"), b, new_scores[score].get("n"),
                                           subset, factor, atol, deterministic)
            compared += 1
            rows.append(_row(name, score, ok, note,
                             submitted={"value": a[0], "low": a[1], "high": a[2]},
                             rerun={"value": b[0], "low": b[1], "high": b[2]},
                             difference=b[0] - a[0], tolerance=tol))
        if not claimed and not found:
            status = old.get("status")
            rows.append(_row(name, None, status != "ok", f"{status} on both sides" if status != "ok"
                             else "no main score to compare"))
    reproduced = compared > 0 and all(r["ok"] for r in rows)
    return reproduced, rows


def _identity_rows(doc: Mapping[str, Any], loaded: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What the result says it is against what the re-run loaded (``loaded``: see :func:`verify_result`)."""
    rows = []
    kind = doc.get("kind")
    claimed = doc.get(kind) if isinstance(doc.get(kind), Mapping) else {}
    ident = loaded.get("identity") or {}
    fields = _IDENTITY_FIELDS if kind == "metric" else ("name", "params")
    for field in fields:
        a, b = claimed.get(field), ident.get(field)
        if field == "invariances":
            a, b = sorted(a or []), sorted(b or [])
        ok = json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
        rows.append(_row("identity", f"{kind}.{field}", ok,
                         "" if ok else f"the result says {json.dumps(a)}, the re-run loads {json.dumps(b)}"))
    env = doc.get("environment") if isinstance(doc.get("environment"), Mapping) else {}
    a, b = env.get("implementation"), loaded.get("implementation")
    rows.append(_row("identity", "environment.implementation", a == b,
                     "" if a == b else f"the result says {a!r}, the re-run runs {b!r}"))
    owner = loaded.get("module_package")
    ok = owner is True
    rows.append(_row("identity", "submission.package", ok,
                     "" if ok else f"the loaded metric's module {loaded.get('module')!r} is not part of the "
                     "pinned package"))
    return rows


def recheck(doc: Mapping[str, Any], record: Mapping[str, Any]) -> tuple[bool, list[dict[str, Any]]]:
    """The board's own verdict on ``record`` for the result ``doc``, re-derived from the re-run's
    scores and identity stored in the record with the board's tolerances (never its ``status``).

    Verified only when the record re-ran every ranked suite (metrics) and everything reproduces.
    """
    rerun = record.get("rerun") or {}
    subset = record.get("subset") or {}
    try:
        m, full = int(subset["max_members"]), int(subset["protocol_members"])
        r = min(1.0, m / full) if full > 0 and m >= 2 else 0.0
    except (KeyError, TypeError, ValueError):
        r = 0.0
    if r < MIN_SUBSET:
        return False, [_row("record", None, False, "the record does not say which members it re-ran, or "
                            f"re-ran fewer than {MIN_SUBSET:.0%} of them")]
    wanted = list(RANKED_SUITES) if doc.get("kind") == "metric" else sorted(doc.get("suites") or {})
    repeat = rerun.get("repeat")
    deterministic = not isinstance(repeat, Mapping) or _same_scores(rerun.get("suites") or {}, repeat,
                                                                    DEFAULT_ATOL)
    ok, rows = compare_results(doc, rerun, wanted, subset=r, deterministic=deterministic)
    rows = _identity_rows(doc, rerun.get("loaded") or {}) + rows
    return ok and all(row["ok"] for row in rows), rows


def _harness() -> tuple[Callable[..., Any] | None, Callable[..., Any] | None]:
    try:
        import degzoo.benchmark as bench  # type: ignore[import-not-found]
    except ImportError:
        return None, None
    return getattr(bench, "evaluate_metric", None), getattr(bench, "evaluate_control", None)


def _check_installed(entry: Entry, allow_version_mismatch: bool) -> str | None:
    pkg = entry.submission["package"]
    try:
        installed = metadata.version(pkg["name"])
    except metadata.PackageNotFoundError:
        raise DegzooError(
            f"{entry.layout}: package {pkg['name']!r} is not installed; run "
            f"`pip install {pkg['name']}=={pkg['version']}` and verify again"
        ) from None
    if installed != pkg["version"]:
        message = (
            f"installed {pkg['name']} is {installed}, the submission pins {pkg['version']}; "
            f"run `pip install {pkg['name']}=={pkg['version']}`"
        )
        if not allow_version_mismatch:
            raise DegzooError(f"{entry.layout}: {message} (or pass allow_version_mismatch=True)")
        return message
    return None


def _owners(module: str) -> set[str]:
    """The (normalised) distributions that provide the top-level package of ``module``."""
    top = module.partition(":")[0].split(".")[0]
    return {_normalise(d) for d in metadata.packages_distributions().get(top, [])}


def _check_module(entry: Entry, spec: str) -> None:
    """Refuse to import ``spec`` (``module:attr``) unless its module belongs to the pinned distribution."""
    package = entry.submission["package"]["name"]
    wanted = _normalise(package)
    if wanted not in _owners(spec):
        modules = metadata.packages_distributions()
        mine = sorted(t for t, ds in modules.items() if wanted in map(_normalise, ds))
        raise DegzooError(
            f"{entry.layout}: {spec!r} is not a module of the pinned package {package!r} (its top-level "
            f"modules: {', '.join(mine) or 'none found'}); verify imports only the submitted package: "
            "fix submission.package.entry (or metric.name)"
        )


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _make_method(entry: Entry) -> Any:
    doc = entry.doc
    spec = entry.submission["package"].get("entry")
    target = spec or (doc["metric"]["name"] if doc["kind"] == "metric" else "")
    if ":" in target:
        _check_module(entry, target)
    if doc["kind"] == "metric":
        from degzoo.metrics import get

        return get(spec or doc["metric"]["name"], **doc["metric"]["params"])
    if not spec:
        raise DegzooError(
            f"{entry.layout}: a control result needs submission.package.entry ('module:Object') "
            "to be verified"
        )
    from degzoo.metrics.registry import _resolve

    factory = _resolve(spec)
    return factory(**doc["control"]["params"]) if callable(factory) else factory


def _method_module(method: Any) -> str:
    """The module whose code the loaded method runs (a wrapped plain function: the function's)."""
    fn = getattr(method, "fn", None)
    if callable(fn) and isinstance(getattr(fn, "__module__", None), str):
        return str(fn.__module__)
    return type(method).__module__


def _release_arg(entry: Entry, known: Mapping[str, str | KnownRelease] | None, release: Any) -> Any:
    if release is not None:
        root = Path(release) if isinstance(release, (str, os.PathLike)) else Path(release.root)
        manifest = root / "manifest.json"
        sha = hashlib.sha256(manifest.read_bytes()).hexdigest() if manifest.is_file() else None
        if sha != entry.doc["zoo"]["manifest_sha256"]:
            raise DegzooError(
                f"{root} is not the zoo release {entry.release!r} the result was computed on "
                f"(manifest sha256 {sha}, the result cites {entry.doc['zoo']['manifest_sha256']})"
            )
        return release
    rel = known_releases(known).get(entry.release)
    if rel is None:
        return None
    from degzoo.zoo import open_release
    from degzoo.zoo.release import packaged_release_path

    if rel.repo_id is None:  # the embedded zoo, or a release degzoo ships (opened by name)
        return entry.release if packaged_release_path(entry.release) is not None else None
    return open_release(rel.repo_id, revision=rel.revision)


def _call(evaluate: Callable[..., Any], method: Any, **kwargs: Any) -> dict[str, Any]:
    try:
        params = inspect.signature(evaluate).parameters
    except (TypeError, ValueError):
        params = {}
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    out = evaluate(method, **kwargs)
    for attr in ("to_json", "to_dict", "as_dict"):
        if not isinstance(out, Mapping) and callable(getattr(out, attr, None)):
            out = getattr(out, attr)()
    if isinstance(out, (str, os.PathLike)) and Path(out).is_file():
        out = json.loads(Path(out).read_text("utf-8"))
    if not isinstance(out, Mapping):
        raise DegzooError(f"the harness returned {type(out).__name__}, not a result document")
    return json.loads(json.dumps(out, allow_nan=False, default=str))


def _main_scores(kind: str, rerun: Mapping[str, Any], suites: Sequence[str]) -> dict[str, Any]:
    """The part of a re-run the board needs to re-derive the verdict: each suite's status, message
    and compared scores."""
    out = {}
    for name in suites:
        suite = (rerun.get("suites") or {}).get(name)
        if not isinstance(suite, Mapping):
            continue
        scores = suite.get("scores") or {}
        out[name] = {"status": suite.get("status"), "message": suite.get("message"),
                     "scores": {k: scores[k] for k in _compared_scores(kind, name, scores)}}
    return out


def verify_result(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    max_members: int | None = None,
    atol: float = DEFAULT_ATOL,
    factor: float = DEFAULT_FACTOR,
    known: Mapping[str, str | KnownRelease] | None = None,
    evaluate: Callable[..., Any] | None = None,
    allow_version_mismatch: bool = False,
    write: bool = True,
    release: Any = None,
) -> tuple[dict[str, Any], Path | None]:
    """Re-run every ranked suite for the submission at ``path``; return the record and where it went.

    ``root`` is the leaderboard folder (default: the one the file is in); the record is written
    there unless ``write=False`` or there is no folder. ``max_members``: members per condition of
    the re-run (default: the result's, the full protocol; fewer: a subset, see the module
    docstring). ``atol`` and ``factor``: the tolerances of this run's report (the board re-derives
    the status with its own, :func:`recheck`). ``evaluate`` replaces the harness's
    ``evaluate_metric`` (it is called as ``evaluate(method, release=..., suites=...,
    max_members=..., seed=..., n_boot=..., time_limit=None, progress=False)``, with the keywords it
    accepts, and returns a result document or an object with ``to_json()``). ``release``
    is the zoo release folder (or opened release) to re-run on; by default the embedded zoo, the
    release degzoo ships or the known Hub release the result cites. Its manifest must be the one
    the result cites.
    """
    check_tolerances(atol, factor)
    root_path = Path(root) if root is not None else find_root(path)
    entry = validate_file(path, root=root_path, known=known)
    doc = entry.doc
    settings = doc.get("settings") or {}
    protocol = settings.get("max_members", Settings.max_members)
    if not isinstance(protocol, int) or protocol < 2:
        protocol = Settings.max_members
    members = protocol if max_members is None else max_members
    smallest = max(2, math.ceil(MIN_SUBSET * protocol))
    if isinstance(members, bool) or not isinstance(members, int) or not smallest <= members <= protocol:
        raise InvalidParameterError(
            f"verify: max_members must be an integer from {smallest} to the result's {protocol} (a smaller "
            f"subset cannot bound its own sampling error), got {max_members!r}")
    suites = list(RANKED_SUITES) if doc["kind"] == "metric" else sorted(doc["suites"])
    missing = [s for s in suites if s not in doc["suites"]]
    if missing:
        raise SubmissionError(
            str(path), [Problem("suites", f"the submission has no suite(s) {', '.join(missing)}")]
        )
    if evaluate is None:
        ev_metric, ev_control = _harness()
        evaluate = ev_metric if doc["kind"] == "metric" else ev_control
        if evaluate is None:
            raise DegzooError(
                "this degzoo has no harness to re-run "
                + ("metric" if doc["kind"] == "metric" else "control")
                + " results (degzoo.benchmark.evaluate_metric / evaluate_control); upgrade degzoo"
            )
    warning = _check_installed(entry, allow_version_mismatch)
    method = _make_method(entry)
    module = _method_module(method)
    seed = settings.get("seed", 0)
    arguments = {"release": _release_arg(entry, known, release), "suites": suites, "max_members": members,
                 "seed": seed, "n_boot": settings.get("n_boot", Settings.n_boot), "time_limit": None,
                 "progress": False}
    rerun = _call(evaluate, method, **arguments)
    env = rerun.get("environment") if isinstance(rerun.get("environment"), Mapping) else {}
    loaded = {
        "identity": rerun.get(doc["kind"]),
        "implementation": env.get("implementation"),
        "module": module,
        "module_package": _normalise(entry.submission["package"]["name"]) in _owners(module),
    }
    subset = {
        "max_members": members,
        "protocol_members": protocol,
        "seed": seed,
        "members": "every member the result used (the full protocol)" if members == protocol else
        f"the first {members} converged members of each condition, as the harness picks them",
    }
    stored: dict[str, Any] = {"loaded": loaded, "suites": _main_scores(doc["kind"], rerun, suites)}
    ok, rows = compare_results(doc, stored, suites, subset=members / protocol, factor=factor, atol=atol)
    if not ok and any("submitted" in row and not row["ok"] for row in rows):
        # a score did not reproduce: is the metric deterministic given its seed? run it once more
        again = _call(evaluate, _make_method(entry), **arguments)
        stored["repeat"] = _main_scores(doc["kind"], again, suites)
        deterministic = _same_scores(stored["suites"], stored["repeat"], atol)
        if not deterministic:
            ok, rows = compare_results(doc, stored, suites, subset=members / protocol, factor=factor,
                                       atol=atol, deterministic=False)
    rows = _identity_rows(doc, loaded) + rows
    record: dict[str, Any] = {
        "schema_version": VERIFICATION_SCHEMA_VERSION,
        "entry": entry.layout.as_posix(),
        "result_sha256": entry.sha256,
        "status": "verified" if ok and all(r["ok"] for r in rows) else "not_reproduced",
        "checked": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "degzoo_version": __version__,
        "package": dict(entry.submission["package"]),
        "suites": suites,
        "subset": subset,
        "deterministic": "repeat" not in stored or _same_scores(stored["suites"], stored["repeat"], atol),
        "factor": factor,
        "atol": atol,
        "rerun": stored,
        "differences": rows,
        "message": warning,
    }
    if not write or root_path is None:
        return record, None
    out = verification_path(root_path, entry)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, sort_keys=True, allow_nan=False) + "\n", "utf-8")
    os.replace(tmp, out)
    return record, out
