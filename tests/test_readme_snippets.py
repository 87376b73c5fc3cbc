"""The README's Python snippets run, as a reader would run them: top to bottom, in one fresh process.

Convention: a ```python block right after a line ``<!-- skip-test -->`` is not run (it needs a Hub
release, or it is an illustration); every other ```python block must run as it is written.
The README is read at test time, so an edited snippet is tested as soon as it is written.
"""

from __future__ import annotations

import json
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

# Runs the blocks in one namespace; a failure names the README line its block starts on.
_DRIVER = """
import json, sys, traceback
ns = {"__name__": "__main__"}
for line, code in json.loads(sys.stdin.read()):
    try:
        exec(compile(code, f"README.md, block at line {line}", "exec"), ns)
    except BaseException:
        traceback.print_exc()
        sys.exit(f"README.md: the python block at line {line} failed")
"""


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


def test_readme_python_snippets_run(tmp_path):
    blocks = [(line, code) for line, code, skipped in python_blocks(README.read_text(encoding="utf-8"))
              if not skipped]
    if not blocks:
        pytest.skip("README.md has no python blocks to run")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg"}
    out = subprocess.run([sys.executable, "-c", _DRIVER], input=json.dumps(blocks), capture_output=True,
                         text=True, timeout=600, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stderr[-4000:]
