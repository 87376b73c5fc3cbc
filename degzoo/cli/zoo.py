"""``degzoo zoo build|publish|download|list``: make, publish and fetch zoo releases."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from degzoo.zoo import open_release


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("zoo", help="build, publish, download and list zoo releases")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND", required=True)

    b = zsub.add_parser("build", help="train every condition of a recipe into a release folder",
                        description="Resumable: rerun the same command after an interruption. --out must "
                        "be a new or empty folder, or this recipe's own build: any other folder (an "
                        "existing release, another recipe's build) is refused untouched.")
    b.add_argument("recipe", help="recipe file (TOML) or a built-in recipe: embedded, paper")
    b.add_argument("--out", type=Path, required=True,
                   help="release folder: new, empty, or this recipe's build in progress")
    b.add_argument("--workers", type=int, help="local worker processes (default: all cores)")
    b.add_argument("--scheduler", help="address of a running Dask scheduler (e.g. from dask-jobqueue)")
    b.add_argument("--cluster", help="start a Dask LocalCluster: local:N")
    b.add_argument("--quiet", action="store_true")
    b.set_defaults(run=run_build)

    pub = zsub.add_parser("publish", help="upload a release folder to a Hub dataset repo and tag it")
    pub.add_argument("release_dir", type=Path)
    pub.add_argument("--repo-id", required=True)
    pub.add_argument("--tag", required=True, help="release tag, e.g. v1.0")
    pub.add_argument("--endpoint")
    pub.add_argument("--token")
    pub.set_defaults(run=run_publish)

    d = zsub.add_parser("download", help="download and verify a release from the Hub")
    d.add_argument("--repo-id", required=True)
    d.add_argument("--revision", required=True, help="release tag or commit id")
    d.add_argument("--endpoint")
    d.add_argument("--token")
    d.add_argument("--cache-dir", type=Path)
    d.add_argument("--offline", action="store_true", help="serve from the cache only")
    d.set_defaults(run=run_download)

    ls = zsub.add_parser("list", help="list the conditions of a release (default: the embedded zoo)")
    ls.add_argument("release", nargs="?", help="release folder (default: the embedded zoo)")
    ls.set_defaults(run=run_list)


def run_build(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.builder import build_release

    try:
        out = build_release(args.recipe, args.out, workers=args.workers, scheduler=args.scheduler,
                            cluster=args.cluster, progress=not args.quiet)
    except KeyboardInterrupt:
        print(f"interrupted: finished conditions are kept in {args.out}; rerun to resume", file=sys.stderr)
        return 130
    print(f"built release in {out}")
    return run_list(argparse.Namespace(release=str(out)), [])


def run_publish(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.hub import publish_release

    commit = publish_release(args.release_dir, args.repo_id, tag=args.tag, endpoint=args.endpoint,
                             token=args.token)
    print(f"published {args.release_dir} to {args.repo_id} at {args.tag} (commit {commit})")
    return 0


def run_download(args: argparse.Namespace, extra: list[str]) -> int:
    from degzoo.zoo.hub import download_release

    path = download_release(args.repo_id, revision=args.revision, endpoint=args.endpoint,
                            token=args.token, cache_dir=args.cache_dir, local_files_only=args.offline)
    print(path)
    return 0


def run_list(args: argparse.Namespace, extra: list[str]) -> int:
    release = open_release(args.release)
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
