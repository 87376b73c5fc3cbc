import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from degzoo.cli import main
from degzoo.metrics.base import check_comparable
from degzoo.training import train_ensemble
from degzoo.zoo import Ensemble, open_release


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    assert "train" in out and "info" in out


def test_train_then_info(tmp_path, capsys):
    out = tmp_path / "ff.h5"
    code = main(["train", "--task", "flipflop", "--bits", "2", "--trial-length", "20", "--members", "2",
                 "--hidden", "8", "--steps", "20", "--steps-per-epoch", "10", "--seed", "3",
                 "--out", str(out), "--quiet"])
    assert code == 0 and out.exists()
    assert not (tmp_path / "ff.h5.ckpt").exists()
    assert "wrote" in capsys.readouterr().out
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "FlipFlop(bits=2" in text and "members    2" in text


def test_bad_input_gives_clear_message(tmp_path, capsys):
    assert main(["train", "--task", "flipflip", "--out", str(tmp_path / "x.h5")]) == 2
    assert "unknown task 'flipflip'" in capsys.readouterr().err.lower()
    assert main(["train", "--bits", "0", "--out", str(tmp_path / "x.h5")]) == 2
    assert "bits" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.h5")]) == 2
    assert "no such ensemble file" in capsys.readouterr().err


def test_console_script_runs():
    done = subprocess.run([sys.executable, "-m", "degzoo", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and "degzoo" in done.stdout


TINY = ["--task", "flipflop", "--bits", "1", "--members", "2", "--hidden", "8", "--steps", "20",
        "--steps-per-epoch", "10", "--quiet"]


def _one_line_error(capsys, *fragments, only=True):
    """The error is one line, the last on stderr (``only``: the only one: nothing ran before it)."""
    lines = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(lines) and lines[-1].startswith("degzoo train: error: "), lines
    assert len(lines) == 1 or not only, lines
    for fragment in fragments:
        assert fragment in lines[-1], lines


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--members", "-1"], "--members must be an integer in [1, 10000], got -1"),
        (["--members", "100000000"], "--members must be an integer in [1, 10000]"),
        (["--seed", "-1"], "--seed must be an integer >= 0, got -1"),
        (["--device", "tpu"], "--device 'tpu' is not a device"),
        (["--threads", "0"], "--threads must be an integer in [1, 1024], got 0"),
        (["--lr", "inf"], "lr must be a finite number in (0, 1]"),
        (["--lr", "1e10"], "lr must be a finite number in (0, 1]"),
        (["--lr-patience", "5"], "--lr-patience only apply to --lr-schedule plateau"),
        (["--lr-schedule", "plateau", "--lr-factor", "2"], "--lr-factor must be a number in (0, 1)"),
    ],
)
def test_train_refuses_bad_numbers_before_training(tmp_path, capsys, flags, message):
    out = tmp_path / "x.h5"
    assert main(["train", *TINY, *flags, "--out", str(out)]) == 2
    _one_line_error(capsys, message)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_train_refuses_cuda_without_cuda(tmp_path, capsys):
    assert main(["train", *TINY, "--device", "cuda", "--out", str(tmp_path / "x.h5")]) == 2
    _one_line_error(capsys, "CUDA is not available on this machine")


def test_train_refuses_an_unwritable_out_before_training(tmp_path, capsys, monkeypatch):
    def must_not_train(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr("degzoo.cli.train.train_ensemble", must_not_train)
    (tmp_path / "afile").write_text("x")
    assert main(["train", *TINY, "--out", str(tmp_path / "afile" / "x.h5")]) == 2
    _one_line_error(capsys, "afile is a file, not a folder")
    assert main(["train", *TINY, "--out", str(tmp_path)]) == 2
    _one_line_error(capsys, "is a folder; give a file name")


def test_train_never_overwrites_unasked(tmp_path, capsys):
    out = tmp_path / "ff.h5"
    out.write_bytes(b"precious data, not an ensemble")
    assert main(["train", *TINY, "--out", str(out)]) == 2
    _one_line_error(capsys, "exists; pass --overwrite")
    assert out.read_bytes() == b"precious data, not an ensemble"
    assert main(["train", *TINY, "--out", str(out), "--overwrite"]) == 0
    with Ensemble.open(out) as ens:
        assert len(ens) == 2


def test_train_defaults_to_the_zoos_task_and_warns_when_few_converge(tmp_path, capsys):
    out = tmp_path / "ff1.h5"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert "warning: only 0/2 members converged" in capsys.readouterr().err
    with Ensemble.open(out) as mine, open_release().ensemble("flipflop-bits1") as zoo:
        assert mine.task == zoo.task  # trial_length 60, not the task's default 100
        check_comparable("any metric", mine, zoo)  # same task and probe set: metrics may compare them


def test_train_fails_when_every_member_diverged(tmp_path, capsys, monkeypatch):
    from degzoo.cli import train as train_cli

    def diverging(*args, **kwargs):
        result = train_ensemble(*args, **kwargs)
        result.status = np.full(len(result.status), "diverged")
        return result

    monkeypatch.setattr(train_cli, "train_ensemble", diverging)
    out = tmp_path / "dd.h5"
    assert main(["train", *TINY, "--out", str(out)]) == 2
    _one_line_error(capsys, "all 2 members diverged", "lower --lr", only=False)
    assert list(tmp_path.iterdir()) == []  # no file, no checkpoint


def test_train_help_lists_task_parameters(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "flipflop: --bits 3, --trial-length 60*" in text and "--delay-max 20" in text
    assert "ensemble seed, an integer >= 0" in text and "--overwrite" in text


def test_closed_pipe_ends_quietly():
    proc = subprocess.Popen([sys.executable, "-m", "degzoo", "zoo", "list"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before degzoo writes, as with `| head -1`
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait() == 141 and err == ""


def test_progress_in_a_redirected_log_is_a_few_lines(tmp_path):
    """tqdm redraws ten times a second on a terminal; into a log it writes a line per 30 s at most."""
    cmd = [sys.executable, "-m", "degzoo", "train", "--task", "flipflop", "--bits", "1",
           "--trial-length", "20", "--members", "2", "--hidden", "8", "--steps", "1500", "--lr", "1e-4",
           "--out", str(tmp_path / "a.h5")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    progress = [line for line in out.stderr.replace("\r", "\n").splitlines() if "train flipflop" in line]
    assert 1 <= len(progress) <= 4, progress


def test_sigterm_stops_training_like_ctrl_c_even_in_a_background_job(tmp_path):
    """`kill` (SIGTERM) keeps the checkpoint and exits 130, also when the job was started with
    SIGINT ignored, as `cmd &` does."""
    out = tmp_path / "ens.h5"
    cmd = [sys.executable, "-m", "degzoo", "train", "--members", "2", "--hidden", "8", "--steps", "100000",
           "--steps-per-epoch", "10", "--task", "flipflop", "--trial_length", "10", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.stderr is not None
    assert proc.stderr.readline().startswith("training 2 ×")  # training has started
    time.sleep(2.0)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    assert proc.returncode == 130, err
    assert "state saved to" in err and (tmp_path / "ens.h5.ckpt").is_file() and not out.exists()


def test_every_option_and_argument_of_every_command_has_help():
    """`degzoo CMD [SUB] --help` explains everything it lists (deprecated aliases are hidden)."""
    import argparse

    from degzoo.cli import build_parser

    def parsers(parser, path):
        yield path, parser
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    yield from parsers(sub, f"{path} {name}")

    missing = [f"{path}: {action.option_strings or action.dest}"
               for path, parser in parsers(build_parser(), "degzoo")
               for action in parser._actions
               if not isinstance(action, (argparse._SubParsersAction, argparse._HelpAction))
               and action.help is None]
    assert missing == []
