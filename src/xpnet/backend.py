"""The one module that knows which array libraries exist.

Everything the Python array API standard leaves out lives here: choosing a library and a device,
moving arrays between the host and the device, random numbers on a device, and waiting for a GPU
to finish. Each library is one :class:`Backend` subclass (:class:`NumpyBackend`,
:class:`CupyBackend`, :class:`TorchBackend`, :class:`StrictBackend`) that owns its device
handling, host copies, synchronisation, device random draws and its kernel set
(:mod:`xpnet.kernels`); :data:`REGISTRY` maps each name to its class. The rest of xpnet receives
a Backend and uses its ``xp`` namespace and ``kernels``, so layers, losses, optimizers and the
training loop contain no backend branches. Adding a library is one subclass and one
:data:`REGISTRY` line (``docs/adding-a-backend.md`` walks through it).

``"auto"`` picks CuPy when it imports and sees a CUDA device, else NumPy.

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
from typing import Any, ClassVar, TypeVar

import array_api_compat
import numpy as np

from .kernels import PORTABLE, Kernels

DTYPES = ("float32", "float64")


class BackendError(ValueError):
    """A backend or device was asked for that cannot be used here; the message says why."""


class Backend:
    """An array namespace ``xp`` together with the device arrays are placed on, the library
    module ``lib`` and the element-wise ``kernels`` of a training step.

    Subclasses say how to find their library and device (:meth:`create`), and override what
    differs from a CPU library: device names, synchronisation, the current device, host copies
    (:meth:`holds`, :meth:`to_host`) and random draws on the device. Build one with
    :func:`resolve`.
    """

    #: the name users pass as ``backend=``
    name: ClassVar[str] = "?"
    #: the module to import, and how to install it when it is missing
    module: ClassVar[str] = "?"
    install: ClassVar[str] = ""
    #: the communicator data-parallel training over this library uses by default
    collective: ClassVar[str] = "mpi"
    #: whether a SciPy sparse matrix multiplies this library's arrays directly (``X @ W`` and
    #: ``X.T @ D`` as dense arrays of the library): the first layer's products then use the
    #: sparse rows, which is faster than densifying them (:mod:`xpnet.sparse_rows`)
    sparse_products: ClassVar[bool] = False

    def __init__(self, xp: Any, device: Any, lib: Any, kernels: Kernels = PORTABLE):
        self.xp, self.device, self.lib, self.kernels = xp, device, lib, kernels

    # ----------------------------------------------------------------- building one
    @classmethod
    def create(cls, device: Any = None) -> Backend:
        """The backend on ``device`` (its default when None); :class:`BackendError` when the
        library or the device cannot be used here."""
        raise NotImplementedError

    @classmethod
    def _library(cls) -> Any:
        try:
            return importlib.import_module(cls.module)
        except ImportError as exc:
            raise BackendError(
                f"the {cls.name} backend is not installed ({exc}); {cls.install}") from None

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
        return str(self.device)

    def owns(self, x: Any) -> bool:
        """Whether ``x`` is already an array of this backend (namespace and device)."""
        if not array_api_compat.is_array_api_obj(x) or isinstance(x, (int, float)):
            return False
        try:
            same_ns = array_api_compat.array_namespace(x) is self.xp
        except TypeError:
            return False
        here = array_api_compat.device(x)
        return same_ns and (here == self.device or str(here) == str(self.device))

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

    # ----------------------------------------------------------------- host copies
    @staticmethod
    def holds(x: Any) -> bool:
        """Whether ``x`` is an array of this library (for :func:`to_numpy`)."""
        return False

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        """``x``, an array this library :meth:`holds`, copied to a NumPy array explicitly."""
        return np.asarray(x)

    # ----------------------------------------------------------------- devices
    @property
    def is_gpu(self) -> bool:
        """True when arrays live in GPU memory."""
        return False

    @property
    def reads_are_costly(self) -> bool:
        """True when reading a value back to the host must wait for the device (a GPU, or a
        simulated device that stands in for one). Code that reads values back (a ``float()``,
        a copy to NumPy) does so once per epoch on such a backend, never once per step."""
        return self.is_gpu

    def synchronize(self) -> None:
        """Block until every queued GPU kernel has finished (a no-op on the CPU)."""

    def on_device(self) -> contextlib.AbstractContextManager:
        """A context in which new arrays and kernels go to this backend's device (a no-op
        where arrays carry their device; CuPy launches on the *current* device)."""
        return contextlib.nullcontext()

    def make_current(self) -> None:
        """Make this backend's GPU the process's current device (one GPU per process, as NCCL
        and CUDA-aware MPI expect); a no-op on the CPU."""

    def device_for_rank(self, rank: int) -> Any:
        """The device rank ``rank`` of a data-parallel run takes when none is named: None
        (the default device) on the CPU; each rank its own GPU on a GPU backend."""
        return None

    def quiet_float_errors(self) -> contextlib.AbstractContextManager:
        """A context in which overflow and invalid operations give inf and NaN silently (the
        divergence guard then reports them once, in one line); a no-op where the library
        never warns."""
        return contextlib.nullcontext()

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``fn`` (a training step as a function of explicit state) compiled whole, where the
        library can (``compile=True``); :class:`BackendError` naming those that can, elsewhere."""
        raise BackendError(
            f"compile=True needs a backend that compiles the whole step: torch (torch.compile); "
            f"the {self.name} backend runs the step as it is: drop compile=True or use "
            "backend='torch'")

    def scalar(self, value: float, dtype: Any) -> Any:
        """``value`` as a 0-d array of ``dtype`` on the device."""
        return self.xp.asarray(value, dtype=dtype, device=self.device)

    def threads_for(self, flops: float) -> contextlib.AbstractContextManager:
        """A context with the library's compute threads chosen for a training step of
        ``flops`` GEMM operations (the CPU backends; a no-op elsewhere)."""
        return contextlib.nullcontext()

    def tf32(self) -> str:
        """Whether float32 matmuls may use TF32 tensor cores: ``"on"``/``"off"`` on a GPU,
        ``"n/a"`` on a CPU. Recorded with every GPU timing, since TF32 changes both speed and
        precision."""
        return "n/a"

    def describe(self) -> str:
        """A short human-readable name, e.g. ``cupy (cuda:0, NVIDIA H100)``."""
        return f"{self.name} ({self.device_name})"

    def devices(self) -> list[str]:
        """The devices this library can use here, as users name them (for ``xpnet info``)."""
        return ["cpu"]

    # ----------------------------------------------------------------- random numbers
    def generator(self, seed: int | None = None) -> Generator:
        """A seeded random source for this backend (see :class:`Generator`)."""
        return Generator(self, seed)

    def device_random(self, seed: int) -> Any:
        """A random generator living on the device, seeded with ``seed`` (GPU backends)."""
        raise NotImplementedError(f"{self.name} draws its random numbers on the host")

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Draws from U[0, 1) by :meth:`device_random`'s generator ``rng``."""
        raise NotImplementedError(f"{self.name} draws its random numbers on the host")

    def __repr__(self) -> str:
        return f"<Backend {self.describe()}>"


# --------------------------------------------------------------------- the libraries
class NumpyBackend(Backend):
    """NumPy on the CPU, with NumPy's kernel overrides (:mod:`xpnet.kernels_numpy`)."""

    name, module = "numpy", "numpy"
    sparse_products = True

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        _cpu_only(cls.name, device)
        from array_api_compat import numpy as xp

        tune_host_allocator()
        return cls(xp, "cpu", np, numpy_kernels())

    def quiet_float_errors(self) -> contextlib.AbstractContextManager:
        return np.errstate(over="ignore", invalid="ignore", divide="ignore", under="ignore")

    def threads_for(self, flops: float) -> contextlib.AbstractContextManager:
        """The BLAS threads for a step of ``flops`` (:func:`blas_threads_for`), through
        threadpoolctl when it is installed (``pip install "xpnet[cpu]"``); else as they are."""
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


class CupyBackend(Backend):
    """CuPy on a CUDA GPU; work runs with the network's GPU current."""

    name, module, collective = "cupy", "cupy", "nccl"
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
        # CuPy reads CUPY_TF32 once, before its first matmul
        return "on" if os.environ.get("CUPY_TF32", "0") == "1" else "off"

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


class TorchBackend(Backend):
    """PyTorch tensors on the CPU or a CUDA GPU."""

    name, module = "torch", "torch"
    install = "install PyTorch: pip install 'xpnet[torch]'"

    @classmethod
    def create(cls, device: Any = None) -> Backend:
        torch = cls._library()
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
            raise BackendError(
                f"xpnet supports torch devices 'cpu' and 'cuda:N', not {device!r}")
        from array_api_compat import torch as xp

        return cls(xp, dev, torch)

    @property
    def is_gpu(self) -> bool:
        return self.device.type == "cuda"

    def synchronize(self) -> None:
        if self.is_gpu:
            self.lib.cuda.synchronize(self.device)

    def make_current(self) -> None:
        if self.is_gpu:
            self.lib.cuda.set_device(self.device)

    def tf32(self) -> str:
        if not self.is_gpu:
            return "n/a"
        return "on" if self.lib.backends.cuda.matmul.allow_tf32 else "off"

    def describe(self) -> str:
        if self.is_gpu:
            return f"torch ({self.device}, {self.lib.cuda.get_device_name(self.device)})"
        return super().describe()

    def devices(self) -> list[str]:
        cuda = self.lib.cuda
        return ["cpu"] + ([f"cuda:{i}" for i in range(cuda.device_count())]
                          if cuda.is_available() else [])

    def compile(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """``torch.compile`` of the whole step: forward, backward and update in one graph
        (TorchInductor's kernels on the CPU; on CUDA, CUDA graphs are another option to
        measure there). The first call compiles, for seconds; later calls reuse it, and
        TorchInductor caches compilations on disk across processes."""
        return self.lib.compile(fn)

    def device_random(self, seed: int) -> Any:
        rng = self.lib.Generator(device=self.device)
        rng.manual_seed(seed)
        return rng

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        return self.lib.rand(shape, generator=rng, device=self.device, dtype=dtype)

    @staticmethod
    def holds(x: Any) -> bool:
        return array_api_compat.is_torch_array(x)

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        return x.detach().cpu().numpy()


REGISTRY: dict[str, type[Backend]] = {
    "numpy": NumpyBackend,
    "cupy": CupyBackend,
    "torch": TorchBackend,
    "array_api_strict": StrictBackend,
}
"""Every backend by name: a new library is one :class:`Backend` subclass and one line here."""

BACKENDS = tuple(REGISTRY)


def _cpu_only(name: str, device: Any) -> None:
    if device not in (None, "cpu"):
        raise BackendError(f"the {name} backend runs on the CPU only; got device={device!r}")


def numpy_kernels() -> Kernels:
    """NumPy's kernel set: its own overrides (:mod:`xpnet.kernels_numpy`), or with
    ``XPNET_KERNELS=numba`` the fused numba kernels (:mod:`xpnet.kernels_numba`, needs
    ``pip install "xpnet[cpu]"``). They are not the default: their epochs were faster by less than
    the 10% at both network sizes that would pay for a compiler at import (the performance
    docs give the measurements)."""
    choice = os.environ.get("XPNET_KERNELS", "numpy")
    if choice == "numba":
        try:
            from .kernels_numba import NumbaKernels
        except ImportError as exc:
            raise BackendError(f"XPNET_KERNELS=numba needs numba ({exc}); install it with: "
                               'pip install "xpnet[cpu]"') from None
        return NumbaKernels()
    if choice != "numpy":
        raise BackendError(f"unknown XPNET_KERNELS={choice!r}; valid: numpy, numba")
    from .kernels_numpy import NumpyKernels

    return NumpyKernels()


ONE_THREAD_BELOW = 30e6
"""GEMM FLOPs per training step under which NumPy's BLAS runs on one thread: between the
largest step that ran faster on one thread and the smallest that ran no faster, in the
measurements ``benchmarks/blas_threads.py`` prints (the performance docs give them). Below it,
the threads' meeting in every small GEMM costs more than the second core gives."""

_USER_THREAD_SETTINGS = ("XPNET_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                         "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


@functools.lru_cache(maxsize=1)
def blas_controller() -> Any:
    """threadpoolctl's controller of the BLAS libraries loaded when it is first asked for, the
    ones the NumPy backend limits (NumPy's own among them: this module imports NumPy first; a
    BLAS that another library loads later, PyTorch's say, serves that library, not NumPy), or
    None without threadpoolctl. Found once: finding them scans the process's loaded libraries,
    which costs more than a small L-BFGS fit's own work."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController().select(user_api="blas")


def blas_threads_for(flops: float) -> int | None:
    """How many BLAS threads a training step of ``flops`` GEMM operations should use: one below
    :data:`ONE_THREAD_BELOW`, else every core this process may run on. None (leave the BLAS as
    it is) when the user has set a thread count (``OPENBLAS_NUM_THREADS`` and its kin);
    ``XPNET_BLAS_THREADS=N`` fixes N for xpnet alone."""
    explicit = os.environ.get("XPNET_BLAS_THREADS")
    if explicit:
        return max(1, int(explicit))
    if any(os.environ.get(name) for name in _USER_THREAD_SETTINGS[1:]):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return 1 if flops < ONE_THREAD_BELOW else max(1, cores or 1)


_ALLOCATOR_TUNED = False


def tune_host_allocator() -> bool:
    """Keep glibc from handing each large temporary array fresh pages from the kernel.

    A training step on NumPy allocates temporaries of 0.1-25 MB (activations, gradients).
    glibc serves blocks above its mmap threshold with fresh mappings, so every step pays page
    faults to zero them again; its threshold adapts upward only after some frees. Raising the
    mmap threshold to glibc's maximum (32 MiB) and the trim threshold to 512 MiB keeps freed
    blocks for reuse (the measurements are in the performance docs). Done once per process, on
    glibc only, when the NumPy backend is first resolved; set ``XPNET_NO_MALLOC_TUNING=1`` to
    leave the allocator alone. Returns whether the settings were applied.
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


# --------------------------------------------------------------------- random numbers
class Generator:
    """Random numbers for one network or one fit.

    Initial weights and shuffling orders are drawn on the host from a NumPy ``Generator`` and
    moved once, so a given seed gives the same weights and batches on every backend. Per-step
    draws (dropout masks) use :meth:`uniform`: on CPU backends they come from the same host
    generator, so they too are identical across NumPy, PyTorch-CPU and array-api-strict; on a
    GPU they come from the device's own generator (:meth:`Backend.device_random`, seeded from
    the host one) so that no host-to-device copy happens inside a training step.
    """

    def __init__(self, backend: Backend, seed: Any = None):
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
            self._device_rng = be.device_random(int(self.host.integers(2**63 - 1)))
        return be.device_uniform(self._device_rng, shape, dtype)

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
    """Run ``fn(model, ...)`` with the model's device current (:meth:`Backend.on_device`): for
    the entry points that compute, so that a network on a second GPU works there."""

    @functools.wraps(fn)
    def run(model: Any, *args: Any, **kwargs: Any) -> Any:
        with model.backend.on_device():
            return fn(model, *args, **kwargs)

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
    try:
        if CupyBackend.holds(x):
            return CupyBackend.create(x.device.id)
        if TorchBackend.holds(x) and x.device.type == "cuda":
            return TorchBackend.create(x.device)
    except BackendError:
        return None
    return None


def gpu_count() -> int:
    """How many CUDA devices CuPy sees (0 without CuPy or a working driver)."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # ImportError, or CUDARuntimeError without a driver
        return 0


# --------------------------------------------------------------------- host transfers
def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported backend (or anything NumPy can read) to a NumPy array.

    Device arrays move explicitly, each by its backend's :meth:`Backend.to_host` (CuPy's
    ``get()``, torch's ``cpu()``, the standard's ``to_device`` and DLPack); nothing relies on
    an implicit conversion (``__array__``), which a GPU array refuses."""
    for cls in REGISTRY.values():
        if cls.holds(x):
            return cls.to_host(x)
    return np.asarray(x)


# --------------------------------------------------------------------- what is available
def available() -> list[dict[str, Any]]:
    """One entry per backend: name, whether it can be used, version and devices, or why not."""
    out = []
    for name in BACKENDS:
        entry: dict[str, Any] = {"backend": name}
        try:
            be = resolve(name)
            entry.update(available=True, version=getattr(be.lib, "__version__", "?"),
                         devices=be.devices(), kernels=be.kernels.name)
        except BackendError as exc:
            entry.update(available=False, reason=str(exc))
        out.append(entry)
    return out
