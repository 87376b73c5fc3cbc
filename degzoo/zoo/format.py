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
"""

from __future__ import annotations

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
            f.create_dataset("provenance", data=json.dumps(provenance, sort_keys=True, indent=1))
            for group, params in (("weights", result.params), ("initial", result.initial_params)):
                for k in PARAM_NAMES:
                    arr = np.asarray(params[k])
                    f.create_dataset(f"{group}/{k}", data=arr, chunks=(1, *arr.shape[1:]))
            f.create_dataset("probe/inputs", data=np.asarray(probe[0], np.float32))
            f.create_dataset("probe/targets", data=np.asarray(probe[1], np.float32))
            for k, arr in members.items():
                f.create_dataset(f"members/{k}", data=arr)
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
    fmt = f.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode()
    if fmt != FORMAT_NAME:
        raise ZooFormatError(f"{label}: not a degzoo ensemble file (format attribute is {fmt!r})")
    version = int(f.attrs.get("schema_version", -1))
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
    E = f["weights/W_hh"].shape[0]
    for k in ("initial/W_hh", "members/seed", "members/status"):
        if f[k].shape[0] != E:
            raise ZooFormatError(f"{label}: {k} has {f[k].shape[0]} members, weights/W_hh has {E}")


def read_provenance(f: h5py.File, label: str) -> dict[str, Any]:
    try:
        raw = f["provenance"][()]
        return json.loads(raw.decode() if isinstance(raw, bytes) else raw)
    except (ValueError, OSError) as exc:
        raise ZooFormatError(f"{label}: provenance is not valid JSON ({exc})") from None
