"""One training epoch on MNIST: xpnet (NumPy backend) against plain PyTorch eager on the CPU.

Same network (ReLU hidden layers, softmax + cross-entropy), same batch size, SGD with momentum
0.9, data already in memory as float32, a fresh shuffle each epoch. Each measurement runs in a
fresh process (the libraries' thread pools must not share one), the two libraries alternate,
and the medians of the repeats are compared. Usage:

    python benchmarks/compare_torch.py --sizes 784 512 512 10 --batch 128 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time

import numpy as np


def load():
    import xpnet

    ds = xpnet.datasets.mnist(download=False)
    return (ds.X_train.astype(np.float32) / 255.0), ds.y_train


def run_xpnet(sizes, batch, epochs):
    import xpnet

    X, y = load()
    net = xpnet.Network(sizes, hidden="relu", backend="numpy", seed=0)
    opt = xpnet.SGD(0.05, momentum=0.9)
    net.fit(X[:batch * 4], y[:batch * 4], epochs=1, batch_size=batch, optimizer=opt,
            progress=False)  # warm-up: thread pools, allocator
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        net.fit(X, y, epochs=1, batch_size=batch, optimizer=opt, progress=False)
        times.append(time.perf_counter() - t0)
    return times


def run_torch(sizes, batch, epochs):
    import torch

    X, y = load()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch(n):
        perm = torch.randperm(n)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xt.index_select(0, idx)), yt.index_select(0, idx))
            loss.backward()
            opt.step()

    epoch(batch * 4)
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        epoch(len(yt))
        times.append(time.perf_counter() - t0)
    return times


def child(args):
    fn = run_xpnet if args.child == "xpnet" else run_torch
    print(json.dumps(fn(args.sizes, args.batch, args.epochs)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="fresh processes per library")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per process")
    p.add_argument("--child", choices=("xpnet", "torch"))
    p.add_argument("--json", help="write the raw times here")
    args = p.parse_args()
    if args.child:
        return child(args)
    times = {"xpnet": [], "torch": []}
    for _ in range(args.repeats):
        for lib in ("xpnet", "torch"):
            cmd = [sys.executable, __file__, "--child", lib, "--batch", str(args.batch),
                   "--epochs", str(args.epochs), "--sizes", *map(str, args.sizes)]
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            times[lib] += json.loads(out.strip().splitlines()[-1])
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["xpnet"] / med["torch"]
    print(f"{'-'.join(map(str, args.sizes))}, batch {args.batch}: xpnet/numpy "
          f"{med['xpnet']:.3f} s, torch {med['torch']:.3f} s per epoch (medians of "
          f"{len(times['xpnet'])}); ratio {ratio:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"sizes": args.sizes, "batch": args.batch, "times": times,
                       "median": med, "ratio": ratio}, fh, indent=2)


if __name__ == "__main__":
    main()
