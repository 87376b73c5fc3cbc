"""The builder never deletes, overwrites or trusts data it did not write, and survives a dead worker."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_builder import RECIPE

from degzoo.cli import main
from degzoo.errors import InvalidParameterError
from degzoo.zoo import Release, embedded_path
from degzoo.zoo.builder import build_release


def _tree(root):
    """sha256 of every file under ``root`` (hidden build state included)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(RECIPE)
    return path


def test_build_refuses_an_existing_release_and_leaves_it_untouched(tmp_path, capsys):
    copy = tmp_path / "zoo-copy"
    shutil.copytree(embedded_path(), copy)
    before = _tree(copy)
    assert main(["zoo", "build", "embedded", "--out", str(copy), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "is not empty and is not a build of recipe 'embedded-v1'" in err and len(err.splitlines()) == 1
    assert _tree(copy) == before


def test_build_refuses_another_recipes_build(recipe_file, tmp_path, capsys):
    out = build_release(recipe_file, tmp_path / "rel", workers=1, progress=False)
    before = _tree(out)
    other = tmp_path / "other.toml"
    other.write_text(RECIPE.replace('name = "tiny"', 'name = "other"'))
    assert main(["zoo", "build", str(other), "--out", str(out), "--quiet"]) == 2
    assert "holds a build of recipe 'tiny', not 'other'" in capsys.readouterr().err
    assert _tree(out) == before


def test_rebuild_retrains_a_bit_flipped_shard_instead_of_hashing_it(recipe_file, tmp_path, capsys):
    out = build_release(recipe_file, tmp_path / "rel", workers=1, progress=False)
    good = {c["id"]: Release(out).ensemble(c["id"]).params for c in Release(out).conditions}
    shard = out / "ensembles" / "ff-bits2.h5"
    with h5py.File(shard, "r") as f:
        offset = f["weights/W_hh"].id.get_chunk_info(1).byte_offset
    data = bytearray(shard.read_bytes())
    data[offset + 3] ^= 0xFF
    shard.write_bytes(bytes(data))
    untouched = (out / "ensembles" / "ff-bits1.h5").stat().st_mtime_ns
    capsys.readouterr()
    build_release(recipe_file, out, workers=1, progress=False)
    assert "ff-bits2.h5 does not match the sha256 recorded" in capsys.readouterr().err
    rel = Release(out)  # verifies every file against the fresh manifest
    assert (out / "ensembles" / "ff-bits1.h5").stat().st_mtime_ns == untouched
    for cid, params in good.items():
        for k, arr in params.items():
            np.testing.assert_array_equal(rel.ensemble(cid).params[k], arr)


def _spawned_workers(pid):
    """Pids of the worker processes a ``ProcessPoolExecutor`` in process ``pid`` has started (Linux):
    its children, forked or spawned, other than multiprocessing's resource tracker."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid and b"resource_tracker" not in cmdline:
            found.append(int(proc.name))
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the workers through /proc")
def test_killed_worker_gives_a_clear_error_no_leftovers_and_resumes(recipe_file, tmp_path):
    out = tmp_path / "rel"
    cmd = [sys.executable, "-m", "degzoo", "zoo", "build", str(recipe_file), "--out", str(out),
           "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    workers = []
    while not workers and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
        workers = _spawned_workers(proc.pid)
    assert workers, "the build should have started its workers"
    os.kill(workers[0], signal.SIGKILL)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 2, err
    assert "a build worker died" in err and "rerun the same command to resume" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part"))]
    (out / ".build" / "ff-bits1.ckpt123.tmp").write_bytes(b"half a checkpoint")  # as a kill mid-write leaves
    build_release(recipe_file, out, workers=1, progress=False)
    assert len(Release(out).conditions) == 3
    assert not [p for p in out.rglob("*") if p.name.endswith((".tmp", ".part"))]


def test_a_second_build_of_the_same_folder_is_refused_while_the_first_runs(recipe_file, tmp_path):
    """Two builds of one folder would train the same conditions twice and race on their files."""
    import fcntl

    out = tmp_path / "rel"
    build_release(recipe_file, out, workers=1, progress=False, only=["ff-bits1"])
    with open(out / ".build" / "lock", "a+") as held:  # as a running build holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        held.truncate(0)
        held.write("pid 4242 on elsewhere\n")
        held.flush()
        before = _tree(out)
        with pytest.raises(InvalidParameterError, match=r"by another process \(pid 4242 on elsewhere"):
            build_release(recipe_file, out, workers=1, progress=False)
        assert _tree(out) == before
    build_release(recipe_file, out, workers=1, progress=False)  # released: the build goes on
    assert Release(out).manifest["release"] == "tiny"
