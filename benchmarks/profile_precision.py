"""Where a mixed precision step's time goes, against the float32 step: both steps of xpnet's
torch backend (784-512-512-10, SGD with momentum, as a fit runs them) timed in one process,
alternating, then each under ``torch.profiler``: the GEMMs (``aten::mm``), the casts
(``aten::copy_`` and ``aten::_to_copy``), and the rest of PyTorch's operators.

    python benchmarks/profile_precision.py --precision bf16-mixed --batch 128
    python benchmarks/profile_precision.py --precision 16-mixed --device cuda:0 --json OUT.json

The ratio is the median over rounds of (mixed step / float32 step), each round timing both; on
a shared machine it moves with the machine's phases, so compare it with a run of
``compare_torch.py`` rather than with another machine's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import xpnet
from xpnet.bench import machine, training_step

CASTS = ("aten::copy_", "aten::_to_copy")


def profile_ops(step, backend, steps: int) -> dict[str, float]:
    """Microseconds per step in the GEMMs, the casts and every other operator (self time)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
        backend.synchronize()
    own = {e.key: e.self_cpu_time_total / steps for e in prof.key_averages()}
    gemm = own.get("aten::mm", 0.0)
    casts = sum(own.get(k, 0.0) for k in CASTS)
    return {"ops_us": sum(own.values()), "gemm_us": gemm, "casts_us": casts,
            "other_us": sum(own.values()) - gemm - casts,
            "top": sorted(((k, round(v, 1)) for k, v in own.items()), key=lambda kv: -kv[1])[:8]}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--precision", default="bf16-mixed")
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--device", default="cpu")
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--steps", type=int, default=40, help="steps per timing")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args()
    steps, backend = {}, None
    for policy in ("32", args.precision):
        net = xpnet.Network(args.sizes, hidden="relu", backend="torch", device=args.device,
                            seed=0, precision=policy)
        backend = net.backend
        steps[policy] = training_step(net, xpnet.SGD(0.01, momentum=0.9), args.batch,
                                      np.random.default_rng(0))
        for _ in range(20):   # warm-up: allocations, thread pools
            steps[policy]()
    assert backend is not None
    walls: dict[str, list[float]] = {policy: [] for policy in steps}
    for _ in range(args.rounds):
        for policy, step in steps.items():
            backend.synchronize()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                step()
            backend.synchronize()
            walls[policy].append((time.perf_counter() - t0) / args.steps * 1e6)
    ratio = statistics.median(a / b for a, b in zip(walls[args.precision], walls["32"]))
    rows = {policy: {"step_us": statistics.median(w), **profile_ops(steps[policy], backend,
                                                                   args.steps)}
            for policy, w in walls.items()}
    where = machine()
    print(f"{'-'.join(map(str, args.sizes))}, batch {args.batch}, {backend.describe()}; "
          f"{where['cpu']}, bf16 units {where['bf16_units']}")
    for policy, r in rows.items():
        print(f"{policy:>10}: step {r['step_us']:.0f} us; operators {r['ops_us']:.0f} us = "
              f"GEMMs {r['gemm_us']:.0f} + casts {r['casts_us']:.0f} + other "
              f"{r['other_us']:.0f}")
    print(f"{args.precision} / 32, median over {args.rounds} rounds: {ratio:.3f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"sizes": args.sizes, "batch": args.batch, "precision": args.precision,
                       "machine": where, "device": backend.describe(), "walls_us": walls,
                       "ratio": ratio, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
