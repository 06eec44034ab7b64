"""NumPy on the CPU: the default backend, with NumPy's kernel overrides and the BLAS threads
chosen per step ([`xpnet.backend.cpu_tuning`][xpnet.backend.cpu_tuning])."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import numpy as np

from ..kernels import Kernels
from .base import Backend, BackendError, cpu_only
from .cpu_tuning import blas_controller, blas_threads_for, tune_host_allocator


class NumpyBackend(Backend):
    """NumPy on the CPU, with NumPy's kernel overrides
    ([`xpnet.kernels_numpy`][xpnet.kernels_numpy])."""

    name, module = "numpy", "numpy"
    sparse_products = True

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        cpu_only(cls.name, device)
        from array_api_compat import numpy as xp

        tune_host_allocator()
        return cls(xp, "cpu", np, numpy_kernels())

    def quiet_float_errors(self) -> contextlib.AbstractContextManager:
        return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")

    def threads_for(self, flops: float) -> contextlib.AbstractContextManager:
        """The BLAS threads for a step of ``flops``
        ([`blas_threads_for`][xpnet.backend.cpu_tuning.blas_threads_for]), through threadpoolctl
        when it is installed (``pip install "xpnet[cpu]"``); else as they are."""
        n = blas_threads_for(flops)
        controller = None if n is None else blas_controller()
        if controller is None:
            return contextlib.nullcontext()
        return controller.limit(limits=n, user_api="blas")

    @staticmethod
    def holds(x: Any) -> bool:
        return isinstance(x, np.ndarray)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        return x



def numpy_kernels() -> Kernels:
    """NumPy's kernel set: its own overrides ([`xpnet.kernels_numpy`][xpnet.kernels_numpy]), or with
    ``XPNET_KERNELS=numba`` the fused numba kernels ([`xpnet.kernels_numba`][xpnet.kernels_numba],
    needs ``pip install "xpnet[cpu]"``). They are not the default: their epochs were faster by less
    than the 10% at both network sizes that would pay for a compiler at import (the performance docs
    give the measurements)."""
    choice = os.environ.get("XPNET_KERNELS", "numpy")
    if choice == "numba":
        try:
            from ..kernels_numba import NumbaKernels
        except ImportError as exc:
            raise BackendError(f"XPNET_KERNELS=numba needs numba ({exc}); install it with: "
                               'pip install "xpnet[cpu]"') from None
        return NumbaKernels()
    if choice != "numpy":
        raise BackendError(f"unknown XPNET_KERNELS={choice!r}; valid: numpy, numba")
    from ..kernels_numpy import NumpyKernels

    return NumpyKernels()
