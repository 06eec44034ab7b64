"""Turn a pytest-benchmark JSON of the matmul-core suite into Markdown tables.

    python benchmarks/summarize.py benchmarks/results/<file>.json > benchmarks/results/<file>.md
    python benchmarks/summarize.py --compact benchmarks/results/<file>.json
    python benchmarks/summarize.py --plot OUT.png benchmarks/results/<file>.json

``--compact`` rewrites the JSON without pytest-benchmark's raw per-round timings (which make
it tens of megabytes), keeping each record's params, extra_info and summary statistics.

For each backend, dtype and batch size: the training step's median time, the sum of the median
times of its bare GEMMs (forward and weight gradient of every layer, input gradient of all but
the first), their ratio, and GFLOP/s; then the Dense layer's own forward/backward against the
bare GEMMs they contain.

``--plot`` draws GFLOP/s against batch size, one colour per backend and dtype: the bare GEMMs
(the roofline, dashed), the matmul core as the Dense layers run it (forward and backward of
every layer, dotted) and the whole training step (solid). Needs matplotlib.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

LAYERS = ["784x512", "512x512", "512x10"]


SIZES = (784, 512, 512, 10)
STEP_FLOPS_PER_EXAMPLE = 2 * 2 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:])) + \
    2 * sum(a * b for a, b in zip(SIZES[1:-1], SIZES[2:]))
CORE_FLOPS_PER_EXAMPLE = 3 * 2 * sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))


def medians(data: dict) -> tuple[dict, dict]:
    """Median seconds keyed by (device, dtype, batch, kind, op, layer), and each device's
    TF32 setting. Keyed by device, not backend name: torch on the CPU and on CUDA differ."""
    med, info = {}, {}
    for b in data["benchmarks"]:
        e = b["extra_info"]
        key = (e["device"], e["dtype"], e["batch_size"], e.get("kind"), e.get("op"),
               e.get("layer"))
        med[key] = b["stats"]["median"]
        info[e["device"]] = (e["device"], e.get("tf32", "n/a"))
    return med, info


def curves(data: dict) -> dict:
    """GFLOP/s per (device, dtype): {"batch": [...], "bare": [...], "core": [...],
    "step": [...]}, for the batch sizes where every part was measured."""
    med, _ = medians(data)
    groups: dict = defaultdict(dict)
    for (dev, dt, M, kind, op, layer), t in med.items():
        groups[(dev, dt)][(M, kind, op, layer)] = t
    out = {}
    for key, g in groups.items():
        rows: dict = {"batch": [], "bare": [], "core": [], "step": []}
        for M in sorted({k[0] for k in g}):
            bare = [g.get((M, "bare", op, la)) for op in ("forward", "weight_grad", "input_grad")
                    for la in LAYERS]
            core = [g.get((M, "layer", op, la)) for op in ("forward", "backward") for la in LAYERS]
            step = g.get((M, "step", None, None))
            if step is None or None in bare or None in core:
                continue
            rows["batch"].append(M)
            rows["bare"].append(CORE_FLOPS_PER_EXAMPLE * M / sum(bare) / 1e9)
            rows["core"].append(CORE_FLOPS_PER_EXAMPLE * M / sum(core) / 1e9)
            rows["step"].append(STEP_FLOPS_PER_EXAMPLE * M / step / 1e9)
        if rows["batch"]:
            out[key] = rows
    return out


def plot(path_json: str, path_png: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = json.load(open(path_json))
    fig, ax = plt.subplots(figsize=(8, 5.5))
    for i, ((dev, dt), c) in enumerate(sorted(curves(data).items())):
        colour = f"C{i}"
        ax.plot(c["batch"], c["bare"], "--", color=colour, alpha=0.6)
        ax.plot(c["batch"], c["core"], ":", color=colour, marker=".")
        ax.plot(c["batch"], c["step"], "-", color=colour, marker="o", label=f"{dev}, {dt}")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="GFLOP/s",
           title="784-512-512-10: training step (solid), Dense layers' matmul core (dotted),\n"
                 "bare GEMMs of the same shapes (dashed, the roofline)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path_png, dpi=110)
    plt.close(fig)


def main(path: str) -> None:
    data = json.load(open(path))
    med, info = medians(data)
    m = data.get("machine_info", {})
    cpu = m.get("cpu", {}).get("brand_raw", "?")
    print(f"Machine: {cpu}, {m.get('cpu', {}).get('count', '?')} logical CPUs; "
          f"{data.get('datetime', '')}")
    for device, (_, tf32) in info.items():
        print(f"\n### {device} (TF32: {tf32})\n")
        print("| dtype | batch | step (us) | its bare GEMMs (us) | step / GEMMs | step GFLOP/s "
              "| bare GEMM GFLOP/s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        groups = defaultdict(dict)
        for (dev, dt, M, kind, op, layer), t in med.items():
            if dev == device:
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
            flops = STEP_FLOPS_PER_EXAMPLE * M
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
    elif sys.argv[1] == "--plot":
        plot(sys.argv[3], sys.argv[2])
    else:
        main(sys.argv[1])
