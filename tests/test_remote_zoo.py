"""A built release published to the loopback Hub, then loaded back: downloaded and lazily."""

from __future__ import annotations

import numpy as np
from hub_server import HubServer
from hub_server import hub_server as _hub_server_fixture  # noqa: F401 - registers `hub_server`
from test_builder import RECIPE

from degzoo.zoo import Ensemble, Release, load
from degzoo.zoo.builder import build_release
from degzoo.zoo.hub import open_remote_file, publish_release

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
