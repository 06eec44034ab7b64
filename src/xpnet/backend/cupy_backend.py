"""CuPy on a CUDA GPU: one device per backend, work launched with that device current, random
draws on the device, and NCCL as the data-parallel collective."""

from __future__ import annotations

import contextlib
import os
from typing import Any

import array_api_compat
import numpy as np

from .base import Backend, BackendError


class CupyBackend(Backend):
    """CuPy on a CUDA GPU; work runs with the network's GPU current."""

    name, module, collective = "cupy", "cupy", "nccl"
    low_precision = ("float16",)   # CuPy has no bfloat16
    install = "install the GPU extra: pip install 'xpnet[gpu]'"

    def device_for_rank(self, rank: int) -> Any:
        count = gpu_count()
        return rank % count if count else None

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        cp = cls._library()
        try:
            count = cp.cuda.runtime.getDeviceCount()
        except Exception as exc:  # CUDARuntimeError when there is no driver
            raise BackendError(
                f"cupy is installed but no CUDA device can be used ({exc})") from None
        if count == 0:
            raise BackendError("cupy is installed but this machine has no CUDA device")
        index = _cuda_index(device)
        if not 0 <= index < count:
            raise BackendError(f"CUDA device {index} does not exist; this machine has {count}")
        from array_api_compat import cupy as xp

        return cls(xp, cp.cuda.Device(index), cp)

    @property
    def device_name(self) -> str:
        return f"cuda:{self.device.id}"

    @property
    def is_gpu(self) -> bool:
        return True

    def synchronize(self) -> None:
        self.lib.cuda.Device(self.device.id).synchronize()

    def on_device(self) -> contextlib.AbstractContextManager:
        return self.device  # cupy.cuda.Device: a context manager restoring the previous one

    def make_current(self) -> None:
        self.device.use()

    def tf32(self) -> str:
        # CuPy reads CUPY_TF32 once, before its first matmul, as an integer: > 0 allows TF32
        try:
            return "on" if int(os.environ.get("CUPY_TF32", "0")) > 0 else "off"
        except ValueError:
            return "off"

    def describe(self) -> str:
        props = self.lib.cuda.runtime.getDeviceProperties(self.device.id)
        gpu = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        return f"cupy (cuda:{self.device.id}, {gpu})"

    def devices(self) -> list[str]:
        n = self.lib.cuda.runtime.getDeviceCount()
        return [CupyBackend.create(i).describe() for i in range(n)]

    def device_random(self, seed: int) -> Any:
        with self.device:
            return self.lib.random.default_rng(seed)

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        with self.device:
            return rng.random(size=shape, dtype=dtype)

    @staticmethod
    def gpu_of(x: Any) -> Any:
        return x.device.id

    @staticmethod
    def holds(x: Any) -> bool:
        return array_api_compat.is_cupy_array(x)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        return x.get()


def _cuda_index(device: Any) -> int:
    if device is None:
        return 0
    if isinstance(device, int):
        return device
    text = str(device)
    if text.startswith("cuda:"):
        text = text[5:]
    if text.isdigit():
        return int(text)
    raise BackendError(
        f"the cupy backend takes a CUDA device index like 0 or 'cuda:0', not {device!r}"
    )


def gpu_count() -> int:
    """How many CUDA devices CuPy sees (0 without CuPy or a working driver)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDARuntimeError without a driver
        return 0
