"""The model zoo: ensemble files, releases, recipes and the builder, Hub download/publish.

``degzoo.zoo.load("flipflop", bits=3)`` opens an ensemble of the embedded zoo, which ships inside
the package and works offline; ``release=``/``revision=`` choose a Hub release instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.plugins import did_you_mean
from degzoo.release_folders import named_releases, pinned_releases
from degzoo.zoo.dataset import to_dataset
from degzoo.zoo.ensemble import Ensemble, Network
from degzoo.zoo.format import SCHEMA_VERSION, write_ensemble
from degzoo.zoo.release import Release, _flat, embedded_path, open_release, packaged_release_path

__all__ = [
    "SCHEMA_VERSION",
    "Ensemble",
    "Network",
    "Release",
    "check_release",
    "embedded_path",
    "load",
    "open_release",
    "shipped_releases",
    "to_dataset",
    "write_ensemble",
]


def load(
    task: str | None = None,
    *,
    condition: str | None = None,
    release: str | os.PathLike[str] | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    **filters: Any,
) -> Ensemble:
    """One ensemble of a release: ``load("flipflop", bits=3)`` or ``load(condition="flipflop-bits3")``.

    From a Hub release (``release="ORG/NAME", revision="v1.0"``) only ``manifest.json`` and the one
    shard asked for are downloaded (into the Hub cache), the shard verified against the manifest's
    sha256; a cached one is read without downloading anything.
    """
    check_release(release)
    if release is None or Path(release).is_dir() or revision is None:
        rel = open_release(release, revision=revision, endpoint=endpoint, token=token,
                           cache_dir=cache_dir, local_files_only=local_files_only)
        return rel.ensemble(condition or _find(rel, task, filters))
    from degzoo.zoo import hub

    repo_id = hub.check_repo_id(release)
    hub_args: dict[str, Any] = {"revision": revision, "endpoint": endpoint, "token": token,
                                "cache_dir": cache_dir, "local_files_only": local_files_only}
    rel = Release(hub.download_manifest(repo_id, **hub_args), verify=False)
    cid = condition or _find(rel, task, filters)
    shard = rel.condition(cid)["file"]
    hub.download_file(repo_id, shard, expected_sha256=rel.manifest["files"][shard]["sha256"], **hub_args)
    return rel.ensemble(cid)


def shipped_releases() -> list[str]:
    """Names of the releases degzoo opens by name (besides the embedded zoo): in the package, in a
    source checkout's ``releases/``, and pinned on the Hub (:mod:`degzoo.release_folders`)."""
    return sorted({*named_releases(), *pinned_releases()})


def check_release(release: str | os.PathLike[str] | None) -> None:
    """Refuse a ``release`` that is neither a shipped release, a folder nor a Hub repo id
    ('namespace/name'), naming the shipped releases (with the closest, for a typo)."""
    if release is None or Path(release).is_dir():
        return
    text = os.fspath(release)
    if (packaged_release_path(text) is not None or text in pinned_releases()
            or (text.count("/") == 1 and not Path(text).exists())):
        return  # shipped, pinned, or read as a Hub repo id (checked, with its own errors, when opened)
    shipped = shipped_releases()
    raise InvalidParameterError(
        f"release {text!r} is not a shipped release, a release folder or a Hub repo id "
        f"'namespace/name'{did_you_mean(text, shipped)}; shipped releases: {', '.join(shipped)} "
        "(leave the release out for the embedded zoo)")


def _find(release: Release, task: str | None, filters: dict[str, Any]) -> str:
    """``release.find``, after naming an unknown task or filter key (with the closest known one)."""
    tasks = sorted({c["task"]["name"] for c in release.conditions})
    if task is not None and task not in tasks:
        raise UnknownNameError(f"release {release.name!r} has no task {task!r}{did_you_mean(task, tasks)}; "
                               f"its tasks: {', '.join(tasks)}")
    keys = sorted({k for c in release.conditions
                   if task is None or c["task"]["name"] == task for k in _flat(c)})
    for key in filters:
        if key not in keys:
            raise InvalidParameterError(
                f"load: unknown filter {key!r}{did_you_mean(key, keys)}; the conditions of "
                f"{f'{task!r} in ' if task else ''}release {release.name!r} are filtered by: "
                f"{', '.join(keys)} (or pass condition=ID)")
    return release.find(task, **filters)
