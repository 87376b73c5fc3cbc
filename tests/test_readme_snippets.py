"""The README's Python snippets run as a reader copies them: each block alone, in a fresh process.

Convention: a ```python block right after a line ``<!-- skip-test -->`` is not run (it needs a Hub
release, or it is an illustration); every other ```python block must run as it is written, on its
own (it defines what it uses). The README is read when the tests are collected, so an edited
snippet is tested as soon as it is written.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SKIP_MARKER = "<!-- skip-test -->"
_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)

def python_blocks(text: str) -> list[tuple[int, str, bool]]:
    """``(line, code, skipped)`` for every ```python block of a Markdown text."""
    blocks = []
    for m in _FENCE.finditer(text):
        before = text[: m.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        blocks.append((text.count("\n", 0, m.start()) + 1, m.group(1), before == SKIP_MARKER))
    return blocks


def test_block_extraction_and_skip_marker():
    text = "a\n```python\nx = 1\n```\n<!-- skip-test -->\n```python\nhub()\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [(2, "x = 1\n", False), (6, "hub()\n", True)]


def _runnable_blocks() -> list[tuple[int, str]]:
    return [(line, code) for line, code, skipped in python_blocks(README.read_text(encoding="utf-8"))
            if not skipped]


def test_the_readme_has_python_blocks_to_run():
    assert _runnable_blocks()


@pytest.mark.parametrize(("line", "code"),
                         [pytest.param(line, code, id=f"line-{line}") for line, code in _runnable_blocks()])
def test_readme_python_block_runs_alone(tmp_path, line, code):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    source = tmp_path / f"readme_block_at_line_{line}.py"
    source.write_text(code, encoding="utf-8")
    out = subprocess.run([sys.executable, str(source)], capture_output=True, text=True, timeout=600,
                         cwd=tmp_path, env=env)
    assert out.returncode == 0, (
        f"README.md: the python block at line {line} failed alone:\n{out.stderr[-4000:]}")
