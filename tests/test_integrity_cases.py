"""The integrity and bounds cases of issue 23 (zoo and training), one test each: add new cases here.

Case list (Broken → fixed):
  B2  silent corruption despite Fletcher-32: byte-flip sweep over a whole fresh file, 0 silent
      changes; a chunk swapped with a valid checksum (as a damaged chunk index reads) is caught;
      lazy reads check one member only, through the lazy Hub path too; `info` says "verified" only
      when content hashes held; links out of the file are never followed.
  B5  no upper bounds: `train --bits 1000000`, `--hidden 8192 --members 10000`, recipe
      `max_steps = 10**13`, huge task values, simulating too many trials: one-line errors naming
      the budget (DEGZOO_MEMORY_BUDGET).
  B6  size bombs: a small file declaring hidden = 50000, a 2e9-step loss curve.
  B7  an edited recipe with the same name is refused on a finished release, files untouched.
  B8  swapped shards (and their manifest entries) never load as another condition.
Weak → handled:
  W1  a no-op rebuild leaves manifest.json byte for byte.
  W2  `zoo snapshot` names a corrupt condition it leaves out; a killed repack blocks no rerun.
  W3  wrong dtypes (f64, int8, complex W_hh), a group in place of a dataset, a deleted
      provenance_sha256 or content_sha256, a schema downgrade: one-line errors.
  W4  `info` on shipped shards without content hashes says so (not "verified").
  W5  unreachable `--scheduler`, `download --offline` of a partly cached release: one-line errors.
  W6  the recorded BLAS does not depend on import order.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from test_build_safety import _tree
from zoo_files import chunk_offset, flip_byte, rehash

from degzoo.cli import main
from degzoo.errors import InvalidParameterError, ZooFormatError
from degzoo.limits import ResourceLimitError, memory_budget, parse_size
from degzoo.models import Architecture
from degzoo.tasks import get_task
from degzoo.training import TrainSettings, train_ensemble
from degzoo.zoo import Ensemble, Release, embedded_path, open_release
from degzoo.zoo.builder import build_release, snapshot_release
from degzoo.zoo.recipes import recipe_from_dict
from degzoo.zoo.repack import repack_release

ONE_CONDITION = """
[release]
name = "tiny1"
seed = 3

[defaults]
members = 2
hidden = 4
training = { lr = 5e-3, batch_size = 4, max_steps = 10, steps_per_epoch = 5 }

[[condition]]
id = "ff1"
task = { name = "flipflop", bits = 1, trial_length = 8 }
"""


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory) -> Path:
    """A fresh ensemble file: 3 members of 4 units, a 2-trial probe set (about 14 KB)."""
    task = get_task("flipflop", bits=1, trial_length=10)
    settings = TrainSettings(lr=1e-2, batch_size=4, max_steps=20, steps_per_epoch=10)
    result = train_ensemble(task, Architecture(1, 1, hidden=4), [1, 2, 3], settings, progress=False)
    from degzoo.zoo import write_ensemble

    return write_ensemble(tmp_path_factory.mktemp("tiny") / "tiny.h5", result, task.probe(n=2),
                          condition={"id": "tiny"})


@pytest.fixture
def tiny(tiny_file, tmp_path) -> Path:
    """A copy of the fresh file that a test may damage."""
    return Path(shutil.copyfile(tiny_file, tmp_path / "tiny.h5"))


def _everything(source) -> dict:
    """Every value a reader can get from an ensemble file (what must never change silently)."""
    with Ensemble.open(source, name="sweep") as ens:
        got = {"provenance": json.dumps(ens.provenance, sort_keys=True), "task": repr(ens.task),
               "architecture": repr(ens.architecture), "verified": ens.verify(),
               "member1": {k: v.tobytes() for k, v in ens.member_params(1).items()}}
        for group, params in (("weights", ens.params), ("initial", ens.initial_params)):
            got.update({f"{group}/{k}": (v.dtype.str, v.shape, v.tobytes()) for k, v in params.items()})
        got.update({f"members/{k}": (v.dtype.str, v.shape, v.tobytes()) for k, v in ens.members.items()})
        got["probe"] = (ens.probe_inputs.tobytes(), ens.probe_targets.tobytes())
    return got


def _one_line_error(capsys, *argv: str) -> str:
    assert main(list(argv)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# --- B2: integrity beyond chunk data --------------------------------------------------------


def test_byte_flip_sweep_over_a_whole_file_changes_nothing_silently(tiny_file):
    """≥ 3000 positions spread over every part of the file (superblock, headers, chunk indices,
    attributes, chunks, free space): each flip is refused with a ZooFormatError or changes nothing.
    (benchmarks/zoo_byteflip.py sweeps every byte and prints the counts.)"""
    data = tiny_file.read_bytes()
    reference = _everything(io.BytesIO(data))
    assert reference["verified"] is True
    positions = sorted(set(np.linspace(0, len(data) - 1, 3000).round().astype(int).tolist()))
    assert len(positions) == 3000
    outcomes = {"detected": 0, "same": 0}
    silent = []
    for pos in positions:
        damaged = bytearray(data)
        damaged[pos] ^= 0xFF
        try:
            same = _everything(io.BytesIO(bytes(damaged))) == reference
        except ZooFormatError:
            outcomes["detected"] += 1
            continue
        outcomes["same"] += 1
        if not same:
            silent.append(pos)
    assert silent == [], f"silent changes at byte(s) {silent[:20]} ({outcomes})"
    assert outcomes["detected"] > 0 and outcomes["same"] > 0


def test_a_chunk_with_a_valid_checksum_but_other_data_is_caught_and_reads_stay_lazy(tiny):
    """What a damaged chunk index does (a member reads another member's bytes, or zeros), with the
    fletcher32 checksum passing: only the content hash sees it, and only for that member."""
    with h5py.File(tiny, "a") as f:
        dset = f["weights/W_hh"]
        _, raw = dset.id.read_direct_chunk((1, 0, 0))
        dset.id.write_direct_chunk((0, 0, 0), raw)  # member 0's slot now holds member 1's chunk
        np.testing.assert_array_equal(dset[0], dset[1])  # HDF5 itself reads it without complaint
    with Ensemble.open(tiny) as ens:
        assert ens.member_params(2)["W_hh"].shape == (4, 4) and ens._params is None  # lazy, unaffected
        with pytest.raises(ZooFormatError, match="weights of member 0 does not match the content sha256"):
            ens.member_params(0)
        with pytest.raises(ZooFormatError, match="member 0"):
            ens.params  # noqa: B018


def test_the_lazy_hub_path_checks_the_content_hashes(finished, hub_server, tmp_path):
    """open_remote_file + Ensemble.open + verify(): the range-read shard is checked like a local one."""
    from degzoo.zoo.hub import open_remote_file, publish_release

    repo = "degzoo/integrity"
    publish_release(finished[0], repo, tag="v1", endpoint=hub_server.endpoint)
    damaged = Path(shutil.copyfile(finished[0] / "ensembles" / "ff1.h5", tmp_path / "ff1.h5"))
    with h5py.File(damaged, "a") as f:  # a valid-checksum chunk of the other member: HDF5 sees nothing
        _, raw = f["initial/W_in"].id.read_direct_chunk((1, 0, 0))
        f["initial/W_in"].id.write_direct_chunk((0, 0, 0), raw)
    hub_server.tamper(repo, "ensembles/ff1.h5", damaged.read_bytes())
    remote = open_remote_file(repo, "ensembles/ff1.h5", revision="v1", endpoint=hub_server.endpoint)
    with remote as fh, Ensemble.open(fh, name="remote ff1") as ens:
        assert ens.member_params(1)["W_hh"].shape == (4, 4)  # the trained weights are intact
        with pytest.raises(ZooFormatError, match="remote ff1: initial of member 0 does not match"):
            ens.verify()


def test_a_superblock_declaring_an_absurd_end_of_file_is_a_clear_error():
    """A flipped byte of the end-of-file address made h5py's file-object reader overflow."""
    data = bytearray((embedded_path() / "ensembles" / "flipflop-bits1.h5").read_bytes())
    data[52] ^= 0xFF
    with pytest.raises(ZooFormatError, match="not a readable HDF5 file"):
        Ensemble.open(io.BytesIO(bytes(data)), name="flipped")


def test_info_says_verified_only_when_the_content_hashes_held(tiny, capsys):
    assert main(["info", str(tiny)]) == 0
    assert "integrity  verified: every value matches the content sha256" in capsys.readouterr().out
    flip_byte(tiny, chunk_offset(tiny, "members/loss_curve", 0) + 3)
    err = _one_line_error(capsys, "info", str(tiny))
    assert "members/loss_curve" in err and "re-download" in err


@pytest.mark.parametrize("shard", ["embedded/ensembles/flipflop-bits1.h5",
                                   "releases/zoo-v2/ensembles/flipflop-bits1.h5"])
def test_shipped_shards_without_content_hashes_say_so(shard, tmp_path, capsys):
    """W4: written before content hashes (their sha256 is cited by every result: never rewritten)."""
    shipped = embedded_path().parent / shard
    assert main(["info", str(shipped)]) == 0  # in its release folder: checked against the manifest
    assert "verified against the manifest of release" in capsys.readouterr().out
    alone = Path(shutil.copyfile(shipped, tmp_path / "alone.h5"))
    assert main(["info", str(alone)]) == 0
    out = capsys.readouterr().out
    assert "NOT verified: this file has no content hashes" in out and "integrity  verified" not in out
    with Ensemble.open(alone) as ens:
        assert ens.verify() is False and ens.integrity in ("none", "chunk-checksums")


def test_a_shard_in_a_release_folder_that_differs_from_the_manifest_is_refused_by_info(tmp_path, capsys):
    copy = tmp_path / "embedded"
    shutil.copytree(embedded_path(), copy)
    shard = copy / "ensembles" / "flipflop-bits1.h5"
    flip_byte(shard, shard.stat().st_size - 100, 0x01)
    err = _one_line_error(capsys, "info", str(shard))
    assert "differs from the one the manifest of release 'embedded-v1' records" in err


# --- W3: what the file's metadata may not say ---------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.int8, np.complex64])
def test_weights_of_the_wrong_dtype_are_refused(tiny, dtype, capsys):
    with h5py.File(tiny, "a") as f:
        data = f["weights/W_hh"][()]
        del f["weights/W_hh"]
        f.create_dataset("weights/W_hh", data=data.astype(dtype), chunks=(1, 4, 4))
    err = _one_line_error(capsys, "info", str(tiny))
    assert f"weights/W_hh has dtype {np.dtype(dtype)}, expected float32" in err


@pytest.mark.parametrize("key", ["weights/W_hh", "members/status", "provenance", "content_sha256"])
def test_a_group_in_place_of_a_dataset_is_refused(tiny, key, capsys):
    with h5py.File(tiny, "a") as f:
        del f[key]
        f.create_group(key)
    err = _one_line_error(capsys, "info", str(tiny))
    assert f"{key} is not a dataset" in err


def test_a_link_out_of_the_file_is_never_followed(tiny, tmp_path, capsys):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["W_hh"] = np.zeros((3, 4, 4), np.float32)
    with h5py.File(tiny, "a") as f:
        del f["weights/W_hh"]
        f["weights/W_hh"] = h5py.ExternalLink(str(other), "W_hh")
    err = _one_line_error(capsys, "info", str(tiny))
    assert "weights/W_hh is a link, not an object of this file" in err


def test_deleted_hashes_and_a_schema_downgrade_are_refused(tiny, tmp_path, capsys):
    for edit, match in (
        (lambda f: f.attrs.__delitem__("provenance_sha256"), "provenance_sha256 attribute is missing"),
        (lambda f: f.__delitem__("content_sha256"), "missing dataset.*content_sha256"),
        (lambda f: f.attrs.__setitem__("schema_version", 1), "schema_version 1.*content hashes"),
        (lambda f: f.attrs.__setitem__("degzoo_version", "9.9.9"), "attributes does not match the content"),
    ):
        copy = Path(shutil.copyfile(tiny, tmp_path / "edited.h5"))
        with h5py.File(copy, "a") as f:
            edit(f)
        with pytest.raises(ZooFormatError, match=match):
            Ensemble.open(copy)
    shipped = open_release("zoo-v2", verify=False).root / "ensembles" / "flipflop-bits1.h5"
    old = Path(shutil.copyfile(shipped, tmp_path / "old.h5"))  # schema 1, with checksums
    with h5py.File(old, "a") as f:
        del f.attrs["provenance_sha256"]
    with pytest.raises(ZooFormatError, match="provenance_sha256 attribute is missing"):
        Ensemble.open(old)


def test_an_edit_made_on_purpose_and_rehashed_reads_back(tiny):
    """The content hashes are what a writer of this content records (the tests' rehash helper)."""
    with h5py.File(tiny, "a") as f:
        f["members/final_loss"][0] = 0.5
    with pytest.raises(ZooFormatError, match="members does not match"):
        Ensemble.open(tiny).members  # noqa: B018
    rehash(tiny)
    with Ensemble.open(tiny) as ens:
        assert ens.members["final_loss"][0] == 0.5 and ens.verify() is True


# --- B6: size bombs -------------------------------------------------------------------------


def _declare(path: Path, **shapes: tuple[int, ...]) -> None:
    """Replace datasets by compressed ones that declare ``shapes`` and hold no data (a few KB)."""
    with h5py.File(path, "a") as f:
        for key, shape in shapes.items():
            key = key.replace("__", "/")
            dtype = f[key].dtype
            del f[key]
            f.create_dataset(key, shape=shape, dtype=dtype, chunks=(1, *shape[1:]), compression="gzip")


def test_a_small_file_declaring_50000_hidden_units_is_refused_before_reading(tiny, capsys):
    with h5py.File(tiny, "a") as f:
        text = f["provenance"][()].decode().replace('"hidden": 4', '"hidden": 50000')
        del f["provenance"]
        f["provenance"] = text
    H, E = 50000, 3
    _declare(tiny, **{f"{g}__{k}": (E, *s) for g in ("weights", "initial")
                      for k, s in Architecture(1, 1, hidden=H).shapes.items()})
    assert tiny.stat().st_size < 200_000
    with h5py.File(tiny, "a") as f:  # the provenance hash matches the forged text: only the size stops it
        f.attrs["provenance_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    err = _one_line_error(capsys, "info", str(tiny))
    assert "50000 units" in err and "DEGZOO_MEMORY_BUDGET" in err and "over degzoo's memory budget" in err


def test_a_two_billion_step_loss_curve_is_refused_before_reading(tiny, capsys):
    _declare(tiny, members__loss_curve=(3, 2_000_000_000))
    err = _one_line_error(capsys, "info", str(tiny))
    assert "DEGZOO_MEMORY_BUDGET" in err


# --- B5: bounds before allocation -----------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["--bits", "1000000"],
    ["--hidden", "8192", "--members", "10000"],
    ["--steps", "10000000000000"],
    ["--trial-length", "1000000000000"],
    ["--task", "sine", "--n-freq", "1000000000000"],
])
def test_train_refuses_sizes_over_the_budget_before_allocating(argv, tmp_path, capsys):
    err = _one_line_error(capsys, "train", *argv, "--out", str(tmp_path / "x.h5"), "--quiet")
    assert "over degzoo's memory budget" in err and "DEGZOO_MEMORY_BUDGET" in err
    assert list(tmp_path.iterdir()) == []


def test_simulating_more_than_the_budget_is_refused(monkeypatch, tiny):
    monkeypatch.setenv("DEGZOO_MEMORY_BUDGET", "1MiB")
    with Ensemble.open(tiny) as ens:
        assert ens.trajectories().shape == (3, 2, 10, 4)
        with pytest.raises(ResourceLimitError, match=r"simulating 3 networks of 4 units on 5000 trials"):
            ens.trajectories(np.zeros((5000, 10, 1), np.float32))


def test_a_recipe_with_max_steps_1e13_is_refused_at_load():
    data = {"release": {"name": "big"}, "condition": [
        {"id": "ff", "task": {"name": "flipflop", "bits": 1},
         "training": {"max_steps": 10**13, "steps_per_epoch": 1}}]}
    with pytest.raises(ResourceLimitError, match=r"condition #1 \(ff\).*DEGZOO_MEMORY_BUDGET"):
        recipe_from_dict(data)


def test_the_budget_is_stated_and_can_be_raised(monkeypatch):
    monkeypatch.setenv("DEGZOO_MEMORY_BUDGET", "1MiB")
    assert memory_budget() == 2**20
    with pytest.raises(ResourceLimitError, match="budget of 1 MiB"):
        get_task("flipflop", bits=64, trial_length=1000).sample(64, 0)
    monkeypatch.setenv("DEGZOO_MEMORY_BUDGET", "64GiB")
    assert get_task("flipflop", bits=64, trial_length=1000).sample(4, 0)[0].shape == (4, 1000, 64)
    assert parse_size("2e9") == 2 * 10**9 and parse_size("500MB") == 5 * 10**8
    monkeypatch.setenv("DEGZOO_MEMORY_BUDGET", "lots")
    with pytest.raises(InvalidParameterError, match="not a size"):
        memory_budget()


# --- B7, W1: recipes ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    """A finished one-condition release and its recipe file."""
    root = tmp_path_factory.mktemp("finished")
    recipe = root / "tiny1.toml"
    recipe.write_text(ONE_CONDITION)
    return build_release(recipe, root / "rel", workers=1, progress=False), recipe


def test_a_no_op_rebuild_leaves_the_manifest_untouched(finished, tmp_path):
    out = Path(shutil.copytree(finished[0], tmp_path / "rel"))
    before, mtime = _tree(out), (out / "manifest.json").stat().st_mtime_ns
    assert main(["zoo", "build", str(finished[1]), "--out", str(out), "--quiet"]) == 0
    assert _tree(out) == before and (out / "manifest.json").stat().st_mtime_ns == mtime


def test_an_edited_recipe_of_the_same_name_is_refused_on_a_finished_release(finished, tmp_path, capsys):
    out = Path(shutil.copytree(finished[0], tmp_path / "rel"))
    before = _tree(out)
    edited = tmp_path / "edited.toml"
    edited.write_text(ONE_CONDITION.replace("max_steps = 10", "max_steps = 15"))
    err = _one_line_error(capsys, "zoo", "build", str(edited), "--out", str(out), "--quiet")
    assert "finished release built from another version of recipe 'tiny1'" in err and "ff1" in err
    assert _tree(out) == before


# --- B8: shards against their manifest entry -------------------------------------------------


def test_swapped_shards_and_entries_never_load_as_another_condition(tmp_path):
    copy = Path(shutil.copytree(embedded_path(), tmp_path / "embedded"))
    a, b = copy / "ensembles" / "flipflop-bits1.h5", copy / "ensembles" / "flipflop-bits3.h5"
    a.rename(tmp_path / "a.h5")
    b.rename(a)
    (tmp_path / "a.h5").rename(b)
    manifest = json.loads((copy / "manifest.json").read_text())
    files = manifest["files"]
    files["ensembles/flipflop-bits1.h5"], files["ensembles/flipflop-bits3.h5"] = (
        files["ensembles/flipflop-bits3.h5"], files["ensembles/flipflop-bits1.h5"])
    (copy / "manifest.json").write_text(json.dumps(manifest))
    release = Release(copy)  # every sha256 matches the (edited) manifest
    with pytest.raises(ZooFormatError, match=r"does not hold condition 'flipflop-bits3'.*bits"):
        release.ensemble(release.find("flipflop", bits=3))
    with release.ensemble("flipflop-bits2") as untouched:
        assert untouched.task.bits == 2


# --- W2: snapshot and repack -----------------------------------------------------------------


def test_snapshot_names_a_corrupt_condition_it_leaves_out(finished, tmp_path, capsys):
    out = Path(shutil.copytree(finished[0], tmp_path / "rel"))
    recipe_two = tmp_path / "two.toml"
    recipe_two.write_text(ONE_CONDITION + '\n[[condition]]\nid = "ff2"\n'
                          'task = { name = "flipflop", bits = 2, trial_length = 8 }\n')
    shutil.copyfile(out / "ensembles/ff1.h5", out / "ensembles/ff2.h5")  # ff2: no matching record
    snapshot_release(recipe_two, out, tmp_path / "snap")
    err = capsys.readouterr().err
    assert "ff2.h5 does not match the sha256 recorded" in err and "left out of the snapshot" in err
    assert [c["id"] for c in Release(tmp_path / "snap").conditions] == ["ff1"]


def test_a_killed_repack_leaves_nothing_that_blocks_a_rerun(finished, tmp_path):
    out = tmp_path / "repacked"
    stale = tmp_path / ".repacked.repacking"  # what a SIGKILLed repack leaves: a hidden staging folder
    (stale / "ensembles").mkdir(parents=True)
    (stale / "ensembles" / "ff1.h5").write_bytes(b"half written")
    assert not out.exists()
    repack_release(finished[0], out, progress=False)
    assert not stale.exists() and Release(out).ensemble("ff1").verify() is True
    assert sorted(p.name for p in tmp_path.iterdir()) == ["repacked"]


# --- W5, W6 ---------------------------------------------------------------------------------


def test_an_unreachable_scheduler_is_a_one_line_error(finished, tmp_path, capsys):
    import dask

    recipe = finished[1]
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        err = _one_line_error(capsys, "zoo", "build", str(recipe), "--out", str(tmp_path / "b"),
                              "--scheduler", "tcp://127.0.0.1:9", "--quiet")
    assert "cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'" in err


def test_the_recorded_blas_does_not_depend_on_import_order(monkeypatch):
    import threadpoolctl

    from degzoo import environment

    numpy_dir = Path(np.__file__).parent
    libs = [{"user_api": "blas", "internal_api": "mkl", "version": "2024",
             "filepath": "/opt/torch/lib/libmkl.so"},
            {"user_api": "blas", "internal_api": "openblas", "version": "0.3", "architecture": "Haswell",
             "filepath": f"{numpy_dir}.libs/libscipy_openblas.so"}]
    seen = set()
    for order in (libs, libs[::-1]):
        monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda order=order: list(order))
        seen.add(environment._numpy_blas())
    assert seen == {"openblas 0.3 Haswell"}
