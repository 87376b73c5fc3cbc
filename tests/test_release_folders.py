"""Releases found by name outside the package: a source checkout's ``releases/<name>``, the place
for a release too large for the package (zoo-v3), opens offline by name as a shipped one does."""

from __future__ import annotations

from pathlib import Path

import pytest

import degzoo.release_folders as folders
from degzoo.leaderboard import schema
from degzoo.zoo import check_release, open_release, shipped_releases
from degzoo.zoo.builder import build_release

RECIPE = """
[release]
name = "tiny-outside"
seed = 5

[defaults]
members = 2
hidden = 8
training = { lr = 1e-2, batch_size = 8, max_steps = 10, steps_per_epoch = 5 }

[[condition]]
id = "ff1"
task = { name = "flipflop", bits = 1, trial_length = 20 }
"""


@pytest.fixture
def checkout_releases(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A checkout whose ``releases/`` holds one finished release, ``tiny-outside``."""
    releases = tmp_path / "releases"
    (tmp_path / "tiny.toml").write_text(RECIPE)
    build_release(tmp_path / "tiny.toml", releases / "tiny-outside", workers=1, progress=False)
    monkeypatch.setattr(folders, "_checkout_releases", lambda: releases)
    schema._packaged_releases.cache_clear()
    yield releases
    schema._packaged_releases.cache_clear()


def test_a_checkout_release_opens_by_name_and_the_board_knows_it(checkout_releases: Path) -> None:
    release = open_release("tiny-outside")
    assert release.root == checkout_releases / "tiny-outside" and release.name == "tiny-outside"
    assert "tiny-outside" in shipped_releases() and "zoo-v2" in shipped_releases()
    check_release("tiny-outside")  # accepted by the command line's release check
    known = schema.known_releases()["tiny-outside"]
    assert known.manifest_sha256 == release.sha256


def test_the_checkout_is_recognised_by_its_pyproject_and_releases_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "degzoo" / "release_folders.py"
    monkeypatch.setattr(folders, "__file__", str(module))
    assert folders._checkout_releases() is None  # no pyproject.toml: an installed wheel
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'degzoo'\n")
    assert folders._checkout_releases() is None  # a checkout without releases/
    (tmp_path / "releases").mkdir()
    assert folders._checkout_releases() == tmp_path / "releases"
    assert folders.release_roots()[-1] == tmp_path / "releases"


@pytest.mark.parametrize("name", ["", "../zoo-v2", "a/b", ".hidden"])
def test_a_path_is_never_a_release_name(name: str) -> None:
    assert folders.named_release_path(name) is None
