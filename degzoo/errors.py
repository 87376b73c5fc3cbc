"""Exceptions raised by degzoo: each one says what is wrong and how to fix it."""

from __future__ import annotations


class DegzooError(Exception):
    """Base class of every error degzoo raises on purpose."""


class InvalidParameterError(DegzooError, ValueError):
    """A task, model, control or metric was given a parameter it cannot work with."""


class UnknownNameError(DegzooError, KeyError):
    """A registry lookup (task, metric, control) named something that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class ZooFormatError(DegzooError):
    """An ensemble file or release is corrupt, truncated, of an unknown schema or incomplete."""


class ChecksumError(ZooFormatError):
    """A file's sha256 does not match the manifest that describes it."""


class MetricError(DegzooError):
    """A metric returned something unusable (NaN, negative, wrong shape) or raised."""


class ValidationError(DegzooError):
    """A result file or submission does not satisfy the results schema."""
