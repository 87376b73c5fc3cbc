"""The release manifest: every file of a zoo release with its sha256 and size.

A zoo release is a folder::

    manifest.json             this manifest (schema_version, release, recipe, conditions, files)
    README.md                 the dataset card
    ensembles/<condition>.h5  one HDF5 shard per condition

``manifest.json`` lists every file of the release under ``files`` except itself and
``README.md``; paths are relative POSIX paths, sorted. Hidden paths (any component that starts
with ``.``, e.g. the ``.gitattributes`` the Hub adds to every repository, or a ``.cache/`` folder)
are not part of a release: they are neither hashed nor reported as extra files.

Results files cite a release by :func:`manifest_sha256` (the sha256 of ``manifest.json``'s
bytes), so a manifest is written once, atomically, and never edited in place.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from degzoo.errors import ChecksumError, InvalidParameterError, ZooFormatError
from degzoo.files import write_atomically

__all__ = [
    "MANIFEST_NAME",
    "MANIFEST_SCHEMA_VERSION",
    "README_NAME",
    "ReleaseProblem",
    "build_manifest",
    "check_release",
    "format_problems",
    "iter_release_files",
    "load_manifest",
    "manifest_sha256",
    "sha256_file",
    "verify_release",
    "write_manifest",
]

MANIFEST_SCHEMA_VERSION = 1
MANIFEST_NAME = "manifest.json"
README_NAME = "README.md"
#: Files at the root of a release that ``files`` does not list.
UNLISTED_FILES = frozenset({MANIFEST_NAME, README_NAME})

_REQUIRED_KEYS: dict[str, type | tuple[type, ...]] = {
    "schema_version": int,
    "release": str,
    "degzoo_version": str,
    "recipe": dict,
    "conditions": list,
    "files": dict,
}
_SHA256_RE = re.compile(r"[0-9a-f]{64}")


# --------------------------------------------------------------------------------------------
# hashing and file listing
# --------------------------------------------------------------------------------------------


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Return the lowercase hex sha256 of a file's bytes, read ``chunk`` bytes at a time."""
    if chunk <= 0:
        raise InvalidParameterError(f"chunk must be a positive number of bytes, got {chunk}.")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _is_hidden(rel: str) -> bool:
    return any(part.startswith(".") for part in rel.split("/"))


def iter_release_files(release_dir: str | os.PathLike[str]) -> list[str]:
    """Relative POSIX paths of every file of a release folder, sorted.

    Hidden paths are skipped; ``manifest.json`` and ``README.md`` are included. Symbolic links
    to files (as in the Hugging Face cache, where snapshot files link to blobs) count as files;
    a dangling link is included too, so that it is reported as a problem rather than ignored.
    """
    root = Path(release_dir)
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(root).as_posix()
        for name in filenames:
            if name.startswith("."):
                continue
            found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(found)


# --------------------------------------------------------------------------------------------
# build / write / load
# --------------------------------------------------------------------------------------------


def build_manifest(
    release_dir: str | os.PathLike[str],
    *,
    release: str,
    recipe: Mapping[str, Any],
    conditions: Iterable[Mapping[str, Any]],
    degzoo_version: str,
) -> dict[str, Any]:
    """Hash every file of ``release_dir`` (except manifest.json and README.md) into a manifest.

    ``conditions`` is a list of dicts, each with at least ``id`` (unique) and ``file`` (a path
    relative to the release folder that must exist); any other keys are kept as they are.
    Returns the manifest dict; :func:`write_manifest` writes it.
    """
    root = Path(release_dir)
    if not root.is_dir():
        raise InvalidParameterError(
            f"Release folder {root} does not exist or is not a folder: build the release files "
            "first, then build its manifest."
        )
    if not isinstance(release, str) or not release.strip():
        raise InvalidParameterError(f"release must be a non-empty name, got {release!r}.")
    files: dict[str, dict[str, Any]] = {}
    for rel in iter_release_files(root):
        if rel in UNLISTED_FILES:
            continue
        path = root / rel
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    manifest = {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "release": release,
        "degzoo_version": str(degzoo_version),
        "recipe": _json_roundtrip(dict(recipe), "recipe"),
        "conditions": _json_roundtrip([dict(c) for c in conditions], "conditions"),
        "files": files,
    }
    problems = _manifest_problems(manifest)
    if problems:
        raise InvalidParameterError(
            f"Cannot build a manifest for {root}:\n  - "
            + "\n  - ".join(problems)
            + "\nFix the conditions (or write the missing files) and build again."
        )
    return manifest


def _json_roundtrip(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(
            f"The manifest's {what} must be plain JSON (str, int, finite float, bool, None, "
            f"list, dict with str keys): {exc}. Convert it (e.g. numpy scalars to float) first."
        ) from exc


def write_manifest(release_dir: str | os.PathLike[str], manifest: Mapping[str, Any]) -> Path:
    """Write ``manifest.json`` into ``release_dir`` atomically (temporary file + ``os.replace``).

    The manifest is validated first; nothing is written if it is malformed. Returns the path.
    """
    root = Path(release_dir)
    problems = _manifest_problems(manifest)
    if problems:
        raise ZooFormatError(
            "Refusing to write an invalid manifest:\n  - "
            + "\n  - ".join(problems)
            + "\nBuild it with degzoo.zoo.manifest.build_manifest()."
        )
    text = json.dumps(manifest, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    return write_atomically(root / MANIFEST_NAME, text)


def _manifest_path(release_dir_or_file: str | os.PathLike[str]) -> Path:
    path = Path(release_dir_or_file)
    return path / MANIFEST_NAME if path.is_dir() else path


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_manifest(release_dir_or_file: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and strictly validate a manifest (a release folder or the manifest.json itself).

    Raises :class:`~degzoo.errors.ZooFormatError` naming the file and every bad field: not
    found, not UTF-8, not JSON (or NaN/Infinity), a missing or mistyped key, an unknown
    ``schema_version``, a malformed ``files`` entry or a condition that names no listed file.
    """
    path = _manifest_path(release_dir_or_file)
    if not path.is_file():
        raise ZooFormatError(
            f"No release manifest at {path}: a zoo release folder must contain {MANIFEST_NAME}. "
            "Point at the release folder (or re-download / rebuild the release)."
        )
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ZooFormatError(
            f"{path} is not UTF-8 text ({exc}); the file is corrupt: re-download or rebuild the release."
        ) from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        raise ZooFormatError(
            f"{path} is not valid JSON ({exc}); the file is corrupt or was edited by hand: "
            "re-download or rebuild the release."
        ) from exc
    problems = _manifest_problems(data)
    if problems:
        raise ZooFormatError(
            f"{path} is not a valid degzoo release manifest:\n  - "
            + "\n  - ".join(problems)
            + "\nRe-download or rebuild the release (degzoo.zoo.manifest.build_manifest)."
        )
    return data


def _bad_relpath(rel: str) -> str | None:
    if not rel or rel.strip() != rel:
        return "is empty or has leading/trailing spaces"
    if "\\" in rel:
        return "uses a backslash (paths are POSIX, '/'-separated)"
    p = PurePosixPath(rel)
    if p.is_absolute() or rel.startswith("/"):
        return "is absolute (paths are relative to the release folder)"
    if any(part in ("", ".", "..") for part in rel.split("/")):
        return "has an empty, '.' or '..' component"
    if _is_hidden(rel):
        return "is hidden (starts with '.'); hidden files are not part of a release"
    if rel in UNLISTED_FILES:
        return f"must not be listed ({MANIFEST_NAME} and {README_NAME} are not hashed)"
    return None


def _manifest_problems(data: Any) -> list[str]:
    """Every problem with a manifest dict, as human-readable strings (empty list if valid)."""
    if not isinstance(data, Mapping):
        return [f"the top level must be a JSON object, got {type(data).__name__}"]
    problems: list[str] = []
    for key, typ in _REQUIRED_KEYS.items():
        if key not in data:
            problems.append(f"missing field '{key}'")
        elif not isinstance(data[key], typ) or (typ is int and isinstance(data[key], bool)):
            problems.append(
                f"field '{key}' must be {getattr(typ, '__name__', typ)}, got {type(data[key]).__name__}"
            )
    version = data.get("schema_version")
    if isinstance(version, int) and not isinstance(version, bool) and version != MANIFEST_SCHEMA_VERSION:
        hint = (
            "it was written by a newer degzoo: upgrade degzoo"
            if version > MANIFEST_SCHEMA_VERSION
            else "it is from an unsupported old format: rebuild or re-download the release"
        )
        problems.append(
            f"field 'schema_version' is {version}, this degzoo reads {MANIFEST_SCHEMA_VERSION} ({hint})"
        )
    if isinstance(data.get("release"), str) and not data["release"].strip():
        problems.append("field 'release' must be a non-empty name")

    files = data.get("files")
    if isinstance(files, Mapping):
        for rel, entry in files.items():
            why = _bad_relpath(rel)
            if why:
                problems.append(f"files[{rel!r}]: the path {why}")
            if not isinstance(entry, Mapping):
                problems.append(f"files[{rel!r}] must be an object with 'sha256' and 'size'")
                continue
            sha = entry.get("sha256")
            if not isinstance(sha, str) or not _SHA256_RE.fullmatch(sha):
                problems.append(f"files[{rel!r}].sha256 must be 64 lowercase hex digits, got {sha!r}")
            size = entry.get("size")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                problems.append(f"files[{rel!r}].size must be a non-negative integer, got {size!r}")

    conditions = data.get("conditions")
    if isinstance(conditions, list):
        seen: set[str] = set()
        for i, cond in enumerate(conditions):
            if not isinstance(cond, Mapping):
                problems.append(f"conditions[{i}] must be an object with 'id' and 'file'")
                continue
            cid, cfile = cond.get("id"), cond.get("file")
            if not isinstance(cid, str) or not cid:
                problems.append(f"conditions[{i}].id must be a non-empty string, got {cid!r}")
            elif cid in seen:
                problems.append(f"conditions[{i}].id {cid!r} is a duplicate")
            else:
                seen.add(cid)
            if not isinstance(cfile, str) or not cfile:
                problems.append(f"conditions[{i}].file must be a non-empty string, got {cfile!r}")
            elif isinstance(files, Mapping) and cfile not in files:
                problems.append(
                    f"conditions[{i}].file {cfile!r} (condition {cid!r}) is not listed in 'files'"
                )
    for key in ("recipe", "conditions"):
        if key in data:
            try:
                json.dumps(data[key], allow_nan=False)
            except (TypeError, ValueError) as exc:
                problems.append(f"field '{key}' is not plain JSON: {exc}")
    return problems


def manifest_sha256(release_dir: str | os.PathLike[str]) -> str:
    """The sha256 of ``manifest.json``'s bytes: the identity results files cite for a release."""
    path = _manifest_path(release_dir)
    if not path.is_file():
        raise ZooFormatError(
            f"No release manifest at {path}: point at a zoo release folder or its {MANIFEST_NAME}."
        )
    return sha256_file(path)


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReleaseProblem:
    """One way a release folder differs from its manifest.

    ``kind`` is ``"missing"`` (listed, not on disk), ``"extra"`` (on disk, not listed),
    ``"size"`` or ``"sha256"`` (content differs: the file is corrupt), or ``"card"`` (no
    README.md).
    """

    kind: str
    path: str
    expected: str | int | None = None
    actual: str | int | None = None

    @property
    def corrupt(self) -> bool:
        """True when the file exists but its bytes differ from the manifest."""
        return self.kind in ("size", "sha256")

    def describe(self) -> str:
        if self.kind == "missing":
            return f"{self.path}: missing (the manifest lists it)"
        if self.kind == "extra":
            return f"{self.path}: extra file (not listed in the manifest)"
        if self.kind == "card":
            return f"{self.path}: the dataset card is missing"
        return f"{self.path}: {self.kind} mismatch (manifest {self.expected}, file {self.actual})"


def check_release(
    release_dir: str | os.PathLike[str],
    manifest: Mapping[str, Any] | None = None,
    *,
    check_hashes: bool = True,
) -> list[ReleaseProblem]:
    """Every difference between a release folder and its manifest (empty list: all good).

    Sizes are always compared; sha256 only when ``check_hashes`` and the size matches.
    """
    root = Path(release_dir)
    if manifest is None:
        manifest = load_manifest(root)
    else:
        problems = _manifest_problems(manifest)
        if problems:
            raise ZooFormatError(
                "The manifest given to verify the release is invalid:\n  - " + "\n  - ".join(problems)
            )
    listed: Mapping[str, Mapping[str, Any]] = manifest["files"]
    on_disk = set(iter_release_files(root))
    found: list[ReleaseProblem] = []
    if README_NAME not in on_disk:
        found.append(ReleaseProblem("card", README_NAME))
    for rel in sorted(listed):
        entry = listed[rel]
        path = root / rel
        if not path.is_file():  # also a dangling link to a deleted blob
            found.append(ReleaseProblem("missing", rel))
            continue
        size = path.stat().st_size
        if size != entry["size"]:
            found.append(ReleaseProblem("size", rel, entry["size"], size))
            continue
        if check_hashes:
            digest = sha256_file(path)
            if digest != entry["sha256"]:
                found.append(ReleaseProblem("sha256", rel, entry["sha256"], digest))
    for rel in sorted(on_disk - set(listed) - UNLISTED_FILES):
        found.append(ReleaseProblem("extra", rel))
    return found


def format_problems(release_dir: str | os.PathLike[str], problems: list[ReleaseProblem]) -> str:
    """A message listing every problem; the caller adds what to do."""
    lines = "\n  - ".join(p.describe() for p in problems)
    plural = "s" if len(problems) != 1 else ""
    return (
        f"Release {Path(release_dir)} does not match its {MANIFEST_NAME} "
        f"({len(problems)} problem{plural}):\n  - {lines}"
    )


def verify_release(
    release_dir: str | os.PathLike[str],
    manifest: Mapping[str, Any] | None = None,
    *,
    check_hashes: bool = True,
) -> None:
    """Check a release folder against its manifest; raise listing every problem found.

    Raises :class:`~degzoo.errors.ChecksumError` if any file's size or sha256 differs, else
    :class:`~degzoo.errors.ZooFormatError` for missing files, extra files or a missing card.
    """
    root = Path(release_dir)
    if not root.is_dir():
        raise ZooFormatError(
            f"Release folder {root} does not exist: build it, or download it with "
            "degzoo.zoo.hub.download_release()."
        )
    problems = check_release(root, manifest, check_hashes=check_hashes)
    if not problems:
        return
    message = format_problems(root, problems)
    if any(p.corrupt for p in problems):
        raise ChecksumError(
            message + "\nThe files listed as mismatched are corrupt or were changed after the "
            "manifest was written: rebuild the release (build_manifest + write_manifest after "
            "the last file is written), or delete it and re-download it."
        )
    raise ZooFormatError(
        message + "\nThe release is incomplete or has unlisted files: rebuild the release so "
        "that the manifest lists exactly its files, or delete it and re-download it."
    )
