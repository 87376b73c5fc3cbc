"""Things named by the user: third-party objects by a ``"module:attr"`` string (metrics,
controls), the installed distribution that provides one (what a leaderboard entry pins), and the
"did you mean" hint for a name that is not one of the known ones."""

from __future__ import annotations

import difflib
import importlib
import re
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from degzoo.errors import InvalidParameterError, UnknownNameError

#: A distribution name as pip writes it (PEP 508).
_DISTRIBUTION_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
#: What a user with a metric in a script must do before its result can be a leaderboard entry.
SCRIPT_HINT = ("a metric in a script must first be made an installed package (a pyproject.toml "
               "beside it, `pip install -e .`: README, 'Submitting a metric from a script'), since "
               "`degzoo leaderboard verify` installs the pinned package and imports the metric from it")


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


def submission_package(entry: str, package: str | None = None) -> dict[str, str]:
    """``{"name", "version", "entry"}``: the installed distribution that provides ``entry``
    (``"module:attr"``), as a leaderboard submission pins it.

    ``package`` is ``degzoo evaluate --package NAME[==VERSION]`` (default: the one distribution
    that holds the entry's top-level module). It is checked now as ``degzoo leaderboard verify``
    will check it later: the distribution is installed, at VERSION when given, and holds the
    entry's module; otherwise an :class:`InvalidParameterError` says what to do.
    """
    top = entry.partition(":")[0].split(".")[0]
    holders = sorted({_normalise(d): d for d in metadata.packages_distributions().get(top, [])}.values())
    if package is None:
        if len(holders) != 1:
            found = f"it is in {', '.join(holders)}; " if holders else ""
            raise InvalidParameterError(
                f"cannot tell which installed package provides {entry!r} (module {top!r}); {found}"
                f"say it with --package NAME==VERSION if an installed distribution holds it; "
                f"{SCRIPT_HINT}")
        package = holders[0]
    name, _, version = (part.strip() for part in package.partition("=="))
    if not _DISTRIBUTION_NAME.fullmatch(name):
        raise InvalidParameterError(
            f"--package: {name!r} is not a distribution name; give it as pip does, NAME or NAME==VERSION")
    try:
        installed = metadata.version(name)
    except metadata.PackageNotFoundError:
        raise InvalidParameterError(
            f"--package {name!r} is not installed here, so these scores could not come from it; "
            f"install it (pip install {name}{'==' + version if version else ''}) and run again; "
            f"{SCRIPT_HINT}") from None
    if version and version != installed:
        raise InvalidParameterError(
            f"--package {name}=={version}, but {name} {installed} is installed and would compute the "
            f"scores; install {name}=={version} or write --package {name}=={installed}")
    if _normalise(name) not in map(_normalise, holders):
        raise InvalidParameterError(
            f"--package {name!r} does not hold module {top!r} of {entry!r} (the module comes from "
            f"{', '.join(holders) or 'no installed package'}); name the package that provides the "
            f"metric, or {SCRIPT_HINT}")
    return {"name": name, "version": installed, "entry": entry}


def _normalise(name: str) -> str:
    """A distribution name compared as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()
