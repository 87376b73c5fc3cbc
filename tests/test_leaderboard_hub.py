"""Submitting to the leaderboard through the Hub, end to end against the loopback Hub server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hub_server import HubServer
from hub_server import hub_server as _hub_server_fixture  # noqa: F401 - registers `hub_server`
from test_leaderboard_support import KNOWN, dump, make_result, ship

from degzoo.leaderboard import DuplicateSubmissionError, SubmissionError, submit_result

REPO = "degzoo/leaderboard-test"


@pytest.fixture
def repo(hub_server: HubServer) -> str:
    from huggingface_hub import HfApi

    HfApi(endpoint=hub_server.endpoint).create_repo(REPO, repo_type="dataset")
    return REPO


def _write(tmp_path: Path, doc: dict, name: str = "result.json") -> Path:
    path = tmp_path / name
    path.write_bytes(dump(doc))
    return path


def test_submit_opens_a_pull_request_with_the_file(hub_server: HubServer, repo: str, tmp_path: Path) -> None:
    path = _write(tmp_path, make_result("My <b>metric</b>"))
    sub = submit_result(path, repo, endpoint=hub_server.endpoint, known=KNOWN)
    assert sub.path_in_repo == "results/metric-dynamics/test-zoo-v1/my-b-metric-b.json"
    prs = hub_server.pull_requests(repo)
    assert [(p.num, p.status, p.base) for p in prs] == [(sub.pr_num, "open", "main")]
    assert "metric-dynamics/test-zoo-v1/my-b-metric-b" in prs[0].title
    files = hub_server.files(repo, prs[0].ref)
    assert files[sub.path_in_repo] == path.read_bytes()
    assert sub.path_in_repo not in hub_server.files(repo, "main")  # nothing merged
    assert sub.pr_url and sub.pr_url.endswith(f"/discussions/{sub.pr_num}")


def test_an_invalid_result_never_leaves_the_machine(hub_server: HubServer, repo: str, tmp_path: Path) -> None:
    bad = make_result()
    bad["suites"]["discriminability"]["scores"]["planted_auroc"]["value"] = float("nan")
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))  # writes NaN
    hub_server.clear_requests()
    with pytest.raises(SubmissionError, match="NaN"):
        submit_result(path, repo, endpoint=hub_server.endpoint, known=KNOWN)
    reference = make_result("Mine")
    reference["submission"]["reference"] = True  # only degzoo decides what is a reference
    with pytest.raises(SubmissionError, match=r"submission\.reference"):
        submit_result(_write(tmp_path, reference), repo, endpoint=hub_server.endpoint, known=KNOWN)
    shipped = make_result("Shipped", package="degzoo")
    with pytest.MonkeyPatch.context() as mp:
        ship(mp, shipped)
        with pytest.raises(SubmissionError, match="is a result degzoo ships"):
            submit_result(_write(tmp_path, shipped), repo, endpoint=hub_server.endpoint, known=KNOWN)
    assert hub_server.requests == []
    assert hub_server.pull_requests(repo) == []


def test_a_second_submission_of_the_same_entry_is_refused(
    hub_server: HubServer, repo: str, tmp_path: Path
) -> None:
    doc = make_result("Alpha")
    submit_result(_write(tmp_path, doc), repo, endpoint=hub_server.endpoint, known=KNOWN)
    # same entry while the first pull request is open
    with pytest.raises(DuplicateSubmissionError, match="open pull request #1"):
        submit_result(
            _write(tmp_path, make_result("alpha", params={"x": 1})),
            repo,
            endpoint=hub_server.endpoint,
            known=KNOWN,
        )
    # the same results under another name
    renamed = make_result("Alpha")
    renamed["submission"]["name"] = "Alpha again"
    with pytest.raises(DuplicateSubmissionError, match="same results"):
        submit_result(_write(tmp_path, renamed), repo, endpoint=hub_server.endpoint, known=KNOWN)
    assert len(hub_server.pull_requests(repo)) == 1

    # an entry already merged into main
    from huggingface_hub import HfApi

    merged = make_result("Beta")
    HfApi(endpoint=hub_server.endpoint).upload_file(
        path_or_fileobj=dump(merged),
        path_in_repo="results/metric-dynamics/test-zoo-v1/beta.json",
        repo_id=repo,
        repo_type="dataset",
    )
    with pytest.raises(DuplicateSubmissionError, match="already on the leaderboard"):
        submit_result(
            _write(tmp_path, make_result("BETA", params={"y": 2})),
            repo,
            endpoint=hub_server.endpoint,
            known=KNOWN,
        )
    # a different entry still goes through
    other = submit_result(
        _write(tmp_path, make_result("Gamma")), repo, endpoint=hub_server.endpoint, known=KNOWN
    )
    assert other.pr_num == 2


def test_cli_submit(hub_server: HubServer, repo: str, tmp_path: Path, monkeypatch, capsys) -> None:
    import argparse

    from degzoo.cli import leaderboard as cli
    from degzoo.leaderboard import schema

    monkeypatch.setattr(schema, "KNOWN_RELEASES", {k: schema.KnownRelease(k, v) for k, v in KNOWN.items()})
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    path = _write(tmp_path, make_result("Cli entry"))
    args = parser.parse_args(
        ["leaderboard", "submit", str(path), "--repo-id", repo, "--endpoint", hub_server.endpoint]
    )
    assert cli.run(args, []) == 0
    assert "opened pull request #1" in capsys.readouterr().out
