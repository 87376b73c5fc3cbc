"""Run independent jobs locally (one process per core) or on a Dask cluster, through one code path.

The zoo builder and the control track hand their jobs (a picklable function and plain-data
arguments) to :func:`run_jobs`; the engine is chosen by arguments, never by a fork of the code:

- ``workers=N`` local processes (default and cap: the cores this process may use; 1 runs in this
  process). On Linux they are forked, so a plain script without an ``if __name__ == "__main__":``
  guard, a notebook or ``python -`` works, and functions defined there can be jobs; elsewhere they
  are spawned (macOS cannot fork safely), which needs that guard. Every job runs with one torch
  thread: a forked child that used the parent's OpenMP pool would hang;
- ``cluster="local:N"`` a ``distributed.LocalCluster`` of N single-threaded workers on loopback;
- ``scheduler=ADDRESS`` a running Dask scheduler (e.g. one started by ``dask-jobqueue`` on SLURM).

Results are yielded as jobs finish. Local workers leave Ctrl-C to the parent and die with it, so an
interrupted run never leaves a worker going on to its next job. A worker that dies (killed, out of
memory) raises :class:`WorkerDiedError`.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from degzoo.errors import DegzooError, InvalidParameterError

#: How often :func:`run_jobs` calls its ``check`` while waiting for local workers (seconds).
CHECK_SECONDS = 0.5


class WorkerDiedError(DegzooError, BrokenProcessPool):
    """A local worker process died (killed, out of memory, crashed) before finishing its job."""


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity, e.g. under taskset or a batch scheduler)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork on Linux (no re-import of ``__main__``); spawn where fork is unsafe (macOS) or missing."""
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    return multiprocessing.get_context(method)


def run_jobs(
    fn: Callable[..., Any],
    jobs: Sequence[tuple[Any, ...]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    check: Callable[[], None] | None = None,
) -> Iterator[Any]:
    """Yield ``fn(*job)`` for every job, in order of completion.

    ``check``: called about every :data:`CHECK_SECONDS` while local workers run (and before each job
    run in this process); whatever it raises stops the workers and propagates — how a caller that
    runs the jobs from a thread (the benchmark's suites) cancels them, since only the main thread
    receives Ctrl-C.
    """
    if scheduler and cluster:
        raise InvalidParameterError("give either scheduler= (an address) or cluster= (local:N), not both")
    if not jobs:
        return
    if scheduler or cluster:
        yield from _run_dask(fn, jobs, scheduler, cluster)
        return
    if workers is not None and workers < 1:
        raise InvalidParameterError(f"workers must be a positive number of processes, got {workers}")
    workers = max(1, min(workers or usable_cores(), usable_cores(), len(jobs)))
    if workers == 1:
        for job in jobs:
            if check is not None:
                check()
            yield fn(*job)
        return
    pool = cf.ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(), initializer=_worker_init)
    with warnings.catch_warnings():
        # Python >= 3.12 warns that forking a threaded process may deadlock: the workers are
        # single-threaded in torch (see _worker_init), which is what makes the fork safe.
        warnings.filterwarnings("ignore", message=r".*use of fork\(\) may lead to deadlocks",
                                category=DeprecationWarning)
        futures = [pool.submit(fn, *job) for job in jobs]
    processes = list((getattr(pool, "_processes", None) or {}).values())  # the pool forgets them when broken
    try:
        for fut in _as_completed(futures, check):
            try:
                result = fut.result()
            except BrokenProcessPool as exc:
                raise WorkerDiedError(
                    f"a worker process died before finishing its job ({_exit_reasons(processes)}); results "
                    f"already returned are kept. Too little memory is the usual cause: rerun with fewer "
                    f"workers (workers=, --workers; now {workers}) or one process (workers=1)."
                ) from exc
            yield result
    except BaseException:
        # Ctrl-C or an error: stop the workers now; what they finished (files, checkpoints) stays.
        for proc in processes:
            proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _as_completed(futures: Sequence[cf.Future], check: Callable[[], None] | None) -> Iterator[cf.Future]:
    """``futures`` as they finish, calling ``check`` about every :data:`CHECK_SECONDS` meanwhile."""
    if check is None:
        yield from cf.as_completed(futures)
        return
    pending = set(futures)
    while pending:
        check()
        done, pending = cf.wait(pending, timeout=CHECK_SECONDS, return_when=cf.FIRST_COMPLETED)
        yield from done


def _exit_reasons(processes: Sequence[Any]) -> str:
    """How the pool's workers that ended did, e.g. 'killed by signal 9 (SIGKILL)'."""
    reasons = set()
    deadline = time.monotonic() + 5.0
    for proc in processes:
        # Reap it: a dead worker's exit code is known only once waited for. The pool's own thread
        # reaps the same processes, and a join that loses that race reads no code, so ask again.
        while proc.exitcode is None and time.monotonic() < deadline:
            proc.join(timeout=0.05)
        code = proc.exitcode
        if code is not None and code < 0:
            reasons.add(f"killed by signal {-code} ({signal.Signals(-code).name})")
        elif code:
            reasons.add(f"exit status {code}")
    return ", ".join(sorted(reasons)) or "it was terminated abruptly"


def _worker_init() -> None:
    """Workers ignore SIGINT (the parent handles it), die of SIGTERM and with their parent on Linux,
    and run torch on one thread (a forked child that used the parent's OpenMP thread pool would hang)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with it
    torch = sys.modules.get("torch")  # imported by the parent before the fork: reset its pool
    if torch is not None:
        torch.set_num_threads(1)
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise InvalidParameterError(
            "the Dask engine needs the [dask] extra: pip install 'degzoo[dask]'"
        ) from None
    return distributed


def _local_cluster(cluster: str) -> Any:
    """A ``distributed.LocalCluster`` for ``local:N`` (N single-threaded worker processes)."""
    kind, _, n = cluster.partition(":")
    if kind != "local" or not n.isdigit() or int(n) < 1:
        raise InvalidParameterError(f"cluster must look like local:N, got {cluster!r}")
    return _distributed().LocalCluster(n_workers=int(n), threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)


@contextlib.contextmanager
def dask_scheduler(scheduler: str | None = None, cluster: str | None = None,
                   timeout: float = 10.0) -> Iterator[str | None]:
    """The address of one Dask scheduler for a whole run of many calls: ``cluster="local:N"`` starts
    a LocalCluster for the ``with`` block (not one per call), ``scheduler`` is checked to answer
    within ``timeout`` seconds (a one-line error otherwise); None when neither is given."""
    if scheduler and cluster:
        raise InvalidParameterError("give either a scheduler address or a local:N cluster, not both")
    if not scheduler and not cluster:
        yield None
        return
    if cluster:
        with _local_cluster(cluster) as local:
            yield local.scheduler_address
        return
    distributed = _distributed()
    try:
        client = distributed.Client(scheduler, timeout=timeout)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InvalidParameterError(
            f"cannot reach the Dask scheduler at {scheduler!r} within {timeout:g} s "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no answer'}); "
            "start it, or check the address (e.g. tcp://host:8786)") from None
    client.close()
    yield scheduler


def _run_dask(fn: Callable[..., Any], jobs: Sequence[tuple[Any, ...]], scheduler: str | None,
              cluster: str | None) -> Iterator[Any]:
    distributed = _distributed()
    Client, as_completed = distributed.Client, distributed.as_completed
    local = None
    if cluster:
        local = _local_cluster(cluster)
        client = Client(local)
    else:
        try:
            client = Client(scheduler)
        except (OSError, ValueError, TypeError) as exc:
            raise InvalidParameterError(
                f"cannot reach the Dask scheduler at {scheduler!r} ({exc}); check the address and that the "
                "scheduler is running, or leave out the scheduler to use local worker processes"
            ) from None
    try:
        # the jobs' data goes to the workers directly, not inside the task graph through the scheduler
        # (a batch of whole metric calls carries its ensembles: 112 MiB in a test)
        columns = [client.scatter(list(column)) for column in zip(*jobs, strict=True)]
        futures = client.map(fn, *columns, pure=False)
        for fut in as_completed(futures):
            yield fut.result()
    finally:
        client.close()
        if local is not None:
            local.close()
