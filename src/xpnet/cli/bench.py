"""``xpnet bench``: the training step timed against its own GEMMs."""

from __future__ import annotations

import argparse


def cmd_bench(args: argparse.Namespace) -> int:
    from ..bench import main as bench_main
    from ..network import Network

    return bench_main(args, lambda sizes, backend, dtype, precision: Network(
        sizes, hidden="relu", backend=backend, dtype=dtype, seed=0, precision=precision))
