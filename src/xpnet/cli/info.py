"""``xpnet info``: versions, backends, devices and the BLAS."""

from __future__ import annotations

import argparse
import os
import platform

import numpy as np

from .. import __version__
from ..backend import available


def cmd_info(args: argparse.Namespace) -> int:
    print(f"xpnet {__version__}, Python {platform.python_version()} on {platform.platform()}")
    print(f"CPU cores: {os.cpu_count()}")
    print(f"numpy {np.__version__}, BLAS: {_blas()}")
    for entry in available():
        if entry["available"]:
            print(f"  {entry['backend']:<17} {entry['version']:<12} "
                  f"devices: {', '.join(entry['devices'])}; kernels: {entry['kernels']}"
                  + (" (fused, numba: XPNET_KERNELS=numba)"
                     if entry["kernels"] == "numba" else ""))
        else:
            print(f"  {entry['backend']:<17} unavailable: {entry['reason']}")
    return 0


def _blas() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older NumPy: no dict form
        return "unknown"
