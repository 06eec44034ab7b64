"""array-api-strict, the conformance checker: a CPU library that refuses everything outside the
standard, with simulated devices. ``device="device1"`` holds arrays that refuse to mix with CPU
arrays or to convert implicitly to NumPy (as CuPy's do), and ``device="no_float64"`` has no
float64 (as some accelerators); the tests run the whole engine on both, so the bugs a GPU would
reveal show up on a CPU."""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from .base import Backend, BackendError


class StrictBackend(Backend):
    """array-api-strict, the conformance checker, with its simulated devices."""

    name, module = "array_api_strict", "array_api_strict"
    install = "install it with: pip install array-api-strict"

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        xs = cls._library()
        devices = {_strict_device_name(d): d for d in xs.__array_namespace_info__().devices()}
        name = "cpu" if device is None else (
            _strict_device_name(device) if isinstance(device, xs.Device) else str(device))
        if name not in devices:
            raise BackendError(f"array_api_strict has no device {device!r}; its devices: "
                               f"{', '.join(devices)}")
        return cls(xs, devices[name], xs)

    @property
    def device_name(self) -> str:
        return _strict_device_name(self.device)

    @property
    def reads_are_costly(self) -> bool:
        return self.device_name != "cpu"   # a simulated device stands in for a GPU

    def devices(self) -> list[str]:
        return [_strict_device_name(d) for d in self.lib.__array_namespace_info__().devices()]

    @staticmethod
    def holds(x: Any) -> bool:
        namespace = getattr(x, "__array_namespace__", None)
        return namespace is not None and \
            array_api_compat.is_array_api_strict_namespace(namespace())

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        ns = x.__array_namespace__()
        return np.from_dlpack(x.to_device(ns.Device("CPU_DEVICE")))


def _strict_device_name(device: Any) -> str:
    """``Device('device1')`` -> ``device1``; the default ``CPU_DEVICE`` is called ``cpu``."""
    text = str(device)
    text = text[text.find("(") + 1:text.rfind(")")].strip("'\"") if "(" in text else text
    return "cpu" if text == "CPU_DEVICE" else text
