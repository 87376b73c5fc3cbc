"""A zoo release: its manifest, its conditions and ladders, and the ensembles in it.

``release=None`` means the embedded zoo shipped inside the package (offline, always there); the name
of a packaged release (``"zoo-v2"``) means that release inside the package (or a source checkout's
``releases/``), and the name of a pinned Hub release that release downloaded at its pinned tag and
manifest sha256 (:mod:`degzoo.release_folders`); a local folder is used as it is; anything else is
a Hub dataset repo, fetched at an explicit ``revision`` (a tag such as ``v1.0``) so that results
always name the exact zoo they were computed on.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Any

from degzoo.errors import InvalidParameterError, UnknownNameError, ZooFormatError
from degzoo.release_folders import named_release_path, pinned_releases
from degzoo.zoo.ensemble import Ensemble
from degzoo.zoo.manifest import MANIFEST_NAME, load_manifest, manifest_sha256, verify_release


def embedded_path() -> Path:
    """Folder of the embedded zoo inside the installed package."""
    return Path(str(resources.files("degzoo") / "embedded"))


def packaged_release_path(name: str) -> Path | None:
    """Folder of a release degzoo ships by name, or None: inside the package
    (``degzoo/releases/<name>``) or, in a source checkout, its ``releases/<name>``
    (:mod:`degzoo.release_folders`)."""
    return named_release_path(name)


class Release:
    """An opened release folder (verified against its manifest unless told not to)."""

    def __init__(self, root: str | os.PathLike[str], *, verify: bool = True) -> None:
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        if verify:
            verify_release(self.root, self.manifest)

    def __repr__(self) -> str:
        return f"Release({self.name!r}, {len(self.conditions)} conditions, root={str(self.root)!r})"

    @property
    def name(self) -> str:
        return self.manifest["release"]

    @property
    def sha256(self) -> str:
        """sha256 of ``manifest.json``: what result files cite as the zoo's identity."""
        return manifest_sha256(self.root)

    @property
    def conditions(self) -> list[dict[str, Any]]:
        return self.manifest["conditions"]

    @property
    def ladders(self) -> list[dict[str, Any]]:
        return self.manifest.get("ladders", [])

    def condition(self, condition_id: str) -> dict[str, Any]:
        for cond in self.conditions:
            if cond["id"] == condition_id:
                return cond
        raise UnknownNameError(
            f"release {self.name!r} has no condition {condition_id!r}; "
            f"it has: {', '.join(c['id'] for c in self.conditions)}"
        )

    def ensemble(self, condition_id: str) -> Ensemble:
        """Open one condition's ensemble (lazily), checked against its manifest entry."""
        cond = self.condition(condition_id)
        ens = Ensemble.open(self.root / cond["file"], name=condition_id)
        try:
            check_shard_matches(ens, cond, self.name)
        except BaseException:
            ens.close()
            raise
        return ens

    def find(self, task: str | None = None, **filters: Any) -> str:
        """The id of the one condition matching ``task`` and ``filters``.

        Filters name task parameters (``bits=3``), ``hidden``, or controls by name with their main
        parameter (``l1=1e-4``, ``nuclear=1e-3``, ``mup=2.0`` for γ, ``aux=True``). When several
        conditions match, the one with the fewest controls (the baseline) wins; a tie is an error.
        """
        matches = [c for c in self.conditions
                   if (task is None or c["task"]["name"] == task) and _matches(c, filters)]
        if not matches:
            wanted = ", ".join([f"task={task}"] * bool(task) + [f"{k}={v}" for k, v in filters.items()])
            raise UnknownNameError(
                f"release {self.name!r} has no condition with {wanted}; "
                f"conditions: {', '.join(c['id'] for c in self.conditions)}"
            )
        fewest = min(len(c.get("controls", [])) for c in matches)
        best = [c for c in matches if len(c.get("controls", [])) == fewest]
        if len(best) > 1:
            raise InvalidParameterError(
                f"several conditions match: {', '.join(c['id'] for c in best)}; add a filter "
                "or pass condition=ID"
            )
        return best[0]["id"]


def check_shard_matches(ens: Ensemble, cond: dict[str, Any], release: str) -> None:
    """The shard holds the condition its manifest entry describes: same id, task, controls, width,
    member count and fingerprint, so swapped or mislabelled shards never load as another condition."""
    recorded = ens.condition
    found = {
        "id": recorded.get("id"),
        "task": ens.task.to_dict(),
        "controls": ens.provenance.get("controls"),
        "hidden": ens.architecture.hidden,
        "members": len(ens),
        "fingerprint": recorded.get("fingerprint"),
    }
    differ = [k for k, v in found.items() if k in cond and cond[k] != v]
    if differ:
        details = "; ".join(f"{k}: manifest {cond[k]!r}, shard {found[k]!r}" for k in differ)
        raise ZooFormatError(
            f"release {release!r}: {cond['file']} does not hold condition {cond['id']!r} ({details[:400]}); "
            "the shards were swapped or replaced — re-download the release or rebuild it"
        )


_MAIN_PARAM = {"width": "hidden", "mup": "gamma", "l1": "weight", "nuclear": "weight", "init_gain": "gain",
               "low_rank": "rank"}


def _flat(cond: dict[str, Any]) -> dict[str, Any]:
    flat = {k: v for k, v in cond["task"].items() if k != "name"}
    flat["hidden"] = cond["hidden"]
    for control in cond.get("controls", []):
        key = _MAIN_PARAM.get(control["name"])
        flat[control["name"]] = control.get(key, True) if key else True
    return flat


def _matches(cond: dict[str, Any], filters: dict[str, Any]) -> bool:
    flat = _flat(cond)
    return all(k in flat and flat[k] == v for k, v in filters.items())


def open_release(
    release: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    verify: bool = True,
) -> Release:
    """The embedded zoo (``release=None``), a packaged release by name (``"zoo-v2"``), a pinned Hub
    release by name (downloaded once into the Hub cache, then offline), a local release folder, or
    a Hub release at ``revision``."""
    if release is None:
        return Release(embedded_path(), verify=verify)
    packaged = packaged_release_path(str(release))
    if packaged is not None and not Path(release).is_dir():
        if not (packaged / MANIFEST_NAME).is_file():
            done = len(list((packaged / "ensembles").glob("*.h5")))
            raise InvalidParameterError(
                f"release {release!r} is one of degzoo's releases but its build is not finished "
                f"({done} condition(s) so far); finish it with `degzoo zoo build {release} --out {packaged}`"
            )
        return Release(packaged, verify=verify)
    if Path(release).is_dir():
        return Release(release, verify=verify)
    from degzoo.zoo.hub import check_repo_id, download_release

    pin = pinned_releases().get(os.fspath(release))
    if pin is not None:
        if revision is not None and revision != pin.revision:
            raise InvalidParameterError(
                f"release {pin.name!r} is pinned by this degzoo to {pin.repo_id} at {pin.revision!r}; "
                f"to read revision {revision!r}, pass the repo id: open_release({pin.repo_id!r}, "
                f"revision={revision!r})")
        root = download_release(pin.repo_id, revision=pin.revision, endpoint=endpoint, token=token,
                                cache_dir=cache_dir, local_files_only=local_files_only, verify=verify,
                                expected_manifest_sha256=pin.manifest_sha256)
        return Release(root, verify=False)  # download_release has verified every file and the pin

    check_repo_id(release)
    if revision is None:
        raise InvalidParameterError(
            f"release {release!r} is not a local folder, so it is read as a Hub dataset repo: pass "
            "revision='vX.Y' (a release tag) to pin exactly which zoo you use"
        )
    root = download_release(str(release), revision=revision, endpoint=endpoint, token=token,
                            cache_dir=cache_dir, local_files_only=local_files_only, verify=verify)
    return Release(root, verify=False)  # download_release has verified every file

