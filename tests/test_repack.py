"""Repacking a release changes its encoding and nothing else, and refuses anything that would lose data."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pyarrow.parquet as pq
import pytest
from test_build_safety import _tree
from test_builder import RECIPE

from degzoo.cli import main
from degzoo.errors import ChecksumError, InvalidParameterError, ZooFormatError
from degzoo.zoo import Release, embedded_path, repack
from degzoo.zoo.builder import build_release
from degzoo.zoo.dataset import PARQUET_NAME
from degzoo.zoo.manifest import load_manifest, manifest_sha256
from degzoo.zoo.repack import repack_release


def _same_networks(a: Release, b: Release) -> None:
    assert [c["id"] for c in a.conditions] == [c["id"] for c in b.conditions]
    for cond in a.conditions:
        with a.ensemble(cond["id"]) as x, b.ensemble(cond["id"]) as y:
            for k in x.params:
                np.testing.assert_array_equal(x.params[k], y.params[k])
                np.testing.assert_array_equal(x.initial_params[k], y.initial_params[k])
            np.testing.assert_array_equal(x.probe_inputs, y.probe_inputs)
            np.testing.assert_array_equal(x.members["loss_curve"], y.members["loss_curve"])
            assert list(x.status) == list(y.status) and x.provenance == y.provenance


def test_the_embedded_zoo_repacks_smaller_with_every_value_kept(tmp_path):
    out = repack_release(embedded_path(), tmp_path / "repacked", progress=False)
    original, repacked = Release(embedded_path()), Release(out)
    _same_networks(original, repacked)
    manifest = load_manifest(out)
    assert manifest["repacked_from"]["manifest_sha256"] == original.sha256 != repacked.sha256
    assert manifest["conditions"] == original.manifest["conditions"]
    assert manifest["ladders"] == original.manifest["ladders"]
    assert original.sha256 in (out / "README.md").read_text()  # the card names what it was repacked from
    size = {name: sum(f["size"] for f in load_manifest(d)["files"].values())
            for name, d in (("before", embedded_path()), ("after", out))}
    assert size["after"] < 0.95 * size["before"]
    with h5py.File(out / original.conditions[0]["file"]) as f:
        assert f["weights/W_hh"].compression == "gzip" and f["weights/W_hh"].fletcher32


def test_a_repacked_build_keeps_its_rows_and_stays_resumable(tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE)
    built = build_release(recipe, tmp_path / "built", workers=1, progress=False)
    out = repack_release(built, tmp_path / "repacked", progress=False)
    _same_networks(Release(built), Release(out))
    assert pq.read_table(built / PARQUET_NAME).equals(pq.read_table(out / PARQUET_NAME), check_metadata=True)
    shards = {p: h for p, h in _tree(out).items() if p.startswith("ensembles/")}
    build_release(recipe, out, workers=1, progress=False)  # nothing to train: the records follow the shards
    assert {p: h for p, h in _tree(out).items() if p.startswith("ensembles/")} == shards


def test_a_lossy_encoding_is_refused_and_nothing_is_left(tmp_path, monkeypatch):
    source = tmp_path / "zoo"
    shutil.copytree(embedded_path(), source)
    before = _tree(source)
    copy_item = repack._copy_item

    def lossy(out, name, obj):  # an encoder that loses the last bit of one weight
        copy_item(out, name, obj)
        if name == "weights/W_hh":
            value = out[name][0, 0, 0]
            out[name][0, 0, 0] = np.nextafter(value, np.float32(np.inf))

    monkeypatch.setattr(repack, "_copy_item", lossy)
    with pytest.raises(ZooFormatError, match=r"would change .*weights/W_hh"):
        repack_release(source, tmp_path / "repacked", progress=False)
    assert not (tmp_path / "repacked").exists() and _tree(source) == before


def test_a_corrupt_release_is_refused_before_anything_is_written(tmp_path):
    source = tmp_path / "zoo"
    shutil.copytree(embedded_path(), source)
    shard = source / Release(source).conditions[0]["file"]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=shard.name):
        repack_release(source, tmp_path / "repacked", progress=False)
    assert not (tmp_path / "repacked").exists()


def test_repack_never_writes_into_a_folder_that_holds_something(tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    with pytest.raises(InvalidParameterError, match="exists and is not empty"):
        repack_release(embedded_path(), taken, progress=False)
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


def test_cli_repack_reports_sizes_and_both_manifests(tmp_path, capsys):
    out = tmp_path / "repacked"
    assert main(["zoo", "repack", str(embedded_path()), "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert f"{manifest_sha256(embedded_path())[:12]}… -> {manifest_sha256(out)[:12]}…" in said
    assert "every value unchanged" in said
    assert json.loads((out / "manifest.json").read_text())["repacked_from"]["manifest_sha256"] == (
        manifest_sha256(embedded_path()))
