"""Result files on disk: reading them safely, the folder layout, duplicates, and append-only checks.

The leaderboard folder (a git repository or a Hub dataset repository) looks like::

    results/<track>/<zoo release>/<entry id>.json    one submission each (never edited by hand)
    verified/<track>/<zoo release>/<entry id>.json   verification records (the board's verify job only)
    LEADERBOARD.md, index.html, results.parquet      rendered by degzoo leaderboard build

``<track>`` is ``metric-<level>`` or ``control``, ``<zoo release>`` the release the result was
computed on, and ``<entry id>`` :func:`~degzoo.leaderboard.schema.entry_id` of the submission's
name. A file anywhere else, under another name, a symbolic link, a file over
:data:`~degzoo.leaderboard.schema.MAX_FILE_BYTES`, two files with the same identity, or two files
with the same results under different names are all rejected.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from degzoo.leaderboard.schema import (
    MAX_FILE_BYTES,
    KnownRelease,
    Problem,
    SubmissionError,
    check_document,
    content_key,
    entry_id,
    release_dir,
    result_fingerprint,
    shipped_role,
    track_of,
)

__all__ = [
    "RESULTS_DIR",
    "VERIFIED_DIR",
    "Entry",
    "check_no_removals",
    "find_root",
    "load_entry",
    "parse_result_bytes",
    "read_result",
    "validate_file",
    "validate_paths",
    "validate_tree",
]

RESULTS_DIR = "results"
VERIFIED_DIR = "verified"
#: Suite statuses of a run that did not finish: the board labels such a result "incomplete".
INCOMPLETE_STATUSES = ("timeout", "error")


@dataclass(frozen=True)
class Entry:
    """A valid submission: its parsed document and identity."""

    path: Path
    doc: dict[str, Any] = field(repr=False)
    sha256: str  # of the file's bytes
    track: str
    release: str
    entry_id: str
    content_key: str
    #: ``"reference"``, ``"reference implementation"``, ``"baseline"``, ``"negative control"`` or
    #: ``None``: set by degzoo from the result's content
    #: (:func:`~degzoo.leaderboard.schema.shipped_role`), never by a flag in the file.
    role: str | None = None
    #: :func:`~degzoo.leaderboard.schema.result_fingerprint`: what the run measured
    fingerprint: str = ""

    @property
    def layout(self) -> PurePosixPath:
        """``results/<track>/<release>/<entry id>.json``."""
        return PurePosixPath(RESULTS_DIR, self.track, release_dir(self.release), f"{self.entry_id}.json")

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.track, self.release, self.entry_id)

    @property
    def submission(self) -> dict[str, Any]:
        return self.doc.get("submission") or {}

    @property
    def name(self) -> str:
        return str(self.submission.get("name") or self.entry_id)

    @property
    def reference(self) -> bool:
        """A reference result (★): one that degzoo itself ships, recognised by its content."""
        return self.role == "reference"

    @property
    def level(self) -> str:
        return self.track.split("-", 1)[1] if self.track.startswith("metric-") else "control"

    @property
    def incomplete(self) -> dict[str, str]:
        """Ranked suites stopped by a time limit or an error (suite → status): they count 0."""
        from degzoo.benchmark.scoring import RANKED_SUITES

        names = RANKED_SUITES if self.doc.get("kind") == "metric" else sorted(self.doc["suites"])
        return {name: status for name in names
                if (status := (self.doc["suites"].get(name) or {}).get("status")) in INCOMPLETE_STATUSES}

    def incomplete_warning(self) -> str | None:
        """The warning ``degzoo leaderboard validate`` prints for an incomplete result, or ``None``."""
        if not self.incomplete:
            return None
        which = ", ".join(f"{name} ({status})" for name, status in self.incomplete.items())
        return (f"{self.layout}: incomplete: {which} count 0 on the board; give a slow metric the time "
                "it needs with `degzoo evaluate --time-limit 0 --workers N` (--resume keeps what finished)")


# --------------------------------------------------------------------------------------------
# reading one file
# --------------------------------------------------------------------------------------------


class _BadJSON(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _BadJSON(
        f"{name} is not allowed: every number must be finite (a suite that could not be scored "
        "is reported with status 'failed' and a message)"
    )


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _BadJSON(f"the number {text[:30]} overflows a double; write a finite number")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 19:
        raise _BadJSON(f"the integer {text[:30]}... has more than 19 digits; it does not fit in 64 bits")
    return int(text)


def _pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in items:
        if key in out:
            raise _BadJSON(f"the key {key[:40]!r} appears twice in one object; keep one")
        out[key] = value
    return out


def parse_result_bytes(data: bytes, source: str = "<result>", *, max_bytes: int = MAX_FILE_BYTES) -> Any:
    """Parse a result file's bytes as strict JSON (no NaN/Infinity, no duplicate keys, ≤ ``max_bytes``)."""
    if len(data) > max_bytes:
        raise SubmissionError(
            source,
            [
                Problem(
                    "<file>",
                    f"is {len(data):,} bytes; the limit is {max_bytes:,}: keep large arrays "
                    "out of 'details' (the leaderboard needs scores, not raw data)",
                )
            ],
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SubmissionError(
            source, [Problem("<file>", f"is not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    try:
        doc = json.loads(
            text, parse_constant=_no_constant, parse_float=_float, parse_int=_int, object_pairs_hook=_pairs
        )
        json.dumps(doc, ensure_ascii=False).encode("utf-8")  # a lone surrogate (\\ud800) cannot be written
        return doc
    except UnicodeEncodeError:
        raise SubmissionError(
            source, [Problem("<file>", "holds an invalid character (a lone UTF-16 surrogate); fix the text")]
        ) from None
    except _BadJSON as exc:
        raise SubmissionError(source, [Problem("<file>", str(exc))]) from None
    except json.JSONDecodeError as exc:
        raise SubmissionError(
            source,
            [Problem("<file>", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")],
        ) from None
    except RecursionError:
        raise SubmissionError(
            source, [Problem("<file>", "nests too deeply to be read; flatten it")]
        ) from None
    except (ValueError, MemoryError, OverflowError) as exc:
        raise SubmissionError(source, [Problem("<file>", f"cannot be read as JSON: {exc}")]) from None


def read_result(path: str | os.PathLike[str], *, max_bytes: int = MAX_FILE_BYTES) -> tuple[Any, bytes]:
    """Read and parse one result file without following symbolic links or reading past the limit."""
    p = Path(path)
    source = str(p)
    if p.is_symlink():
        raise SubmissionError(source, [Problem("<file>", "is a symbolic link; submit the file itself")])
    if not p.is_file():
        raise SubmissionError(source, [Problem("<file>", "does not exist or is not a regular file")])
    try:
        with open(p, "rb") as fh:
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise SubmissionError(source, [Problem("<file>", f"cannot be read: {exc.strerror or exc}")]) from None
    return parse_result_bytes(data, source, max_bytes=max_bytes), data


def load_entry(
    path: str | os.PathLike[str],
    *,
    known: Mapping[str, str | KnownRelease] | None = None,
    data: bytes | None = None,
) -> Entry:
    """Read, parse and check one submission file; raise :class:`SubmissionError` listing every problem."""
    p = Path(path)
    if data is None:
        doc, data = read_result(p)
    else:
        doc = parse_result_bytes(data, str(p))
    problems = check_document(doc, known=known)
    if not p.name.endswith(".json"):
        problems.append(Problem("<file>", "result files end in .json"))
    if problems:
        raise SubmissionError(str(p), problems)
    return Entry(
        path=p,
        doc=doc,
        sha256=hashlib.sha256(data).hexdigest(),
        track=str(track_of(doc)),
        release=doc["zoo"]["release"],
        entry_id=entry_id(doc["submission"]["name"]),
        content_key=content_key(doc),
        role=shipped_role(doc),
        fingerprint=result_fingerprint(doc),
    )


# --------------------------------------------------------------------------------------------
# the leaderboard folder
# --------------------------------------------------------------------------------------------


def find_root(path: str | os.PathLike[str]) -> Path | None:
    """The leaderboard folder a file at ``<root>/results/<track>/<release>/<file>`` belongs to."""
    p = Path(os.path.abspath(path))
    if len(p.parts) >= 5 and p.parts[-4] == RESULTS_DIR:
        return p.parents[3]
    return None


def _scan(root: Path) -> tuple[list[Path], list[Problem]]:
    """Every result file under ``root/results`` and problems with anything else found there."""
    base = root / RESULTS_DIR
    files: list[Path] = []
    problems: list[Problem] = []
    if base.is_symlink():
        return [], [
            Problem(
                "<folder>", "is a symbolic link; the results folder must be a real folder", f"{RESULTS_DIR}/"
            )
        ]
    if not base.is_dir():
        return [], []
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        here = Path(dirpath)
        rel_dir = here.relative_to(root).as_posix()
        depth = len(here.relative_to(base).parts)
        for d in list(dirnames):
            if d.startswith("."):
                dirnames.remove(d)
            elif (here / d).is_symlink() or depth >= 2:
                problems.append(
                    Problem(
                        "<folder>",
                        "unexpected folder or link; the layout is results/<track>/<release>/<entry>.json",
                        f"{rel_dir}/{d}",
                    )
                )
                dirnames.remove(d)
        dirnames.sort()
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = here / name
            if depth != 2:
                problems.append(
                    Problem(
                        "<file>",
                        "is outside the layout results/<track>/<release>/<entry>.json; move or remove it",
                        p.relative_to(root).as_posix(),
                    )
                )
                continue
            files.append(p)
    return files, problems


def _rel(path: Path, root: Path | None) -> str:
    if root is not None:
        try:
            return Path(os.path.abspath(path)).relative_to(Path(os.path.abspath(root))).as_posix()
        except ValueError:
            pass
    return str(path)


def _duplicate_problems(entry: Entry, others: Iterable[Entry], root: Path | None) -> list[Problem]:
    problems = []
    me = os.path.abspath(entry.path)
    for other in others:
        if os.path.abspath(other.path) == me:
            continue
        if other.key == entry.key:
            problems.append(
                Problem(
                    "submission.name",
                    f"the entry {'/'.join(entry.key)} already exists ({_rel(other.path, root)}); a "
                    "submission is never replaced: pick another name (a new version of a metric is "
                    "a new entry, e.g. 'my-metric-v2')",
                )
            )
        elif other.fingerprint == entry.fingerprint:
            problems.append(
                Problem(
                    "<file>",
                    f"has the same results as {_rel(other.path, root)} under another name; submit each "
                    "result once",
                )
            )
    return problems


def validate_file(
    path: str | os.PathLike[str],
    *,
    root: str | os.PathLike[str] | None = None,
    existing: Iterable[Entry] | None = None,
    known: Mapping[str, str | KnownRelease] | None = None,
) -> Entry:
    """Check one submission file, and its place in the leaderboard folder ``root`` if given.

    With ``root`` (default: the leaderboard folder the file sits in, if any) the file must be at
    its layout path when it lies inside ``root/results``, and it must not duplicate an entry of
    ``existing`` (default: the valid entries already in ``root``). A file outside the folder is
    checked as a new submission (it would go to :attr:`Entry.layout`).
    """
    p = Path(path)
    root_path = Path(root) if root is not None else find_root(p)
    entry = load_entry(p, known=known)
    problems: list[Problem] = []
    if root_path is not None:
        rel = _rel(p, root_path)
        inside = not Path(rel).is_absolute() and rel.startswith(f"{RESULTS_DIR}/")
        if inside and rel != entry.layout.as_posix():
            problems.append(
                Problem(
                    "<file>",
                    f"is at {rel}, but its track, zoo release and name place it at "
                    f"{entry.layout.as_posix()}; move it there (the name comes from submission.name)",
                )
            )
        if existing is None:
            existing = _existing_entries(root_path, known)
        problems += _duplicate_problems(entry, existing, root_path)
        taken = not inside and (root_path / entry.layout).exists()
        if taken and not any(pr.field == "submission.name" for pr in problems):
            problems.append(
                Problem(
                    "submission.name",
                    f"{entry.layout.as_posix()} already exists; a submission is never replaced: "
                    "pick another name",
                )
            )
    elif existing is not None:
        problems += _duplicate_problems(entry, existing, None)
    if problems:
        raise SubmissionError(str(p), problems)
    return entry


def _existing_entries(root: Path, known: Mapping[str, str | KnownRelease] | None) -> list[Entry]:
    """The valid entries in ``root`` (invalid ones are reported by :func:`validate_tree`)."""
    files, _ = _scan(root)
    out = []
    for f in files:
        try:
            out.append(load_entry(f, known=known))
        except SubmissionError:
            continue
    return out


def validate_tree(
    root: str | os.PathLike[str], *, known: Mapping[str, str | KnownRelease] | None = None
) -> list[Entry]:
    """Check every file of a leaderboard folder; return the entries or raise with every problem."""
    root_path = Path(root)
    files, problems = _scan(root_path)
    entries: list[Entry] = []
    for f in files:
        rel = _rel(f, root_path)
        try:
            entry = load_entry(f, known=known)
        except SubmissionError as exc:
            problems += [pr.in_file(rel) for pr in exc.problems]
            continue
        if rel != entry.layout.as_posix():
            problems.append(
                Problem(
                    "<file>",
                    f"its track, zoo release and name place it at {entry.layout.as_posix()}; move it there",
                    rel,
                )
            )
        entries.append(entry)
    seen_keys: dict[tuple[str, str, str], Entry] = {}
    seen_content: dict[str, Entry] = {}  # by fingerprint: the same measurements
    for entry in entries:
        rel = _rel(entry.path, root_path)
        if entry.key in seen_keys:
            problems.append(
                Problem(
                    "submission.name",
                    f"duplicates the entry {_rel(seen_keys[entry.key].path, root_path)}; rename one",
                    rel,
                )
            )
        seen_keys.setdefault(entry.key, entry)
        if entry.fingerprint in seen_content:
            problems.append(
                Problem(
                    "<file>",
                    "has the same results as "
                    f"{_rel(seen_content[entry.fingerprint].path, root_path)}; "
                    "submit each result once",
                    rel,
                )
            )
        seen_content.setdefault(entry.fingerprint, entry)
    if problems:
        raise SubmissionError(str(root_path), problems)
    return entries


def validate_paths(
    paths: Iterable[str | os.PathLike[str]],
    *,
    root: str | os.PathLike[str] | None = None,
    known: Mapping[str, str | KnownRelease] | None = None,
) -> list[Entry]:
    """Validate files and folders; collect every problem of every file into one error.

    A folder holding ``results/`` is checked as a whole leaderboard (:func:`validate_tree`); any
    other folder contributes its ``*.json`` files; a file is checked with :func:`validate_file`.
    """
    entries: list[Entry] = []
    problems: list[Problem] = []
    existing: dict[str, list[Entry]] = {}
    for raw in paths:
        p = Path(raw)
        if p.is_dir() and (p / RESULTS_DIR).is_dir():
            try:
                entries += validate_tree(p, known=known)
            except SubmissionError as exc:
                problems += [pr if pr.file else pr.in_file(str(p)) for pr in exc.problems]
            continue
        files = sorted(p.rglob("*.json")) if p.is_dir() else [p]
        for f in files:
            base = Path(root) if root is not None else find_root(f)
            key = os.path.abspath(base) if base is not None else None
            if key is not None and key not in existing:
                existing[key] = _existing_entries(base, known)  # read each folder once
            try:
                entries.append(
                    validate_file(f, root=base, known=known, existing=existing.get(key) if key else None)
                )
            except SubmissionError as exc:
                problems += [pr.in_file(str(f)) for pr in exc.problems]
    if problems:
        n = len({pr.file for pr in problems})
        raise SubmissionError(f"{n} file{'s' * (n != 1)}", problems)
    return entries


def _verification_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root/verified`` (relative path → bytes); a link is listed with no bytes."""
    base = root / VERIFIED_DIR
    out: dict[str, bytes] = {}
    if base.is_symlink():
        return {f"{VERIFIED_DIR}/": b""}
    if not base.is_dir():
        return out
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        for name in [*filenames, *(d for d in dirnames if (Path(dirpath) / d).is_symlink())]:
            p = Path(dirpath) / name
            out[p.relative_to(root).as_posix()] = b"" if p.is_symlink() else p.read_bytes()
    return out


def check_no_removals(
    old_root: str | os.PathLike[str],
    new_root: str | os.PathLike[str],
    *,
    allow_modified: bool = False,
    allow_verification: bool = False,
) -> list[Problem]:
    """Problems if the results folder ``new_root`` lost (or, by default, changed) an entry of
    ``old_root``, or if it added, edited or removed a verification record.

    The leaderboard is append-only: an accepted result stays, byte for byte. Verification records
    (``verified/``) are written only by the board's own verify job, never in a pull request
    (``allow_verification`` is for that job). Use it in CI with the base branch's checkout as
    ``old_root``.
    """
    old_files, _ = _scan(Path(old_root))
    problems = []
    for f in old_files:
        rel = _rel(f, Path(old_root))
        new = Path(new_root) / rel
        if not new.is_file() or new.is_symlink():
            problems.append(
                Problem("<file>", "was removed; accepted results are never removed (restore it)", rel)
            )
        elif not allow_modified and new.read_bytes() != f.read_bytes():
            problems.append(
                Problem(
                    "<file>",
                    "was modified; accepted results are never edited: restore it and submit "
                    "a new entry instead",
                    rel,
                )
            )
    if not allow_verification:
        old_records, new_records = _verification_files(Path(old_root)), _verification_files(Path(new_root))
        for rel in sorted(old_records.keys() | new_records.keys()):
            if old_records.get(rel) != new_records.get(rel):
                change = ("added" if rel not in old_records else "removed" if rel not in new_records
                          else "edited")
                problems.append(
                    Problem(
                        "<file>",
                        f"was {change}; verification records are written only by the board's verify job "
                        "(`degzoo leaderboard verify`), never in a pull request: leave verified/ as it is",
                        rel,
                    )
                )
    return problems
