"""The pilot table: each ladder's verdict per level on one release beside another (zoo-v2 vs a pilot).

Reads report data (``degzoo report --save-data``) of the first release and of the second (one or
more files, e.g. one per metric, merged by ladder) and prints a Markdown table with,
per ladder and level, Δ = last − first with its 95 % interval and the verdict (✓ reproduces,
✗ opposite, ~ inconclusive) on each release, and whether the verdict changed. Only the ladders
both files hold are compared.

    python benchmarks/pilot_table.py degzoo/reference/report/zoo-v2.json \\
        benchmarks/results/zoo-v3-pilots/report-dsa-sigma.json \\
        benchmarks/results/zoo-v3-pilots/report-weights.json --names "zoo-v2 (64 units)" "pilot (128)"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

MARK = {"reproduces": "✓", "opposite": "✗", "inconclusive": "~"}
LEVELS = {"dynamics": "dynamics (DSA)", "weights": "weights", "behaviour": "behaviour (σ_OOD)"}


def cell(entry: dict[str, Any] | None) -> str:
    """``✓ +0.012 (+0.004 to +0.020)``, or a dash where the ladder was not measured at that level."""
    if entry is None:
        return "—"
    d = entry["delta"]
    return f"{MARK.get(entry['verdict'], '?')} {d['value']:+.3g} ({d['low']:+.3g} to {d['high']:+.3g})"


def by_level(ladder: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["level"]: entry for entry in ladder["levels"].values()}


def merged(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Ladders by name, with the levels of every file that measured them."""
    out: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for ladder in doc["ladders"]:
            entry = out.setdefault(ladder["name"], {**ladder, "levels": {}})
            entry["levels"].update(ladder["levels"])
    return out


def table(first: dict[str, Any], second: list[dict[str, Any]], names: tuple[str, str]) -> str:
    """Markdown rows, one per ladder both releases measured and level either measured."""
    other = merged(second)
    rows = [f"| ladder (factor) | level | {names[0]} | {names[1]} | verdict changed |",
            "|---|---|---|---|---|"]
    for ladder in first["ladders"]:
        if ladder["name"] not in other:
            continue
        a, b = by_level(ladder), by_level(other[ladder["name"]])
        for level, label in LEVELS.items():
            if level not in a and level not in b:
                continue
            if level in a and level in b:
                changed = "**yes**" if a[level]["verdict"] != b[level]["verdict"] else "no"
            else:
                changed = "—"
            rows.append(f"| {ladder['name']} ({ladder['factor']}) | {label} | {cell(a.get(level))} | "
                        f"{cell(b.get(level))} | {changed} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("first", type=Path, help="report data of the first release (e.g. zoo-v2)")
    parser.add_argument("second", type=Path, nargs="+",
                        help="report data of the second release (e.g. a pilot), one or more files")
    parser.add_argument("--names", nargs=2, default=("first", "second"), help="column names")
    args = parser.parse_args()
    first = json.loads(args.first.read_text("utf-8"))
    second = [json.loads(p.read_text("utf-8")) for p in args.second]
    print(table(first, second, tuple(args.names)))


if __name__ == "__main__":
    main()
