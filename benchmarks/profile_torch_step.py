"""Where a training step's time goes on a device: the wall time of the step a fit runs
(xpnet's torch backend, 784-512-512-10, SGD with momentum) against the time its kernels take,
from ``torch.profiler``, and how many kernels one step launches.

    python benchmarks/profile_torch_step.py --device cuda:0 --json OUT.json
    python benchmarks/profile_torch_step.py --device cpu     # the same plumbing on the CPU

CUDA events time the span from the first kernel to the last, gaps included, so for a step bound
by launches they agree with the wall clock and cannot show the overhead; the profiler's sum of
kernel durations can. When the wall time is many times the kernel time, launches and Python
set the pace (fewer, fused kernels or a captured step would help); when the two are close, the
GPU's own work does. On the CPU the "kernels" are PyTorch's operators (``aten::``) and their
own CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

import xpnet
from xpnet.bench import training_step


def measure(device: str, batch: int, steps: int = 20) -> dict:
    import torch
    from torch.profiler import ProfilerActivity, profile

    net = xpnet.Network([784, 512, 512, 10], hidden="relu", backend="torch", device=device,
                        seed=0)
    be = net.backend
    step = training_step(net, xpnet.SGD(0.01, momentum=0.9), batch, np.random.default_rng(0))
    for _ in range(5):
        step()
    walls = []
    for _ in range(5):
        be.synchronize()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        be.synchronize()
        walls.append((time.perf_counter() - t0) / steps)
    cuda = be.is_gpu
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=activities) as prof:
        for _ in range(steps):
            step()
        be.synchronize()
    kernel_us, kernels = 0.0, 0
    for evt in prof.events():
        if cuda and evt.device_type == torch.autograd.DeviceType.CUDA:
            kernel_us += getattr(evt, "device_time", None) or getattr(evt, "cuda_time", 0.0)
            kernels += 1
        elif not cuda and evt.name.startswith("aten::") and evt.cpu_parent is None:
            kernel_us += evt.cpu_time_total
            kernels += 1
    wall_us = statistics.median(walls) * 1e6
    return {"device": be.describe(), "batch": batch, "wall_us": wall_us,
            "kernel_us": kernel_us / steps, "kernels_per_step": kernels / steps,
            "wall_over_kernels": wall_us / max(kernel_us / steps, 1e-9),
            "what_kernels_are": "CUDA kernels" if cuda else "top-level aten operators (CPU)"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--batches", type=int, nargs="+")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    batches = args.batches or ([128, 2048] if args.device.startswith("cuda") else [16, 64])
    rows = [measure(args.device, M) for M in batches]
    for r in rows:
        print(f"{r['device']} batch {r['batch']}: step {r['wall_us']:.0f} us wall, "
              f"{r['kernel_us']:.0f} us in {r['kernels_per_step']:.0f} {r['what_kernels_are']}"
              f" ({r['wall_over_kernels']:.2f}x)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
