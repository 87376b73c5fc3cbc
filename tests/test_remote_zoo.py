"""Releases published to the loopback Hub, then loaded back (one shard, lazily, with `datasets`),
and the `degzoo zoo` commands that read the Hub."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from hub_server import HubServer
from hub_server import hub_server as _hub_server_fixture  # noqa: F401 - registers `hub_server`
from test_builder import RECIPE

from degzoo.cli import build_parser, main
from degzoo.cli._args import cli_message
from degzoo.errors import ChecksumError
from degzoo.zoo import Ensemble, Release, load, open_release
from degzoo.zoo.builder import build_release
from degzoo.zoo.card import render_card, write_card
from degzoo.zoo.dataset import PARQUET_NAME, write_parquet
from degzoo.zoo.hub import (
    MovingRevisionWarning,
    ReleaseNotFoundError,
    download_release,
    open_remote_file,
    publish_release,
)
from degzoo.zoo.manifest import build_manifest, write_manifest

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

REPO = "degzoo/tiny-zoo"


def test_publish_load_and_lazy_remote_ensemble(hub_server: HubServer, tmp_path):
    recipe = tmp_path / "tiny.toml"
    recipe.write_text(RECIPE)
    local = build_release(recipe, tmp_path / "rel", workers=1, progress=False)
    publish_release(local, REPO, tag="v1", endpoint=hub_server.endpoint)
    expected = Release(local).ensemble("ff-bits2").params

    remote = load("flipflop", bits=2, release=REPO, revision="v1", endpoint=hub_server.endpoint,
                  cache_dir=tmp_path / "cache")
    for k, v in expected.items():
        np.testing.assert_array_equal(remote.params[k], v)

    before = len(hub_server.requests)
    remote_file = open_remote_file(REPO, "ensembles/ff-bits2.h5", revision="v1", endpoint=hub_server.endpoint)
    with remote_file as fh, Ensemble.open(fh, name="ff-bits2") as lazy:
        np.testing.assert_array_equal(lazy[1].params["W_hh"], expected["W_hh"][1])
        assert lazy.task.bits == 2
    assert len(hub_server.requests) > before  # read over HTTP, not from the cache


# --------------------------------------------------------------------------------------------
# a two-condition release made of embedded shards: load one condition, datasets, CLI
# --------------------------------------------------------------------------------------------

ZOO = "degzoo/mini-zoo"
CONDITIONS = ("flipflop-bits1", "flipflop-bits2")


@pytest.fixture(scope="module")
def mini_release(tmp_path_factory) -> Path:
    """Two embedded shards, their parquet of networks, manifest and card."""
    root = tmp_path_factory.mktemp("mini") / "release"
    (root / "ensembles").mkdir(parents=True)
    embedded = open_release()
    conditions = [embedded.condition(cid) for cid in CONDITIONS]
    for cond in conditions:
        shutil.copyfile(embedded.root / cond["file"], root / cond["file"])
    write_parquet(root, conditions)
    manifest = build_manifest(root, release="mini-v1", recipe={"name": "mini"}, conditions=conditions,
                              degzoo_version="0.0.0+test")
    write_manifest(root, manifest)
    write_card(root, manifest)
    return root


def _shard_bytes_fetched(hub: HubServer) -> dict[str, int]:
    got: dict[str, int] = {}
    for r in hub.requests_for("/resolve/", "GET"):
        name = r.path.rsplit("/", 1)[-1]
        got[name] = got.get(name, 0) + r.body_bytes
    return got


def test_load_fetches_the_manifest_and_one_shard_verified(hub_server: HubServer, mini_release, tmp_path):
    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    hub_server.clear_requests()
    ens = load("flipflop", bits=2, release=ZOO, revision="v1", endpoint=hub_server.endpoint)
    expected = open_release().ensemble("flipflop-bits2").params["W_hh"]
    np.testing.assert_array_equal(ens.params["W_hh"], expected)
    fetched = _shard_bytes_fetched(hub_server)
    assert set(fetched) == {"manifest.json", "flipflop-bits2.h5"}
    assert fetched["flipflop-bits2.h5"] == (mini_release / "ensembles/flipflop-bits2.h5").stat().st_size

    hub_server.clear_requests()  # cached: nothing downloaded again, and the same ensemble
    again = load(condition="flipflop-bits2", release=ZOO, revision="v1", endpoint=hub_server.endpoint)
    assert sum(_shard_bytes_fetched(hub_server).values()) == 0
    assert again._file.filename == ens._file.filename
    offline = load(condition="flipflop-bits2", release=ZOO, revision="v1", local_files_only=True)
    assert offline._file.filename == ens._file.filename


def test_a_corrupt_shard_is_refused(hub_server: HubServer, mini_release, tmp_path):
    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    good = (mini_release / "ensembles/flipflop-bits1.h5").read_bytes()
    hub_server.tamper(ZOO, "ensembles/flipflop-bits1.h5", good[:-1] + bytes([good[-1] ^ 1]))
    with pytest.raises(ChecksumError, match=r"flipflop-bits1\.h5.*expected"):
        load("flipflop", bits=1, release=ZOO, revision="v1", endpoint=hub_server.endpoint,
             cache_dir=tmp_path / "cache")


def test_a_branch_warns_and_names_the_commit(hub_server: HubServer, mini_release, tmp_path):
    commit = publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    with pytest.warns(MovingRevisionWarning, match=f"'main'.*branch.*{commit}"):
        ens = load("flipflop", bits=1, release=ZOO, revision="main", endpoint=hub_server.endpoint)
    assert f"/snapshots/{commit}/" in ens._file.filename  # the cache records the commit that was read
    with pytest.warns(MovingRevisionWarning, match=commit):
        folder = download_release(ZOO, revision="main", endpoint=hub_server.endpoint)
    assert folder.name == commit
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a tag or commit id: no warning
        load("flipflop", bits=1, release=ZOO, revision=commit, endpoint=hub_server.endpoint)


def test_cached_download_release_is_silent_and_offline(hub_server: HubServer, mini_release, monkeypatch):
    """The second download asks only for the tag's commit: no tree listing, no 'Fetching N files'."""
    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    first = download_release(ZOO, revision="v1", endpoint=hub_server.endpoint)
    hub_server.clear_requests()
    assert download_release(ZOO, revision="v1", endpoint=hub_server.endpoint) == first
    assert [r.path for r in hub_server.requests if "/tree/" in r.path or "/resolve/" in r.path] == []


def test_unknown_revision_lists_the_tags(hub_server: HubServer, mini_release):
    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    with pytest.raises(ReleaseNotFoundError, match=r"no release tag or branch 'v9'.*tags: v1"):
        load("flipflop", bits=1, release=ZOO, revision="v9", endpoint=hub_server.endpoint)


def test_datasets_load_dataset_reads_the_card_config(hub_server: HubServer, mini_release):
    """`datasets.load_dataset` on the folder, and on the Hub repo at a revision (in a subprocess:
    `datasets` reads HF_ENDPOINT when it is imported)."""
    from datasets import load_dataset

    n_networks = sum(open_release().condition(c)["members"] for c in CONDITIONS)
    local = load_dataset(str(mini_release), split="train")
    assert local.num_rows == n_networks
    assert sorted(set(local["condition"])) == list(CONDITIONS)
    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    code = (f"from datasets import load_dataset\nds = load_dataset({ZOO!r}, revision='v1', split='train')\n"
            "print(ds.num_rows, sorted(set(ds['condition'])), len(ds[0]['W_hh']))")
    env = {**os.environ, "HF_ENDPOINT": hub_server.endpoint, "HF_DATASETS_OFFLINE": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2] == f"{n_networks} {list(CONDITIONS)} 32"


def test_card_describes_columns_and_equations_and_cites_the_paper():
    manifest = open_release().manifest
    card = render_card(manifest)
    header = card.split("\n---\n", 1)[0]
    assert "path: ensembles/*.h5" in header and "config_name: flipflop-bits3" in header  # no parquet: HDF5
    assert "`weights.W_hh`" in card and "`members.loss_curve`" in card
    assert "h_t = tanh(W_hh h_{t-1} + W_in x_t + b)" in card and "(1 - τ) h_{t-1}" in card
    assert "arXiv" in card and "2410.03972" in card
    with_parquet = render_card({**manifest, "files": {**manifest["files"], PARQUET_NAME: {}}})
    assert f"path: {PARQUET_NAME}" in with_parquet and "ensembles/*.h5" not in with_parquet
    assert "`condition`" in with_parquet and "`task_params`" in with_parquet
    assert "## How it was built" not in card
    release = {**manifest["recipe"]["release"], "notes": "Trials of *20* steps."}
    recipe = {**manifest["recipe"], "release": release}
    assert "## How it was built\n\nTrials of *20* steps.\n" in render_card({**manifest, "recipe": recipe})


@pytest.mark.parametrize("shipped", [None, "zoo-v2"])
def test_the_shipped_cards_are_the_rendered_ones(shipped):
    release = open_release(shipped, verify=False)
    assert (release.root / "README.md").read_text() == render_card(release.manifest)


def test_load_dataset_on_the_embedded_release_locally_and_after_publish(hub_server: HubServer, tmp_path):
    """The embedded release has no parquet mirror (its manifest cannot change): its card points
    `datasets`' HDF5 loader at the shards, with the per-member features."""
    from datasets import load_dataset

    embedded = open_release()
    n_networks = sum(c["members"] for c in embedded.conditions)
    local = load_dataset(str(embedded.root), split="train", cache_dir=str(tmp_path / "hf"))
    assert local.num_rows == n_networks and local.column_names == ["weights", "initial", "members"]
    one = load_dataset(str(embedded.root), "flipflop-bits3", split="train", cache_dir=str(tmp_path / "hf"))
    with embedded.ensemble("flipflop-bits3") as ens:
        row = np.asarray(one[2]["weights"]["W_hh"], np.float32)
        np.testing.assert_array_equal(row, ens.params["W_hh"][2])
        assert one["members"][2]["seed"] == ens.seeds[2]
    publish_release(embedded.root, ZOO, tag="embedded-v1", endpoint=hub_server.endpoint)
    code = (f"from datasets import load_dataset\nds = load_dataset({ZOO!r}, revision='embedded-v1', "
            f"split='train', cache_dir={str(tmp_path / 'hub-hf')!r})\nprint(ds.num_rows)")
    env = {**os.environ, "HF_ENDPOINT": hub_server.endpoint, "HF_DATASETS_OFFLINE": "0"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split("\n")[-2] == str(n_networks)


def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_tags_and_list_of_a_hub_release(hub_server: HubServer, mini_release, capsys):
    commit = publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    rc, out, _ = _cli(capsys, "zoo", "tags", ZOO, "--endpoint", hub_server.endpoint, "--json")
    assert rc == 0 and json.loads(out) == {"v1": commit}
    rc, out, _ = _cli(capsys, "zoo", "tags", ZOO, "--endpoint", hub_server.endpoint)
    assert rc == 0 and out.split() == ["v1", commit]
    hub_server.clear_requests()
    rc, out, _ = _cli(capsys, "zoo", "list", ZOO, "--revision", "v1", "--endpoint", hub_server.endpoint,
                      "--json")
    assert rc == 0 and [c["id"] for c in json.loads(out)["conditions"]] == list(CONDITIONS)
    assert set(_shard_bytes_fetched(hub_server)) == {"manifest.json"}  # no shard downloaded
    rc, _, err = _cli(capsys, "zoo", "list", ZOO, "--revision", "v9", "--endpoint", hub_server.endpoint)
    assert rc == 2 and len(err.strip().splitlines()) == 1 and "tags: v1" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["zoo", "list", "/nonexistent"], "'/nonexistent' is not an existing release folder"),
    (["zoo", "list", "./no-such-folder"], "is not an existing release folder"),
    (["zoo", "list", "org/name"], "pass --revision vX.Y"),
    (["zoo", "tags", "not a repo"], "nor a Hub repo id"),
])
def test_cli_errors_are_one_line_and_name_cli_options(argv, message, capsys):
    rc, _, err = _cli(capsys, *argv)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and message in err
    assert "revision=" not in err


def test_cli_message_turns_keywords_into_options():
    assert cli_message("pass revision='v1.0' or token=, or local_files_only=True") == \
        "pass --revision v1.0 or --token, or --offline"


def test_every_zoo_option_has_help():
    parser = build_parser()
    zoo_parser = parser._subparsers._group_actions[0].choices["zoo"]
    for sub in zoo_parser._subparsers._group_actions[0].choices.values():
        for action in sub._actions:
            assert action.help, f"{sub.prog} {action.option_strings or action.dest} has no help"


def test_offline_download_of_a_partly_cached_release_says_not_cached(hub_server: HubServer, mini_release,
                                                                       tmp_path):
    """zoo.load caches the manifest and one shard; an offline download of the whole release then
    says the release is not cached, not that it "does not match its own manifest"."""
    from degzoo.zoo.hub import HubUnavailableError

    publish_release(mini_release, ZOO, tag="v1", endpoint=hub_server.endpoint)
    cache = tmp_path / "cache"
    load(condition="flipflop-bits1", release=ZOO, revision="v1", endpoint=hub_server.endpoint,
         cache_dir=cache)
    with pytest.raises(HubUnavailableError, match=r"not \(completely\) in the local cache"):
        download_release(ZOO, revision="v1", cache_dir=cache, local_files_only=True)
    assert download_release(ZOO, revision="v1", endpoint=hub_server.endpoint, cache_dir=cache).is_dir()
    assert download_release(ZOO, revision="v1", cache_dir=cache, local_files_only=True).is_dir()
