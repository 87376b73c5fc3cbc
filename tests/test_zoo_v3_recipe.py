"""The zoo-v3 recipe (the paper's width) loads, every condition runs, and what is committed of its
build (the checkout's releases/zoo-v3, committed shard by shard, then its manifest and `datasets`
view) is this recipe's, intact and >= 90 % converged."""

import pytest
from release_checks import committed_shards_of

from degzoo.release_folders import named_release_path
from degzoo.zoo import open_release
from degzoo.zoo.dataset import PARQUET_NAME
from degzoo.zoo.recipes import load_recipe


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("zoo-v3")


def test_the_papers_width_and_members_and_ending_converged(recipe):
    assert recipe.name == "zoo-v3"
    assert all(c.hidden == 128 and c.members >= 32 for c in recipe.conditions)
    assert all(c.settings.end_below_threshold for c in recipe.conditions)
    ids = {c.id for c in recipe.conditions}
    assert all(set(ladder.conditions) <= ids for ladder in recipe.ladders)
    assert {ld.name for ld in recipe.ladders} >= {"flipflop-bits", "sine-channels", "dd-channels", "dd-delay",
                                                  "dd-aux", "path-dims", "flipflop-l1", "flipflop-nuclear"}


def test_solution_families_share_their_baselines_task(recipe):
    for family, baseline in (("flipflop-bits3-gain3", "flipflop-bits3"),
                             ("flipflop-bits3-rank3", "flipflop-bits3"), ("path-2d-gain3", "path-2d"),
                             ("path-2d-rank2", "path-2d"), ("dd-ch1-gain3", "dd-ch1")):
        assert recipe.condition(family).task == recipe.condition(baseline).task, family


def test_members_are_not_the_pilots(recipe):
    """zoo-v3 draws its own members: the pilots that chose its settings are not reused in it."""
    pilot = load_recipe("benchmarks/pilots/zoo-v3-pilot-vanilla.toml")
    for cond in pilot.conditions:
        assert not set(cond.seeds) & set(recipe.condition(cond.id).seeds), cond.id


def test_committed_shards_are_verified_converged_conditions_of_the_recipe(recipe):
    """Every condition of the recipe is committed (releases/zoo-v3), this recipe's, intact and
    >= 90 % converged, and the finished release opens by name, its manifest verified."""
    root = named_release_path("zoo-v3")
    assert root is not None, "releases/zoo-v3 is committed: run the tests from the source checkout"
    shards = committed_shards_of(recipe, root)
    assert {s.stem for s in shards} == {c.id for c in recipe.conditions}
    release = open_release("zoo-v3")  # verifies every file's size and sha256 against the manifest
    assert [c["id"] for c in release.conditions] == [c.id for c in recipe.conditions]
    assert release.manifest["recipe"]["release"]["seed"] == recipe.seed


def test_the_datasets_view_has_one_row_per_network(recipe):
    """The committed `datasets` view (listed in the manifest, so verified above) holds every member."""
    import pyarrow.parquet as pq

    view = pq.ParquetFile(named_release_path("zoo-v3") / PARQUET_NAME)
    assert view.metadata.num_rows == sum(c.members for c in recipe.conditions)
    assert {"condition", "seed", "status", "W_hh"} <= set(view.schema_arrow.names)
