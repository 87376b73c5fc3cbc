"""End to end: degzoo.zoo.hub with the real huggingface_hub against the loopback test Hub."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from hub_server import HubServer, download_worker, make_dummy_release
from hub_server import hub_server as _hub_server_fixture  # noqa: F401 - registers `hub_server`

from degzoo.errors import ChecksumError, InvalidParameterError, ZooFormatError
from degzoo.zoo.hub import (
    HubUnavailableError,
    MovingRevisionWarning,
    ReleaseExistsError,
    ReleaseNotFoundError,
    download_file,
    download_release,
    list_releases,
    open_remote_file,
    publish_release,
)
from degzoo.zoo.manifest import (
    build_manifest,
    load_manifest,
    manifest_sha256,
    verify_release,
    write_manifest,
)

# huggingface_hub's LFS upload passes a file object as `data=`; httpx2 warns about it
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

REPO = "degzoo/zoo-test"
SHARD = "ensembles/flipflop-bits1.h5"


@pytest.fixture
def release(tmp_path: Path) -> Path:
    return make_dummy_release(tmp_path / "release", n_conditions=2, bytes_per_file=200_000)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


def _all_cached_bytes(cache: Path) -> set[str]:
    """sha256 of every regular file under the cache (blobs included)."""
    return {
        hashlib.sha256(p.read_bytes()).hexdigest()
        for p in cache.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


def _rebuild(release: Path, name: str) -> None:
    old = load_manifest(release)
    write_manifest(
        release,
        build_manifest(
            release,
            release=name,
            recipe=old["recipe"],
            conditions=old["conditions"],
            degzoo_version=old["degzoo_version"],
        ),
    )


def test_publish_then_download_gives_identical_verified_files(
    hub_server: HubServer, release: Path, cache: Path
) -> None:
    ep = hub_server.endpoint
    commit = publish_release(release, REPO, tag="v1", endpoint=ep)
    assert re.fullmatch(r"[0-9a-f]{40}", commit)
    assert hub_server.tags(REPO) == {"v1": commit}
    assert list_releases(REPO, endpoint=ep) == {"v1": commit}
    # one commit on top of the repository's initial commit; shards went through LFS
    assert len(hub_server.requests_for("/commit/", "POST")) == 1
    assert len(hub_server.requests_for("/_lfs/", "PUT")) == 2

    folder = download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache)
    assert folder.is_relative_to(cache)
    assert folder.name == commit  # the cache's snapshot of that commit
    assert _tree_bytes(folder) == _tree_bytes(release)
    assert manifest_sha256(folder) == manifest_sha256(release)
    verify_release(folder)
    # by commit id, pinned manifest: same folder, no new download
    again = download_release(
        REPO,
        revision=commit,
        endpoint=ep,
        cache_dir=cache,
        expected_manifest_sha256=manifest_sha256(release),
    )
    assert again == folder


def test_pinned_old_revision_keeps_old_bytes(hub_server: HubServer, release: Path, cache: Path) -> None:
    ep = hub_server.endpoint
    v1_bytes = _tree_bytes(release)
    c1 = publish_release(release, REPO, tag="v1", endpoint=ep)
    # v2: one shard changes, one is removed, one is added
    (release / SHARD).write_bytes(b"changed shard" * 100)
    (release / "ensembles" / "flipflop-bits2.h5").unlink()
    (release / "ensembles" / "flipflop-bits9.h5").write_bytes(os.urandom(5000))
    old = load_manifest(release)
    conditions = [
        {"id": "flipflop-bits1", "file": SHARD},
        {"id": "flipflop-bits9", "file": "ensembles/flipflop-bits9.h5"},
    ]
    write_manifest(
        release,
        build_manifest(
            release,
            release="test-v2",
            recipe=old["recipe"],
            conditions=conditions,
            degzoo_version="0.0.0+test",
        ),
    )
    c2 = publish_release(release, REPO, tag="v2", endpoint=ep)
    assert c1 != c2

    f1 = download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache)
    f2 = download_release(REPO, revision="v2", endpoint=ep, cache_dir=cache)
    assert _tree_bytes(f1) == v1_bytes
    assert _tree_bytes(f2) == _tree_bytes(release)
    assert not (f2 / "ensembles" / "flipflop-bits2.h5").exists()  # deleted in the v2 commit
    assert load_manifest(f1)["release"] == "test-v1"
    assert load_manifest(f2)["release"] == "test-v2"
    assert download_release(REPO, revision=c1, endpoint=ep, cache_dir=cache) == f1


@pytest.mark.parametrize("keep_etag", [False, True], ids=["replaced", "bitrot"])
def test_tampered_file_is_rejected_and_evicted(
    hub_server: HubServer, release: Path, cache: Path, keep_etag: bool
) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    good = (release / SHARD).read_bytes()
    bad = bytes(b ^ 0x5A for b in good)  # same size: only the sha256 can tell
    hub_server.tamper(REPO, SHARD, bad, keep_etag=keep_etag)

    with pytest.raises(ChecksumError) as info:
        download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache)
    msg = str(info.value)
    assert SHARD in msg and "sha256 mismatch" in msg and "Re-run" in msg
    # no corrupt bytes anywhere in the cache, no snapshot link to them
    assert hashlib.sha256(bad).hexdigest() not in _all_cached_bytes(cache)
    snapshots = list(cache.rglob(f"snapshots/*/{SHARD}"))
    assert all(not p.exists() for p in snapshots)
    # offline, the cache does not serve the incomplete release either
    with pytest.raises(HubUnavailableError, match="not \\(completely\\) in the local cache"):
        download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache, local_files_only=True)
    # once the Hub serves the right bytes again, a re-run succeeds
    hub_server.tamper(REPO, SHARD, good)
    folder = download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache)
    assert (folder / SHARD).read_bytes() == good


def test_verify_false_skips_the_check(hub_server: HubServer, release: Path, cache: Path) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    hub_server.tamper(REPO, SHARD, b"\0" * (release / SHARD).stat().st_size)
    folder = download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache, verify=False)
    with pytest.raises(ChecksumError):
        verify_release(folder)


def test_offline_serves_the_cache(
    hub_server: HubServer, release: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    folder = download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache)
    hub_server.stop()
    assert download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache,
                            local_files_only=True) == folder  # fmt: skip
    # the Hub unreachable, not offline: huggingface_hub falls back to the cache too
    assert download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache) == folder
    # HF_HUB_OFFLINE=1 (read at import time: patch the constant)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache) == folder
    path = download_file(REPO, SHARD, revision="v1", endpoint=ep, cache_dir=cache)
    assert path.read_bytes() == (release / SHARD).read_bytes()


def test_offline_without_cache_is_a_clear_error(hub_server: HubServer, release: Path, tmp_path: Path) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    empty = tmp_path / "empty-cache"
    with pytest.raises(HubUnavailableError) as info:
        download_release(REPO, revision="v1", endpoint=ep, cache_dir=empty, local_files_only=True)
    msg = str(info.value)
    assert "offline mode" in msg and str(empty) in msg and "network access" in msg
    hub_server.stop()
    with pytest.raises(HubUnavailableError, match="could not be reached"):
        download_release(REPO, revision="v1", endpoint=ep, cache_dir=empty)
    with pytest.raises(HubUnavailableError):
        list_releases(REPO, endpoint=ep)


def test_missing_repo_revision_and_file_are_clear_errors(
    hub_server: HubServer, release: Path, cache: Path
) -> None:
    ep = hub_server.endpoint
    with pytest.raises(ReleaseNotFoundError, match="no dataset repository 'degzoo/nope'"):
        download_release("degzoo/nope", revision="v1", endpoint=ep, cache_dir=cache)
    publish_release(release, REPO, tag="v1", endpoint=ep)
    with pytest.raises(ReleaseNotFoundError, match=r"no release tag or branch 'v404'.*release tags: v1"):
        download_release(REPO, revision="v404", endpoint=ep, cache_dir=cache)
    with pytest.raises(ReleaseNotFoundError, match=r"'ensembles/nope\.h5' does not exist"):
        download_file(REPO, "ensembles/nope.h5", revision="v1", endpoint=ep, cache_dir=cache)
    with pytest.raises(ReleaseNotFoundError, match="no revision"):
        download_file(REPO, SHARD, revision="v404", endpoint=ep, cache_dir=cache)
    with pytest.raises(ReleaseNotFoundError, match="no such file"):
        open_remote_file(REPO, "ensembles/nope.h5", revision="v1", endpoint=ep)
    with pytest.raises(ReleaseNotFoundError, match="no dataset repository"):
        open_remote_file("degzoo/nope", SHARD, revision="v1", endpoint=ep)
    with pytest.raises(ReleaseNotFoundError, match="no revision"):
        open_remote_file(REPO, SHARD, revision="v404", endpoint=ep)
    with pytest.raises(InvalidParameterError, match="revision="):
        download_release(REPO, revision="", endpoint=ep)
    with pytest.raises(InvalidParameterError, match="namespace/name"):
        download_release("not a repo id!", revision="v1", endpoint=ep, cache_dir=cache)


def test_download_of_a_repo_that_is_not_a_release(hub_server: HubServer, cache: Path, tmp_path: Path) -> None:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.endpoint)
    api.create_repo(REPO, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"hello", path_in_repo="notes.txt", repo_id=REPO, repo_type="dataset")
    with pytest.raises(ZooFormatError, match="not a degzoo zoo release"), \
            pytest.warns(MovingRevisionWarning, match="'main'.*branch"):
        download_release(REPO, revision="main", endpoint=hub_server.endpoint, cache_dir=cache)


def test_pinned_manifest_sha256_mismatch(hub_server: HubServer, release: Path, cache: Path) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    with pytest.raises(ChecksumError, match="not the release you pinned"):
        download_release(REPO, revision="v1", endpoint=ep, cache_dir=cache, expected_manifest_sha256="0" * 64)
    folder = download_release(
        REPO,
        revision="v1",
        endpoint=ep,
        cache_dir=cache,
        expected_manifest_sha256=manifest_sha256(release),
    )
    verify_release(folder)


def test_download_file_verifies_expected_sha256(hub_server: HubServer, release: Path, cache: Path) -> None:
    ep = hub_server.endpoint
    publish_release(release, REPO, tag="v1", endpoint=ep)
    expected = load_manifest(release)["files"][SHARD]["sha256"]
    path = download_file(REPO, SHARD, revision="v1", endpoint=ep, cache_dir=cache,
                         expected_sha256=expected)  # fmt: skip
    assert path.read_bytes() == (release / SHARD).read_bytes()
    hub_server.tamper(REPO, SHARD, b"evil")
    cache2 = cache.parent / "cache2"
    with pytest.raises(ChecksumError, match="corrupt cached copy was deleted"):
        download_file(REPO, SHARD, revision="v1", endpoint=ep, cache_dir=cache2,
                      expected_sha256=expected)  # fmt: skip
    assert hashlib.sha256(b"evil").hexdigest() not in _all_cached_bytes(cache2)


def test_publish_refuses_a_release_that_does_not_match_its_manifest(
    hub_server: HubServer, release: Path
) -> None:
    with open(release / SHARD, "r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    (release / "ensembles" / "stray.h5").write_bytes(b"stray")
    with pytest.raises(ChecksumError) as info:
        publish_release(release, REPO, tag="v1", endpoint=hub_server.endpoint)
    msg = str(info.value)
    assert "Refusing to publish" in msg and SHARD in msg and "stray.h5" in msg
    assert hub_server.requests == []  # refused before any network call
    (release / "README.md").unlink()
    _rebuild(release, "test-v1")
    with pytest.raises(ZooFormatError, match="dataset card"):
        publish_release(release, REPO, tag="v1", endpoint=hub_server.endpoint)
    assert hub_server.requests == []


def test_duplicate_tag_is_refused_before_upload(hub_server: HubServer, release: Path) -> None:
    ep = hub_server.endpoint
    c1 = publish_release(release, REPO, tag="v1", endpoint=ep)
    (release / SHARD).write_bytes(b"new bytes")
    _rebuild(release, "test-v1b")
    hub_server.clear_requests()
    with pytest.raises(ReleaseExistsError, match=r"'v1' already exists.*new tag"):
        publish_release(release, REPO, tag="v1", endpoint=ep)
    assert not hub_server.requests_for("/commit/") and not hub_server.requests_for("/_lfs/")
    assert hub_server.tags(REPO) == {"v1": c1}
    assert hub_server.resolve(REPO, "main") == c1
    with pytest.raises(InvalidParameterError, match="tag"):
        publish_release(release, REPO, tag="bad tag", endpoint=ep)


def test_republishing_identical_files_tags_the_same_commit(hub_server: HubServer, release: Path) -> None:
    ep = hub_server.endpoint
    c1 = publish_release(release, REPO, tag="v1", endpoint=ep)
    c2 = publish_release(release, REPO, tag="v1-again", endpoint=ep)
    assert c1 == c2
    assert hub_server.tags(REPO) == {"v1": c1, "v1-again": c1}


def test_concurrent_downloads_from_two_processes(hub_server: HubServer, tmp_path: Path, cache: Path) -> None:
    ep = hub_server.endpoint
    release = make_dummy_release(tmp_path / "big", n_conditions=4, bytes_per_file=1_500_000)
    publish_release(release, REPO, tag="v1", endpoint=ep)
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [
        ctx.Process(target=download_worker, args=(REPO, "v1", ep, str(cache), barrier, queue))
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    try:
        results = [queue.get(timeout=120) for _ in procs]
    finally:
        for p in procs:
            p.join(timeout=30)
            if p.is_alive():
                p.kill()
    assert [r[0] for r in results] == ["ok", "ok"], results
    assert results[0][1] == results[1][1]
    folder = Path(results[0][1])
    verify_release(folder)
    assert _tree_bytes(folder) == _tree_bytes(release)
    assert not list(cache.rglob("*.incomplete"))
    # each shard was fetched at most twice (once per process), usually once thanks to the lock
    shard_gets = hub_server.requests_for("/resolve/", "GET")
    assert len(shard_gets) <= 2 * len(_tree_bytes(release))


def test_open_remote_file_reads_lazily_with_range_requests(hub_server: HubServer, tmp_path: Path) -> None:
    ep = hub_server.endpoint
    rel = tmp_path / "lazy"
    (rel / "ensembles").mkdir(parents=True)
    rng = np.random.default_rng(0)
    big = rng.standard_normal(2_000_000).astype(np.float32)  # 8 MB
    small = np.arange(100, dtype=np.float64)
    with h5py.File(rel / SHARD, "w") as fh:
        fh.create_dataset("big", data=big)
        fh.create_dataset("small", data=small)
    (rel / "README.md").write_text("# lazy\n")
    write_manifest(
        rel,
        build_manifest(
            rel,
            release="lazy",
            recipe={},
            conditions=[{"id": "c", "file": SHARD}],
            degzoo_version="0",
        ),
    )
    publish_release(rel, REPO, tag="v1", endpoint=ep)
    size = (rel / SHARD).stat().st_size
    hub_server.clear_requests()

    with (
        open_remote_file(REPO, SHARD, revision="v1", endpoint=ep, block_size=256 * 1024) as fobj,
        h5py.File(fobj, "r") as fh,
    ):
        np.testing.assert_array_equal(fh["small"][:], small)
        assert fh["big"].shape == big.shape
        np.testing.assert_array_equal(fh["big"][1_000_000:1_000_010], big[1_000_000:1_000_010])

    gets = hub_server.requests_for(f"/resolve/v1/{SHARD}", "GET")
    assert gets, "no data request reached the server"
    assert all(r.range and r.range.startswith("bytes=") and r.status == 206 for r in gets)
    served = sum(r.body_bytes for r in gets)
    assert served < size / 4, f"read {served} of {size} bytes: not lazy"


def test_pull_request_commit_leaves_main_unchanged(hub_server: HubServer, release: Path) -> None:
    from huggingface_hub import CommitOperationAdd, HfApi

    ep = hub_server.endpoint
    c1 = publish_release(release, REPO, tag="v1", endpoint=ep)
    api = HfApi(endpoint=ep)
    info = api.create_commit(
        REPO,
        repo_type="dataset",
        operations=[
            CommitOperationAdd(path_in_repo="submissions/alice.json", path_or_fileobj=b'{"score": 1}')
        ],
        commit_message="Submit alice",
        create_pr=True,
    )
    assert info.pr_num == 1 and info.pr_revision == "refs/pr/1"
    prs = hub_server.pull_requests(REPO)
    assert [(p.num, p.ref, p.title, p.status) for p in prs] == [(1, "refs/pr/1", "Submit alice", "open")]
    assert hub_server.file_bytes(REPO, "submissions/alice.json", "refs/pr/1") == b'{"score": 1}'
    assert hub_server.file_bytes(REPO, "submissions/alice.json", "main") is None
    assert hub_server.resolve(REPO, "main") == c1
    listed = [d.num for d in api.get_repo_discussions(REPO, repo_type="dataset")]
    assert listed == [1]
    # the PR ref is a revision like any other
    path = download_file(
        REPO, "submissions/alice.json", revision="refs/pr/1", endpoint=ep,
        cache_dir=release.parent / "c",
    )  # fmt: skip
    assert path.read_bytes() == b'{"score": 1}'
    second = api.create_commit(
        REPO,
        repo_type="dataset",
        operations=[CommitOperationAdd(path_in_repo="submissions/bob.json", path_or_fileobj=b"{}")],
        commit_message="Submit bob",
        create_pr=True,
    )
    assert second.pr_num == 2
    assert hub_server.file_bytes(REPO, "submissions/alice.json", "refs/pr/2") is None
