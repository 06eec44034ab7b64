"""``xpnet info``: versions, backends, devices and the BLAS."""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from .. import __version__
from ..backend import BF16_FLAGS, available, cpu_bf16_units
from ..precision import POLICIES


def cmd_info(args: argparse.Namespace) -> int:
    print(f"xpnet {__version__}, Python {platform.python_version()} on {platform.platform()}")
    print(f"CPU cores: {os.cpu_count()}")
    print(f"numpy {np.__version__}, BLAS: {_blas()}")
    for entry in available():
        if entry["available"]:
            print(f"  {entry['backend']:<17} {entry['version']:<12} "
                  f"devices: {', '.join(entry['devices'])}; kernels: {entry['kernels']}"
                  + (" (fused, numba: XPNET_KERNELS=numba)"
                     if entry["kernels"] == "numba" else "")
                  + f"; precision: {', '.join(_policies(entry['low_precision']))}")
        else:
            print(f"  {entry['backend']:<17} unavailable: {entry['reason']}")
    print(_bf16_line(cpu_bf16_units()))
    return 0


def _policies(low_precision: list[str]) -> list[str]:
    """The precision policies a backend with these low-precision dtypes runs."""
    return [p.name for p in POLICIES.values() if p.compute is None or p.compute in low_precision]


def _bf16_line(units: list[str] | None) -> str:
    """What ``xpnet info`` says of the CPU's bfloat16 units (``precision="bf16-mixed"`` on the
    CPU pays only with them)."""
    if units is None:
        return "CPU bf16 units: unknown here (no /proc/cpuinfo)"
    if units:
        return (f"CPU bf16 units: {', '.join(units)} (bf16-mixed on the torch CPU backend "
                "computes on them)")
    return (f"CPU bf16 units: none (no {' or '.join(BF16_FLAGS)}); warning: bf16-mixed on this "
            "CPU converts each product to float32 and back, slower than precision '32'")


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict form
        return "unknown"
