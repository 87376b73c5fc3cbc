"""The model zoo: ensemble files, releases, recipes and the builder, Hub download/publish.

``degzoo.zoo.load("flipflop", bits=3)`` opens an ensemble of the embedded zoo, which ships inside
the package and works offline; ``release=``/``revision=`` choose a Hub release instead.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from degzoo.zoo.dataset import to_dataset
from degzoo.zoo.ensemble import Ensemble, Network
from degzoo.zoo.format import SCHEMA_VERSION, write_ensemble
from degzoo.zoo.release import Release, embedded_path, open_release

__all__ = [
    "SCHEMA_VERSION",
    "Ensemble",
    "Network",
    "Release",
    "embedded_path",
    "load",
    "open_release",
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
    if release is None or Path(release).is_dir() or revision is None:
        rel = open_release(release, revision=revision, endpoint=endpoint, token=token,
                           cache_dir=cache_dir, local_files_only=local_files_only)
        return rel.ensemble(condition or rel.find(task, **filters))
    from degzoo.zoo import hub

    repo_id = hub.check_repo_id(release)
    hub_args: dict[str, Any] = {"revision": revision, "endpoint": endpoint, "token": token,
                                "cache_dir": cache_dir, "local_files_only": local_files_only}
    rel = Release(hub.download_manifest(repo_id, **hub_args), verify=False)
    cid = condition or rel.find(task, **filters)
    shard = rel.condition(cid)["file"]
    hub.download_file(repo_id, shard, expected_sha256=rel.manifest["files"][shard]["sha256"], **hub_args)
    return rel.ensemble(cid)
