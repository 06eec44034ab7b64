"""xpnet's own exception types. Each is a ValueError, so callers that catch ValueError for bad
input keep working; the command line turns them into one line on stderr and exit status 2."""

from __future__ import annotations


class DataError(ValueError):
    """A data file is missing, malformed or inconsistent; the message names the file."""


class ModelFileError(ValueError):
    """A saved model or checkpoint cannot be loaded; the message says why."""


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the epoch and step."""

    def __init__(self, message: str, history=None):
        super().__init__(message)
        self.history = history
