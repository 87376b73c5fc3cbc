"""The memory budget: sizes a task, a model, a training run or a file declares, checked before allocation.

A typo (``--bits 1000000``, ``max_steps = 1e13``) or a hostile file (75 KB declaring 50,000 hidden units)
must end in a one-line error, not in a 40 GB allocation that the kernel kills. Every size that
grows with a user's or a file's numbers is estimated first and compared with one budget:
``DEGZOO_MEMORY_BUDGET`` (bytes, or with a unit: ``16GiB``, ``500MB``), by default the smaller of
8 GiB and half of this machine's memory.
"""

from __future__ import annotations

import math
import os
import re

from degzoo.errors import InvalidParameterError

MEMORY_BUDGET_ENV = "DEGZOO_MEMORY_BUDGET"
DEFAULT_BUDGET_CAP = 8 * 2**30
_UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
_SIZE_RE = re.compile(r"\s*([0-9]+(?:\.[0-9]*)?(?:e[0-9]+)?)\s*([a-z]*)\s*", re.IGNORECASE)


class ResourceLimitError(InvalidParameterError):
    """A size would exceed the memory budget; the message names the limit and how to raise it."""


def parse_size(text: str) -> int:
    """``"16GiB"``, ``"500MB"``, ``"2e9"`` as a number of bytes."""
    match = _SIZE_RE.fullmatch(text)
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _UNITS:
        raise InvalidParameterError(
            f"{MEMORY_BUDGET_ENV}={text!r} is not a size; give bytes or a number with a unit, e.g. 16GiB"
        )
    value = float(match.group(1)) * _UNITS[unit]
    if not math.isfinite(value) or value < 1:
        raise InvalidParameterError(f"{MEMORY_BUDGET_ENV}={text!r} must be a positive size, e.g. 16GiB")
    return int(value)


def _physical_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def memory_budget() -> int:
    """The budget in bytes: ``DEGZOO_MEMORY_BUDGET``, else min(8 GiB, half the machine's memory)."""
    text = os.environ.get(MEMORY_BUDGET_ENV)
    if text:
        return parse_size(text)
    physical = _physical_memory()
    return min(DEFAULT_BUDGET_CAP, physical // 2) if physical else DEFAULT_BUDGET_CAP


def format_bytes(n: float) -> str:
    """``12.3 GiB``: a size for a message."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{int(n)} bytes"


def check_budget(what: str, nbytes: float, lower: str) -> None:
    """Raise :class:`ResourceLimitError` if ``what`` needs more than the budget.

    ``lower`` says which numbers to lower (``"--hidden or --members"``); the message adds how to
    raise the budget instead.
    """
    budget = memory_budget()
    if nbytes > budget:
        raise ResourceLimitError(
            f"{what} would need about {format_bytes(nbytes)}, over degzoo's memory budget of "
            f"{format_bytes(budget)}: lower {lower}, or raise the budget with "
            f"{MEMORY_BUDGET_ENV}=<size> (e.g. {MEMORY_BUDGET_ENV}=64GiB) if this machine has the memory"
        )
