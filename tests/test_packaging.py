"""degzoo installs beside another torch, CI keeps the CPU wheel, and the citation metadata is sound."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def test_torch_is_a_range_that_holds_the_tested_version_and_newer():
    spec = _requirements()["torch"].specifier
    assert spec.contains("2.13.0") and spec.contains("2.13.0+cpu")  # tested
    assert spec.contains("2.15.0")  # a newer torch already installed is kept
    assert not any(s.operator in ("==", "===", "~=") for s in spec)


def test_ci_installs_keep_the_cpu_torch_on_the_command_line():
    pip_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pip install" in line]
    assert pip_lines and all(re.search(r"pip install .*torch==2\.13\.0 ", line) for line in pip_lines)


def test_citation_cff_names_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    paper = cff["preferred-citation"]
    assert [a["family-names"] for a in paper["authors"]] == ["Huang", "Singh", "Martinelli", "Rajan"]
    assert paper["year"] == 2025 and "2410.03972" in paper["url"]
