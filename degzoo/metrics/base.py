"""The metric interface: a small, scikit-learn-like estimator of distances between networks.

A metric is a dataclass whose fields are its parameters. It declares its ``name``, its ``level``
and the ``invariances`` it claims, and implements two steps:

- ``embed(ensemble)``: per-ensemble work done once (a DMD operator per network, the weights, ...);
- ``compare(emb_a, emb_b, symmetric)``: an ``[Ea, Eb]`` matrix of distances between embeddings.

``pairwise`` and ``cross`` are provided here and validate what ``compare`` returns, so that every
metric — ours or a third party's — fails the same clear way on NaN, negative or misshapen output.

Every metric's ``pairwise``, ``cross``, ``embed``, ``compare`` and ``member_scores`` run with the
thread settings of the command line (one torch and one BLAS thread; :mod:`degzoo.threads`), the
caller's own settings given back on return: a script is as fast as ``degzoo evaluate``.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.threads import with_compute_threads

Level = Literal["behaviour", "dynamics", "weights", "representation"]
LEVELS: tuple[str, ...] = ("behaviour", "dynamics", "weights", "representation")
INVARIANCES: frozenset[str] = frozenset({"permutation", "sign_flip", "orthogonal", "scale"})
#: Longest metric name: it names the result file (``results/<name>.json``) and table rows.
MAX_NAME_LENGTH = 100
#: Largest distance accepted: beyond it the suites' sums and squares overflow float64.
MAX_DISTANCE = 1e100
#: The methods of a metric that run with :func:`degzoo.threads.compute_threads`.
THREADED_METHODS = ("embed", "compare", "member_scores", "pairwise", "cross")

_checkpoint = threading.local()


def check_name(name: Any, what: str = "metric") -> str:
    """``name`` if it can name a metric (1-100 printable characters), else InvalidParameterError.

    Names become file names and terminal output: a control character or a 300-character name
    must be refused before anything runs, not fail when the result is written.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError(f"{what} name must be a non-empty string, got {name!r:.60}")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidParameterError(
            f"{what} name {name[:40]!r}... is {len(name)} characters long; use at most {MAX_NAME_LENGTH}")
    if not name.isprintable():
        raise InvalidParameterError(
            f"{what} name {ascii(name)[:80]} contains control or non-printable characters; "
            "use printable text")
    return name


def checkpoint() -> None:
    """Called by long-running metrics between steps: raises if whoever runs the metric has
    cancelled the call (the harness on Ctrl-C or after a hard time limit), so that the call
    ends promptly instead of running on in a thread nobody waits for. A no-op otherwise."""
    hook = getattr(_checkpoint, "hook", None)
    if hook is not None:
        hook()


@contextlib.contextmanager
def cancellable(hook: Callable[[], None]) -> Iterator[None]:
    """Make :func:`checkpoint` call ``hook`` (which raises to cancel) in this thread, for the
    duration of the block."""
    previous = getattr(_checkpoint, "hook", None)
    _checkpoint.hook = hook
    try:
        yield
    finally:
        _checkpoint.hook = previous


class EnsembleLike(Protocol):
    """What a metric may use of an ensemble (see :class:`degzoo.zoo.Ensemble`)."""

    def __len__(self) -> int: ...

    def trajectories(self, inputs: np.ndarray | None = None) -> np.ndarray: ...


class Metric(abc.ABC):
    """Base class of every degeneracy metric. Subclasses are dataclasses."""

    name: ClassVar[str]
    level: ClassVar[Level]
    invariances: ClassVar[frozenset[str]] = frozenset()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in THREADED_METHODS:
            if inspect.isfunction(cls.__dict__.get(method)):
                setattr(cls, method, with_compute_threads(cls.__dict__[method]))
        if getattr(cls, "__abstractmethods__", None):
            return
        level = getattr(cls, "level", None)
        if level is None:  # set per instance (e.g. FunctionMetric)
            return
        if level not in LEVELS:
            raise TypeError(f"metric {cls.__name__}: level must be one of {LEVELS}, got {level!r}")
        name = getattr(cls, "name", None)
        if isinstance(name, str):
            try:
                check_name(name)
            except InvalidParameterError as exc:
                raise TypeError(f"metric {cls.__name__}: {exc}") from None
        unknown = set(cls.invariances) - INVARIANCES
        if unknown:
            raise TypeError(
                f"metric {cls.__name__}: unknown invariances {sorted(unknown)}; "
                f"known: {sorted(INVARIANCES)}"
            )

    @abc.abstractmethod
    def embed(self, ensemble: Any) -> Any:
        """Per-ensemble precomputation, done once per network rather than once per pair."""

    @abc.abstractmethod
    def compare(self, emb_a: Any, emb_b: Any, symmetric: bool) -> np.ndarray:
        """Distances ``[Ea, Eb]``; ``symmetric`` says ``emb_a is emb_b`` (pairwise)."""

    def get_params(self) -> dict[str, Any]:
        """The metric's parameters, as recorded in result files."""
        if dataclasses.is_dataclass(self):
            return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        return {}

    def set_params(self, **params: Any) -> Metric:
        """Change parameters in place (scikit-learn style) and return the metric.

        The new values are checked as the constructor checks them (the metric is made again from
        its parameters), so a bad value leaves the metric unchanged; unknown names are an error
        that lists the metric's parameters.
        """
        current = self.get_params()
        unknown = sorted(set(params) - set(current))
        if unknown:
            raise InvalidParameterError(
                f"metric {self.name!r} has no parameter(s) {', '.join(unknown)}; "
                f"its parameters: {', '.join(current) or 'none'}")
        if params:
            self.__dict__.update(type(self)(**{**current, **params}).__dict__)
        return self

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({shown})"

    @property
    def identity(self) -> dict[str, Any]:
        """Name, level, parameters and claimed invariances: what a result file records."""
        return {
            "name": self.name,
            "level": self.level,
            "params": self.get_params(),
            "invariances": sorted(self.invariances),
        }

    @with_compute_threads
    def pairwise(
        self,
        ensemble: Any,
        *,
        workers: int | None = 1,
        scheduler: str | None = None,
        cluster: str | None = None,
    ) -> np.ndarray:
        """All-pairs distances ``[E, E]`` within one ensemble: symmetric, zero diagonal.

        In parallel with ``workers`` local processes (None: all cores), a Dask ``cluster``
        ("local:N") or a running Dask ``scheduler``: the pairs are split into blocks of members
        (:mod:`degzoo.metrics.parallel`); the result is the same.
        """
        emb = self.embed(ensemble)
        n = len(ensemble)
        dist = self._compare(emb, emb, n, n, True, workers, scheduler, cluster)
        check_distances(self, dist, (n, n))
        dist = 0.5 * (dist + dist.T)
        np.fill_diagonal(dist, 0.0)
        return dist

    @with_compute_threads
    def cross(
        self,
        ensemble_a: Any,
        ensemble_b: Any,
        *,
        workers: int | None = 1,
        scheduler: str | None = None,
        cluster: str | None = None,
    ) -> np.ndarray:
        """Distances ``[Ea, Eb]`` between the members of two ensembles of the same task
        (in parallel as in :meth:`pairwise`)."""
        check_comparable(self, ensemble_a, ensemble_b)
        n_a, n_b = len(ensemble_a), len(ensemble_b)
        emb_a, emb_b = self.embed(ensemble_a), self.embed(ensemble_b)
        dist = self._compare(emb_a, emb_b, n_a, n_b, False, workers, scheduler, cluster)
        check_distances(self, dist, (n_a, n_b))
        return dist

    def _compare(self, emb_a: Any, emb_b: Any, n_a: int, n_b: int, symmetric: bool,
                 workers: int | None, scheduler: str | None, cluster: str | None) -> np.ndarray:
        if workers == 1 and scheduler is None and cluster is None:
            return as_distances(self, self.compare(emb_a, emb_b, symmetric))
        from degzoo.metrics.parallel import blocked_compare

        return blocked_compare(self, emb_a, emb_b, n_a, n_b, symmetric, workers=workers,
                               scheduler=scheduler, cluster=cluster)


def as_distances(metric: Any, out: Any, what: str = "compare") -> np.ndarray:
    """What a metric's ``compare`` (or ``member_scores``) returned, as float64, or
    :class:`MetricError` naming the metric and what it returned: not numbers, complex numbers
    (their imaginary part would be dropped silently), no finite value at all, or values beyond
    :data:`MAX_DISTANCE` (which overflow the statistics computed from them)."""
    name = getattr(metric, "name", type(metric).__name__)
    arr = np.asarray(out)
    if np.iscomplexobj(arr):
        raise MetricError(
            f"metric {name!r}: {what} returned complex numbers ({arr.dtype}); return real distances "
            "(np.abs(z), or z.real if the imaginary part is rounding noise)")
    if arr.dtype.kind not in "biuf":
        raise MetricError(f"metric {name!r}: {what} returned {arr.dtype} values, not numbers "
                          f"(a {type(out).__name__}); return a float array")
    arr = arr.astype(np.float64, copy=False)
    finite = np.isfinite(arr)
    if arr.size and not finite.any():
        raise MetricError(f"metric {name!r}: {what} returned no finite value (all {arr.size} are "
                          f"{_kinds(arr)}); check the metric for a division by zero or NaN input")
    big = finite & (np.abs(arr) > MAX_DISTANCE)
    if big.any():
        raise MetricError(
            f"metric {name!r}: {what} returned {int(big.sum())} value(s) of magnitude up to "
            f"{float(np.abs(arr[big]).max()):.3g}, beyond {MAX_DISTANCE:.0e}; the statistics "
            "computed from them overflow: rescale the metric")
    return arr


def _kinds(arr: np.ndarray) -> str:
    return " or ".join(k for k, m in (("NaN", np.isnan(arr)), ("infinite", np.isinf(arr))) if m.any())


def check_distances(metric: Any, dist: np.ndarray, shape: tuple[int, int]) -> None:
    """Raise :class:`MetricError` naming the metric and the first bad pair, if any."""
    name = getattr(metric, "name", type(metric).__name__)
    if dist.shape != shape:
        raise MetricError(f"metric {name!r} returned shape {dist.shape}, expected {shape}")
    bad = ~np.isfinite(dist)
    if bad.any():
        i, j = map(int, np.argwhere(bad)[0])
        raise MetricError(
            f"metric {name!r} returned a non-finite value {dist[i, j]} for pair ({i}, {j}); "
            f"{int(bad.sum())} pair(s) affected — check the networks for NaN weights "
            "or the metric for a division by zero"
        )
    neg = dist < round_off_floor(dist)
    if neg.any():
        i, j = map(int, np.argwhere(neg)[0])
        raise MetricError(
            f"metric {name!r} returned a negative distance {dist[i, j]:.3g} for pair ({i}, {j}); "
            "a distance must be >= 0"
        )


#: Negative distances down to this fraction of the largest one (or of 1) are float round-off
#: (``1 − r`` of −3e-14 on a twin): the distance check accepts them, and the harness counts them as 0.
NEGATIVE_ROUND_OFF = 1e-9


def round_off_floor(dist: np.ndarray) -> float:
    """The most negative value of ``dist`` that is still float round-off of a zero distance."""
    finite = np.asarray(dist, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    return -NEGATIVE_ROUND_OFF * max(1.0, float(np.abs(finite).max()) if finite.size else 1.0)


def check_comparable(metric: Any, a: Any, b: Any) -> None:
    """Two ensembles can be compared only on the same task and the same probe set."""
    name = getattr(metric, "name", type(metric).__name__)
    task_a, task_b = getattr(a, "task", None), getattr(b, "task", None)
    if task_a is not None and task_b is not None and task_a != task_b:
        raise InvalidParameterError(
            f"metric {name!r}: cannot compare ensembles of different tasks "
            f"({task_a!r} vs {task_b!r}); compare within one task"
        )
    probe_a, probe_b = getattr(a, "probe_inputs", None), getattr(b, "probe_inputs", None)
    if probe_a is not None and probe_b is not None:
        pa, pb = np.asarray(probe_a), np.asarray(probe_b)
        if pa.shape != pb.shape or not np.array_equal(pa, pb):
            raise InvalidParameterError(
                f"metric {name!r}: the two ensembles were probed with different probe sets "
                f"(shapes {pa.shape} vs {pb.shape}); use the task's standard probe set for both"
            )
