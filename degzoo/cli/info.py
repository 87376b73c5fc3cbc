"""``degzoo info``: summarise an ensemble file and say what its integrity check covered."""

from __future__ import annotations

import argparse
from pathlib import Path

from degzoo.zoo import Ensemble
from degzoo.zoo.manifest import MANIFEST_NAME, load_manifest, sha256_file


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise an ensemble file and check that every value of it reads back",
                       description="Summarise an ensemble file. Every value is read once and checked "
                       "against the content hashes recorded when the file was written, so a corrupt "
                       "chunk, index or header, or inconsistent shapes, are reported. A file written "
                       "before content hashes (schema 1) is checked against its release's manifest "
                       "when it sits in a release folder.")
    p.add_argument("path", type=Path, help="ensemble file (.h5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    with Ensemble.open(args.path) as ensemble:
        verified = ensemble.verify()
        integrity = ensemble.integrity
        print(ensemble.summary())
    if verified:
        print("integrity  verified: every value matches the content sha256 recorded when the file was "
              "written (weights per member, members table, probe set, provenance, attributes)")
        return 0
    release = _release_manifest_match(args.path)
    if release is not None:
        print(f"integrity  verified against the manifest of release {release!r}: the file's sha256 "
              "matches (the file itself has no content hashes)")
        return 0
    checks = "its per-chunk checksums passed" if integrity == "chunk-checksums" else "it has no checksums"
    print(f"integrity  NOT verified: this file has no content hashes (written before degzoo recorded "
          f"them); every dataset read back and {checks}, but damage to its chunk index or metadata can "
          "go unnoticed. Open it through its release, whose manifest sha256 covers every byte")
    return 0


def _release_manifest_match(path: Path) -> str | None:
    """The release name when ``path`` is a shard listed in the manifest of the release folder it sits
    in and its sha256 matches; None when it is not in a release. A mismatch is an error."""
    from degzoo.errors import ChecksumError, ZooFormatError

    path = path.resolve()
    for root in path.parents[:2]:
        if not (root / MANIFEST_NAME).is_file():
            continue
        try:
            manifest = load_manifest(root)
        except ZooFormatError:
            return None
        entry = manifest["files"].get(path.relative_to(root).as_posix())
        if entry is None:
            return None
        if sha256_file(path) != entry["sha256"]:
            raise ChecksumError(f"{path}: its sha256 differs from the one the manifest of release "
                                f"{manifest['release']!r} records; the file is corrupt — re-download it "
                                "or rebuild it from its recipe")
        return str(manifest["release"])
    return None
