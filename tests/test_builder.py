"""Recipes and the builder: local and Dask engines agree, and an interrupted build resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from degzoo.errors import InvalidParameterError, ZooFormatError
from degzoo.zoo import Release, load
from degzoo.zoo.builder import build_release, snapshot_release
from degzoo.zoo.recipes import load_recipe

RECIPE = """
[release]
name = "tiny"
seed = 7

[defaults]
members = 2
hidden = 8
training = { lr = 5e-3, batch_size = 8, max_steps = 20, steps_per_epoch = 10 }

[[condition]]
id = "ff-bits1"
task = { name = "flipflop", bits = 1, trial_length = 15 }

[[condition]]
id = "ff-bits2"
task = { name = "flipflop", bits = 2, trial_length = 15 }

[[condition]]
id = "ff-bits2-l1"
task = { name = "flipflop", bits = 2, trial_length = 15 }
controls = [{ name = "l1", weight = 1e-3 }]

[[ladder]]
name = "ff-complexity"
factor = "complexity"
conditions = ["ff-bits1", "ff-bits2"]
values = [1, 2]
"""


@pytest.fixture
def recipe_file(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(RECIPE)
    return path


def _weights(root):
    rel = Release(root)
    return {c["id"]: rel.ensemble(c["id"]).params for c in rel.conditions}


def test_local_build_writes_verified_release(recipe_file, tmp_path):
    out = build_release(recipe_file, tmp_path / "rel", workers=1, progress=False)
    rel = Release(out)  # verifies every checksum
    assert [c["id"] for c in rel.conditions] == ["ff-bits1", "ff-bits2", "ff-bits2-l1"]
    assert rel.ladders[0]["conditions"] == ["ff-bits1", "ff-bits2"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: mit") and "| `ff-bits2-l1` |" in card
    ens = load("flipflop", bits=2, release=out)
    assert ens.name == "ff-bits2" and len(ens) == 2
    assert load("flipflop", bits=2, l1=1e-3, release=out).name == "ff-bits2-l1"
    seeds = rel.condition("ff-bits1")["seeds"]
    np.testing.assert_array_equal(rel.ensemble("ff-bits1").seeds, seeds)
    # a second build finds everything finished and rebuilds nothing
    before = {p.name: p.stat().st_mtime_ns for p in (out / "ensembles").iterdir()}
    build_release(recipe_file, out, workers=1, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in (out / "ensembles").iterdir()} == before


def test_dask_local_cluster_matches_local_build(recipe_file, tmp_path):
    pytest.importorskip("distributed")
    local = _weights(build_release(recipe_file, tmp_path / "local", workers=2, progress=False))
    dask = _weights(build_release(recipe_file, tmp_path / "dask", cluster="local:2", progress=False))
    assert local.keys() == dask.keys()
    for cid in local:
        for k in local[cid]:
            np.testing.assert_array_equal(local[cid][k], dask[cid][k])


def test_killed_build_resumes_without_redoing(recipe_file, tmp_path):
    out = tmp_path / "rel"
    cmd = [sys.executable, "-m", "degzoo", "zoo", "build", str(recipe_file), "--out", str(out),
           "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    first = out / "ensembles" / "ff-bits1.h5"
    deadline = time.monotonic() + 120
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert first.exists(), "the build should have finished its first condition before the kill"
    assert not (out / "manifest.json").exists() or proc.returncode == 0
    leftovers = [p.name for p in (out / "ensembles").iterdir() if p.name.endswith(".tmp")]
    stamp = first.stat().st_mtime_ns
    build_release(recipe_file, out, workers=1, progress=False)
    assert first.stat().st_mtime_ns == stamp
    assert not any((out / "ensembles" / name).exists() for name in leftovers) or leftovers == []
    fresh = _weights(build_release(recipe_file, tmp_path / "fresh", workers=1, progress=False))
    resumed = _weights(out)
    for cid in fresh:
        for k in fresh[cid]:
            np.testing.assert_array_equal(fresh[cid][k], resumed[cid][k])


def test_a_build_in_pieces_is_the_build_at_once(recipe_file, tmp_path, capsys):
    """``--only`` trains some conditions now and the rest later; the result is the same release."""
    from degzoo.cli import main

    out = tmp_path / "pieces"
    cmd = ["zoo", "build", str(recipe_file), "--out", str(out), "--workers", "1", "--only", "ff-bits2"]
    assert main(cmd) == 0
    assert "1 of 3 conditions are finished" in capsys.readouterr().err
    assert [p.name for p in (out / "ensembles").iterdir()] == ["ff-bits2.h5"]
    assert not (out / "manifest.json").exists()
    with pytest.raises(InvalidParameterError, match="no condition 'ff-bits9'; its conditions are ff-bits1"):
        build_release(recipe_file, out, only=["ff-bits9"], progress=False)
    snapshot = Release(snapshot_release(recipe_file, out, tmp_path / "snap"))  # verified on opening
    assert snapshot.name == "tiny-partial" and [c["id"] for c in snapshot.conditions] == ["ff-bits2"]
    assert snapshot.manifest["ladders"] == []  # one finished point of ff-complexity is no ladder
    with pytest.raises(InvalidParameterError, match="exists and is not empty"):
        snapshot_release(recipe_file, out, tmp_path / "snap")
    with pytest.raises(InvalidParameterError, match="is not a build of recipe 'tiny'"):
        snapshot_release(recipe_file, tmp_path / "snap", tmp_path / "snap2")
    build_release(recipe_file, out, workers=1, progress=False)
    whole = _weights(build_release(recipe_file, tmp_path / "whole", workers=1, progress=False))
    pieces = _weights(out)
    assert whole.keys() == pieces.keys()
    for cid in whole:
        for k in whole[cid]:
            np.testing.assert_array_equal(whole[cid][k], pieces[cid][k])


def test_release_with_extra_or_missing_file_is_rejected(recipe_file, tmp_path):
    out = build_release(recipe_file, tmp_path / "rel", workers=1, progress=False)
    (out / "ensembles" / "stray.h5").write_bytes(b"x")
    with pytest.raises(ZooFormatError, match=r"stray\.h5"):
        Release(out)
    (out / "ensembles" / "stray.h5").unlink()
    (out / "ensembles" / "ff-bits1.h5").unlink()
    with pytest.raises(ZooFormatError, match=r"ff-bits1\.h5"):
        Release(out)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda r: r.replace('name = "flipflop", bits = 1', 'name = "flipflap", bits = 1'), "flipflap"),
        (lambda r: r.replace('id = "ff-bits2"\n', 'id = "ff-bits1"\n'), "duplicate condition id"),
        (lambda r: r.replace("bits = 1,", "bits = 2,"), "same task, controls and width"),
        (lambda r: r.replace('factor = "complexity"', 'factor = "colour"'), "factor must be one of"),
        (lambda r: r.replace("members = 2", "members = 1"), "members must be"),
        (lambda r: r.replace("members = 2", "members = 100000000"), r"members must be an integer in \[2, 1"),
        (lambda r: r.replace("hidden = 8", "hidden = 8.5"), "hidden must be an integer"),
        (lambda r: r.replace("seed = 7", 'seed = "abc"'), r"seed must be an integer >= 0, got 'abc'"),
        (lambda r: r.replace("seed = 7", "seed = -1"), "seed must be an integer >= 0"),
        (lambda r: r.replace('controls = [{ name = "l1", weight = 1e-3 }]', 'controls = "l1"'),
         r"\(ff-bits2-l1\): controls: expected a list of tables"),
        (lambda r: r.replace('task = { name = "flipflop", bits = 1, trial_length = 15 }', 'task = "ff"'),
         r"\(ff-bits1\): task must be a table like"),
        (lambda r: r.replace("lr = 5e-3", "lr = inf"), r"lr must be a finite number in \(0, 1\]"),
        (lambda r: r.replace("lr = 5e-3", "lr = 1e10"), r"lr must be a finite number in \(0, 1\]"),
        (lambda r: "defaults = 3\n" + r.replace("[defaults]\n", "[x]\n"), r"\[defaults\] must be a table"),
        (lambda r: r.replace("values = [1, 2]", 'values = ["one", 2]'), "values a list of numbers"),
    ],
)
def test_bad_recipes(tmp_path, edit, match):
    path = tmp_path / "bad.toml"
    path.write_text(edit(RECIPE))
    with pytest.raises(InvalidParameterError, match=match):
        load_recipe(path)


def test_recipe_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(RECIPE.replace("tiny", "t\u00e9").encode("latin-1"))
    with pytest.raises(InvalidParameterError, match=r"not UTF-8 text \(byte 0xe9 at offset \d+\)"):
        load_recipe(path)


def test_condition_seeds_are_stable():
    a = load_recipe_text(RECIPE).condition("ff-bits2")
    b = load_recipe_text(RECIPE.replace('id = "ff-bits2-l1"', 'id = "other"')).condition("ff-bits2")
    assert a.seeds == b.seeds and len(set(a.seeds)) == 2


def load_recipe_text(text):
    import tomllib

    from degzoo.zoo.recipes import recipe_from_dict

    return recipe_from_dict(tomllib.loads(text))


def test_to_dataset_one_row_per_network(recipe_file, tmp_path):
    from degzoo.zoo import to_dataset

    out = build_release(recipe_file, tmp_path / "rel", workers=1, progress=False)
    rel = Release(out)
    ds = to_dataset(rel)
    assert ds.num_rows == 6
    assert set(ds["condition"]) == {"ff-bits1", "ff-bits2", "ff-bits2-l1"}
    row = ds.with_format("numpy")[2]
    ens = rel.ensemble(row["condition"])
    np.testing.assert_array_equal(row["W_hh"], ens.params["W_hh"][row["member"]])
    assert row["seed"] == ens.seeds[row["member"]]
    assert to_dataset(ens).num_rows == 2
