"""Where named zoo releases live, so that ``open_release("zoo-v2")`` finds them by name.

Two folders: inside the package (``degzoo/releases/<name>``, shipped in every install) and, in a
source checkout (the editable install the README's quick start makes), the repository's
``releases/<name>``: the place for a release too large for the package's size budget, committed
shard by shard as it is built. And one list: releases too large for a wheel that an install
without the checkout downloads from the Hub, each pinned to a repository, a tag and the sha256
of its manifest (``degzoo/releases/hub.json``, :func:`pinned_releases`), so that the name always
means the same bytes. Torch-free, so that the leaderboard's validation can use it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from degzoo.errors import ZooFormatError

#: The pinned Hub releases' list, in the package's ``releases/`` folder.
PINNED_FILE = "hub.json"


@dataclass(frozen=True)
class PinnedRelease:
    """A named release on the Hub: ``repo_id`` at ``revision`` (a tag), whose ``manifest.json``
    has sha256 ``manifest_sha256``."""

    name: str
    repo_id: str
    revision: str
    manifest_sha256: str


def _checkout_releases() -> Path | None:
    """``releases/`` of the source checkout this package is imported from, if there is one."""
    root = Path(__file__).resolve().parent.parent
    folder = root / "releases"
    return folder if (root / "pyproject.toml").is_file() and folder.is_dir() else None


def release_roots() -> list[Path]:
    """The folders that hold named releases, the package's first."""
    roots = [Path(str(resources.files("degzoo") / "releases"))]
    checkout = _checkout_releases()
    return roots + ([checkout] if checkout is not None else [])


def named_release_path(name: str) -> Path | None:
    """The folder of the release called ``name`` (the first root that has it), or None."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        return None
    for root in release_roots():
        if (root / name).is_dir():
            return root / name
    return None


def named_releases() -> list[str]:
    """Names of every finished release (with its manifest) found by :func:`named_release_path`,
    besides the embedded zoo; a build under way opens by name only to say how far it got."""
    return sorted({p.name for root in release_roots() if root.is_dir() for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith((".", "_")) and (p / "manifest.json").is_file()})


def _pinned_path() -> Path:
    return Path(str(resources.files("degzoo") / "releases")) / PINNED_FILE


def pinned_releases() -> dict[str, PinnedRelease]:
    """The releases this degzoo opens by name from the Hub (:data:`PINNED_FILE`), by name; a
    malformed list raises :class:`ZooFormatError` naming the entry."""
    path = _pinned_path()
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ZooFormatError(f"{path} cannot be read as JSON ({exc}); reinstall degzoo") from None
    if not isinstance(entries, dict):
        raise ZooFormatError(f"{path} must map release names to their pins, got {type(entries).__name__}")
    out = {}
    for name, pin in entries.items():
        fields = {k: pin.get(k) for k in ("repo_id", "revision", "manifest_sha256")} if isinstance(
            pin, dict) else {}
        if not (fields and all(isinstance(v, str) and v for v in fields.values())
                and re.fullmatch(r"[0-9a-f]{64}", fields["manifest_sha256"])
                and fields["repo_id"].count("/") == 1):
            raise ZooFormatError(
                f"{path}: release {name!r} needs repo_id ('namespace/name'), revision (a tag) and "
                f"manifest_sha256 (64 hex digits), got {pin!r}")
        out[name] = PinnedRelease(name=name, **fields)
    return out
