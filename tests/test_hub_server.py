"""The loopback Hub itself: the routes, headers and errors huggingface_hub relies on."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hub_server import HubServer, git_blob_sha1
from hub_server import hub_server as _hub_server_fixture  # noqa: F401 - registers `hub_server`

pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=<...>':DeprecationWarning")

REPO = "degzoo/srv-test"


def _api(server: HubServer):
    from huggingface_hub import HfApi

    return HfApi(endpoint=server.endpoint)


def _raw(server: HubServer, method: str, path: str, headers: dict | None = None, body=None):
    """(status, headers, body) of one raw HTTP request."""
    req = urllib.request.Request(server.endpoint + path, method=method, headers=headers or {}, data=body)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


@pytest.fixture
def repo(hub_server: HubServer) -> str:
    """A dataset repo with a regular file, an LFS shard and a nested folder, tagged v1."""
    from huggingface_hub import CommitOperationAdd

    api = _api(hub_server)
    api.create_repo(REPO, repo_type="dataset")
    ops = [
        CommitOperationAdd(path_in_repo="notes.txt", path_or_fileobj=b"hello hub\n"),
        CommitOperationAdd(path_in_repo="ensembles/a.h5", path_or_fileobj=bytes(range(256)) * 40),
        CommitOperationAdd(path_in_repo="ensembles/deep/b.txt", path_or_fileobj=b"b"),
    ]
    info = api.create_commit(REPO, operations=ops, commit_message="add", repo_type="dataset")
    api.create_tag(REPO, tag="v1", revision=info.oid, repo_type="dataset")
    return REPO


def test_create_repo_conflict_and_exist_ok(hub_server: HubServer) -> None:
    from huggingface_hub.errors import HfHubHTTPError

    api = _api(hub_server)
    url = api.create_repo(REPO, repo_type="dataset")
    assert url.repo_id == REPO and url.repo_type == "dataset"
    assert url == f"{hub_server.endpoint}/datasets/{REPO}"
    with pytest.raises(HfHubHTTPError) as info:
        api.create_repo(REPO, repo_type="dataset")
    assert info.value.response.status_code == 409
    api.create_repo(REPO, repo_type="dataset", exist_ok=True)
    # a new repo has one commit with a .gitattributes, as on the Hub
    assert api.list_repo_files(REPO, repo_type="dataset") == [".gitattributes"]
    api.delete_repo(REPO, repo_type="dataset")
    assert (("dataset", REPO)) not in hub_server.repos


def test_model_repos_use_unprefixed_urls(hub_server: HubServer, tmp_path: Path) -> None:
    from huggingface_hub import hf_hub_download

    api = _api(hub_server)
    api.create_repo("degzoo/model", repo_type="model")
    api.upload_file(path_or_fileobj=b"{}", path_in_repo="config.json", repo_id="degzoo/model")
    path = hf_hub_download("degzoo/model", "config.json", endpoint=hub_server.endpoint, cache_dir=tmp_path)
    assert Path(path).read_bytes() == b"{}"
    assert hub_server.requests_for("/degzoo/model/resolve/main/config.json", "GET")


def test_error_codes_map_to_huggingface_hub_errors(hub_server: HubServer, repo: str) -> None:
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import (
        EntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    api, ep = _api(hub_server), hub_server.endpoint
    with pytest.raises(RepositoryNotFoundError):
        api.repo_info("degzoo/missing", repo_type="dataset")
    with pytest.raises(RevisionNotFoundError):
        api.repo_info(repo, repo_type="dataset", revision="nope")
    with pytest.raises(EntryNotFoundError):
        get_hf_file_metadata(hf_hub_url(repo, "nope.txt", repo_type="dataset", endpoint=ep))
    status, headers, _ = _raw(hub_server, "HEAD", f"/datasets/{repo}/resolve/main/nope.txt")
    assert status == 404 and headers["X-Error-Code"] == "EntryNotFound"
    assert headers["X-Repo-Commit"] == hub_server.resolve(repo)
    status, headers, _ = _raw(hub_server, "GET", "/api/nothing/here")
    assert status == 404


def test_resolve_headers_regular_and_lfs(hub_server: HubServer, repo: str) -> None:
    commit = hub_server.resolve(repo, "v1")
    status, h, body = _raw(hub_server, "HEAD", f"/datasets/{repo}/resolve/v1/notes.txt")
    assert status == 200 and body == b""
    assert h["X-Repo-Commit"] == commit
    assert h["ETag"] == '"' + git_blob_sha1(b"hello hub\n") + '"'
    assert h["Content-Length"] == str(len(b"hello hub\n"))
    shard = bytes(range(256)) * 40
    status, h, _ = _raw(hub_server, "HEAD", f"/datasets/{repo}/resolve/v1/ensembles/a.h5")
    assert h["ETag"] == f'"{hashlib.sha256(shard).hexdigest()}"'  # LFS: sha256, like the Hub
    assert h["X-Linked-Size"] == str(len(shard)) and h["Accept-Ranges"] == "bytes"
    # the tag and the commit id resolve to the same bytes
    assert _raw(hub_server, "GET", f"/datasets/{repo}/resolve/{commit}/ensembles/a.h5")[2] == shard


@pytest.mark.parametrize(
    ("rng", "status", "span", "content_range"),
    [
        ("bytes=0-9", 206, (0, 10), "bytes 0-9/10240"),
        ("bytes=10000-", 206, (10000, 10240), "bytes 10000-10239/10240"),
        ("bytes=-16", 206, (10224, 10240), "bytes 10224-10239/10240"),
        ("bytes=10200-99999", 206, (10200, 10240), "bytes 10200-10239/10240"),
        ("bytes=20000-", 416, None, "bytes */10240"),
        ("bytes=abc", 416, None, "bytes */10240"),
    ],
)
def test_range_requests(
    hub_server: HubServer, repo: str, rng: str, status: int, span, content_range: str
) -> None:
    shard = bytes(range(256)) * 40
    got, headers, body = _raw(
        hub_server, "GET", f"/datasets/{repo}/resolve/v1/ensembles/a.h5", {"Range": rng}
    )
    assert got == status
    assert headers["Content-Range"] == content_range
    if span is not None:
        assert body == shard[span[0] : span[1]]
        assert headers["Content-Length"] == str(span[1] - span[0])


def test_tree_listing_recursive_paginated_and_by_folder(hub_server: HubServer, repo: str) -> None:
    api = _api(hub_server)
    hub_server.tree_page_size = 2  # force the Link-header pagination
    entries = list(api.list_repo_tree(repo, repo_type="dataset", recursive=True, revision="v1"))
    paths = sorted(e.path for e in entries)
    assert paths == [
        ".gitattributes",
        "ensembles",
        "ensembles/a.h5",
        "ensembles/deep",
        "ensembles/deep/b.txt",
        "notes.txt",
    ]
    assert len(hub_server.requests_for("/tree/v1", "GET")) == 3  # 6 entries, 2 per page
    shard = next(e for e in entries if e.path == "ensembles/a.h5")
    assert shard.lfs is not None and shard.lfs.sha256 == hashlib.sha256(bytes(range(256)) * 40).hexdigest()
    notes = next(e for e in entries if e.path == "notes.txt")
    assert notes.lfs is None and notes.blob_id == git_blob_sha1(b"hello hub\n")
    top = sorted(e.path for e in api.list_repo_tree(repo, repo_type="dataset", path_in_repo="ensembles"))
    assert top == ["ensembles/a.h5", "ensembles/deep"]
    infos = api.get_paths_info(repo, ["notes.txt", "ensembles", "missing"], repo_type="dataset")
    assert sorted((i.path, type(i).__name__) for i in infos) == [
        ("ensembles", "RepoFolder"),
        ("notes.txt", "RepoFile"),
    ]


def test_refs_tags_branches_and_commits(hub_server: HubServer, repo: str) -> None:
    from huggingface_hub.errors import HfHubHTTPError, RevisionNotFoundError

    api = _api(hub_server)
    head = hub_server.resolve(repo)
    refs = api.list_repo_refs(repo, repo_type="dataset")
    assert [(b.name, b.target_commit) for b in refs.branches] == [("main", head)]
    assert [(t.name, t.ref, t.target_commit) for t in refs.tags] == [("v1", "refs/tags/v1", head)]
    with pytest.raises(HfHubHTTPError) as info:
        api.create_tag(repo, tag="v1", repo_type="dataset")
    assert info.value.response.status_code == 409
    api.create_tag(repo, tag="v1", repo_type="dataset", exist_ok=True)
    with pytest.raises(RevisionNotFoundError):
        api.create_tag(repo, tag="v2", revision="0" * 40, repo_type="dataset")
    api.delete_tag(repo, tag="v1", repo_type="dataset")
    assert hub_server.tags(repo) == {}
    api.create_branch(repo, branch="dev", repo_type="dataset")
    assert hub_server.resolve(repo, "dev") == head
    commits = api.list_repo_commits(repo, repo_type="dataset")
    assert [c.title for c in commits] == ["add", "initial commit"]


def test_commit_rules(hub_server: HubServer, repo: str) -> None:
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    api = _api(hub_server)
    head = hub_server.resolve(repo)
    add = CommitOperationAdd(path_in_repo="x.txt", path_or_fileobj=b"x")
    with pytest.raises(HfHubHTTPError) as info:  # a tag is not a branch
        api.create_commit(repo, operations=[add], commit_message="m", repo_type="dataset", revision="v1")
    assert info.value.response.status_code == 400
    stale = CommitOperationAdd(path_in_repo="x.txt", path_or_fileobj=b"x")
    with pytest.raises(HfHubHTTPError) as info:  # parent_commit is not the head
        api.create_commit(
            repo,
            operations=[stale],
            commit_message="m",
            repo_type="dataset",
            parent_commit="0" * 40,
        )
    assert info.value.response.status_code == 412
    with pytest.raises(EntryNotFoundError):
        api.create_commit(
            repo,
            operations=[CommitOperationDelete(path_in_repo="nope.txt")],
            commit_message="m",
            repo_type="dataset",
        )
    assert hub_server.resolve(repo) == head  # failed commits change nothing
    api.create_commit(
        repo,
        operations=[CommitOperationDelete(path_in_repo="ensembles/")],
        commit_message="rm folder",
        repo_type="dataset",
    )
    assert sorted(hub_server.files(repo)) == [".gitattributes", "notes.txt"]
    assert sorted(hub_server.files(repo, "v1")) == [
        ".gitattributes",
        "ensembles/a.h5",
        "ensembles/deep/b.txt",
        "notes.txt",
    ]  # the tagged snapshot is immutable


def test_uploads_choose_lfs_like_the_hub(hub_server: HubServer, repo: str) -> None:
    # repo fixture: a.h5 (matches *.h5 in .gitattributes) went through LFS, text files did not
    puts = hub_server.requests_for("/_lfs/", "PUT")
    assert len(puts) == 1 and puts[0].path.endswith(hashlib.sha256(bytes(range(256)) * 40).hexdigest())
    assert hub_server.requests_for("/info/lfs/objects/batch", "POST")
    assert hub_server.requests_for("/_lfs/", "POST")  # verify action
    # an unchanged file is not uploaded again (preupload returns its oid)
    from huggingface_hub import CommitOperationAdd

    hub_server.clear_requests()
    info = _api(hub_server).create_commit(
        repo,
        operations=[
            CommitOperationAdd(path_in_repo="ensembles/a.h5", path_or_fileobj=bytes(range(256)) * 40)
        ],
        commit_message="same",
        repo_type="dataset",
    )
    assert info.oid == hub_server.resolve(repo)
    assert not hub_server.requests_for("/_lfs/") and not hub_server.requests_for("/commit/")


def test_readme_yaml_is_validated(hub_server: HubServer, repo: str) -> None:
    api = _api(hub_server)
    api.upload_file(
        path_or_fileobj=b"---\nlicense: mit\n---\n# ok\n",
        path_in_repo="README.md",
        repo_id=repo,
        repo_type="dataset",
    )
    with pytest.raises(ValueError, match="Invalid metadata"):
        api.upload_file(
            path_or_fileobj=b"---\nlicense: [unclosed\n---\n# bad\n",
            path_in_repo="README.md",
            repo_id=repo,
            repo_type="dataset",
        )


def test_pull_requests(hub_server: HubServer, repo: str) -> None:
    from huggingface_hub import CommitOperationAdd

    api = _api(hub_server)
    head = hub_server.resolve(repo)
    info = api.create_commit(
        repo,
        operations=[CommitOperationAdd(path_in_repo="sub/a.json", path_or_fileobj=b"{}")],
        commit_message="Submission A",
        commit_description="details",
        repo_type="dataset",
        create_pr=True,
    )
    assert info.pr_num == 1 and info.pr_url.endswith(f"/datasets/{repo}/discussions/1")
    # pushing a second commit to the PR ref
    api.create_commit(
        repo,
        operations=[CommitOperationAdd(path_in_repo="sub/b.json", path_or_fileobj=b"[]")],
        commit_message="more",
        repo_type="dataset",
        revision="refs/pr/1",
    )
    files = hub_server.files(repo, "refs/pr/1")
    assert files["sub/a.json"] == b"{}" and files["sub/b.json"] == b"[]"
    assert hub_server.resolve(repo) == head and "sub/a.json" not in hub_server.files(repo)
    (pr,) = hub_server.pull_requests(repo)
    assert (pr.num, pr.title, pr.description, pr.base, pr.ref) == (
        1,
        "Submission A",
        "details",
        "main",
        "refs/pr/1",
    )
    refs = api.list_repo_refs(repo, repo_type="dataset", include_pull_requests=True)
    assert [r.ref for r in refs.pull_requests] == ["refs/pr/1"]
    assert api.list_repo_files(repo, repo_type="dataset", revision="refs/pr/1")[-2:] == [
        "sub/a.json",
        "sub/b.json",
    ]


def test_tamper_changes_bytes_in_place(hub_server: HubServer, repo: str) -> None:
    commit = hub_server.resolve(repo, "v1")
    hub_server.tamper(repo, "notes.txt", b"evil\n", revision="v1")
    assert hub_server.resolve(repo, "v1") == commit  # same commit id
    evil_etag = '"' + git_blob_sha1(b"evil\n") + '"'
    _, h, body = _raw(hub_server, "GET", f"/datasets/{repo}/resolve/v1/notes.txt")
    assert body == b"evil\n" and h["ETag"] == evil_etag
    hub_server.tamper(repo, "notes.txt", b"rot!\n", revision="v1", keep_etag=True)
    _, h, body = _raw(hub_server, "GET", f"/datasets/{repo}/resolve/v1/notes.txt")
    assert body == b"rot!\n" and h["ETag"] == evil_etag
    with pytest.raises(KeyError):
        hub_server.tamper(repo, "missing.txt", b"")


def test_request_log_and_json_errors(hub_server: HubServer, repo: str) -> None:
    hub_server.clear_requests()
    status, headers, body = _raw(hub_server, "GET", "/api/datasets/degzoo/missing/revision/main")
    assert status == 404 and headers["X-Error-Code"] == "RepoNotFound"
    assert "Repository Not Found" in json.loads(body)["error"]
    (rec,) = hub_server.requests
    assert (rec.method, rec.status) == ("GET", 404)


def test_stop_refuses_connections_and_is_idempotent(hub_server: HubServer, repo: str) -> None:
    import huggingface_hub

    api = _api(hub_server)
    api.repo_info(repo, repo_type="dataset")  # leaves a pooled keep-alive connection
    hub_server.stop()
    hub_server.stop()
    assert not hub_server.running
    with pytest.raises(Exception) as info:
        huggingface_hub.HfApi(endpoint=hub_server.endpoint).repo_info(repo, repo_type="dataset")
    assert "Connect" in type(info.value).__name__ or isinstance(info.value, OSError)


def test_server_stops_by_itself() -> None:
    server = HubServer(max_lifetime_s=0.3).start()
    assert server.running
    deadline = time.monotonic() + 5
    while server.running and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server.running
    with pytest.raises(OSError):
        urllib.request.urlopen(server.endpoint + "/api/datasets/a/b", timeout=2)


def test_context_manager() -> None:
    with HubServer() as server:
        status, _, _ = _raw(server, "GET", "/api/datasets/a/b")
        assert status == 404
    assert not server.running
