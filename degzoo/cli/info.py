"""``degzoo info``: summarise an ensemble file."""

from __future__ import annotations

import argparse
from pathlib import Path

from degzoo.zoo import Ensemble


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="summarise an ensemble file")
    p.add_argument("path", type=Path, help="ensemble file (.h5)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace, extra: list[str]) -> int:
    with Ensemble.open(args.path) as ensemble:
        print(ensemble.summary())
    return 0
