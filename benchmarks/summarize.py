"""Turn a pytest-benchmark JSON of the matmul-core suite into Markdown tables.

    python benchmarks/summarize.py benchmarks/results/<file>.json > benchmarks/results/<file>.md
    python benchmarks/summarize.py --compact benchmarks/results/<file>.json

``--compact`` rewrites the JSON without pytest-benchmark's raw per-round timings (which make
it tens of megabytes), keeping each record's params, extra_info and summary statistics.

For each backend, dtype and batch size: the training step's median time, the sum of the median
times of its bare GEMMs (forward and weight gradient of every layer, input gradient of all but
the first), their ratio, and GFLOP/s; then the Dense layer's own forward/backward against the
bare GEMMs they contain.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

LAYERS = ["784x512", "512x512", "512x10"]


def main(path: str) -> None:
    data = json.load(open(path))
    med = {}
    info = {}
    for b in data["benchmarks"]:
        e = b["extra_info"]
        key = (e["backend"], e["dtype"], e["batch_size"], e.get("kind"), e.get("op"),
               e.get("layer"))
        med[key] = b["stats"]["median"]
        info[e["backend"]] = (e["device"], e.get("tf32", "n/a"))
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {}).get("brand_raw", "?")
    print(f"Machine: {cpu}, {m.get('cpu', {}).get('count', '?')} logical CPUs; "
          f"{data.get('datetime', '')}")
    for backend, (device, tf32) in info.items():
        print(f"\n### {device} (TF32: {tf32})\n")
        print("| dtype | batch | step (us) | its bare GEMMs (us) | step / GEMMs | step GFLOP/s "
              "| bare GEMM GFLOP/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        groups = defaultdict(dict)
        for (be, dt, M, kind, op, layer), t in med.items():
            if be == backend:
                groups[(dt, M)][(kind, op, layer)] = t
        for (dt, M) in sorted(groups):
            g = groups[(dt, M)]
            step = g.get(("step", None, None))
            parts = [g.get(("bare", "forward", la)) for la in LAYERS] + \
                    [g.get(("bare", "weight_grad", la)) for la in LAYERS] + \
                    [g.get(("bare", "input_grad", la)) for la in LAYERS[1:]]
            if step is None or any(p is None for p in parts):
                continue
            gemm = sum(parts)
            flops = 2 * M * (784 * 512 + 512 * 512 + 512 * 10) * 2 + \
                2 * M * (512 * 512 + 512 * 10)
            print(f"| {dt} | {M} | {step * 1e6:.1f} | {gemm * 1e6:.1f} | {step / gemm:.2f} | "
                  f"{flops / step / 1e9:.1f} | {flops / gemm / 1e9:.1f} |")
        print("\nDense layer code against the bare GEMMs it contains (forward: `A @ W`; "
              "backward: `A.T @ D` + `D @ W.T`), ratio of medians:\n")
        print("| dtype | batch | " + " | ".join(f"{la} fwd | {la} bwd" for la in LAYERS) + " |")
        print("| --- | ---: |" + " ---: |" * (2 * len(LAYERS)))
        for (dt, M) in sorted(groups):
            g = groups[(dt, M)]
            cells = []
            for la in LAYERS:
                fwd, bwd = g.get(("layer", "forward", la)), g.get(("layer", "backward", la))
                bf = g.get(("bare", "forward", la))
                bb = (g.get(("bare", "weight_grad", la)) or 0) + \
                    (g.get(("bare", "input_grad", la)) or 0)
                cells.append(f"{fwd / bf:.2f}" if fwd and bf else "-")
                cells.append(f"{bwd / bb:.2f}" if bwd and bb else "-")
            print(f"| {dt} | {M} | " + " | ".join(cells) + " |")
    epochs = [b for b in data["benchmarks"] if b["extra_info"].get("kind") == "epoch"]
    if epochs:
        print("\nOne MNIST epoch of 784-512-512-10, batch 128, float32, data on the device:\n")
        for b in epochs:
            print(f"- {b['extra_info']['device']}: median {b['stats']['median']:.3f} s "
                  f"({b['stats']['rounds']} rounds)")


def compact(path: str) -> None:
    data = json.load(open(path))
    keep = ["min", "max", "mean", "stddev", "median", "iqr", "rounds", "iterations", "ops"]
    for b in data["benchmarks"]:
        for key in list(b):
            if key not in ("name", "group", "params", "extra_info", "stats"):
                del b[key]
        b["stats"] = {k: b["stats"][k] for k in keep if k in b["stats"]}
    with open(path, "w") as fh:
        json.dump(data, fh, indent=1)


if __name__ == "__main__":
    if sys.argv[1] == "--compact":
        compact(sys.argv[2])
    else:
        main(sys.argv[1])
