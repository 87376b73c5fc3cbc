"""All-pairs distances in blocks on local processes and on a real Dask LocalCluster equal the
single-process ones."""

from __future__ import annotations

import numpy as np
import pytest

from degzoo import metrics, zoo
from degzoo.errors import InvalidParameterError
from degzoo.metrics.parallel import blocked_compare, take_members


@pytest.fixture(scope="module")
def ens():
    return zoo.load("flipflop", bits=2).subset(np.arange(7))


@pytest.mark.parametrize("name", ["weights_perm", "cka"])
def test_local_processes_give_the_same_matrix(ens, name):
    metric = metrics.get(name)
    np.testing.assert_array_equal(metric.pairwise(ens, workers=2), metric.pairwise(ens))


def test_dsa_blocks_agree_to_the_solver_tolerance(ens):
    """DSA's float32 batched products round differently in batches of another size."""
    metric = metrics.get("dsa", n_delays=5, rank=12, n_starts=4)
    blocked = metric.pairwise(ens, workers=2)
    np.testing.assert_allclose(blocked, metric.pairwise(ens), atol=1e-4)
    np.testing.assert_array_equal(blocked, blocked.T)


def test_dask_local_cluster_cross(ens):
    metric = metrics.get("weights_perm")
    a, b = ens.subset([0, 1, 2]), ens.subset([3, 4, 5, 6])
    np.testing.assert_array_equal(metric.cross(a, b, cluster="local:2"), metric.cross(a, b))


class IndexSum:
    """A 'metric' whose distance is the sum of the two members' indices."""

    name = "index_sum"

    def compare(self, emb_a, emb_b, symmetric):
        return emb_a[:, None] + emb_b[None, :] + 0.0


def test_blocks_cover_every_pair_once():
    """Any misplaced or missing block shows in the index sums."""
    emb = np.arange(11.0)
    for blocks in (1, 2, 3, 5, 11):
        got = blocked_compare(IndexSum(), emb, emb, 11, 11, True, workers=1, blocks=blocks)
        np.testing.assert_array_equal(got, emb[:, None] + emb[None, :])
    other = np.arange(4.0) * 100
    got = blocked_compare(IndexSum(), emb, other, 11, 4, False, workers=1, blocks=3)
    np.testing.assert_array_equal(got, emb[:, None] + other[None, :])


def test_take_members_and_a_clear_error_for_other_embeddings():
    emb = {"W": np.arange(12.0).reshape(4, 3), "scale": 2.0}
    sub = take_members(emb, [3, 1])
    np.testing.assert_array_equal(sub["W"], emb["W"][[3, 1]])
    assert sub["scale"] == 2.0
    assert take_members(["a", "b", "c"], [2, 0]) == ["c", "a"]
    with pytest.raises(InvalidParameterError, match="workers=1"):
        take_members(object(), [0])
