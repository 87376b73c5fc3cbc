"""Third-party objects named by a ``"module:attr"`` string (metrics, controls)."""

from __future__ import annotations

import importlib
from typing import Any

from degzoo.errors import UnknownNameError


def import_object(spec: str, kind: str) -> Any:
    """The object ``attr`` of ``module`` for ``spec = "module:attr"``; ``kind`` names it in errors.

    An import failure or a missing attribute is an :class:`~degzoo.errors.UnknownNameError` that
    says which, with the module's own exception chained.
    """
    module_name, _, attr = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise UnknownNameError(
            f"{kind} {spec!r}: module {module_name!r} failed to import ({exc.__class__.__name__}: "
            f"{exc}); is it installed and on PYTHONPATH?"
        ) from exc
    try:
        return getattr(module, attr)
    except AttributeError:
        raise UnknownNameError(f"{kind} {spec!r}: module {module_name!r} has no attribute {attr!r}") from None
