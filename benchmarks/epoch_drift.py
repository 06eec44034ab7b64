"""Epoch times of one fit, to see drift: 784-100-10 on MNIST, batch 32, SGD with momentum 0.9.

    python benchmarks/epoch_drift.py --epochs 10
    python benchmarks/epoch_drift.py --epochs 10 --flush-every 1000000000   # never flushed

Weights whose gradient is always zero (MNIST's blank border pixels, dead units) have
velocities that decay by the momentum at every step into subnormal numbers, on which many
CPUs compute slowly; xpnet flushes them (every ``xpnet.step.FLUSH_EVERY`` steps, and inside the
numba momentum kernel). The script prints each epoch's seconds, the slowest later epoch over
the first, and the share of the velocity that is subnormal at the end.
"""

from __future__ import annotations

import argparse
import os

import numpy as np


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--flush-every", type=int, help="steps between flushes (xpnet's default)")
    p.add_argument("--numba", action="store_true", help="the fused numba kernels")
    args = p.parse_args()
    if args.numba:
        os.environ["XPNET_KERNELS"] = "numba"
    import xpnet
    from xpnet import step

    if args.flush_every:
        step.FLUSH_EVERY = args.flush_every
    ds = xpnet.datasets.mnist(download=False)
    X = (ds.X_train / 255.0).astype(np.float32)
    net = xpnet.Network([784, 100, 10], backend="numpy", seed=0)
    opt = xpnet.SGD(0.05, momentum=0.9)
    h = net.fit(X, ds.y_train, epochs=args.epochs, batch_size=32, optimizer=opt,
                progress=False)
    v = np.concatenate([a.ravel() for a in opt.state["velocity"].values()])
    sub = np.mean((v != 0) & (np.abs(v) < np.finfo(np.float32).tiny))
    print(f"kernels {net.backend.kernels.name}, flush every {step.FLUSH_EVERY} steps: epochs "
          + " ".join(f"{s:.3f}" for s in h.seconds)
          + f" s; slowest later epoch / first {max(h.seconds[1:]) / h.seconds[0]:.2f}; "
          f"subnormal velocity at the end {sub:.1%}")


if __name__ == "__main__":
    main()
