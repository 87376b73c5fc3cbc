"""Helpers that damage or edit ensemble files the way a failing disk, a download or a person would."""

from __future__ import annotations

from pathlib import Path

import h5py

from degzoo.zoo.format import record_content_hashes


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
        record_content_hashes(f)
