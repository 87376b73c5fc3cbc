"""The thread settings that degzoo's metric and trainer calls run under.

degzoo's work is many small products (H of a few hundred at most): more than one torch or BLAS
thread makes them no faster on an idle machine and up to 40× slower on a busy one. The command
line sets one thread per process; library calls (``Metric.pairwise``, ``train_ensemble``, ...) get
the same by running inside :func:`compute_threads`, which sets the threads for the duration of the
call and gives the caller's settings back afterwards, whatever the caller had set.

Each thread sets the threads when it enters its outermost call and restores what it found when
it leaves it (calls nest): torch keeps its thread count per thread (OpenMP), and so, in effect,
does OpenBLAS for threads other than the main one, so a call never changes another thread's
settings. :func:`set_threads` changes the number used (``None``: leave the caller's settings alone).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from degzoo.errors import InvalidParameterError

__all__ = ["compute_threads", "get_threads", "one_blas_thread", "set_threads", "with_compute_threads"]

F = TypeVar("F", bound=Callable[..., Any])

_threads: int | None = 1
_local = threading.local()  # this thread's depth of calls and what restores its settings
_controller: tuple[int, Any] | None = None  # (modules imported, threadpoolctl's controller) when made


def set_threads(threads: int | None) -> None:
    """Run degzoo's metric and trainer calls with ``threads`` torch and BLAS threads (default 1);
    ``None`` runs them with whatever the caller has set. Takes effect at the next call."""
    global _threads
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidParameterError(f"set_threads: give a number of threads >= 1 or None, got {threads!r}")
    _threads = threads


def get_threads() -> int | None:
    """The number of threads degzoo's calls run with (None: the caller's settings)."""
    return _threads


@contextlib.contextmanager
def compute_threads() -> Iterator[None]:
    """Torch and BLAS on :func:`get_threads` threads inside the block; the settings this thread
    had come back when it leaves its outermost block."""
    depth = getattr(_local, "depth", 0)
    if depth == 0:
        _local.restore = _apply(_threads) if _threads is not None else None
    _local.depth = depth + 1
    try:
        yield
    finally:
        _local.depth -= 1
        if _local.depth == 0 and _local.restore is not None:
            restore, _local.restore = _local.restore, None
            restore()


def with_compute_threads(fn: F) -> F:
    """``fn`` run inside :func:`compute_threads` (a decorator)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with compute_threads():
            return fn(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside the block, whatever :func:`set_threads` says: for solvers whose
    matrices are so small (H ≤ a few hundred) that a multi-threaded OpenBLAS on a loaded machine
    makes a 128×128 product 100× slower. Through the cached controller: threadpoolctl's own
    ``threadpool_limits`` looks for the libraries again on every entry (milliseconds each)."""
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - threadpoolctl missing
        yield
        return
    with controller.limit(limits=1, user_api="blas"):
        yield


def _apply(threads: int) -> Callable[[], None]:
    """Set this thread's torch and BLAS threads; return what sets them back."""
    import torch

    torch_before = torch.get_num_threads()
    if torch_before != threads:
        torch.set_num_threads(threads)
    controller = _blas_controller()
    blas = controller.limit(limits=threads, user_api="blas") if controller is not None else None

    def restore() -> None:
        if blas is not None:
            blas.restore_original_limits()
        if torch.get_num_threads() != torch_before:
            torch.set_num_threads(torch_before)

    return restore


def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found again only when modules have been
    imported since (finding them takes milliseconds; a metric's compare may be called per block)."""
    global _controller
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover - a dependency; tolerated when missing
        return None
    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1]


def _reset_after_fork() -> None:
    """A worker forked inside a call starts outside it: it restores nothing of its parent's and
    keeps the settings it was forked with, which are those its parent's call wanted. It keeps its
    parent's view of the BLAS libraries too (the same libraries are loaded), instead of finding
    them again in every worker."""
    global _local, _controller
    _local = threading.local()
    if _controller is not None:
        _controller = (len(sys.modules), _controller[1])


os.register_at_fork(after_in_child=_reset_after_fork)
