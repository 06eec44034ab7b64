"""Two versions of xpnet, side by side: the training step a fit runs, timed in fresh processes
that alternate between the two source trees, medians per version.

    git worktree add /tmp/base HEAD~1
    python benchmarks/ab_versions.py /tmp/base/src src --rounds 5

Each round runs one process per tree (the order alternating), each timing ``--repeats``
samples of ``--steps`` calls of :func:`xpnet.bench.training_step` (NumPy, float32, SGD with
momentum, batches of a 60,000-row set) after a warm-up; the table gives every round's median
per step and the median over rounds, for each network and batch size.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys

CHILD = r"""
import statistics, sys, time
import numpy as np
import xpnet
from xpnet.bench import training_step
sizes, M, k, repeats = [int(s) for s in sys.argv[1].split("-")], *map(int, sys.argv[2:5])
net = xpnet.Network(sizes, hidden="relu", backend="numpy", seed=0)
step = training_step(net, xpnet.SGD(0.01, momentum=0.9), M, np.random.default_rng(0))
for _ in range(max(20, k // 4)):
    step()
samples = []
for _ in range(repeats):
    t0 = time.perf_counter()
    for _ in range(k):
        step()
    samples.append((time.perf_counter() - t0) / k * 1e6)
print(statistics.median(samples))
"""

CASES = (("784-100-10", 32, 400), ("784-512-512-10", 128, 40))


def one(tree: str, sizes: str, M: int, steps: int, repeats: int) -> float:
    env = {**os.environ, "PYTHONPATH": os.path.abspath(tree)}
    out = subprocess.run([sys.executable, "-c", CHILD, sizes, str(M), str(steps), str(repeats)],
                         env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("a", help="the first source tree (the folder holding xpnet/)")
    p.add_argument("b", help="the second source tree")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--only", choices=[c[0] for c in CASES], help="time one network only")
    args = p.parse_args()
    print(f"| network | batch | {args.a} us/step | {args.b} us/step | b / a |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for sizes, M, steps in CASES:
        if args.only and sizes != args.only:
            continue
        times: dict[str, list[float]] = {args.a: [], args.b: []}
        for r in range(args.rounds):
            order = (args.a, args.b) if r % 2 == 0 else (args.b, args.a)
            for tree in order:
                times[tree].append(one(tree, sizes, M, steps, args.repeats))
        a, b = (statistics.median(times[t]) for t in (args.a, args.b))
        print(f"| {sizes} | {M} | {a:.0f} ({', '.join(f'{x:.0f}' for x in times[args.a])}) "
              f"| {b:.0f} ({', '.join(f'{x:.0f}' for x in times[args.b])}) | {b / a:.3f} |",
              flush=True)


if __name__ == "__main__":
    main()
