"""Re-encode a release in the current storage format without changing one value.

A release written before the shards were compressed (zoo-v2 as first built) or before they carried
content hashes is rewritten into a new folder: every shard in the current schema (its content hashes
recorded from the values verified against the original manifest), every HDF5 dataset with
:data:`~degzoo.zoo.format.ARRAY_FILTERS`, the parquet of networks
with :func:`~degzoo.zoo.dataset.write_parquet`'s encoding. Every array, attribute and row is
compared with the original before the manifest is written, so a repacked release holds exactly the
networks of the original and every measurement on one is a measurement on the other. The new
manifest keeps the original's recipe, conditions, ladders and build record and adds
``repacked_from``, the original manifest's sha256, so results that cite the original can be traced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from degzoo._version import __version__
from degzoo.errors import InvalidParameterError, ZooFormatError
from degzoo.files import write_atomically
from degzoo.progress import progress_bar
from degzoo.zoo.builder import BUILD_DIR
from degzoo.zoo.card import write_card
from degzoo.zoo.dataset import PARQUET_NAME, write_parquet
from degzoo.zoo.ensemble import Ensemble
from degzoo.zoo.format import ARRAY_FILTERS, CONTENT_NAME, HDF5_LIBVER, record_content_hashes
from degzoo.zoo.manifest import (
    build_manifest,
    load_manifest,
    manifest_sha256,
    sha256_file,
    verify_release,
    write_manifest,
)

__all__ = ["repack_release"]

#: Root attributes a repack sets anew (shards are upgraded to the current schema, with content hashes).
_UPGRADED_ATTRS = frozenset({"schema_version", "provenance_sha256"})
#: Hidden, so never part of the release being staged.
_STAGE_LOCK = ".repack.lock"


def repack_release(
    release_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, progress: bool = True
) -> Path:
    """Write ``release_dir`` re-encoded into the new folder ``out_dir``, verified value for value.

    The original is verified against its manifest first and never modified. Raises
    :class:`~degzoo.errors.ZooFormatError` (and removes ``out_dir``) if any value would change.
    """
    src, out = Path(release_dir), Path(out_dir)
    manifest = load_manifest(src)
    verify_release(src, manifest)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidParameterError(f"{out} exists and is not empty: give a new folder for the repacked copy")
    with _staging_folder(out) as stage:
        _repack_into(src, stage, manifest, progress)
        (stage / _STAGE_LOCK).unlink()
        if out.exists():
            out.rmdir()  # empty, checked above
        os.rename(stage, out)
    return out


@contextlib.contextmanager
def _staging_folder(out: Path) -> Iterator[Path]:
    """``.<out>.repacking`` beside ``out``, locked and emptied, removed unless renamed into place.

    The repacked release appears at ``out`` only once complete (one rename), so a repack killed at
    any point (even SIGKILL) leaves no folder that blocks a rerun; a rerun clears the stale staging
    folder, unless another repack into ``out`` still holds its lock.
    """
    stage = out.parent / f".{out.name}.repacking"
    stage.mkdir(parents=True, exist_ok=True)
    with open(stage / _STAGE_LOCK, "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise InvalidParameterError(f"{out} is being repacked by another process; wait for it to "
                                        "finish or stop it, then rerun") from None
        for path in stage.iterdir():  # what a killed run left behind
            if path.name != _STAGE_LOCK:
                shutil.rmtree(path) if path.is_dir() and not path.is_symlink() else path.unlink()
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)  # gone already when it was renamed into place


def _repack_into(src: Path, out: Path, manifest: dict[str, Any], progress: bool) -> None:
    """Write the re-encoded release into the (empty) folder ``out`` and verify it."""
    shards = {cond["file"] for cond in manifest["conditions"]}
    files = progress_bar(iterable=sorted(manifest["files"]), disable=not progress, unit="file",
                         desc=f"repack {manifest['release']}")
    for rel in files:
        if rel in shards:
            _repack_shard(src / rel, out / rel)
        elif rel != PARQUET_NAME:
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src / rel, out / rel)
    if PARQUET_NAME in manifest["files"]:
        write_parquet(out, manifest["conditions"])
        _check_same_rows(src / PARQUET_NAME, out / PARQUET_NAME)
    repacked = build_manifest(out, release=manifest["release"], recipe=manifest["recipe"],
                              conditions=manifest["conditions"],
                              degzoo_version=manifest["degzoo_version"])
    extras = {k: v for k, v in manifest.items() if k not in repacked}
    repacked.update(extras)
    repacked["repacked_from"] = {"manifest_sha256": manifest_sha256(src), "degzoo_version": __version__}
    _carry_build_records(src, out, manifest, repacked)
    write_manifest(out, repacked)
    write_card(out, repacked)
    verify_release(out)


def _repack_shard(src: Path, dst: Path) -> None:
    """Rewrite one HDF5 shard with the current filters, then check it holds exactly the same data."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dst.parent, prefix=f".{dst.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with h5py.File(src, "r") as fin, h5py.File(tmp, "w", track_order=True, libver=HDF5_LIBVER) as fout:
            fout.attrs.update({k: _fixed(v) for k, v in fin.attrs.items()})
            fin.visititems(lambda name, obj: None if name == CONTENT_NAME else _copy_item(fout, name, obj))
            record_content_hashes(fout)
        _check_same_data(src, Path(tmp))
        with Ensemble.open(tmp, name=str(dst)) as ens:
            if not ens.verify():
                raise ZooFormatError(f"{dst}: the repacked shard carries no content hashes; nothing was "
                                     "replaced")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _copy_item(out: h5py.File, name: str, obj: h5py.Group | h5py.Dataset) -> None:
    """Copy one group or dataset (with its attributes) into ``out``, arrays with the current filters."""
    if isinstance(obj, h5py.Group):
        out.require_group(name).attrs.update(dict(obj.attrs))
        return
    if obj.shape == ():  # a scalar (the provenance text) cannot carry a filter
        made = out.create_dataset(name, data=_fixed(obj[()]))
    else:
        made = out.create_dataset(name, data=obj[()], chunks=obj.chunks, **ARRAY_FILTERS)
    made.attrs.update(dict(obj.attrs))


def _fixed(value: Any) -> Any:
    """Text as a fixed-length byte string (see :data:`~degzoo.zoo.format.HDF5_LIBVER`), else as is."""
    if isinstance(value, str):
        return np.bytes_(value.encode())
    return np.bytes_(value) if isinstance(value, bytes) else value


def _contents(path: Path) -> dict[str, Any]:
    """Every attribute and dataset of an HDF5 file, as comparable values (arrays as dtype + bytes),
    except what a repack upgrades: the schema version and the hashes that protect the values."""
    found: dict[str, Any] = {}
    with h5py.File(path, "r") as f:
        found["/"] = {k: v for k, v in _attrs(f).items() if k not in _UPGRADED_ATTRS}

        def read(name: str, obj: Any) -> None:
            if isinstance(obj, h5py.Dataset):
                text = h5py.check_string_dtype(obj.dtype) and obj.shape == ()
                value = obj.asstr()[()] if text else obj[()]
                if isinstance(value, np.ndarray):
                    value = (value.dtype.str, value.shape, value.tobytes())
                found[name] = (value, _attrs(obj))
            else:
                found[name] = _attrs(obj)

        f.visititems(read)
    found.pop(CONTENT_NAME, None)
    return found


def _attrs(obj: Any) -> dict[str, Any]:
    """Attributes as comparable values: arrays as bytes, text as str however it is stored."""
    return {k: (v.tobytes() if isinstance(v, np.ndarray) else v.decode() if isinstance(v, bytes) else v)
            for k, v in obj.attrs.items()}


def _check_same_data(original: Path, repacked: Path) -> None:
    before, after = _contents(original), _contents(repacked)
    if before != after:
        differ = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        raise ZooFormatError(f"repacking {original} would change {', '.join(differ)}; nothing was replaced")


def _check_same_rows(original: Path, repacked: Path) -> None:
    import pyarrow.parquet as pq

    if not pq.read_table(original).equals(pq.read_table(repacked), check_metadata=True):
        raise ZooFormatError(f"the repacked {PARQUET_NAME} differs from the rows of {original}")


def _carry_build_records(src: Path, out: Path, old: dict[str, Any], new: dict[str, Any]) -> None:
    """Copy the builder's records, each pointing at its repacked shard, so the build stays resumable."""
    records = src / BUILD_DIR
    if not records.is_dir():
        return
    shutil.copytree(records, out / BUILD_DIR, ignore=shutil.ignore_patterns("lock"))
    for path in (out / BUILD_DIR).glob("*.record.json"):
        record = json.loads(path.read_text())
        rel = record.get("file")
        if rel in new["files"] and record.get("sha256") == old["files"].get(rel, {}).get("sha256"):
            record["sha256"] = sha256_file(out / rel)
            write_atomically(path, json.dumps(record))
