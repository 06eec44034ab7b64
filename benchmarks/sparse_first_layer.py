"""Sparse inputs on the CPU: densify each batch and run the dense GEMMs, or multiply the sparse
rows directly? The first layer's share of a training step, both ways.

For a batch of ``M`` rows of a CSR matrix (``F`` features, a fraction ``density`` non-zero) and
a first layer of ``H`` units, each way computes the forward product ``Z = X W`` and the weight
gradient ``dW = X^T dZ`` (the first layer needs no input gradient):

* ``densify``: the batch's rows made dense (what :class:`xpnet.sparse_rows.SparseRows` does),
  then two dense GEMMs through the BLAS;
* ``sparse``: the same products with SciPy's sparse-dense kernels on the CSR rows.

Both take their batch from the same shuffled order, alternate, and the median of ``--repeats``
rounds is reported per shape, with the machine. Usage:

    python benchmarks/sparse_first_layer.py --json benchmarks/results/...json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import scipy.sparse as sp

SHAPES = [(30, 1.0), (64, 0.5), (64, 0.2), (1000, 0.5), (1000, 0.2), (1000, 0.1),
          (1000, 0.05), (1000, 0.01), (20000, 0.1), (20000, 0.01), (20000, 0.002),
          (100000, 0.0005)]


def densify(X: sp.csr_matrix, idx: np.ndarray, W: np.ndarray, dZ: np.ndarray) -> None:
    B = X[idx].toarray()
    B @ W
    B.T @ dZ


def sparse(X: sp.csr_matrix, idx: np.ndarray, W: np.ndarray, dZ: np.ndarray) -> None:
    B = X[idx]
    B @ W
    B.T @ dZ


def measure(features: int, density: float, batch: int, hidden: int, repeats: int,
            steps: int) -> dict:
    rng = np.random.default_rng(0)
    X = sp.random(20 * batch, features, density=density, format="csr", random_state=0,
                  dtype=np.float32)
    W = rng.normal(size=(features, hidden)).astype(np.float32)
    dZ = rng.normal(size=(batch, hidden)).astype(np.float32)
    order = rng.permutation(X.shape[0])
    batches = [order[s:s + batch] for s in range(0, X.shape[0], batch)][:steps]
    times: dict[str, list[float]] = {"densify": [], "sparse": []}
    ways = {"densify": densify, "sparse": sparse}
    for _ in range(repeats):
        for name, way in ways.items():
            start = time.perf_counter()
            for idx in batches:
                way(X, idx, W, dZ)
            times[name].append((time.perf_counter() - start) / len(batches))
    med = {k: statistics.median(v) * 1e6 for k, v in times.items()}
    return {"features": features, "density": density, "batch": batch, "hidden": hidden,
            "densify_us": med["densify"], "sparse_us": med["sparse"],
            "sparse_over_densify": med["sparse"] / med["densify"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--steps", type=int, default=10, help="batches per timed round")
    p.add_argument("--json")
    args = p.parse_args()
    from xpnet.bench import machine

    rows = []
    print(f"batch {args.batch}, {args.hidden} hidden units, float32; per step, median of "
          f"{args.repeats}")
    print("| features | density | densify + GEMM (us) | sparse products (us) | sparse / densify |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for features, density in SHAPES:
        row = measure(features, density, args.batch, args.hidden, args.repeats, args.steps)
        rows.append(row)
        print(f"| {features} | {density} | {row['densify_us']:.0f} | {row['sparse_us']:.0f} | "
              f"{row['sparse_over_densify']:.2f} |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"machine": machine(), "batch": args.batch, "hidden": args.hidden,
                       "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
