"""The one package that knows which array libraries exist.

Everything the Python array API standard leaves out lives here: choosing a library and a device,
moving arrays between the host and the device, random numbers on a device, and waiting for a GPU
to finish. The rest of xpnet receives a [`Backend`][xpnet.backend.base.Backend] and uses its ``xp``
namespace and ``kernels``, so layers, losses, optimizers and the training loop contain no backend
branches.

One module, one idea:

* [`base`][xpnet.backend.base]: the [`Backend`][xpnet.backend.base.Backend] base class (a CPU
  library's defaults), its error, the registry table and host copies
  ([`to_numpy`][xpnet.backend.base.to_numpy]);
* one module per library, each with its subclass: [`numpy_backend`][xpnet.backend.numpy_backend],
  [`cupy_backend`][xpnet.backend.cupy_backend], [`torch_backend`][xpnet.backend.torch_backend],
  [`strict_backend`][xpnet.backend.strict_backend];
* [`registry`][xpnet.backend.registry]: the libraries by name,
  [`resolve`][xpnet.backend.registry.resolve] and [`available`][xpnet.backend.registry.available];
* [`generator`][xpnet.backend.generator]: the seeded random source of a network or a fit;
* [`cpu_tuning`][xpnet.backend.cpu_tuning]: BLAS threads per step, the host allocator, and
  whether the CPU has bf16 units.

Adding a library is one new module and one registry line (``docs/adding-a-backend.md``). Every
public name is importable from ``xpnet.backend`` itself.
"""

from .base import DTYPES, REGISTRY, Backend, BackendError, cpu_only, on_its_device, to_numpy
from .cpu_tuning import (
    BF16_FLAGS,
    ONE_THREAD_BELOW,
    blas_controller,
    blas_threads_for,
    cpu_bf16_units,
    tune_host_allocator,
)
from .cupy_backend import CupyBackend, gpu_count
from .generator import Generator
from .numpy_backend import NumpyBackend, numpy_kernels
from .registry import BACKENDS, available, gpu_backend_of, resolve
from .strict_backend import StrictBackend
from .torch_backend import TorchBackend

__all__ = [
    "BACKENDS", "BF16_FLAGS", "DTYPES", "ONE_THREAD_BELOW", "REGISTRY", "Backend",
    "BackendError", "CupyBackend", "Generator", "NumpyBackend", "StrictBackend", "TorchBackend",
    "available", "blas_controller", "blas_threads_for", "cpu_bf16_units", "cpu_only",
    "gpu_backend_of", "gpu_count", "numpy_kernels", "on_its_device", "resolve", "to_numpy",
    "tune_host_allocator",
]
