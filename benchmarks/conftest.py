"""Benchmark fixtures: every available backend except array_api_strict (a checker, not a
runtime), PyTorch on the CPU and on CUDA, and GPU-synchronised timing. Run with
``pytest benchmarks --benchmark-only``."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import xpnet
from xpnet.backend import BackendError

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
if "XPNET_DATA_DIR" not in os.environ and SHARED_DATA.is_dir():
    os.environ["XPNET_DATA_DIR"] = str(SHARED_DATA)

# name or name:device; torch:cuda is PyTorch on the GPU through xpnet's torch backend;
# numpy-numba is NumPy with the fused numba kernels (XPNET_KERNELS=numba)
BACKENDS = ["numpy", "numpy-numba", "torch", "torch:cuda", "cupy"]
DTYPES = ["float32", "float64"]
# XPNET_BENCH_BATCHES="32,128" times fewer batch sizes (gpu_check.py's dry run uses it).
BATCHES = [int(b) for b in os.environ.get("XPNET_BENCH_BATCHES", "1,8,32,128,512,2048,8192")
           .split(",")]
SIZES = (784, 512, 512, 10)


@pytest.fixture(params=BACKENDS)
def backend(request) -> xpnet.Backend:
    if request.param == "numpy-numba":
        from xpnet.backend import NumpyBackend

        try:
            from xpnet.kernels_numba import NumbaKernels
        except ImportError:
            pytest.skip("numba is not installed: pip install 'xpnet[cpu]'")
        be = NumpyBackend.create()
        return NumpyBackend(be.xp, be.device, be.lib, NumbaKernels())
    name, _, device = request.param.partition(":")
    try:
        return xpnet.resolve(name, device or None)
    except BackendError as exc:
        pytest.skip(f"{request.param} unavailable: {exc}")


def synced(fn, backend: xpnet.Backend):
    """``fn`` followed by a device synchronisation: a GPU call returns before its work is done,
    so the timed function must wait for it."""
    def run():
        out = fn()
        backend.synchronize()
        return out

    return run


def record(benchmark, backend: xpnet.Backend, dtype: str, batch: int, flops: int, **more):
    from xpnet.bench import machine

    benchmark.extra_info.update(backend=backend.name, device=backend.describe(), dtype=dtype,
                                batch_size=batch, flops=flops, tf32=backend.tf32(),
                                kernels=backend.kernels.name, machine=machine(), **more)


def add_gflops(benchmark) -> None:
    """After the run: GFLOP/s from the median time."""
    flops = benchmark.extra_info.get("flops")
    if flops and benchmark.stats is not None:
        benchmark.extra_info["gflops"] = flops / benchmark.stats.stats.median / 1e9
