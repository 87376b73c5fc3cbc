"""Find metrics by name, by ``module:attr`` string, or through the ``degzoo.metrics`` entry points."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.metrics.base import Level, Metric, check_name
from degzoo.metrics.function import FunctionMetric
from degzoo.plugins import did_you_mean, import_object

ENTRY_POINT_GROUP = "degzoo.metrics"
_REGISTRY: dict[str, Callable[..., Metric]] = {}


def register(factory: Callable[..., Metric], name: str | None = None) -> Callable[..., Metric]:
    """Register a metric class (or factory) under ``name`` (default: its ``name`` attribute)."""
    key = name or getattr(factory, "name", None)
    if not isinstance(key, str) or not key:
        raise InvalidParameterError(f"register: {factory!r} has no name; pass name=...")
    check_name(key)
    if key in _REGISTRY and _REGISTRY[key] is not factory:
        raise InvalidParameterError(f"register: a different metric is already registered as {key!r}")
    _REGISTRY[key] = factory
    return factory


def available() -> list[str]:
    """Names of the registered metrics, entry points included."""
    _load_entry_points()
    return sorted(_REGISTRY)


def get(spec: str | Metric | Callable[..., Any], *, level: Level | None = None, **params: Any) -> Metric:
    """A metric instance from a registered name, a ``module:attr`` string, an instance or a function.

    A plain function ``f(net_a, net_b) -> float`` is wrapped in :class:`FunctionMetric`; its
    level must then be given (``level=`` here, or a ``level`` attribute on the function). A
    function of arrays is wrapped with :func:`~degzoo.metrics.from_function` instead. Parameters
    given with an instance are set on a copy of it (``set_params``), never on the instance.
    """
    obj = _resolve(spec) if isinstance(spec, str) else spec
    if inspect.isclass(obj) and issubclass(obj, Metric):
        _check_params(obj, params)
        return obj(**params)
    if isinstance(obj, Metric):
        return copy.deepcopy(obj).set_params(**params) if params else obj
    if callable(obj):
        factory_result = _maybe_factory(obj, params)
        if factory_result is not None:
            return factory_result
        lvl = level or getattr(obj, "level", None)
        if lvl is None:
            raise InvalidParameterError(
                f"get: {getattr(obj, '__name__', obj)!r} is a plain distance function; say which "
                "level it measures with level='behaviour'|'dynamics'|'weights'|'representation'"
            )
        return FunctionMetric(obj, level=lvl, **params)
    raise InvalidParameterError(f"get: cannot make a metric from {obj!r}")


def _check_params(cls: type, params: dict[str, Any]) -> None:
    """Unknown parameter names are an error that lists the metric's parameters."""
    try:
        accepted = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values()):
        return
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise InvalidParameterError(
            f"metric {getattr(cls, 'name', cls.__name__)!r} has no parameter(s) {', '.join(unknown)}; "
            f"its parameters: {', '.join(accepted) or 'none'}")


def _maybe_factory(obj: Callable[..., Any], params: dict[str, Any]) -> Metric | None:
    """A registered factory (not a class) returns a Metric when called with the parameters."""
    if obj in _REGISTRY.values():
        metric = obj(**params)
        if not isinstance(metric, Metric):
            raise InvalidParameterError(f"get: factory {obj!r} returned {metric!r}, not a Metric")
        return metric
    return None


def _resolve(spec: str) -> Any:
    if ":" in spec:
        return import_object(spec, "metric")
    _load_entry_points()
    if spec not in _REGISTRY:
        raise UnknownNameError(
            f"unknown metric {spec!r}{did_you_mean(spec, _REGISTRY)}; available: "
            f"{', '.join(sorted(_REGISTRY))}, or give a 'module:attr' string"
        )
    return _REGISTRY[spec]


def _load_entry_points() -> None:
    import degzoo.metrics  # noqa: F401  (registers the reference metrics)

    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            try:
                _REGISTRY[ep.name] = ep.load()
            except Exception as exc:  # a broken plug-in must not hide the others
                raise UnknownNameError(
                    f"metric entry point {ep.name!r} ({ep.value}) failed to load: {exc}"
                ) from exc
