"""All-pairs distances in blocks of members, on local processes or a Dask cluster.

The embeddings are computed once, in this process; the distance matrix is cut into blocks of
members, and every block (``compare`` of two slices of the embeddings) is one job for
:func:`degzoo.engine.run_jobs` — the same engine, and the same choice of local processes or Dask,
as the zoo builder and the control track. Each job carries only its two slices, so a worker's
memory is bounded by two blocks of embeddings, whatever the ensemble size.

Blocked results equal the single-process ones exactly (bit for bit) for the reference metrics,
whatever the number of workers or blocks: each pair's arithmetic does not depend on which other
pairs share its batch, and the thread count does not change it (tested for ``weights_perm``,
``cka`` and DSA). A third-party metric whose ``compare`` batches pairs may round differently.

A metric whose distance depends on the order of the pair (an optimiser started from one side,
e.g. ``dsa-metric``'s) computes one triangle in its own all-pairs call. Blocks off the diagonal
are therefore computed in that call's orientation, which :func:`symmetric_orientation` reads from
one pair; a metric that is neither (it fills both triangles differently) is computed in one call.

Many matrices at once (:func:`compare_each`) go to the workers as whole calls, one per job, the
ensembles embedded there: each is then exactly the metric's own single-process call.

No pool is started when it cannot pay: given the caller's estimate of the work in one process
(``seconds_estimate``, e.g. from the metric's speed measured earlier in the run or recorded by a
stopped one), the decision is made at once; without it, the first block is computed in this process
and timed. Work estimated below :data:`MIN_PARALLEL_SECONDS` stays in this process. Workers are
capped at the usable cores (:func:`degzoo.engine.usable_cores`).

The metric and its embeddings travel to the workers by pickle, between our own processes only.
On Linux the workers are forked, so metrics defined in a script or a notebook work as they are.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

import numpy as np

from degzoo.engine import run_jobs, usable_cores
from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import checkpoint

__all__ = ["MIN_PARALLEL_SECONDS", "blocked_compare", "compare_each", "paired_compare",
           "symmetric_orientation", "take_members"]

Orientation = Literal["upper", "lower"]

#: Below this much estimated work in one process, the blocks are not sent to worker processes
#: (forking workers and shipping embeddings costs a few tenths of a second per worker).
MIN_PARALLEL_SECONDS = 2.0


def take_members(emb: Any, idx: Sequence[int] | np.ndarray) -> Any:
    """The embedding of members ``idx``: arrays (and dicts of arrays) indexed on their first axis,
    lists and tuples by item; other values of a dict (settings, scalars) are kept as they are."""
    idx = np.asarray(idx, dtype=np.int64)
    if isinstance(emb, np.ndarray):
        return emb[idx]
    if isinstance(emb, (list, tuple)):
        return [emb[int(i)] for i in idx]
    if isinstance(emb, dict):
        return {k: v[idx] if isinstance(v, np.ndarray) and v.ndim >= 1 else v for k, v in emb.items()}
    raise InvalidParameterError(
        f"cannot split an embedding of type {type(emb).__name__} into blocks of members; blocked "
        "(parallel) distances need embeddings that are arrays, dicts of arrays or lists with one "
        "entry per member — run with workers=1"
    )


def _blocks(n: int, count: int) -> list[np.ndarray]:
    return [b for b in np.array_split(np.arange(n), max(1, min(count, n))) if b.size]


@contextlib.contextmanager
def _one_torch_thread() -> Iterator[None]:
    """One torch thread inside the block (the parallelism is over processes, not inside them)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _compare_block(metric: Any, emb_a: Any, emb_b: Any, symmetric: bool, key: tuple[int, int]
                   ) -> tuple[tuple[int, int], np.ndarray, float]:
    """One block, with one torch thread, and the seconds its process spent on it."""
    with _one_torch_thread():
        start = time.perf_counter()
        dist = np.asarray(metric.compare(emb_a, emb_b, symmetric), dtype=np.float64)
        return key, dist, time.perf_counter() - start


def _compare_pairs(metric: Any, emb_a: Any, emb_b: Any, count: int, key: tuple[int, int]
                   ) -> tuple[tuple[int, int], np.ndarray, float]:
    """``d(a_k, b_k)`` for the ``count`` members of two slices, one one-pair ``compare`` each, with
    one torch thread, and the seconds its process spent on them."""
    with _one_torch_thread():
        start = time.perf_counter()
        dist = np.empty(count)
        for k in range(count):
            one = np.asarray(metric.compare(take_members(emb_a, [k]), take_members(emb_b, [k]), False),
                             dtype=np.float64)
            if one.shape != (1, 1):
                raise MetricError(f"metric {getattr(metric, 'name', metric)!r}: compare returned shape "
                                  f"{one.shape} for one pair of members, expected (1, 1)")
            dist[k] = one[0, 0]
        return key, dist, time.perf_counter() - start


def _embed_and_compare(metric: Any, ens_a: Any, ens_b: Any | None, index: int
                       ) -> tuple[int, np.ndarray | None, float]:
    """One whole call, with one torch thread, and the seconds its process spent on it: all pairs
    of ``ens_a`` (``ens_b`` None) or ``ens_a`` against ``ens_b``, both embedded here; None in place
    of the matrix when the metric raised."""
    with _one_torch_thread():
        start = time.perf_counter()
        try:
            emb_a = metric.embed(ens_a)
            if ens_b is None:
                dist = np.asarray(metric.compare(emb_a, emb_a, True), dtype=np.float64)
            else:
                dist = np.asarray(metric.compare(emb_a, metric.embed(ens_b), False), dtype=np.float64)
        except Exception:  # the caller's own call raises it again, where it is handled
            dist = None
        return index, dist, time.perf_counter() - start


def compare_each(
    metric: Any,
    calls: Sequence[tuple[Any, Any | None]],
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    seconds_estimate: float | None = None,
    job_seconds: list[float] | None = None,
    on_done: Callable[[int, int], None] | None = None,
    on_result: Callable[[int, np.ndarray | None], None] | None = None,
) -> list[np.ndarray | None]:
    """Many whole calls of the metric, one job each, on ``workers`` local processes or a Dask
    ``scheduler``: ``(ens_a, None)`` is the all-pairs call of ``ens_a`` (``compare(emb, emb,
    True)``), ``(ens_a, ens_b)`` the cross call; the ensembles are embedded by the workers.

    For many matrices at once (a trend suite's conditions, a calibration ladder per network) whole
    calls fill the workers better than each call's blocks: a metric that solves a call's pairs
    together (DSA) spends on a block of a few members almost what the whole call costs. Each
    matrix is the metric's single-process call, bit for bit. A call that raised gives None (the
    others are kept): the caller's own call raises it again where it is handled.
    ``seconds_estimate``: the work in one process, when known; below :data:`MIN_PARALLEL_SECONDS`
    no pool is started (unknown: the first call is timed here, as in :func:`blocked_compare`).
    ``job_seconds`` gets each call's seconds in its process; ``on_done(done, total)`` and
    ``on_result(index, matrix)`` are called here as each call arrives (a caller keeps what arrived
    before a stop).
    """
    jobs = [(metric, ens_a, ens_b, i) for i, (ens_a, ens_b) in enumerate(calls)]
    out: list[np.ndarray | None] = [None] * len(jobs)
    if not jobs:
        return out
    results: Iterator[tuple[int, np.ndarray | None, float]]
    if scheduler:
        results = run_jobs(_embed_and_compare, jobs, scheduler=scheduler)
    else:
        n_workers = min(workers or usable_cores(), usable_cores(), len(jobs))
        results = _local_results(jobs, n_workers, _embed_and_compare, seconds_estimate)
    for done, (i, dist, seconds) in enumerate(results, 1):
        checkpoint()  # a call cancelled in this process returned None: the cancellation goes on
        if job_seconds is not None:
            job_seconds.append(seconds)
        if on_done is not None:
            on_done(done, len(jobs))
        if on_result is not None:
            on_result(i, dist)
        out[i] = dist
    return out


def paired_compare(
    metric: Any,
    emb_a: Any,
    emb_b: Any,
    index_a: Sequence[int] | np.ndarray,
    index_b: Sequence[int] | np.ndarray,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    block_seconds: list[float] | None = None,
) -> np.ndarray:
    """``d(a[index_a[k]], b[index_b[k]])`` for every k: one one-pair call per pair, where the
    diagonal of a full call costs n² pairs. Run like :func:`blocked_compare` (blocks of consecutive
    pairs, locally or on a Dask scheduler); each value equals that pair's entry of the full call
    (bit for bit for ``weights_perm`` and DSA; to round-off for a metric that batches its pairs'
    matrix products, e.g. CKA at 1e-14). Raises :class:`InvalidParameterError` when an embedding
    cannot be split into members (:func:`take_members`)."""
    index_a, index_b = np.asarray(index_a, dtype=np.int64), np.asarray(index_b, dtype=np.int64)
    if index_a.shape != index_b.shape or index_a.ndim != 1:
        raise ValueError(f"paired_compare needs two index lists of one length, got {index_a.shape} "
                         f"and {index_b.shape}")
    if index_a.size == 0:
        return np.empty(0)
    n_workers = max(workers or 1, 4) if scheduler else min(workers or usable_cores(), usable_cores())
    blocks = _blocks(index_a.size, 4 * n_workers)
    jobs = [(metric, take_members(emb_a, index_a[b]), take_members(emb_b, index_b[b]), int(b.size), (i, 0))
            for i, b in enumerate(blocks)]
    if scheduler:
        results = run_jobs(_compare_pairs, jobs, scheduler=scheduler)
    else:
        results = _local_results(jobs, n_workers, _compare_pairs)
    out = np.empty(index_a.size)
    for (i, _), dist, seconds in results:
        if block_seconds is not None:
            block_seconds.append(seconds)
        out[blocks[i]] = dist
    return out


def blocked_compare(
    metric: Any,
    emb_a: Any,
    emb_b: Any,
    n_a: int,
    n_b: int,
    symmetric: bool,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    cluster: str | None = None,
    blocks: int | None = None,
    orientation: Orientation | None = None,
    block_seconds: list[float] | None = None,
    on_block: Callable[[int, int], None] | None = None,
    seconds_estimate: float | None = None,
) -> np.ndarray:
    """``metric.compare`` over blocks of members, run by :func:`degzoo.engine.run_jobs`.

    ``symmetric``: ``emb_b is emb_a`` (all pairs of one ensemble): only the blocks of one triangle
    are computed, in the metric's ``orientation`` (default: read by :func:`symmetric_orientation`
    from the first two members of different blocks). ``blocks``: blocks per side (default: enough
    for about four jobs per worker, each block holding at least two members). Local work that
    would take less than :data:`MIN_PARALLEL_SECONDS` in one process stays in this process.
    ``block_seconds``: a list that gets the seconds each block took in its process (their sum is
    the call's process time, whatever the number of workers; nothing when the metric's own call
    ran here unblocked). ``on_block(done, total)``: called in
    this process as each block arrives (progress inside one long call). ``seconds_estimate``: the
    call's work in one process, when known (unknown: the first block is timed here).
    """
    if scheduler or cluster:
        n_workers = max(workers or 1, 4)  # the cluster's size is not known here
    else:
        n_workers = min(workers or usable_cores(), usable_cores())  # as run_jobs does
    if blocks is None:
        jobs_wanted = 4 * n_workers
        # k(k+1)/2 blocks on and above the diagonal (symmetric), k*k otherwise
        if symmetric:
            k = math.ceil((math.sqrt(8 * jobs_wanted + 1) - 1) / 2)
        else:
            k = math.ceil(math.sqrt(jobs_wanted))
        blocks = max(1, min(k, max(n_a, n_b) // 2))
    rows = _blocks(n_a, blocks)
    cols = rows if symmetric else _blocks(n_b, blocks)
    if symmetric and len(rows) > 1 and orientation is None:
        orientation = symmetric_orientation(metric, emb_a, int(rows[0][0]), int(rows[1][0]))
        if orientation is None:  # both triangles, differently: only its own call reproduces them
            return np.asarray(metric.compare(emb_a, emb_b, True), dtype=np.float64)
    jobs = []
    for i, ia in enumerate(rows):
        for j, jb in enumerate(cols):
            if symmetric and j < i:
                continue
            if symmetric and i == j:
                sub = take_members(emb_a, ia)
                jobs.append((metric, sub, sub, True, (i, j)))
            elif symmetric and orientation == "lower":  # later members first, transposed below
                jobs.append((metric, take_members(emb_a, jb), take_members(emb_a, ia), False, (j, i)))
            else:
                jobs.append((metric, take_members(emb_a, ia), take_members(emb_b, jb), False, (i, j)))
    out = np.zeros((n_a, n_b))
    if scheduler or cluster:
        results = run_jobs(_compare_block, jobs, scheduler=scheduler, cluster=cluster)
    else:
        results = _local_results(jobs, n_workers, seconds_estimate=seconds_estimate)
    for done, ((i, j), dist, seconds) in enumerate(results, 1):  # block (i, j); j < i: lower triangle
        if block_seconds is not None:
            block_seconds.append(seconds)
        if on_block is not None:
            on_block(done, len(jobs))
        ia, jb = rows[i], cols[j]
        if dist.shape != (ia.size, jb.size):
            raise MetricError(
                f"metric {getattr(metric, 'name', metric)!r}: compare returned shape {dist.shape} "
                f"for a block of {ia.size} x {jb.size} members"
            )
        out[np.ix_(ia, jb)] = dist
        if symmetric and i != j:
            out[np.ix_(jb, ia)] = dist.T
    return out


def symmetric_orientation(metric: Any, emb: Any, p: int, q: int) -> Orientation | None:
    """Which order of a pair ``p < q`` the metric's all-pairs call (``symmetric=True``) computes:
    "upper" (``compare`` of p against q), "lower" (q against p; both for a symmetric metric), or
    None when it fills the two triangles with different values. Costs three one-pair calls."""
    both = np.asarray(metric.compare(take_members(emb, [p, q]), take_members(emb, [p, q]), True))
    one, two = (take_members(emb, [k]) for k in (p, q))
    for name, first, second in (("upper", one, two), ("lower", two, one)):
        value = np.asarray(metric.compare(first, second, False), dtype=np.float64).reshape(-1)[0]
        if both[0, 1] == value and both[1, 0] == value:
            return name
    return None


def _local_results(jobs: list[tuple[Any, ...]], n_workers: int,
                   compute: Callable[..., Any] = _compare_block, seconds_estimate: float | None = None
                   ) -> Iterator[tuple[tuple[int, int], np.ndarray, float]]:
    """``compute`` of every job, on ``n_workers`` processes when the work (``seconds_estimate`` in
    one process; unknown: the first job here, timed, times the number of jobs left) pays for them."""
    rest = jobs
    if seconds_estimate is None:
        start = time.perf_counter()
        yield compute(*jobs[0])
        rest = jobs[1:]
        seconds_estimate = (time.perf_counter() - start) * len(rest)
    if n_workers <= 1 or seconds_estimate < MIN_PARALLEL_SECONDS:
        for job in rest:
            yield compute(*job)
    else:
        # checkpoint: a caller that cancels (the benchmark harness) stops the workers within a second
        yield from run_jobs(compute, rest, workers=n_workers, check=checkpoint)
