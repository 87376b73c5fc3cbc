"""Look tasks up by name and rebuild them from their ``to_dict`` description."""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Mapping
from typing import Any

from degzoo.errors import InvalidParameterError, UnknownNameError
from degzoo.tasks.base import Task
from degzoo.tasks.delayed_discrimination import DelayedDiscrimination
from degzoo.tasks.flipflop import FlipFlop
from degzoo.tasks.path_integration import PathIntegration
from degzoo.tasks.sine import SineWave

_TASKS: dict[str, type[Task]] = {
    cls.name: cls for cls in (FlipFlop, SineWave, DelayedDiscrimination, PathIntegration)
}


def available_tasks() -> list[str]:
    """The registered task names, sorted."""
    return sorted(_TASKS)


def get_task(name: str, **params: Any) -> Task:
    """The task called ``name`` with the given parameters (the others take their defaults)."""
    if not isinstance(name, str) or name not in _TASKS:
        close = difflib.get_close_matches(str(name), list(_TASKS), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownNameError(
            f"unknown task {name!r}{hint}; known tasks: {', '.join(available_tasks())}"
        )
    cls = _TASKS[name]
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidParameterError(
            f"{name}: unknown parameter(s) {', '.join(unknown)}; valid parameters: {', '.join(valid)}"
        )
    return cls(**params)


def task_from_dict(d: Mapping[str, Any]) -> Task:
    """Rebuild a task from ``task.to_dict()`` (the inverse of ``to_dict``)."""
    if not isinstance(d, Mapping) or "name" not in d:
        raise InvalidParameterError(
            f"task_from_dict: expected a mapping with a 'name' key (as made by Task.to_dict()), got {d!r}"
        )
    params = dict(d)
    return get_task(params.pop("name"), **params)
