"""The ``degzoo`` command: argument parsing and dispatch only; the work lives in the library."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

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
        with _stop_signals_like_ctrl_c(), _use_threads(getattr(args, "threads", None)):
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



@contextlib.contextmanager
def _use_threads(threads: object) -> Iterator[None]:
    """A command's ``--threads N`` is what the library's metric and trainer calls use too (they
    set their own threads, :mod:`degzoo.threads`) while it runs; a bad value is left to the command
    to refuse."""
    from degzoo.threads import get_threads, set_threads

    previous = get_threads()
    if isinstance(threads, int) and not isinstance(threads, bool) and threads >= 1:
        set_threads(threads)
    try:
        yield
    finally:
        set_threads(previous)


@contextlib.contextmanager
def _stop_signals_like_ctrl_c() -> Iterator[None]:
    """SIGTERM (``kill``, a batch scheduler's stop) ends a command as Ctrl-C does: the step is
    finished, checkpoints and finished work are kept, exit status 130. A background job (``cmd &``)
    starts with SIGINT ignored; degzoo takes it back, so that ``kill -INT`` stops it cleanly too."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    if previous[0] is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])


def _terminate_as_interrupt(signum: int, frame: FrameType | None) -> None:
    handler = signal.getsignal(signal.SIGINT)  # the trainer's step-boundary handler while it trains
    if callable(handler):
        handler(signal.SIGINT, frame)
    else:
        raise KeyboardInterrupt
