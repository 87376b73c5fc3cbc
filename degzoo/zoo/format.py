"""The ensemble file: one HDF5 file per trained ensemble (task × complexity × control).

Layout (``SCHEMA_VERSION`` 1)::

    /                     attrs: format="degzoo-ensemble", schema_version, degzoo_version
    /provenance           JSON text: task, architecture, training settings, controls, condition,
                          versions of degzoo/torch/numpy
    /weights/<name>       effective trained weights, [E, ...], one member per chunk
    /initial/<name>       effective initial weights, [E, ...], one member per chunk
    /probe/inputs         the task's standard probe set [n, T, I] (trajectories are regenerated
    /probe/targets          exactly from weights + probe inputs, so they are not stored)
    /members/seed, steps, reached_step, final_loss, status   [E]
    /members/loss_curve   [E, epochs] (NaN after a member stopped)

Files are written to a temporary name and renamed, so a finished-looking file is never half written.
Every array dataset is stored with :data:`ARRAY_FILTERS`: byte-shuffled and gzip-compressed
(lossless; trained float32 weights take about 15 % less room), then HDF5's fletcher32 checksum per
chunk, so a flipped byte fails the read (files written before that, like the embedded zoo's shards,
are uncompressed and have no checksum and stay valid: their release manifest's sha256 protects
them; :mod:`degzoo.zoo.repack` re-encodes them); the provenance text, a scalar that cannot carry a
filter, is protected by its sha256 in the ``provenance_sha256`` attribute. On opening, every
dataset's shape is checked against the recorded architecture and its declared size against the
bytes the file holds, before anything is read.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from degzoo._version import __version__
from degzoo.environment import environment
from degzoo.errors import ZooFormatError
from degzoo.models import PARAM_NAMES

FORMAT_NAME = "degzoo-ensemble"
SCHEMA_VERSION = 1
SUPPORTED_SCHEMA_VERSIONS = (1,)
#: HDF5 filters of every array dataset: shuffle + gzip (lossless), then fletcher32 on the stored bytes.
ARRAY_FILTERS: dict[str, Any] = {
    "compression": "gzip", "compression_opts": 4, "shuffle": True, "fletcher32": True,
}
MEMBER_FIELDS = ("seed", "steps", "reached_step", "final_loss", "status", "loss_curve")
REQUIRED = (
    "provenance",
    *(f"weights/{k}" for k in PARAM_NAMES),
    *(f"initial/{k}" for k in PARAM_NAMES),
    "probe/inputs",
    "probe/targets",
    *(f"members/{k}" for k in MEMBER_FIELDS),
)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(tmp, "w", track_order=True) as f:
            f.attrs["format"] = FORMAT_NAME
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["degzoo_version"] = __version__
            text = json.dumps(provenance, sort_keys=True, indent=1)
            f.attrs["provenance_sha256"] = hashlib.sha256(text.encode()).hexdigest()
            f.create_dataset("provenance", data=text)
            for group, params in (("weights", result.params), ("initial", result.initial_params)):
                for k in PARAM_NAMES:
                    arr = np.asarray(params[k])
                    f.create_dataset(f"{group}/{k}", data=arr, chunks=(1, *arr.shape[1:]), **ARRAY_FILTERS)
            f.create_dataset("probe/inputs", data=np.asarray(probe[0], np.float32), **ARRAY_FILTERS)
            f.create_dataset("probe/targets", data=np.asarray(probe[1], np.float32), **ARRAY_FILTERS)
            for k, arr in members.items():
                f.create_dataset(f"members/{k}", data=arr, **ARRAY_FILTERS)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; a release is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def open_ensemble_file(source: str | os.PathLike[str] | Any, name: str | None = None) -> h5py.File:
    """Open and validate an ensemble file (a path or a binary file object); raise on any defect."""
    label = name or str(source)
    try:
        f = h5py.File(source, "r")
    except FileNotFoundError:
        raise ZooFormatError(f"{label}: no such ensemble file") from None
    except OSError as exc:
        raise ZooFormatError(
            f"{label}: not a readable HDF5 file — it is truncated or corrupt ({exc}); "
            "re-download it or rebuild it from its recipe"
        ) from None
    try:
        validate_open_file(f, label)
    except BaseException:
        f.close()
        raise
    return f


def validate_open_file(f: h5py.File, label: str) -> None:
    """Check the format tag, schema version and that every dataset is present, before any read."""
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
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
            present.update(f"{group}/{name}" for name in f[group])
    missing = [k for k in REQUIRED if k not in present]
    if missing:
        raise ZooFormatError(f"{label}: missing dataset(s) {', '.join(missing)}; the file is incomplete")


def validate_layout(f: h5py.File, architecture: Any, label: str) -> None:
    """Every dataset has the shape the recorded architecture implies and holds the bytes it declares.

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
    for key, shape in expected.items():
        dset = f[key]
        if not isinstance(dset, h5py.Dataset):
            raise ZooFormatError(f"{label}: {key} is not a dataset; the file is corrupt")
        if shape is not None and dset.shape != shape:
            raise ZooFormatError(
                f"{label}: {key} has shape {dset.shape}, but the recorded architecture "
                f"({architecture.hidden} hidden units, {architecture.n_inputs} in / "
                f"{architecture.n_outputs} out) and {E} members imply {shape}; the file is corrupt"
            )
        if key.startswith("members/") and (dset.ndim == 0 or dset.shape[0] != E):
            raise ZooFormatError(f"{label}: {key} has shape {dset.shape}, but there are {E} members")
        _check_stored_size(dset, key, label)
    inputs, targets = f["probe/inputs"], f["probe/targets"]
    if (inputs.ndim != 3 or targets.ndim != 3 or inputs.shape[:2] != targets.shape[:2]
            or inputs.shape[2] != architecture.n_inputs or targets.shape[2] != architecture.n_outputs):
        raise ZooFormatError(
            f"{label}: probe set shapes {inputs.shape} / {targets.shape} do not fit a network with "
            f"{architecture.n_inputs} inputs and {architecture.n_outputs} outputs; the file is corrupt"
        )


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


def read_dataset(f: h5py.File, key: str, label: str, member: int | None = None) -> np.ndarray:
    """Read a dataset (or one member's row) and turn a read failure into a clear error.

    With fletcher32, a corrupt chunk fails the read; on a whole-dataset read the failing member is
    located by reading row by row, so the message names it.
    """
    dset = f[key]
    try:
        return dset[member] if member is not None else dset[()]
    except OSError as exc:
        if member is None and dset.ndim and dset.chunks is not None and dset.chunks[0] == 1:
            for i in range(dset.shape[0]):
                try:
                    dset[i]
                except OSError:
                    member = i
                    break
        where = f"{key} (member {member})" if member is not None else key
        raise ZooFormatError(
            f"{label}: {where} cannot be read — its checksum fails or the file is corrupt ({exc}); "
            "re-download it or rebuild it from its recipe"
        ) from None


def read_provenance(f: h5py.File, label: str) -> dict[str, Any]:
    """The provenance JSON, checked against its recorded sha256 when the file has one."""
    try:
        raw = f["provenance"][()]
        text = raw.decode() if isinstance(raw, bytes) else raw
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise ZooFormatError(f"{label}: provenance cannot be read ({exc}); the file is corrupt") from None
    recorded = f.attrs.get("provenance_sha256")
    if recorded is not None:
        recorded = recorded.decode() if isinstance(recorded, bytes) else str(recorded)
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
