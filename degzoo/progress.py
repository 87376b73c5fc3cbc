"""Progress bars that suit where they are written: live on a terminal, a few plain lines in a log."""

from __future__ import annotations

import sys
from typing import Any

from tqdm.auto import tqdm

#: Seconds between updates when stderr is not a terminal (a redirected log or CI).
LOG_INTERVAL = 30.0


def progress_bar(*, disable: bool = False, **kwargs: Any) -> tqdm:
    """A tqdm bar on stderr; redirected, it writes a line at most every :data:`LOG_INTERVAL` seconds."""
    if not sys.stderr.isatty():
        kwargs = {**kwargs, "mininterval": LOG_INTERVAL, "maxinterval": LOG_INTERVAL * 4,
                  "dynamic_ncols": False, "ascii": True}
    return tqdm(disable=disable, **kwargs)
