"""Release manifests: build, atomic write, strict load, verification, manifest sha256."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hub_server import make_dummy_release

from degzoo.errors import ChecksumError, InvalidParameterError, ZooFormatError
from degzoo.zoo.manifest import (
    MANIFEST_SCHEMA_VERSION,
    build_manifest,
    check_release,
    load_manifest,
    manifest_sha256,
    sha256_file,
    verify_release,
    write_manifest,
)


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return make_dummy_release(tmp_path / "rel", n_conditions=3, bytes_per_file=4096)


def _rewrite(release: Path, **changes: object) -> None:
    data = json.loads((release / "manifest.json").read_text())
    data.update(changes)
    (release / "manifest.json").write_text(json.dumps(data))


def test_sha256_file_matches_hashlib_for_any_chunk(tmp_path: Path) -> None:
    data = np.random.default_rng(1).bytes(100_003)
    (tmp_path / "f").write_bytes(data)
    expected = hashlib.sha256(data).hexdigest()
    for chunk in (1, 7, 4096, 1 << 20):
        assert sha256_file(tmp_path / "f", chunk=chunk) == expected
    with pytest.raises(InvalidParameterError):
        sha256_file(tmp_path / "f", chunk=0)


def test_build_write_load_roundtrip(release: Path) -> None:
    manifest = load_manifest(release)
    assert manifest["schema_version"] == MANIFEST_SCHEMA_VERSION
    assert manifest["release"] == "test-v1"
    assert list(manifest) == [
        "schema_version",
        "release",
        "degzoo_version",
        "recipe",
        "conditions",
        "files",
    ]
    files = manifest["files"]
    assert list(files) == sorted(files)
    assert "manifest.json" not in files and "README.md" not in files
    assert len(files) == 3
    for rel, entry in files.items():
        data = (release / rel).read_bytes()
        assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    assert [c["id"] for c in manifest["conditions"]] == [
        "flipflop-bits1",
        "flipflop-bits2",
        "flipflop-bits3",
    ]
    assert manifest["conditions"][1]["bits"] == 2  # extra keys are kept
    # a file path works as well as the folder
    assert load_manifest(release / "manifest.json") == manifest
    verify_release(release)


def test_build_skips_hidden_files_and_uses_posix_paths(release: Path) -> None:
    (release / ".gitattributes").write_text("*.h5 filter=lfs\n")
    (release / ".cache" / "huggingface").mkdir(parents=True)
    (release / ".cache" / "huggingface" / "x.lock").write_text("")
    (release / "extra" / "deep").mkdir(parents=True)
    (release / "extra" / "deep" / "notes.txt").write_text("hi")
    manifest = build_manifest(release, release="r", recipe={}, conditions=[], degzoo_version="0.1.0")
    assert "extra/deep/notes.txt" in manifest["files"]
    assert not any(p.startswith(".") or "/." in p for p in manifest["files"])
    write_manifest(release, manifest)
    verify_release(release)  # hidden files are not "extra"


def test_write_manifest_is_atomic_and_leaves_no_temp_files(release: Path) -> None:
    manifest = load_manifest(release)
    manifest["recipe"] = {"changed": True}
    write_manifest(release, manifest)
    assert load_manifest(release)["recipe"] == {"changed": True}
    assert not [p for p in release.iterdir() if p.name.startswith(".manifest.")]
    assert (release / "manifest.json").read_text().endswith("\n")


def test_write_manifest_refuses_invalid_manifest(release: Path) -> None:
    before = (release / "manifest.json").read_bytes()
    bad = load_manifest(release)
    del bad["files"]
    with pytest.raises(ZooFormatError, match="missing field 'files'"):
        write_manifest(release, bad)
    assert (release / "manifest.json").read_bytes() == before


def test_build_manifest_rejects_bad_conditions_and_recipe(release: Path) -> None:
    with pytest.raises(InvalidParameterError, match=r"ensembles/nope\.h5.*not listed"):
        build_manifest(
            release,
            release="r",
            recipe={},
            conditions=[{"id": "a", "file": "ensembles/nope.h5"}],
            degzoo_version="0.1.0",
        )
    with pytest.raises(InvalidParameterError, match="duplicate"):
        build_manifest(
            release,
            release="r",
            recipe={},
            conditions=[
                {"id": "a", "file": "ensembles/flipflop-bits1.h5"},
                {"id": "a", "file": "ensembles/flipflop-bits2.h5"},
            ],
            degzoo_version="0.1.0",
        )
    with pytest.raises(InvalidParameterError, match="plain JSON"):
        build_manifest(
            release,
            release="r",
            recipe={"lr": np.float32(0.1)},
            conditions=[],
            degzoo_version="0.1.0",
        )
    with pytest.raises(InvalidParameterError, match="plain JSON"):
        build_manifest(release, release="r", recipe={"x": float("nan")}, conditions=[], degzoo_version="0")
    with pytest.raises(InvalidParameterError, match="non-empty"):
        build_manifest(release, release=" ", recipe={}, conditions=[], degzoo_version="0")
    with pytest.raises(InvalidParameterError, match="does not exist"):
        build_manifest(release / "nope", release="r", recipe={}, conditions=[], degzoo_version="0")


def test_load_manifest_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ZooFormatError, match=r"No release manifest at .*manifest\.json"):
        load_manifest(tmp_path)


def test_load_manifest_invalid_json_names_the_file(release: Path) -> None:
    (release / "manifest.json").write_text('{"schema_version": 1,')
    with pytest.raises(ZooFormatError, match=r"manifest\.json is not valid JSON"):
        load_manifest(release)


def test_load_manifest_rejects_nan(release: Path) -> None:
    text = (release / "manifest.json").read_text().replace('"seed": 0', '"seed": NaN')
    (release / "manifest.json").write_text(text)
    with pytest.raises(ZooFormatError, match="NaN"):
        load_manifest(release)


def test_load_manifest_rejects_non_utf8(release: Path) -> None:
    (release / "manifest.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ZooFormatError, match="not UTF-8"):
        load_manifest(release)


def test_load_manifest_lists_every_missing_or_mistyped_field(release: Path) -> None:
    data = json.loads((release / "manifest.json").read_text())
    del data["recipe"]
    del data["release"]
    data["conditions"] = {"not": "a list"}
    (release / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ZooFormatError) as info:
        load_manifest(release)
    msg = str(info.value)
    assert "manifest.json" in msg
    assert "missing field 'recipe'" in msg
    assert "missing field 'release'" in msg
    assert "field 'conditions' must be list" in msg


@pytest.mark.parametrize(("version", "hint"), [(2, "upgrade degzoo"), (0, "unsupported old")])
def test_load_manifest_unknown_schema_version(release: Path, version: int, hint: str) -> None:
    _rewrite(release, schema_version=version)
    with pytest.raises(ZooFormatError, match=f"schema_version.*{hint}"):
        load_manifest(release)


def test_load_manifest_rejects_bool_schema_version(release: Path) -> None:
    _rewrite(release, schema_version=True)
    with pytest.raises(ZooFormatError, match="schema_version"):
        load_manifest(release)


@pytest.mark.parametrize(
    ("entry_path", "entry", "message"),
    [
        ("../escape.h5", {"sha256": "0" * 64, "size": 1}, r"'\.\.'"),
        ("/abs.h5", {"sha256": "0" * 64, "size": 1}, "absolute"),
        ("a\\b.h5", {"sha256": "0" * 64, "size": 1}, "backslash"),
        ("README.md", {"sha256": "0" * 64, "size": 1}, "must not be listed"),
        ("x.h5", {"sha256": "ABC", "size": 1}, "64 lowercase hex"),
        ("x.h5", {"sha256": "0" * 64, "size": -1}, "non-negative"),
        ("x.h5", {"sha256": "0" * 64}, "non-negative"),
        ("x.h5", "nope", "must be an object"),
    ],
)
def test_load_manifest_rejects_bad_file_entries(
    release: Path, entry_path: str, entry: object, message: str
) -> None:
    data = json.loads((release / "manifest.json").read_text())
    data["files"][entry_path] = entry
    (release / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ZooFormatError, match=message):
        load_manifest(release)


def test_load_manifest_condition_must_name_a_listed_file(release: Path) -> None:
    data = json.loads((release / "manifest.json").read_text())
    data["conditions"].append({"id": "ghost", "file": "ensembles/ghost.h5"})
    (release / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(ZooFormatError, match=r"ghost.*not listed"):
        load_manifest(release)


def test_verify_release_detects_same_size_corruption(release: Path) -> None:
    target = release / "ensembles" / "flipflop-bits2.h5"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ChecksumError, match=r"flipflop-bits2\.h5: sha256 mismatch") as info:
        verify_release(release)
    assert "re-download" in str(info.value) and "rebuild" in str(info.value)
    verify_release(release, check_hashes=False)  # sizes still match


def test_verify_release_lists_every_problem(release: Path) -> None:
    (release / "ensembles" / "flipflop-bits1.h5").unlink()
    with open(release / "ensembles" / "flipflop-bits2.h5", "ab") as fh:
        fh.write(b"x")
    (release / "ensembles" / "stray.h5").write_bytes(b"stray")
    (release / "README.md").unlink()
    with pytest.raises(ChecksumError) as info:
        verify_release(release)
    msg = str(info.value)
    assert "4 problems" in msg
    assert "flipflop-bits1.h5: missing" in msg
    assert "flipflop-bits2.h5: size mismatch" in msg
    assert "stray.h5: extra file" in msg
    assert "README.md: the dataset card is missing" in msg
    kinds = sorted(p.kind for p in check_release(release))
    assert kinds == ["card", "extra", "missing", "size"]


def test_verify_release_missing_and_extra_only_is_a_format_error(release: Path) -> None:
    (release / "ensembles" / "flipflop-bits3.h5").unlink()
    with pytest.raises(ZooFormatError) as info:
        verify_release(release)
    assert not isinstance(info.value, ChecksumError)
    assert "incomplete" in str(info.value)


def test_verify_release_with_explicit_manifest(release: Path) -> None:
    manifest = load_manifest(release)
    verify_release(release, manifest)
    manifest["files"]["ensembles/flipflop-bits1.h5"]["size"] += 1
    with pytest.raises(ChecksumError, match="size mismatch"):
        verify_release(release, manifest)


def test_verify_release_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ZooFormatError, match="does not exist"):
        verify_release(tmp_path / "nope")


def test_verify_release_treats_dangling_symlink_as_missing(release: Path) -> None:
    target = release / "ensembles" / "flipflop-bits1.h5"
    blob = release.parent / "blob"
    target.rename(blob)
    target.symlink_to(blob)
    verify_release(release)  # a link to the right bytes is fine (the Hub cache layout)
    blob.unlink()
    with pytest.raises(ZooFormatError, match=r"flipflop-bits1\.h5: missing"):
        verify_release(release)


def test_manifest_sha256_is_the_hash_of_the_bytes(release: Path) -> None:
    expected = hashlib.sha256((release / "manifest.json").read_bytes()).hexdigest()
    assert manifest_sha256(release) == expected
    assert manifest_sha256(release / "manifest.json") == expected
    with pytest.raises(ZooFormatError):
        manifest_sha256(release / "ensembles")
