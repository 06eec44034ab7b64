"""What the array API layer costs: xpnet's training step on the NumPy backend against the same
maths written directly in NumPy by hand (in-place updates, ``out=`` arguments, boolean masks
multiplied straight into floats: things the standard does not offer).

Both do forward, softmax + cross-entropy (from logits), backward and an SGD-momentum update of
784-512-512-10 on the same batch; the two are timed interleaved and the medians compared.

    python benchmarks/array_api_overhead.py --batch-sizes 32 128 512 --repeats 9
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import xpnet

SIZES = (784, 512, 512, 10)


class PlainNumpy:
    """The step in plain NumPy, float32, written for speed."""

    def __init__(self, params, lr=0.01, mu=0.9):
        self.p = [np.array(p, copy=True) for p in params]      # W1, b1, W2, b2, W3, b3
        self.v = [np.zeros_like(p) for p in self.p]
        self.lr, self.mu = np.float32(lr), np.float32(mu)

    def step(self, X, Y):
        W1, b1, W2, b2, W3, b3 = self.p
        M = X.shape[0]
        Z1 = X @ W1
        Z1 += b1
        P1 = Z1 > 0
        Z1 *= P1
        Z2 = Z1 @ W2
        Z2 += b2
        P2 = Z2 > 0
        Z2 *= P2
        Z3 = Z2 @ W3
        Z3 += b3
        S = Z3 - Z3.max(axis=1, keepdims=True)
        E = np.exp(S)
        total = E.sum(axis=1, keepdims=True)
        cost = float(np.sum(Y * (np.log(total) - S))) / M
        D3 = E
        D3 /= total
        D3 -= Y
        D3 /= M
        grads = [None] * 6
        grads[4], grads[5] = Z2.T @ D3, D3.sum(axis=0)
        D2 = D3 @ W3.T
        D2 *= P2
        grads[2], grads[3] = Z1.T @ D2, D2.sum(axis=0)
        D1 = D2 @ W2.T
        D1 *= P1
        grads[0], grads[1] = X.T @ D1, D1.sum(axis=0)
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


def measure(M, repeats):
    rng = np.random.default_rng(0)
    net = xpnet.Network(list(SIZES), hidden="relu", backend="numpy", seed=0)
    plain = PlainNumpy([xpnet.backend.to_numpy(p) for p in net.parameters()])
    X = rng.random((M, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, 10, M)
    Y = np.eye(10, dtype=np.float32)[y]
    opt = xpnet.SGD(0.01, momentum=0.9)
    Xd, Yd = net._batch(X, y)
    ours = lambda: net._step(Xd, Yd, opt, M)  # noqa: E731
    theirs = lambda: plain.step(X, Y)  # noqa: E731
    # the same maths: after one step each, the parameters agree
    ours()
    theirs()
    for p, q in zip(net.parameters(), plain.p):
        np.testing.assert_allclose(xpnet.backend.to_numpy(p), q, rtol=1e-4, atol=1e-6)
    for _ in range(3):
        ours()
        theirs()
    inner = max(1, int(0.1 / timer(ours, 3)))
    a, b = [], []
    for _ in range(repeats):
        a.append(timer(ours, inner))
        b.append(timer(theirs, inner))
    return {"batch_size": M, "xpnet_us": statistics.median(a) * 1e6,
            "plain_numpy_us": statistics.median(b) * 1e6,
            "ratio": statistics.median(x / y for x, y in zip(a, b))}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[32, 128, 512, 2048])
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--json")
    args = p.parse_args()
    rows = [measure(M, args.repeats) for M in args.batch_sizes]
    print("| batch | xpnet step (us) | plain NumPy step (us) | xpnet / plain |")
    print("| ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['batch_size']} | {r['xpnet_us']:.1f} | {r['plain_numpy_us']:.1f} | "
              f"{r['ratio']:.3f} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
