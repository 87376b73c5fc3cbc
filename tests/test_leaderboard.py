"""Leaderboard: schema validation, layout and duplicates, tiers, rendering, verification, CLI."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pytest
from test_leaderboard_support import (
    KNOWN,
    RELEASE,
    SHA,
    TREND,
    clone,
    dump,
    make_control,
    make_result,
    score,
    ship,
    write_entry,
    write_verified,
)

import degzoo
from degzoo.benchmark.results import SCHEMA_VERSION, result_schema
from degzoo.errors import ValidationError
from degzoo.leaderboard import (
    SubmissionError,
    add_reference_results,
    build_board,
    check_document,
    check_no_removals,
    entry_id,
    rank_with_tiers,
    validate_file,
    validate_tree,
    verify_result,
)
from degzoo.leaderboard import schema as lb_schema
from degzoo.leaderboard.render import HTML_NAME, MARKDOWN_NAME, PARQUET_NAME, md_escape
from degzoo.leaderboard.schema import safe_url

# --------------------------------------------------------------------------------------------
# schema
# --------------------------------------------------------------------------------------------


def _fields(problems) -> list[str]:
    return [p.field for p in problems]


def test_valid_result_passes_and_is_placed_in_its_layout(tmp_path: Path) -> None:
    path = tmp_path / "sub.json"
    path.write_bytes(dump(make_result("My DSA (fast)")))
    entry = validate_file(path, known=KNOWN)
    assert entry.layout.as_posix() == f"results/metric-dynamics/{RELEASE}/my-dsa-fast.json"
    assert check_document(make_control(), known=KNOWN) == []


def test_levels_and_invariances_match_the_metric_interface() -> None:
    from degzoo.metrics.base import INVARIANCES, LEVELS

    assert lb_schema.LEVELS == LEVELS
    assert lb_schema.INVARIANCES == INVARIANCES


def test_results_written_by_the_harness_are_accepted() -> None:
    bench = pytest.importorskip("degzoo.benchmark", reason="the harness is not importable")
    assert tuple(bench.SUITES) == lb_schema.METRIC_SUITES
    from degzoo.benchmark.harness import SUMMARY_SCORES
    from degzoo.leaderboard.tiers import RANKED_SUITES

    assert set(RANKED_SUITES) <= {s for s, _ in SUMMARY_SCORES}
    Score, SuiteResult = bench.Score, bench.SuiteResult
    suites = {}
    for name in bench.SUITES:
        sr = SuiteResult(seconds=1.0)
        for suite, key in SUMMARY_SCORES:
            if suite == name:
                hi = 10.0 if suite == "cost" else 1.0
                sr.scores[key] = Score(0.6, 0.5, min(hi, 0.7), 12)
        if name == "sample_size":
            sr.scores["ci_width_n4"] = Score.exact(0.2, 4)
        suites[name] = sr
    result = bench.MetricResult(
        zoo={"release": RELEASE, "manifest_sha256": SHA},
        metric={"name": "dsa", "level": "dynamics", "params": {"rank": 10}, "invariances": ["orthogonal"]},
        suites=suites,
        summary={f"{s}.{k}": suites[s].scores[k] for s, k in SUMMARY_SCORES if k in suites[s].scores},
        cost={"total_seconds": 3.0},
    )
    doc = json.loads(result.dumps())
    doc["submission"] = make_result()["submission"]
    assert check_document(doc, known=KNOWN) == []


def _mutate(doc: dict, change: str) -> None:
    s = doc["suites"]
    if change == "missing":
        del doc["created"]
    elif change == "unknown":
        doc["extra_field"] = 1
    elif change == "unknown_nested":
        s["discriminability"]["scores"]["planted_auroc"]["stderr"] = 0.1
    elif change == "schema_version":
        doc["schema_version"] = SCHEMA_VERSION - 1
    elif change == "auroc_range":
        s["discriminability"]["scores"]["planted_auroc"].update(value=1.2, high=1.3)
    elif change == "ci":
        s["reliability"]["scores"]["test_retest_spearman"]["low"] = 0.9
    elif change == "release":
        doc["zoo"]["release"] = "zoo-v9"
    elif change == "sha":
        doc["zoo"]["manifest_sha256"] = "cd" * 32
    elif change == "package_version":
        doc["submission"]["package"]["version"] = ">=1.0"
    elif change == "no_submission":
        del doc["submission"]
    elif change == "url":
        doc["submission"]["code_url"] = "javascript:alert(1)"
    elif change == "missing_suite":
        del s["trend"]
    elif change == "failed_without_message":
        s["trend"] = {"status": "timeout", "scores": {}, "details": {}, "message": None, "seconds": 60.0}
    elif change == "level":
        doc["metric"]["level"] = "synapses"
    elif change == "count":
        s["trend"]["scores"][TREND]["n"] = -3
    elif change == "traversal":
        doc["zoo"]["release"] = "../../etc"
    elif change == "no_main_score":
        s["calibration"]["scores"] = {"slope": {"value": 2.0, "low": 1.0, "high": 3.0, "n": 5}}
        for name in ("twin_auroc", "noise_spearman", "confound_auroc"):
            del doc["summary"][f"calibration.{name}"]
    elif change == "bad_name":
        doc["submission"]["name"] = "∑∑∑"
    elif change == "created":
        doc["created"] = "yesterday"
    elif change == "protocol":
        doc["settings"].update(max_members=6, noise_levels=[0.1])
    else:  # pragma: no cover
        raise AssertionError(change)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ("missing", "created", "required"),
        ("unknown", "extra_field", "unknown field"),
        ("unknown_nested", "suites.discriminability.scores.planted_auroc.stderr", "unknown field"),
        ("schema_version", "schema_version", "supported"),
        ("auroc_range", "suites.discriminability.scores.planted_auroc.value", "[0, 1]"),
        ("ci", "suites.reliability.scores.test_retest_spearman", "low ≤ value ≤ high"),
        ("release", "zoo.release", "unknown zoo release"),
        ("sha", "zoo.manifest_sha256", "re-run the harness"),
        ("package_version", "submission.package.version", "pin an exact release"),
        ("no_submission", "submission", "required"),
        ("url", "submission.code_url", "http"),
        ("missing_suite", "suites.trend", "full harness run"),
        ("failed_without_message", "suites.trend.message", "message"),
        ("level", "metric.level", "behaviour"),
        ("count", f"suites.trend.scores.{TREND}.n", "range"),
        ("traversal", "zoo.release", "not valid"),
        ("no_main_score", "suites.calibration.scores", "main score"),
        ("bad_name", "submission.name", "ASCII"),
        ("created", "created", "ISO-8601"),
        ("protocol", "settings.max_members", "re-run `degzoo evaluate`"),
        ("protocol", "settings.noise_levels", "[0.003, 0.01, 0.03, 0.1, 0.3]"),
    ],
)
def test_each_problem_names_its_field_and_the_fix(change: str, field: str, words: str) -> None:
    doc = make_result()
    _mutate(doc, change)
    problems = check_document(doc, known=KNOWN)
    assert field in _fields(problems), problems
    assert any(words in p.message for p in problems if p.field == field), problems


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    doc = make_result()
    for change in ("missing", "unknown", "auroc_range", "sha", "url"):
        _mutate(doc, change)
    path = tmp_path / "bad.json"
    path.write_bytes(dump(doc))
    with pytest.raises(SubmissionError) as info:
        validate_file(path, known=KNOWN)
    # auroc: value and high out of range, and the summary's copy of it no longer matches
    assert len(info.value.problems) == 7
    text = str(info.value)
    for field in ("created", "extra_field", "auroc.value", "zoo.manifest_sha256", "submission.code_url",
                  "summary.discriminability.planted_auroc"):
        assert field in text
    assert isinstance(info.value, ValidationError)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ('{"a": NaN}', "NaN is not allowed"),
        ('{"a": Infinity}', "Infinity is not allowed"),
        ('{"a": 1e999}', "overflows"),
        ('{"a": 1, "a": 2}', "appears twice"),
        ('{"a": 123456789012345678901234567890}', "64 bits"),
        ("[" * 100_000, "too deeply"),
        ('{"a": [1, 2', "not valid JSON"),
    ],
)
def test_unreadable_json_is_rejected_with_a_message(tmp_path: Path, text: str, words: str) -> None:
    path = tmp_path / "x.json"
    path.write_text(text)
    with pytest.raises(SubmissionError, match=words):
        validate_file(path, known=KNOWN)


def test_size_limit_symlinks_and_non_utf8(tmp_path: Path) -> None:
    doc = make_result()
    doc["suites"]["trend"]["details"]["blob"] = "x" * 1_100_000
    big = tmp_path / "big.json"
    big.write_bytes(dump(doc))
    with pytest.raises(SubmissionError, match="the limit is 1,000,000"):
        validate_file(big, known=KNOWN)
    good = tmp_path / "good.json"
    good.write_bytes(dump(make_result()))
    link = tmp_path / "link.json"
    link.symlink_to(good)
    with pytest.raises(SubmissionError, match="symbolic link"):
        validate_file(link, known=KNOWN)
    latin = tmp_path / "latin.json"
    latin.write_bytes(dump(make_result()).replace(b"A. Author", "Ä. Author".encode("latin-1")))
    with pytest.raises(SubmissionError, match="not UTF-8"):
        validate_file(latin, known=KNOWN)


def test_embedded_zoo_is_known_when_present() -> None:
    from degzoo.leaderboard.schema import _embedded_release, known_releases

    emb = _embedded_release()
    manifest = degzoo.__path__[0] + "/embedded/manifest.json"
    if not os.path.isfile(manifest):
        assert emb is None
        pytest.skip("this checkout has no embedded zoo manifest yet")
    from degzoo.zoo import open_release

    rel = open_release(verify=False)
    assert (emb.name, emb.manifest_sha256) == (rel.name, rel.sha256)
    assert emb.name in known_releases()


def test_entry_ids_are_safe_file_names() -> None:
    assert entry_id("<script>alert(1)</script>") == "script-alert-1-script"
    assert entry_id("Métrique rapide") == "metrique-rapide"
    assert entry_id("../../etc/passwd") == "etc-passwd"
    assert entry_id("a..b") == "a.b"
    assert entry_id("∑∑") == ""


def test_safe_url_only_allows_http_and_https() -> None:
    assert safe_url("https://example.org/x?y=1") == "https://example.org/x?y=1"
    for bad in (
        "javascript:alert(1)",
        "data:text/html,hi",
        "//example.org",
        "ftp://x.org",
        'https://x.org/"onmouseover=1',
        "https://x.org/ space",
        "http://user@x.org",
        None,
        3,
    ):
        assert safe_url(bad) is None, bad


# --------------------------------------------------------------------------------------------
# the folder: layout, duplicates, append-only
# --------------------------------------------------------------------------------------------


def test_tree_layout_and_duplicates(tmp_path: Path) -> None:
    root = tmp_path / "lb"
    write_entry(root, make_result("Alpha"))
    write_entry(root, make_result("Beta", level="weights"))
    assert len(validate_tree(root, known=KNOWN)) == 2

    # misplaced: the file's content says metric-dynamics, the folder says metric-weights
    wrong = root / "results" / "metric-weights" / RELEASE / "gamma.json"
    wrong.write_bytes(dump(make_result("Gamma")))
    # identical results under another name
    copy_doc = make_result("Alpha")
    copy_doc["submission"]["name"] = "Alpha copy"
    write_entry(root, copy_doc)
    # a stray file outside the layout
    (root / "results" / "notes.txt").write_text("hi")
    with pytest.raises(SubmissionError) as info:
        validate_tree(root, known=KNOWN)
    text = str(info.value)
    assert "move it there" in text and "gamma.json" in text
    assert "same results as results/metric-dynamics" in text
    assert "notes.txt" in text


def test_new_file_duplicating_an_entry_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "lb"
    write_entry(root, make_result("Alpha"))
    same_name = make_result("ALPHA", params={"rank": 3})  # same entry id, other results
    p = tmp_path / "new.json"
    p.write_bytes(dump(same_name))
    with pytest.raises(SubmissionError, match="already exists"):
        validate_file(p, root=root, known=KNOWN)
    same_content = make_result("Alpha")
    same_content["submission"]["name"] = "Another name"
    p.write_bytes(dump(same_content))
    with pytest.raises(SubmissionError, match="same results"):
        validate_file(p, root=root, known=KNOWN)
    fresh = make_result("Gamma")
    p.write_bytes(dump(fresh))
    assert validate_file(p, root=root, known=KNOWN).entry_id == "gamma"


def test_against_detects_removed_and_modified_entries(tmp_path: Path) -> None:
    old, new = tmp_path / "old", tmp_path / "new"
    a = write_entry(old, make_result("Alpha"))
    write_entry(old, make_result("Beta"))
    write_entry(new, make_result("Beta"))
    write_entry(new, make_result("Gamma"))
    problems = check_no_removals(old, new)
    assert [(p.file, "removed" in p.message) for p in problems] == [(a.relative_to(old).as_posix(), True)]
    write_entry(new, make_result("Alpha"))
    assert check_no_removals(old, new) == []
    b_new = new / "results" / "metric-dynamics" / RELEASE / "beta.json"
    b_new.write_bytes(b_new.read_bytes() + b"\n")
    assert "modified" in check_no_removals(old, new)[0].message
    assert check_no_removals(old, new, allow_modified=True) == []


# --------------------------------------------------------------------------------------------
# tiers
# --------------------------------------------------------------------------------------------


def test_clearly_separated_entries_get_different_tiers() -> None:
    values = np.array([[0.9, 0.85, 0.95, 0.9, 0.88], [0.3, 0.35, 0.25, 0.3, 0.32]])
    r = rank_with_tiers(values, np.full_like(values, 0.02), names=["a", "b"])
    assert [x.tier for x in r] == [1, 2]
    assert [(x.rank_low, x.rank_high) for x in r] == [(1, 1), (2, 2)]
    assert r[0].score_low < r[0].score < r[0].score_high


def test_overlapping_entries_share_a_tier() -> None:
    values = np.array([[0.70, 0.72, 0.68, 0.71, 0.69], [0.69, 0.71, 0.69, 0.70, 0.70]])
    r = rank_with_tiers(values, np.full_like(values, 0.05), names=["a", "b"])
    assert [x.tier for x in r] == [1, 1]
    assert (r[0].rank_low, r[0].rank_high) == (1, 2)
    assert (r[1].rank_low, r[1].rank_high) == (1, 2)


def test_tiers_chain_and_are_deterministic() -> None:
    rng = np.random.default_rng(1)
    means = np.array([0.9, 0.89, 0.6, 0.59, 0.2])
    values = np.clip(means[:, None] + rng.normal(0, 0.01, (5, 5)), 0, 1)
    ses = np.full_like(values, 0.03)
    r1 = rank_with_tiers(values, ses)
    assert [x.tier for x in r1] == [1, 1, 2, 2, 3]
    assert r1 == rank_with_tiers(values, ses)


@pytest.mark.parametrize("resample_units", [False, True])
def test_an_entrys_interval_does_not_move_when_another_entry_joins(resample_units: bool) -> None:
    values = np.array([[0.9, 0.8, 0.7, 0.6], [0.85, 0.8, 0.7, 0.6], [0.3, 0.2, 0.4, 0.1]])
    ses = np.full_like(values, 0.04)
    two = rank_with_tiers(values[:2], ses[:2], names=["a", "b"], resample_units=resample_units)
    three = rank_with_tiers(values[[2, 0, 1]], ses[[2, 0, 1]], names=["late", "a", "b"],
                            resample_units=resample_units)
    for before, after in zip(two, three[1:], strict=True):
        assert (after.score_low, after.score_high, after.tier) == (before.score_low, before.score_high,
                                                                  before.tier)


def test_an_entry_better_on_every_suite_is_separated_even_with_wide_suite_spread() -> None:
    # paired: suites differ a lot in difficulty, but b is always 0.1 below a
    base = np.array([0.95, 0.2, 0.6, 0.8, 0.4])
    values = np.stack([base, base - 0.1])
    r = rank_with_tiers(values, np.full_like(values, 0.01))
    assert [x.tier for x in r] == [1, 2]


def test_suites_that_define_the_score_are_not_resampled() -> None:
    # known exactly: 1, 1, 1, 0, 0 is a score of 0.6 with no uncertainty, and 0.55 is below it
    values = np.array([[1.0, 1.0, 1.0, 0.0, 0.0], [0.55] * 5])
    ses = np.full_like(values, 0.005)
    fixed = rank_with_tiers(values, ses, resample_units=False)
    assert fixed[0].score_high - fixed[0].score_low < 0.02
    assert [x.tier for x in fixed] == [1, 2]
    # resampling the suites measures their spread instead: wide, and the two cannot be told apart
    resampled = rank_with_tiers(values, ses, resample_units=True)
    assert resampled[0].score_high - resampled[0].score_low > 0.5
    assert [x.tier for x in resampled] == [1, 1]


# --------------------------------------------------------------------------------------------
# build and render
# --------------------------------------------------------------------------------------------


def _board(tmp_path: Path, mp: pytest.MonkeyPatch | None = None) -> Path:
    """Three dynamics metrics and a control, verified by the board, and a weights metric of degzoo
    (shipped, a reference, when ``mp`` is given)."""
    root = tmp_path / "lb"
    for doc in (make_result("Strong metric", value=0.9),
                make_result("<script>alert(1)</script>", value=0.3, width=0.01),
                make_result("Close second", value=0.89, width=0.05), make_control("L1 | control")):
        write_verified(root, write_entry(root, doc))
    ref = make_result("Weights ref", level="weights", value=0.5, package="degzoo", version=degzoo.__version__)
    write_entry(root, ref)
    if mp is not None:
        ship(mp, ref)
    return root


def test_build_writes_ranked_board_with_escaped_strings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _board(tmp_path, monkeypatch)
    report = build_board(root, known=KNOWN, n_boot=500)
    assert report.n_entries == 5
    md = (root / MARKDOWN_NAME).read_text("utf-8")
    page = (root / HTML_NAME).read_text("utf-8")

    assert "<script>alert" not in md and "<script>alert" not in page
    assert "&lt;script&gt;alert\\(1\\)&lt;/script&gt;" in md
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count("<script") == 1  # only the page's own sorting/filter script
    assert "L1 \\| control" in md
    head = page.split("<body>")[0]
    assert "Content-Security-Policy" in head and "src=" not in page and "<link" not in page

    # tiers: strong and close second together, the weak one below
    lines = [ln for ln in md.splitlines() if ln.startswith("| ") and "Tier" not in ln]
    tiers = {ln.split("|")[3].strip().split("<br>")[0]: ln.split("|")[1].strip() for ln in lines}
    assert tiers["Strong metric"] == tiers["Close second"] == "1"
    assert tiers["&lt;script&gt;alert\\(1\\)&lt;/script&gt;"] == "2"
    assert tiers["Weights ref ★"] == "1"
    assert "[code](https://example.org/code)" in md
    assert 'class="badge reference"' in page and "★ reference" in page
    assert json.loads((root / "result.schema.json").read_text()) == result_schema()

    from datasets import Dataset

    ds = Dataset.from_parquet(str(root / PARQUET_NAME))
    assert ds.num_rows == 5
    row = next(r for r in ds if r["name"] == "Strong metric")
    assert row["tier"] == 1 and row["track"] == "metric-dynamics"
    assert json.loads(row["result_json"])["submission"]["name"] == "Strong metric"


def test_a_suite_that_did_not_finish_shows_what_the_score_counts_it_as(tmp_path: Path) -> None:
    root = tmp_path / "lb"
    failing = make_result("Fails conformance", value=0.8)
    failing["suites"]["conformance"].update(status="failed", message="not symmetric")
    failing["suites"]["conformance"]["scores"]["checks_passed"] = score(7 / 11, 0.0, n=11)
    failing["summary"]["conformance.checks_passed"] = score(7 / 11, 0.0, n=11)
    failing["suites"]["trend"].update(status="timeout", message="the suite's time limit")
    write_entry(root, failing)
    write_entry(root, make_result("Finishes", value=0.8))
    build_board(root, known=KNOWN, n_boot=200)
    md = (root / MARKDOWN_NAME).read_text("utf-8")
    page = (root / HTML_NAME).read_text("utf-8")
    row = next(ln for ln in md.splitlines() if ln.startswith("| ") and "Fails conformance" in ln)
    cells = [c.strip() for c in row.split("|")]
    assert "0 \\(failed: 7/11 checks\\)" in cells and "0 \\(timeout\\)" in cells
    assert cells[4].startswith("0.480")  # (0 + 0.8 · 3) / 5: both count as 0
    assert '<td data-value="0">0 (failed: 7/11 checks)</td>' in page
    assert "counts as 0" in md


def test_cost_cells_are_milliseconds_without_exponents() -> None:
    from degzoo.leaderboard.render import _fmt

    assert [_fmt(v, "cost") for v in (1.18939, 0.16034, 0.0000098)] == ["1189", "160", "0.0098"]


def test_build_is_reproducible_and_check_detects_a_stale_board(tmp_path: Path) -> None:
    root = _board(tmp_path)
    build_board(root, known=KNOWN, parquet=False, n_boot=300)
    first = (root / HTML_NAME).read_bytes(), (root / MARKDOWN_NAME).read_bytes()
    assert build_board(root, known=KNOWN, check=True, n_boot=300).stale == []
    build_board(root, known=KNOWN, parquet=False, n_boot=300)
    assert ((root / HTML_NAME).read_bytes(), (root / MARKDOWN_NAME).read_bytes()) == first
    write_entry(root, make_result("Newcomer", value=0.1))
    stale = build_board(root, known=KNOWN, check=True, n_boot=300).stale
    assert sorted(p.name for p in stale) == sorted([HTML_NAME, MARKDOWN_NAME])


def test_a_rejected_file_leaves_the_board_unchanged(tmp_path: Path) -> None:
    root = _board(tmp_path)
    build_board(root, known=KNOWN, n_boot=300)
    before = {p: p.read_bytes() for p in (root / MARKDOWN_NAME, root / HTML_NAME, root / PARQUET_NAME)}
    bad = make_result("Bad one")
    bad["suites"]["trend"]["scores"][TREND]["value"] = 7.0
    write_entry(root, bad)
    with pytest.raises(SubmissionError, match=r"bad-one\.json"):
        build_board(root, known=KNOWN, n_boot=300)
    assert {p: p.read_bytes() for p in before} == before
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_empty_board_builds(tmp_path: Path) -> None:
    report = build_board(tmp_path / "lb", known=KNOWN, parquet=False)
    assert report.n_entries == 0
    assert "No results yet" in (tmp_path / "lb" / MARKDOWN_NAME).read_text("utf-8")


def test_markdown_escape() -> None:
    assert md_escape("a|b*c_[x](y)\n<b>&") == "a\\|b\\*c\\_\\[x\\]\\(y\\) &lt;b&gt;&amp;"


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------


def _verifiable(root: Path, name: str = "Frobenius") -> Path:
    doc = make_result(name, level="weights", package="degzoo", version=degzoo.__version__, params={})
    doc["metric"]["name"] = "weights_frobenius"
    doc["submission"]["package"]["entry"] = "degzoo.metrics:FrobeniusWeightDistance"
    return write_entry(root, doc)


def test_verify_reruns_every_ranked_suite_and_the_board_rederives_the_verdict(tmp_path: Path) -> None:
    from degzoo.benchmark.scoring import RANKED_SUITES

    root = tmp_path / "lb"
    path = _verifiable(root)
    submitted = json.loads(path.read_text())
    calls = []

    def same(metric, *, release=None, suites=(), max_members=0, seed=None, n_boot=None, time_limit=1.0):
        calls.append((type(metric).__name__, release, tuple(suites), max_members, seed, n_boot, time_limit))
        return clone(submitted)

    record, out = verify_result(path, known=KNOWN, evaluate=same)
    # every ranked suite, the full protocol, the result's seed and bootstrap, no time limit
    assert calls == [("FrobeniusWeightDistance", None, tuple(RANKED_SUITES), 16, 0, 1000, None)]
    assert record["status"] == "verified" and out is not None and out.is_file()
    assert out.relative_to(root).as_posix() == f"verified/metric-weights/{RELEASE}/frobenius.json"
    assert record["subset"]["max_members"] == record["subset"]["protocol_members"] == 16
    build_board(root, known=KNOWN, parquet=False, n_boot=200)
    assert 'class="badge verified"' in (root / HTML_NAME).read_text("utf-8")

    def off(metric, **kwargs):
        out = clone(submitted)
        out["suites"]["discriminability"]["scores"]["planted_auroc"].update(value=0.1, low=0.05, high=0.15)
        out["suites"]["conformance"]["status"] = "failed"
        return out

    record, _ = verify_result(path, known=KNOWN, evaluate=off)
    assert record["status"] == "not_reproduced"
    bad = [d for d in record["differences"] if not d["ok"]]
    assert {d["suite"] for d in bad} == {"conformance", "discriminability"}
    build_board(root, known=KNOWN, parquet=False, n_boot=200)
    page = (root / HTML_NAME).read_text("utf-8")
    assert "not reproduced" in page and 'class="badge verified"' not in page
    assert json.loads(path.read_text()) == submitted  # the result itself is never edited

    # a record whose status was edited to "verified" is still not reproduced: the board re-derives it
    record_path = root / "verified" / path.relative_to(root / "results")
    forged = json.loads(record_path.read_text())
    forged["status"] = "verified"
    forged["differences"] = []
    record_path.write_text(json.dumps(forged))
    build_board(root, known=KNOWN, parquet=False, n_boot=200)
    assert 'class="badge verified"' not in (root / HTML_NAME).read_text("utf-8")


def test_the_tolerance_comes_from_the_reruns_sampling_error() -> None:
    """Full protocol, deterministic: the same computation, to round-off. Subset of 8/16:
    factor · max(half-width, 0.05) · sqrt(1 - 8/16) + atol. Not deterministic: no sqrt(1 - r)."""
    from degzoo.leaderboard.verify import compare_results

    doc = make_result("Subset", value=0.7, width=0.1)

    def rerun(value: float, width: float) -> dict:
        out = clone(doc)
        for suite in out["suites"].values():
            for s in suite["scores"].values():
                s.update(value=value, low=value - width, high=value + width)
        return out

    suites = ["trend"]
    tol = 2 * 0.12 * np.sqrt(0.5) + 1e-3  # ≈ 0.171
    ok, rows = compare_results(doc, rerun(0.7 + 0.16, 0.12), suites, subset=0.5)
    assert ok and rows[0]["tolerance"] == pytest.approx(tol)
    assert not compare_results(doc, rerun(0.7 + 0.18, 0.12), suites, subset=0.5)[0]
    # a re-run interval narrower than the protocol's ±0.05 does not narrow the tolerance below it
    ok, rows = compare_results(doc, rerun(0.7, 0.01), suites, subset=0.5)
    assert rows[0]["tolerance"] == pytest.approx(2 * 0.05 * np.sqrt(0.5) + 1e-3)
    # at the full protocol the same seeded run must come out the same, to round-off
    assert not compare_results(doc, rerun(0.7 + 0.01, 0.1), suites, subset=1.0)[0]
    assert compare_results(doc, rerun(0.7 + 0.0005, 0.1), suites, subset=1.0)[0]
    # ... unless the metric is not deterministic: then its whole sampling error
    assert compare_results(doc, rerun(0.7 + 0.15, 0.1), suites, subset=1.0, deterministic=False)[0]
    assert not compare_results(doc, rerun(0.7 + 0.21, 0.1), suites, subset=1.0, deterministic=False)[0]
    # the claimed interval: much narrower than the subset's, or wider than it, is a mismatch
    narrow = clone(doc)
    narrow["suites"]["trend"]["scores"][TREND].update(low=0.697, high=0.703)
    ok, rows = compare_results(narrow, rerun(0.7, 0.12), suites, subset=0.5)
    assert not ok and "much narrower" in rows[0]["note"]
    # a zero-width claim (an exact score: stable trend verdicts) is judged by its value on a subset
    exact = clone(doc)
    exact["suites"]["trend"]["scores"][TREND].update(low=0.7, high=0.7)
    assert compare_results(exact, rerun(0.7, 0.12), suites, subset=0.5)[0]
    wide = clone(doc)
    wide["suites"]["trend"]["scores"][TREND].update(low=0.3, high=1.0)
    ok, rows = compare_results(wide, rerun(0.7, 0.12), suites, subset=0.5)
    assert not ok and "wider" in rows[0]["note"]


def test_a_score_that_does_not_reproduce_is_rerun_to_tell_noise_from_forgery(tmp_path: Path) -> None:
    root = tmp_path / "lb"
    path = _verifiable(root)
    submitted = json.loads(path.read_text())
    runs: list[float] = []

    def harness(*shifts: float):
        """A re-run whose scores are the submitted ones moved by the next of ``shifts``."""
        def evaluate(metric, **kwargs):
            shift = shifts[len(runs) % len(shifts)]
            runs.append(shift)
            out = clone(submitted)
            for suite in out["suites"].values():
                for s in suite["scores"].values():
                    s.update(value=s["value"] + shift, low=s["low"] + shift, high=s["high"] + shift)
            return out
        return evaluate

    # two runs of the same networks differ: not deterministic, judged on its sampling error
    record, _ = verify_result(path, known=KNOWN, evaluate=harness(0.03, -0.03))
    assert runs == [0.03, -0.03] and record["deterministic"] is False
    assert record["status"] == "verified", [d for d in record["differences"] if not d["ok"]]
    build_board(root, known=KNOWN, parquet=False, n_boot=100)  # the board re-derives the same
    assert 'class="badge verified"' in (root / HTML_NAME).read_text("utf-8")
    # the same 0.03 twice: deterministic, so the submitted scores are not what it computes
    runs.clear()
    record, _ = verify_result(path, known=KNOWN, evaluate=harness(0.03))
    assert runs == [0.03, 0.03] and record["deterministic"] is True
    assert record["status"] == "not_reproduced"
    # a reproduction needs no second run
    runs.clear()
    assert verify_result(path, known=KNOWN, evaluate=harness(0.0))[0]["status"] == "verified"
    assert runs == [0.0]


def test_verify_needs_the_pinned_package(tmp_path: Path) -> None:
    path = write_entry(tmp_path / "lb", make_result("Unknown pkg", package="not-installed-pkg-xyz"))
    with pytest.raises(degzoo.errors.DegzooError, match=r"pip install not-installed-pkg-xyz==1\.0\.0"):
        verify_result(path, known=KNOWN, evaluate=lambda m, **k: {})


# --------------------------------------------------------------------------------------------
# reference results and the CLI
# --------------------------------------------------------------------------------------------


def test_add_reference_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    harness_out = tmp_path / "harness"
    harness_out.mkdir()
    for i, level in enumerate(("dynamics", "weights")):
        doc = make_result(submission=False, level=level, value=0.6 + 0.1 * i)
        doc["metric"]["name"] = f"ref_{level}"
        (harness_out / f"{level}.json").write_bytes(dump(doc))
    root = tmp_path / "lb"
    with pytest.raises(SubmissionError, match="is not a result degzoo ships"):
        add_reference_results(harness_out, root, known=KNOWN)
    ship(monkeypatch, *(json.loads(p.read_text()) for p in harness_out.iterdir()))
    written = add_reference_results(harness_out, root, known=KNOWN)
    assert [p.relative_to(root).as_posix() for p in written] == [
        f"results/metric-dynamics/{RELEASE}/ref_dynamics.json",
        f"results/metric-weights/{RELEASE}/ref_weights.json",
    ]
    sub = json.loads(written[0].read_text())["submission"]
    assert "reference" not in sub and sub["package"] == {"name": "degzoo", "version": "0.1.0"}
    assert "★" in (root / MARKDOWN_NAME).read_text("utf-8")
    # regenerated references replace the old ones; community entries are never replaced
    add_reference_results(harness_out, root, known=KNOWN)
    community = make_result("ref_dynamics", level="dynamics", params={"other": 1})
    write_entry(root, community)
    with pytest.raises(SubmissionError, match="is not an entry of degzoo by"):
        add_reference_results(harness_out, root, known=KNOWN, build=False)


def test_a_reference_implementation_is_named_by_its_package_and_marked_on_the_board(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A package users use today, scored through its own code (degzoo/reference/implementations/):
    the entry says which package and version computed it, and the board marks it as such."""
    harness_out = tmp_path / "harness"
    harness_out.mkdir()
    doc = make_result(submission=False, level="dynamics", params={"iters": 1500})
    doc["metric"]["name"] = "dsa_metric_ref"
    doc["environment"] = {**doc["environment"], "implementation": "dsa-metric 2.0.2"}
    (harness_out / "dsa_metric_ref.json").write_bytes(dump(doc))
    ship(monkeypatch, doc, role="reference implementation")
    root = tmp_path / "lb"
    [path] = add_reference_results(harness_out, root, known=KNOWN)
    assert json.loads(path.read_text())["submission"]["name"] == "dsa_metric_ref (dsa-metric 2.0.2)"
    [entry] = validate_tree(root, known=KNOWN)
    assert entry.role == "reference implementation" and not entry.reference  # not the level's ★
    board = (root / MARKDOWN_NAME).read_text("utf-8")
    [row] = [line for line in board.splitlines() if "dsa-metric 2.0.2" in line]
    assert "2.0.2\\) (ref. impl.)" in row and "★" not in row
    assert "badge ref-impl" in (root / "index.html").read_text("utf-8")


def test_reference_entries_of_one_metric_are_named_by_the_parameters_that_differ(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness_out = tmp_path / "harness"
    harness_out.mkdir()
    for variant in ("ood", "input_noise"):
        doc = make_result(submission=False, level="behaviour",
                          params={"variant": variant, "n_trials": 64, "noise": 0.1, "seed": 0})
        doc["metric"]["name"] = "behaviour_ood"
        (harness_out / f"{variant}.json").write_bytes(dump(doc))
    ship(monkeypatch, *(json.loads(p.read_text()) for p in harness_out.iterdir()))
    written = add_reference_results(harness_out, tmp_path / "lb", known=KNOWN, build=False)
    names = sorted(json.loads(p.read_text())["submission"]["name"] for p in written)
    assert names == ["behaviour_ood", "behaviour_ood (variant=input_noise)"]


def _cli(argv: list[str]) -> int:
    from degzoo.cli import leaderboard as cli

    parser = argparse.ArgumentParser(prog="degzoo")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    args, extra = parser.parse_known_args(argv)
    return cli.run(args, extra)


def test_cli_validate_and_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    registry = {name: lb_schema.KnownRelease(name, sha) for name, sha in KNOWN.items()}
    monkeypatch.setattr(lb_schema, "KNOWN_RELEASES", registry)
    root = _board(tmp_path)
    assert _cli(["leaderboard", "validate", str(root)]) == 0
    bad = make_result()
    bad["submission"]["paper_url"] = "file:///etc/passwd"
    bad_path = tmp_path / "bad.json"
    bad_path.write_bytes(dump(bad))
    assert _cli(["leaderboard", "validate", str(bad_path), "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert "submission.paper_url" in err and "http" in err
    assert _cli(["leaderboard", "build", "--root", str(root), "--no-parquet"]) == 0
    assert _cli(["leaderboard", "build", "--root", str(root), "--check"]) == 0
    old = tmp_path / "old"
    write_entry(old, make_result("Vanished"))
    assert _cli(["leaderboard", "validate", str(root), "--against", str(old)]) == 1
    assert "was removed" in capsys.readouterr().err


def test_control_track_ranks_by_degeneracy_reduction(tmp_path: Path) -> None:
    from degzoo.leaderboard import collect_board

    root = tmp_path / "lb"
    for doc in (make_control("Strong reducer", ratio=0.3, width=0.05),
                make_control("No effect", ratio=1.0, width=0.05), make_control("Broken", status="failed")):
        write_verified(root, write_entry(root, doc))
    (section,) = collect_board(root, known=KNOWN, n_boot=300).sections
    assert section.release == "control-track/small"
    assert section.columns == ("behaviour ratio", "dynamics ratio", "weights ratio")
    rows = {r.entry.entry_id: r for r in section.rows}
    assert rows["strong-reducer"].ranking.tier == 1 and rows["no-effect"].ranking.tier == 2
    assert rows["strong-reducer"].ranking.score == pytest.approx(-np.log(0.3))
    assert rows["broken"].ranking is None  # listed, not ranked
    assert [r.entry.entry_id for r in section.rows] == ["strong-reducer", "no-effect", "broken"]
    assert (root / "results" / "control" / "control-track--small" / "broken.json").is_file()


def test_failed_suites_score_zero_and_skipped_suites_drop_out(tmp_path: Path) -> None:
    from degzoo.leaderboard import collect_board

    root = tmp_path / "lb"
    good = make_result("Good", value=0.8)
    failing = make_result("Failing", value=0.8)
    failing["suites"]["trend"].update(status="timeout", message="time limit 60 s hit")
    for doc in (good, failing):
        doc["suites"]["reliability"].update(status="skipped", message="needs two probe sets")
    write_entry(root, good)
    write_entry(root, failing)
    (section,) = collect_board(root, known=KNOWN, n_boot=300).sections
    rows = {r.entry.entry_id: r.ranking for r in section.all_rows}
    assert rows["good"].score == pytest.approx(0.8)  # mean over the 4 suites that apply
    assert rows["failing"].score == pytest.approx(0.6)  # the timed-out suite counts 0


TINY_RECIPE = """
[release]
name = "tiny-lb"
seed = 7

[defaults]
members = 4
hidden = 8
training = { lr = 5e-3, batch_size = 8, max_steps = 20, steps_per_epoch = 10 }

[[condition]]
id = "ff-bits2"
task = { name = "flipflop", bits = 2, trial_length = 15 }

[[condition]]
id = "ff-bits2-l1"
task = { name = "flipflop", bits = 2, trial_length = 15 }
controls = [{ name = "l1", weight = 1e-2 }]
"""


def test_verify_reruns_the_real_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Harness result → submission → validate (with the harness's validator) → verify → board."""
    bench = pytest.importorskip("degzoo.benchmark", reason="the harness is not importable")
    from degzoo.benchmark.scoring import RANKED_SUITES
    from degzoo.zoo import open_release
    from degzoo.zoo.builder import build_release

    recipe = tmp_path / "tiny.toml"
    recipe.write_text(TINY_RECIPE)
    zoo = build_release(recipe, tmp_path / "zoo", workers=1, progress=False)
    rel = open_release(zoo)
    known = {rel.name: rel.sha256}
    run = bench.evaluate_metric("weights_perm", zoo, suites=list(RANKED_SUITES), progress=False,
                                time_limit=None)
    doc = json.loads(run.dumps())
    assert {s["status"] for s in doc["suites"].values()} <= {"ok", "skipped"}
    for name in lb_schema.METRIC_SUITES:  # a real submission runs them all; this test the ranked ones
        doc["suites"].setdefault(
            name,
            {
                "status": "skipped",
                "scores": {},
                "details": {},
                "message": "not run in this test",
                "seconds": 0.0,
            },
        )
    doc["submission"] = {
        "name": "Frobenius",
        "authors": "degzoo tests",
        "code_url": None,
        "paper_url": None,
        "package": {"name": "degzoo", "version": degzoo.__version__},
    }
    root = tmp_path / "lb"
    path = write_entry(root, doc)
    assert validate_file(path, known=known).track == "metric-weights"

    record, out = verify_result(path, known=known, release=zoo)
    assert out is not None and out.is_file()
    assert record["status"] == "verified", [d for d in record["differences"] if not d["ok"]]
    assert {d["suite"] for d in record["differences"]} == {"identity", *RANKED_SUITES}
    with pytest.raises(degzoo.errors.InvalidParameterError, match="from 8 to the result's 16"):
        verify_result(path, known=known, release=zoo, max_members=3)  # too few to bound its error
    build_board(root, known=known, parquet=False, n_boot=200)
    assert 'class="badge verified"' in (root / HTML_NAME).read_text("utf-8")

    with pytest.raises(degzoo.errors.DegzooError, match="not the zoo release"):
        verify_result(path, known=known, release=tmp_path)


# --------------------------------------------------------------------------------------------
# forgeries (issue 10): each passed `leaderboard validate` and `build` before
# --------------------------------------------------------------------------------------------


def _ranked_scores(root: Path) -> dict[str, float]:
    from degzoo.leaderboard import collect_board

    board = collect_board(root, known=KNOWN, n_boot=200)
    return {row.entry.entry_id: row.ranking.score for sec in board.sections for row in sec.all_rows}


@pytest.mark.parametrize("forgery", ["inflated", "invented"])
def test_a_summary_that_disagrees_with_the_suites_is_rejected_and_never_ranks(
    tmp_path: Path, forgery: str
) -> None:
    doc = make_result("Forger", value=0.7)
    if forgery == "inflated":  # a summary value above the suite's own score
        doc["summary"][f"trend.{TREND}"] = score(1.0, 0.0)
        field = f"summary.trend.{TREND}"
    else:  # a summary key no suite reports
        doc["summary"]["trend.fabricated_auroc"] = score(1.0, 0.0)
        field = "summary.trend.fabricated_auroc"
    problems = check_document(doc, known=KNOWN)
    assert [p.field for p in problems] == [field], problems
    assert "copies suite scores" in problems[0].message

    # and the ranking reads the suites, not the file's summary
    from degzoo.leaderboard.tiers import entry_units

    assert entry_units(doc) == entry_units(make_result("Forger", value=0.7))
    root = tmp_path / "lb"
    write_entry(root, make_result("Honest", value=0.75))
    path = write_entry(root, doc)
    with pytest.raises(SubmissionError, match=field):
        build_board(root, known=KNOWN, parquet=False, n_boot=200)
    path.unlink()
    write_entry(root, make_result("Forger", value=0.7))
    scores = _ranked_scores(root)
    assert scores["forger"] == pytest.approx(0.7) and scores["honest"] > scores["forger"]


def test_a_reference_flag_is_rejected_and_only_shipped_content_is_a_reference(tmp_path: Path) -> None:
    flagged = make_result("Self-declared")
    flagged["submission"]["reference"] = True
    problems = check_document(flagged, known=KNOWN)
    assert [p.field for p in problems] == ["submission.reference"]
    assert "only results that degzoo itself ships" in problems[0].message

    # the shipped board: its entries are references, negative controls or reference implementations
    # because their content is shipped in degzoo/reference (metrics/, negative-controls/, implementations/)
    shipped_root = Path(__file__).resolve().parents[1] / "leaderboard"
    entries = [e for e in validate_tree(shipped_root) if e.role == "reference"]
    controls = [e for e in validate_tree(shipped_root) if e.role == "negative control"]
    shipped = shipped_root.parent / "degzoo" / "reference"
    releases = {e.release for e in entries}
    assert len(entries) == len(list((shipped / "metrics").rglob("*.json"))) >= 4 * len(releases)
    assert all(e.reference for e in entries)
    assert len(controls) == len(list((shipped / "negative-controls").rglob("*.json"))) == 15 * len(releases)
    assert not any(e.reference for e in controls)
    # the reference implementations: named after the package and version that computed them
    implementations = [e for e in validate_tree(shipped_root) if e.role == "reference implementation"]
    assert len(implementations) == len(list((shipped / "implementations").rglob("*.json")))
    for e in implementations:
        assert not e.reference
        assert e.name.endswith(f"({e.doc['environment']['implementation']})"), e.name
    baselines = [e for e in validate_tree(shipped_root) if e.role == "baseline"]
    assert len(baselines) == len(list((shipped / "baselines").rglob("*.json"))) >= 2
    # a copy of a shipped result with one score changed is an ordinary entry, not a reference
    doc = json.loads(entries[0].path.read_text())
    doc["suites"]["discriminability"]["details"]["note"] = "edited"
    assert lb_schema.shipped_role(doc) is None
    # a shipped result submitted under another package is refused (maintainers add it)
    doc = json.loads(entries[0].path.read_text())
    doc["submission"]["package"] = {"name": "my-metric", "version": "1.0.0"}
    doc["submission"]["name"] = "Not mine"
    assert [p.field for p in check_document(doc)] == ["submission"]


def test_the_shipped_board_is_built_from_its_results_by_this_renderer() -> None:
    shipped_root = Path(__file__).resolve().parents[1] / "leaderboard"
    stale = build_board(shipped_root, check=True).stale
    assert stale == [], f"run `degzoo leaderboard build` and commit {stale}"


def test_verify_imports_only_modules_of_the_pinned_package(tmp_path: Path) -> None:
    from degzoo.leaderboard.verify import _check_module

    root = tmp_path / "lb"
    for name, where, spec in [("Entry", "entry", "json:loads"), ("By name", "metric", "os:getcwd")]:
        doc = make_result(name, package="degzoo", version=degzoo.__version__)
        if where == "entry":
            doc["submission"]["package"]["entry"] = spec
        else:
            doc["metric"]["name"] = spec
        path = write_entry(root, doc)
        with pytest.raises(degzoo.errors.DegzooError, match="is not a module of the pinned package 'degzoo'"):
            verify_result(path, known=KNOWN, evaluate=lambda m, **k: {})
    entry = validate_file(path, known=KNOWN)
    _check_module(entry, "degzoo.metrics.registry:get")  # a module of degzoo itself is allowed


def test_the_board_publishes_the_schema_and_it_alone_checks_the_shipped_entries() -> None:
    """What someone without torch does: jsonschema and the board's result.schema.json, nothing else."""
    from jsonschema import Draft202012Validator

    board = Path(__file__).resolve().parents[1] / "leaderboard"
    schema = json.loads((board / "result.schema.json").read_text("utf-8"))
    assert schema == result_schema()
    validator = Draft202012Validator(schema)
    files = sorted((board / "results").glob("*/*/*.json"))
    assert files and all(not list(validator.iter_errors(json.loads(f.read_text()))) for f in files)
    forged = json.loads(files[0].read_text())
    forged["submission"]["reference"] = True
    assert [list(e.absolute_path) for e in validator.iter_errors(forged)] == [["submission", "reference"]]


def test_the_control_columns_are_computed_from_the_suites_not_the_summary(tmp_path: Path) -> None:
    from degzoo.leaderboard import collect_board

    doc = make_control("Forged control", ratio=0.7)
    for key in doc["summary"]:
        doc["summary"][key] = score(0.1, 0.0, 0.01, 10.0)  # "ten times less degenerate"
    root = tmp_path / "lb"
    write_entry(root, doc)
    (row,) = collect_board(root, known=KNOWN, n_boot=100).sections[0].all_rows
    for level in ("behaviour", "dynamics", "weights"):
        value, low, high = row.suite_scores[f"{level} ratio"]
        assert value == pytest.approx(0.7) and low < 0.7 < high
