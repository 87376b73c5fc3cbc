"""All-pairs distances in blocks of members, on local processes or a Dask cluster.

The embeddings are computed once, in this process; the distance matrix is cut into blocks of
members, and every block (``compare`` of two slices of the embeddings) is one job for
:func:`degzoo.engine.run_jobs` — the same engine, and the same choice of local processes or Dask,
as the zoo builder and the control track. Each job carries only its two slices, so a worker's
memory is bounded by two blocks of embeddings, whatever the ensemble size.

Blocked results equal the single-process ones up to rounding: exactly for ``weights_perm`` and
``cka``; within the solver tolerance for DSA, whose float32 batched products round differently in
batches of another size. Starting worker processes costs a few seconds (each imports torch), so
blocks pay off for large ensembles (E = 50 at H = 128), not for a dozen small networks.

The metric and its embeddings travel to the workers by pickle, between our own processes only:
they must be importable (a metric class or function defined at module level, not a lambda).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from degzoo.engine import run_jobs
from degzoo.errors import InvalidParameterError, MetricError

__all__ = ["blocked_compare", "take_members"]


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


def _compare_block(metric: Any, emb_a: Any, emb_b: Any, symmetric: bool, key: tuple[int, int]
                   ) -> tuple[tuple[int, int], np.ndarray]:
    """One block, with one torch thread: the parallelism is over processes, not inside them."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return key, np.asarray(metric.compare(emb_a, emb_b, symmetric), dtype=np.float64)
    finally:
        torch.set_num_threads(threads)


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
) -> np.ndarray:
    """``metric.compare`` over blocks of members, run by :func:`degzoo.engine.run_jobs`.

    ``symmetric``: ``emb_b is emb_a`` (all pairs of one ensemble): only blocks on and above the
    diagonal are computed. ``blocks``: blocks per side (default: enough for about four jobs per
    worker, each block holding at least two members).
    """
    n_workers = workers or os.cpu_count() or 1  # None: all cores, as run_jobs does
    if scheduler or cluster:
        n_workers = max(n_workers, 4)  # the cluster's size is not known here
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
    jobs = []
    for i, ia in enumerate(rows):
        for j, jb in enumerate(cols):
            if symmetric and j < i:
                continue
            same = symmetric and i == j
            sub_a = take_members(emb_a, ia)
            jobs.append((metric, sub_a, sub_a if same else take_members(emb_b, jb), same, (i, j)))
    out = np.zeros((n_a, n_b))
    for (i, j), dist in run_jobs(_compare_block, jobs, workers=workers, scheduler=scheduler,
                                 cluster=cluster):
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
