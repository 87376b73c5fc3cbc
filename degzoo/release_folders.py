"""Where named zoo releases live, so that ``open_release("zoo-v2")`` finds them offline by name.

Two places: inside the package (``degzoo/releases/<name>``, shipped in every install) and, in a
source checkout (the editable install the README's quick start makes), the repository's
``releases/<name>``: the place for a release too large for the package's size budget, committed
shard by shard as it is built. Torch-free, so that the leaderboard's validation can use it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


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
    """Names of every release found by :func:`named_release_path` (besides the embedded zoo)."""
    return sorted({p.name for root in release_roots() if root.is_dir() for p in root.iterdir()
                   if p.is_dir() and not p.name.startswith((".", "_"))})
