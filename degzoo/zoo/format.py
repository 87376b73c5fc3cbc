"""The ensemble file: one HDF5 file per trained ensemble (task × complexity × control).

Layout (``SCHEMA_VERSION`` 2; texts are fixed-length byte strings)::

    /                     attrs: format="degzoo-ensemble", schema_version, degzoo_version,
                          provenance_sha256
    /provenance           JSON text: task, architecture, training settings, controls, condition,
                          versions of degzoo/torch/numpy
    /content_sha256       JSON text: the content hashes recorded at write time (below)
    /weights/<name>       effective trained weights, [E, ...], one member per chunk
    /initial/<name>       effective initial weights, [E, ...], one member per chunk
    /probe/inputs         the task's standard probe set [n, T, I] (trajectories are regenerated
    /probe/targets          exactly from weights + probe inputs, so they are not stored)
    /members/seed, steps, reached_step, final_loss, status   [E]
    /members/loss_curve   [E, epochs] (NaN after a member stopped)

Files are written to a temporary name and renamed, so a finished-looking file is never half written.
Every array dataset is stored with :data:`ARRAY_FILTERS`: byte-shuffled and gzip-compressed
(lossless), then HDF5's fletcher32 checksum per chunk. Fletcher-32 covers chunk data only, not the
chunk index, the dataset headers or the attributes: a flipped byte there can make a member's weights
read as zeros without any HDF5 error. So every value a reader gets is checked against
``content_sha256``, recorded from the arrays at write time: one sha256 per member of the trained
weights and one of the initial weights (so reading one member stays lazy), one of the members table,
of the probe set, of the provenance and of the root attributes; each hash covers dtype, shape and
bytes. Files of schema 1 (the embedded zoo, zoo-v2) have no content hashes: they stay readable, and
their release manifest's sha256 protects them when opened through their release.

On opening, every dataset's kind, dtype and shape is checked against the recorded architecture and
its declared size against the bytes the file holds and degzoo's memory budget
(:mod:`degzoo.limits`), before anything is read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from degzoo._version import __version__
from degzoo.environment import environment
from degzoo.errors import DegzooError, ZooFormatError
from degzoo.limits import check_budget
from degzoo.models import PARAM_NAMES

FORMAT_NAME = "degzoo-ensemble"
SCHEMA_VERSION = 2
#: 1: no content hashes (the embedded zoo, zoo-v2); 2: ``content_sha256`` recorded at write time.
SUPPORTED_SCHEMA_VERSIONS = (1, 2)
#: HDF5 filters of every array dataset: shuffle + gzip (lossless), then fletcher32 on the stored bytes.
ARRAY_FILTERS: dict[str, Any] = {
    "compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True,
}
#: HDF5 1.10 file format: its object headers, chunk indices and superblock carry their own checksums,
#: so most metadata damage fails in HDF5 itself; the content hashes catch the rest. Texts (attributes,
#: provenance, content hashes) are fixed-length byte strings, never variable-length ones: those live
#: in HDF5's global heap, whose parser can loop forever on one flipped byte of an object's size.
HDF5_LIBVER = ("v110", "v110")
MEMBER_FIELDS = ("seed", "steps", "reached_step", "final_loss", "status", "loss_curve")
CONTENT_NAME = "content_sha256"
REQUIRED = (
    "provenance",
    *(f"weights/{k}" for k in PARAM_NAMES),
    *(f"initial/{k}" for k in PARAM_NAMES),
    "probe/inputs",
    "probe/targets",
    *(f"members/{k}" for k in MEMBER_FIELDS),
)
#: The dtype kind of each members field: integers, floats, byte strings.
_MEMBER_KINDS = {"seed": "iu", "steps": "iu", "reached_step": "iu", "final_loss": "f", "status": "S",
                 "loss_curve": "f"}
_CORRUPT = "the file is corrupt — re-download it or rebuild it from its recipe"
#: What h5py raises on damaged metadata (a lookup, a header, a datatype that no longer parses).
_H5_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError, OverflowError)


@contextlib.contextmanager
def corrupt_file_errors(label: str) -> Iterator[None]:
    """Turn what h5py raises on a damaged file into one :class:`ZooFormatError` naming the file."""
    try:
        yield
    except DegzooError:
        raise
    except _H5_ERRORS as exc:
        raise ZooFormatError(
            f"{label}: unreadable ensemble file ({exc.__class__.__name__}: {exc}); it is truncated or "
            "corrupt — re-download it or rebuild it from its recipe"
        ) from None


def write_ensemble(
    path: str | os.PathLike[str],
    result: Any,
    probe: tuple[np.ndarray, np.ndarray],
    *,
    condition: dict[str, Any] | None = None,
) -> Path:
    """Write a :class:`~degzoo.training.TrainResult` and its probe set to ``path`` atomically."""
    path = Path(path)
    provenance = {
        "task": result.task.to_dict(),
        "architecture": result.architecture.to_dict(),
        "training": result.settings.to_dict(),
        "controls": [c.to_dict() for c in result.controls],
        "condition": condition or {},
        "degzoo_version": __version__,
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "environment": environment(),
        "schema_version": SCHEMA_VERSION,
    }
    members = {
        "seed": np.asarray(result.seeds, np.int64),
        "steps": np.asarray(result.steps, np.int64),
        "reached_step": np.asarray(result.reached_step, np.int64),
        "final_loss": np.asarray(result.final_loss, np.float64),
        "status": np.asarray(result.status).astype("S"),
        "loss_curve": np.asarray(result.loss_curve, np.float64),
    }
    arrays = {group: {k: np.ascontiguousarray(params[k]) for k in PARAM_NAMES}
              for group, params in (("weights", result.params), ("initial", result.initial_params))}
    probe_arrays = (np.asarray(probe[0], np.float32), np.asarray(probe[1], np.float32))
    text = json.dumps(provenance, sort_keys=True, indent=1)
    attrs = {"format": np.bytes_(FORMAT_NAME), "schema_version": SCHEMA_VERSION,
             "degzoo_version": np.bytes_(__version__)}
    record = content_record(text, attrs, arrays["weights"], arrays["initial"], members, probe_arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w", track_order=True, libver=HDF5_LIBVER) as f:
            f.attrs.update(attrs)
            f.attrs["provenance_sha256"] = np.bytes_(record["provenance"])
            f.create_dataset("provenance", data=np.bytes_(text))
            f.create_dataset(CONTENT_NAME, data=np.bytes_(json.dumps(record)))
            for group, params in arrays.items():
                for k, arr in params.items():
                    f.create_dataset(f"{group}/{k}", data=arr, chunks=(1, *arr.shape[1:]), **ARRAY_FILTERS)
            f.create_dataset("probe/inputs", data=probe_arrays[0], **ARRAY_FILTERS)
            f.create_dataset("probe/targets", data=probe_arrays[1], **ARRAY_FILTERS)
            for k, arr in members.items():
                f.create_dataset(f"members/{k}", data=arr, **ARRAY_FILTERS)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a release is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --- content hashes ---------------------------------------------------------------------------


def digest(items: Iterable[tuple[str, np.ndarray]]) -> str:
    """sha256 over named arrays: each one's name, dtype (with byte order), shape and bytes."""
    h = hashlib.sha256()
    for name, arr in items:
        arr = np.ascontiguousarray(arr)
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def member_digest(params: Mapping[str, np.ndarray], i: int) -> str:
    """The hash of member ``i``'s five weight arrays (``params`` stacked along members)."""
    return digest((k, params[k][i]) for k in PARAM_NAMES)


def attributes_digest(attrs: Mapping[str, Any]) -> str:
    """The hash of the root attributes a reader relies on (format, schema_version, degzoo_version)."""
    values = [_text(attrs.get("format")), _as_int(attrs.get("schema_version")),
              _text(attrs.get("degzoo_version"))]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def content_record(provenance_text: str, attrs: Mapping[str, Any], params: Mapping[str, np.ndarray],
                   initial: Mapping[str, np.ndarray], members: Mapping[str, np.ndarray],
                   probe: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """What ``content_sha256`` records: a hash of every value a reader gets, per member for weights."""
    n = len(params["W_hh"])
    return {
        "algorithm": "sha256",
        "attributes": attributes_digest(attrs),
        "provenance": hashlib.sha256(provenance_text.encode()).hexdigest(),
        "probe": digest([("inputs", probe[0]), ("targets", probe[1])]),
        "members": digest((k, members[k]) for k in MEMBER_FIELDS),
        "weights": [member_digest(params, i) for i in range(n)],
        "initial": [member_digest(initial, i) for i in range(n)],
    }


def record_content_hashes(f: h5py.File) -> None:
    """Upgrade an open, writable ensemble file to the current schema: record the content hashes of
    the values it holds now (and ``provenance_sha256``). For :mod:`degzoo.zoo.repack`, which has
    verified those values against the release manifest first."""
    raw = f["provenance"][()]
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    params = {g: {k: f[f"{g}/{k}"][()] for k in PARAM_NAMES} for g in ("weights", "initial")}
    members = {k: f[f"members/{k}"][()] for k in MEMBER_FIELDS}
    probe = (f["probe/inputs"][()], f["probe/targets"][()])
    f.attrs["schema_version"] = SCHEMA_VERSION
    record = content_record(text, dict(f.attrs), params["weights"], params["initial"], members, probe)
    f.attrs["provenance_sha256"] = np.bytes_(record["provenance"])
    if CONTENT_NAME in f:
        del f[CONTENT_NAME]
    f.create_dataset(CONTENT_NAME, data=np.bytes_(json.dumps(record)))


class ContentHashes:
    """The content hashes of a schema-2 file, checked against every value read from it."""

    def __init__(self, record: Any, n_members: int, label: str) -> None:
        self.label = label
        ok = (isinstance(record, dict) and record.get("algorithm") == "sha256"
              and all(_is_hex(record.get(k)) for k in ("attributes", "provenance", "probe", "members"))
              and all(isinstance(record.get(k), list) and len(record[k]) == n_members
                      and all(_is_hex(h) for h in record[k]) for k in ("weights", "initial")))
        if not ok:
            raise ZooFormatError(f"{label}: {CONTENT_NAME} is malformed or does not list {n_members} "
                                 f"members; {_CORRUPT}")
        self.record: dict[str, Any] = record

    def check(self, part: str, actual: str, member: int | None = None) -> None:
        """Raise unless ``actual`` is the hash recorded for ``part`` (of ``member``)."""
        expected = self.record[part] if member is None else self.record[part][member]
        if actual != expected:
            where = part if member is None else f"{part} of member {member}"
            raise ZooFormatError(
                f"{self.label}: {where} does not match the content sha256 recorded when the file was "
                f"written (its bytes, chunk index or metadata changed); {_CORRUPT}"
            )

    def check_members(self, group: str, params: Mapping[str, np.ndarray], members: Iterable[int]) -> None:
        """Check each listed member's row of ``params`` (rows in the order of ``members``)."""
        for row, i in enumerate(members):
            self.check(group, member_digest(params, row), int(i))


def read_content_hashes(f: h5py.File, label: str) -> ContentHashes | None:
    """The file's content hashes (None for a schema-1 file, which has none); checks the root
    attributes and ``provenance_sha256`` (which :func:`read_provenance` checks the text against)."""
    if _as_int(f.attrs.get("schema_version")) < 2:
        return None
    try:
        with corrupt_file_errors(label):
            raw = f[CONTENT_NAME][()]
        record = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, TypeError, OSError, UnicodeDecodeError, KeyError):
        raise ZooFormatError(f"{label}: {CONTENT_NAME} cannot be read; {_CORRUPT}") from None
    hashes = ContentHashes(record, f["weights/W_hh"].shape[0], label)
    hashes.check("attributes", attributes_digest(f.attrs))
    hashes.check("provenance", _text(f.attrs.get("provenance_sha256")))
    return hashes


def _is_hex(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return value if isinstance(value, str) else repr(value)


def _as_int(value: Any) -> int:
    """An integer attribute as int, anything else as -1."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return int(value)
    return -1


# --- opening and validating -------------------------------------------------------------------


def open_ensemble_file(source: str | os.PathLike[str] | Any, name: str | None = None) -> h5py.File:
    """Open and validate an ensemble file (a path or a binary file object); raise on any defect."""
    label = name or str(source)
    try:
        f = h5py.File(source, "r")
    except FileNotFoundError:
        raise ZooFormatError(f"{label}: no such ensemble file") from None
    except _H5_ERRORS as exc:
        raise ZooFormatError(
            f"{label}: not a readable HDF5 file — it is truncated or corrupt ({exc}); "
            "re-download it or rebuild it from its recipe"
        ) from None
    try:
        with corrupt_file_errors(label):
            validate_open_file(f, label)
    except BaseException:
        f.close()
        raise
    return f


def validate_open_file(f: h5py.File, label: str) -> None:
    """Check the format tag, schema version and that every dataset is present, before any read."""
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode(errors="replace")
    if fmt != FORMAT_NAME:
        raise ZooFormatError(f"{label}: not a degzoo ensemble file (format attribute is {fmt!r})")
    raw_version = f.attrs.get("schema_version")
    if not isinstance(raw_version, (int, np.integer)) or isinstance(raw_version, (bool, np.bool_)):
        raise ZooFormatError(
            f"{label}: schema_version must be an integer, got {raw_version!r}; the file is corrupt or "
            "was not written by degzoo — rebuild it from its recipe"
        )
    version = int(raw_version)
    if version not in SUPPORTED_SCHEMA_VERSIONS:
        raise ZooFormatError(
            f"{label}: schema_version {version} is not supported by degzoo {__version__} "
            f"(supported: {SUPPORTED_SCHEMA_VERSIONS}); upgrade degzoo or download a release "
            "built for this version"
        )
    # One listing per group rather than one lookup per dataset: opening stays cheap.
    present = set(f.keys())
    for group in ("weights", "initial", "probe", "members"):
        if group in present:
            if not isinstance(f[group], h5py.Group):
                raise ZooFormatError(f"{label}: {group} is not a group; the file is corrupt")
            present.update(f"{group}/{name}" for name in f[group])
    if version < 2 and CONTENT_NAME in present:
        raise ZooFormatError(f"{label}: schema_version {version} files have no content hashes, yet this one "
                             f"carries {CONTENT_NAME}; {_CORRUPT}")
    required = (*REQUIRED, CONTENT_NAME) if version >= 2 else REQUIRED
    missing = [k for k in required if k not in present]
    if missing:
        raise ZooFormatError(f"{label}: missing dataset(s) {', '.join(missing)}; the file is incomplete")
    for key in ("weights", "initial", "probe", "members", *required):
        if not isinstance(f.get(key, getlink=True), h5py.HardLink):  # never follow a link out of the file
            raise ZooFormatError(f"{label}: {key} is a link, not an object of this file; {_CORRUPT}")
    for key in required:
        if f.get(key, getclass=True) is not h5py.Dataset:
            raise ZooFormatError(f"{label}: {key} is not a dataset (a group or link stands in its place); "
                                 f"{_CORRUPT}")
    if "provenance_sha256" not in f.attrs and (version >= 2 or f["weights/W_hh"].fletcher32):
        raise ZooFormatError(f"{label}: the provenance_sha256 attribute is missing (every file written "
                             f"with checksums has one); {_CORRUPT}")


def validate_layout(f: h5py.File, architecture: Any, label: str, float_dtype: str = "float32") -> None:
    """Every dataset has the kind, dtype and shape the recorded architecture implies and holds the
    bytes it declares, within the memory budget.

    Runs on metadata only, so a file that declares absurd sizes (a small file claiming gigabytes of
    weights) is refused before anything is read into memory.
    """
    E = f["weights/W_hh"].shape[0] if f["weights/W_hh"].ndim else 0
    expected: dict[str, tuple[int, ...] | None] = {}
    for group in ("weights", "initial"):
        for k, shape in architecture.shapes.items():
            expected[f"{group}/{k}"] = (E, *shape)
    for k in MEMBER_FIELDS:
        expected[f"members/{k}"] = None
    expected["probe/inputs"] = expected["probe/targets"] = None
    declared = 0
    for key, shape in expected.items():
        dset = f[key]
        if shape is not None and dset.shape != shape:
            raise ZooFormatError(
                f"{label}: {key} has shape {dset.shape}, but the recorded architecture "
                f"({architecture.hidden} hidden units, {architecture.n_inputs} in / "
                f"{architecture.n_outputs} out) and {E} members imply {shape}; the file is corrupt"
            )
        if key.startswith("members/") and (dset.ndim != (2 if key.endswith("loss_curve") else 1)
                                           or dset.shape[0] != E):
            raise ZooFormatError(f"{label}: {key} has shape {dset.shape}, but there are {E} members")
        _check_dtype(dset, key, label, float_dtype)
        _check_stored_size(dset, key, label)
        declared += int(np.prod(dset.shape, dtype=np.float64)) * dset.dtype.itemsize
    check_budget(f"{label}: reading this ensemble file (its datasets declare {E} members of "
                 f"{architecture.hidden} units)", declared,
                 "if the file should not be that large it is corrupt (re-download or rebuild it)")
    inputs, targets = f["probe/inputs"], f["probe/targets"]
    if (inputs.ndim != 3 or targets.ndim != 3 or inputs.shape[:2] != targets.shape[:2]
            or inputs.shape[2] != architecture.n_inputs or targets.shape[2] != architecture.n_outputs):
        raise ZooFormatError(
            f"{label}: probe set shapes {inputs.shape} / {targets.shape} do not fit a network with "
            f"{architecture.n_inputs} inputs and {architecture.n_outputs} outputs; the file is corrupt"
        )


def _check_dtype(dset: h5py.Dataset, key: str, label: str, float_dtype: str) -> None:
    """Weights in the training dtype, probe set float32, members fields of their kind: else corrupt."""
    dtype = dset.dtype
    if key.startswith(("weights/", "initial/")):
        ok = dtype.kind == "f" and dtype.itemsize == np.dtype(float_dtype).itemsize
        want = float_dtype
    elif key.startswith("probe/"):
        ok, want = dtype.kind == "f" and dtype.itemsize == 4, "float32"
    else:
        kinds = _MEMBER_KINDS[key.split("/", 1)[1]]
        ok = dtype.kind in kinds and (dtype.kind != "f" or dtype.itemsize in (4, 8))
        want = {"iu": "integer", "f": "float", "S": "byte string"}[kinds]
    if not ok:
        raise ZooFormatError(f"{label}: {key} has dtype {dtype}, expected {want}; {_CORRUPT}")


def _check_stored_size(dset: h5py.Dataset, key: str, label: str) -> None:
    """An uncompressed numeric dataset must hold at least the bytes its shape declares."""
    if dset.dtype.kind not in "biufcS" or dset.compression is not None:
        return
    declared, stored = dset.nbytes, dset.id.get_storage_size()
    if stored < declared:
        raise ZooFormatError(
            f"{label}: {key} declares {dset.shape} ({declared:,} bytes) but the file holds only "
            f"{stored:,} bytes of it; the file is truncated or corrupt — re-download it or rebuild it"
        )


# --- reading ----------------------------------------------------------------------------------


def read_dataset(f: h5py.File, key: str, label: str, member: int | None = None) -> np.ndarray:
    """Read a dataset (or one member's row) and turn a read failure into a clear error.

    With fletcher32, a corrupt chunk fails the read; on a whole-dataset read the failing member is
    located by reading row by row, so the message names it.
    """
    dset = f[key]
    try:
        return dset[member] if member is not None else dset[()]
    except (OSError, ValueError, RuntimeError) as exc:
        if member is None and dset.ndim and dset.chunks is not None and dset.chunks[0] == 1:
            for i in range(dset.shape[0]):
                try:
                    dset[i]
                except (OSError, ValueError, RuntimeError):
                    member = i
                    break
        where = f"{key} (member {member})" if member is not None else key
        raise ZooFormatError(
            f"{label}: {where} cannot be read — its checksum fails or the file is corrupt ({exc}); "
            "re-download it or rebuild it from its recipe"
        ) from None


def read_weights(f: h5py.File, group: str, label: str, hashes: ContentHashes | None,
                 member: int | None = None) -> dict[str, np.ndarray]:
    """The five weight arrays of ``group`` (``weights`` or ``initial``), of every member or of one
    (then each has no member axis), checked against the content hashes."""
    with corrupt_file_errors(label):
        params = {k: read_dataset(f, f"{group}/{k}", label, member) for k in PARAM_NAMES}
    if hashes is not None:
        if member is None:
            hashes.check_members(group, params, range(len(params["W_hh"])))
        else:
            hashes.check_members(group, {k: v[None] for k, v in params.items()}, [member])
    return params


def read_members(f: h5py.File, label: str, hashes: ContentHashes | None) -> dict[str, np.ndarray]:
    """The members table (status as text), checked against the content hashes."""
    with corrupt_file_errors(label):
        members = {k: read_dataset(f, f"members/{k}", label) for k in MEMBER_FIELDS}
    if hashes is not None:
        hashes.check("members", digest((k, members[k]) for k in MEMBER_FIELDS))
    try:
        members["status"] = members["status"].astype(str)
    except (UnicodeDecodeError, ValueError) as exc:
        raise ZooFormatError(f"{label}: members/status is not text ({exc}); the file is corrupt") from None
    return members


def read_probe(f: h5py.File, label: str, hashes: ContentHashes | None) -> tuple[np.ndarray, np.ndarray]:
    """The probe set (inputs, targets), checked against the content hashes."""
    with corrupt_file_errors(label):
        probe = (read_dataset(f, "probe/inputs", label), read_dataset(f, "probe/targets", label))
    if hashes is not None:
        hashes.check("probe", digest([("inputs", probe[0]), ("targets", probe[1])]))
    return probe


def read_provenance(f: h5py.File, label: str) -> dict[str, Any]:
    """The provenance JSON, checked against its recorded sha256 when the file has one."""
    try:
        with corrupt_file_errors(label):
            raw = f["provenance"][()]
        text = raw.decode() if isinstance(raw, bytes) else raw
        if not isinstance(text, str):
            raise ValueError(f"it is {type(text).__name__}, not text")
    except (ValueError, TypeError, OSError, UnicodeDecodeError) as exc:
        raise ZooFormatError(f"{label}: provenance cannot be read ({exc}); the file is corrupt") from None
    recorded = f.attrs.get("provenance_sha256")
    if recorded is not None:
        recorded = recorded.decode(errors="replace") if isinstance(recorded, bytes) else str(recorded)
        if hashlib.sha256(text.encode()).hexdigest() != recorded:
            raise ZooFormatError(
                f"{label}: provenance does not match its recorded sha256; the file is corrupt — "
                "re-download it or rebuild it from its recipe"
            )
    try:
        prov = json.loads(text)
    except ValueError as exc:
        raise ZooFormatError(f"{label}: provenance is not valid JSON ({exc})") from None
    if not isinstance(prov, dict):
        raise ZooFormatError(f"{label}: provenance is not a JSON object; the file is corrupt")
    return prov
