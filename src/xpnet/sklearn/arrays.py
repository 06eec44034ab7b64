"""Inputs and outputs in the caller's array library: arrays of another array-API library than
NumPy (CuPy, PyTorch, array-api-strict) are taken as they are, and predictions go back in the
input's library and on its device (NumPy in, NumPy out)."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from ..backend import to_numpy

SPARSE = ["csr", "csc", "coo"]
"""The sparse formats X may come in (kept sparse on the host:
[`xpnet.sparse_rows`][xpnet.sparse_rows])."""


def foreign(X: Any) -> bool:
    """Whether ``X`` is an array of another array-API library than NumPy."""
    return array_api_compat.is_array_api_obj(X) and not isinstance(X, np.ndarray) \
        and not array_api_compat.is_numpy_array(X)


def kind_of(X: Any) -> tuple[str, str]:
    """The array library and device of ``X``: ("numpy", "cpu") for anything NumPy reads."""
    if not foreign(X):
        return "numpy", "cpu"
    return array_api_compat.array_namespace(X).__name__, str(array_api_compat.device(X))


def like(result: Any, X: Any) -> Any:
    """``result`` as an array of ``X``'s library on ``X``'s device (NumPy when X is NumPy)."""
    if not foreign(X):
        return to_numpy(result)
    xp = array_api_compat.array_namespace(X)
    device = array_api_compat.device(X)
    try:
        if array_api_compat.array_namespace(result) is xp and \
                array_api_compat.device(result) == device:
            return result
    except TypeError:
        pass
    return xp.asarray(to_numpy(result), device=device)


