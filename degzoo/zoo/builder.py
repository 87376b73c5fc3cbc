"""Build a zoo release from a recipe, locally or on a Dask cluster, resumably and safely.

Every condition is an independent task, ``build_condition``, run in worker processes (one torch
thread each, so two conditions use both cores) or as Dask tasks; the engine is a parameter, never a
fork of the code.

The release folder is the builder's own: ``OUT/.build/state.json`` names the recipe whose build it
holds, and a build refuses any folder that is neither new, empty, nor that recipe's own build, so it
never deletes or rewrites someone else's release. When a shard is written, its sha256 is recorded
in ``OUT/.build/<condition>.record.json`` before the shard is renamed into place; a rebuild trusts only
shards that still match that record (a corrupt one is retrained, never hashed into a fresh
manifest), so an interrupted build resumes where it stopped. Training checkpoints live in
``OUT/.build/`` too; a worker that dies leaves no temporary files behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

import numpy as np
import torch

from degzoo._version import __version__
from degzoo.engine import run_jobs
from degzoo.environment import environment
from degzoo.errors import DegzooError, InvalidParameterError, ZooFormatError
from degzoo.files import write_atomically
from degzoo.progress import progress_bar
from degzoo.training import train_ensemble
from degzoo.zoo.card import write_card
from degzoo.zoo.dataset import write_parquet
from degzoo.zoo.ensemble import Ensemble
from degzoo.zoo.format import write_ensemble
from degzoo.zoo.manifest import (
    MANIFEST_NAME,
    build_manifest,
    check_release,
    load_manifest,
    sha256_file,
    write_manifest,
)
from degzoo.zoo.recipes import Condition, Recipe, load_recipe, recipe_from_dict

BUILD_DIR = ".build"
STATE_NAME = "state.json"
LOCK_NAME = "lock"
STATE_FORMAT = "degzoo-build"
PROBE_TRIALS = 64


class BuildError(DegzooError):
    """A build could not finish (a worker died); what was finished is kept and the build resumes."""


def build_condition(recipe_source: dict[str, Any], condition_id: str, out_dir: str) -> dict[str, Any]:
    """Train one condition and write its ensemble file; return its summary for the manifest.

    Takes plain data (the recipe as a dict) so that it runs unchanged in a local worker process or
    on a remote Dask worker. The shard's sha256 is recorded before the shard is renamed into place,
    so a shard in ``ensembles/`` always has its record.
    """
    torch.set_num_threads(1)
    recipe = recipe_from_dict(recipe_source)
    cond = recipe.condition(condition_id)
    out = Path(out_dir)
    build = out / BUILD_DIR
    build.mkdir(parents=True, exist_ok=True)
    (out / "ensembles").mkdir(exist_ok=True)
    ckpt = build / f"{cond.id}.ckpt"
    result = train_ensemble(cond.task, cond.architecture(), cond.seeds, cond.settings, cond.controls,
                            checkpoint=ckpt, progress=False)
    record = cond.to_dict()
    record["build_seconds"] = round(result.train_seconds, 1)  # every run of a resumed condition
    part = build / f"{cond.id}.h5.part"
    try:
        write_ensemble(part, result, result.task.probe(n=PROBE_TRIALS), condition=record)
        _write_json(_record_path(out, cond.id),
                    {"file": cond.file, "fingerprint": cond.fingerprint, "sha256": sha256_file(part)})
        os.replace(part, out / cond.file)
    finally:
        part.unlink(missing_ok=True)
    ckpt.unlink(missing_ok=True)
    summary = _finished_summary(out / cond.file, cond)
    if summary is None:
        raise ZooFormatError(f"{out / cond.file}: the shard just written does not read back; check the disk")
    return summary


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
    only: Sequence[str] | None = None,
) -> Path:
    """Build every condition of ``recipe`` into ``out_dir`` and write its manifest and card.

    ``only`` trains just the named conditions, in that order (a long build in pieces, most valuable
    first); the manifest and card are written once every condition of the recipe is finished.

    ``out_dir`` must be new, empty, or this recipe's own build (finished or not); any other folder
    is refused untouched. Engines: ``workers`` local processes (default: the machine's cores);
    ``scheduler`` the address of a running Dask scheduler (e.g. one started by ``dask-jobqueue`` on
    SLURM); ``cluster`` ``"local:N"`` starts a ``distributed.LocalCluster`` of N single-threaded workers.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    out = Path(out_dir)
    _claim(out, recipe.name)
    with _build_lock(out):
        if _finished_release_of(out, recipe):
            if progress:
                print(f"{out} is already the finished release of this recipe; nothing to do", file=sys.stderr)
            return out
        return _build(recipe, out, workers=workers, scheduler=scheduler, cluster=cluster, progress=progress,
                      only=only)


def _build(recipe: Recipe, out: Path, *, workers: int | None, scheduler: str | None, cluster: str | None,
           progress: bool, only: Sequence[str] | None) -> Path:
    """:func:`build_release` in a claimed, locked folder."""
    _remove_partial(out)
    wanted = _check_only(recipe, only)
    summaries = {c.id: s for c in recipe.conditions if (s := _verified_summary(out, c)) is not None}
    todo = [cid for cid in wanted if cid not in summaries]
    if len(summaries) < len(recipe.conditions):  # a manifest of an earlier finished build is stale now
        (out / MANIFEST_NAME).unlink(missing_ok=True)
    start = time.perf_counter()
    members = sum(c.members for c in recipe.conditions)
    converged = sum(s["converged"] for s in summaries.values())
    bar = progress_bar(total=len(recipe.conditions), initial=len(summaries), disable=not progress,
                       desc=f"build {recipe.name}", unit="condition")
    try:
        for summary in _run(recipe.source, todo, str(out), workers, scheduler, cluster):
            summaries[summary["id"]] = summary
            converged += summary["converged"]
            bar.update(1)
            bar.set_postfix(converged=f"{converged}/{members}")
    except BaseException as exc:
        _remove_partial(out)
        if _worker_died(exc):
            raise BuildError(
                f"a build worker died ({exc.__class__.__name__}: killed, or out of memory?); the "
                f"{len(summaries)} finished condition(s) are kept in {out}: rerun the same command to resume"
            ) from None
        raise
    finally:
        bar.close()
    if len(summaries) < len(recipe.conditions):
        if progress:
            print(f"{len(summaries)} of {len(recipe.conditions)} conditions are finished in {out}; the "
                  "manifest is written when all are", file=sys.stderr)
        return out
    conditions = [summaries[c.id] for c in recipe.conditions]
    _remove_stale(out, recipe)
    write_parquet(out, conditions)  # the card's `datasets` config: one row per network, hashed below
    manifest = build_manifest(
        out, release=recipe.name, recipe=recipe.source,
        conditions=conditions, degzoo_version=__version__,
    )
    for cond in recipe.conditions:  # the manifest hashes exactly the shards that were recorded
        if manifest["files"][cond.file]["sha256"] != _read_record(out, cond.id).get("sha256"):
            raise ZooFormatError(
                f"{out / cond.file} changed on disk while the release was being built; rerun the build"
            )
    manifest["ladders"] = [ladder.to_dict() for ladder in recipe.ladders]
    manifest["build"] = {
        "wall_seconds": round(time.perf_counter() - start, 1),
        "cpu_seconds_sum": round(sum(c.get("build_seconds") or 0 for c in conditions), 1),
        "environment": {**environment(), "torch_threads": 1},  # what build_condition trains with
    }
    write_manifest(out, manifest)
    write_card(out, manifest)
    return out


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.build/lock`` for the whole build: two builds of one folder would train the same
    conditions twice and race on their files. The lock goes with the process, however it ends."""
    path = out / BUILD_DIR / LOCK_NAME
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            raise InvalidParameterError(
                f"{out} is being built by another process ({fh.read().strip() or 'unknown'}); wait for it "
                "to finish, or stop it (Ctrl-C or kill keeps its finished work), then rerun"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def snapshot_release(
    recipe: Recipe | str | os.PathLike[str],
    build_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
) -> Path:
    """A verified release of the conditions of an unfinished build that are finished so far.

    Copies every shard of ``build_dir`` that still matches its build record into the new folder
    ``out_dir`` and writes a manifest and card for them, named ``<recipe>-partial``; ladders keep
    their finished points (those with two or more). Lets a long build be analysed while it runs.
    """
    recipe = recipe if isinstance(recipe, Recipe) else load_recipe(recipe)
    build, out = Path(build_dir), Path(out_dir)
    state = build / BUILD_DIR / STATE_NAME
    if not state.is_file() or json.loads(state.read_text()).get("recipe") != recipe.name:
        raise InvalidParameterError(f"{build} is not a build of recipe {recipe.name!r}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidParameterError(f"{out} exists and is not empty: give a new folder for the snapshot")
    summaries = {}
    for cond in recipe.conditions:
        shard = build / cond.file
        if not shard.exists():
            continue
        if sha256_file(shard) == _read_record(build, cond.id).get("sha256"):
            summary = _finished_summary(shard, cond)
            if summary is not None:
                summaries[cond.id] = summary
                continue
        print(f"warning: {shard} does not match the sha256 recorded when it was written, or does not read "
              f"back (corrupt on disk); condition {cond.id} is left out of the snapshot — rerun the build to "
              "train it again", file=sys.stderr, flush=True)
    if not summaries:
        raise InvalidParameterError(f"{build} has no finished condition yet")
    (out / "ensembles").mkdir(parents=True)
    for summary in summaries.values():
        shutil.copyfile(build / summary["file"], out / summary["file"])
    source = dict(recipe.source)
    source["condition"] = [c for c in source.get("condition", []) if c.get("id") in summaries]
    ladders = []
    for ladder in recipe.ladders:
        points = [(c, v) for c, v in zip(ladder.conditions, ladder.values, strict=True)
                  if c in summaries]
        if len(points) >= 2:
            ladders.append({**ladder.to_dict(), "conditions": [c for c, _ in points],
                            "values": [v for _, v in points]})
    source["ladder"] = ladders
    manifest = build_manifest(out, release=f"{recipe.name}-partial", recipe=source,
                              conditions=list(summaries.values()), degzoo_version=__version__)
    manifest["ladders"] = ladders
    write_manifest(out, manifest)
    write_card(out, manifest)
    return out


def _finished_release_of(out: Path, recipe: Recipe) -> bool:
    """Whether ``out`` holds a finished, intact release of exactly this recipe (a rebuild is a no-op
    and leaves its manifest untouched). A finished release of another version of the recipe is refused:
    retraining it in place would replace every shard that results cite."""
    if not (out / MANIFEST_NAME).is_file():
        return False
    try:
        manifest = load_manifest(out)
    except ZooFormatError:
        return False  # an unreadable manifest is rebuilt from the shards' records
    if manifest["recipe"] != json.loads(json.dumps(recipe.source)):
        before = {c.get("id"): c.get("fingerprint") for c in manifest["conditions"]}
        changed = [c.id for c in recipe.conditions if before.get(c.id) != c.fingerprint]
        changed += [cid for cid in before if cid not in {c.id for c in recipe.conditions}]
        what = f"conditions {', '.join(changed[:5])} differ" if changed else "its settings differ"
        raise InvalidParameterError(
            f"{out} is a finished release built from another version of recipe {recipe.name!r} ({what}); "
            "degzoo never retrains a finished release in place: build the edited recipe into a new folder "
            "(and give it a new release name)"
        )
    return not check_release(out, manifest)


def _check_only(recipe: Recipe, only: Sequence[str] | None) -> list[str]:
    """The conditions to train, in order: ``only`` (checked against the recipe), or all of them."""
    ids = [c.id for c in recipe.conditions]
    if only is None:
        return ids
    unknown = sorted(set(only) - set(ids))
    if unknown:
        raise InvalidParameterError(
            f"recipe {recipe.name!r} has no condition {', '.join(map(repr, unknown))}; its conditions are "
            f"{', '.join(ids)}"
        )
    return list(dict.fromkeys(only))


def _claim(out: Path, recipe_name: str) -> None:
    """Make ``out`` this recipe's build folder, or refuse it if it holds anything else."""
    state = out / BUILD_DIR / STATE_NAME
    if out.exists() and not out.is_dir():
        raise InvalidParameterError(f"{out} is a file; give a folder for the release")
    if state.is_file():
        try:
            recorded = json.loads(state.read_text())
            name = recorded["recipe"] if recorded.get("format") == STATE_FORMAT else None
        except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError):
            name = None
        if name is None:
            raise ZooFormatError(f"{state} is unreadable; delete {out} or build into another folder")
        if name != recipe_name:
            raise InvalidParameterError(
                f"{out} holds a build of recipe {name!r}, not {recipe_name!r}; build into another folder"
            )
        return
    if out.exists() and any(out.iterdir()):
        raise InvalidParameterError(
            f"{out} is not empty and is not a build of recipe {recipe_name!r} (it has "
            f"{', '.join(sorted(p.name for p in out.iterdir())[:3])}…); degzoo never overwrites a folder "
            "it did not create: build into a new or empty folder"
        )
    (out / BUILD_DIR).mkdir(parents=True, exist_ok=True)
    _write_json(state, {"format": STATE_FORMAT, "recipe": recipe_name, "degzoo_version": __version__})


def _verified_summary(out: Path, cond: Condition) -> dict[str, Any] | None:
    """The summary of a finished shard that still matches the sha256 recorded when it was written.

    A shard without a matching record (corrupt on disk, or of an older version of the condition)
    is deleted, so that it is trained again rather than hashed into a fresh manifest.
    """
    target = out / cond.file
    if not target.exists():
        return None
    record = _read_record(out, cond.id)
    if record.get("fingerprint") == cond.fingerprint:
        if sha256_file(target) != record.get("sha256"):
            print(f"warning: {target} does not match the sha256 recorded when it was written (corrupt "
                  "on disk); training it again", file=sys.stderr, flush=True)
        elif (summary := _finished_summary(target, cond)) is not None:
            return summary
    target.unlink()
    return None


def _record_path(out: Path, condition_id: str) -> Path:
    return out / BUILD_DIR / f"{condition_id}.record.json"


def _read_record(out: Path, condition_id: str) -> dict[str, Any]:
    try:
        record = json.loads(_record_path(out, condition_id).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a small JSON file atomically (temporary file + rename)."""
    write_atomically(path, json.dumps(data))


def _remove_partial(out: Path) -> None:
    """Delete half-written files (temporary files, unrenamed shards) a stopped worker left behind."""
    for folder in (out / BUILD_DIR, out / "ensembles"):
        if folder.is_dir():
            for path in folder.iterdir():
                if path.name.endswith((".tmp", ".part")) and path.is_file():
                    path.unlink(missing_ok=True)


def _worker_died(exc: BaseException) -> bool:
    """A local worker process or a Dask worker was killed (not an error of the work itself)."""
    return isinstance(exc, BrokenProcessPool) or type(exc).__name__ == "KilledWorker"


def _remove_stale(out: Path, recipe: Recipe) -> None:
    """Drop shards (and their records) of conditions no longer in the recipe, so the manifest matches it."""
    expected = {c.file for c in recipe.conditions}
    for path in (out / "ensembles").glob("*.h5"):
        if f"ensembles/{path.name}" not in expected:
            path.unlink()
    records = {_record_path(out, c.id).name for c in recipe.conditions}
    for path in (out / BUILD_DIR).glob("*.record.json"):
        if path.name not in records:
            path.unlink()


def _run(source: dict, ids: list[str], out: str, workers: int | None, scheduler: str | None,
         cluster: str | None) -> Iterator[dict[str, Any]]:
    yield from run_jobs(build_condition, [(source, cid, out) for cid in ids],
                        workers=workers, scheduler=scheduler, cluster=cluster)
