"""``degzoo zoo build|snapshot|repack|publish|download|list|tags``: make, fetch and list zoo releases."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from degzoo.zoo import Release, open_release
from degzoo.zoo.recipes import BUILTIN_RECIPES

_HUB_HELP = {
    "--endpoint": "Hub URL (default: $HF_ENDPOINT or https://huggingface.co)",
    "--token": "Hub access token (default: the one saved by `hf auth login`; needed for private repos)",
}
_TAGS_HELP = "release tag or commit id (`degzoo zoo tags ORG/NAME` lists the tags)"


def _hub_options(p: argparse.ArgumentParser, *, cache: bool = False) -> None:
    p.add_argument("--endpoint", help=_HUB_HELP["--endpoint"])
    p.add_argument("--token", help=_HUB_HELP["--token"])
    if cache:
        p.add_argument("--cache-dir", type=Path, help="Hub cache folder (default: $HF_HUB_CACHE)")
        p.add_argument("--offline", action="store_true", help="serve from the cache only, no network")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="build, publish, download and list zoo releases")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)

    b = zsub.add_parser("build", help="train every condition of a recipe into a release folder",
                        description="Resumable: rerun the same command after an interruption. --out must "
                        "be a new or empty folder, or this recipe's own build: any other folder (an "
                        "existing release, another recipe's build) is refused untouched.")
    b.add_argument("recipe", help=f"recipe file (TOML) or a built-in recipe: {', '.join(BUILTIN_RECIPES)}")
    b.add_argument("--out", type=Path, required=True,
                   help="release folder: new, empty, or this recipe's build in progress")
    b.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    b.add_argument("--scheduler", help="address of a running Dask scheduler (e.g. from dask-jobqueue)")
    b.add_argument("--cluster", help="start a Dask LocalCluster: local:N")
    b.add_argument("--quiet", action="store_true", help="no progress output")
    b.add_argument("--only", type=lambda text: [c for c in text.split(",") if c],
                   help="train only these conditions (comma-separated ids, in this order), e.g. a long "
                   "build in pieces; the manifest is written once all are finished")
    b.set_defaults(run=run_build)

    snap = zsub.add_parser("snapshot", help="a verified release of a build's finished conditions so far")
    snap.add_argument("recipe", help="the build's recipe (file or built-in name)")
    snap.add_argument("--build", type=Path, required=True, help="the build folder (zoo build --out)")
    snap.add_argument("--out", type=Path, required=True, help="new folder for the snapshot release")
    snap.set_defaults(run=run_snapshot)

    rp = zsub.add_parser(
        "repack", help="re-encode a release (compressed) into a new folder, every value verified",
        description="Rewrites every shard and the parquet of networks in the current storage format "
        "(lossless compression), checks that every array, attribute and row is unchanged, and writes a "
        "manifest that records the original's sha256 under repacked_from. The original is not modified.")
    rp.add_argument("release_dir", type=Path, help="release folder (with manifest.json)")
    rp.add_argument("--out", type=Path, required=True, help="new folder for the repacked release")
    rp.add_argument("--quiet", action="store_true", help="no progress output")
    rp.set_defaults(run=run_repack)

    pub = zsub.add_parser("publish", help="upload a release folder to a Hub dataset repo and tag it")
    pub.add_argument("release_dir", type=Path, help="release folder (with manifest.json)")
    pub.add_argument("--repo-id", required=True, help="Hub dataset repo, ORG/NAME (created if missing)")
    pub.add_argument("--tag", required=True, help="release tag, e.g. v1.0 (never moved or replaced)")
    _hub_options(pub)
    pub.set_defaults(run=run_publish)

    d = zsub.add_parser("download", help="download and verify a release from the Hub")
    d.add_argument("--repo-id", required=True, help="Hub dataset repo, ORG/NAME")
    d.add_argument("--revision", required=True, help=_TAGS_HELP)
    _hub_options(d, cache=True)
    d.set_defaults(run=run_download)

    ls = zsub.add_parser("list", help="list the conditions of a release (default: the embedded zoo)")
    ls.add_argument("release", nargs="?",
                    help="release folder or Hub repo ORG/NAME (default: the embedded zoo)")
    ls.add_argument("--revision",
                    help=_TAGS_HELP + "; needed for a Hub repo, of which only the manifest is downloaded")
    _hub_options(ls, cache=True)
    ls.add_argument("--json", action="store_true", help="print the manifest's conditions and ladders as JSON")
    ls.set_defaults(run=run_list)

    t = zsub.add_parser("tags", help="list the release tags of a Hub zoo repository")
    t.add_argument("repo_id", metavar="ORG/NAME", help="Hub dataset repo")
    _hub_options(t)
    t.add_argument("--json", action="store_true", help="print {tag: commit id} as JSON")
    t.set_defaults(run=run_tags)


def run_build(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.builder import build_release
    from degzoo.zoo.manifest import MANIFEST_NAME

    try:
        out = build_release(args.recipe, args.out, workers=args.workers, scheduler=args.scheduler,
                            cluster=args.cluster, progress=not args.quiet, only=args.only)
    except KeyboardInterrupt:
        print(f"interrupted: finished conditions are kept in {args.out}; rerun to resume", file=sys.stderr)
        return 130
    if not (out / MANIFEST_NAME).is_file():  # --only: the build goes on in a later run
        return 0
    print(f"built release in {out}")
    return run_list(argparse.Namespace(release=str(out), revision=None, endpoint=None, token=None,
                                       cache_dir=None, offline=False, json=False), [])


def run_snapshot(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.builder import snapshot_release

    out = snapshot_release(args.recipe, args.build, args.out)
    return run_list(argparse.Namespace(release=str(out), revision=None, endpoint=None, token=None,
                                       cache_dir=None, offline=False, json=False), [])


def run_repack(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.manifest import load_manifest, manifest_sha256
    from degzoo.zoo.repack import repack_release

    out = repack_release(args.release_dir, args.out, progress=not args.quiet)
    before, after = (sum(f["size"] for f in load_manifest(d)["files"].values())
                     for d in (args.release_dir, out))
    print(f"repacked {args.release_dir} into {out}: {before / 1e6:.1f} MB -> {after / 1e6:.1f} MB, every "
          f"value unchanged; manifest sha256 {manifest_sha256(args.release_dir)[:12]}… -> "
          f"{manifest_sha256(out)[:12]}…")
    return 0


def run_publish(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.release_folders import PINNED_FILE
    from degzoo.zoo.hub import publish_release
    from degzoo.zoo.manifest import load_manifest, manifest_sha256

    commit = publish_release(args.release_dir, args.repo_id, tag=args.tag, endpoint=args.endpoint,
                             token=args.token)
    print(f"published {args.release_dir} to {args.repo_id} at {args.tag} (commit {commit})")
    name = load_manifest(args.release_dir)["release"]
    pin = {"repo_id": args.repo_id, "revision": args.tag,
           "manifest_sha256": manifest_sha256(args.release_dir)}
    print(f"to let every install open it as {name!r}, add to degzoo/releases/{PINNED_FILE}: "
          f"{json.dumps({name: pin})}")
    return 0


def run_download(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.hub import download_release

    path = download_release(args.repo_id, revision=args.revision, endpoint=args.endpoint,
                            token=args.token, cache_dir=args.cache_dir, local_files_only=args.offline)
    print(path)
    return 0


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    if args.release is None or Path(args.release).is_dir() or args.revision is None:
        release = open_release(args.release, revision=args.revision)
    else:  # a Hub release: its manifest says everything listed here, the shards are not needed
        from degzoo.zoo.hub import check_repo_id, download_manifest

        release = Release(download_manifest(check_repo_id(args.release), revision=args.revision,
                                            endpoint=args.endpoint, token=args.token,
                                            cache_dir=args.cache_dir, local_files_only=args.offline),
                          verify=False)
    if args.json:
        print(json.dumps({"release": release.name, "manifest_sha256": release.sha256,
                          "conditions": release.conditions, "ladders": release.ladders}, indent=1))
        return 0
    print(f"release {release.name} ({release.root}), manifest sha256 {release.sha256[:12]}…")
    for cond in release.conditions:
        controls = ", ".join(c["name"] for c in cond.get("controls", [])) or "-"
        loss = cond.get("final_loss_median")
        print(f"  {cond['id']:<28} hidden {cond['hidden']:<4} members {cond['members']:<3} "
              f"converged {cond.get('converged', '?'):<3} controls {controls:<10} "
              f"median loss {'-' if loss is None else f'{loss:.3g}'}")
    for ladder in release.ladders:
        print(f"  ladder {ladder['name']} ({ladder['factor']}): {' → '.join(ladder['conditions'])}")
    return 0


def run_tags(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.hub import check_repo_id, list_releases

    tags = list_releases(check_repo_id(args.repo_id), endpoint=args.endpoint, token=args.token)
    if args.json:
        print(json.dumps(tags, indent=1))
    elif not tags:
        print(f"{args.repo_id} has no release tags")
    else:
        for tag, commit in tags.items():
            print(f"{tag}\t{commit}")
    return 0
