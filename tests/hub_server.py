"""A Hugging Face Hub-compatible HTTP server on 127.0.0.1, for end-to-end tests without the Hub.

It implements, with the standard library only, what the real ``huggingface_hub`` client
(2.4, HTTP client ``httpx2``) calls for dataset/model/space repositories:

=========================================================  =================================
route                                                      used by
=========================================================  =================================
``POST   /api/repos/create``                               ``create_repo`` (409 if it exists)
``DELETE /api/repos/delete``                               ``delete_repo``
``POST   /api/validate-yaml``                              commits that add a ``README.md``
``GET    /api/{type}s/{repo}[/revision/{rev}]``            ``repo_info``, ``snapshot_download``
``GET    /api/{type}s/{repo}/tree/{rev}[/{path}]``         ``list_repo_tree`` (``recursive``,
                                                           ``expand``, ``cursor`` + ``Link``)
``POST   /api/{type}s/{repo}/paths-info/{rev}``            ``get_paths_info``, ``HfFileSystem``
``GET    /api/{type}s/{repo}/refs``                        ``list_repo_refs`` (+ ``include_prs``)
``GET    /api/{type}s/{repo}/commits/{rev}``               ``list_repo_commits``
``POST   /api/{type}s/{repo}/tag/{rev}``                   ``create_tag`` (409 on a duplicate)
``DELETE /api/{type}s/{repo}/tag/{tag}``                   ``delete_tag``
``POST   /api/{type}s/{repo}/branch/{branch}``             ``create_branch``
``POST   /api/{type}s/{repo}/preupload/{rev}``             upload mode (regular / lfs) + oid
``POST   /{prefix}{repo}.git/info/lfs/objects/batch``      LFS batch (basic transfer)
``PUT    /_lfs/{type}/{repo}/{oid}``                       LFS basic upload (sha256 checked)
``POST   /_lfs/{type}/{repo}/{oid}/verify``                LFS verify
``POST   /api/{type}s/{repo}/commit/{rev}``                ``create_commit`` (ndjson: header,
                                                           file, lfsFile, deletedFile,
                                                           deletedFolder; ``create_pr=1``)
``GET    /api/{type}s/{repo}/discussions``                 ``get_repo_discussions``
``HEAD   /{prefix}{repo}/resolve/{rev}/{path}``            ``hf_hub_download`` metadata
``GET    /{prefix}{repo}/resolve/{rev}/{path}``            downloads; ``Range`` → 206
=========================================================  =================================

``{prefix}`` is ``datasets/`` or ``spaces/`` (nothing for models). Missing repositories,
revisions and files answer 404 with the ``X-Error-Code`` header the Hub sends
(``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``), so ``huggingface_hub`` raises
``RepositoryNotFoundError``, ``RevisionNotFoundError`` and ``EntryNotFoundError``.

Storage is in memory: a commit is an immutable snapshot ``{path: file}`` with a 40-hex id;
branches (``main``), tags and pull-request refs (``refs/pr/N``) point to commits. A new
repository gets an initial commit with a ``.gitattributes``, as on the Hub. Files are "LFS"
when the ``.gitattributes`` of the target revision marks them (``*.h5`` and the Hub's usual
binary patterns), when they are 10 MiB or more, or when they look binary; the ``ETag`` of an
LFS file is its sha256 (like the Hub), that of a regular file its git blob sha1.

Xet storage cannot be imitated: the client must run with ``HF_HUB_DISABLE_XET=1`` (the
:func:`hub_env` helper and the :func:`hub_server` fixture arrange it).

Test helpers: :meth:`HubServer.tamper` (overwrite a stored file's bytes in place, as a corrupt
storage would), :meth:`HubServer.stop`, :meth:`HubServer.file_bytes`,
:meth:`HubServer.pull_requests`, :attr:`HubServer.requests` (every request served, with its
``Range`` header and the number of body bytes sent).

The server stops when the fixture ends, and by itself after ``max_lifetime_s`` whatever
happens; idle keep-alive connections time out, and :meth:`HubServer.stop` closes open ones.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import fnmatch
import hashlib
import itertools
import json
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

try:
    import pytest
except ImportError:  # pragma: no cover - imported by benchmarks/zoo_io.py without pytest
    pytest = None  # type: ignore[assignment]

__all__ = [
    "HubServer",
    "PullRequest",
    "RequestRecord",
    "hub_env",
    "hub_server",
    "make_dummy_release",
]

REPO_TYPES = ("model", "dataset", "space", "kernel")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/", "kernel": "kernels/"}
_PREFIX_TO_TYPE = {"datasets": "dataset", "spaces": "space", "kernels": "kernel"}
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,127}")

#: What the Hub puts in a new repository's ``.gitattributes`` (abridged).
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in (
        "*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.gz", "*.h5", "*.hdf5", "*.joblib",
        "*.lz4", "*.mds", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.parquet", "*.pb", "*.pickle",
        "*.pkl", "*.pt", "*.pth", "*.safetensors", "*.tar", "*.tflite", "*.tgz", "*.xz", "*.zip",
        "*.zst", "*tfevents*",
    )
)  # fmt: skip
LFS_SIZE_THRESHOLD = 10 * 1024 * 1024


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def git_blob_sha1(data: bytes) -> str:
    """The git object id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    spec = "https://git-lfs.github.com/spec/v1"
    return f"version {spec}\noid sha256:{sha256}\nsize {size}\n".encode()


# --------------------------------------------------------------------------------------------
# storage
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """A file in a snapshot. ``sha256`` is what the server *announces* (ETag, lfs oid)."""

    data: bytes
    lfs: bool
    sha256: str
    git_oid: str

    @classmethod
    def make(cls, data: bytes, lfs: bool) -> StoredFile:
        sha = hashlib.sha256(data).hexdigest()
        oid = git_blob_sha1(_lfs_pointer(sha, len(data))) if lfs else git_blob_sha1(data)
        return cls(data=data, lfs=lfs, sha256=sha, git_oid=oid)

    @property
    def etag(self) -> str:
        return self.sha256 if self.lfs else self.git_oid


@dataclass
class Commit:
    id: str
    parent: str | None
    title: str
    message: str
    date: str
    files: dict[str, StoredFile]


@dataclass
class PullRequest:
    """A pull request: ``ref`` (``refs/pr/N``) points to its head commit; ``base`` is its target."""

    num: int
    title: str
    description: str
    base: str
    ref: str
    created_at: str
    status: str = "open"


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str
    commits: dict[str, Commit] = field(default_factory=dict)
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, PullRequest] = field(default_factory=dict)
    pr_heads: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRecord:
    """One request the server answered."""

    method: str
    path: str
    query: str
    status: int
    range: str | None
    body_bytes: int


class HubError(Exception):
    """Turned into an HTTP error response by the dispatcher."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.headers = headers or {}


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle keep-alive connection is closed after this many seconds
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        with self.server.conn_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.server.conn_lock:
            self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _handle(self) -> None:
        self.server.hub._dispatch(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

    # -- body --------------------------------------------------------------------------------
    def read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                parts.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def json_body(self) -> Any:
        raw = self.read_body()
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise HubError(400, f"Request body is not JSON: {exc}") from exc


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, hub: HubServer):
        self.hub = hub
        self.connections: set[socket.socket] = set()
        self.conn_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


# --------------------------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------------------------


class HubServer:
    """An in-memory Hub on an ephemeral 127.0.0.1 port. ``start()`` it, use ``.endpoint``."""

    def __init__(
        self,
        *,
        tree_page_size: int = 1000,
        lfs_size_threshold: int = LFS_SIZE_THRESHOLD,
        max_lifetime_s: float = 900.0,
        lfs_verify: bool = True,
    ):
        self.tree_page_size = tree_page_size
        self.lfs_size_threshold = lfs_size_threshold
        self.max_lifetime_s = max_lifetime_s
        self.lfs_verify = lfs_verify
        self.repos: dict[tuple[str, str], Repo] = {}
        self.lfs_objects: dict[str, bytes] = {}
        self._requests: list[RequestRecord] = []
        self._lock = threading.RLock()
        # A client has its response before the handler logs it: readers of the log wait for
        # handlers in flight, so a test never races the server's bookkeeping.
        self._in_flight = 0
        self._settled = threading.Condition(self._lock)
        self._counter = itertools.count(1)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._timer: threading.Timer | None = None
        self._stopped = threading.Event()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> HubServer:
        if self._httpd is not None:
            raise RuntimeError("HubServer already started; create a new one to restart.")
        self._httpd = _HTTPServer(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="degzoo-test-hub",
            daemon=True,
        )
        self._thread.start()
        self._timer = threading.Timer(self.max_lifetime_s, self.stop)
        self._timer.daemon = True
        self._timer.start()
        return self

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("HubServer is not started.")
        return self._httpd.server_address[1]

    @property
    def endpoint(self) -> str:
        """The ``endpoint=`` to pass to huggingface_hub (``http://127.0.0.1:<port>``)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._httpd is not None and not self._stopped.is_set()

    def stop(self) -> None:
        """Stop serving and close every open connection (idempotent).

        Afterwards connections to :attr:`endpoint` are refused, as with an unreachable Hub.
        """
        if self._httpd is None or self._stopped.is_set():
            return
        self._stopped.set()
        if self._timer is not None:
            self._timer.cancel()
        httpd = self._httpd
        if threading.current_thread() is not self._thread:
            httpd.shutdown()
        httpd.server_close()
        with httpd.conn_lock:
            conns = list(httpd.connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                conn.close()
        if self._thread is not None and threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start() if self._httpd is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test helpers ------------------------------------------------------------------------
    def _repo(self, repo_id: str, repo_type: str = "dataset") -> Repo:
        try:
            return self.repos[(repo_type, repo_id)]
        except KeyError:
            raise KeyError(f"No {repo_type} repo {repo_id!r} on the test Hub") from None

    def resolve(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> str:
        """The commit id a revision (branch, tag, ``refs/pr/N``, commit) points to."""
        with self._lock:
            commit = self._resolve(self._repo(repo_id, repo_type), revision)
        if commit is None:
            raise KeyError(f"No revision {revision!r} in {repo_type} repo {repo_id!r}")
        return commit

    def files(self, repo_id: str, revision: str = "main", repo_type: str = "dataset") -> dict[str, bytes]:
        """``{path: bytes}`` of a revision."""
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            commit = repo.commits[self.resolve(repo_id, revision, repo_type)]
            return {p: f.data for p, f in commit.files.items()}

    def file_bytes(
        self, repo_id: str, path: str, revision: str = "main", repo_type: str = "dataset"
    ) -> bytes | None:
        """The bytes of ``path`` at ``revision``, or None if the file is not there."""
        return self.files(repo_id, revision, repo_type).get(path)

    def tags(self, repo_id: str, repo_type: str = "dataset") -> dict[str, str]:
        with self._lock:
            return dict(self._repo(repo_id, repo_type).tags)

    def pull_requests(self, repo_id: str, repo_type: str = "dataset") -> list[PullRequest]:
        """The pull requests of a repository (their head: ``resolve(repo_id, pr.ref)``)."""
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            return [repo.prs[n] for n in sorted(repo.prs)]

    def tamper(
        self,
        repo_id: str,
        path: str,
        data: bytes,
        *,
        revision: str = "main",
        repo_type: str = "dataset",
        keep_etag: bool = False,
    ) -> None:
        """Overwrite the bytes of ``path`` in the commit ``revision`` points to, in place.

        Nothing else changes: no new commit, same commit id, the release's manifest untouched.
        With ``keep_etag`` the server keeps announcing the original sha256 (as storage that
        rotted under its index would); otherwise it announces the new bytes' hashes (as a
        file replaced behind the release's back would).
        """
        with self._lock:
            repo = self._repo(repo_id, repo_type)
            commit = repo.commits[self.resolve(repo_id, revision, repo_type)]
            if path not in commit.files:
                raise KeyError(f"{path!r} is not in {repo_id}@{revision}")
            old = commit.files[path]
            new = StoredFile.make(bytes(data), old.lfs)
            if keep_etag:
                new = StoredFile(data=new.data, lfs=old.lfs, sha256=old.sha256, git_oid=old.git_oid)
            commit.files[path] = new

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request served so far (waits up to 5 s for handlers still running)."""
        with self._settled:
            self._settled.wait_for(lambda: self._in_flight == 0, timeout=5)
            return self._requests

    def clear_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def requests_for(self, path_contains: str, method: str | None = None) -> list[RequestRecord]:
        with self._lock:
            return [
                r
                for r in self.requests
                if path_contains in unquote(r.path) and (method is None or r.method == method)
            ]

    # -- state helpers -----------------------------------------------------------------------
    def _new_commit_id(self, parent: str | None, title: str, files: dict[str, StoredFile]) -> str:
        h = hashlib.sha1()
        h.update(f"{parent}\0{title}\0{time.time_ns()}\0{next(self._counter)}\0".encode())
        for path in sorted(files):
            h.update(f"{path}\0{files[path].git_oid}\n".encode())
        return h.hexdigest()

    def _resolve(self, repo: Repo, rev: str) -> str | None:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev.startswith("refs/heads/") and rev[11:] in repo.branches:
            return repo.branches[rev[11:]]
        if rev in repo.tags:
            return repo.tags[rev]
        if rev.startswith("refs/tags/") and rev[10:] in repo.tags:
            return repo.tags[rev[10:]]
        m = re.fullmatch(r"refs/pr/(\d+)", rev)
        if m and int(m.group(1)) in repo.pr_heads:
            return repo.pr_heads[int(m.group(1))]
        if _COMMIT_RE.fullmatch(rev) and rev in repo.commits:
            return rev
        return None

    def _get_repo(self, repo_type: str, repo_id: str) -> Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(
                404,
                f"Repository Not Found: {repo_type} {repo_id}",
                "RepoNotFound",
            )
        return repo

    def _get_commit(self, repo: Repo, rev: str) -> Commit:
        commit_id = self._resolve(repo, rev)
        if commit_id is None:
            raise HubError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
        return repo.commits[commit_id]

    def _lfs_patterns(self, commit: Commit) -> list[str]:
        attrs = commit.files.get(".gitattributes")
        if attrs is None:
            return []
        patterns = []
        for line in attrs.data.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and "filter=lfs" in parts[1:]:
                patterns.append(parts[0])
        return patterns

    def _is_lfs(self, commit: Commit, path: str, size: int, sample: bytes) -> bool:
        if size >= self.lfs_size_threshold or b"\0" in sample:
            return True
        name = path.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(name, pat) or fnmatch.fnmatchcase(path, pat)
            for pat in self._lfs_patterns(commit)
        )

    def _url(self, repo: Repo) -> str:
        return f"{self.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    # -- dispatch ----------------------------------------------------------------------------
    def _dispatch(self, h: _Handler) -> None:
        method = h.command
        split = urlsplit(h.path)
        segs = [unquote(s) for s in split.path.split("/")[1:]]
        query = parse_qs(split.query, keep_blank_values=True)
        h._sent = 0  # type: ignore[attr-defined]
        status = 500
        with self._lock:
            self._in_flight += 1
        try:
            status = self._route(h, method, segs, query)
        except HubError as err:
            status = err.status
            self._send_error(h, err)
        except (BrokenPipeError, ConnectionResetError):
            status = 499
            h.close_connection = True
        except Exception as exc:  # a bug in the test server: answer 500, never hang
            status = 500
            self._send_error(h, HubError(500, f"test hub internal error: {exc!r}"))
        finally:
            with self._settled:
                self._requests.append(
                    RequestRecord(
                        method=method,
                        path=split.path,
                        query=split.query,
                        status=status,
                        range=h.headers.get("Range"),
                        body_bytes=getattr(h, "_sent", 0),
                    )
                )
                self._in_flight -= 1
                self._settled.notify_all()

    def _route(self, h: _Handler, method: str, segs: list[str], query: dict) -> int:
        if segs[:1] == ["api"]:
            return self._route_api(h, method, segs[1:], query)
        if segs[:1] == ["_lfs"] and len(segs) >= 5:
            repo_type, repo_id = segs[1], f"{segs[2]}/{segs[3]}"
            if method == "PUT" and len(segs) == 5:
                return self._lfs_put(h, repo_type, repo_id, segs[4])
            if method == "POST" and segs[5:] == ["verify"]:
                return self._lfs_verify(h)
        # /{prefix}{ns}/{name}.git/info/lfs/objects/batch  or  /{prefix}{ns}/{name}/resolve/...
        repo_type = "model"
        rest = segs
        if segs and segs[0] in _PREFIX_TO_TYPE:
            repo_type, rest = _PREFIX_TO_TYPE[segs[0]], segs[1:]
        if len(rest) >= 3:
            ns, name = rest[0], rest[1]
            if name.endswith(".git") and rest[2:] == ["info", "lfs", "objects", "batch"]:
                if method == "POST":
                    return self._lfs_batch(h, repo_type, f"{ns}/{name[:-4]}")
            elif rest[2] == "resolve" and len(rest) >= 5 and method in ("GET", "HEAD"):
                return self._resolve_file(h, method, repo_type, f"{ns}/{name}", rest[3], rest[4:])
        raise HubError(404, f"No route for {method} {h.path} on the test Hub")

    def _route_api(self, h: _Handler, method: str, segs: list[str], query: dict) -> int:
        if segs == ["repos", "create"] and method == "POST":
            return self._create_repo(h)
        if segs == ["repos", "delete"] and method == "DELETE":
            return self._delete_repo(h)
        if segs == ["validate-yaml"] and method == "POST":
            return self._validate_yaml(h)
        if len(segs) >= 3 and segs[0].endswith("s") and segs[0][:-1] in REPO_TYPES:
            repo_type, repo_id, rest = segs[0][:-1], f"{segs[1]}/{segs[2]}", segs[3:]
            with self._lock:
                repo = self._get_repo(repo_type, repo_id)
            head = rest[0] if rest else None
            if method == "GET" and not rest:
                return self._repo_info(h, repo, "main")
            if method == "GET" and head == "revision" and len(rest) == 2:
                return self._repo_info(h, repo, rest[1])
            if method == "GET" and head == "tree" and len(rest) >= 2:
                return self._tree(h, repo, rest[1], "/".join(rest[2:]), query)
            if method == "POST" and head == "paths-info" and len(rest) == 2:
                return self._paths_info(h, repo, rest[1])
            if method == "GET" and rest == ["refs"]:
                return self._refs(h, repo, query)
            if method == "GET" and head == "commits" and len(rest) == 2:
                return self._commits(h, repo, rest[1])
            if head == "tag" and len(rest) == 2 and method in ("POST", "DELETE"):
                return self._tag(h, method, repo, rest[1])
            if head == "branch" and len(rest) == 2 and method in ("POST", "DELETE"):
                return self._branch(h, method, repo, rest[1])
            if method == "POST" and head == "preupload" and len(rest) == 2:
                return self._preupload(h, repo, rest[1], query)
            if method == "POST" and head == "commit" and len(rest) == 2:
                return self._commit(h, repo, rest[1], query)
            if method == "GET" and rest == ["discussions"]:
                return self._discussions(h, repo, query)
        raise HubError(404, f"No route for {method} {h.path} on the test Hub")

    # -- responses ---------------------------------------------------------------------------
    def _send(self, h: _Handler, status: int, body: bytes = b"", headers: dict | None = None) -> int:
        h.send_response(status)
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if body and h.command != "HEAD":
            h.wfile.write(body)
            h._sent = len(body)  # type: ignore[attr-defined]
        return status

    def _send_json(self, h: _Handler, obj: Any, status: int = 200, headers: dict | None = None) -> int:
        hdrs = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return self._send(h, status, json.dumps(obj).encode(), hdrs)

    def _send_error(self, h: _Handler, err: HubError) -> None:
        headers = dict(err.headers)
        headers["X-Error-Message"] = err.message.replace("\n", " ")[:500]
        if err.code:
            headers["X-Error-Code"] = err.code
        with contextlib.suppress(OSError):
            # the request body may not have been read: do not reuse the connection
            h.close_connection = True
            headers["Connection"] = "close"
            self._send_json(h, {"error": err.message}, err.status, headers)

    # -- repos -------------------------------------------------------------------------------
    def _create_repo(self, h: _Handler) -> int:
        payload = h.json_body()
        name, org = payload.get("name"), payload.get("organization")
        repo_type = payload.get("type") or "model"
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"Invalid repo type {repo_type!r}")
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise HubError(400, f"Invalid repo name {name!r}")
        namespace = org or "degzoo-test"
        repo_id = f"{namespace}/{name}"
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        with self._lock:
            if (repo_type, repo_id) in self.repos:
                url = self._url(self.repos[(repo_type, repo_id)])
                return self._send_json(
                    h, {"error": f"You already created this {repo_type} repo", "url": url}, 409
                )
            repo = Repo(repo_type=repo_type, repo_id=repo_id, private=private, created_at=_now())
            files = {".gitattributes": StoredFile.make(DEFAULT_GITATTRIBUTES.encode(), lfs=False)}
            cid = self._new_commit_id(None, "initial commit", files)
            repo.commits[cid] = Commit(cid, None, "initial commit", "", _now(), files)
            repo.branches["main"] = cid
            self.repos[(repo_type, repo_id)] = repo
        return self._send_json(h, {"url": self._url(repo), "name": repo_id, "id": repo_id})

    def _delete_repo(self, h: _Handler) -> int:
        payload = h.json_body()
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'degzoo-test'}/{payload.get('name')}"
        with self._lock:
            self._get_repo(repo_type, repo_id)
            del self.repos[(repo_type, repo_id)]
        return self._send_json(h, {})

    def _validate_yaml(self, h: _Handler) -> int:
        payload = h.json_body()
        content = payload.get("content") or ""
        errors = []
        m = re.match(r"\A---\s*\n(.*?)\n---\s*(\n|\Z)", content, re.S)
        if m:
            try:
                import yaml

                meta = yaml.safe_load(m.group(1))
                if meta is not None and not isinstance(meta, dict):
                    errors.append({"message": "metadata must be a YAML mapping"})
            except Exception as exc:  # yaml.YAMLError
                errors.append({"message": f"Invalid YAML metadata: {exc}"})
        if errors:
            return self._send_json(h, {"errors": errors, "warnings": []}, 400)
        return self._send_json(h, {"errors": [], "warnings": []})

    def _repo_info(self, h: _Handler, repo: Repo, rev: str) -> int:
        with self._lock:
            commit = self._get_commit(repo, rev)
            siblings = [{"rfilename": p} for p in sorted(commit.files)]
            used = sum(len(f.data) for f in commit.files.values())
        ns = repo.repo_id.split("/")[0]
        info = {
            "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id,
            "author": ns,
            "sha": commit.id,
            "lastModified": commit.date,
            "createdAt": repo.created_at,
            "private": repo.private,
            "gated": False,
            "disabled": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "usedStorage": used,
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
        return self._send_json(h, info)

    # -- listing -----------------------------------------------------------------------------
    def _entry(self, path: str, f: StoredFile | None, commit: Commit, expand: bool) -> dict:
        if f is None:  # a directory
            oid = hashlib.sha1(f"tree\0{commit.id}\0{path}".encode()).hexdigest()
            entry: dict[str, Any] = {"type": "directory", "oid": oid, "size": 0, "path": path}
        else:
            entry = {"type": "file", "oid": f.git_oid, "size": len(f.data), "path": path}
            if f.lfs:
                pointer = _lfs_pointer(f.sha256, len(f.data))
                entry["lfs"] = {
                    "oid": f.sha256,
                    "size": len(f.data),
                    "pointerSize": len(pointer),
                }
        if expand:
            entry["lastCommit"] = {"id": commit.id, "title": commit.title, "date": commit.date}
        return entry

    @staticmethod
    def _dirs(commit: Commit) -> set[str]:
        dirs = set()
        for path in commit.files:
            parts = path.split("/")
            for i in range(1, len(parts)):
                dirs.add("/".join(parts[:i]))
        return dirs

    def _tree(self, h: _Handler, repo: Repo, rev: str, path: str, query: dict) -> int:
        recursive = query.get("recursive", ["false"])[0].lower() in ("1", "true")
        expand = query.get("expand", ["false"])[0].lower() in ("1", "true")
        cursor = int(query.get("cursor", ["0"])[0] or 0)
        with self._lock:
            commit = self._get_commit(repo, rev)
            dirs = self._dirs(commit)
            path = path.strip("/")
            if path and path not in dirs:
                if path in commit.files:
                    entries = [self._entry(path, commit.files[path], commit, expand)]
                    return self._send_json(h, entries)
                raise HubError(
                    404, f"{path} does not exist on {rev}", "EntryNotFound",
                    {"X-Repo-Commit": commit.id},
                )  # fmt: skip
            prefix = f"{path}/" if path else ""
            names = [p for p in (*commit.files, *dirs) if p.startswith(prefix)]
            if not recursive:
                names = [p for p in names if "/" not in p[len(prefix) :]]
            names.sort()
            page = names[cursor : cursor + self.tree_page_size]
            entries = [self._entry(p, commit.files.get(p), commit, expand) for p in page]
        headers = {}
        if cursor + self.tree_page_size < len(names):
            params = {
                "recursive": str(recursive).lower(),
                "expand": str(expand).lower(),
                "cursor": str(cursor + self.tree_page_size),
            }
            route = urlsplit(h.path).path
            headers["Link"] = f'<{self.endpoint}{route}?{urlencode(params)}>; rel="next"'
        return self._send_json(h, entries, headers=headers)

    def _paths_info(self, h: _Handler, repo: Repo, rev: str) -> int:
        raw = h.read_body().decode()
        ctype = h.headers.get("Content-Type", "")
        if "json" in ctype:
            payload = json.loads(raw or "{}")
            paths, expand = payload.get("paths", []), bool(payload.get("expand"))
        else:
            form = parse_qs(raw, keep_blank_values=True)
            paths = form.get("paths", [])
            expand = form.get("expand", ["false"])[0].lower() in ("1", "true")
        with self._lock:
            commit = self._get_commit(repo, rev)
            dirs = self._dirs(commit)
            out = []
            for p in paths:
                p = p.strip("/")
                if p in commit.files:
                    out.append(self._entry(p, commit.files[p], commit, expand))
                elif p in dirs:
                    out.append(self._entry(p, None, commit, expand))
        return self._send_json(h, out)

    def _refs(self, h: _Handler, repo: Repo, query: dict) -> int:
        include_prs = query.get("include_prs", ["0"])[0] in ("1", "true", "True")
        with self._lock:
            data: dict[str, Any] = {
                "branches": [
                    {"name": b, "ref": f"refs/heads/{b}", "targetCommit": c}
                    for b, c in sorted(repo.branches.items())
                ],
                "converts": [],
                "tags": [
                    {"name": t, "ref": f"refs/tags/{t}", "targetCommit": c}
                    for t, c in sorted(repo.tags.items())
                ],
            }
            if include_prs:
                data["pullRequests"] = [
                    {"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
                    for n, c in sorted(repo.pr_heads.items())
                ]
        return self._send_json(h, data)

    def _commits(self, h: _Handler, repo: Repo, rev: str) -> int:
        with self._lock:
            commit: Commit | None = self._get_commit(repo, rev)
            out = []
            while commit is not None:
                out.append(
                    {
                        "id": commit.id,
                        "title": commit.title,
                        "message": commit.message,
                        "authors": [{"user": "degzoo-test"}],
                        "date": commit.date,
                    }
                )
                commit = repo.commits.get(commit.parent) if commit.parent else None
        return self._send_json(h, out)

    def _discussions(self, h: _Handler, repo: Repo, query: dict) -> int:
        with self._lock:
            prs = [repo.prs[n] for n in sorted(repo.prs, reverse=True)]
        status = query.get("status", ["all"])[0]
        if status in ("open", "closed"):
            prs = [p for p in prs if p.status == status]
        if query.get("type", ["all"])[0] == "discussion":
            prs = []
        items = [
            {
                "num": p.num,
                "title": p.title,
                "status": p.status,
                "isPullRequest": True,
                "createdAt": p.created_at,
                "author": {"name": "degzoo-test"},
                "repo": {"name": repo.repo_id, "type": repo.repo_type},
            }
            for p in prs
        ]
        return self._send_json(h, {"discussions": items, "count": len(items), "start": 0})

    # -- refs --------------------------------------------------------------------------------
    def _tag(self, h: _Handler, method: str, repo: Repo, name: str) -> int:
        if method == "DELETE":
            with self._lock:
                if name not in repo.tags:
                    raise HubError(404, f"Tag {name} not found", "RevisionNotFound")
                del repo.tags[name]
            return self._send_json(h, {})
        payload = h.json_body()
        tag = payload.get("tag")
        if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag) or ".." in tag:
            raise HubError(400, f"Invalid tag name {tag!r}")
        with self._lock:
            commit = self._get_commit(repo, name)
            if tag in repo.tags:
                raise HubError(409, f"Tag {tag} already exists")
            if tag in repo.branches:
                raise HubError(409, f"A branch named {tag} already exists")
            repo.tags[tag] = commit.id
        return self._send_json(h, {"name": tag, "ref": f"refs/tags/{tag}", "target": commit.id})

    def _branch(self, h: _Handler, method: str, repo: Repo, name: str) -> int:
        if method == "DELETE":
            with self._lock:
                if name not in repo.branches or name == "main":
                    raise HubError(404, f"Branch {name} not found", "RevisionNotFound")
                del repo.branches[name]
            return self._send_json(h, {})
        payload = h.json_body()
        start = payload.get("startingPoint") or "main"
        with self._lock:
            commit = self._get_commit(repo, start)
            if name in repo.branches or name in repo.tags:
                raise HubError(409, f"Reference {name} already exists")
            repo.branches[name] = commit.id
        return self._send_json(h, {})

    # -- uploads -----------------------------------------------------------------------------
    def _preupload(self, h: _Handler, repo: Repo, rev: str, query: dict) -> int:
        payload = h.json_body()
        with self._lock:
            commit = self._get_commit(repo, rev)
            out = []
            for item in payload.get("files", []):
                path, size = item["path"], int(item["size"])
                sample = base64.b64decode(item.get("sample") or "")
                lfs = self._is_lfs(commit, path, size, sample)
                existing = commit.files.get(path)
                oid = None
                if existing is not None:
                    oid = existing.sha256 if lfs else existing.git_oid
                out.append(
                    {"path": path, "uploadMode": "lfs" if lfs else "regular",
                     "shouldIgnore": False, "oid": oid}
                )  # fmt: skip
        return self._send_json(h, {"files": out, "commitOid": commit.id})

    def _lfs_batch(self, h: _Handler, repo_type: str, repo_id: str) -> int:
        payload = h.json_body()
        with self._lock:
            repo = self._get_repo(repo_type, repo_id)
        if payload.get("operation") != "upload":
            raise HubError(400, "The test Hub only implements LFS uploads")
        base = f"{self.endpoint}/_lfs/{repo_type}/{quote(repo.repo_id)}"
        objects = []
        for obj in payload.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
            with self._lock:
                present = oid in self.lfs_objects and len(self.lfs_objects[oid]) == size
            if not present:
                actions: dict[str, Any] = {"upload": {"href": f"{base}/{oid}", "header": {}}}
                if self.lfs_verify:
                    actions["verify"] = {"href": f"{base}/{oid}/verify", "header": {}}
                item["actions"] = actions
            objects.append(item)
        return self._send_json(
            h, {"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
            headers={"Content-Type": "application/vnd.git-lfs+json"},
        )  # fmt: skip

    def _lfs_put(self, h: _Handler, repo_type: str, repo_id: str, oid: str) -> int:
        with self._lock:
            self._get_repo(repo_type, repo_id)
        data = h.read_body()
        digest = hashlib.sha256(data).hexdigest()
        if digest != oid:
            raise HubError(400, f"LFS upload for {oid} has sha256 {digest}")
        with self._lock:
            self.lfs_objects[oid] = data
        return self._send(h, 200)

    def _lfs_verify(self, h: _Handler) -> int:
        payload = h.json_body()
        oid, size = payload.get("oid"), payload.get("size")
        with self._lock:
            data = self.lfs_objects.get(oid)
        if data is None or len(data) != size:
            raise HubError(404, f"LFS object {oid} ({size} bytes) was not uploaded")
        return self._send_json(h, {"message": "ok"})

    def _commit(self, h: _Handler, repo: Repo, rev: str, query: dict) -> int:
        lines = [ln for ln in h.read_body().splitlines() if ln.strip()]
        try:
            items = [json.loads(ln) for ln in lines]
        except ValueError as exc:
            raise HubError(400, f"Commit payload is not ndjson: {exc}") from exc
        if not items or items[0].get("key") != "header":
            raise HubError(400, "Commit payload must start with a header line")
        header = items[0]["value"]
        title = header.get("summary") or ""
        if not title:
            raise HubError(400, "Commit summary is empty")
        create_pr = query.get("create_pr", ["0"])[0] in ("1", "true", "True")
        with self._lock:
            base = self._get_commit(repo, rev)
            pr_match = re.fullmatch(r"refs/pr/(\d+)", rev)
            if not create_pr and rev not in repo.branches and not pr_match:
                raise HubError(
                    400,
                    f"Invalid rev id: {rev}: commits go to a branch or a pull request ref "
                    "(refs/pr/N), not to a tag or a commit",
                )
            parent = header.get("parentCommit")
            if parent is not None and parent != base.id:
                raise HubError(
                    412,
                    f"A commit has happened since. Parent commit {parent} is not the head "
                    f"{base.id} of {rev}. Pull and retry.",
                )
            files = dict(base.files)
            for item in items[1:]:
                key, value = item.get("key"), item.get("value") or {}
                path = value.get("path", "")
                if key == "file":
                    if value.get("encoding", "base64") != "base64":
                        raise HubError(400, f"Unsupported encoding for {path}")
                    data = base64.b64decode(value.get("content") or "")
                    files[path] = StoredFile.make(data, lfs=False)
                elif key == "lfsFile":
                    oid = value.get("oid")
                    data = self.lfs_objects.get(oid)
                    if data is None:
                        raise HubError(
                            400,
                            f"Your push was rejected because an LFS pointer pointed to a file "
                            f"that does not exist ({path}: sha256 {oid})",
                        )
                    if "size" in value and int(value["size"]) != len(data):
                        raise HubError(400, f"LFS size mismatch for {path}")
                    files[path] = StoredFile.make(data, lfs=True)
                elif key == "deletedFile":
                    if path not in files:
                        raise HubError(404, f"A file with this name doesn't exist: {path}", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    doomed = [p for p in files if p.startswith(prefix)]
                    if not doomed:
                        raise HubError(404, f"A folder with this name doesn't exist: {path}", "EntryNotFound")
                    for p in doomed:
                        del files[p]
                else:
                    raise HubError(400, f"Unknown commit operation {key!r}")
            cid = self._new_commit_id(base.id, title, files)
            repo.commits[cid] = Commit(cid, base.id, title, header.get("description") or "", _now(), files)
            pr_url = None
            if create_pr:
                num = max([*repo.prs, 0]) + 1
                repo.prs[num] = PullRequest(
                    num=num,
                    title=title,
                    description=header.get("description") or "",
                    base=rev,
                    ref=f"refs/pr/{num}",
                    created_at=_now(),
                )
                repo.pr_heads[num] = cid
                pr_url = f"{self._url(repo)}/discussions/{num}"
            elif pr_match:
                repo.pr_heads[int(pr_match.group(1))] = cid
            else:
                repo.branches[rev] = cid
        body = {
            "success": True,
            "commitOid": cid,
            "commitUrl": f"{self._url(repo)}/commit/{cid}",
            "pullRequestUrl": pr_url,
        }
        return self._send_json(h, body)

    # -- downloads ---------------------------------------------------------------------------
    def _resolve_file(
        self, h: _Handler, method: str, repo_type: str, repo_id: str, rev: str, parts: list[str]
    ) -> int:
        path = "/".join(parts)
        with self._lock:
            repo = self._get_repo(repo_type, repo_id)
            commit = self._get_commit(repo, rev)
            f = commit.files.get(path)
            if f is None:
                raise HubError(
                    404, f"Entry not found: {path} at {rev}", "EntryNotFound",
                    {"X-Repo-Commit": commit.id},
                )  # fmt: skip
        data = f.data
        total = len(data)
        headers = {
            "X-Repo-Commit": commit.id,
            "ETag": f'"{f.etag}"',
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'inline; filename="{parts[-1]}"',
        }
        if f.lfs:
            headers["X-Linked-Etag"] = f'"{f.sha256}"'
            headers["X-Linked-Size"] = str(total)
        start, end, status = 0, total, 200
        rng = h.headers.get("Range")
        if rng:
            span = _parse_range(rng, total)
            if span is None:
                headers["Content-Range"] = f"bytes */{total}"
                raise HubError(416, f"Range {rng} not satisfiable for {total} bytes", None, headers)
            start, end = span
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{total}"
        headers["Content-Length"] = str(end - start)
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if method == "GET":
            view = memoryview(data)[start:end]
            step = 1 << 20
            for i in range(0, len(view), step):
                h.wfile.write(view[i : i + step])
            h._sent = end - start  # type: ignore[attr-defined]
        return status


def _parse_range(header: str, total: int) -> tuple[int, int] | None:
    """``bytes=a-b`` / ``bytes=a-`` / ``bytes=-n`` → half-open ``(start, end)``; None if invalid."""
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix
        n = int(m.group(2))
        if n == 0:
            return None
        return max(total - n, 0), total
    start = int(m.group(1))
    end = int(m.group(2)) + 1 if m.group(2) else total
    end = min(end, total)
    if start >= total or end <= start:
        return None
    return start, end


# --------------------------------------------------------------------------------------------
# pytest wiring
# --------------------------------------------------------------------------------------------


def hub_env(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """Point huggingface_hub at a private, offline-safe setup for one test.

    Environment variables (inherited by subprocesses, which read them at import) and the
    already-imported ``huggingface_hub.constants`` (read at import time in this process):
    Xet off, telemetry off, online mode, progress bars off, ``HF_HOME`` and the cache under
    ``home``, and no token (a developer's real token is never sent to the test server).
    """
    hf_home = home / "hf_home"
    cache = hf_home / "hub"
    cache.mkdir(parents=True, exist_ok=True)
    env = {
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": "1",
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)
    from huggingface_hub import constants

    patches = {
        "HF_HUB_DISABLE_XET": True,
        "HF_HUB_DISABLE_TELEMETRY": True,
        "HF_HUB_DISABLE_PROGRESS_BARS": True,
        "HF_HUB_DISABLE_IMPLICIT_TOKEN": True,
        "HF_HUB_OFFLINE": False,
        "HF_HOME": str(hf_home),
        "HF_HUB_CACHE": str(cache),
        "HF_TOKEN_PATH": str(hf_home / "token"),
        "HF_STORED_TOKENS_PATH": str(hf_home / "stored_tokens"),
    }
    for key, value in patches.items():
        if hasattr(constants, key):
            monkeypatch.setattr(constants, key, value)


def _hub_server_fixture(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[HubServer]:
    """A fresh :class:`HubServer` per test, with huggingface_hub pointed at a private setup.

    Yields the running server (``.endpoint``, ``.tamper(repo_id, path, data)``, ``.stop()``,
    ``.pull_requests(repo_id)``, ``.requests``); stops it at the end of the test.
    """
    hub_env(monkeypatch, tmp_path_factory.mktemp("hub-client"))
    server = HubServer().start()
    try:
        yield server
    finally:
        server.stop()


if pytest is not None:
    hub_server = pytest.fixture(_hub_server_fixture, name="hub_server")


def _import_zoo_hub_lightly() -> Any:
    """Import ``degzoo.zoo.hub`` without running ``degzoo/zoo/__init__.py``.

    The package ``__init__`` imports the HDF5 format module and with it torch (seconds per
    process); the Hub code needs neither. Used only in spawned test subprocesses.
    """
    import importlib
    import sys
    import types

    import degzoo

    if "degzoo.zoo" not in sys.modules:
        stub = types.ModuleType("degzoo.zoo")
        stub.__path__ = [str(Path(degzoo.__file__).parent / "zoo")]
        sys.modules["degzoo.zoo"] = stub
    return importlib.import_module("degzoo.zoo.hub")


def download_worker(
    repo_id: str, revision: str, endpoint: str, cache_dir: str, barrier: Any, queue: Any
) -> None:
    """Subprocess body for concurrency tests: wait for the siblings, download, report.

    Puts ``("ok", folder)`` or ``("error", "Type: message")`` on ``queue``.
    """
    try:
        hub = _import_zoo_hub_lightly()
        barrier.wait(timeout=120)
        folder = hub.download_release(repo_id, revision=revision, endpoint=endpoint, cache_dir=cache_dir)
        queue.put(("ok", str(folder)))
    except BaseException as exc:  # report everything to the parent
        queue.put(("error", f"{type(exc).__name__}: {exc}"))


def make_dummy_release(
    root: str | os.PathLike[str],
    *,
    release: str = "test-v1",
    n_conditions: int = 2,
    bytes_per_file: int = 64 * 1024,
    seed: int = 0,
) -> Path:
    """Write a small zoo release (random HDF5 shards, card, manifest) into ``root``; return it.

    The shards hold random float32 data (``/weights``) and a few attributes: they are stand-ins
    for the real ensemble format, enough to exercise hashing, upload, download and lazy reads.
    """
    import h5py
    import numpy as np

    from degzoo.zoo.manifest import build_manifest, write_manifest

    root = Path(root)
    (root / "ensembles").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    conditions = []
    for i in range(n_conditions):
        cid = f"flipflop-bits{i + 1}"
        rel = f"ensembles/{cid}.h5"
        n = max(bytes_per_file // 4, 1)
        with h5py.File(root / rel, "w") as fh:
            fh.attrs["condition"] = cid
            fh.create_dataset("weights", data=rng.standard_normal(n).astype(np.float32))
            fh.create_dataset("seed", data=np.arange(8))
        conditions.append({"id": cid, "file": rel, "task": "flipflop", "bits": i + 1})
    card = f"---\nlicense: mit\npretty_name: degzoo {release}\n---\n# degzoo zoo release {release}\n"
    (root / "README.md").write_text(card, encoding="utf-8")
    manifest = build_manifest(
        root,
        release=release,
        recipe={"name": "dummy", "seed": seed},
        conditions=conditions,
        degzoo_version="0.0.0+test",
    )
    write_manifest(root, manifest)
    return root


if __name__ == "__main__":  # pragma: no cover - manual use: python tests/hub_server.py
    with HubServer(max_lifetime_s=float(os.environ.get("HUB_LIFETIME_S", "600"))) as srv:
        print(f"test Hub listening on {srv.endpoint} (Ctrl-C to stop)", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while srv.running:
                time.sleep(0.5)
