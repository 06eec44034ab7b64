"""The one module that knows which array libraries exist.

Everything the Python array API standard leaves out lives here: choosing a library and a device,
moving arrays between the host and the device, random numbers, and waiting for a GPU to finish.
The rest of xpnet receives a :class:`Backend` and uses its ``xp`` namespace, so layers, losses,
optimizers and the training loop contain no backend branches.

Backends: ``"numpy"`` (CPU), ``"cupy"`` (CUDA GPUs), ``"torch"`` (CPU or CUDA tensors),
``"array_api_strict"`` (the conformance checker) and ``"auto"`` (CuPy when it imports and sees a
CUDA device, else NumPy).

array-api-strict also simulates devices: ``device="device1"`` holds arrays that refuse to mix
with CPU arrays or to convert implicitly to NumPy (as CuPy's do), and ``device="no_float64"``
has no float64 (as some accelerators). The tests run the whole engine on both, so the bugs a GPU
would reveal show up on a CPU.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import array_api_compat
import numpy as np

from .kernels import PORTABLE, Kernels

BACKENDS = ("numpy", "cupy", "torch", "array_api_strict")
DTYPES = ("float32", "float64")


class BackendError(ValueError):
    """A backend or device was asked for that cannot be used here; the message says why."""


@dataclass(frozen=True, eq=False)
class Backend:
    """An array namespace ``xp`` together with the device arrays are placed on.

    ``name`` is one of :data:`BACKENDS`; ``xp`` is the array-API namespace (the array-api-compat
    wrapper for NumPy, CuPy and PyTorch); ``device`` is the library's own device object.
    """

    name: str
    xp: Any
    device: Any
    _lib: Any = field(repr=False, default=None)
    #: the element-wise kernels of a training step (:mod:`xpnet.kernels`): the portable set,
    #: or the backend's own overrides
    kernels: Kernels = field(repr=False, default=PORTABLE)

    # ----------------------------------------------------------------- dtypes and arrays
    def dtype(self, name: str) -> Any:
        """The namespace's floating dtype called ``name`` ("float32" or "float64").

        Raises :class:`BackendError` when the device cannot hold that dtype (asked through the
        standard's inspection API, ``__array_namespace_info__().dtypes(device=...)``)."""
        if name not in DTYPES:
            raise ValueError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPES)}")
        supported = self.dtypes()
        if name not in supported:
            have = ", ".join(supported) or "no floating dtype"
            raise BackendError(
                f"the {self.name} device {self.device_name} has no {name} (it supports {have}); "
                f"use dtype='{supported[0] if supported else 'float32'}' or another device"
            )
        return getattr(self.xp, name)

    def dtypes(self) -> list[str]:
        """The names in :data:`DTYPES` that this backend's device supports."""
        info = getattr(self.xp, "__array_namespace_info__", None)
        if info is None:  # a namespace older than the 2023.12 standard: assume both
            return list(DTYPES)
        found = info().dtypes(device=self.device, kind="real floating")
        return [name for name in DTYPES if name in found]

    @property
    def device_name(self) -> str:
        """The device as a user would name it: ``cpu``, ``cuda:1``, ``device1``."""
        if self.name == "cupy":
            return f"cuda:{self.device.id}"
        if self.name == "array_api_strict":
            return _strict_device_name(self.device)
        return str(self.device)

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is already an array of this backend (namespace and device)."""
        if not array_api_compat.is_array_api_obj(x) or isinstance(x, (int, float)):
            return False
        try:
            same_ns = array_api_compat.array_namespace(x) is self.xp
        except TypeError:
            return False
        return same_ns and _same_device(array_api_compat.device(x), self.device)

    def asarray(self, x: Any, dtype: Any = None, copy: bool = False) -> Any:
        """Return ``x`` as an array of this backend on its device, converting only if needed.

        ``x`` may be an array of this backend (returned as is, or cast), an array of another
        backend (copied through the host), or anything NumPy can read. With ``copy=True`` the
        result never shares memory with ``x`` (parameters that will be updated in place).
        """
        xp = self.xp
        if self.owns(x):
            if dtype is not None and x.dtype != dtype:
                return xp.astype(x, dtype)
            return xp.asarray(x, copy=True) if copy else x
        host = to_numpy(x)
        return xp.asarray(host, dtype=dtype, device=self.device, copy=True if copy else None)

    def synchronize(self) -> None:
        """Block until every queued GPU kernel has finished (a no-op on the CPU)."""
        if self.name == "cupy":
            self._lib.cuda.Device(self.device.id).synchronize()
        elif self.name == "torch" and self.device.type == "cuda":
            self._lib.cuda.synchronize(self.device)

    def on_device(self) -> contextlib.AbstractContextManager:
        """A context in which new arrays and kernels go to this backend's device.

        CuPy allocates and launches on the *current* device, so a network built with
        ``device=1`` must do its work with device 1 current (arrays on one GPU cannot be used
        from another); the network's entry points run inside this context. Elsewhere arrays
        carry their device and this is a no-op."""
        if self.name == "cupy":
            return self.device  # cupy.cuda.Device: a context manager restoring the previous one
        return contextlib.nullcontext()

    def make_current(self) -> None:
        """Make this backend's GPU the process's current device (one GPU per process, as NCCL
        and CUDA-aware MPI expect); a no-op on the CPU."""
        if self.name == "cupy":
            self.device.use()
        elif self.name == "torch" and self.device.type == "cuda":
            self._lib.cuda.set_device(self.device)

    @property
    def is_gpu(self) -> bool:
        """True when arrays live in GPU memory."""
        return self.name == "cupy" or (self.name == "torch" and self.device.type == "cuda")

    def tf32(self) -> str:
        """Whether float32 matmuls may use TF32 tensor cores: ``"on"``/``"off"`` on a GPU (CuPy
        reads ``CUPY_TF32`` once, at import; PyTorch's ``allow_tf32`` flag), ``"n/a"`` on a
        CPU. Recorded with every GPU timing, since TF32 changes both speed and precision."""
        if self.name == "cupy":
            return "on" if os.environ.get("CUPY_TF32", "0") == "1" else "off"
        if self.name == "torch" and self.device.type == "cuda":
            return "on" if self._lib.backends.cuda.matmul.allow_tf32 else "off"
        return "n/a"

    @property
    def reads_are_costly(self) -> bool:
        """True when reading a value back to the host must wait for the device: a GPU, or a
        simulated array-api-strict device, which stands in for one. Code that reads values
        back (a ``float()``, a copy to NumPy) does so once per epoch on such a backend, never
        once per step."""
        return self.is_gpu or (self.name == "array_api_strict" and self.device_name != "cpu")

    def describe(self) -> str:
        """A short human-readable name, e.g. ``cupy (cuda:0, NVIDIA H100)``."""
        if self.name == "cupy":
            props = self._lib.cuda.runtime.getDeviceProperties(self.device.id)
            gpu = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
            return f"cupy (cuda:{self.device.id}, {gpu})"
        if self.name == "torch" and self.device.type == "cuda":
            return f"torch ({self.device}, {self._lib.cuda.get_device_name(self.device)})"
        return f"{self.name} ({self.device_name})"

    # ----------------------------------------------------------------- random numbers
    def generator(self, seed: int | None = None) -> Generator:
        """A seeded random source for this backend (see :class:`Generator`)."""
        return Generator(self, seed)


class Generator:
    """Random numbers for one network or one fit.

    Initial weights and shuffling orders are drawn on the host from a NumPy ``Generator`` and
    moved once, so a given seed gives the same weights and batches on every backend. Per-step
    draws (dropout masks) use :meth:`uniform`: on CPU backends they come from the same host
    generator, so they too are identical across NumPy, PyTorch-CPU and array-api-strict; on a
    GPU they come from the device's own generator (seeded from the host one) so that no
    host-to-device copy happens inside a training step.
    """

    def __init__(self, backend: Backend, seed: int | None = None):
        self.backend = backend
        self.host = np.random.default_rng(seed)
        self._device_rng: Any = None

    def permutation(self, n: int) -> Any:
        """A random permutation of ``range(n)``, drawn on the host, as a device index array."""
        perm = self.host.permutation(n)
        return self.backend.xp.asarray(perm, device=self.backend.device)

    def uniform(self, shape: tuple[int, ...], dtype: Any) -> Any:
        """Draws from U[0, 1) of the given dtype on the backend's device."""
        be = self.backend
        if not be.is_gpu:
            draw = self.host.random(size=shape, dtype=np.float64)
            return be.xp.asarray(draw, dtype=dtype, device=be.device)
        if self._device_rng is None:
            seed = int(self.host.integers(2**63 - 1))
            if be.name == "cupy":
                with be.device:
                    self._device_rng = be._lib.random.default_rng(seed)
            else:
                self._device_rng = be._lib.Generator(device=be.device)
                self._device_rng.manual_seed(seed)
        if be.name == "cupy":
            with be.device:
                return self._device_rng.random(size=shape, dtype=dtype)
        return be._lib.rand(shape, generator=self._device_rng, device=be.device, dtype=dtype)

    def reseed(self, seed: Any) -> None:
        """Start afresh from ``seed`` (anything ``numpy.random.default_rng`` takes)."""
        self.host = np.random.default_rng(seed)
        self._device_rng = None

    # The host generator's state is plain JSON, which is what checkpoints store.
    def get_state(self) -> dict[str, Any]:
        return dict(self.host.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.host.bit_generator.state = state
        self._device_rng = None


F = TypeVar("F", bound=Callable[..., Any])


def on_its_device(fn: F) -> F:
    """Run ``fn(net, ...)`` with the network's device current (:meth:`Backend.on_device`): for
    the entry points that compute, so that a network on a second GPU works there."""

    @functools.wraps(fn)
    def run(net: Any, *args: Any, **kwargs: Any) -> Any:
        with net.backend.on_device():
            return fn(net, *args, **kwargs)

    return run  # type: ignore[return-value]


# --------------------------------------------------------------------- resolving a backend
def resolve(backend: str | Backend = "auto", device: Any = None) -> Backend:
    """Turn a backend name (and optional device) into a :class:`Backend`.

    ``device`` is a CuPy device index (``0``, ``"cuda:1"``), a torch device string
    (``"cpu"``, ``"cuda:0"``) or an array-api-strict device name (``"device1"``,
    ``"no_float64"``: simulated devices for testing). Raises :class:`BackendError` with the
    reason and the fix when the backend cannot be used.
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
            return _cupy(device)
        except BackendError:
            return _numpy(device)
    makers = {"numpy": _numpy, "cupy": _cupy, "torch": _torch, "array_api_strict": _strict}
    if name not in makers:
        raise BackendError(
            f"unknown backend {backend!r}; valid backends: auto, {', '.join(BACKENDS)}"
        )
    return makers[name](device)


def _import(module: str, fix: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendError(f"the {module} backend is not installed ({exc}); {fix}") from None


def _cpu_only(name: str, device: Any) -> None:
    if device not in (None, "cpu"):
        raise BackendError(f"the {name} backend runs on the CPU only; got device={device!r}")


def _numpy(device: Any) -> Backend:
    _cpu_only("numpy", device)
    from array_api_compat import numpy as xp

    from .kernels_numpy import NumpyKernels

    tune_host_allocator()
    return Backend("numpy", xp, "cpu", np, kernels=NumpyKernels())


_ALLOCATOR_TUNED = False


def tune_host_allocator() -> bool:
    """Keep glibc from handing each large temporary array fresh pages from the kernel.

    A training step on NumPy allocates temporaries of 0.1-25 MB (activations, gradients).
    glibc serves blocks above its mmap threshold with fresh mappings, so every step pays
    page faults to zero them again; its threshold adapts upward only after some frees, and on
    this project's 2-core machine that made batch 512 steps 1.5x their GEMM time instead of
    1.15x. Raising the mmap threshold to glibc's maximum (32 MiB) and the trim threshold to
    512 MiB keeps freed blocks for reuse. Done once per process, on glibc only, when the NumPy
    backend is first resolved; set ``XPNET_NO_MALLOC_TUNING=1`` to leave the allocator alone.
    Returns whether the settings were applied.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED or os.environ.get("XPNET_NO_MALLOC_TUNING"):
        return _ALLOCATOR_TUNED
    _ALLOCATOR_TUNED = True
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024) == 1
        return ok and libc.mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024) == 1
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl): nothing to do
        return False


def _strict(device: Any) -> Backend:
    xs = _import("array_api_strict", "install it with: pip install array-api-strict")
    devices = {_strict_device_name(d): d for d in xs.__array_namespace_info__().devices()}
    name = "cpu" if device is None else (
        _strict_device_name(device) if isinstance(device, xs.Device) else str(device))
    if name not in devices:
        raise BackendError(f"array_api_strict has no device {device!r}; its devices: "
                           f"{', '.join(devices)}")
    return Backend("array_api_strict", xs, devices[name], xs)


def _strict_device_name(device: Any) -> str:
    """``Device('device1')`` -> ``device1``; the default ``CPU_DEVICE`` is called ``cpu``."""
    text = str(device)
    text = text[text.find("(") + 1:text.rfind(")")].strip("'\"") if "(" in text else text
    return "cpu" if text == "CPU_DEVICE" else text


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


def _cupy(device: Any) -> Backend:
    cp = _import("cupy", "install the GPU extra: pip install 'xpnet[gpu]'")
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDARuntimeError when there is no driver
        raise BackendError(f"cupy is installed but no CUDA device can be used ({exc})") from None
    if count == 0:
        raise BackendError("cupy is installed but this machine has no CUDA device")
    index = _cuda_index(device)
    if not 0 <= index < count:
        raise BackendError(f"CUDA device {index} does not exist; this machine has {count}")
    from array_api_compat import cupy as xp

    return Backend("cupy", xp, cp.cuda.Device(index), cp)


def _torch(device: Any) -> Backend:
    torch = _import("torch", "install PyTorch: pip install 'xpnet[torch]'")
    try:
        dev = torch.device(device if device is not None else "cpu")
    except (RuntimeError, TypeError) as exc:
        raise BackendError(f"invalid torch device {device!r}: {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackendError("torch is installed but sees no CUDA device; use device='cpu'")
        if dev.index is None:
            dev = torch.device("cuda", torch.cuda.current_device())
        if dev.index >= torch.cuda.device_count():
            raise BackendError(f"CUDA device {dev.index} does not exist for torch")
    elif dev.type != "cpu":
        raise BackendError(f"xpnet supports torch devices 'cpu' and 'cuda:N', not {device!r}")
    from array_api_compat import torch as xp

    return Backend("torch", xp, dev, torch)


def gpu_backend_of(x: Any) -> Backend | None:
    """The backend holding ``x`` on its GPU, when ``x`` is a CuPy array or a CUDA PyTorch
    tensor (for ``backend="auto"`` with GPU input: train where the data is); else None."""
    try:
        if array_api_compat.is_cupy_array(x):
            return resolve("cupy", x.device.id)
        if array_api_compat.is_torch_array(x) and x.device.type == "cuda":
            return resolve("torch", x.device)
    except BackendError:
        return None
    return None


def gpu_count() -> int:
    """How many CUDA devices CuPy sees (0 without CuPy or a driver)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDARuntimeError without a driver
        return 0


def _same_device(a: Any, b: Any) -> bool:
    return a == b or str(a) == str(b)


# --------------------------------------------------------------------- host transfers
def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported backend (or anything NumPy can read) to a NumPy array.

    Device arrays move explicitly: CuPy's ``get()``, torch's ``cpu()``, and for other array-API
    arrays the standard's route, ``to_device`` to the CPU and then DLPack. Nothing relies on
    an implicit conversion (``__array__``), which a GPU array refuses."""
    if isinstance(x, np.ndarray):
        return x
    if array_api_compat.is_cupy_array(x):
        return x.get()
    if array_api_compat.is_torch_array(x):
        return x.detach().cpu().numpy()
    namespace = getattr(x, "__array_namespace__", None)
    if namespace is not None and array_api_compat.is_array_api_strict_namespace(namespace()):
        return np.from_dlpack(x.to_device(namespace().Device("CPU_DEVICE")))
    return np.asarray(x)


# --------------------------------------------------------------------- what is available
def available() -> list[dict[str, Any]]:
    """One entry per backend: name, whether it can be used, version and devices, or why not."""
    out = []
    for name in BACKENDS:
        entry: dict[str, Any] = {"backend": name}
        try:
            be = resolve(name)
            lib = be._lib
            entry.update(available=True, version=getattr(lib, "__version__", "?"))
            if name == "cupy":
                n = lib.cuda.runtime.getDeviceCount()
                entry["devices"] = [resolve("cupy", i).describe() for i in range(n)]
            elif name == "torch":
                devs = ["cpu"]
                if lib.cuda.is_available():
                    devs += [f"cuda:{i}" for i in range(lib.cuda.device_count())]
                entry["devices"] = devs
            elif name == "array_api_strict":
                entry["devices"] = [_strict_device_name(d)
                                    for d in lib.__array_namespace_info__().devices()]
            else:
                entry["devices"] = ["cpu"]
        except BackendError as exc:
            entry.update(available=False, reason=str(exc))
        out.append(entry)
    return out
