"""What the array API layer costs: xpnet's training step on the NumPy backend against the same
maths written directly in NumPy by hand (in-place updates, ``out=`` arguments, boolean masks
multiplied straight into floats: things the standard does not offer).

Both do forward, softmax + cross-entropy (from logits), backward and an SGD-momentum update of
a ReLU network (784-512-512-10 unless ``--sizes`` says otherwise) on the same batch; the two
are timed interleaved with the bare GEMMs of the step (``xpnet bench``'s roofline), and the
medians compared: the last column says how far from its GEMMs a step written by hand in
NumPy gets.

    python benchmarks/array_api_overhead.py --batch-sizes 32 128 512 --repeats 9
    python benchmarks/array_api_overhead.py --sizes 784 100 10 --batch-sizes 32
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import xpnet
from xpnet.bench import _operands, gemm_shapes
from xpnet.step import TrainingStep

SIZES = (784, 512, 512, 10)


class PlainNumpy:
    """The step in plain NumPy, float32, written for speed."""

    def __init__(self, params, lr=0.01, mu=0.9):
        self.p = [np.array(p, copy=True) for p in params]      # W1, b1, W2, b2, W3, b3
        self.v = [np.zeros_like(p) for p in self.p]
        self.lr, self.mu = np.float32(lr), np.float32(mu)

    def step(self, X, Y):
        Ws, bs = self.p[0::2], self.p[1::2]
        L, M = len(Ws), X.shape[0]
        A, inputs, masks = X, [], []
        for l, (W, b) in enumerate(zip(Ws, bs)):
            inputs.append(A)
            Z = A @ W
            Z += b
            if l < L - 1:   # ReLU hidden layers
                P = Z > 0
                Z *= P
                masks.append(P)
            A = Z
        S = A - A.max(axis=1, keepdims=True)   # softmax + cross-entropy from the logits
        E = np.exp(S)
        total = E.sum(axis=1, keepdims=True)
        cost = float(np.sum(Y * (np.log(total) - S))) / M
        D = E
        D /= total
        D -= Y
        D /= M
        grads = [None] * (2 * L)
        for l in range(L - 1, -1, -1):
            grads[2 * l], grads[2 * l + 1] = inputs[l].T @ D, D.sum(axis=0)
            if l > 0:
                D = D @ Ws[l].T
                D *= masks[l - 1]
        for p, v, g in zip(self.p, self.v, grads):
            v *= self.mu
            g *= self.lr
            v -= g
            p += v
        return cost


def timer(fn, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def measure(M, repeats, sizes=SIZES):
    rng = np.random.default_rng(0)
    net = xpnet.Network(list(sizes), hidden="relu", backend="numpy", seed=0)
    plain = PlainNumpy([xpnet.backend.to_numpy(p) for p in net.parameters()])
    X = rng.random((M, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], M)
    Y = np.eye(sizes[-1], dtype=np.float32)[y]
    opt = xpnet.SGD(0.01, momentum=0.9)
    Xd, Yd = net.prepare(X, y)
    operands = _operands(net.backend, net.dtype, gemm_shapes(tuple(sizes), M), rng)
    ours = lambda: TrainingStep(net, opt, n=M).update(Xd, Yd)  # noqa: E731
    theirs = lambda: plain.step(X, Y)  # noqa: E731
    gemms = lambda: [a @ b for a, b in operands]  # noqa: E731
    # the same maths: after one step each, the parameters agree
    ours()
    theirs()
    for p, q in zip(net.parameters(), plain.p):
        np.testing.assert_allclose(xpnet.backend.to_numpy(p), q, rtol=1e-4, atol=1e-6)
    for _ in range(3):
        ours()
        theirs()
        gemms()
    inner = max(1, int(0.1 / timer(ours, 3)))
    a, b, g = [], [], []
    for _ in range(repeats):
        a.append(timer(ours, inner))
        b.append(timer(theirs, inner))
        g.append(timer(gemms, inner))
    return {"sizes": list(sizes), "batch_size": M, "xpnet_us": statistics.median(a) * 1e6,
            "plain_numpy_us": statistics.median(b) * 1e6,
            "gemm_us": statistics.median(g) * 1e6,
            "ratio": statistics.median(x / y for x, y in zip(a, b)),
            "plain_over_gemm": statistics.median(y / z for y, z in zip(b, g)),
            "xpnet_over_gemm": statistics.median(x / z for x, z in zip(a, g))}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512, 2048])
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES),
                   help="layer sizes, input to output (default: 784 512 512 10)")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--json")
    args = p.parse_args()
    rows = [measure(M, args.repeats, args.sizes) for M in args.batch_sizes]
    print(f"{'-'.join(map(str, args.sizes))}, float32, NumPy")
    print("| batch | xpnet step (us) | plain NumPy step (us) | its GEMMs (us) | xpnet / plain "
          "| xpnet / GEMMs | plain / GEMMs |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['batch_size']} | {r['xpnet_us']:.1f} | {r['plain_numpy_us']:.1f} | "
              f"{r['gemm_us']:.1f} | {r['ratio']:.3f} | {r['xpnet_over_gemm']:.2f} | "
              f"{r['plain_over_gemm']:.2f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
