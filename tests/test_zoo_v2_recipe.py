"""The draft zoo-v2 recipe loads, and every condition is a valid task × architecture × training."""

import json

import numpy as np
import pytest
import torch
from release_checks import committed_shards_of

from degzoo.errors import InvalidParameterError
from degzoo.models import forward, init_params
from degzoo.training.controls import apply_controls
from degzoo.zoo import open_release
from degzoo.zoo.recipes import load_recipe
from degzoo.zoo.release import packaged_release_path

CONTINUOUS = ("complexity", "memory", "width", "regularisation", "feature_learning")


@pytest.fixture(scope="module")
def recipe():
    return load_recipe("zoo-v2")  # a built-in recipe: `degzoo zoo build zoo-v2 --out DIR`


def test_scale_and_ladders(recipe):
    assert recipe.name == "zoo-v2"
    assert all(c.members >= 32 for c in recipe.conditions)
    widths = {c.id: c.hidden for c in recipe.conditions}
    width_ladder = next(ld for ld in recipe.ladders if ld.factor == "width")
    assert all(h == 64 for cid, h in widths.items() if cid not in width_ladder.conditions)
    assert [widths[c] for c in width_ladder.conditions] == list(width_ladder.values)
    for ladder in recipe.ladders:
        if ladder.factor in CONTINUOUS and not ladder.name.endswith(("-dims", "dd-channels")):
            assert len(ladder.conditions) >= 4, ladder.name
    assert any(ld.factor == "aux" for ld in recipe.ladders)


def test_every_condition_runs(recipe):
    """Each condition's task samples data its architecture (after the controls) takes and produces."""
    rng = np.random.default_rng(0)
    for cond in recipe.conditions:
        task, arch, _ = apply_controls(cond.controls, cond.task, cond.architecture())
        assert (arch.n_inputs, arch.n_outputs) == (task.n_inputs, task.n_outputs), cond.id
        x, y = task.sample(2, rng)
        out, _ = forward(init_params(arch, [0]), torch.as_tensor(x, dtype=torch.float32), arch)
        assert out.shape[1:] == y.shape and torch.isfinite(out).all(), cond.id


def test_piloted_conditions_use_the_schedule(recipe):
    for cid in ("path-2d", "path-3d", "dd-ch3"):
        settings = recipe.condition(cid).settings
        assert settings.lr_schedule == "plateau" and settings.grad_clip == 1.0, cid
        assert settings.to_dict()["lr_schedule"] == "plateau"  # recorded in the provenance


def test_committed_shards_are_verified_converged_conditions_of_the_recipe(recipe):
    """What is committed of the zoo-v2 build (degzoo/releases/zoo-v2) is this recipe's, intact and
    >= 90 % converged, so a later build resumes from it; the release opens by name once finished."""
    root = packaged_release_path("zoo-v2")
    shards = committed_shards_of(recipe, root)
    if root is not None and (root / "manifest.json").is_file():
        assert len(open_release("zoo-v2").conditions) == len(recipe.conditions)
    else:
        with pytest.raises(InvalidParameterError, match=f"not finished \\({len(shards)} condition"):
            open_release("zoo-v2")


def test_the_shipped_report_is_of_this_release_and_the_readme_counts_its_verdicts():
    """degzoo/reference/report/zoo-v2.json was computed on the packaged zoo-v2 (same manifest), and
    the README's tally of the paper's direction cells is the tally of that data."""
    from pathlib import Path

    from degzoo.benchmark.report import PAPER_DIRECTIONS

    root = packaged_release_path("zoo-v2")
    data = json.loads((root.parent.parent / "reference" / "report" / "zoo-v2.json").read_text())
    assert data["release"]["manifest_sha256"] == open_release("zoo-v2").sha256
    tally: dict[str, int] = {}
    for factor in PAPER_DIRECTIONS:
        ladders = [lad for lad in data["ladders"] if lad["factor"] == factor]
        for metric in ("dsa", "weights_perm", "behaviour_ood"):
            verdicts = [lad["levels"][metric]["verdict"] for lad in ladders]
            n_rep, n_opp = verdicts.count("reproduces"), verdicts.count("opposite")
            cell = ("reproduces" if n_rep == len(verdicts) else "mixed" if n_rep and n_opp
                    else "opposite" if n_opp else "inconclusive")
            tally[cell] = tally.get(cell, 0) + 1
    readme = " ".join((Path(__file__).resolve().parent.parent / "README.md").read_text().split())
    assert (f"{tally['reproduces']} reproduce, {tally['inconclusive']} are inconclusive, "
            f"{tally['mixed']} mixed and {tally['opposite']} opposite") in readme
