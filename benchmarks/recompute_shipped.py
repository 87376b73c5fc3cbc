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

``--check`` recomputes every suite from scratch instead (nothing is resumed or copied back) and
compares the new file's scores with the shipped one's: a resumed suite that today's code would
compute otherwise (a change the resume guard does not see) shows up there.

    python benchmarks/recompute_shipped.py --check --release embedded-v1 --skip dsa_metric_ref
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


def shipped_results(level: str | None, release: str | None = None) -> list[Path]:
    """Every shipped metric result of ``level`` on ``release`` (all when None), top folders and
    release subfolders."""
    files = sorted(p for folder in SHIPPED for p in [*folder.glob("*.json"), *folder.glob("*/*.json")])
    out = []
    for path in files:
        result = json.loads(path.read_text())
        if (result.get("kind") == "metric" and level in (None, result["metric"]["level"])
                and release in (None, result["zoo"]["release"])):
            out.append(path)
    return out


def staging_folder(path: Path, staging: Path) -> Path:
    """The folder under ``staging`` where the shipped result ``path`` is recomputed."""
    return staging / "-".join(path.relative_to(ROOT / "degzoo" / "reference").with_suffix("").parts)


def evaluate_command(path: Path, result: dict, out: Path, workers: int, resume: bool = True) -> list[str]:
    """The ``degzoo evaluate`` call that resumes (or, with ``resume`` false, recomputes) the shipped
    ``result`` (read from ``path``) in ``out``: the same metric, release and command-line parameters
    (which the file name records: ``name--key-value``)."""
    name, *given = path.stem.split("--")
    if name != result["metric"]["name"]:
        raise SystemExit(f"{path}: file name does not match its metric {result['metric']['name']!r}")
    cmd = [sys.executable, "-m", "degzoo", "evaluate", "--metric", name, *(["--resume"] if resume else []),
           "--time-limit", "0", "--workers", str(workers), "--no-report", "--quiet", "--out", str(out)]
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
    out = staging_folder(path, staging)
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


def score_differences(shipped: dict, new: dict) -> tuple[list[str], float]:
    """The main scores (the board's) that differ between two results of one metric, as
    ``suite.score: shipped -> new``, and the largest absolute difference of any other score."""
    main = [f"{key}: {value['value']:.6g} -> {new['summary'].get(key, {}).get('value')}"
            for key, value in shipped["summary"].items()
            if not key.startswith("cost.") and new["summary"].get(key) != value]
    worst = 0.0
    for suite, res in shipped["suites"].items():
        if suite == "cost":
            continue
        for key, score in (res.get("scores") or {}).items():
            other = (new["suites"].get(suite, {}).get("scores") or {}).get(key)
            for field in ("value", "low", "high"):
                a, b = score[field], None if other is None else other[field]
                worst = float("inf") if b is None else max(worst, abs(a - b))
    return main, worst


def check(path: Path, staging: Path, workers: int) -> bool:
    """Recompute one shipped result from scratch and print how its scores compare; True if every
    main score is equal."""
    result = json.loads(path.read_text())
    out = staging_folder(path, staging)
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run(evaluate_command(path, result, out, workers, resume=False), check=True, cwd=ROOT)
    (written,) = (out / "results").glob("*.json")
    main, worst = score_differences(result, json.loads(written.read_text()))
    verdict = "main scores equal" if not main else "MAIN SCORES DIFFER: " + "; ".join(main)
    print(f"{path.relative_to(ROOT)}: {verdict}; other scores within {worst:.1e}", flush=True)
    return not main


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--level", default=None, help="one level (default: all)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--staging", type=Path, default=ROOT / "benchmarks" / "results" / "recompute-staging")
    ap.add_argument("--stores", type=Path,
                    default=ROOT / "benchmarks" / "results" / "reference-implementations" / "results",
                    help="folder of the distance stores of the reference implementations")
    ap.add_argument("--skip", action="append", default=[], help="a shipped file's stem to leave as it is")
    ap.add_argument("--release", default=None, help="only the results of this zoo release")
    ap.add_argument("--check", action="store_true",
                    help="recompute from scratch and compare with the shipped scores (nothing copied back)")
    args = ap.parse_args()
    paths = [p for p in shipped_results(args.level, args.release) if p.stem not in args.skip]
    if args.check:
        equal = [check(path, args.staging / "check", args.workers) for path in paths]
        print(f"{sum(equal)} of {len(equal)} shipped results reproduce every main score")
        raise SystemExit(0 if all(equal) else 1)
    for path in paths:
        recompute(path, args.staging, args.stores, args.workers)
    for folder in sorted({p.parent for p in paths}):
        subprocess.run([sys.executable, "-m", "degzoo", "leaderboard", "add-reference", str(folder)],
                       check=True, cwd=ROOT)
    subprocess.run([sys.executable, "-m", "degzoo", "leaderboard", "build"], check=True, cwd=ROOT)
    shutil.rmtree(args.staging, ignore_errors=True)


if __name__ == "__main__":
    main()
