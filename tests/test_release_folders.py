"""Releases found by name outside the package: a source checkout's ``releases/<name>``, the place
for a release too large for the package (zoo-v3), opens offline by name as a shipped one does; a
pinned Hub release opens by name in any install, downloaded once at its tag and manifest sha256."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import degzoo.release_folders as folders
from degzoo.cli import main
from degzoo.errors import ChecksumError, InvalidParameterError, ZooFormatError
from degzoo.leaderboard import schema
from degzoo.zoo import check_release, open_release, shipped_releases
from degzoo.zoo.builder import build_release
from degzoo.zoo.manifest import manifest_sha256

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


# --- pinned Hub releases: what an install without the checkout opens by name ---------------------

_LFS_WARNING = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")


@pytest.fixture
def pinned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write ``degzoo/releases/hub.json`` (a temporary one) from a dict of pins."""
    path = tmp_path / "hub.json"
    monkeypatch.setattr(folders, "_pinned_path", lambda: path)
    schema._packaged_releases.cache_clear()

    def write(pins: object) -> None:
        path.write_text(json.dumps(pins))
        schema._packaged_releases.cache_clear()

    yield write
    schema._packaged_releases.cache_clear()


@pytest.fixture
def published(tmp_path: Path, hub_server, capsys: pytest.CaptureFixture[str]) -> tuple[Path, str, dict]:
    """``tiny-outside`` built outside every release folder, published at tag ``v1`` by ``degzoo zoo
    publish``, and the pin that command prints for ``hub.json``."""
    (tmp_path / "tiny.toml").write_text(RECIPE)
    built = tmp_path / "built" / "tiny-outside"
    build_release(tmp_path / "tiny.toml", built, workers=1, progress=False)
    assert main(["zoo", "publish", str(built), "--repo-id", "degzoo/tiny-outside", "--tag", "v1",
                 "--endpoint", hub_server.endpoint]) == 0
    line = capsys.readouterr().out.strip().splitlines()[-1]
    return built, hub_server.endpoint, json.loads(line.split(f"{folders.PINNED_FILE}: ", 1)[1])


@_LFS_WARNING
def test_a_pinned_release_downloads_by_name_then_opens_offline(published, pinned, tmp_path: Path) -> None:
    built, endpoint, pin = published
    assert pin == {"tiny-outside": {"repo_id": "degzoo/tiny-outside", "revision": "v1",
                                    "manifest_sha256": manifest_sha256(built)}}
    pinned(pin)
    cache = tmp_path / "cache"
    release = open_release("tiny-outside", endpoint=endpoint, cache_dir=cache)
    assert release.root.is_relative_to(cache) and release.sha256 == manifest_sha256(built)
    assert len(release.ensemble("ff1")) == 2
    assert "tiny-outside" in shipped_releases()
    check_release("tiny-outside")
    assert schema.known_releases()["tiny-outside"].manifest_sha256 == manifest_sha256(built)
    offline = open_release("tiny-outside", endpoint=endpoint, cache_dir=cache, local_files_only=True)
    assert offline.root == release.root
    with pytest.raises(InvalidParameterError, match="pinned by this degzoo to degzoo/tiny-outside at 'v1'"):
        open_release("tiny-outside", revision="v2", endpoint=endpoint, cache_dir=cache)


@_LFS_WARNING
def test_a_hub_release_that_is_not_the_pinned_one_is_refused(published, pinned, tmp_path: Path) -> None:
    _, endpoint, _ = published
    pinned({"tiny-outside": {"repo_id": "degzoo/tiny-outside", "revision": "v1",
                             "manifest_sha256": "0" * 64}})
    with pytest.raises(ChecksumError, match="not the release you pinned"):
        open_release("tiny-outside", endpoint=endpoint, cache_dir=tmp_path / "cache")


@pytest.mark.parametrize("pins", [
    [], {"x": "degzoo/x"}, {"x": {"repo_id": "x", "revision": "v1", "manifest_sha256": "0" * 64}},
    {"x": {"repo_id": "a/x", "revision": "v1", "manifest_sha256": "00"}},
    {"x": {"repo_id": "a/x", "manifest_sha256": "0" * 64}},
])
def test_a_malformed_pin_list_is_a_clear_error(pinned, pins: object) -> None:
    pinned(pins)
    with pytest.raises(ZooFormatError, match=r"hub\.json"):
        folders.pinned_releases()

