"""Shared fixtures: every engine test runs on each available backend.

numpy and array_api_strict always run (numpy twice where numba is installed: with its own
kernels and with the fused numba ones), array_api_strict also on its simulated devices:
``device1`` (arrays that refuse to mix with CPU arrays or to become NumPy arrays implicitly, as
CuPy's do) and ``no_float64`` (a device without float64, as some accelerators). torch runs when
it imports, on the CPU and (``torch:cuda``) on a CUDA device; cupy runs when CuPy imports and
sees a CUDA device. What cannot run here is skipped, with the reason.

The documented skips: cupy and torch:cuda without a GPU; torch where it does not import; and, on
``no_float64``, the tests that need float64 (gradient checks and the comparisons with float64
references) -- ``test_device.py::test_float64_on_a_device_without_it_says_so`` checks the
error those would get instead.
"""

from __future__ import annotations

import os
from pathlib import Path

# scikit-learn's estimator checks test array-API inputs only when SciPy allows them, which it
# decides when first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest

import xpnet
from xpnet.backend import BackendError

ALL_BACKENDS = ["numpy", "numpy-numba", "array_api_strict", "array_api_strict:device1",
                "array_api_strict:no_float64", "torch", "torch:cuda", "cupy"]

# Tests, CI and benchmarks read the canonical data from the shared folder beside the checkout.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "XPNET_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["XPNET_DATA_DIR"] = str(SHARED_DATA)


def _backend_or_skip(spec: str) -> xpnet.Backend:
    """``name`` or ``name:device`` as a Backend, or a skip saying why it cannot run here.
    ``numpy-numba`` is NumPy with the fused numba kernels (``XPNET_KERNELS=numba``), where
    ``numpy`` has its own: the suite runs both."""
    if spec == "numpy-numba":
        from xpnet.backend import NumpyBackend

        try:
            from xpnet.kernels_numba import NumbaKernels
        except ImportError:
            pytest.skip("numba is not installed: pip install 'xpnet[cpu]'")
        be = NumpyBackend.create()
        return NumpyBackend(be.xp, be.device, be.lib, NumbaKernels())
    name, _, device = spec.partition(":")
    try:
        return xpnet.resolve(name, device or None)
    except BackendError as exc:
        pytest.skip(f"{spec} unavailable: {exc}")


def dtype_or_skip(backend: xpnet.Backend, dtype: str) -> str:
    """``dtype`` where ``backend``'s device has it; a documented skip on one that lacks it."""
    if dtype not in backend.dtypes():
        pytest.skip(f"{backend.describe()} has no {dtype} (see the documented skips above)")
    return dtype


@pytest.fixture(params=ALL_BACKENDS)
def backend(request) -> xpnet.Backend:
    """A usable Backend for each library (skipped where it cannot run)."""
    return _backend_or_skip(request.param)


@pytest.fixture
def numpy_backend() -> xpnet.Backend:
    return xpnet.resolve("numpy")


@pytest.fixture
def data_dir() -> Path:
    """The shared data folder (MNIST, wheat seeds); tests that need it skip without it."""
    path = Path(os.environ.get("XPNET_DATA_DIR", SHARED_DATA))
    if not (path / "mnist").is_dir():
        pytest.skip(f"no shared data at {path}; set XPNET_DATA_DIR")
    return path


