"""Submit a result to the leaderboard: validate locally, then open a pull request on the Hub.

The leaderboard lives in a Hub *dataset* repository with the folder layout of
:mod:`degzoo.leaderboard.validate`. :func:`submit_result`

1. validates the file completely on this machine (an invalid result never leaves it: no request
   is made before validation passes);
2. refuses a second submission of the same entry: the layout path already on ``main`` or in an
   open pull request, or the same results (under any name) in the same track and release;
3. opens a pull request that adds the file at its layout path
   (``HfApi.create_commit(..., create_pr=True, repo_type="dataset")``).

The maintainers' CI then runs ``degzoo leaderboard validate`` on the pull request and, after the
merge, ``degzoo leaderboard build``. Results that degzoo ships (reference results, negative
controls) are added by the maintainers with :func:`~degzoo.leaderboard.add_reference_results`,
never through here.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from degzoo.errors import ValidationError
from degzoo.leaderboard.schema import KnownRelease, Problem, SubmissionError, content_key
from degzoo.leaderboard.validate import Entry, parse_result_bytes, validate_file

__all__ = ["REPO_TYPE", "DuplicateSubmissionError", "Submission", "submit_result"]

REPO_TYPE = "dataset"


class DuplicateSubmissionError(ValidationError):
    """The entry is already on the leaderboard or waiting in an open pull request."""


@dataclass(frozen=True)
class Submission:
    """An opened pull request."""

    repo_id: str
    path_in_repo: str
    pr_num: int | None
    pr_url: str | None
    commit: str


def _same_folder(files: set[str], entry: Entry) -> list[str]:
    folder = entry.layout.parent.as_posix() + "/"
    return sorted(f for f in files if f.startswith(folder) and f.endswith(".json"))


def submit_result(
    path: str | os.PathLike[str],
    repo_id: str,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    known: Mapping[str, str | KnownRelease] | None = None,
) -> Submission:
    """Validate the result at ``path`` and open a pull request adding it to ``repo_id``."""
    p = Path(path)
    entry = validate_file(p, known=known)  # raises before any network call
    if entry.role is not None:
        raise SubmissionError(
            str(p),
            [
                Problem(
                    "<file>",
                    f"is a result degzoo ships ({entry.role}): the maintainers add it with "
                    "`degzoo leaderboard add-reference`; submit your own results",
                )
            ],
        )
    data = p.read_bytes()
    if hashlib.sha256(data).hexdigest() != entry.sha256:
        raise ValidationError(f"{p} changed while it was being validated; submit it again")

    from huggingface_hub import CommitOperationAdd, HfApi

    from degzoo.zoo.hub import _translate_errors

    api = HfApi(endpoint=endpoint, token=token)
    target = entry.layout.as_posix()
    with _translate_errors("submit to", repo_id, endpoint=endpoint):
        main_files = set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision="main"))
        if target in main_files:
            raise DuplicateSubmissionError(
                f"{target} is already on the leaderboard {repo_id}; a submission is never "
                "replaced: submit a new version under another name (e.g. 'my-metric-v2')"
            )
        trees: list[tuple[str, str, set[str]]] = [("main", "main", main_files)]
        for pr in api.get_repo_discussions(
            repo_id, repo_type=REPO_TYPE, discussion_type="pull_request", discussion_status="open"
        ):
            if not getattr(pr, "is_pull_request", True) or getattr(pr, "status", "open") != "open":
                continue
            ref = pr.git_reference or f"refs/pr/{pr.num}"
            files = set(api.list_repo_files(repo_id, repo_type=REPO_TYPE, revision=ref))
            if target in files:
                raise DuplicateSubmissionError(
                    f"{target} is already submitted in the open pull request #{pr.num} of {repo_id} "
                    f"({pr.title!r}); wait for its review, or submit under another name"
                )
            trees.append((f"pull request #{pr.num}", ref, files))
        _check_same_results(api, repo_id, entry, trees, endpoint=endpoint, token=token)
        name = entry.name.replace("\n", " ")
        info = api.create_commit(
            repo_id,
            operations=[CommitOperationAdd(path_in_repo=target, path_or_fileobj=data)],
            commit_message=f"Leaderboard submission: {entry.track}/{entry.release}/{entry.entry_id}",
            commit_description=(
                f"Adds {target} (submission {name!r}, package "
                f"{entry.submission['package']['name']}=={entry.submission['package']['version']}).\n\n"
                "Validated locally with `degzoo leaderboard validate`."
            ),
            repo_type=REPO_TYPE,
            create_pr=True,
        )
    return Submission(repo_id, target, getattr(info, "pr_num", None), getattr(info, "pr_url", None), info.oid)


def _check_same_results(
    api: Any,
    repo_id: str,
    entry: Entry,
    trees: list[tuple[str, str, set[str]]],
    *,
    endpoint: str | None,
    token: str | None,
) -> None:
    """Refuse the same results under another name in the same track and release."""
    seen: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="degzoo-submit-") as cache:
        for where, ref, files in trees:
            for other in _same_folder(files, entry):
                if other in seen:  # a pull request's tree also holds main's files
                    continue
                seen.add(other)
                local = api.hf_hub_download(
                    repo_id, other, repo_type=REPO_TYPE, revision=ref, cache_dir=cache
                )
                try:
                    doc = parse_result_bytes(Path(local).read_bytes(), other)
                    same = isinstance(doc, dict) and content_key(doc) == entry.content_key
                except (SubmissionError, TypeError, ValueError):
                    continue  # a broken file there is the maintainers' problem, not this submission's
                if same:
                    raise DuplicateSubmissionError(
                        f"the same results are already submitted as {other} ({where} of {repo_id}); "
                        "submit each result once"
                    )
