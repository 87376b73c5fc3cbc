"""Forged results against the real board (issue 23, "Broken 1"): none may be verified, rank or look shipped.

Each case of :data:`FORGERIES` edits a copy of an entry of the shipped board (a result degzoo ships,
computed on the embedded zoo) the way an attacker did, and says whether ``validate`` must refuse it
(and with which words) or accept the file and leave it to ``verify``, which re-runs every ranked
suite through the real harness and must not reproduce it. Add new cases to the list.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_leaderboard_support import dump

import degzoo
from degzoo.benchmark.results import MAIN_SCORES
from degzoo.benchmark.scoring import RANKED_SUITES
from degzoo.leaderboard import (
    SubmissionError,
    build_board,
    collect_board,
    layout_path,
    validate_file,
    verify_result,
)
from degzoo.leaderboard.render import MARKDOWN_NAME

BOARD = Path(__file__).resolve().parents[1] / "leaderboard"
WEIGHTS = "results/metric-weights/embedded-v1/weights_frobenius.json"
BEHAVIOUR = "results/metric-behaviour/embedded-v1/behaviour_ood.json"
CKA = "results/metric-representation/embedded-v1/cka.json"
CONTROL = "results/metric-weights/embedded-v1/control_scale-weights.json"
MINE = {"name": "degzoo", "version": degzoo.__version__}


def _set(doc: dict[str, Any], suite: str, score: str, value: float, low: float, high: float) -> None:
    """Edit a score in its suite and in the summary alike (what a careful forger does)."""
    doc["suites"][suite]["scores"][score].update(value=value, low=low, high=high)
    if f"{suite}.{score}" in doc["summary"]:
        doc["summary"][f"{suite}.{score}"].update(value=value, low=low, high=high)


def _submit(doc: dict[str, Any], name: str, package: dict[str, str] = MINE) -> None:
    doc["submission"].update(name=name, authors="someone else", package=dict(package))


def perfect(doc: dict[str, Any]) -> None:
    """Every main score set to 1.0 with a zero-width interval."""
    for suite in RANKED_SUITES:
        for score in MAIN_SCORES[suite]:
            if score in doc["suites"][suite]["scores"]:
                _set(doc, suite, score, 1.0, 1.0, 1.0)
    _submit(doc, "Forged perfect")


def planted_wide(doc: dict[str, Any]) -> None:
    """planted_auroc raised to 0.98, with a claimed interval [0.5, 1] to overlap any re-run."""
    _set(doc, "discriminability", "planted_auroc", 0.98, 0.5, 1.0)
    _submit(doc, "Forged planted")


def trend_edited(doc: dict[str, Any]) -> None:
    """The trend score raised to 1.0 in both the suite and the summary."""
    _set(doc, "trend", MAIN_SCORES["trend"][0], 1.0, 1.0, 1.0)
    _submit(doc, "Forged trend")


def copy_cost(doc: dict[str, Any]) -> None:
    """A ★ file with one cost field changed, claimed by another package."""
    doc["cost"]["total_seconds"] = 1.0
    _submit(doc, "cka fast", {"name": "evilpkg", "version": "1.0"})


def copy_level(doc: dict[str, Any]) -> None:
    """A ★ file with metric.level changed from representation to weights."""
    doc["metric"]["level"] = "weights"
    _submit(doc, "cka weights")


def level_and_scores(doc: dict[str, Any]) -> None:
    """metric.level changed (weights → representation), and a shown score nudged so it is no copy."""
    doc["metric"]["level"] = "representation"
    doc["suites"]["discriminability"]["scores"]["planted_between_within_ratio"]["value"] -= 1e-9
    _submit(doc, "Frobenius as representation")


def copy_control(doc: dict[str, Any]) -> None:
    """A shipped negative control, unchanged, submitted under another package."""
    _submit(doc, "my control", {"name": "evilpkg", "version": "1.0"})


def star_name(doc: dict[str, Any]) -> None:
    planted_wide(doc)
    doc["submission"]["name"] = "cka v2 ★"


def ref_impl_name(doc: dict[str, Any]) -> None:
    planted_wide(doc)
    doc["submission"]["name"] = "dsa (ref. impl.)"


def baseline_param(doc: dict[str, Any]) -> None:
    planted_wide(doc)
    doc["metric"]["params"]["label"] = "RSA (Baseline)"


def verified_author(doc: dict[str, Any]) -> None:
    planted_wide(doc)
    doc["submission"]["authors"] = ["A. Author ✓"]


def other_degzoo(doc: dict[str, Any]) -> None:
    planted_wide(doc)
    doc["submission"]["package"] = {"name": "degzoo", "version": "9.9.9"}


@dataclass(frozen=True)
class Forgery:
    id: str
    source: str  # the shipped board's entry it starts from
    forge: Callable[[dict[str, Any]], None]
    refused: str | None  # words of validate's refusal; None: a valid file that verify must not reproduce


FORGERIES = [
    Forgery("every-main-score-1-zero-width", WEIGHTS, perfect, None),
    Forgery("planted-auroc-0.98-interval-0.5-1", BEHAVIOUR, planted_wide, None),
    Forgery("trend-in-suite-and-summary", WEIGHTS, trend_edited, None),
    Forgery("level-edited-and-scores-nudged", WEIGHTS, level_and_scores, None),
    Forgery("reference-copy-cost-edited-other-package", CKA, copy_cost, "duplicates the shipped result"),
    Forgery("reference-copy-level-edited", CKA, copy_level, "duplicates the shipped result metrics/"),
    Forgery("negative-control-under-another-package", CONTROL, copy_control, "one degzoo ships"),
    Forgery("star-in-name", BEHAVIOUR, star_name, "a mark the board sets itself"),
    Forgery("ref-impl-in-name", BEHAVIOUR, ref_impl_name, "a mark the board sets itself"),
    Forgery("baseline-in-params", BEHAVIOUR, baseline_param, "a mark the board sets itself"),
    Forgery("check-mark-in-authors", BEHAVIOUR, verified_author, "a mark the board sets itself"),
    Forgery("package-degzoo-9.9.9", BEHAVIOUR, other_degzoo, "the installed degzoo is"),
]


def _copy_board(root: Path, *sources: str) -> None:
    """The shipped entries of the sections ``sources`` are in, in a leaderboard folder ``root``."""
    for source in sources:
        for f in (BOARD / source).parent.glob("*.json"):
            target = root / f.relative_to(BOARD)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)


def _forge(root: Path, case: Forgery) -> Path:
    doc = json.loads((BOARD / case.source).read_text("utf-8"))
    case.forge(doc)
    path = root / layout_path(doc)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dump(doc))
    return path


@pytest.mark.parametrize("case", FORGERIES, ids=[c.id for c in FORGERIES])
def test_no_forgery_is_verified_ranked_or_marked(tmp_path: Path, case: Forgery) -> None:
    root = tmp_path / "lb"
    _copy_board(root, case.source)
    path = _forge(root, case)
    if case.refused is not None:
        with pytest.raises(SubmissionError, match=case.refused):
            validate_file(path)
        return
    entry = validate_file(path)  # a well-formed file: only a re-run can tell
    record, _ = verify_result(path)
    assert record["status"] == "not_reproduced"
    assert any(not row["ok"] for row in record["differences"])
    board = collect_board(root, n_boot=200)
    [row] = [r for s in board.sections for r in s.all_rows if r.entry.key == entry.key]
    assert row.verification == "not_reproduced" and not row.trusted
    section = next(s for s in board.sections if row in s.unverified)
    assert row not in section.rows and all(r.trusted for r in section.rows)
    build_board(root, parquet=False, n_boot=200)
    [line] = [ln for ln in (root / MARKDOWN_NAME).read_text("utf-8").splitlines()
              if f"[json]({entry.layout.as_posix()})" in ln]
    cells = [c.strip() for c in line.split("|")]
    assert cells[1:3] == ["—", "—"]  # no tier, no rank
    assert "✗ not reproduced" in cells and "✓" not in cells


def test_shipped_results_reproduce_in_full_and_on_a_subset(tmp_path: Path) -> None:
    """The tolerance does not refuse honest work: a shipped result re-run on every member and on half."""
    root = tmp_path / "lb"
    _copy_board(root, WEIGHTS)
    record, out = verify_result(root / WEIGHTS)
    assert record["status"] == "verified", [d for d in record["differences"] if not d["ok"]]
    assert {d["suite"] for d in record["differences"]} >= set(RANKED_SUITES)
    subset, _ = verify_result(root / WEIGHTS, max_members=8, write=False)
    assert subset["status"] == "verified", [d for d in subset["differences"] if not d["ok"]]
    assert subset["subset"] == {"max_members": 8, "protocol_members": 16, "seed": 0,
                                "members": "the first 8 converged members of each condition, as the "
                                "harness picks them"}
    build_board(root, parquet=False, n_boot=200)
    board = (root / MARKDOWN_NAME).read_text("utf-8")
    [line] = [ln for ln in board.splitlines() if "weights_frobenius" in ln]
    assert "| ✓ |" in line
    assert out is not None and out.is_file()


def test_a_forged_interval_does_not_help_on_a_subset_either(tmp_path: Path) -> None:
    root = tmp_path / "lb"
    _copy_board(root, BEHAVIOUR)
    record, _ = verify_result(_forge(root, FORGERIES[1]), max_members=8, write=False)
    assert record["status"] == "not_reproduced"
    [bad] = [d for d in record["differences"] if not d["ok"]]
    assert (bad["suite"], bad["score"]) == ("discriminability", "planted_auroc")
    assert bad["tolerance"] < 0.98 - bad["rerun"]["value"]


def test_a_verification_record_in_a_pull_request_is_refused(tmp_path: Path) -> None:
    """Verified status comes from the board's verify job: a PR that adds or edits a record fails CI,
    even when the record claims a perfect re-run of the forged file."""
    from test_leaderboard_support import write_verified

    from degzoo.cli import main

    base, pr = tmp_path / "base", tmp_path / "pr"
    _copy_board(base, WEIGHTS)
    _copy_board(pr, WEIGHTS)
    forged = _forge(pr, FORGERIES[0])
    record = write_verified(pr, forged)  # "the re-run gave exactly the forged scores"
    assert main(["leaderboard", "validate", str(pr), "--against", str(base)]) == 1
    # the board's verify job itself may write records
    assert main(["leaderboard", "validate", str(pr), "--against", str(base),
                 "--allow-verification-records"]) == 0
    # an edit of an existing record is refused as well
    shutil.copytree(pr, base, dirs_exist_ok=True)
    record.write_text(record.read_text().replace('"status": "verified"', '"status": "verified" '))
    assert main(["leaderboard", "validate", str(pr), "--against", str(base)]) == 1


@pytest.mark.parametrize("atol", ["-1", "nan", "inf"])
def test_verify_refuses_a_tolerance_that_is_not_a_finite_non_negative_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], atol: str
) -> None:
    from degzoo.cli import main

    root = tmp_path / "lb"
    _copy_board(root, WEIGHTS)
    assert main(["leaderboard", "verify", str(root / WEIGHTS), f"--atol={atol}"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "atol must be a finite number >= 0" in err
    assert not (root / "verified").exists()


def test_a_metric_of_another_package_than_the_pinned_one_is_not_verified(tmp_path: Path) -> None:
    """A result pinned to an installed package (here pytest) whose metric name resolves to degzoo's
    own metric: the re-run reproduces the scores, but not with the pinned package's code."""
    from importlib import metadata

    root = tmp_path / "lb"
    _copy_board(root, WEIGHTS)
    doc = json.loads((BOARD / WEIGHTS).read_text("utf-8"))
    planted_wide(doc)
    _submit(doc, "Borrowed", {"name": "pytest", "version": metadata.version("pytest")})
    path = root / layout_path(doc)
    path.write_bytes(dump(doc))
    record, _ = verify_result(path, evaluate=lambda metric, **kwargs: json.loads(json.dumps(doc)))
    assert record["status"] == "not_reproduced"
    [bad] = [d for d in record["differences"] if not d["ok"]]
    assert bad["score"] == "submission.package" and "degzoo.metrics" in bad["note"]
