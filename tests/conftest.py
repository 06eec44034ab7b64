"""Shared fixtures: every engine test runs on each available backend.

numpy and array_api_strict always run; torch runs when it imports; cupy runs when CuPy imports
and sees a CUDA device, and is skipped (with the reason) otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import xpnet
from xpnet.backend import BackendError

ALL_BACKENDS = ["numpy", "array_api_strict", "torch", "cupy"]

# Tests, CI and benchmarks read the canonical data from the shared folder beside the checkout.
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "XPNET_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["XPNET_DATA_DIR"] = str(SHARED_DATA)


def _backend_or_skip(name: str) -> xpnet.Backend:
    try:
        return xpnet.resolve(name)
    except BackendError as exc:
        pytest.skip(f"{name} unavailable: {exc}")


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


