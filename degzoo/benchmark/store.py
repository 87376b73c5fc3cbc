"""Runs a metric for the suites: caches, timing, deadlines and output checks in one place.

Every call into the metric (``embed``, ``compare``, ``member_scores``) goes through
:class:`MetricRunner`, which

- caches embeddings per ensemble (a small LRU: embeddings of trajectory metrics are large),
- keeps, per condition, a matrix of the distances already computed between its members, and per
  pair of conditions the cross distances, so that a suite asking for members ``0..7`` after another
  asked for ``0..3`` only pays for the new pairs (``pairwise`` of the new members and ``cross``
  of old × new);
- times each call (seconds, pairs, networks) into the statistics of the suite that is running,
  which is how the cost suite and ``benchmarks/evaluate_cost.py`` separate the metric's time from
  the harness's overhead;
- checks the suite's deadline before each call, refusing a call that its running cost estimate
  (seconds per pair and per network measured so far) says needs more than 1.25 × the time left
  (:class:`SuiteTimeout`), and after each call; inside a call, a metric that calls
  :func:`degzoo.metrics.base.checkpoint` is stopped there once the suite is cancelled;
- validates every distance matrix like :meth:`degzoo.metrics.Metric.pairwise` does (real numbers
  of sane size, shape, finite, non-negative: :class:`degzoo.errors.MetricError` otherwise).

With a ``store`` (a ``.npz`` file) the member-to-member distances and behaviour scores of the
zoo's conditions, and every ``compare`` of the suites' constructed networks (conformance's and
calibration's twins, noise ladders, interpolations, second probe sets: keyed by the suite's
description of them, which the run's seeds make reproducible), are also written there whenever
new ones are computed, under a header naming the run (metric, zoo, degzoo version) and a sha256 of
the whole content (:func:`store_content_hash`: a scaled, zeroed, swapped or otherwise edited
matrix makes the store refused, not resumed from), so a resumed
run pays only for what a stopped one had not reached, even inside a suite: a slow reference
implementation's hours of calibration survive a stop. Each stored call keeps a fingerprint of the
networks and probe inputs it was given (:func:`input_fingerprint`); a resumed run whose suites now
build other networks under the same description (the suite code changed between the runs)
recomputes that call instead of reusing it, with a :class:`StaleDistancesWarning`. The file holds
plain arrays, read with ``allow_pickle=False``.

No network reaches the metric with its unit labels: :meth:`MetricRunner.embed` (and
:meth:`~MetricRunner.member_scores`) hand over every ensemble, the zoo's members and every network
a suite constructs, with each member's units relabelled and sign-flipped at random
(:func:`~degzoo.benchmark.twins.relabelled`), drawn from the run's seed and the call's key, so
that matching unit i of one network to unit i of another carries no information in any suite,
while the same network under the same key is handed over identically (a network against itself
stays at distance 0).

With ``workers`` > 1 the checked distance matrices (``pairwise``, ``cross``) are cut into blocks of
members that as many local processes compute (:func:`degzoo.metrics.parallel.blocked_compare`; the
same numbers for a metric whose pairs do not depend on each other, and a cancelled suite stops the
workers within a second); conformance's raw calls and the cost suite's timed call stay in this
process, so what they inspect and time is one ``compare``. Where a suite asks for the all-pairs
matrices of many ensembles in a row (trend: every ladder condition; reliability: both probe sets;
calibration: a ladder per network), it announces them first (:meth:`MetricRunner.prefetch_pairwise`,
``prefetch_cross``) and the workers compute whole calls, one per job
(:func:`degzoo.metrics.parallel.compare_each`): for a metric that solves a call's pairs together,
as DSA does, a block of a few members costs almost what the whole call does, so whole calls side
by side are what halves the time on two workers. Whether work goes to the workers is decided from
the metric's speed in one process, measured over the run and kept in the store, so that a resumed
run of a slow metric starts its workers at once instead of timing a first call alone.

The runner calls the metric's two steps (``embed``, ``compare``) itself rather than its
``pairwise``/``cross``, which is what makes the caches possible; a metric that overrides
``pairwise`` is therefore scored through its ``embed``/``compare``. ``cross`` here skips the
probe-set check of :meth:`Metric.cross` on purpose: the reliability suite compares the same
networks across two probe sets.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import threading
import time
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from degzoo.benchmark.twins import relabelled
from degzoo.errors import InvalidParameterError, MetricError
from degzoo.files import write_atomically
from degzoo.metrics.base import as_distances, cancellable, check_distances
from degzoo.metrics.parallel import (
    blocked_compare,
    compare_each,
    paired_compare,
    symmetric_orientation,
    take_members,
)
from degzoo.zoo.ensemble import Ensemble

#: Relative tolerance of :func:`input_fingerprint` comparisons: far above the last-bit differences
#: between machines (~1e-7), far below any change of the networks a suite builds (~1e-2).
FINGERPRINT_RTOL = 1e-5


def store_content_hash(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of a distance store's arrays (name, dtype, shape and bytes of each, by name), the
    ``content_sha256`` entry itself left out: what :meth:`MetricRunner.load_store` checks."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        if name == "content_sha256":
            continue
        array = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, array.dtype.str, list(array.shape)]).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class StaleDistancesWarning(UserWarning):
    """A stored call was computed on other networks than this run's suites build; it is recomputed."""


def input_fingerprint(*ensembles: Ensemble) -> np.ndarray:
    """Numbers that change with the networks and probe inputs of a call, not with float rounding.

    Per ensemble its member count, and per parameter array and the probe inputs their size, their
    norm and their projection on a fixed random direction (seeded by the size): ``(k, 3)`` rows
    of ``(size, norm, projection)``, compared by :func:`same_inputs`.
    """
    rows = []
    for ens in ensembles:
        rows.append((float(len(ens)), 0.0, 0.0))
        for array in [ens.params[name] for name in sorted(ens.params)] + [ens.probe_inputs]:
            flat = np.asarray(array, dtype=np.float64).ravel()
            direction = np.random.default_rng(flat.size).standard_normal(flat.size)
            rows.append((float(flat.size), float(np.linalg.norm(flat)), float(direction @ flat)))
    return np.array(rows)


def same_inputs(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two :func:`input_fingerprint` s describe the same inputs, up to float rounding."""
    if a.shape != b.shape or not np.array_equal(a[:, 0], b[:, 0]):
        return False
    scale = np.maximum(np.maximum(a[:, 1], b[:, 1]), 1e-30)
    return bool(np.all(np.abs(a[:, 1:] - b[:, 1:]) <= FINGERPRINT_RTOL * scale[:, None]))


class SuiteTimeout(Exception):
    """The suite's time limit was reached (its partial results are kept)."""


@dataclass
class CallStats:
    """Time spent in metric calls during one suite."""

    calls: int = 0
    seconds: float = 0.0
    pairs: int = 0
    networks: int = 0
    embed_seconds: float = 0.0
    compare_seconds: float = 0.0
    reference_seconds: float = 0.0  # calls into the reference metric (agreement suite)
    #: seconds of the processes that did the work: a call's wall time, or for a call cut into blocks
    #: on worker processes the sum of its blocks' times (about workers x its wall time)
    process_seconds: float = 0.0
    per_call: list[tuple[str, float, int]] = field(default_factory=list)  # (kind, process seconds, units)
    current: str = ""  # the call under way, for progress lines ("compare of 66 pair(s), 3/10 blocks done")

    def to_json(self) -> dict[str, Any]:
        return {"calls": self.calls, "metric_seconds": round(self.seconds, 4),
                "embed_seconds": round(self.embed_seconds, 4),
                "compare_seconds": round(self.compare_seconds, 4),
                "reference_seconds": round(self.reference_seconds, 4),
                "pairs": self.pairs, "networks": self.networks}


class Deadline:
    """A cooperative time limit: ``check()`` raises :class:`SuiteTimeout` once it has passed."""

    def __init__(self, limit: float | None) -> None:
        self.start = time.perf_counter()
        self.limit = limit
        self.cancelled = threading.Event()
        self._paused_at: float | None = None

    @property
    def elapsed(self) -> float:
        return (self._paused_at or time.perf_counter()) - self.start

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The clock stands still inside the block (``elapsed`` frozen, for the hard limit too)
        while it stays cancellable: time the harness spends building ground truth, e.g. training
        matched networks, is not the metric's. Nested blocks pause once."""
        if self._paused_at is not None:
            yield
            return
        self._paused_at = time.perf_counter()
        try:
            with cancellable(self.check_cancelled):
                yield
        finally:
            self.start += time.perf_counter() - self._paused_at
            self._paused_at = None

    @property
    def remaining(self) -> float:
        return float("inf") if self.limit is None else self.limit - self.elapsed

    def check_cancelled(self) -> None:
        """Raise :class:`SuiteTimeout` once the suite was cancelled (what
        :func:`degzoo.metrics.base.checkpoint` calls inside a running metric call)."""
        if self.cancelled.is_set():
            raise SuiteTimeout("the suite was cancelled (interrupted, or past its hard time limit)")

    def check(self, need: float = 0.0, what: str = "") -> None:
        self.check_cancelled()
        if self.limit is None:
            return
        if self.remaining <= 0:
            raise SuiteTimeout(f"time limit of {self.limit:g} s reached")
        if need > 1.25 * self.remaining:  # estimates are rough: refuse only clear overruns
            raise SuiteTimeout(
                f"time limit of {self.limit:g} s: the next metric call ({what}) would need about "
                f"{need:.1f} s at this metric's measured speed, {self.remaining:.1f} s were left"
            )


def usable_members(ens: Ensemble) -> np.ndarray:
    """Converged members (the paper evaluates only those); all members if fewer than 2 converged."""
    conv = np.flatnonzero(np.asarray(ens.converged))
    return conv if conv.size >= 2 else np.arange(len(ens))


def _call_name(call: tuple) -> str | None:
    """The store's name for a call: its keys as JSON (str, int, tuples of them), None if not plain."""

    def plain(value: Any) -> Any:
        if isinstance(value, np.integer | np.floating | np.str_):
            return value.item()
        raise TypeError(type(value).__name__)

    try:
        return json.dumps(call, default=plain)
    except (TypeError, ValueError):
        return None


class MetricRunner:
    """One metric on one release, with the caches described in the module docstring."""

    def __init__(self, metric: Any, release: Any, *, reference: bool = False, lru: int = 12,
                 store: str | os.PathLike[str] | None = None, header: dict[str, Any] | None = None,
                 workers: int = 1, scheduler: str | None = None, seed: int = 0) -> None:
        self.metric = metric
        self.seed = seed
        self.workers = workers
        self.scheduler = scheduler  # a Dask scheduler's address: blocks go to its workers
        self.release = release
        self.reference = reference
        self.name = getattr(metric, "name", type(metric).__name__)
        self.behaviour = hasattr(metric, "member_scores")
        self._ensembles: dict[str, Ensemble] = {}
        self._subsets: OrderedDict[tuple, Ensemble] = OrderedDict()
        self._emb: OrderedDict[Any, Any] = OrderedDict()
        self._lru = lru
        self._within: dict[str, np.ndarray] = {}
        self._between: dict[tuple[str, str], np.ndarray] = {}
        self._scores: dict[str, np.ndarray] = {}
        self._calls: dict[str, np.ndarray] = {}  # JSON of (kind, key_a, key_b) -> checked distances
        self._inputs: dict[str, np.ndarray] = {}  # the same JSON -> input_fingerprint of the call
        self._facts: dict[str, Any] = {}  # what was learnt of the metric (its symmetric orientation)
        self._prefetched: dict[str, np.ndarray] = {}  # pairwise calls computed ahead, by call name
        self._lock = threading.RLock()
        self.stats = CallStats()
        self.total = CallStats()
        self.deadline = Deadline(None)
        # running speed estimates for the deadline check
        self._sec_pair = (0.0, 0)
        self._sec_net = (0.0, 0)
        # (process seconds, pairs) of the compare calls, this run's and the store's: the work in one
        # process that decides whether a call goes to the workers
        self._serial_pair = (0.0, 0)
        self.store = None if store is None else os.fspath(store)
        self.header = json.dumps(header or {}, sort_keys=True)

    # --- the store on disk ---------------------------------------------------------------------
    def load_store(self) -> int:
        """Take the distances and scores saved in :attr:`store` by an earlier run of this header;
        returns how many matrices were read (0 when there is no store file)."""
        if self.store is None or not os.path.exists(self.store):
            return 0
        try:
            with np.load(self.store, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
            recorded = str(arrays["content_sha256"]) if "content_sha256" in arrays else None
            intact = recorded == store_content_hash(arrays)
            arrays.pop("content_sha256", None)
            header, index = str(arrays.pop("header")), json.loads(str(arrays.pop("index")))
            inputs = json.loads(str(arrays.pop("inputs"))) if "inputs" in arrays else {}
            speed = json.loads(str(arrays.pop("serial_speed"))) if "serial_speed" in arrays else None
        except Exception as exc:
            raise InvalidParameterError(
                f"the distance store {self.store} cannot be read ({type(exc).__name__}: {exc}); "
                "delete it to compute the distances again") from None
        if not intact:
            raise InvalidParameterError(
                f"the distance store {self.store} was changed after it was written "
                f"({'it has no content hash' if recorded is None else 'its content hash does not match'}); "
                "its distances cannot be trusted: delete it to compute them again")
        if header != self.header:
            raise InvalidParameterError(
                f"the distance store {self.store} is of another run (metric, zoo or degzoo version); "
                "delete it, or give another output folder")
        with self._lock:
            for key, (kind, *conds) in index.items():
                target = {"within": self._within, "scores": self._scores, "call": self._calls}.get(
                    kind, self._between)
                target[conds[0] if kind != "between" else tuple(conds)] = arrays[key].astype(np.float64)
            # a store written before fingerprints were kept: its calls are taken as they are, and
            # fingerprinted when this run first asks for them
            self._inputs.update({name: np.array(rows, dtype=np.float64) for name, rows in inputs.items()})
            if speed is not None:
                self._serial_pair = (self._serial_pair[0] + float(speed["process_seconds"]),
                                     self._serial_pair[1] + int(speed["pairs"]))
        return len(index)

    def _save_store(self) -> None:
        """Write every known zoo distance and score to :attr:`store` (atomically)."""
        if self.store is None:
            return
        with self._lock:
            items = [("within", (c,), m) for c, m in self._within.items()]
            items += [("between", k, m) for k, m in self._between.items()]
            items += [("scores", (c,), v) for c, v in self._scores.items()]
            items += [("call", (k,), v) for k, v in self._calls.items()]
            arrays = {f"a{i}": m.copy() for i, (_, _, m) in enumerate(items)}
            inputs = {name: rows.tolist() for name, rows in self._inputs.items()}
            speed = {"process_seconds": self._serial_pair[0], "pairs": self._serial_pair[1]}
        index = {f"a{i}": [kind, *conds] for i, (kind, conds, _) in enumerate(items)}
        content = {"header": np.array(self.header), "index": np.array(json.dumps(index)),
                   "inputs": np.array(json.dumps(inputs)), "serial_speed": np.array(json.dumps(speed)),
                   **arrays}
        buffer = io.BytesIO()
        np.savez(buffer, content_sha256=np.array(store_content_hash(content)), **content)
        os.makedirs(os.path.dirname(self.store) or ".", exist_ok=True)  # before the result file's folder
        write_atomically(self.store, buffer.getvalue())

    # --- ensembles -----------------------------------------------------------------------------
    def ensemble(self, cond: str) -> Ensemble:
        with self._lock:
            if cond not in self._ensembles:
                self._ensembles[cond] = self.release.ensemble(cond)
            return self._ensembles[cond]

    def members(self, cond: str) -> np.ndarray:
        """Usable members of a condition, in stored order."""
        return usable_members(self.ensemble(cond))

    def sub(self, cond: str, idx: np.ndarray) -> Ensemble:
        key = (cond, tuple(int(i) for i in idx))
        with self._lock:
            if key in self._subsets:
                self._subsets.move_to_end(key)
                return self._subsets[key]
        ens = self.ensemble(cond).subset(np.asarray(key[1], dtype=np.int64))
        with self._lock:
            self._subsets[key] = ens
            while len(self._subsets) > 4 * self._lru:
                self._subsets.popitem(last=False)
        return ens

    def clear(self) -> None:
        """Drop embeddings, subsets and open files (distance matrices are kept)."""
        with self._lock:
            self._emb.clear()
            self._subsets.clear()
            for ens in self._ensembles.values():
                ens.close()
            self._ensembles.clear()

    # --- timed metric calls --------------------------------------------------------------------
    def _estimate(self, pairs: int, networks: int) -> float:
        sp, npair = self._sec_pair
        sn, nnet = self._sec_net
        return (sp / npair if npair else 0.0) * pairs + (sn / nnet if nnet else 0.0) * networks

    def _serial_seconds(self, pairs: int, networks: int = 0) -> float | None:
        """The work of ``pairs`` pairs (and embedding ``networks`` networks) in one process, from the
        compare calls timed so far, in this run or a stopped one (the store); None before any."""
        seconds, known = self._serial_pair
        return seconds / known * pairs + self._estimate(0, networks) if known else None

    def _call(self, kind: str, fn: Callable[[], Any], *, pairs: int = 0, networks: int = 0,
              block_seconds: list[float] | None = None) -> Any:
        """``fn()``, timed into the statistics; ``block_seconds``: filled by ``fn`` with the process
        time of each block it had computed elsewhere (:func:`blocked_compare`)."""
        what = f"{kind} of {pairs} pair(s)" if pairs else f"{kind} of {networks} network(s)"
        self.deadline.check(self._estimate(pairs, networks), what)
        outer, self.stats.current = self.stats.current, what
        t0 = time.perf_counter()
        try:
            with cancellable(self.deadline.check_cancelled):
                return fn()
        finally:
            dt = time.perf_counter() - t0
            self.stats.current = outer  # "" unless this call ran inside another (the orientation probe)
            process = sum(block_seconds) if block_seconds else dt
            for stats in (self.stats, self.total):
                stats.calls += 1
                if self.reference:
                    stats.reference_seconds += dt
                else:
                    stats.seconds += dt
                    stats.process_seconds += process
                    stats.pairs += pairs
                    stats.networks += networks
                    if kind == "compare":
                        stats.compare_seconds += dt
                    else:
                        stats.embed_seconds += dt
                stats.per_call.append((kind, process, pairs or networks))
            if pairs:
                self._sec_pair = (self._sec_pair[0] + dt, self._sec_pair[1] + pairs)
                self._serial_pair = (self._serial_pair[0] + process, self._serial_pair[1] + pairs)
            elif networks:
                self._sec_net = (self._sec_net[0] + dt, self._sec_net[1] + networks)
            self.deadline.check()

    def anonymous(self, key: Any, ens: Ensemble) -> Ensemble:
        """``ens`` as the metric gets it: every member relabelled and sign-flipped at random, drawn
        from the run's seed and ``key`` (the same key, the same relabelling)."""
        name = _call_name(key) or repr(key)
        return relabelled(ens, np.random.default_rng([self.seed, zlib.crc32(name.encode())]))

    def embed(self, key: Any, ens: Ensemble) -> Any:
        with self._lock:
            if key in self._emb:
                self._emb.move_to_end(key)
                return self._emb[key]
        anonymous = self.anonymous(key, ens)
        emb = self._call("embed", lambda: self.metric.embed(anonymous), networks=len(ens))
        with self._lock:
            self._emb[key] = emb
            while len(self._emb) > self._lru:
                self._emb.popitem(last=False)
        return emb

    def raw_compare(self, key_a: Any, ens_a: Ensemble, key_b: Any, ens_b: Ensemble,
                    symmetric: bool = False, *, remember: bool = False, parallel: bool = False) -> np.ndarray:
        """``compare`` as the metric returns it (float64), unchecked: conformance inspects it;
        kept in the store when ``remember`` is true. With ``parallel`` and :attr:`workers` > 1,
        computed in blocks of members by that many processes (:func:`blocked_compare`)."""

        def compute() -> np.ndarray:
            ea = self.embed(key_a, ens_a)
            eb = ea if symmetric else self.embed(key_b, ens_b)
            n_pairs = len(ens_a) * (len(ens_a) - 1) // 2 if symmetric else len(ens_a) * len(ens_b)
            if parallel and self._in_blocks(ea, len(ens_a), symmetric):
                seconds: list[float] = []
                stats = self.stats

                def done(blocks_done: int, blocks_total: int) -> None:
                    stats.current = f"compare of {n_pairs} pair(s), {blocks_done}/{blocks_total} blocks done"

                def blocks() -> np.ndarray:
                    return blocked_compare(self.metric, ea, eb, len(ens_a), len(ens_b), symmetric,
                                           workers=self.workers, scheduler=self.scheduler,
                                           orientation=self._orientation(ea) if symmetric else None,
                                           block_seconds=seconds, on_block=done,
                                           seconds_estimate=self._serial_seconds(n_pairs))

                out = self._call("compare", blocks, pairs=n_pairs, block_seconds=seconds)
            else:
                out = self._call("compare", lambda: self.metric.compare(ea, eb, symmetric), pairs=n_pairs)
            return as_distances(self.metric, out)

        if not remember:
            return compute()
        return self._remembered(("compare", key_a, key_b, symmetric), (ens_a, ens_b), compute)

    def _in_blocks(self, emb: Any, n: int, symmetric: bool) -> bool:
        """Whether a call of ``n`` members (of embedding ``emb``) goes to worker processes: with
        :attr:`workers` > 1, and for all pairs of one ensemble, when it has at least two blocks of
        two members and the metric's own call computes one triangle."""
        if self.workers == 1 and self.scheduler is None:
            return False
        return not symmetric or (n >= 4 and self._orientation(emb) is not None)

    def _orientation(self, emb: Any) -> str | None:
        """The triangle the metric's all-pairs call computes (:func:`symmetric_orientation`, read
        once per run from members 0 and 1 of the first ensemble asked for); None: neither, so its
        all-pairs calls are not cut into blocks."""
        if "orientation" not in self._facts:
            self._facts["orientation"] = self._call(
                "compare", lambda: symmetric_orientation(self.metric, emb, 0, 1), pairs=3)
        return self._facts["orientation"]

    def cross(self, key_a: Any, ens_a: Ensemble, key_b: Any, ens_b: Ensemble, *,
              remember: bool = True) -> np.ndarray:
        """Checked ``[Ea, Eb]`` distances (no probe-set check: reliability crosses probe sets);
        kept in the store unless ``remember`` is false."""

        def compute() -> np.ndarray:
            return self._checked(self.raw_compare(key_a, ens_a, key_b, ens_b, parallel=True),
                                 (len(ens_a), len(ens_b)), symmetric=False)

        return self._remembered(("cross", key_a, key_b), (ens_a, ens_b), compute) if remember else compute()

    def paired(self, key_a: Any, ens_a: Ensemble, key_b: Any, ens_b: Ensemble,
               index_b: Sequence[int] | np.ndarray | None = None, *, checked: bool = True) -> np.ndarray:
        """``d(a_i, b_{index_b[i]})`` for every member i of ``ens_a`` (a network against the network
        built from it; ``index_b`` default: i): one pair per member, where the diagonal of
        :meth:`cross` costs n². Kept in the store; ``checked`` false: as the metric returns them
        (conformance inspects them). A metric whose embeddings cannot be split into members pays
        for the full call."""
        n = len(ens_a)
        index_a = np.arange(n)
        index_b = index_a if index_b is None else np.asarray(index_b, dtype=np.int64)
        if index_b.shape != (n,):
            raise ValueError(f"paired() needs one member of ens_b per member of ens_a, got {index_b.shape} "
                             f"for {n}")

        def compute() -> np.ndarray:
            ea, eb = self.embed(key_a, ens_a), self.embed(key_b, ens_b)
            seconds: list[float] = []
            try:
                for emb in (ea, eb):
                    take_members(emb, [0])  # can the embeddings be split into members?
            except InvalidParameterError:
                full = self._call("compare", lambda: self.metric.compare(ea, eb, False),
                                  pairs=n * len(ens_b))
                dist = np.asarray(as_distances(self.metric, full))[index_a, index_b]
            else:
                dist = self._call("compare", lambda: paired_compare(
                    self.metric, ea, eb, index_a, index_b, workers=self.workers, scheduler=self.scheduler,
                    block_seconds=seconds), pairs=n, block_seconds=seconds)
                dist = np.asarray(as_distances(self.metric, dist[:, None]))[:, 0]
            if checked:
                check_distances(self.metric, dist[:, None], (n, 1))
            return dist

        call = ("paired", key_a, key_b, [int(i) for i in index_b], checked)
        return self._remembered(call, (ens_a, ens_b), compute)

    def pairwise(self, key: Any, ens: Ensemble, *, remember: bool = True,
                 parallel: bool = True) -> np.ndarray:
        """Checked, symmetrised ``[E, E]`` distances with a zero diagonal (as ``Metric.pairwise``);
        kept in the store unless ``remember`` is false, in :attr:`workers` processes unless
        ``parallel`` is false (the cost suite times one process's call itself)."""

        def compute() -> np.ndarray:
            return self._checked(self.raw_compare(key, ens, key, ens, symmetric=True, parallel=parallel),
                                 (len(ens), len(ens)), symmetric=True)

        return self._remembered(("pairwise", key), (ens,), compute) if remember else compute()

    def prefetch_pairwise(self, items: Sequence[tuple[Any, Ensemble]]) -> None:
        """Compute the ``pairwise(key, ens)`` calls a suite is about to make as one batch (see
        :meth:`_prefetch`), so that each of those calls then returns at once."""
        self._prefetch([(("pairwise", key), ens, None, key, None) for key, ens in items])

    def prefetch_cross(self, items: Sequence[tuple[Any, Ensemble, Any, Ensemble]]) -> None:
        """The same for ``cross(key_a, ens_a, key_b, ens_b)`` calls (calibration's ladders)."""
        self._prefetch([(("cross", ka, kb), ea, eb, ka, kb) for ka, ea, kb, eb in items])

    def _prefetch(self, planned: list[tuple[tuple, Ensemble, Ensemble | None, Any, Any]]) -> None:
        """Compute planned calls, ``(call, ens_a, ens_b or None, key_a, key_b)``, as one batch of
        whole calls on the workers (:func:`compare_each`), keeping each checked matrix for the call.

        Only with workers (in one process it would gain nothing), for the calls not known yet, and
        not when a time limit would not leave the batch its estimated time: the suite's own calls
        then run as they would have. The matrices equal the suite's own calls' bit for bit (each is
        the metric's single-process call on the networks the call would embed); one that raised
        or fails the checks is left to its own call, which raises where the suite handles it.
        """
        if self.workers == 1 and self.scheduler is None:
            return
        todo: dict[str, tuple[Ensemble, Ensemble | None, Any, Any]] = {}
        for call, ens_a, ens_b, key_a, key_b in planned:
            name = _call_name(call)
            if name is not None and name not in self._prefetched and name not in self._calls:
                todo.setdefault(name, (ens_a, ens_b, key_a, key_b))
        if len(todo) < 2:
            return
        pairs = sum(len(a) * (len(a) - 1) // 2 if b is None else len(a) * len(b)
                    for a, b, _, _ in todo.values())
        networks = sum(len(a) + (0 if b is None else len(b)) for a, b, _, _ in todo.values())
        known_speed = bool(self._sec_pair[1])
        estimate = self._estimate(pairs, networks)
        if self.deadline.limit is not None and (not known_speed or estimate > self.deadline.remaining):
            return
        calls = [(self.anonymous(ka, a), None if b is None else self.anonymous(kb, b))
                 for a, b, ka, kb in todo.values()]
        names = list(todo)
        seconds: list[float] = []
        stats = self.stats

        def done(calls_done: int, calls_total: int) -> None:
            stats.current = f"{calls_total} calls of {pairs} pair(s) in all, {calls_done} done"

        def arrived(index: int, raw: np.ndarray | None) -> None:
            """Check a call's matrix as it arrives and keep it, in the store too: a batch of hours
            that is stopped keeps every call it finished."""
            name = names[index]
            a, b, _, _ = todo[name]
            if raw is None:
                return
            try:
                shape = (len(a), len(a) if b is None else len(b))
                dist = self._checked(as_distances(self.metric, raw), shape, b is None)
            except MetricError:
                return
            self._prefetched[name] = dist
            self._keep_call(name, input_fingerprint(a) if b is None else input_fingerprint(a, b), dist)

        self._call("compare", lambda: compare_each(
            self.metric, calls, workers=self.workers, scheduler=self.scheduler,
            seconds_estimate=self._serial_seconds(pairs, networks), job_seconds=seconds, on_done=done,
            on_result=arrived), pairs=pairs, networks=networks, block_seconds=seconds)

    def prefetch_within(self, requests: Sequence[tuple[str, np.ndarray]]) -> None:
        """:meth:`prefetch_pairwise` of the calls :meth:`within` makes for conditions none of
        whose members' distances are known yet (a trend suite's ladders)."""
        items = []
        for cond, idx in requests:
            idx = np.asarray(idx, dtype=np.int64)
            if idx.size >= 2 and np.isnan(self.within_matrix(cond)[np.ix_(idx, idx)]).all(
                    where=~np.eye(idx.size, dtype=bool)):
                items.append((("member", cond, tuple(int(i) for i in idx)), self.sub(cond, idx)))
        self.prefetch_pairwise(items)

    def _checked(self, dist: np.ndarray, shape: tuple[int, int], symmetric: bool) -> np.ndarray:
        """``dist`` checked like :meth:`Metric.pairwise` does (:func:`check_distances`); all pairs of
        one ensemble (``symmetric``) symmetrised with a zero diagonal."""
        check_distances(self.metric, dist, shape)
        if symmetric:
            dist = 0.5 * (dist + dist.T)
            np.fill_diagonal(dist, 0.0)
        return dist

    def _remembered(self, call: tuple, ensembles: tuple[Ensemble, ...],
                    compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``, or its result from the store when a stopped run of this header had it
        for the same ``ensembles`` (the call's inputs, by :func:`input_fingerprint`), or from
        :meth:`_prefetch`."""
        name = _call_name(call)
        if name is not None and name in self._prefetched:
            ahead = self._prefetched.pop(name)
            compute = lambda: ahead  # noqa: E731
        if self.store is None or name is None:
            return compute()
        fingerprint = input_fingerprint(*ensembles)
        with self._lock:
            if name in self._calls:
                stored = self._inputs.setdefault(name, fingerprint)  # unset: a store from before them
                if same_inputs(stored, fingerprint):
                    return self._calls[name].copy()
                warnings.warn(
                    f"the distance store {self.store} holds {name} for other networks than this run "
                    "builds under that name (the suites changed since it was written); recomputing it",
                    StaleDistancesWarning, stacklevel=2)
        dist = compute()
        self._keep_call(name, fingerprint, dist)
        return dist

    def _keep_call(self, name: str, fingerprint: np.ndarray, dist: np.ndarray) -> None:
        """Remember a call's checked matrix, with its inputs' fingerprint, in :attr:`store`."""
        if self.store is None:
            return
        with self._lock:
            self._calls[name] = dist.copy()
            self._inputs[name] = fingerprint
        self._save_store()

    # --- distances between zoo members, computed once --------------------------------------------
    def within(self, cond: str, idx: np.ndarray) -> np.ndarray:
        """Distances among members ``idx`` of ``cond`` (pays only for pairs not yet computed)."""
        idx = np.asarray(idx, dtype=np.int64)
        full = self.within_matrix(cond)
        sub = full[np.ix_(idx, idx)]
        if not np.isnan(sub).any():
            return sub.copy()
        # a maximal set of members already known among themselves; the rest is computed
        known: list[int] = []
        for i in idx:
            if all(not np.isnan(full[i, j]) for j in known):
                known.append(int(i))
        new = np.array([i for i in idx if int(i) not in known], dtype=np.int64)
        if len(known) < 2 and new.size:  # nothing worth keeping: one pairwise call for all
            new, known = idx, []
        if new.size >= 2:
            d = self.pairwise(("member", cond, tuple(new)), self.sub(cond, new))
            full[np.ix_(new, new)] = d
        if known and new.size:
            kn = np.array(known, dtype=np.int64)
            d = self.cross(("member", cond, tuple(kn)), self.sub(cond, kn),
                           ("member", cond, tuple(new)), self.sub(cond, new))
            full[np.ix_(kn, new)] = d
            full[np.ix_(new, kn)] = d.T
        if new.size:
            self._save_store()
        return full[np.ix_(idx, idx)].copy()

    def between(self, ca: str, ia: np.ndarray, cb: str, ib: np.ndarray) -> np.ndarray:
        """Distances ``[len(ia), len(ib)]`` between members of two conditions (computed once)."""
        if ca == cb:
            raise ValueError("between() compares two different conditions; use within()")
        if cb < ca:
            return self.between(cb, ib, ca, ia).T
        ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
        with self._lock:
            full = self._between.get((ca, cb))
            if full is None:
                full = np.full((len(self.ensemble(ca)), len(self.ensemble(cb))), np.nan)
                self._between[(ca, cb)] = full
        sub = full[np.ix_(ia, ib)]
        rows = np.isnan(sub).any(axis=1)
        if rows.any():
            ra = ia[rows]
            d = self.cross(("member", ca, tuple(ra)), self.sub(ca, ra),
                           ("member", cb, tuple(ib)), self.sub(cb, ib))
            full[np.ix_(ra, ib)] = d
            self._save_store()
        return full[np.ix_(ia, ib)].copy()

    def remember_within(self, cond: str, idx: np.ndarray, dist: np.ndarray) -> None:
        """Store distances computed elsewhere (conformance's raw matrix, once checked)."""
        self.within_matrix(cond)[np.ix_(idx, idx)] = 0.5 * (dist + dist.T)
        self._within[cond][idx, idx] = 0.0

    def within_matrix(self, cond: str) -> np.ndarray:
        with self._lock:
            full = self._within.get(cond)
            if full is None:
                n = len(self.ensemble(cond))
                full = np.full((n, n), np.nan)
                np.fill_diagonal(full, 0.0)
                self._within[cond] = full
            return full

    def block(self, conds: list[str], idx: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """The full distance matrix over the members ``idx[c]`` of several conditions, with labels."""
        sizes = [len(idx[c]) for c in conds]
        offs = np.concatenate([[0], np.cumsum(sizes)])
        D = np.zeros((offs[-1], offs[-1]))
        for a, ca in enumerate(conds):
            D[offs[a]:offs[a + 1], offs[a]:offs[a + 1]] = self.within(ca, idx[ca])
            for b in range(a + 1, len(conds)):
                cb = conds[b]
                d = self.between(ca, idx[ca], cb, idx[cb])
                D[offs[a]:offs[a + 1], offs[b]:offs[b + 1]] = d
                D[offs[b]:offs[b + 1], offs[a]:offs[a + 1]] = d.T
        labels = np.repeat(np.arange(len(conds)), sizes)
        return D, labels

    # --- behaviour metrics ---------------------------------------------------------------------
    def member_scores(self, cond: str, idx: np.ndarray) -> np.ndarray:
        """Per-member scores (behaviour metrics: OOD loss), computed once per member."""
        idx = np.asarray(idx, dtype=np.int64)
        with self._lock:
            full = self._scores.get(cond)
            if full is None:
                full = np.full(len(self.ensemble(cond)), np.nan)
                self._scores[cond] = full
        new = idx[np.isnan(full[idx])]
        if new.size:
            ens = self.anonymous(("member", cond, tuple(int(i) for i in new)), self.sub(cond, new))
            s = as_distances(self.metric, self._call("member_scores", lambda: self.metric.member_scores(ens),
                                                     networks=len(ens)), "member_scores")
            if s.shape != (new.size,):
                raise MetricError(f"metric {self.name!r}: member_scores returned shape {s.shape}, "
                                  f"expected ({new.size},)")
            if not np.all(np.isfinite(s)):
                raise MetricError(f"metric {self.name!r}: member_scores returned a non-finite value")
            full[new] = s
            self._save_store()
        return full[idx].copy()

    def known_between(self, ca: str, ia: Any, cb: str, ib: Any) -> np.ndarray | None:
        """The distances between members ``ia`` of ``ca`` and ``ib`` of ``cb`` if every one of them
        was computed already (none is computed here), else None."""
        if ca == cb:
            return None
        ia, ib = np.asarray(ia, dtype=np.int64), np.asarray(ib, dtype=np.int64)
        with self._lock:
            full = self._between.get((ca, cb) if ca < cb else (cb, ca))
        if full is None:
            return None
        sub = full[np.ix_(ia, ib)] if ca < cb else full[np.ix_(ib, ia)].T
        return None if np.isnan(sub).any() else sub.copy()
