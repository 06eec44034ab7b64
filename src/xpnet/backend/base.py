"""The contract every array library meets: the [`Backend`][xpnet.backend.base.Backend] base class,
its error, and the registry that maps a library's name to its class.

Everything the Python array API standard leaves out is a [`Backend`][xpnet.backend.base.Backend]
method: choosing a device, moving arrays between the host and the device, random numbers on a
device, waiting for a GPU, compiling a step, and the library's element-wise kernels
([`xpnet.kernels`][xpnet.kernels]). The defaults here are a CPU library's; a subclass in a module of
its own overrides what its library does differently. [`REGISTRY`][xpnet.backend.base.REGISTRY] is
filled by [`xpnet.backend.registry`][xpnet.backend.registry], and
[`to_numpy`][xpnet.backend.base.to_numpy] asks each registered class whether it holds an array.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

import array_api_compat
import numpy as np

from ..kernels import PORTABLE, Kernels
from .generator import Generator

DTYPES = ("float32", "float64")


class BackendError(ValueError):
    """A backend or device was asked for that cannot be used here; the message says why."""


class Backend:
    """An array namespace ``xp`` together with the device arrays are placed on, the library
    module ``lib`` and the element-wise ``kernels`` of a training step.

    Subclasses say how to find their library and device
    ([`create`][xpnet.backend.base.Backend.create]), and override what differs from a CPU library:
    device names, synchronisation, the current device, host copies
    ([`holds`][xpnet.backend.base.Backend.holds], [`to_host`][xpnet.backend.base.Backend.to_host])
    and random draws on the device. Build one with [`resolve`][xpnet.backend.registry.resolve].
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
    #: sparse rows, which is faster than densifying them ([`xpnet.sparse_rows`][xpnet.sparse_rows])
    sparse_products: ClassVar[bool] = False
    #: whether [`compile`][xpnet.backend.base.Backend.compile] compiles a whole step
    #: (``compile=True``, ``--compile``)
    compiles: ClassVar[bool] = False
    #: the low-precision floating dtypes this library's GEMMs take ("bfloat16", "float16"), by
    #: which the mixed precision policies compute ([`xpnet.precision`][xpnet.precision]); the array
    #: API standard has none, but ``xp.astype`` and ``@`` take a library's own
    low_precision: ClassVar[tuple[str, ...]] = ()

    def __init__(self, xp: Any, device: Any, lib: Any, kernels: Kernels = PORTABLE):
        self.xp, self.device, self.lib, self.kernels = xp, device, lib, kernels

    # ----------------------------------------------------------------- building one
    @classmethod
    def create(cls, device: Any = None) -> Backend:
        """The backend on ``device`` (its default when None);
        [`BackendError`][xpnet.backend.base.BackendError] when the library or the device cannot be
        used here."""
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

        Raises [`BackendError`][xpnet.backend.base.BackendError] when the device cannot hold that
        dtype (asked through the standard's inspection API,
        ``__array_namespace_info__().dtypes(device=...)``)."""
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

    def low_precision_dtype(self, name: str, policy: str) -> Any:
        """The library's dtype ``name`` (one of
        [`low_precision`][xpnet.backend.base.Backend.low_precision]) for the precision policy
        ``policy``; a one-line
        [`BackendError`][xpnet.backend.base.BackendError] naming the backends that have it where
        this one does not."""
        if name not in self.low_precision:
            have = [n for n, cls in REGISTRY.items() if name in cls.low_precision]
            raise BackendError(
                f"precision={policy!r} computes in {name}, which the {self.name} backend does not "
                f"have; backends with {name}: {', '.join(have) or 'none'} (or precision '32': "
                "precision='32' in Python, --precision 32 on the command line)")
        return getattr(self.lib, name)

    def dtypes(self) -> list[str]:
        """The names in [`DTYPES`][xpnet.backend.base.DTYPES] that this backend's device
        supports."""
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
        """Whether ``x`` is an array of this library (for
        [`to_numpy`][xpnet.backend.base.to_numpy])."""
        return False

    @staticmethod
    def to_host(x: Any) -> np.ndarray:
        """``x``, an array this library [`holds`][xpnet.backend.base.Backend.holds], copied to a
        NumPy array explicitly."""
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
        library can (``compile=True``); [`BackendError`][xpnet.backend.base.BackendError] naming
        those that can, elsewhere."""
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
        """A seeded random source for this backend (see
        [`Generator`][xpnet.backend.generator.Generator])."""
        return Generator(self, seed)

    def device_random(self, seed: int) -> Any:
        """A random generator living on the device, seeded with ``seed`` (GPU backends)."""
        raise NotImplementedError(f"{self.name} draws its random numbers on the host")

    def device_uniform(self, rng: Any, shape: tuple[int, ...], dtype: Any) -> Any:
        """Draws from U[0, 1) by [`device_random`][xpnet.backend.base.Backend.device_random]'s
        generator ``rng``."""
        raise NotImplementedError(f"{self.name} draws its random numbers on the host")

    @classmethod
    def gpu_home(cls, x: Any) -> Backend | None:
        """The backend on the GPU that holds ``x``, when ``x`` is this library's array in GPU
        memory (so that ``backend="auto"`` trains where the data is); else None."""
        device = cls.gpu_of(x) if cls.holds(x) else None
        if device is None:
            return None
        try:
            return cls.create(device)
        except BackendError:
            return None

    @staticmethod
    def gpu_of(x: Any) -> Any:
        """The GPU holding ``x``, an array of this library, as ``create`` takes it; None for an
        array in host memory (always, for a CPU library)."""
        return None

    def __repr__(self) -> str:
        return f"<Backend {self.describe()}>"


def cpu_only(name: str, device: Any) -> None:
    if device not in (None, "cpu"):
        raise BackendError(f"the {name} backend runs on the CPU only; got device={device!r}")


REGISTRY: dict[str, type[Backend]] = {}
"""Every backend by name, filled in [`xpnet.backend.registry`][xpnet.backend.registry] (a new
library is one module with its [`Backend`][xpnet.backend.base.Backend] subclass and one line
there)."""


def to_numpy(x: Any) -> np.ndarray:
    """Copy an array of any supported backend (or anything NumPy can read) to a NumPy array.

    Device arrays move explicitly, each by its backend's
    [`Backend.to_host`][xpnet.backend.base.Backend.to_host] (CuPy's ``get()``, torch's ``cpu()``,
    the standard's ``to_device`` and DLPack); nothing relies on an implicit conversion
    (``__array__``), which a GPU array refuses."""
    for cls in REGISTRY.values():
        if cls.holds(x):
            return cls.to_host(x)
    return np.asarray(x)


F = TypeVar("F", bound=Callable[..., Any])


def on_its_device(fn: F) -> F:
    """Run ``fn(model, ...)`` with the model's device current
    ([`Backend.on_device`][xpnet.backend.base.Backend.on_device]): for the entry points that
    compute, so that a network on a second GPU works there."""

    @functools.wraps(fn)
    def run(model: Any, *args: Any, **kwargs: Any) -> Any:
        with model.backend.on_device():
            return fn(model, *args, **kwargs)

    return run  # type: ignore[return-value]
