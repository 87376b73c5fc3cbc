"""Wrap a plain ``f(net_a, net_b) -> float`` as a metric."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from degzoo.errors import InvalidParameterError, MetricError
from degzoo.metrics.base import LEVELS, Level, Metric, check_name


class FunctionMetric(Metric):
    """A metric from a pairwise function of two :class:`degzoo.zoo.Network` objects.

    The function is called once per unordered pair in ``pairwise``; keyword parameters are passed
    through. Its ``name`` defaults to the function's name.
    """

    level: Level  # set per instance

    def __init__(
        self,
        fn: Callable[..., float],
        *,
        level: Level,
        name: str | None = None,
        invariances: frozenset[str] | set[str] = frozenset(),
        **params: Any,
    ) -> None:
        if level not in LEVELS:
            raise InvalidParameterError(f"FunctionMetric: level must be one of {LEVELS}, got {level!r}")
        self.fn = fn
        self.level = level
        self.name = check_name(name or getattr(fn, "__name__", "function"))
        self.invariances = frozenset(invariances or getattr(fn, "invariances", ()))
        self.params = params

    def get_params(self) -> dict[str, Any]:
        return dict(self.params)

    def embed(self, ensemble: Any) -> list[Any]:
        return [ensemble[i] for i in range(len(ensemble))]

    def compare(self, emb_a: list[Any], emb_b: list[Any], symmetric: bool) -> np.ndarray:
        out = np.zeros((len(emb_a), len(emb_b)))
        for i, net_a in enumerate(emb_a):
            for j, net_b in enumerate(emb_b):
                if symmetric and j <= i:
                    continue
                try:
                    value = self.fn(net_a, net_b, **self.params)
                except Exception as exc:
                    raise MetricError(
                        f"metric {self.name!r} raised on pair ({i}, {j}): {exc.__class__.__name__}: {exc}"
                    ) from exc
                try:
                    if np.iscomplexobj(value) or np.ndim(value) != 0:
                        raise TypeError
                    out[i, j] = float(value)
                except (TypeError, ValueError):
                    raise MetricError(f"metric {self.name!r} returned {value!r:.60} for pair ({i}, {j}); "
                                      "return one real number (a float)") from None
        if symmetric:
            out = out + out.T
        return out
