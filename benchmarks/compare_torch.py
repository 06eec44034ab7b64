"""One training epoch on MNIST: xpnet against plain PyTorch eager (and, with ``--peers torch
jax``, against JAX with the whole step under ``jax.jit``), on the CPU or on one GPU.

Same network (ReLU hidden layers, softmax + cross-entropy), same batch size, SGD with momentum
0.9, data already in memory (on the GPU: moved there once, before timing) as float32, a fresh
shuffle each epoch. Each measurement runs in a fresh process (the libraries' thread pools and
GPU contexts must not share one), the two libraries alternate, and the medians of the repeats
are compared. Every timed epoch ends with the device synchronised. Usage:

    python benchmarks/compare_torch.py --sizes 784 512 512 10 --batch 128 --repeats 5
    python benchmarks/compare_torch.py --gpu      # xpnet on CuPy, PyTorch on cuda:0
    python benchmarks/compare_torch.py --backend torch --precision bf16-mixed --peers torch xpnet-32

TF32 is off on both sides unless ``--tf32`` (CuPy reads ``CUPY_TF32`` at import; PyTorch's
``fp32_precision``, or ``allow_tf32`` before PyTorch 2.9), and the JSON records which.
``--limit N`` trains on the first N images (a quick run of the same plumbing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np


def load(limit=None):
    import xpnet

    ds = xpnet.datasets.mnist(download=False)
    return (ds.X_train[:limit].astype(np.float32) / 255.0), ds.y_train[:limit]


def run_xpnet(sizes, batch, epochs, args):
    import xpnet

    X, y = load(args.limit)
    net = xpnet.Network(sizes, hidden="relu", backend=args.backend, seed=0,
                        precision=args.precision)
    be = net.backend
    X, y = be.asarray(X), be.asarray(y)   # on the device once, as fit keeps it
    opt = xpnet.SGD(0.05, momentum=0.9)
    if args.compile:   # one fit: its first epoch compiles the step, the others are timed
        h = net.fit(X, y, epochs=epochs + 1, batch_size=batch, optimizer=opt, progress=False,
                    compile=True)
        return h.seconds[1:], {"device": be.describe() + f", compiled, {args.precision}",
                               "tf32": be.tf32(),
                               "first_epoch_with_compile_s": h.seconds[0]}
    net.fit(X[:batch * 4, :], y[:batch * 4], epochs=1, batch_size=batch, optimizer=opt,
            progress=False)  # warm-up: thread pools, allocator, kernel caches
    times = []
    for _ in range(epochs):
        be.synchronize()
        t0 = time.perf_counter()
        net.fit(X, y, epochs=1, batch_size=batch, optimizer=opt, progress=False)
        be.synchronize()
        times.append(time.perf_counter() - t0)
    return times, {"device": f"{be.describe()}, precision {args.precision}", "tf32": be.tf32()}


def run_torch(sizes, batch, epochs, args):
    import torch

    device = torch.device(args.torch_device)
    matmul = torch.backends.cuda.matmul
    if hasattr(matmul, "fp32_precision"):   # the new API; the legacy flag must not be mixed in
        matmul.fp32_precision = "tf32" if args.tf32 else "ieee"
    else:
        matmul.allow_tf32 = args.tf32
    X, y = load(args.limit)
    Xt, yt = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    # the precision as PyTorch's automatic mixed precision does it: autocast around the forward
    # pass and the loss, and for float16 a GradScaler
    low = {"bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}.get(args.precision)
    scaler = torch.amp.GradScaler(device.type) if low == torch.float16 else None

    def epoch(n):
        perm = torch.randperm(n, device=device)
        for s in range(0, n, batch):
            idx = perm[s:s + batch]
            opt.zero_grad(set_to_none=True)
            with torch.autocast(device.type, dtype=low, enabled=low is not None):
                loss = loss_fn(model(Xt.index_select(0, idx)), yt.index_select(0, idx))
            if scaler is None:
                loss.backward()
                opt.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()

    epoch(batch * 4)
    times = []
    for _ in range(epochs):
        sync()
        t0 = time.perf_counter()
        epoch(len(yt))
        sync()
        times.append(time.perf_counter() - t0)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return times, {"device": f"torch {torch.__version__} ({device}, {name}"
                             + (f", autocast {args.precision})" if low else ")"),
                   "tf32": ("on" if args.tf32 else "off") if device.type == "cuda" else "n/a"}


def run_jax(sizes, batch, epochs, args):
    """The same network and SGD-momentum update in JAX: the whole step (gather, forward,
    gradient, update) under one ``jax.jit``, the data on the device, one host permutation per
    epoch moved once; the last, shorter batch compiled in the warm-up too."""
    import jax
    import jax.numpy as jnp

    kind = "gpu" if args.torch_device.startswith("cuda") else "cpu"
    device = jax.devices(kind)[0]
    X, y = load(args.limit)
    Xd, yd = jax.device_put(X, device), jax.device_put(y.astype(np.int32), device)
    key = jax.random.PRNGKey(0)
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        key, k = jax.random.split(key)
        params.append((jax.device_put(jax.random.normal(k, (a, b)) * (2.0 / a) ** 0.5, device),
                       jax.device_put(jnp.zeros(b), device)))
    velocity = jax.tree_util.tree_map(jnp.zeros_like, params)

    def loss_fn(params, xb, yb):
        h = xb
        for i, (W, b) in enumerate(params):
            h = h @ W + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        logp = jax.nn.log_softmax(h)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    @jax.jit
    def step(params, velocity, Xd, yd, idx):
        loss, grads = jax.value_and_grad(loss_fn)(params, Xd[idx], yd[idx])
        velocity = jax.tree_util.tree_map(lambda v, g: 0.9 * v - 0.05 * g, velocity, grads)
        params = jax.tree_util.tree_map(lambda p, v: p + v, params, velocity)
        return params, velocity, loss

    rng = np.random.default_rng(0)

    def epoch(n, params, velocity):
        order = jax.device_put(rng.permutation(n).astype(np.int32), device)
        for s in range(0, n, batch):
            params, velocity, loss = step(params, velocity, Xd, yd, order[s:s + batch])
        jax.block_until_ready(params)
        return params, velocity

    params, velocity = epoch(batch * 2 + len(y) % batch, params, velocity)   # compile both
    times = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        params, velocity = epoch(len(y), params, velocity)
        times.append(time.perf_counter() - t0)
    return times, {"device": f"jax {jax.__version__} ({device}, jit of the step)", "tf32": "n/a"}


def run_xpnet_numba(sizes, batch, epochs, args):
    """xpnet on NumPy with the fused numba kernels (XPNET_KERNELS=numba)."""
    os.environ["XPNET_KERNELS"] = "numba"
    times, about = run_xpnet(sizes, batch, epochs, args)
    return times, {**about, "device": about["device"] + ", numba kernels"}


def run_xpnet_32(sizes, batch, epochs, args):
    """xpnet on the same backend in float32 (the baseline of a mixed precision policy)."""
    args.precision = "32"
    return run_xpnet(sizes, batch, epochs, args)


RUNNERS = {"xpnet": run_xpnet, "torch": run_torch, "jax": run_jax,
           "xpnet-numba": run_xpnet_numba, "xpnet-32": run_xpnet_32}


def child(args):
    if args.tf32:
        os.environ["CUPY_TF32"] = "1"   # before CuPy is first imported
    times, about = RUNNERS[args.child](args.sizes, args.batch, args.epochs, args)
    print(json.dumps({"times": times, **about}))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sizes", type=int, nargs="+", default=[784, 512, 512, 10])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=5, help="fresh processes per library")
    p.add_argument("--epochs", type=int, default=1, help="timed epochs per process")
    p.add_argument("--backend", default="numpy", help="xpnet's backend (default: numpy)")
    p.add_argument("--torch-device", default="cpu", help="PyTorch's device (default: cpu)")
    p.add_argument("--gpu", action="store_true",
                   help="both on the GPU: --backend cupy --torch-device cuda:0")
    p.add_argument("--tf32", action="store_true", help="allow TF32 matmuls on both sides")
    p.add_argument("--limit", type=int, help="train on the first N images only")
    p.add_argument("--compile", action="store_true",
                   help="xpnet with compile=True (use with --backend torch): the step "
                        "compiled whole by torch.compile; its first epoch is left out")
    p.add_argument("--precision", default="32",
                   help="xpnet's precision policy (32, bf16-mixed, 16-mixed); PyTorch runs the "
                        "same under torch.autocast (with a GradScaler for 16-mixed)")
    p.add_argument("--peers", nargs="+", default=["torch"],
                   choices=("torch", "jax", "xpnet-numba", "xpnet-32"),
                   help="what xpnet is compared with (default: torch; jax needs JAX installed; "
                        "xpnet-numba: xpnet on NumPy with the fused numba kernels; xpnet-32: "
                        "xpnet in float32 on the same backend)")
    p.add_argument("--child", choices=tuple(RUNNERS))
    p.add_argument("--json", help="write the raw times here")
    args = p.parse_args()
    if args.gpu:
        args.backend, args.torch_device = "cupy", "cuda:0"
    if args.child:
        return child(args)
    libraries = ["xpnet", *args.peers]
    times: dict = {lib: [] for lib in libraries}
    about = {}
    for _ in range(args.repeats):
        for lib in libraries:
            cmd = [sys.executable, __file__, "--child", lib, "--batch", str(args.batch),
                   "--epochs", str(args.epochs), "--sizes", *map(str, args.sizes),
                   "--backend", args.backend, "--torch-device", args.torch_device,
                   "--precision", args.precision]
            cmd += ["--tf32"] * args.tf32 + (["--limit", str(args.limit)] if args.limit else [])
            cmd += ["--compile"] * args.compile
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"the {lib} run failed:\n{run.stderr.strip()}")
            out = json.loads(run.stdout.strip().splitlines()[-1])
            times[lib] += out.pop("times")
            about[lib] = out
    med = {k: statistics.median(v) for k, v in times.items()}
    ratios = {peer: med["xpnet"] / med[peer] for peer in args.peers}
    for peer in args.peers:
        print(f"{'-'.join(map(str, args.sizes))}, batch {args.batch}: "
              f"xpnet on {about['xpnet']['device']} "
              f"{med['xpnet']:.3f} s, {about[peer]['device']} {med[peer]:.3f} s per epoch "
              f"(medians of {len(times['xpnet'])}; TF32 {about['xpnet']['tf32']}/"
              f"{about[peer]['tf32']}); ratio {ratios[peer]:.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            from xpnet.bench import machine

            json.dump({"sizes": args.sizes, "batch": args.batch, "limit": args.limit,
                       "precision": args.precision,
                       "machine": machine(),
                       "times": times, "median": med, "ratios": ratios,
                       "ratio": ratios.get("torch"), "runs": about}, fh, indent=2)


if __name__ == "__main__":
    main()
