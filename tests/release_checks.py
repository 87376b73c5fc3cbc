"""What the tests of a release built shard by shard (zoo-v2, zoo-v3) check of its committed shards."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from degzoo.zoo import Ensemble
from degzoo.zoo.builder import BUILD_DIR
from degzoo.zoo.manifest import sha256_file


def committed_shards_of(recipe: Any, root: Path | None) -> list[Path]:
    """The shards in ``root/ensembles``, each asserted to be this recipe's condition (its build
    record's fingerprint), unchanged since it was built (sha256) and >= 90 % converged."""
    shards = sorted((root / "ensembles").glob("*.h5")) if root is not None else []
    for shard in shards:
        cond = recipe.condition(shard.stem)
        record = json.loads((root / BUILD_DIR / f"{cond.id}.record.json").read_text())
        assert record["fingerprint"] == cond.fingerprint, f"{cond.id}: built from another recipe version"
        assert record["sha256"] == sha256_file(shard), f"{cond.id}: changed since it was built"
        with Ensemble.open(shard) as ens:
            converged = float(np.mean(ens.status == "converged"))
        assert converged >= 0.9, f"{cond.id}: {converged:.0%} converged"
    return shards
