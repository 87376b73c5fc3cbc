"""Progress that suits where it is written: live bars on a terminal, a few plain lines in a log,
and a heartbeat for work that reports only when it finishes."""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from tqdm.auto import tqdm

#: Seconds between progress lines written to a log (stderr not a terminal) and between heartbeats.
LOG_INTERVAL = 30.0


def progress_bar(*, disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; redirected, it writes a line at most every :data:`LOG_INTERVAL` seconds."""
    if not sys.stderr.isatty():
        kwargs = {**kwargs, "mininterval": LOG_INTERVAL, "maxinterval": LOG_INTERVAL * 4,
                  "dynamic_ncols": False, "ascii": True}
    return tqdm(disable=disable, **kwargs)


@contextlib.contextmanager
def heartbeat(label: str, say: Callable[[str], None]) -> Iterator[None]:
    """While the block runs, ``say("<label>: still running, N s")`` every :data:`LOG_INTERVAL` seconds,
    from a daemon thread: long computations that report only when they finish are not silent meanwhile."""
    interval = LOG_INTERVAL
    stop = threading.Event()
    start = time.perf_counter()

    def beat() -> None:
        while not stop.wait(interval):
            say(f"{label}: still running, {time.perf_counter() - start:.0f} s")

    thread = threading.Thread(target=beat, name=f"heartbeat {label}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
