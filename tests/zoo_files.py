"""Helpers that damage or edit ensemble files the way a failing disk, a download or a person would."""

from __future__ import annotations

import json
from pathlib import Path

import h5py

from degzoo.models import PARAM_NAMES
from degzoo.zoo.format import CONTENT_NAME, MEMBER_FIELDS, content_record


def flip_byte(path: Path, offset: int, mask: int = 0xFF) -> None:
    """Flip the bits of ``mask`` in the byte at ``offset`` of ``path``."""
    data = bytearray(path.read_bytes())
    data[offset] ^= mask
    path.write_bytes(bytes(data))


def chunk_offset(path: Path, key: str, member: int) -> int:
    """The file offset of member ``member``'s chunk of dataset ``key``."""
    with h5py.File(path, "r") as f:
        return f[key].id.get_chunk_info(member).byte_offset


def rehash(path: Path) -> None:
    """Record the content hashes of the file as it is now, as a writer of this content would have:
    lets a test edit a value on purpose (e.g. a NaN weight) and test what a reader does with it."""
    with h5py.File(path, "a") as f:
        text = f["provenance"][()].decode()
        params = {g: {k: f[f"{g}/{k}"][()] for k in PARAM_NAMES} for g in ("weights", "initial")}
        members = {k: f[f"members/{k}"][()] for k in MEMBER_FIELDS}
        probe = (f["probe/inputs"][()], f["probe/targets"][()])
        record = content_record(text, dict(f.attrs), params["weights"], params["initial"], members, probe)
        del f[CONTENT_NAME]
        f.create_dataset(CONTENT_NAME, data=json.dumps(record))
        f.attrs["provenance_sha256"] = record["provenance"]
