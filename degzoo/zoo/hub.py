"""Publish and download zoo releases on the Hugging Face Hub (or any Hub-compatible endpoint).

A release lives in a *dataset* repository; each release is one commit with a git tag (the
release name), so a download pinned to a tag or commit id always gets the same bytes.

- :func:`publish_release` verifies a release folder against its manifest, uploads the whole
  folder in one commit and tags it. It refuses a release whose files do not match its manifest
  and a tag that already exists (tags are releases; they are never moved).
- :func:`download_release` downloads a tagged release into the standard Hub cache
  (``HF_HUB_CACHE``) and verifies every file's sha256 against the manifest. A corrupt file is
  deleted from the cache (snapshot link and blob) and reported with :class:`ChecksumError`; a
  corrupt release is never returned. Offline (``local_files_only=True`` or
  ``HF_HUB_OFFLINE=1``) it serves the cache, still verified.
- :func:`download_file` fetches one file (optionally checked against a sha256);
  :func:`download_manifest` fetches a release's ``manifest.json`` alone, so that
  ``degzoo.zoo.load`` can then fetch just the one shard it needs.
- :func:`resolve_revision` turns a tag or branch into its commit id, warning
  (:class:`MovingRevisionWarning`) when it is a branch such as ``main``, which moves.
- :func:`open_remote_file` is the no-download option: a lazy, seekable, read-only file object
  that fetches only the byte ranges that are read (``h5py.File(fileobj, "r")`` works on it).

Every function takes ``endpoint`` (default: ``HF_ENDPOINT`` / https://huggingface.co) and
``token`` (default: the locally saved token) and passes them to huggingface_hub. Errors from
huggingface_hub (missing repository, revision or file, unreachable Hub, offline without a
cache) are turned into :class:`~degzoo.errors.DegzooError` subclasses whose messages say what to
do. Nothing here unpickles anything.
"""

from __future__ import annotations

import contextlib
import os
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from degzoo.errors import ChecksumError, DegzooError, InvalidParameterError, ZooFormatError
from degzoo.zoo.manifest import (
    MANIFEST_NAME,
    README_NAME,
    check_release,
    format_problems,
    load_manifest,
    manifest_sha256,
    sha256_file,
    verify_release,
)

__all__ = [
    "REPO_TYPE",
    "HubError",
    "HubUnavailableError",
    "MovingRevisionWarning",
    "ReleaseExistsError",
    "ReleaseNotFoundError",
    "check_repo_id",
    "download_file",
    "download_manifest",
    "download_release",
    "list_releases",
    "open_remote_file",
    "publish_release",
    "resolve_revision",
]

#: Zoo releases are dataset repositories.
REPO_TYPE = "dataset"
#: Files the Hub manages itself; kept when a new release replaces the previous one.
_HUB_MANAGED = frozenset({".gitattributes"})
_COMMIT_RE = re.compile(r"[0-9a-f]{40}")
_TAG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_REPO_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


class HubError(DegzooError):
    """A Hub operation failed: not found, refused, or the Hub could not be used."""


class ReleaseNotFoundError(HubError, LookupError):
    """The repository, revision (tag, branch, commit) or file does not exist (or is private)."""


class HubUnavailableError(HubError, ConnectionError):
    """The Hub could not be reached (or offline mode is on) and the cache cannot answer."""


class ReleaseExistsError(HubError):
    """A release with this tag was already published; tags are immutable."""


class MovingRevisionWarning(UserWarning):
    """A download was pinned to a branch (e.g. ``main``), whose content changes with every push."""


def check_repo_id(release: str | os.PathLike[str]) -> str:
    """``release`` as a Hub repo id ('namespace/name'); a path that does not exist is an error here,
    not a confusing Hub lookup."""
    text = os.fspath(release)
    if not _REPO_ID_RE.fullmatch(text) or Path(text).exists():
        raise InvalidParameterError(
            f"release {text!r} is not an existing release folder, nor a Hub repo id of the form "
            "'namespace/name': check the path (a folder with manifest.json) or the repo id"
        )
    return text


# --------------------------------------------------------------------------------------------
# error translation
# --------------------------------------------------------------------------------------------


def _endpoint_name(endpoint: str | None) -> str:
    if endpoint:
        return endpoint
    from huggingface_hub import constants

    return constants.ENDPOINT


def _is_offline(local_files_only: bool) -> bool:
    if local_files_only:
        return True
    from huggingface_hub import constants

    return bool(getattr(constants, "HF_HUB_OFFLINE", False))


_CONNECTION_ERROR_NAMES = frozenset(
    {
        "ConnectError",
        "ConnectTimeout",
        "ReadTimeout",
        "TimeoutException",
        "NetworkError",
        "RemoteProtocolError",
        "ProxyError",
        "ConnectionError",
        "OfflineModeIsEnabled",
    }
)


def _is_connection_error(exc: BaseException) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    return any(cls.__name__ in _CONNECTION_ERROR_NAMES for cls in type(exc).__mro__)


@contextlib.contextmanager
def _translate_errors(
    action: str,
    repo_id: str,
    *,
    revision: str | None = None,
    filename: str | None = None,
    endpoint: str | None = None,
    local_files_only: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Iterator[None]:
    """Turn huggingface_hub / HTTP errors raised inside the block into degzoo errors."""
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{repo_id}@{revision}" if revision else repo_id
    ep = _endpoint_name(endpoint)
    try:
        yield
    except DegzooError:
        raise
    except HFValidationError as exc:
        raise InvalidParameterError(
            f"Cannot {action} {where}: {exc}. A zoo repository id looks like 'namespace/name'."
        ) from exc
    except GatedRepoError as exc:
        raise ReleaseNotFoundError(
            f"Cannot {action} {where}: the repository on {ep} is gated and this token has no "
            "access. Request access on the Hub, then pass token= (or run `hf auth login`)."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ReleaseNotFoundError(
            f"Cannot {action} {where}: there is no dataset repository '{repo_id}' on {ep} (or "
            "it is private). Check the repository id and endpoint; for a private repository "
            "pass token=."
        ) from exc
    except RevisionNotFoundError as exc:
        raise ReleaseNotFoundError(
            f"Cannot {action} {where}: '{repo_id}' on {ep} has no revision '{revision}'. "
            "Use an existing release tag or commit id (degzoo.zoo.hub.list_releases() lists "
            "the tags)."
        ) from exc
    except LocalEntryNotFoundError as exc:  # includes IncompleteSnapshotError
        if _is_offline(local_files_only):
            why = (
                "offline mode is on (local_files_only=True or HF_HUB_OFFLINE=1), so the Hub "
                f"at {ep} was not asked"
            )
        else:
            why = f"the Hub at {ep} could not be reached"
        cache = cache_dir if cache_dir is not None else _default_cache_dir()
        what = f"'{filename}' of {where}" if filename else where
        raise HubUnavailableError(
            f"Cannot {action} {what}: it is not (completely) in the local cache {cache} and "
            f"{why}. Run the download once with network access (unset HF_HUB_OFFLINE), or "
            "point cache_dir= at a cache that already holds this release."
        ) from exc
    except RemoteEntryNotFoundError as exc:
        raise ReleaseNotFoundError(
            f"Cannot {action} {where}: the file '{filename}' does not exist at that revision "
            f"on {ep}. Check the file name against the release's {MANIFEST_NAME}."
        ) from exc
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status in (401, 403):
            raise HubError(
                f"Cannot {action} {where}: {ep} refused the request ({status}). Pass a token "
                f"with write access for this namespace (token=, or `hf auth login`). {exc}"
            ) from exc
        if status is not None and status >= 500:
            raise HubUnavailableError(
                f"Cannot {action} {where}: {ep} answered {status}. The Hub is having trouble; "
                f"retry later. {exc}"
            ) from exc
        raise HubError(f"Cannot {action} {where}: {ep} answered {status}: {exc}") from exc
    except Exception as exc:
        if _is_connection_error(exc):
            raise HubUnavailableError(
                f"Cannot {action} {where}: the Hub at {ep} could not be reached "
                f"({type(exc).__name__}: {exc}). Check the network and the endpoint; downloads "
                "of releases already in the cache work offline with local_files_only=True."
            ) from exc
        raise


def _default_cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


# --------------------------------------------------------------------------------------------
# publish
# --------------------------------------------------------------------------------------------


def _check_tag(tag: str) -> None:
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag) or ".." in tag:
        raise InvalidParameterError(
            f"Release tag {tag!r} is not valid: use letters, digits, '.', '_' and '-' "
            "(e.g. 'embedded-v1'), starting with a letter or digit."
        )
    if _COMMIT_RE.fullmatch(tag):
        raise InvalidParameterError(
            f"Release tag {tag!r} looks like a commit id; pick a release name such as 'v1'."
        )


def list_releases(repo_id: str, *, endpoint: str | None = None, token: str | None = None) -> dict[str, str]:
    """The release tags of a zoo repository: ``{tag: commit id}``, sorted by tag."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=endpoint, token=token)
    with _translate_errors("list the releases of", repo_id, endpoint=endpoint):
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    return {t.name: t.target_commit for t in sorted(refs.tags, key=lambda t: t.name)}


def resolve_revision(
    repo_id: str,
    revision: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    local_files_only: bool = False,
) -> str:
    """The commit id that ``revision`` (a tag, branch or commit id) points to now.

    A branch moves, so the same call may later return other bytes: that is a
    :class:`MovingRevisionWarning` naming the commit to pin instead. Offline, the Hub is not
    asked (nor when it cannot be reached): a commit id is returned as it is, anything else unchanged
    (``main`` still warns when offline).
    """
    from huggingface_hub import HfApi

    if _COMMIT_RE.fullmatch(revision):
        return revision
    if _is_offline(local_files_only):
        if revision == "main":
            _warn_moving(repo_id, revision, None)
        return revision
    api = HfApi(endpoint=endpoint, token=token)
    try:
        with _translate_errors("resolve the revision of", repo_id, revision=revision, endpoint=endpoint):
            refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
    except HubUnavailableError:
        return revision  # unreachable: the download falls back to the cache, or says why not
    tags = {t.name: t.target_commit for t in refs.tags}
    branches = {b.name: b.target_commit for b in refs.branches}
    if revision in tags:
        return tags[revision]
    if revision in branches:
        _warn_moving(repo_id, revision, branches[revision])
        return branches[revision]
    raise ReleaseNotFoundError(
        f"'{repo_id}' on {_endpoint_name(endpoint)} has no release tag or branch '{revision}'; its release "
        f"tags: {', '.join(sorted(tags)) or 'none'}"
    )


def _warn_moving(repo_id: str, revision: str, commit: str | None) -> None:
    now = f"it points to commit {commit} now; pin revision='{commit}'" if commit else "pin a commit id"
    warnings.warn(
        f"revision '{revision}' of {repo_id} is a branch, which moves with every push: {now} or a "
        "release tag to get the same zoo again",
        MovingRevisionWarning,
        stacklevel=3,
    )


def publish_release(
    release_dir: str | os.PathLike[str],
    repo_id: str,
    *,
    tag: str,
    endpoint: str | None = None,
    token: str | None = None,
    private: bool = False,
    commit_message: str | None = None,
) -> str:
    """Upload a verified release folder to ``repo_id`` (a dataset repo) and tag it; return the commit id.

    Steps: verify every file against ``manifest.json`` (refuse on any mismatch, before any
    network call); create the repository if needed; refuse if ``tag`` exists; commit the whole
    folder to ``main`` in one commit (files of the previous release that this one does not have
    are deleted in the same commit, so the tagged tree is exactly the release); tag that commit.
    The commit is made against the ``main`` head seen at the start, so a concurrent publish
    fails instead of mixing two releases.
    """
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi

    root = Path(release_dir)
    _check_tag(tag)
    manifest = load_manifest(root)
    try:
        verify_release(root, manifest)
    except ZooFormatError as exc:
        raise type(exc)(f"Refusing to publish {root} as {repo_id}@{tag}: {exc}") from exc

    api = HfApi(endpoint=endpoint, token=token)
    with _translate_errors("publish to", repo_id, revision=tag, endpoint=endpoint):
        api.create_repo(repo_id, repo_type=REPO_TYPE, private=private, exist_ok=True)
        refs = api.list_repo_refs(repo_id, repo_type=REPO_TYPE)
        existing = {t.name: t.target_commit for t in refs.tags}
        if tag in existing:
            raise ReleaseExistsError(
                f"Release tag '{tag}' already exists in {repo_id} (commit {existing[tag]}); a "
                "published release is never replaced. Publish under a new tag (e.g. bump the "
                "release name) and point users at it."
            )
        head = next((b.target_commit for b in refs.branches if b.name == "main"), None)
        release_files = [MANIFEST_NAME, README_NAME, *sorted(manifest["files"])]
        remote_files = (
            set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=head)) if head else set()
        )
        operations: list[Any] = [
            CommitOperationDelete(path_in_repo=p)
            for p in sorted(remote_files - set(release_files) - _HUB_MANAGED)
        ]
        operations += [
            CommitOperationAdd(path_in_repo=p, path_or_fileobj=str(root / p)) for p in release_files
        ]
        message = commit_message or (
            f"Release {tag}: {manifest['release']} (degzoo {manifest['degzoo_version']})"
        )
        try:
            info = api.create_commit(
                repo_id,
                operations=operations,
                commit_message=message,
                repo_type=REPO_TYPE,
                revision="main",
                parent_commit=head,
            )
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status in (409, 412):
                raise HubError(
                    f"Cannot publish {repo_id}@{tag}: 'main' changed while uploading (another "
                    "publish?). Nothing was tagged; check the repository and publish again."
                ) from exc
            raise
        commit = info.oid
        try:
            api.create_tag(
                repo_id,
                tag=tag,
                revision=commit,
                repo_type=REPO_TYPE,
                tag_message=f"degzoo zoo release {manifest['release']}",
            )
        except Exception as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            if status == 409:
                raise ReleaseExistsError(
                    f"Release tag '{tag}' was created in {repo_id} by someone else while this "
                    f"release was uploading (this upload is commit {commit} on main, untagged). "
                    "Publish under a new tag."
                ) from exc
            raise
    return commit


# --------------------------------------------------------------------------------------------
# download
# --------------------------------------------------------------------------------------------


def _evict_cached_file(path: Path) -> None:
    """Delete a cached file: its snapshot link and the blob it points to (under the Hub's lock)."""
    blob: Path | None = None
    if path.is_symlink():
        target = Path(os.readlink(path))
        blob = target if target.is_absolute() else (path.parent / target)
        blob = Path(os.path.normpath(blob))
    lock_ctx: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if blob is not None and blob.parent.name == "blobs":
        storage = blob.parent.parent  # <cache>/datasets--ns--name
        lock_path = storage.parent / ".locks" / storage.name / f"{blob.name}.lock"
        try:
            from filelock import FileLock

            lock_path.parent.mkdir(parents=True, exist_ok=True)
            lock_ctx = FileLock(str(lock_path), timeout=60)
        except Exception:  # filelock missing or the cache is read-only: best effort
            lock_ctx = contextlib.nullcontext()
    try:
        with lock_ctx:
            path.unlink(missing_ok=True)
            if blob is not None and blob.parent.name == "blobs":
                blob.unlink(missing_ok=True)
    except Exception:
        # the lock timed out or the cache is read-only: still never leave the link in place
        path.unlink(missing_ok=True)
        if blob is not None and blob.parent.name == "blobs":
            blob.unlink(missing_ok=True)


def _has_every_file(folder: Path) -> bool:
    """Whether a cached snapshot holds its manifest, card and every file the manifest lists."""
    try:
        listed = load_manifest(folder)["files"]
    except ZooFormatError:
        return False
    return all((folder / p).is_file() for p in (README_NAME, *listed))


def download_release(
    repo_id: str,
    *,
    revision: str,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    verify: bool = True,
    expected_manifest_sha256: str | None = None,
) -> Path:
    """Download the release ``repo_id@revision`` into the Hub cache, verify it, return its folder.

    ``revision`` should be a release tag or a commit id (a branch such as ``main`` moves, and
    warns). The folder is the cache's read-only snapshot
    (``<cache>/datasets--ns--name/snapshots/<commit>``): its name records the resolved commit.
    With ``verify`` (the default) every file is checked against ``manifest.json``: a file whose
    size or sha256 differs is deleted from the cache and :class:`ChecksumError` is raised (re-run
    to download it again); missing or unlisted files raise :class:`ZooFormatError`. With
    ``expected_manifest_sha256`` the manifest itself is pinned too. ``local_files_only=True`` (or
    ``HF_HUB_OFFLINE=1``) serves the cache without any network call.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    if not isinstance(revision, str) or not revision:
        raise InvalidParameterError(
            "download_release needs revision= (a release tag such as 'embedded-v1' or a commit "
            "id), so that the same call always returns the same bytes."
        )
    commit = resolve_revision(repo_id, revision, endpoint=endpoint, token=token,
                              local_files_only=local_files_only)
    kwargs: dict[str, Any] = {"repo_type": REPO_TYPE, "endpoint": endpoint, "token": token,
                              "cache_dir": cache_dir}
    with _translate_errors(
        "download the release",
        repo_id,
        revision=revision,
        endpoint=endpoint,
        local_files_only=local_files_only,
        cache_dir=cache_dir,
    ):
        try:  # complete in the cache at that commit: no request, no "Fetching N files" bar
            folder = Path(snapshot_download(repo_id, revision=commit, local_files_only=True, **kwargs))
        except LocalEntryNotFoundError:
            if local_files_only:
                raise
            folder = None
        if folder is not None and local_files_only and not _has_every_file(folder):
            # zoo.load fills a snapshot folder one shard at a time: offline, a partial one is not cached
            raise LocalEntryNotFoundError(f"only part of {repo_id}@{revision} is cached in {folder}")
        if folder is None or not _has_every_file(folder):
            folder = Path(snapshot_download(repo_id, revision=revision, **kwargs))
    if not verify:
        return folder
    where = f"{repo_id}@{revision}"
    manifest_path = folder / MANIFEST_NAME
    if not manifest_path.is_file():
        raise ZooFormatError(
            f"{where} is not a degzoo zoo release: it has no {MANIFEST_NAME}. Check the "
            "repository id and revision (list_releases() shows the release tags)."
        )
    if expected_manifest_sha256 is not None:
        actual = manifest_sha256(folder)
        if actual != expected_manifest_sha256.lower():
            _evict_cached_file(manifest_path)
            raise ChecksumError(
                f"The {MANIFEST_NAME} of {where} has sha256 {actual}, expected "
                f"{expected_manifest_sha256}: this is not the release you pinned. The cached "
                "copy was deleted; check the revision (tags must not move) and re-run."
            )
    try:
        manifest = load_manifest(folder)
    except ZooFormatError as exc:
        _evict_cached_file(manifest_path)
        raise ZooFormatError(
            f"The {MANIFEST_NAME} of {where} is unreadable; the cached copy was deleted, re-run "
            f"download_release to fetch it again. {exc}"
        ) from exc
    problems = check_release(folder, manifest, check_hashes=True)
    if not problems:
        return folder
    message = format_problems(folder, problems)
    corrupt = [p for p in problems if p.corrupt]
    if corrupt:
        for problem in corrupt:
            _evict_cached_file(folder / problem.path)
        names = ", ".join(p.path for p in corrupt)
        raise ChecksumError(
            f"Download of {where} failed verification: {message}\nThe corrupt cached "
            f"file(s) ({names}) were deleted. Re-run download_release to download them again; "
            "if the check fails again, the copy on the Hub is corrupt: report it to the zoo "
            "maintainers and use another release meanwhile."
        )
    raise ZooFormatError(
        f"{where} does not match its own manifest: {message}\nThe release on the Hub is "
        "incomplete or has unlisted files; report it to the zoo maintainers."
    )


def download_file(
    repo_id: str,
    filename: str,
    *,
    revision: str,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    expected_sha256: str | None = None,
) -> Path:
    """Download one file of ``repo_id@revision`` into the Hub cache and return its path.

    With ``expected_sha256`` the file is verified; a mismatch deletes it from the cache and
    raises :class:`ChecksumError` (re-run to download it again).
    """
    from huggingface_hub import hf_hub_download

    if not isinstance(revision, str) or not revision:
        raise InvalidParameterError("download_file needs revision= (a release tag or commit id).")
    with _translate_errors(
        "download",
        repo_id,
        revision=revision,
        filename=filename,
        endpoint=endpoint,
        local_files_only=local_files_only,
        cache_dir=cache_dir,
    ):
        path = Path(
            hf_hub_download(
                repo_id,
                filename,
                repo_type=REPO_TYPE,
                revision=revision,
                endpoint=endpoint,
                token=token,
                cache_dir=cache_dir,
                local_files_only=local_files_only,
            )
        )
    if expected_sha256 is not None:
        actual = sha256_file(path)
        if actual != expected_sha256.lower():
            _evict_cached_file(path)
            raise ChecksumError(
                f"'{filename}' of {repo_id}@{revision} has sha256 {actual}, expected "
                f"{expected_sha256}. The corrupt cached copy was deleted; re-run to download it "
                "again, and if it fails again report the corrupt file to the zoo maintainers."
            )
    return path


def download_manifest(
    repo_id: str,
    *,
    revision: str,
    endpoint: str | None = None,
    token: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Path:
    """Download only the ``manifest.json`` of ``repo_id@revision``; return its snapshot folder.

    The folder (named by the resolved commit) then receives the shards fetched one by one with
    :func:`download_file`, each verified against this manifest. A branch warns, as in
    :func:`resolve_revision`.
    """
    if not isinstance(revision, str) or not revision:
        raise InvalidParameterError(
            f"a Hub release needs revision= (a release tag or commit id) to pin which zoo {repo_id} gives"
        )
    resolve_revision(repo_id, revision, endpoint=endpoint, token=token, local_files_only=local_files_only)
    path = download_file(repo_id, MANIFEST_NAME, revision=revision, endpoint=endpoint, token=token,
                         cache_dir=cache_dir, local_files_only=local_files_only)
    try:
        load_manifest(path.parent)
    except ZooFormatError as exc:
        _evict_cached_file(path)
        raise ZooFormatError(
            f"The {MANIFEST_NAME} of {repo_id}@{revision} is unreadable; the cached copy was deleted, "
            f"re-run to fetch it again. {exc}"
        ) from exc
    return path.parent


def open_remote_file(
    repo_id: str,
    filename: str,
    *,
    revision: str,
    endpoint: str | None = None,
    token: str | None = None,
    block_size: int = 1 << 20,
    cache_type: str = "blockcache",
) -> IO[bytes]:
    """Open one file of ``repo_id@revision`` for lazy reading, without downloading it.

    Returns a read-only, seekable binary file object (``huggingface_hub.HfFileSystem``) that
    fetches ``block_size`` byte ranges with HTTP ``Range`` requests as they are read and keeps
    recently used blocks (``cache_type``). ``h5py.File(fileobj, "r")`` works on it, so one
    network of an ensemble can be read without fetching the whole shard. Nothing is cached on
    disk and nothing is verified (verification needs the whole file: use
    :func:`download_release` for that). Close it (or use ``with``) when done.
    """
    from huggingface_hub import HfFileSystem

    if not isinstance(revision, str) or not revision:
        raise InvalidParameterError("open_remote_file needs revision= (a release tag or commit id).")
    if block_size <= 0:
        raise InvalidParameterError(f"block_size must be positive, got {block_size}.")
    fs = HfFileSystem(endpoint=endpoint, token=token, skip_instance_cache=True)
    path = f"datasets/{repo_id}/{filename.lstrip('/')}"
    with _translate_errors("open", repo_id, revision=revision, filename=filename, endpoint=endpoint):
        try:
            return fs.open(path, "rb", revision=revision, block_size=block_size, cache_type=cache_type)
        except FileNotFoundError as exc:
            cause = exc.__cause__ or exc.__context__
            if cause is not None and not isinstance(cause, FileNotFoundError):
                raise cause from exc  # repository / revision errors: translated above
            raise ReleaseNotFoundError(
                f"Cannot open '{filename}' of {repo_id}@{revision} on {_endpoint_name(endpoint)}:"
                f" no such file at that revision. Check the name against the release's "
                f"{MANIFEST_NAME}."
            ) from exc
