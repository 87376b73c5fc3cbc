"""Things named by the user: third-party objects by a ``"module:attr"`` string (metrics,
controls), and the "did you mean" hint for a name that is not one of the known ones."""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable
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


def did_you_mean(name: Any, choices: Iterable[str]) -> str:
    """`` (did you mean 'dsa'?)`` for the known name closest to ``name`` (a typo, ``_`` for ``-``,
    another case), or "" when none is close; for an error message that lists ``choices``."""
    choices = list(choices)
    text = str(name)
    folded = {c.lower().replace("_", "-"): c for c in choices}
    close = difflib.get_close_matches(text.lower().replace("_", "-"), list(folded), n=1, cutoff=0.6)
    return f" (did you mean {folded[close[0]]!r}?)" if close else ""
