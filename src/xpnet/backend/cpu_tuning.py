"""CPU tuning for the NumPy backend: how many BLAS threads a step of a given size runs on, and
glibc's allocator kept from returning a step's large temporaries to the kernel; and whether the
CPU has bfloat16 units, which decides whether a bf16 policy pays on it."""

from __future__ import annotations

import functools
import os
from typing import Any

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
    [`ONE_THREAD_BELOW`][xpnet.backend.cpu_tuning.ONE_THREAD_BELOW], else every core this process
    may run on. None (leave the BLAS as it is) when the user has set a thread count
    (``OPENBLAS_NUM_THREADS`` and its kin); ``XPNET_BLAS_THREADS=N`` fixes N for xpnet alone."""
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


BF16_FLAGS = ("avx512_bf16", "amx_bf16")
"""The CPU flags (as Linux's ``/proc/cpuinfo`` names them) of bfloat16 arithmetic units: AVX-512
BF16 (AMD Zen 4, Intel Cooper Lake and later) and AMX (Intel Sapphire Rapids and later). Without
one, a library computes bf16 products by converting to float32 and back, slower than float32."""


@functools.lru_cache(maxsize=1)
def cpu_bf16_units() -> list[str] | None:
    """Which of [`BF16_FLAGS`][xpnet.backend.cpu_tuning.BF16_FLAGS] this CPU has (an empty list:
    none), or None where the flags cannot be read (no ``/proc/cpuinfo``: macOS, Windows)."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh
                          if line.startswith("flags")), None)
    except OSError:
        return None
    if flags is None:
        return None
    return [f for f in BF16_FLAGS if f in flags]
