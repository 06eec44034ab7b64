"""xpnet's own exception types. Each is a ValueError, so callers that catch ValueError for bad
input keep working; the command line turns them into one line on stderr and exit status 2.
Also the one argument check the Python API shares, [`positive_int`][xpnet.errors.positive_int]."""

from __future__ import annotations

import numbers
from typing import Any


def positive_int(name: str, value: Any) -> int:
    """``value`` as an int, or TypeError (not an integer) / ValueError (below 1) naming it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer, not {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value}")
    return int(value)


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names the file."""


class ModelFileError(ValueError):
    """A saved model or checkpoint cannot be loaded; the message says why."""


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and step."""

    def __init__(self, message: str, history=None):
        super().__init__(message)
        self.history = history
