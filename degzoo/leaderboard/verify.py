"""Re-run part of the harness for a submission and record whether its scores reproduce.

``degzoo leaderboard verify RESULT`` imports the submission's metric (``submission.package.entry``
if given, else the result's ``metric.name`` through the metric registry, with the recorded
``metric.params``) — a ``module:attr`` only when the module is one of the pinned distribution's
top-level packages (``importlib.metadata``), never any other module —, checks that the installed
package is the pinned version, runs a cheap subset
of the harness (default: the ``conformance`` and ``discriminability`` suites with at most 8
members per ensemble) on the same zoo release, and compares every score the two runs share.

A score **reproduces** when the re-run value is within ``atol`` (default 0.05) of the submitted
one or the two 95 % confidence intervals overlap (the re-run uses fewer members, so its interval
is wider; overlap is the honest test). A suite reproduces when its status matches and all its
shared scores reproduce. The entry is *verified* when every re-run suite reproduces, *not
reproduced* otherwise; the differences are listed in the record.

The record is a separate file, ``verified/<track>/<release>/<entry id>.json`` — the result file is
never edited. It carries the sha256 of the result file it checked, so a changed result loses its
badge on the board.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import inspect
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from degzoo._version import __version__
from degzoo.benchmark.scoring import score_triple
from degzoo.errors import DegzooError, ValidationError
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
    "DEFAULT_SUITES",
    "VERIFICATION_SCHEMA_VERSION",
    "compare_results",
    "read_verification",
    "verification_path",
    "verify_result",
]

VERIFICATION_SCHEMA_VERSION = 1
DEFAULT_SUITES: tuple[str, ...] = ("conformance", "discriminability")
DEFAULT_MAX_MEMBERS = 8
DEFAULT_ATOL = 0.05
STATUSES = ("verified", "not_reproduced")


def verification_path(root: str | os.PathLike[str], entry: Entry) -> Path:
    """Where the verification record of ``entry`` lives in the leaderboard folder ``root``."""
    return Path(root) / VERIFIED_DIR / entry.layout.relative_to(RESULTS_DIR)


def read_verification(path: str | os.PathLike[str]) -> tuple[dict[str, Any], bytes]:
    """Read a verification record (strict JSON); raise :class:`ValidationError` if it is malformed."""
    p = Path(path)
    if p.is_symlink() or not p.is_file():
        raise ValidationError(f"{p}: not a regular file")
    data = p.read_bytes()
    record = parse_result_bytes(data, str(p))
    if (
        not isinstance(record, dict)
        or record.get("schema_version") != VERIFICATION_SCHEMA_VERSION
        or not isinstance(record.get("result_sha256"), str)
        or record.get("status") not in STATUSES
    ):
        raise ValidationError(f"{p}: not a verification record (schema_version, result_sha256, status)")
    return record, data


def compare_results(
    submitted: Mapping[str, Any],
    rerun: Mapping[str, Any],
    suites: Sequence[str],
    *,
    atol: float = DEFAULT_ATOL,
) -> tuple[bool, list[dict[str, Any]]]:
    """``(reproduced, rows)``: one row per compared suite status or score, see the module docstring."""
    rows: list[dict[str, Any]] = []
    compared = 0
    for name in suites:
        old = (submitted.get("suites") or {}).get(name)
        new = (rerun.get("suites") or {}).get(name)
        if not isinstance(old, Mapping) or not isinstance(new, Mapping):
            rows.append(
                {
                    "suite": name,
                    "score": None,
                    "ok": False,
                    "note": "suite missing from the " + ("submission" if old is None else "re-run"),
                }
            )
            continue
        if old.get("status") != new.get("status"):
            rows.append(
                {
                    "suite": name,
                    "score": None,
                    "ok": False,
                    "note": f"status {old.get('status')!r} submitted, {new.get('status')!r} on re-run"
                    + (f": {new.get('message')}" if new.get("message") else ""),
                }
            )
            continue
        shared = [s for s in (old.get("scores") or {}) if s in (new.get("scores") or {})]
        for score in shared:
            a, b = score_triple(old["scores"][score]), score_triple(new["scores"][score])
            if a is None or b is None:
                rows.append(
                    {"suite": name, "score": score, "ok": False, "note": "malformed or non-finite score"}
                )
                continue
            overlap = a[1] <= b[2] and b[1] <= a[2]
            ok = abs(a[0] - b[0]) <= atol or overlap
            compared += 1
            rows.append(
                {
                    "suite": name,
                    "score": score,
                    "submitted": {"value": a[0], "low": a[1], "high": a[2]},
                    "rerun": {"value": b[0], "low": b[1], "high": b[2]},
                    "difference": b[0] - a[0],
                    "ok": ok,
                }
            )
    reproduced = compared > 0 and all(r["ok"] for r in rows)
    return reproduced, rows


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


def _check_module(entry: Entry, spec: str) -> None:
    """Refuse to import ``spec`` (``module:attr``) unless its module belongs to the pinned distribution."""
    package = entry.submission["package"]["name"]
    top = spec.partition(":")[0].split(".")[0]
    wanted = _normalise(package)
    modules = metadata.packages_distributions()
    if wanted not in {_normalise(d) for d in modules.get(top, [])}:
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
    if rel is None or rel.repo_id is None:
        return None  # the embedded zoo
    from degzoo.zoo import open_release

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
    return dict(out)


def verify_result(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    suites: Sequence[str] = DEFAULT_SUITES,
    max_members: int = DEFAULT_MAX_MEMBERS,
    atol: float = DEFAULT_ATOL,
    seed: int = 0,
    known: Mapping[str, str | KnownRelease] | None = None,
    evaluate: Callable[..., Any] | None = None,
    allow_version_mismatch: bool = False,
    write: bool = True,
    release: Any = None,
) -> tuple[dict[str, Any], Path | None]:
    """Re-run ``suites`` for the submission at ``path``; return the record and where it was written.

    ``root`` is the leaderboard folder (default: the one the file is in); the record is written
    there unless ``write=False`` or there is no folder. ``evaluate`` replaces the harness's
    ``evaluate_metric`` / ``evaluate_control`` (it is called as ``evaluate(method, release=...,
    suites=..., max_members=..., seed=...)``, with the keywords it accepts, and returns a result
    document or an object with ``to_json()``/``to_dict()``). ``release`` is the zoo release folder
    (or opened release) to re-run on; by default the embedded zoo or the known Hub release the
    result cites. Its manifest must be the one the result cites.
    """
    root_path = Path(root) if root is not None else find_root(path)
    entry = validate_file(path, root=root_path, known=known)
    suites = list(suites)
    unknown = [s for s in suites if s not in entry.doc["suites"]]
    if unknown:
        raise SubmissionError(
            str(path), [Problem("suites", f"the submission has no suite(s) {', '.join(unknown)}")]
        )
    if max_members < 2:
        raise DegzooError(f"max_members must be at least 2, got {max_members}")
    if evaluate is None:
        ev_metric, ev_control = _harness()
        evaluate = ev_metric if entry.doc["kind"] == "metric" else ev_control
        if evaluate is None:
            raise DegzooError(
                "this degzoo has no harness to re-run "
                + ("metric" if entry.doc["kind"] == "metric" else "control")
                + " results (degzoo.benchmark.evaluate_metric / evaluate_control); upgrade degzoo"
            )
    warning = _check_installed(entry, allow_version_mismatch)
    method = _make_method(entry)
    rerun = _call(
        evaluate,
        method,
        release=_release_arg(entry, known, release),
        suites=suites,
        max_members=max_members,
        seed=seed,
        progress=False,
    )
    reproduced, rows = compare_results(entry.doc, rerun, suites, atol=atol)
    record: dict[str, Any] = {
        "schema_version": VERIFICATION_SCHEMA_VERSION,
        "entry": entry.layout.as_posix(),
        "result_sha256": entry.sha256,
        "status": "verified" if reproduced else "not_reproduced",
        "checked": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "degzoo_version": __version__,
        "package": dict(entry.submission["package"]),
        "suites": suites,
        "max_members": max_members,
        "atol": atol,
        "seed": seed,
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
