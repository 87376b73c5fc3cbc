"""Wrap a plain pairwise function as a metric: of two networks, or of two networks' arrays.

``get(f, level=...)`` wraps ``f(net_a, net_b) -> float`` (two :class:`degzoo.zoo.Network`);
``from_function(f, level=..., on=...)`` wraps a function of plain arrays, as netrep's and
rsatoolbox's metrics are written, computing each network's arrays once per call:

- ``on="trajectories"``: ``f(X, Y)`` with each network's hidden rates on the task's probe set,
  ``[trials * T, H]`` float64 (rows are the probe set's time points, trial after trial, columns the
  units: the ``[samples, neurons]`` layout of netrep and rsatoolbox; ``X.reshape(trials, T, H)``
  gives the trials back);
- ``on="weights"``: ``f(W_a, W_b)`` with each network's recurrent weights ``W_hh`` ``[H, H]``;
- ``on="params"``: ``f(P_a, P_b)`` with each network's dict of weights (``W_in``, ``W_hh``, ``b``,
  ``W_out``, ``b_out``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import LEVELS, Level, Metric, check_name

#: What a wrapped function is called with (see the module docstring).
Inputs = Literal["networks", "trajectories", "weights", "params"]
INPUTS: tuple[str, ...] = ("networks", "trajectories", "weights", "params")


class FunctionMetric(Metric):
    """A metric from a pairwise function ``fn(a, b, **params) -> float`` of two networks
    (``on="networks"``) or of their arrays (``on="trajectories" | "weights" | "params"``).

    The function is called once per unordered pair in ``pairwise``; each network's arrays are
    computed once per call. Keyword parameters are passed through (``set_params`` changes them).
    Its ``name`` defaults to the function's name.
    """

    level: Level  # set per instance

    def __init__(
        self,
        fn: Callable[..., float],
        *,
        level: Level,
        on: Inputs = "networks",
        name: str | None = None,
        invariances: frozenset[str] | set[str] = frozenset(),
        **params: Any,
    ) -> None:
        if not callable(fn):
            raise InvalidParameterError(f"FunctionMetric: {fn!r:.60} is not a function")
        if level not in LEVELS:
            raise InvalidParameterError(f"FunctionMetric: level must be one of {LEVELS}, got {level!r}")
        if on not in INPUTS:
            raise InvalidParameterError(f"FunctionMetric: on must be one of {INPUTS}, got {on!r}")
        self.fn = fn
        self.level = level
        self.on = on
        self.name = check_name(name or getattr(fn, "__name__", "function"))
        self.invariances = frozenset(invariances or getattr(fn, "invariances", ()))
        self.params: dict[str, Any] = {}
        self.set_params(**params)

    def __repr__(self) -> str:
        fn = getattr(self.fn, "__name__", None) or repr(self.fn)
        shown = [fn, f"level={self.level!r}", f"on={self.on!r}"]
        if self.name != getattr(self.fn, "__name__", None):
            shown.append(f"name={self.name!r}")
        shown += [f"{k}={v!r}" for k, v in self.params.items()]
        return f"FunctionMetric({', '.join(shown)})"

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def set_params(self, **params: Any) -> FunctionMetric:
        """Change the keyword parameters passed to the function; names it does not take are an
        error that lists those it does."""
        try:
            accepted = inspect.signature(self.fn).parameters
        except (TypeError, ValueError):  # a builtin without a signature: take the names as given
            accepted = None
        if accepted is not None and not any(p.kind is inspect.Parameter.VAR_KEYWORD
                                            for p in accepted.values()):
            keywords = [k for k, p in list(accepted.items())[2:]
                        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            unknown = sorted(set(params) - set(keywords))
            if unknown:
                raise InvalidParameterError(
                    f"metric {self.name!r}: {getattr(self.fn, '__name__', 'the function')} has no "
                    f"parameter(s) {', '.join(unknown)}; its parameters: {', '.join(keywords) or 'none'}")
        self.params.update(params)
        return self

    def embed(self, ensemble: Any) -> list[Any]:
        """One entry per member: the Network itself, or its arrays (computed here, once)."""
        n = len(ensemble)
        if self.on == "networks":
            return [ensemble[i] for i in range(n)]
        if self.on == "trajectories":
            rates = np.asarray(ensemble.trajectories(), dtype=np.float64)
            return [np.ascontiguousarray(r.reshape(-1, r.shape[-1])) for r in rates]
        params = {k: np.asarray(v, dtype=np.float64) for k, v in ensemble.params.items()}
        if self.on == "weights":
            return [params["W_hh"][i] for i in range(n)]
        return [{k: v[i] for k, v in params.items()} for i in range(n)]

    def compare(self, emb_a: list[Any], emb_b: list[Any], symmetric: bool) -> np.ndarray:
        out = np.zeros((len(emb_a), len(emb_b)))
        for i, a in enumerate(emb_a):
            for j, b in enumerate(emb_b):
                if symmetric and j <= i:
                    continue
                out[i, j] = self._call(a, b, (i, j))
        if symmetric:
            out = out + out.T
        return out

    def _call(self, a: Any, b: Any, pair: tuple[int, int]) -> float:
        try:
            value = self.fn(a, b, **self.params)
        except Exception as exc:
            hint = ""
            if self.on == "networks":
                hint = ("; it was called with two degzoo Network objects: for a function of arrays, "
                        "wrap it with metrics.from_function(f, level=..., on='trajectories' | 'weights')")
            raise MetricError(f"metric {self.name!r} raised on pair {pair}: "
                              f"{exc.__class__.__name__}: {exc}{hint}") from exc
        try:
            if np.iscomplexobj(value) or np.ndim(value) != 0:
                raise TypeError
            return float(value)
        except (TypeError, ValueError):
            raise MetricError(f"metric {self.name!r} returned {value!r:.60} for pair {pair}; "
                              "return one real number (a float)") from None


def from_function(
    fn: Callable[..., float],
    *,
    level: Level,
    on: Inputs = "trajectories",
    name: str | None = None,
    invariances: frozenset[str] | set[str] = frozenset(),
    **params: Any,
) -> FunctionMetric:
    """A metric from ``fn(X, Y, **params) -> float`` on two networks' plain arrays.

    ``on="trajectories"`` (default): probe-set rates ``[trials * T, H]``; ``"weights"``: ``W_hh``
    ``[H, H]``; ``"params"``: the dict of all weights (see :mod:`degzoo.metrics.function`). ``level``
    says what the distance measures (``"representation"``, ``"dynamics"``, ``"weights"``); claim
    the ``invariances`` it has (``{"permutation", "sign_flip", ...}``) so the suites test them.
    """
    return FunctionMetric(fn, level=level, on=on, name=name, invariances=invariances, **params)
