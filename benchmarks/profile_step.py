"""Where the time of one training step goes: the step of a ReLU network (NumPy backend,
float32, softmax + cross-entropy, SGD with momentum) as a fit runs it (``xpnet bench``'s
``training_step``: the batch gathered from a training set of MNIST's 60,000 rows), taken apart
into the batch gather, its GEMMs, the element-wise kernels around them and the optimizer
update, each timed on its own (medians of repeats). The parts are timed apart, so their sum
need not equal the whole step.

    python benchmarks/profile_step.py --batch 128
    python benchmarks/profile_step.py --sizes 784 100 10 --batch 32
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np

import xpnet
from xpnet.bench import POOL, training_step


def timed(parts, repeats=15):
    """Median microseconds per call of each function in ``parts``, the functions interleaved
    (one round of every part per repeat) so that a slow phase of a shared machine touches them
    all alike."""
    inner = {}
    for name, fn in parts.items():
        fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(0.02 / max(time.perf_counter() - t0, 1e-7)))
    samples = {name: [] for name in parts}
    for _ in range(repeats):
        for name, fn in parts.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            samples[name].append((time.perf_counter() - t0) / inner[name])
    return {name: statistics.median(v) * 1e6 for name, v in samples.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10],
                   help="layer sizes, input to output (default: 784 512 512 10)")
    args = p.parse_args()
    M, sizes = args.batch, args.sizes
    if len(sizes) < 3:
        p.error("--sizes needs an input, at least one hidden layer and an output")
    net = xpnet.Network(sizes, hidden="relu", backend="numpy", seed=0)
    xp = net.xp
    rng = np.random.default_rng(0)
    X, Y = net.prepare(rng.random((M, sizes[0])), rng.integers(0, sizes[-1], M))
    opt = xpnet.SGD(0.01, momentum=0.9)
    spare = xpnet.SGD(0.01, momentum=0.9).bind(net.backend)  # updates copies, not opt's state
    dense = net.dense_layers
    # the inputs A and errors D each layer sees, with realistic shapes and values
    A = [X]
    for d in dense[:-1]:
        Z = A[-1] @ d.W
        A.append(Z * (Z > 0))
    Zs = [a @ d.W for a, d in zip(A[1:], dense[1:])]
    Zs.insert(0, X @ dense[0].W)
    D = [rng.random((M, d.fan_out), dtype=np.float32) for d in dense]
    hidden = list(zip(Zs[:-1], [d.b for d in dense[:-1]]))
    grads = net.loss_and_grads(X, Y)[1]
    params = net.named_parameters()
    n_params = sum(int(q.size) for q in params.values())
    h = len(dense) - 1
    hl = f"{h} layer" + ("s" if h > 1 else "")
    kernels, relu = net.backend.kernels, dense[0].activation
    # the step's own kernels (xpnet.kernels, the NumPy overrides); those that consume their
    # input get fresh copies, whose cost is timed apart and taken off
    relu_backward = [kernels.bias_activation(xp, Z.copy(), b, relu)[1] for Z, b in hidden]
    pool = rng.random((POOL, sizes[0]), dtype=np.float32)   # a training set of MNIST's size
    pool_Y = net.targets(rng.integers(0, sizes[-1], POOL), POOL)
    order = rng.permutation(POOL)
    starts = itertools.cycle(range(0, POOL - M + 1, M))

    def gather():   # the next batch's rows, as the step gathers them (cold, like an epoch's)
        s = next(starts)
        idx = order[s:s + M]
        return kernels.take_rows(xp, pool, idx), kernels.take_rows(xp, pool_Y, idx)

    copies = lambda: ({k: q.copy() for k, q in params.items()},  # noqa: E731
                      {k: g.copy() for k, g in grads.items()})
    parts = {
        "whole step": training_step(net, opt, M, rng),
        "batch gather (X and Y rows)": gather,
        f"forward GEMMs ({len(dense)})": lambda: [a @ d.W for a, d in zip(A, dense)],
        f"weight-gradient GEMMs ({len(dense)})": lambda: [a.T @ e for a, e in zip(A, D)],
        f"input-gradient GEMMs ({h})": lambda: [e @ d.W.T for e, d in zip(D[1:], dense[1:])],
        "bias + ReLU": lambda: [kernels.bias_activation(xp, Z.copy(), b, relu)
                                for Z, b in hidden],
        "Z copies": lambda: [Z.copy() for Z, _ in hidden],
        f"ReLU backward ({hl})": lambda: [bp(e) for bp, e in zip(relu_backward, D[:-1])],
        f"bias gradients ({len(dense)} sums)": lambda: [kernels.bias_gradient(xp, e)
                                                        for e in D],
        "softmax + cross-entropy + error": lambda: kernels.output_error(xp, net.loss, Zs[-1],
                                                                        Y, -0.01),
        "update": lambda: spare.apply(*copies()),
        "copies": copies,
    }
    rows = timed(parts)
    # the update is timed on fresh copies (it works in place); the copies are taken off again
    update = rows.pop("update") - rows.pop("copies")
    bias_relu = rows.pop("bias + ReLU") - rows.pop("Z copies")
    first = {k: v for k, v in rows.items() if k in ("whole step", "batch gather (X and Y rows)")
             or "GEMMs" in k}
    rows = {**first, f"bias adds, ReLU masks ({hl})": bias_relu,
            **{k: v for k, v in rows.items() if k not in first},
            f"SGD-momentum update ({n_params / 1e3:.0f}k params)": update}
    total = rows["whole step"]
    print(f"one training step, {'-'.join(map(str, sizes))}, batch {M}, float32, NumPy "
          f"({xpnet.backend.resolve('numpy').describe()})")
    print("| part | us | share of the step |")
    print("| --- | ---: | ---: |")
    for k, v in rows.items():
        print(f"| {k} | {v:.0f} | {v / total:.0%} |")


if __name__ == "__main__":
    main()
