"""degzoo installs beside another torch, CI keeps the CPU wheel, and the citation metadata is sound."""

from __future__ import annotations

import datetime
import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
import tomllib
import yaml
from packaging.requirements import Requirement

import degzoo

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return {Requirement(r).name: Requirement(r) for r in project["dependencies"]}


def test_torch_is_a_range_that_holds_the_tested_version_and_newer():
    spec = _requirements()["torch"].specifier
    assert spec.contains("2.13.0") and spec.contains("2.13.0+cpu")  # tested
    assert spec.contains("2.15.0")  # a newer torch already installed is kept
    assert not any(s.operator in ("==", "===", "~=") for s in spec)


def test_the_readme_states_the_lowest_torch_and_numpy():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name in ("torch", "numpy"):
        assert f"`{name}{_requirements()[name].specifier}`" in readme


def _pip_plan(requirements: list[str], torch_version: str, tmp_path: Path) -> list[str] | None:
    """What ``pip install REQUIREMENTS`` would install into an environment that has everything this
    one has but ``torch_version`` as its torch (None: pip finds no way to satisfy them here)."""
    env = tmp_path / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    site = next((env / "lib").glob("python*/site-packages"))
    meta = site / f"torch-{torch_version}.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text(f"Metadata-Version: 2.1\nName: torch\nVersion: {torch_version}\n")
    # this environment's packages, behind the older torch (a .pth entry comes after site-packages)
    paths = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "zz_this_env.pth").write_text("\n".join(paths) + "\n")
    wanted = tmp_path / "requirements.txt"
    wanted.write_text("\n".join(requirements) + "\n")
    report = tmp_path / "report.json"
    out = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(next((env / "bin").glob("python3*"))), "install",
         "--dry-run", "--no-index", "--quiet", "--report", str(report), "-r", str(wanted)],
        capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        return None
    return [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]


@pytest.mark.parametrize("older", ["2.3.0", "2.12.1"])
def test_pip_keeps_an_older_supported_torch(tmp_path, older):
    """degzoo's dependencies are satisfied by an environment with an older torch: pip installs
    nothing, so ``pip install -e .`` there keeps that torch (the user's GPU build, say)."""
    requirements = [str(r) for r in _requirements().values()]
    assert _pip_plan(requirements, older, tmp_path / "ours") == []
    # the check can fail: a requirement above that torch is not satisfied by it
    above = [r for r in requirements if Requirement(r).name != "torch"] + [f"torch>{older}"]
    assert _pip_plan(above, older, tmp_path / "above") != []


def test_ci_installs_keep_the_cpu_torch_on_the_command_line():
    pip_lines = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if "pip install" in line]
    assert pip_lines and all(re.search(r"pip install .*torch==2\.13\.0 ", line) for line in pip_lines)


def test_citation_cff_names_the_paper():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"] == "1.2.0"
    assert cff["version"] == degzoo.__version__
    released = cff["date-released"]
    released = released if isinstance(released, datetime.date) else datetime.date.fromisoformat(released)
    assert released <= datetime.date.today()
    paper = cff["preferred-citation"]
    assert [a["family-names"] for a in paper["authors"]] == ["Huang", "Singh", "Martinelli", "Rajan"]
    assert paper["year"] == 2025 and "2410.03972" in paper["url"]
