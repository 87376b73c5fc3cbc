"""The report: ladder degeneracy on a tiny release, the HTML page, and (with Chromium) its figures."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest

from degzoo import metrics
from degzoo.benchmark.figures import classical_mds
from degzoo.benchmark.report import compute_ladder_degeneracy, load_results, render_report, write_report
from degzoo.errors import InvalidParameterError
from degzoo.zoo import Release
from degzoo.zoo.builder import build_release

# threshold 2.0: members "converge" within the first epoch; ff-bits3 never does (threshold 1e-9)
RECIPE = """
[release]
name = "tiny-report"
seed = 3

[defaults]
members = 4
hidden = 8

[defaults.training]
lr = 1e-2
batch_size = 8
max_steps = 30
steps_per_epoch = 10
patience_epochs = 1
threshold = 2.0

[[condition]]
id = "ff-bits1"
task = { name = "flipflop", bits = 1, trial_length = 15 }

[[condition]]
id = "ff-bits2"
task = { name = "flipflop", bits = 2, trial_length = 15 }

[[condition]]
id = "ff-bits3"
task = { name = "flipflop", bits = 3, trial_length = 15 }
training = { threshold = 1e-9 }

[[condition]]
id = "ff-bits2-l1-a"
task = { name = "flipflop", bits = 2, trial_length = 15 }
controls = [{ name = "l1", weight = 1e-3 }]

[[condition]]
id = "ff-bits2-l1-b"
task = { name = "flipflop", bits = 2, trial_length = 15 }
controls = [{ name = "l1", weight = 1e-2 }]

[[ladder]]
name = "ff-bits"
factor = "complexity"
conditions = ["ff-bits1", "ff-bits2", "ff-bits3"]
values = [1, 2, 3]

[[ladder]]
name = "ff-l1"
factor = "regularisation"
conditions = ["ff-bits2", "ff-bits2-l1-a", "ff-bits2-l1-b"]
values = [0.0, 1e-3, 1e-2]
"""

CHEAP_METRICS = {
    "behaviour_ood": {"n_trials": 8},
    "dsa": {"n_delays": 3, "rank": 4, "n_starts": 1, "max_iter": 50},
    "weights_perm": {"n_starts": 0, "n_kicks": 2},
}


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    recipe = root / "tiny.toml"
    recipe.write_text(RECIPE)
    return build_release(recipe, root / "release", workers=1, progress=False)


@pytest.fixture(scope="module")
def ladder_data(tiny_release):
    return compute_ladder_degeneracy(tiny_release, CHEAP_METRICS, max_members=3, seed=0, n_boot=200,
                                     map_members=3)


@pytest.fixture(scope="module")
def report_html(ladder_data, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    _control_result(results / "control-l1-test.json")
    _metric_result(results / "my_metric.json")
    (results / "notes.json").write_text('{"hello": 1}')
    page = tmp_path_factory.mktemp("page") / "report.html"
    write_report(page, ladder_data, load_results(results))
    return page


def _control_result(path: Path) -> None:
    """A small, valid control result written by the control track itself."""
    from test_control_track import TEST_BUDGET

    from degzoo.benchmark.control import BUDGETS, run_control_track

    BUDGETS["test"] = TEST_BUDGET
    try:
        result = run_control_track("l1", params={"weight": 1e-3}, budget="test", out_dir=None,
                                   workers=1, progress=False)
    finally:
        BUDGETS.pop("test", None)
    path.write_text(json.dumps(result))


def _metric_result(path: Path) -> None:
    from degzoo.benchmark.results import MetricResult, Score, SuiteResult

    suites = {"conformance": SuiteResult(scores={"symmetry": Score.exact(1.0, 6),
                                                 "zero_self": Score.exact(1.0, 6),
                                                 "extra_detail": Score(0.5, 0.4, 0.6, 6)}),
              "trends": SuiteResult(status="skipped", message="needs a <ladder> release")}
    MetricResult(zoo={"release": "tiny-report", "manifest_sha256": "0" * 64},
                 metric={"name": "my_metric", "level": "dynamics", "params": {"k": 3},
                         "invariances": ["permutation"]},
                 suites=suites, summary={"conformance.symmetry": Score.exact(1.0, 6)}).write(path)


def test_ladder_data_is_json_with_cis(ladder_data, tiny_release):
    text = json.dumps(ladder_data, allow_nan=False)  # strict JSON: the lead ships it as is
    assert json.loads(text) == ladder_data
    assert ladder_data["settings"]["max_members"] == 3
    assert "first 3" in ladder_data["settings"]["member_rule"]
    assert [m["name"] for m in ladder_data["metrics"]] == ["behaviour_ood", "dsa", "weights_perm"]
    conds = ladder_data["conditions"]
    assert set(conds) == {"ff-bits1", "ff-bits2", "ff-bits3", "ff-bits2-l1-a", "ff-bits2-l1-b"}
    c = conds["ff-bits2"]
    assert c["converged"] == 4 and c["used"] == [0, 1, 2] and c["converged_only"]
    for name in ("behaviour_ood", "dsa", "weights_perm"):
        est = c["levels"][name]["estimate"]
        assert est["n"] == 3 and est["low"] <= est["high"]
    assert np.asarray(c["levels"]["dsa"]["pairwise"]).shape == (3, 3)
    # weight-level values carry their null: the same distance between the members' initial weights
    assert "initial_estimate" in c["levels"]["weights_perm"] and "initial_estimate" not in c["levels"]["dsa"]
    with Release(tiny_release).ensemble("ff-bits2") as ens:
        used = ens.subset([0, 1, 2])
        null = metrics.get("weights_perm", **CHEAP_METRICS["weights_perm"]).pairwise(
            used.with_params(used.initial_params))
    off_diagonal = null[~np.eye(3, dtype=bool)].mean()
    # the null's pairs are consecutive members (0-1, 1-2, 2-0): with 3 members, every pair
    assert len(c["levels"]["weights_perm"]["initial_pairs"]) == 3
    assert c["levels"]["weights_perm"]["initial_estimate"]["value"] == pytest.approx(off_diagonal)
    # ff-bits3 never converged: it falls back to its finite members and says so
    assert conds["ff-bits3"]["converged"] == 0 and not conds["ff-bits3"]["converged_only"]
    ladders = {lad["name"]: lad for lad in ladder_data["ladders"]}
    bits = ladders["ff-bits"]["levels"]["weights_perm"]
    assert bits["verdict"] == "n/a" and "ff-bits3" in bits["note"] and bits["expected"] == 1
    reg = ladders["ff-l1"]["levels"]
    for name, st in reg.items():
        assert st["expected"] == -1
        assert st["verdict"] in ("reproduces", "opposite", "inconclusive")
        assert -1 <= st["spearman"]["low"] <= st["spearman"]["high"] <= 1
        assert st["delta"]["low"] <= st["delta"]["high"], name
    # joint maps only for the ladder whose conditions share a task, and not for behaviour
    maps = ladder_data["maps"]
    assert {(m["ladder"], m["metric"]) for m in maps} == {("ff-l1", "dsa"), ("ff-l1", "weights_perm")}
    for m in maps:
        mat = np.asarray(m["matrix"])
        assert mat.shape == (9, 9) and np.allclose(mat, mat.T) and np.all(np.diag(mat) == 0)
        assert m["labels"] == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_joint_map_blocks_match_the_within_condition_distances(ladder_data):
    m = next(m for m in ladder_data["maps"] if m["metric"] == "weights_perm")
    mat = np.asarray(m["matrix"])
    within = np.asarray(ladder_data["conditions"]["ff-bits2"]["levels"]["weights_perm"]["pairwise"])
    np.testing.assert_allclose(mat[:3, :3], within)


def test_classical_mds_recovers_a_planar_configuration():
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(7, 2))
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1)
    coords, explained = classical_mds(d)
    d2 = np.linalg.norm(coords[:, None] - coords[None], axis=-1)
    np.testing.assert_allclose(d2, d, atol=1e-9)
    assert explained == pytest.approx(1.0)


def test_report_is_self_contained_and_escaped(report_html, ladder_data):
    page = report_html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    # no external assets: every src is an inline PNG, no links to stylesheets or scripts
    srcs = re.findall(r'src="([^"]+)"', page)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<link" not in page and "<script" not in page and "http://" not in page
    # one figure per ladder, one MDS figure per ladder
    assert len(srcs) == len(ladder_data["ladders"]) * 2
    for text in ("Which of the paper", "ff-l1", "at init", "trained/init ×", "ff-bits3", "Scorecards",
                 "control: l1",
                 "notes.json", "not a degzoo result file", "MDS", "metric: my_metric",
                 "symmetry: 1 [1, 1]", "skipped", "needs a &lt;ladder&gt; release", "Board score"):
        assert text in page, text
    # a metric's scorecard shows its summary's main scores, and says how many more there are
    assert "extra_detail" not in page and "2 more score(s)" in page
    # strings from data are escaped
    data = json.loads(json.dumps(ladder_data))
    data["conditions"]["ff-bits1"]["errors"]["dsa"] = "<script>alert(1)</script>"
    data["release"]["name"] = "<b>evil</b>"
    evil = render_report(data)
    assert "<script>alert" not in evil and "&lt;script&gt;" in evil and "<b>evil</b>" not in evil


def test_a_metric_that_cannot_compare_a_ladder_is_a_sentence_not_an_exception(ladder_data, report_html):
    data = json.loads(json.dumps(ladder_data))
    entry = data["maps"][0]
    for key in ("matrix", "labels"):
        entry.pop(key)
    entry["skipped"] = "cannot compare networks of 16 and 32 units"
    page = render_report(data)
    assert f"no {entry['level']} map: {entry['metric']} does not compare the networks" in page
    assert "16 and 32 units" in page and "InvalidParameterError" not in page
    # the footer names the ladder metrics and, separately, every scorecard shown
    footer = report_html.read_text().rsplit("Generated by degzoo", 1)[1]
    assert "Scorecards: " in footer and "my_metric" in footer


def test_render_rejects_other_data():
    with pytest.raises(InvalidParameterError, match="compute_ladder_degeneracy"):
        render_report({"conditions": {}})


def test_unknown_ladder_is_a_clear_error(tiny_release):
    with pytest.raises(InvalidParameterError, match="no ladder"):
        compute_ladder_degeneracy(tiny_release, CHEAP_METRICS, ladders=["nope"])


def test_cli_report_from_saved_data(ladder_data, tmp_path):
    import argparse

    from degzoo.cli import report as cli

    data = tmp_path / "ladders.json"
    data.write_text(json.dumps(ladder_data))
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "r.html"
    args = parser.parse_args(["report", "--data", str(data), "--out", str(out), "--quiet"])
    assert args.run(args, []) == 0
    assert out.read_text().count("data:image/png;base64,") == 4


def test_cli_evaluate_writes_the_report_with_its_scorecards(tiny_release, tmp_path, monkeypatch):
    import argparse

    from degzoo.benchmark import report as report_module
    from degzoo.cli import evaluate as cli

    monkeypatch.setattr(report_module, "DEFAULT_METRICS", CHEAP_METRICS)
    parser = argparse.ArgumentParser()
    cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "run"
    common = ["evaluate", "--release", str(tiny_release), "--metric", "cka", "--suites",
              "conformance", "--max-members", "3", "--out", str(out), "--quiet"]
    args = parser.parse_args(common)
    assert args.run(args, []) == 0
    assert not (out / "report.html").exists()  # with --metric: no report unless asked
    args = parser.parse_args([*common, "--report", "--resume"])  # the result is kept, not replaced
    assert args.run(args, []) == 0
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3
    assert "cka" in page


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


CHECK_SCRIPT = """
<script>
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var bad = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var out = document.createElement('pre');
  out.id = 'img-check';
  out.textContent = 'IMAGES ' + imgs.length + ' BROKEN ' + bad.length + ' WIDTHS ' +
    imgs.map(function (i) { return i.naturalWidth; }).join(',') +
    ' PAGE ' + document.documentElement.scrollWidth;
  document.body.appendChild(out);
});
</script>
"""


@pytest.mark.browser
def test_every_figure_renders_in_chromium(report_html, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("Chromium is not installed (apt-get install chromium); CI installs it")
    page = tmp_path / "checked.html"
    page.write_text(report_html.read_text().replace("</body>", CHECK_SCRIPT + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--window-size=1280,900",
             "--dump-dom", page.as_uri()],
            capture_output=True, text=True, timeout=120,
        )
    assert proc.returncode == 0, proc.stderr[-2000:]
    found = re.search(r"IMAGES (\d+) BROKEN (\d+) WIDTHS ([\d,]*) PAGE (\d+)", proc.stdout)
    assert found, f"the check script did not run; stderr: {proc.stderr[-2000:]}"
    n, broken = int(found.group(1)), int(found.group(2))
    assert n == report_html.read_text().count("<img") and n > 0
    assert broken == 0, found.group(0)
    assert all(int(w) > 300 for w in found.group(3).split(","))
    assert int(found.group(4)) <= 1280  # the page fits a 1280 px window: no sideways scrolling


def test_the_report_takes_the_suites_distances_through_their_runners(tiny_release, ladder_data):
    """One measurement cache: what the suites computed is not measured again, and the data equal
    the report's own measurement."""
    from degzoo.benchmark.store import MetricRunner

    objs = [metrics.get(name, **params) for name, params in CHEAP_METRICS.items()]
    release = Release(tiny_release)
    runners = {m.name: MetricRunner(m, release) for m in objs}
    for cid, cond in ladder_data["conditions"].items():  # what the suites computed
        for runner in runners.values():
            (runner.member_scores if runner.behaviour else runner.within)(cid, np.array(cond["used"]))
    runners["dsa"].between("ff-bits2", np.arange(3), "ff-bits2-l1-a", np.arange(3))
    data = compute_ladder_degeneracy(release, objs, max_members=3, seed=0, n_boot=200, map_members=3,
                                     runners=runners)
    assert runners["dsa"].total.calls == 0 and runners["behaviour_ood"].total.calls == 0
    assert runners["weights_perm"].total.calls > 0  # the null at init: computed through it, once
    # equal up to float round-off: the runners hand the metric relabelled networks (no unit identity)
    _assert_close(_timeless(data["conditions"]), _timeless(ladder_data["conditions"]))
    _assert_close(data["ladders"], ladder_data["ladders"])
    _assert_close([m.get("matrix") for m in data["maps"]], [m.get("matrix") for m in ladder_data["maps"]])
    # a runner of other parameters is not taken
    other = {"dsa": MetricRunner(metrics.get("dsa", n_delays=2, rank=3, n_starts=1), release)}
    compute_ladder_degeneracy(release, objs[1:2], max_members=3, n_boot=50, maps=False, runners=other)
    assert other["dsa"].total.calls == 0


def test_report_marks_unfinished_suites_and_captions_saved_maps(ladder_data):
    from degzoo.benchmark.results import MetricResult, Score, SuiteResult

    suites = {"conformance": SuiteResult(scores={"checks_passed": Score.exact(1.0, 6)}),
              "trend": SuiteResult(status="timeout", message="time limit of 600 s reached"),
              "agreement": SuiteResult(status="skipped", message="the reference metric")}
    command = "degzoo evaluate --metric cka --out x --resume"
    result = MetricResult(zoo={"release": "tiny-report", "manifest_sha256": "0" * 64},
                          metric={"name": "cka", "level": "representation", "params": {}, "invariances": []},
                          suites=suites, summary={"conformance.checks_passed": Score.exact(1.0, 6)},
                          cost={"incomplete": {"suites": ["trend"], "complete_with": command}}).to_json()
    data = json.loads(json.dumps(ladder_data))
    data["maps"] = []  # as saved with --no-maps
    page = render_report(data, [result])
    assert "metric: cka <span class='small'>(default parameters)</span>" in page and "()" not in page
    for status in ("timeout", "skipped", "incomplete"):
        assert f'<span class="badge {status}">{status}</span>' in page and f".{status}" in page
    assert "Incomplete: suite(s) trend did not finish" in page and command in page
    assert "Board score" not in page
    # without joint maps, only the ladder of different tasks is said to be of different tasks
    assert page.count("Its conditions are different tasks") == 1
    assert page.count("This data holds no joint distances for this ladder") == 1


@pytest.mark.parametrize("argv, expect", [
    (["--n-boot", "-5"], "--n-boot must be at least 10 bootstrap resamples, got -5"),
    (["--max-members", "1"], "--max-members must be 0 (all) or at least 2"),
    (["--map-members", "-1"], "--map-members must be >= 0"),
    (["--workers", "0"], "--workers must be a positive number of processes, got 0"),
])
def test_report_bad_numbers_are_one_line_errors(capsys, tmp_path, argv, expect):
    from degzoo.cli import main

    assert main(["report", *argv, "--out", str(tmp_path / "r.html"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0] and "Traceback" not in err[0], err
    assert not (tmp_path / "r.html").exists()


def test_two_workers_give_the_same_ladder_data_as_one(tiny_release, ladder_data):
    """The report measures conditions on the package's engine (forked workers, as metrics do)."""
    two = compute_ladder_degeneracy(tiny_release, CHEAP_METRICS, max_members=3, seed=0, n_boot=200,
                                    map_members=3, workers=2)
    for cid, cond in ladder_data["conditions"].items():
        for name, level in cond["levels"].items():
            assert two["conditions"][cid]["levels"][name]["estimate"] == level["estimate"], (cid, name)
    assert [m.get("matrix") for m in two["maps"]] == [m.get("matrix") for m in ladder_data["maps"]]


def test_a_long_measurement_says_it_is_still_running(tiny_release, monkeypatch):
    """Metrics report only when a condition is done: meanwhile a heartbeat line says the report is alive."""
    import degzoo.progress

    monkeypatch.setattr(degzoo.progress, "LOG_INTERVAL", 0.05)
    lines: list[str] = []
    compute_ladder_degeneracy(tiny_release, {"dsa": CHEAP_METRICS["dsa"]}, ladders=["ff-l1"], max_members=3,
                              n_boot=50, map_members=0, progress=lines.append)
    beats = [line for line in lines if "still running" in line]
    assert beats and beats[0].startswith("measuring 3 conditions: still running, ")


def test_a_stopped_report_resumes_from_its_cache(tiny_release, tmp_path, monkeypatch):
    """Conditions measured before a stop are kept and reused, and the report is the one computed whole."""
    import degzoo.benchmark.report as report_module

    metrics = {"weights_perm": CHEAP_METRICS["weights_perm"]}
    kwargs = dict(ladders=["ff-l1"], max_members=3, seed=0, n_boot=50, maps=False)
    whole = compute_ladder_degeneracy(tiny_release, metrics, **kwargs)

    measure, measured = report_module._measure_condition, []

    def stop_after_two(root, cid, *args):
        if len(measured) == 2:
            raise KeyboardInterrupt
        measured.append(cid)
        return measure(root, cid, *args)

    monkeypatch.setattr(report_module, "_measure_condition", stop_after_two)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)
    assert sorted(p.stem for p in cache.glob("*.json")) == sorted(measured)

    measured.clear()
    resumed = compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)
    assert measured == ["ff-bits2-l1-b"]  # only the condition the stopped run had not reached
    assert _timeless(resumed["conditions"]) == _timeless(whole["conditions"])
    assert resumed["ladders"] == whole["ladders"]

    with pytest.raises(InvalidParameterError, match=r"other settings \(max_members differ\)"):
        compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **{**kwargs, "max_members": 2})
    (cache / "ff-bits2.json").write_text("{not json")
    with pytest.raises(InvalidParameterError, match=r"ff-bits2.json cannot be read.*delete it"):
        compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)


def _assert_close(a, b, path="") -> None:
    """``a == b``, floats to 1e-6 relative (and 1e-9 absolute)."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9, nan_ok=True), path
    else:
        assert a == b, path


def _timeless(obj):
    """``obj`` without its ``seconds`` fields (timings differ between two runs of the same work)."""
    if isinstance(obj, dict):
        return {k: _timeless(v) for k, v in obj.items() if k != "seconds"}
    return obj


def test_the_cache_follows_a_conditions_networks_not_the_release(tiny_release, tmp_path, monkeypatch):
    """A snapshot of a build in progress is a new release each time: the conditions it shares with
    an earlier one (the same shard, by sha256) are not measured again; a condition whose networks
    changed is refused by name; a version-1 file (keyed by the manifest) still reads on its release."""
    import degzoo.benchmark.report as report_module
    from degzoo.zoo import open_release

    metrics = {"weights_perm": CHEAP_METRICS["weights_perm"]}
    kwargs = dict(ladders=["ff-l1"], max_members=3, seed=0, n_boot=50, maps=False)
    cache = tmp_path / "cache"
    first = compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)

    later = tmp_path / "later"
    shutil.copytree(tiny_release, later, ignore=shutil.ignore_patterns(".build"))
    manifest = json.loads((later / "manifest.json").read_text())
    manifest["release"] = "tiny-bench-partial"
    (later / "manifest.json").write_text(json.dumps(manifest))
    measure, measured = report_module._measure_condition, []
    monkeypatch.setattr(report_module, "_measure_condition",
                        lambda root, cid, *a: measured.append(cid) or measure(root, cid, *a))
    again = compute_ladder_degeneracy(open_release(later), metrics, cache=cache, **kwargs)
    assert measured == [] and again["ladders"] == first["ladders"]

    doc = json.loads((cache / "ff-bits2.json").read_text())
    doc["header"]["shard_sha256"] = "0" * 64
    (cache / "ff-bits2.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidParameterError, match=r"other settings \(shard_sha256 differ\)"):
        compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)

    header = {k: v for k, v in doc["header"].items() if k not in ("condition", "shard_sha256")}
    release = open_release(tiny_release)
    header.update(version=1, release=release.name, manifest_sha256=release.sha256)
    (cache / "ff-bits2.json").write_text(json.dumps({"header": header, "record": doc["record"]}))
    reread = compute_ladder_degeneracy(tiny_release, metrics, cache=cache, **kwargs)
    assert reread["ladders"] == first["ladders"]
    with pytest.raises(InvalidParameterError, match=r"manifest_sha256.*differ|differ.*manifest_sha256"):
        compute_ladder_degeneracy(open_release(later), metrics, cache=cache, **kwargs)
