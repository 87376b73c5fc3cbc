"""The board's parts: one per zoo release (zoo-v2 included), trusted entries ranked, unverified ones
apart, incomplete results labelled, and the fourth shipped role, baselines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_leaderboard_support import (
    KNOWN,
    RELEASE,
    clone,
    dump,
    make_result,
    ship,
    write_entry,
    write_verified,
)

import degzoo
from degzoo.leaderboard import add_reference_results, build_board, collect_board, validate_file, verify_result
from degzoo.leaderboard import schema as lb_schema
from degzoo.leaderboard.render import HTML_NAME, MARKDOWN_NAME, PARQUET_NAME


def _zoo_v2() -> lb_schema.KnownRelease:
    release = lb_schema.known_releases().get("zoo-v2")
    if release is None:
        pytest.skip("this checkout has no finished zoo-v2 (degzoo/releases/zoo-v2/manifest.json)")
    return release


def _md_lines(root: Path) -> list[str]:
    return (root / MARKDOWN_NAME).read_text("utf-8").splitlines()


# --------------------------------------------------------------------------------------------
# releases
# --------------------------------------------------------------------------------------------


def test_results_on_the_shipped_zoo_v2_are_accepted_and_verified_on_it(tmp_path: Path) -> None:
    from degzoo.zoo import open_release

    v2 = _zoo_v2()
    assert v2.manifest_sha256 == open_release("zoo-v2", verify=False).sha256
    doc = make_result("On zoo-v2", release="zoo-v2", sha=v2.manifest_sha256, package="degzoo",
                      version=degzoo.__version__, params={})
    doc["metric"]["name"] = "weights_frobenius"
    path = write_entry(tmp_path / "lb", doc)
    assert validate_file(path).layout.as_posix() == "results/metric-dynamics/zoo-v2/on-zoo-v2.json"
    releases = []

    def rerun(metric, *, release=None, **kwargs):
        releases.append(release)
        return clone(doc)

    verify_result(path, evaluate=rerun, write=False)
    assert releases == ["zoo-v2"]  # opened by name, from the package
    wrong = make_result("Wrong sha", release="zoo-v2", sha="ef" * 32)
    assert [p.field for p in lb_schema.check_document(wrong)] == ["zoo.manifest_sha256"]


def test_the_board_has_a_part_per_release_the_one_with_most_references_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = {**KNOWN, "zoo-v9": "ef" * 32}
    root = tmp_path / "lb"
    old = [make_result(f"Old ref {i}", package="degzoo", version=degzoo.__version__) for i in range(1)]
    new = [make_result(f"New ref {i}", release="zoo-v9", sha="ef" * 32, package="degzoo",
                       version=degzoo.__version__) for i in range(2)]
    for doc in old + new:
        write_entry(root, doc)
    ship(monkeypatch, *old, *new)
    board = collect_board(root, known=known, n_boot=100)
    assert [s.release for s in board.sections] == ["zoo-v9", RELEASE]
    build_board(root, known=known, parquet=False, n_boot=100)
    lines = _md_lines(root)
    parts = [ln for ln in lines if ln.startswith("## ")]
    assert parts == ["## Zoo release `zoo-v9`", f"## Zoo release `{RELEASE}`"]
    assert any("ranks results computed on `zoo-v9`: 2 entries, 2 shipped reference results" in ln
               for ln in lines)
    page = (root / HTML_NAME).read_text("utf-8")
    assert page.index('data-release="zoo-v9"') < page.index(f'data-release="{RELEASE}"')
    # a third shipped reference on the older release moves it first
    more = [make_result(f"Old ref {i}", package="degzoo", version=degzoo.__version__) for i in (1, 2)]
    for doc in more:
        write_entry(root, doc)
    ship(monkeypatch, *old, *new, *more)
    assert [s.release for s in collect_board(root, known=known, n_boot=100).sections] == [RELEASE, "zoo-v9"]


def test_of_two_releases_with_as_many_references_the_one_with_more_trend_ladders_comes_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    known = {**KNOWN, "zoo-v9": "ef" * 32}
    root = tmp_path / "lb"
    old = make_result("Old ref", package="degzoo", version=degzoo.__version__)
    new = make_result("New ref", release="zoo-v9", sha="ef" * 32, package="degzoo",
                      version=degzoo.__version__)
    for doc, ladders in ((old, ("bits", "sine")), (new, ("bits", "sine", "delay", "gamma"))):
        doc["suites"]["trend"]["scores"].update({f"spearman[{x}]": {"value": 0.5, "low": -1.0, "high": 1.0,
                                                                     "n": 4} for x in ladders})
        write_entry(root, doc)
    ship(monkeypatch, old, new)
    assert [s.release for s in collect_board(root, known=known, n_boot=100).sections] == ["zoo-v9", RELEASE]


def test_shipped_results_are_read_from_release_subfolders_too(tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    (reference / "metrics" / "zoo-v2").mkdir(parents=True)
    top = make_result(submission=False, params={"rank": 1})
    sub = make_result(submission=False, params={"rank": 2}, release="zoo-v2")
    (reference / "metrics" / "dsa.json").write_bytes(dump(top))
    (reference / "metrics" / "zoo-v2" / "dsa.json").write_bytes(dump(sub))
    shipped = lb_schema.read_shipped(reference)
    assert sorted((s.role, s.where) for s in shipped.values()) == [
        ("reference", "metrics/dsa.json"), ("reference", "metrics/zoo-v2/dsa.json")]


# --------------------------------------------------------------------------------------------
# trusted entries ranked, unverified ones apart
# --------------------------------------------------------------------------------------------


def test_an_unverified_entry_is_listed_apart_and_never_moves_a_trusted_tier(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lb"
    ref = make_result("Reference", value=0.75, package="degzoo", version=degzoo.__version__)
    write_entry(root, ref)
    ship(monkeypatch, ref)
    write_verified(root, write_entry(root, make_result("Verified one", value=0.7)))
    write_entry(root, make_result("Too good", value=0.99, width=0.0))
    (section,) = collect_board(root, known=KNOWN, n_boot=300).sections
    assert [r.entry.entry_id for r in section.rows] == ["reference", "verified-one"]
    assert [r.entry.entry_id for r in section.unverified] == ["too-good"]
    assert section.rows[0].ranking.rank == 1 and section.rows[0].ranking.tier == 1
    build_board(root, known=KNOWN, n_boot=300)
    lines = _md_lines(root)
    head = lines.index(next(ln for ln in lines if ln.startswith("**Unverified submissions**")))
    [ref_line] = [ln for ln in lines if "Reference ★" in ln]
    [forged] = [ln for ln in lines if "Too good" in ln]
    assert lines.index(ref_line) < head < lines.index(forged)
    cells = [c.strip() for c in forged.split("|")]
    assert cells[1:3] == ["—", "—"] and "unverified" in cells and "✓" not in forged
    assert "| ✓ |" in next(ln for ln in lines if "Verified one" in ln)
    assert "| shipped |" in ref_line
    page = (root / HTML_NAME).read_text("utf-8")
    tables = page.split("<table")
    assert 'data-entry="too-good"' in tables[-1] and "unverified-table" in tables[-1]
    assert 'data-entry="too-good"' not in tables[-2]
    assert 'class="badge unverified"' in tables[-1]
    from datasets import Dataset

    rows = {r["entry_id"]: r for r in Dataset.from_parquet(str(root / PARQUET_NAME))}
    assert rows["too-good"]["tier"] is None and rows["too-good"]["score"] == pytest.approx(0.99)
    assert rows["reference"]["tier"] == 1


# --------------------------------------------------------------------------------------------
# incomplete results
# --------------------------------------------------------------------------------------------


def test_an_incomplete_result_is_labelled_and_validate_warns(tmp_path: Path, capsys) -> None:
    from degzoo.leaderboard import schema
    from degzoo.leaderboard.validate import INCOMPLETE_STATUSES

    assert INCOMPLETE_STATUSES == ("timeout", "error")
    root = tmp_path / "lb"
    doc = make_result("Slow metric", value=0.8)
    doc["suites"]["trend"].update(status="timeout", message="the suite's time limit of 600 s")
    doc["suites"]["reliability"].update(status="error", message="MemoryError")
    path = write_entry(root, doc)
    write_entry(root, make_result("Fast metric", value=0.8))
    entry = validate_file(path, known=KNOWN)
    assert entry.incomplete == {"trend": "timeout", "reliability": "error"}

    from degzoo.cli import main

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schema, "KNOWN_RELEASES", {n: schema.KnownRelease(n, s) for n, s in KNOWN.items()})
        assert main(["leaderboard", "validate", str(path)]) == 0  # still a valid file
        err = capsys.readouterr().err
        assert "incomplete: trend (timeout), reliability (error)" in err and "--time-limit 0" in err
        assert main(["leaderboard", "validate", str(root / "results" / "metric-dynamics" / RELEASE
                                                      / "fast-metric.json")]) == 0
        assert "incomplete" not in capsys.readouterr().err
    build_board(root, known=KNOWN, parquet=False, n_boot=100)
    [line] = [ln for ln in _md_lines(root) if "Slow metric" in ln]
    assert "**incomplete** \\(trend: timeout, reliability: error\\)" in line
    assert "Fast metric" in "".join(_md_lines(root)) and not any(
        "incomplete" in ln for ln in _md_lines(root) if "Fast metric" in ln)
    page = (root / HTML_NAME).read_text("utf-8")
    assert 'class="badge incomplete"' in page and "incomplete: trend, reliability" in page


# --------------------------------------------------------------------------------------------
# baselines: the fourth shipped role
# --------------------------------------------------------------------------------------------


def test_a_baseline_is_recognised_by_content_added_and_shown(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = tmp_path / "reference"
    (reference / "baselines").mkdir(parents=True)
    doc = make_result(submission=False, level="representation", params={"space": "units"})
    doc["metric"]["name"] = "unit_correlation"
    (reference / "baselines" / "unit_correlation.json").write_bytes(dump(doc))
    shipped = lb_schema.read_shipped(reference)
    assert [(s.role, s.where) for s in shipped.values()] == [("baseline", "baselines/unit_correlation.json")]
    monkeypatch.setattr(lb_schema, "_shipped_results", lambda: shipped)

    root = tmp_path / "lb"
    [path] = add_reference_results(reference / "baselines", root, known=KNOWN)
    entry = validate_file(path, known=KNOWN)
    assert entry.role == "baseline" and not entry.reference
    md = (root / MARKDOWN_NAME).read_text("utf-8")
    [line] = [ln for ln in md.splitlines() if "unit\\_correlation" in ln]
    assert "unit\\_correlation \\(space=units\\) (baseline)" in line and "★" not in line
    assert "(baseline) = a measure users actually reach for" in md
    page = (root / HTML_NAME).read_text("utf-8")
    assert 'class="badge baseline"' in page and "naive or classical choice" in page
    from datasets import Dataset

    [row] = list(Dataset.from_parquet(str(root / PARQUET_NAME)))
    assert row["role"] == "baseline" and row["tier"] == 1  # shipped: trusted, ranked
    # a copy claimed by another package is refused, as for every shipped role
    copy = json.loads(path.read_text())
    copy["cost"]["total_seconds"] = 0.1
    copy["submission"]["package"] = {"name": "evilpkg", "version": "1.0"}
    problems = lb_schema.check_document(copy, known=KNOWN)
    assert any("duplicates the shipped result baselines/unit_correlation.json" in p.message for p in problems)


def test_the_shipped_roles_are_four_and_the_package_has_a_baselines_folder() -> None:
    assert sorted(set(lb_schema.SHIPPED_ROLES.values())) == [
        "baseline", "negative control", "reference", "reference implementation"]
    assert (Path(degzoo.__file__).parent / "reference" / "baselines").is_dir()
