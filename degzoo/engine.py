"""Run independent jobs locally (one process per core) or on a Dask cluster, through one code path.

The zoo builder and the control track hand their jobs (a picklable function and plain-data
arguments) to :func:`run_jobs`; the engine is chosen by arguments, never by a fork of the code:

- ``workers=N`` local processes (spawned; default all cores; 1 runs in this process);
- ``cluster="local:N"`` a ``distributed.LocalCluster`` of N single-threaded workers on loopback;
- ``scheduler=ADDRESS`` a running Dask scheduler (e.g. one started by ``dask-jobqueue`` on SLURM).

Results are yielded as jobs finish. Local workers leave Ctrl-C to the parent and die with it, so an
interrupted run never leaves a worker going on to its next job.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from degzoo.errors import InvalidParameterError


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
) -> Iterator[Any]:
    """Yield ``fn(*job)`` for every job, in order of completion."""
    if scheduler and cluster:
        raise InvalidParameterError("give either scheduler= (an address) or cluster= (local:N), not both")
    if not jobs:
        return
    if scheduler or cluster:
        yield from _run_dask(fn, jobs, scheduler, cluster)
        return
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    if workers == 1:
        for job in jobs:
            yield fn(*job)
        return
    ctx = multiprocessing.get_context("spawn")
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init)
    futures = [pool.submit(fn, *job) for job in jobs]
    try:
        for fut in cf.as_completed(futures):
            yield fut.result()
    except BaseException:
        # Ctrl-C or an error: stop the workers now; what they finished (files, checkpoints) stays.
        for proc in list(getattr(pool, "_processes", {}).values()):
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _worker_init() -> None:
    """Workers ignore SIGINT (the parent handles it) and, on Linux, die with their parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _run_dask(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], scheduler: str | None,
              cluster: str | None) -> Iterator[Any]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InvalidParameterError(
            "the Dask engine needs the [dask] extra: pip install 'degzoo[dask]'"
        ) from None
    local = None
    if cluster:
        kind, _, n = cluster.partition(":")
        if kind != "local" or not n.isdigit() or int(n) < 1:
            raise InvalidParameterError(f"cluster must look like local:N, got {cluster!r}")
        local = LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                             host="127.0.0.1", dashboard_address=None)
        client = Client(local)
    else:
        client = Client(scheduler)
    try:
        futures = client.map(fn, *zip(*jobs, strict=True), pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if local is not None:
            local.close()
