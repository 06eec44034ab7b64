"""The libraries xpnet knows by name, and turning a name (and a device) into a backend.

A new library is a module of its own with one [`Backend`][xpnet.backend.base.Backend] subclass, and
one line in the table below; ``resolve``, ``xpnet info``, ``--backend`` and ``xpnet bench`` find
it there. ``"auto"`` picks CuPy when it imports and sees a CUDA device, else NumPy.
"""

from __future__ import annotations

from typing import Any

from .base import REGISTRY, Backend, BackendError
from .cupy_backend import CupyBackend
from .numpy_backend import NumpyBackend
from .strict_backend import StrictBackend
from .torch_backend import TorchBackend

REGISTRY.update({
    "numpy": NumpyBackend,
    "cupy": CupyBackend,
    "torch": TorchBackend,
    "array_api_strict": StrictBackend,
})

BACKENDS = tuple(REGISTRY)


def resolve(backend: str | Backend = "auto", device: Any = None) -> Backend:
    """Turn a backend name (and optional device) into a [`Backend`][xpnet.backend.base.Backend].

    ``device`` is a CuPy device index (``0``, ``"cuda:1"``), a torch device string
    (``"cpu"``, ``"cuda:0"``) or an array-api-strict device name (``"device1"``,
    ``"no_float64"``: simulated devices for testing). Raises
    [`BackendError`][xpnet.backend.base.BackendError] with the reason and the fix when the backend
    cannot be used.
    """
    if isinstance(backend, Backend):
        if device is not None:
            raise BackendError("pass either a Backend object or a device, not both")
        return backend
    if not isinstance(backend, str):
        raise TypeError(f"backend must be a name or a Backend, not {type(backend).__name__}")
    name = backend.lower().replace("-", "_")
    if name == "auto":
        try:
            return CupyBackend.create(device)
        except BackendError:
            return NumpyBackend.create(device)
    if name not in REGISTRY:
        raise BackendError(
            f"unknown backend {backend!r}; valid backends: auto, {', '.join(BACKENDS)}"
        )
    return REGISTRY[name].create(device)


def gpu_backend_of(x: Any) -> Backend | None:
    """The backend holding ``x`` on its GPU (a CuPy array, a CUDA PyTorch tensor), so that
    ``backend="auto"`` with GPU input trains where the data is; else None."""
    for cls in REGISTRY.values():
        home = cls.gpu_home(x)
        if home is not None:
            return home
    return None


def available() -> list[dict[str, Any]]:
    """One entry per backend: name, whether it can be used, version and devices, or why not."""
    out = []
    for name in BACKENDS:
        entry: dict[str, Any] = {"backend": name}
        try:
            be = resolve(name)
            entry.update(available=True, version=getattr(be.lib, "__version__", "?"),
                         devices=be.devices(), kernels=be.kernels.name,
                         low_precision=list(be.low_precision))
        except BackendError as exc:
            entry.update(available=False, reason=str(exc))
        out.append(entry)
    return out
