"""``degzoo evaluate`` on bad input, Ctrl-C, parameters and leaderboard submissions (embedded zoo)."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
from test_benchmark_harness import AllNaN  # noqa: F401  (loaded by the CLI as test_cli_evaluate:AllNaN)

from degzoo.benchmark.harness import NOT_RUN
from degzoo.cli import build_parser, main
from degzoo.leaderboard.schema import check_document
from degzoo.metrics import FrobeniusWeightDistance


@dataclass
class Sleepy(FrobeniusWeightDistance):
    """One long call that never reaches a checkpoint (a third party's metric)."""

    name: ClassVar[str] = "sleepy"

    def compare(self, a: dict, b: dict, symmetric: bool) -> np.ndarray:
        time.sleep(3.0)
        return super().compare(a, b, symmetric)


LONG_NAME = FrobeniusWeightDistance()
LONG_NAME.name = "x" * 300  # type: ignore[misc]
ESCAPE_NAME = FrobeniusWeightDistance()
ESCAPE_NAME.name = "evil\x1b[2Jname"  # type: ignore[misc]


def _fails_in_one_line(capsys: pytest.CaptureFixture[str], argv: list[str], out: Path) -> str:
    """Run evaluate, expect exit 2 with one line on stderr, no traceback and nothing written."""
    assert main(["evaluate", "--out", str(out), "--quiet", *argv]) == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("degzoo evaluate: error: "), err
    assert "Traceback" not in err and "\x1b" not in err
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("threads", ["0", "-3", "100000"])
def test_absurd_thread_counts_are_refused(capsys, tmp_path, threads):
    line = _fails_in_one_line(capsys, ["--threads", threads], tmp_path / "out")
    assert f"--threads must be between 1 and {4 * (os.cpu_count() or 1)}" in line and line.endswith(threads)


@pytest.mark.parametrize(
    "argv, expect",
    [
        (["--metric", "no_such_metric"], "unknown metric 'no_such_metric'; available: behaviour_ood"),
        (["--metric", "no_such_module_for_degzoo:M"], "module 'no_such_module_for_degzoo' failed to import"),
        (["--metric", "test_cli_evaluate:LONG_NAME"], "is 300 characters long; use at most 100"),
        (["--metric", "test_cli_evaluate:ESCAPE_NAME"], r"metric name 'evil\x1b[2Jname' contains control"),
        (["--metric", "dsa\x07"], r"--metric 'dsa\x07' contains control"),
        (["--time-limit", "-1"], "--time-limit must be a number of seconds >= 0 (0: no limit), got -1.0"),
        (["--scorecard-seconds", "nan"], "--scorecard-seconds must be a number of seconds >= 0"),
        (["--max-members", "1"], "--max-members must be at least 2"),
        (["--workers", "0"], "--workers must be a positive number of processes, got 0"),
        (["--suites", "conformance,nope"], "unknown suite(s) ['nope']; choose from conformance"),
        (["--metric", "dsa", "--param", "rank"], "--param 'rank': write it as KEY=VALUE"),
        (["--metric", "dsa", "--param", "rnak=8"], "'dsa' has no parameter(s) rnak; its parameters: n_del"),
        (["--metric", "dsa", "--param", "rank=8", "--param", "rank=9"], "--param rank is given twice"),
        (["--metric", "dsa", "--param", "lamb=NaN"], "--param lamb=NaN: NaN and infinity cannot be recorded"),
        (["--param", "rank=8"], "--param applies to one metric"),
        (["--metric", "dsa", "--name", "x"], "needs both --name and --authors"),
        (["--metric", "dsa", "--name", "My DSA", "--authors", "A", "--code-url", "ftp://x"],
         "--code-url: 'ftp://x' is not valid; use an absolute http:// or https:// URL"),
        (["--metric", "dsa", "--name", "My DSA", "--authors", "A", "--package", "no such pkg==1"],
         "--package: "),
        (["--metric", "dsa", "--name", "My DSA", "--authors", "A", "--package", "no-such-dist-for-degzoo"],
         "--package 'no-such-dist-for-degzoo' is not installed"),
        (["--metric", "dsa", "--metric", "cka", "--name", "x", "--authors", "A"], "exactly one --metric"),
        (["--metric", "test_cli_evaluate:AllNaN", "--name", "x", "--authors", "A"],
         "cannot tell which installed package provides 'test_cli_evaluate:AllNaN' (module "
         "'test_cli_evaluate'); say it with --package NAME==VERSION"),
    ],
    ids=["unknown", "import", "long-name", "escape-name", "control-spec", "time-limit", "scorecard-nan",
         "max-members", "workers", "suites", "param-syntax", "param-unknown",
         "param-twice", "param-nan", "param-two-metrics", "name-without-authors", "bad-url", "bad-package",
         "package-not-installed", "name-two-metrics", "package-unknown"],
)
def test_bad_metrics_and_options_fail_once_before_any_suite(capsys, tmp_path, argv, expect):
    assert expect in _fails_in_one_line(capsys, argv, tmp_path / "out")


def test_every_suite_in_error_is_a_failure(capsys, tmp_path):
    code = main(["evaluate", "--metric", "test_cli_evaluate:AllNaN", "--suites", "conformance,trend",
                 "--out", str(tmp_path), "--quiet"])
    assert code == 1
    assert "every suite of 'all_nan' ended in an error" in capsys.readouterr().err
    data = json.loads((tmp_path / "results" / "all_nan.json").read_text())
    assert {s["status"] for s in data["suites"].values()} == {"error"}


def test_a_call_still_running_does_not_hold_up_or_abort_the_exit(capsys, tmp_path, monkeypatch):
    from degzoo.benchmark import harness

    monkeypatch.setattr(harness, "HARD_GRACE_SECONDS", 0.1)
    monkeypatch.setattr(harness, "HARD_FACTOR", 1.0)
    exits: list[int] = []
    monkeypatch.setattr(os, "_exit", exits.append)  # the process would end here, skipping shutdown
    code = main(["evaluate", "--metric", "test_cli_evaluate:Sleepy", "--suites", "conformance",
                 "--time-limit", "0.3", "--out", str(tmp_path), "--quiet"])
    assert code == 0 and exits == [0]
    out = capsys.readouterr().out
    assert "conformance       timeout" in out
    # a suite cut by a limit: the result says incomplete, how to complete it, and has no board score
    command = (f"degzoo evaluate --metric test_cli_evaluate:Sleepy --suites conformance --out {tmp_path} "
               "--resume")
    assert "INCOMPLETE: suite(s) conformance did not finish" in out
    assert not any(line.startswith("board score") for line in out.splitlines())
    assert f"complete it with: {command}" in out
    data = json.loads((tmp_path / "results" / "sleepy.json").read_text())
    assert data["cost"]["incomplete"] == {"suites": ["conformance"], "complete_with": command}
    for _ in range(250):  # let the call end before other tests run (they would see its thread)
        if not harness.abandoned_suites():
            break
        time.sleep(0.02)


def test_params_reach_the_metric_result_and_file_name(capsys, tmp_path):
    base = ["evaluate", "--metric", "weights_frobenius", "--suites", "conformance", "--out", str(tmp_path),
            "--quiet"]
    assert main([*base, "--param", "normalize=none", "--param", "use_io=true"]) == 0
    assert main(base) == 0
    results = tmp_path / "results"
    given = json.loads((results / "weights_frobenius--normalize-none--use_io-true.json").read_text())
    default = json.loads((results / "weights_frobenius.json").read_text())
    assert given["metric"]["params"] == {"normalize": "none", "use_io": True}
    assert default["metric"]["params"] == {"normalize": "entries", "use_io": False}


def test_resume_takes_the_finished_suites_and_refuses_another_run(capsys, tmp_path):
    base = ["evaluate", "--metric", "weights_frobenius", "--out", str(tmp_path)]
    assert main([*base, "--suites", "conformance", "--quiet"]) == 0
    capsys.readouterr()
    assert main([*base, "--suites", "conformance,reliability", "--resume"]) == 0
    # weights_frobenius fails conformance (relabelled twins are far): a finished suite, taken as it is
    assert "conformance       failed   (from " in capsys.readouterr().err
    doc = json.loads((tmp_path / "results" / "weights_frobenius.json").read_text())
    assert doc["cost"]["resumed_suites"] == ["conformance"]
    assert {name: suite["status"] for name, suite in doc["suites"].items()} == {
        "conformance": "failed", "reliability": "ok"}
    assert main([*base, "--suites", "conformance", "--seed", "3", "--resume", "--quiet"]) == 2
    assert "cannot resume" in capsys.readouterr().err


def test_evaluate_output_is_a_leaderboard_submission(capsys, tmp_path):
    code = main(["evaluate", "--metric", "weights_frobenius", "--suites", "conformance",
                 "--out", str(tmp_path), "--quiet", "--name", "My Frobenius",
                 "--authors", "A. Author, B. Author", "--code-url", "https://example.org/code"])
    assert code == 0
    doc = json.loads((tmp_path / "results" / "weights_frobenius.json").read_text())
    from degzoo import __version__

    assert doc["submission"] == {
        "name": "My Frobenius", "authors": "A. Author, B. Author", "code_url": "https://example.org/code",
        "paper_url": None,
        "package": {"name": "degzoo", "version": __version__,
                    "entry": "degzoo.metrics.weights:FrobeniusWeightDistance"},
    }
    # the leaderboard finds nothing wrong with the block or the rest of the file; what it misses
    # is only the suites this quick run left out, which evaluate said before running
    err = capsys.readouterr().err
    assert "warning: --name makes a leaderboard entry, but this run is not at the board's protocol" in err
    assert "suites calibration, trend" in err and "leaderboard validate` will refuse it" in err
    problems = check_document(doc)
    assert problems and all(p.field.startswith("suites") for p in problems), problems


def test_every_option_has_help_and_budget_is_a_deprecated_alias(capsys):
    parser = build_parser()
    evaluate = parser._subparsers._group_actions[0].choices["evaluate"]
    visible = [a for a in evaluate._actions if a.option_strings and a.help != "==SUPPRESS=="]
    assert {"--scorecard-seconds", "--param", "--name", "--authors", "--code-url", "--package", "--seed"} <= {
        s for a in visible for s in a.option_strings}
    assert [a.option_strings for a in visible if not a.help] == []
    assert parser.parse_args(["evaluate"]).scorecard_seconds == 0.0
    assert parser.parse_args(["evaluate", "--scorecard-seconds", "30"]).scorecard_seconds == 30.0
    assert capsys.readouterr().err == ""
    assert parser.parse_args(["evaluate", "--budget", "30"]).scorecard_seconds == 30.0
    assert "--budget is deprecated; use --scorecard-seconds" in capsys.readouterr().err


def test_hub_download_bars_are_off_in_a_log(monkeypatch):
    from huggingface_hub.utils import are_progress_bars_disabled, enable_progress_bars

    from degzoo.cli.evaluate import _open_release
    from degzoo.zoo import embedded_path

    args = build_parser().parse_args(["evaluate", "--release", str(embedded_path())])
    try:
        enable_progress_bars()
        monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
        _open_release(args)
        assert not are_progress_bars_disabled()
        monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
        _open_release(args)
        assert are_progress_bars_disabled()
    finally:
        enable_progress_bars()


def test_ctrl_c_during_dsa_exits_130_with_the_partial_result(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from degzoo.cli import main; sys.exit(main())", "evaluate",
         "--metric", "dsa", "--suites", "conformance,calibration", "--out", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr], daemon=True)
    reader.start()
    log = []
    try:
        while not any("scoring on" in line for line in log):  # the suites have started
            log.append(lines.get(timeout=60))
        # inside DSA's conformance (seconds of torch work, which releases the GIL: without the fix,
        # interpreter shutdown met the suite thread there and aborted the process in most tries)
        time.sleep(3.0)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    reader.join(5)
    while not lines.empty():
        log.append(lines.get())
    text = "".join(log)
    assert code == 130, text  # it was -6 (SIGABRT: "terminate called without an active exception")
    assert "terminate called" not in text and "Traceback" not in text
    data = json.loads((tmp_path / "results" / "dsa.json").read_text())
    assert data["cost"]["interrupted"] is True
    assert data["suites"]["conformance"]["message"] == "interrupted by the user"
    assert data["suites"]["calibration"]["status"] == "error"  # scores 0; a resumed run runs it
    assert data["suites"]["calibration"]["message"] == NOT_RUN


QUICK = ["evaluate", "--metric", "weights_frobenius", "--suites", "conformance", "--quiet"]


def test_a_result_in_out_is_never_replaced_unless_asked(capsys, tmp_path):
    assert main([*QUICK, "--out", str(tmp_path)]) == 0
    path = tmp_path / "results" / "weights_frobenius.json"
    before = path.read_bytes()
    capsys.readouterr()
    assert main([*QUICK, "--seed", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already holds weights_frobenius.json" in err[0]
    assert "--resume" in err[0] and "another --out" in err[0] and "--overwrite" in err[0]
    assert path.read_bytes() == before
    assert main([*QUICK, "--seed", "1", "--out", str(tmp_path), "--overwrite"]) == 0
    assert json.loads(path.read_text())["settings"]["seed"] == 1


def test_out_must_be_a_writable_folder_that_is_not_a_release(capsys, tmp_path):
    release = tmp_path / "release"
    release.mkdir()
    (release / "manifest.json").write_text("{}")
    for out, expect in ((release, "is a zoo release folder"), (Path("/proc/degzoo-out"),
                                                                 "cannot create the output folder")):
        assert main([*QUICK, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and expect in err[0] and "Traceback" not in err[0], err
    assert sorted(p.name for p in release.iterdir()) == ["manifest.json"]


def test_two_runs_cannot_write_one_out_at_once(capsys, tmp_path):
    import fcntl

    tmp_path.mkdir(exist_ok=True)
    with open(tmp_path / ".degzoo-evaluate.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another run holds it
        assert main([*QUICK, "--out", str(tmp_path)]) == 2
    assert "is being written by another degzoo evaluate" in capsys.readouterr().err
    assert not (tmp_path / "results" / "weights_frobenius.json").exists()
    assert main([*QUICK, "--out", str(tmp_path)]) == 0  # released: the next run goes ahead


@pytest.mark.parametrize("edit", ["status", "score", "hash"])
def test_an_edited_checkpoint_is_not_resumed(capsys, tmp_path, edit):
    name = "all_nan" if edit == "status" else "weights_frobenius"
    spec = "test_cli_evaluate:AllNaN" if edit == "status" else name
    base = ["evaluate", "--metric", spec, "--out", str(tmp_path), "--quiet"]
    assert main([*base, "--suites", "conformance"]) == (1 if edit == "status" else 0)
    path = tmp_path / "results" / f"{name}.json"
    doc = json.loads(path.read_text())
    suite = doc["suites"]["conformance"]
    if edit == "status":  # an error edited into ok would resume as finished and rank
        assert suite["status"] == "error"
        suite["status"] = "ok"
    elif edit == "score":  # in the suite and in the summary, consistently
        key, score = next(iter(suite["scores"].items()))
        score["value"] = score["low"] = score["high"] = 0.5
        if f"conformance.{key}" in doc["summary"]:
            doc["summary"][f"conformance.{key}"] = dict(score)
    else:
        del doc["cost"]["checkpoint_sha256"]
    path.write_text(json.dumps(doc, indent=2))
    capsys.readouterr()
    assert main([*base, "--suites", "conformance,reliability", "--resume"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was changed after it was written" in err[0], err


def test_defaults_of_the_main_job_never_cut_a_suite_and_use_every_core():
    from degzoo.cli.evaluate import _check_numbers
    from degzoo.engine import usable_cores

    args = build_parser().parse_args(["evaluate"])
    assert args.time_limit == 0.0 and args.workers is None
    _check_numbers(args)
    assert args.workers == usable_cores()


@pytest.mark.filterwarnings("error:Sending large graph")  # the jobs' data is scattered, not in the graph
def test_a_dask_cluster_gives_the_same_scores_as_one_process(capsys, tmp_path, monkeypatch):
    """--cluster local:N: one real LocalCluster for the run, whose workers compute the blocks."""
    pytest.importorskip("distributed")
    from degzoo import engine

    on_dask: list[str | None] = []
    run_dask = engine._run_dask

    def counted(fn, jobs, scheduler, cluster):
        on_dask.append(scheduler)
        yield from run_dask(fn, jobs, scheduler, cluster)

    monkeypatch.setattr(engine, "_run_dask", counted)
    base = ["evaluate", "--metric", "cka", "--suites", "trend,discriminability", "--max-members", "4",
            "--quiet"]
    assert main([*base, "--workers", "1", "--out", str(tmp_path / "one")]) == 0
    assert on_dask == []
    assert main([*base, "--cluster", "local:2", "--out", str(tmp_path / "dask")]) == 0
    assert on_dask and len(set(on_dask)) == 1  # every blocked call on the run's one cluster
    one, dask = (json.loads((tmp_path / run / "results" / "cka.json").read_text()) for run in ("one", "dask"))
    for name, suite in one["suites"].items():
        assert dask["suites"][name]["scores"] == suite["scores"], name
    assert dask["summary"] == one["summary"]


def test_an_unreachable_scheduler_is_one_line():
    pytest.importorskip("distributed")
    from degzoo.engine import dask_scheduler
    from degzoo.errors import InvalidParameterError

    unreachable = r"cannot reach the Dask scheduler at 'tcp://127.0.0.1:1'"
    with pytest.raises(InvalidParameterError, match=unreachable) as caught, \
            dask_scheduler("tcp://127.0.0.1:1", timeout=1.0):
        pass
    assert "\n" not in str(caught.value)
    with pytest.raises(InvalidParameterError, match="cluster must look like local:N"), \
            dask_scheduler(cluster="remote:2"):
        pass
