"""Recompute the shipped metric results of one level after a ground truth changed, and rebuild the board.

Each shipped result (``degzoo/reference/{metrics,baselines,negative-controls,implementations}``, with
their release subfolders) is copied into a staging folder and resumed there with ``degzoo evaluate
--resume``: the resume guard reruns exactly the suites whose ground truths changed (e.g. conformance
and calibration after a new matched statistic) and takes the others from the file. The new file is
copied back, added as a reference entry, and the board is rebuilt.

    python benchmarks/recompute_shipped.py --level weights --workers 2

A metric whose distances live in a store beside its result (``<name>.distances.npz``, the reference
implementations) takes it along from ``--stores``. Stop it with Ctrl-C and run it again: finished
files are already back in place, and an interrupted one resumes from its staging folder.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = [ROOT / "degzoo" / "reference" / role
           for role in ("metrics", "baselines", "negative-controls", "implementations")]
EMBEDDED = "embedded-v1"


def shipped_results(level: str | None) -> list[Path]:
    """Every shipped metric result of ``level`` (all levels when None), top folders and release subfolders."""
    files = sorted(p for folder in SHIPPED for p in [*folder.glob("*.json"), *folder.glob("*/*.json")])
    out = []
    for path in files:
        result = json.loads(path.read_text())
        if result.get("kind") == "metric" and level in (None, result["metric"]["level"]):
            out.append(path)
    return out


def evaluate_command(path: Path, result: dict, out: Path, workers: int) -> list[str]:
    """The ``degzoo evaluate`` call that resumes the shipped ``result`` (read from ``path``) in
    ``out``: the same metric, release and command-line parameters (which the file name records:
    ``name--key-value``)."""
    name, *given = path.stem.split("--")
    if name != result["metric"]["name"]:
        raise SystemExit(f"{path}: file name does not match its metric {result['metric']['name']!r}")
    cmd = [sys.executable, "-m", "degzoo", "evaluate", "--metric", name, "--resume", "--time-limit", "0",
           "--workers", str(workers), "--no-report", "--quiet", "--out", str(out)]
    for pair in given:
        key, value = pair.split("-", 1)
        cmd += ["--param", f"{key}={value}"]
    release = result["zoo"]["release"]
    if release != EMBEDDED:
        cmd += ["--release", release]
    return cmd


def recompute(path: Path, staging: Path, stores: Path, workers: int) -> None:
    """Resume one shipped result in its own staging folder and copy the new file back over it."""
    result = json.loads(path.read_text())
    out = staging / "-".join(path.relative_to(ROOT / "degzoo" / "reference").with_suffix("").parts)
    (out / "results").mkdir(parents=True, exist_ok=True)
    staged = out / "results" / path.name
    if not staged.exists():
        shutil.copy2(path, staged)
    store = stores / f"{result['metric']['name']}.distances.npz"
    if store.exists() and not (out / "results" / store.name).exists():
        shutil.copy2(store, out / "results" / store.name)
    print(f"{path.relative_to(ROOT)}: resuming", flush=True)
    subprocess.run(evaluate_command(path, result, out, workers), check=True, cwd=ROOT)
    written = list((out / "results").glob("*.json"))
    if len(written) != 1:
        raise SystemExit(f"{out}: expected one result file, found {[p.name for p in written]}")
    shutil.copy2(written[0], path)
    if store.exists():  # the store grew by this run's pairs: keep them for the next recompute
        shutil.copy2(out / "results" / store.name, store)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", default=None, help="one level (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--staging", type=Path, default=ROOT / "benchmarks" / "results" / "recompute-staging")
    ap.add_argument("--stores", type=Path,
                    default=ROOT / "benchmarks" / "results" / "reference-implementations" / "results",
                    help="folder of the distance stores of the reference implementations")
    ap.add_argument("--skip", action="append", default=[], help="a shipped file's stem to leave as it is")
    args = ap.parse_args()
    paths = [p for p in shipped_results(args.level) if p.stem not in args.skip]
    for path in paths:
        recompute(path, args.staging, args.stores, args.workers)
    for folder in sorted({p.parent for p in paths}):
        subprocess.run([sys.executable, "-m", "degzoo", "leaderboard", "add-reference", str(folder)],
                       check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "degzoo", "leaderboard", "build"], check=True, cwd=ROOT)
    shutil.rmtree(args.staging, ignore_errors=True)


if __name__ == "__main__":
    main()
