"""Where the time of one training step goes: the step of 784-512-512-10 (NumPy backend, float32)
taken apart into its GEMMs, the element-wise work around them and the optimizer update, each
timed on its own (medians of repeats).

    python benchmarks/profile_step.py --batch 128
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import xpnet


def timed(fn, repeats=15, inner=None):
    fn()
    if inner is None:
        t0 = time.perf_counter()
        fn()
        inner = max(1, int(0.05 / max(time.perf_counter() - t0, 1e-7)))
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        out.append((time.perf_counter() - t0) / inner)
    return statistics.median(out) * 1e6


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch", type=int, default=128)
    args = p.parse_args()
    M = args.batch
    net = xpnet.Network([784, 512, 512, 10], hidden="relu", backend="numpy", seed=0)
    xp = net.xp
    rng = np.random.default_rng(0)
    X, Y = net._batch(rng.random((M, 784)), rng.integers(0, 10, M))
    opt = xpnet.SGD(0.01, momentum=0.9)
    W1, b1, W2, b2, W3, b3 = net.parameters()
    Z1 = X @ W1
    A1 = Z1 * (Z1 > 0)
    Z2 = A1 @ W2
    A2 = Z2 * (Z2 > 0)
    Z3 = A2 @ W3
    D3 = rng.random((M, 10), dtype=np.float32)
    D2 = rng.random((M, 512), dtype=np.float32)
    loss = net.loss
    grads = [g for pair in net.gradients(X, Y) for g in pair]
    params = net.parameters()
    rows = {
        "whole step": timed(lambda: net._step(X, Y, opt, M)),
        "forward GEMMs (3)": timed(lambda: (X @ W1, A1 @ W2, A2 @ W3)),
        "weight-gradient GEMMs (3)": timed(lambda: (X.T @ D2, A1.T @ D2, A2.T @ D3)),
        "input-gradient GEMMs (2)": timed(lambda: (D3 @ W3.T, D2 @ W2.T)),
        "bias adds, ReLU masks (2 layers)": timed(lambda: [
            net.layers[0].activation.forward(xp, Z + b) for Z, b in ((Z1, b1), (Z2, b2))]),
        "ReLU backward (2 layers)": timed(lambda: (D2 * (Z1 > 0), D2 * (Z2 > 0))),
        "bias gradients (3 sums)": timed(lambda: (xp.sum(D2, axis=0), xp.sum(D2, axis=0),
                                                  xp.sum(D3, axis=0))),
        "softmax + cross-entropy + error": timed(lambda: loss.from_logits(xp, Z3, Y, True)),
        "SGD-momentum update (670k params)": timed(
            lambda: opt.step(xp, [q.copy() for q in params], [g.copy() for g in grads],
                             scaled=True)) - timed(lambda: ([q.copy() for q in params],
                                                            [g.copy() for g in grads])),
    }
    total = rows["whole step"]
    print(f"one training step, 784-512-512-10, batch {M}, float32, NumPy "
          f"({xpnet.backend.resolve('numpy').describe()})")
    print("| part | us | share of the step |")
    print("| --- | ---: | ---: |")
    for k, v in rows.items():
        print(f"| {k} | {v:.0f} | {v / total:.0%} |")


if __name__ == "__main__":
    main()
