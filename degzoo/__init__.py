"""degzoo: a benchmark and model zoo for solution degeneracy in task-trained RNNs.

The user-facing sub-packages are :mod:`degzoo.zoo`, :mod:`degzoo.metrics`,
:mod:`degzoo.benchmark` and :mod:`degzoo.leaderboard`; they are imported on first use so that
``import degzoo`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from degzoo._version import __version__

__all__ = ["__version__", "benchmark", "leaderboard", "metrics", "models", "tasks", "training", "zoo"]


def __getattr__(name: str) -> Any:
    if name in __all__ and name != "__version__":
        return importlib.import_module(f"degzoo.{name}")
    raise AttributeError(f"module 'degzoo' has no attribute {name!r}")
