"""Build a zoo release from a recipe, locally or on a Dask cluster, resumably.

Every condition is an independent task, ``build_condition``, run in worker processes (one torch
thread each, so two conditions use both cores) or as Dask tasks; the engine is a parameter, never a
fork of the code. A condition whose finished file is present and matches the recipe is skipped, so
an interrupted build resumes where it stopped; files are written under a temporary name and renamed,
and training checkpoints live in ``OUT/.build/``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from degzoo._version import __version__
from degzoo.engine import run_jobs
from degzoo.environment import environment
from degzoo.errors import ZooFormatError
from degzoo.training import train_ensemble
from degzoo.zoo.card import write_card
from degzoo.zoo.ensemble import Ensemble
from degzoo.zoo.format import write_ensemble
from degzoo.zoo.manifest import build_manifest, write_manifest
from degzoo.zoo.recipes import Condition, Recipe, load_recipe, recipe_from_dict

BUILD_DIR = ".build"
PROBE_TRIALS = 64


def build_condition(recipe_source: dict[str, Any], condition_id: str, out_dir: str) -> dict[str, Any]:
    """Train one condition and write its ensemble file; return its summary for the manifest.

    Takes plain data (the recipe as a dict) so that it runs unchanged in a local worker process or
    on a remote Dask worker.
    """
    torch.set_num_threads(1)
    recipe = recipe_from_dict(recipe_source)
    cond = recipe.condition(condition_id)
    out = Path(out_dir)
    target = out / cond.file
    existing = _finished_summary(target, cond)
    if existing is not None:
        return existing
    start = time.perf_counter()
    ckpt = out / BUILD_DIR / f"{cond.id}.ckpt"
    result = train_ensemble(cond.task, cond.architecture(), cond.seeds, cond.settings, cond.controls,
                            checkpoint=ckpt, progress=False)
    seconds = time.perf_counter() - start
    record = cond.to_dict()
    record["build_seconds"] = round(seconds, 1)
    write_ensemble(target, result, result.task.probe(n=PROBE_TRIALS), condition=record)
    ckpt.unlink(missing_ok=True)
    return _finished_summary(target, cond)


def _finished_summary(path: Path, cond: Condition) -> dict[str, Any] | None:
    """The condition's summary if ``path`` is a finished file of exactly this condition."""
    if not path.exists():
        return None
    try:
        with Ensemble.open(path) as ens:
            recorded = ens.condition
            if recorded.get("fingerprint") != cond.fingerprint:
                return None
            status = ens.status
            loss = ens.members["final_loss"]
            return {
                **cond.to_dict(),
                "build_seconds": recorded.get("build_seconds"),
                "converged": int((status == "converged").sum()),
                "diverged": int((status == "diverged").sum()),
                "final_loss_median": float(np.nanmedian(loss)) if np.isfinite(loss).any() else None,
                "final_loss_max": float(np.nanmax(loss)) if np.isfinite(loss).any() else None,
                "steps_median": int(np.median(ens.members["steps"])),
                "threshold": cond.settings.threshold or cond.task.mse_threshold,
            }
    except ZooFormatError:
        return None


def build_release(
    recipe: Recipe | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    progress: bool = True,
) -> Path:
    """Build every condition of ``recipe`` into ``out_dir`` and write its manifest and card.

    Engines: ``workers`` local processes (default: the machine's cores); ``scheduler`` the address
    of a running Dask scheduler (e.g. one started by ``dask-jobqueue`` on SLURM); ``cluster``
    ``"local:N"`` starts a ``distributed.LocalCluster`` of N single-threaded workers.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out = Path(out_dir)
    (out / "ensembles").mkdir(parents=True, exist_ok=True)
    ids = [c.id for c in recipe.conditions]
    start = time.perf_counter()
    summaries: dict[str, dict[str, Any]] = {}
    bar = tqdm(total=len(ids), disable=not progress, desc=f"build {recipe.name}", unit="condition")
    members = sum(c.members for c in recipe.conditions)
    converged = 0
    try:
        for summary in _run(recipe.source, ids, str(out), workers, scheduler, cluster):
            summaries[summary["id"]] = summary
            converged += summary["converged"]
            bar.update(1)
            bar.set_postfix(converged=f"{converged}/{members}")
    finally:
        bar.close()
    conditions = [summaries[i] for i in ids]
    _remove_stale(out, {c.file for c in recipe.conditions})
    manifest = build_manifest(
        out, release=recipe.name, recipe=recipe.source,
        conditions=conditions, degzoo_version=__version__,
    )
    manifest["ladders"] = [ladder.to_dict() for ladder in recipe.ladders]
    manifest["build"] = {
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds_sum": round(sum(c.get("build_seconds") or 0 for c in conditions), 1),
        "environment": environment(),
    }
    write_manifest(out, manifest)
    write_card(out, manifest)
    build_dir = out / BUILD_DIR
    if build_dir.exists() and not any(build_dir.iterdir()):
        build_dir.rmdir()
    return out


def _remove_stale(out: Path, expected: set[str]) -> None:
    """Drop ensemble files of conditions no longer in the recipe, so the manifest matches it."""
    for path in (out / "ensembles").glob("*.h5"):
        if f"ensembles/{path.name}" not in expected:
            path.unlink()


def _run(source: dict, ids: list[str], out: str, workers: int | None, scheduler: str | None,
         cluster: str | None) -> Iterator[dict[str, Any]]:
    yield from run_jobs(build_condition, [(source, cid, out) for cid in ids],
                        workers=workers, scheduler=scheduler, cluster=cluster)
