"""The training step on one BLAS thread and on every core, interleaved in one process, for the
threshold :data:`xpnet.backend.ONE_THREAD_BELOW` (threadpoolctl sets the threads).

    python benchmarks/blas_threads.py [--batches 16 32 64 128 256 512]

For each network and batch size: the median step time (us) with one thread and with all cores,
their ratio, and the step's GEMM FLOPs; below the threshold one thread should win.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_limits

import xpnet
from xpnet.bench import step_flops, training_step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    p.add_argument("--repeats", type=int, default=9)
    args = p.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"| network | batch | MFLOP | 1 thread (us) | {cores} threads (us) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for sizes in ((784, 100, 10), (784, 512, 512, 10)):
        for M in args.batches:
            net = xpnet.Network(list(sizes), backend="numpy", seed=0)
            step = training_step(net, xpnet.SGD(0.01, momentum=0.9), M,
                                 np.random.default_rng(0))
            k = max(5, int(20000 / (M * sizes[1] / 100)))
            times: dict[int, list[float]] = {1: [], cores: []}
            for _ in range(3):
                step()
            for r in range(args.repeats):
                for n in ((1, cores) if r % 2 else (cores, 1)):
                    with threadpool_limits(n, user_api="blas"):
                        t0 = time.perf_counter()
                        for _ in range(k):
                            step()
                        times[n].append((time.perf_counter() - t0) / k * 1e6)
            one, many = statistics.median(times[1]), statistics.median(times[cores])
            print(f"| {'-'.join(map(str, sizes))} | {M} | {step_flops(sizes, M) / 1e6:.0f} | "
                  f"{one:.0f} | {many:.0f} | {many / one:.2f} |", flush=True)


if __name__ == "__main__":
    main()
