"""The degzoo leaderboard: validated submissions, significance tiers, Markdown/HTML/parquet, Hub PRs.

The leaderboard is a folder (in git and mirrored as a Hub dataset repository) of result files
written by the harness, each with a small ``submission`` block::

    leaderboard/results/<track>/<zoo release>/<entry id>.json
    leaderboard/verified/<track>/<zoo release>/<entry id>.json     (verification records)
    leaderboard/LEADERBOARD.md, index.html, results.parquet        (built, never edited by hand)

- :func:`validate_paths` / :func:`validate_tree` / :func:`check_no_removals`: strict checks
  (:mod:`~degzoo.leaderboard.schema`), every problem reported with how to fix it;
- :func:`verify_result`: re-run every ranked suite through the harness and record whether each
  main score reproduces; the board re-derives the verdict from the record (:func:`recheck`);
- :func:`build_board`: rank the trusted entries (shipped or verified) with paired-bootstrap tiers
  (:mod:`~degzoo.leaderboard.tiers`), list the unverified ones apart, and render the board;
- :func:`submit_result`: validate, then open a pull request on the Hub;
- :func:`add_reference_results`: maintainers' way to add the harness's reference results.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from degzoo.files import write_atomically
from degzoo.leaderboard.render import BuildReport, build_board, collect_board, render_html, render_markdown
from degzoo.leaderboard.schema import (
    KNOWN_RELEASES,
    MAX_FILE_BYTES,
    TRACKS,
    KnownRelease,
    Problem,
    SubmissionError,
    check_document,
    entry_id,
    known_releases,
    layout_path,
    shipped_role,
)
from degzoo.leaderboard.submit import DuplicateSubmissionError, Submission, submit_result
from degzoo.leaderboard.tiers import RANKED_SUITES, Ranking, rank_with_tiers
from degzoo.leaderboard.validate import (
    Entry,
    _existing_entries,
    check_no_removals,
    load_entry,
    read_result,
    validate_file,
    validate_paths,
    validate_tree,
)
from degzoo.leaderboard.verify import compare_results, recheck, verify_result

__all__ = [
    "KNOWN_RELEASES",
    "MAX_FILE_BYTES",
    "RANKED_SUITES",
    "REFERENCE_PAPER_URL",
    "TRACKS",
    "BuildReport",
    "DuplicateSubmissionError",
    "Entry",
    "KnownRelease",
    "Problem",
    "Ranking",
    "Submission",
    "SubmissionError",
    "add_reference_results",
    "build_board",
    "check_document",
    "check_no_removals",
    "collect_board",
    "compare_results",
    "entry_id",
    "known_releases",
    "layout_path",
    "load_entry",
    "rank_with_tiers",
    "read_result",
    "recheck",
    "render_html",
    "render_markdown",
    "submit_result",
    "validate_file",
    "validate_paths",
    "validate_tree",
    "verify_result",
]

#: The paper whose metrics and controls the reference results implement.
REFERENCE_PAPER_URL = "https://arxiv.org/abs/2410.03972"


def add_reference_results(
    results_dir: str | os.PathLike[str],
    leaderboard_dir: str | os.PathLike[str] = "leaderboard",
    *,
    authors: str = "degzoo maintainers",
    code_url: str | None = None,
    paper_url: str | None = REFERENCE_PAPER_URL,
    names: Mapping[str, str] | None = None,
    known: Mapping[str, str | KnownRelease] | None = None,
    build: bool = True,
) -> list[Path]:
    """Copy result files that degzoo ships (``degzoo/reference/``) into the leaderboard and rebuild.

    Each ``*.json`` result gets ``submission = {name, authors, code_url, paper_url, package:
    {"name": "degzoo", "version": <its degzoo_version>}}``; its name is the metric's or control's
    name with the parameters that differ from the metric's defaults (``behaviour_ood
    (variant=input_noise)``), or ``names[<file name>]``. Only results whose content degzoo ships
    are accepted: that is what makes an entry a reference (★), a reference implementation, a
    baseline or a negative control, never a flag.
    An entry of package ``degzoo`` by the same ``authors`` already at the same place is replaced
    (regenerated references); any other existing entry is never touched. Every file is validated before
    anything is written; then the board is rebuilt (``build``). Returns the written paths.
    """
    src = Path(results_dir)
    root = Path(leaderboard_dir)
    files = sorted(p for p in src.glob("*.json") if p.is_file()) if src.is_dir() else [src]
    planned: dict[str, tuple[Path, bytes, Entry]] = {}
    problems: list[Problem] = []
    for f in files:
        try:
            doc, _ = read_result(f)
        except SubmissionError as exc:
            problems += [p.in_file(str(f)) for p in exc.problems]
            continue
        if not isinstance(doc, dict):
            problems.append(Problem("<document>", "is not a result (JSON object)", str(f)))
            continue
        ident = doc.get("metric") if doc.get("kind") == "metric" else doc.get("control")
        name = (names or {}).get(f.name) or _reference_name(ident, doc.get("environment"))
        doc = {k: v for k, v in doc.items() if k != "submission"}
        doc["submission"] = {
            "name": name,
            "authors": authors,
            "code_url": code_url,
            "paper_url": paper_url,
            "package": {"name": "degzoo", "version": doc.get("degzoo_version")},
        }
        data = (json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")
        problem_list = check_document(doc, known=known)
        if not problem_list and shipped_role(doc) is None:
            problem_list = [Problem("<file>", "is not a result degzoo ships (degzoo/reference/); only those "
                                    "are reference entries: submit it with `degzoo leaderboard submit`")]
        if problem_list:
            problems += [p.in_file(str(f)) for p in problem_list]
            continue
        target = root / layout_path(doc)
        entry = load_entry(target, known=known, data=data)
        rel = entry.layout.as_posix()
        if rel in planned:
            problems.append(
                Problem(
                    "submission.name",
                    f"{f.name} and {planned[rel][0].name} would both be "
                    f"{rel}; give one a distinct name with names={{...}}",
                    str(f),
                )
            )
            continue
        if target.exists():
            try:  # whose entry it is, read even when it no longer validates (an older protocol)
                old = read_result(target)[0]["submission"]
                replace_ok = old["package"]["name"] == "degzoo" and old["authors"] == authors
            except (SubmissionError, KeyError, TypeError):
                replace_ok = False
            if not replace_ok:
                problems.append(
                    Problem(
                        "submission.name",
                        f"{rel} exists and is not an entry of degzoo by {authors!r}; "
                        "it is never replaced: pass another name with names={...}",
                        str(f),
                    )
                )
                continue
        planned[rel] = (f, data, entry)
    existing = [e for e in _existing_entries(root, known) if e.layout.as_posix() not in planned]
    by_content = {e.fingerprint: e.layout.as_posix() for e in existing}
    for rel, (f, _, entry) in sorted(planned.items()):
        if entry.fingerprint in by_content:
            problems.append(
                Problem(
                    "<file>",
                    f"has the same results as {by_content[entry.fingerprint]}; add each result once",
                    str(f),
                )
            )
        by_content.setdefault(entry.fingerprint, rel)
    if problems:
        raise SubmissionError(str(src), problems)
    written = []
    for rel, (_, data, _) in sorted(planned.items()):
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        written.append(write_atomically(target, data))
    if build:
        build_board(root, known=known)
    return written


def _reference_name(ident: Any, env: Any = None) -> str | None:
    """A shipped result's entry name: its metric's name, and its parameters that are not the
    registered metric's defaults in brackets, so that two settings of one metric are two entries;
    a metric that runs another package's code names that package and version (``environment``)."""
    if not isinstance(ident, dict) or not isinstance(ident.get("name"), str):
        return None
    from degzoo import metrics

    name, params = ident["name"], ident.get("params") or {}
    try:
        defaults = metrics.get(name).get_params()
    except Exception:  # not a registered metric (a control-track method): its name alone
        defaults = None
    if defaults is not None:
        changed = [f"{k}={v}" for k, v in sorted(params.items()) if k not in defaults or defaults[k] != v]
        name += f" ({', '.join(changed)})" if changed else ""
    implementation = env.get("implementation") if isinstance(env, dict) else None
    return f"{name} ({implementation})" if isinstance(implementation, str) else name
