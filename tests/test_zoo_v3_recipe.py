"""The zoo-v3 recipe (the paper's width) loads, every condition runs, and what is committed of its
build (the checkout's releases/zoo-v3, shard by shard) is this recipe's, intact and >= 90 % converged."""

import pytest
from release_checks import committed_shards_of

from degzoo.errors import InvalidParameterError
from degzoo.release_folders import named_release_path
from degzoo.zoo import open_release
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
    root = named_release_path("zoo-v3")
    shards = committed_shards_of(recipe, root)
    if root is not None and not (root / "manifest.json").is_file():
        with pytest.raises(InvalidParameterError, match=f"not finished \\({len(shards)} condition"):
            open_release("zoo-v3")
