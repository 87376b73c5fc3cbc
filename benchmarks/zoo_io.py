"""Zoo I/O: our loaders against raw h5py reads, and download + verify throughput through a Hub.

Loaders (``loader_vs_h5py``): time to open a release and list its conditions, to read one member's
weights lazily, and to read a whole ensemble, each against raw ``h5py`` reads of the same arrays,
printed as ratios (goal: within 1.5x).

Starts the test suite's loopback Hub (``tests/hub_server.py``) in this process, publishes the
release folder to it with :func:`degzoo.zoo.hub.publish_release`, then times
:func:`degzoo.zoo.hub.download_release` into a fresh temporary cache (HTTP download + sha256 of
every file against the manifest), and a second call on the warm cache (verification only).
Everything stays on 127.0.0.1, so the numbers are the client's ceiling (huggingface_hub +
hashing + disk), not the network's.

    python benchmarks/zoo_io.py path/to/release          # an existing release folder
    python benchmarks/zoo_io.py --dummy-mb 20            # a generated ~20 MB dummy release
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_TESTS = Path(__file__).resolve().parents[1] / "tests"

# huggingface_hub reads these once, at import: set them before anything imports it.
_HUB_ENV = {
    "HF_HUB_DISABLE_XET": "1",  # Xet storage cannot be imitated by the loopback Hub
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
}
for _key, _value in _HUB_ENV.items():
    os.environ.setdefault(_key, _value)


@contextlib.contextmanager
def _loopback_hub_settings() -> Iterator[None]:
    """Make sure the already-imported huggingface_hub uses Xet-free, telemetry-free settings."""
    from huggingface_hub import constants

    patches = {
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
        "HF_HUB_OFFLINE": False,
    }
    saved = {k: getattr(constants, k) for k in patches if hasattr(constants, k)}
    for key, value in patches.items():
        setattr(constants, key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(constants, key, value)


def _release_bytes(release_dir: Path) -> tuple[int, int]:
    from degzoo.zoo.manifest import iter_release_files

    files = iter_release_files(release_dir)
    return sum((release_dir / f).stat().st_size for f in files), len(files)


def download_throughput(release_dir: str | os.PathLike[str], *, repeats: int = 1) -> dict[str, Any]:
    """Publish ``release_dir`` to an in-process loopback Hub and time download + verify.

    Returns (and prints) a dict: the release size, the publish time, and for the best of
    ``repeats`` cold downloads (a new cache each time) the seconds and MB/s of
    ``download_release`` (download + sha256 verification), plus the warm-cache call
    (verification only) and the plain sha256 rate of the same files for reference.
    """
    if str(_TESTS) not in sys.path:
        sys.path.insert(0, str(_TESTS))
    from hub_server import HubServer

    from degzoo.zoo.hub import download_release, publish_release
    from degzoo.zoo.manifest import sha256_file, verify_release

    release_dir = Path(release_dir)
    verify_release(release_dir)
    total, n_files = _release_bytes(release_dir)
    mb = total / 1e6
    repo = "degzoo-bench/zoo-io"
    with (
        _loopback_hub_settings(),
        HubServer(max_lifetime_s=3600) as server,
        tempfile.TemporaryDirectory(prefix="degzoo-zoo-io-") as tmp,
    ):
        t0 = time.perf_counter()
        commit = publish_release(release_dir, repo, tag="bench", endpoint=server.endpoint)
        publish_s = time.perf_counter() - t0

        cold: list[float] = []
        warm: list[float] = []
        for i in range(max(repeats, 1)):
            cache = Path(tmp) / f"cache{i}"
            t0 = time.perf_counter()
            folder = download_release(repo, revision="bench", endpoint=server.endpoint, cache_dir=cache)
            cold.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            download_release(repo, revision="bench", endpoint=server.endpoint, cache_dir=cache)
            warm.append(time.perf_counter() - t0)
        assert folder.name == commit

        t0 = time.perf_counter()
        for rel in sorted(p for p in release_dir.rglob("*") if p.is_file()):
            sha256_file(rel)
        hash_s = time.perf_counter() - t0

    result = {
        "release": str(release_dir),
        "files": n_files,
        "megabytes": round(mb, 3),
        "publish_s": round(publish_s, 3),
        "download_verify_s": round(min(cold), 3),
        "download_verify_MBps": round(mb / min(cold), 1),
        "warm_verify_s": round(min(warm), 3),
        "warm_verify_MBps": round(mb / min(warm), 1),
        "sha256_only_MBps": round(mb / hash_s, 1) if hash_s > 0 else None,
        "repeats": max(repeats, 1),
    }
    print(
        f"release {release_dir} ({n_files} files, {mb:.1f} MB) via loopback Hub\n"
        f"  publish (upload + commit + tag): {publish_s:.2f} s\n"
        f"  download_release, cold cache:    {min(cold):.2f} s = {result['download_verify_MBps']} MB/s"
        " (download + sha256 verify)\n"
        f"  download_release, warm cache:    {min(warm):.2f} s = {result['warm_verify_MBps']} MB/s"
        " (verify only)\n"
        f"  sha256 alone:                    {result['sha256_only_MBps']} MB/s"
    )
    return result


def _best_of(fn: Any, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def loader_vs_h5py(release_dir: str | os.PathLike[str], *, repeats: int = 20) -> dict[str, Any]:
    """Our loaders vs raw h5py on the largest ensemble of a release; prints and returns the times."""
    import h5py

    from degzoo.models import PARAM_NAMES
    from degzoo.zoo import Ensemble, Release

    root = Path(release_dir)
    manifest_path = root / "manifest.json"
    release = Release(root)
    cond = max(release.conditions, key=lambda c: release.manifest["files"][c["file"]]["size"])
    path = root / cond["file"]
    member = cond["members"] // 2

    def ours_open() -> None:
        Release(root, verify=False).conditions  # noqa: B018

    def raw_open() -> None:
        json.loads(manifest_path.read_text())["conditions"]

    def ours_member() -> None:
        with Ensemble.open(path) as ens:
            ens.member_params(member)

    def raw_member() -> None:
        with h5py.File(path, "r") as f:
            {k: f[f"weights/{k}"][member] for k in PARAM_NAMES}

    def ours_all() -> None:
        with Ensemble.open(path) as ens:
            ens.params  # noqa: B018

    def raw_all() -> None:
        with h5py.File(path, "r") as f:
            {k: f[f"weights/{k}"][()] for k in PARAM_NAMES}

    rows = {}
    for label, ours, raw in (("open release + list conditions", ours_open, raw_open),
                             ("read one member's weights", ours_member, raw_member),
                             ("read a whole ensemble", ours_all, raw_all)):
        t_ours, t_raw = _best_of(ours, repeats), _best_of(raw, repeats)
        rows[label] = {"ours_ms": round(1e3 * t_ours, 3), "raw_ms": round(1e3 * t_raw, 3),
                       "ratio": round(t_ours / t_raw, 2)}
    verify = _best_of(lambda: Release(root, verify=True), max(1, repeats // 5))
    print(f"loaders on {cond['id']} ({cond['members']} members, hidden {cond['hidden']}); best of {repeats}")
    for label, row in rows.items():
        print(f"  {label:<32} ours {row['ours_ms']:8.3f} ms   raw h5py {row['raw_ms']:8.3f} ms"
              f"   ratio {row['ratio']:.2f}x")
    print(f"  open with sha256 verification    {1e3 * verify:8.1f} ms (whole release)")
    return {"condition": cond["id"], **rows, "verify_release_ms": round(1e3 * verify, 1)}


def _make_dummy(root: Path, megabytes: float) -> Path:
    if str(_TESTS) not in sys.path:
        sys.path.insert(0, str(_TESTS))
    from hub_server import make_dummy_release

    n = 4
    per_file = int(megabytes * 1e6 / n)
    return make_dummy_release(root, release="bench-dummy", n_conditions=n, bytes_per_file=per_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("release", nargs="?", type=Path,
                        help="a zoo release folder (with manifest.json), e.g. degzoo/embedded")
    parser.add_argument(
        "--dummy-mb", type=float, default=None, help="generate a dummy release of about this many MB instead"
    )
    parser.add_argument("--repeats", type=int, default=3, help="cold downloads to time (best is kept)")
    parser.add_argument("--json", action="store_true", help="also print the result as one JSON line")
    args = parser.parse_args(argv)
    if (args.release is None) == (args.dummy_mb is None):
        parser.error("give a release folder or --dummy-mb (one of them)")
    with tempfile.TemporaryDirectory(prefix="degzoo-dummy-release-") as tmp:
        release = args.release if args.release is not None else _make_dummy(Path(tmp) / "rel", args.dummy_mb)
        result = download_throughput(release, repeats=args.repeats)
        if args.release is not None:
            result["loaders"] = loader_vs_h5py(args.release)
    if args.json:
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
