import subprocess
import sys

from degzoo.cli import main


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
