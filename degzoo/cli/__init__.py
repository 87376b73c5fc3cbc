"""The ``degzoo`` command: argument parsing and dispatch only; the work lives in the library."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from degzoo._version import __version__
from degzoo.cli import control, evaluate, info, leaderboard, report, train, zoo
from degzoo.cli._args import cli_message
from degzoo.errors import DegzooError

COMMANDS = (evaluate, train, info, zoo, control, report, leaderboard)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="degzoo",
        description="Model zoo, metrics and benchmark for solution degeneracy in task-trained RNNs.",
    )
    parser.add_argument("--version", action="version", version=f"degzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code = int(args.run(args, extra) or 0)
        sys.stdout.flush()  # a closed pipe (``degzoo zoo list | head -1``) shows here, not at exit
        return code
    except BrokenPipeError:
        # The reader went away: stop quietly, as command-line tools do, and keep Python from
        # reporting the failed flush again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except DegzooError as exc:
        print(f"degzoo {args.command}: error: {cli_message(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"degzoo {args.command}: interrupted", file=sys.stderr)
        return 130

