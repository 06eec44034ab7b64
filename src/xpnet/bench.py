"""``xpnet bench``: a quick timing of the training step against its own GEMMs.

For a ReLU network (784-512-512-10 unless ``--sizes`` names another) and each batch size M, a
training step must do, per Dense layer, the forward GEMM ``A_prev @ W`` (M x n_in x n_out) and
the weight gradient ``A_prev^T @ D`` (n_in x M x n_out), and for every layer but the first the
input gradient ``D @ W^T``. Those GEMMs are timed bare (``xp.matmul`` on arrays of the same
shapes) and the whole step is timed beside them, interleaved, so the ratio step / GEMMs says
what everything else costs. The step timed is the one a fit runs per batch
([`xpnet.step.TrainingStep`][xpnet.step.TrainingStep]: the batch gathered from a training set of
MNIST's 60,000 rows on the device, forward, backward, SGD-momentum update, the per-example hits), on
the batches of a seeded permutation in turn ([`training_step`][xpnet.bench.training_step]). GPU
timings synchronise the device inside the timed region. The full suite lives in ``benchmarks/``
(pytest-benchmark).
"""

from __future__ import annotations

import itertools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import precision as precision_module
from .backend import BACKENDS, Backend, BackendError, cpu_bf16_units, resolve
from .model import Model
from .optim import SGD
from .step import TrainingStep, batch_bounds, gemm_flops

SIZES = (784, 512, 512, 10)
BATCHES = (32, 128, 512, 2048)


def gemm_shapes(sizes: tuple[int, ...], M: int) -> list[tuple[str, tuple[int, int, int], str]]:
    """For every GEMM a training step cannot avoid: (name, (m, k, n), transposed operand), with
    the operands laid out as the step lays them out (``A^T @ D`` reads ``A`` transposed)."""
    out = []
    for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        out.append((f"forward{l}", (M, n_in, n_out), "none"))         # A @ W
        out.append((f"weight_grad{l}", (n_in, M, n_out), "left"))     # A^T @ D
        if l > 1:
            out.append((f"input_grad{l}", (M, n_out, n_in), "right"))  # D @ W^T
    return out


def step_flops(sizes: tuple[int, ...], M: int) -> int:
    """Floating-point operations of the step's GEMMs (2 per multiply-add): the GEMMs
    [`gemm_shapes`][xpnet.bench.gemm_shapes] lists, as
    [`xpnet.step.gemm_flops`][xpnet.step.gemm_flops] counts them."""
    return gemm_flops(sizes, M)


def timer(fn: Callable[[], Any], backend: Backend, inner: int = 1) -> float:
    """Seconds per call of ``fn`` over ``inner`` calls, the device synchronised before and
    after (a GPU call returns before its work is done)."""
    backend.synchronize()
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    backend.synchronize()
    return (time.perf_counter() - t0) / inner


def _operands(backend: Backend, dtype: Any, shapes: list, rng: np.random.Generator) -> list:
    out = []
    for _, (m, k, n), transposed in shapes:
        a = rng.random((k, m) if transposed == "left" else (m, k))
        b = rng.random((n, k) if transposed == "right" else (k, n))
        a, b = backend.asarray(a, dtype), backend.asarray(b, dtype)
        out.append((a.T if transposed == "left" else a, b.T if transposed == "right" else b))
    return out


POOL = 60_000
"""Rows of the synthetic training set a timed step draws its batches from: MNIST's."""


def machine() -> dict[str, Any]:
    """What a figure was measured on: the CPU model (``lscpu``'s model name), the cores this
    process may use, the BLAS NumPy calls (threadpoolctl's view, else NumPy's build) and the
    CPU's bfloat16 units."""
    import os
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh
                       if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    blas = "unknown"
    try:
        from threadpoolctl import threadpool_info

        info = next(i for i in threadpool_info() if i.get("user_api") == "blas")
        blas = f"{info['internal_api']} {info['version']} ({info.get('architecture')} " \
               f"kernels, {info['num_threads']} threads)"
    except (ImportError, StopIteration):
        pass
    return {"cpu": cpu, "cores": cores, "blas": blas, "numpy": np.__version__,
            "bf16_units": cpu_bf16_units()}


class TimedStep:
    """One [`TrainingStep`][xpnet.step.TrainingStep] per call, on the next batch of a seeded
    permutation ([`training_step`][xpnet.bench.training_step]); ``step`` is the TrainingStep
    itself."""

    def __init__(self, step: TrainingStep, order: Any, bounds: Any):
        self.step, self.order, self.bounds = step, order, bounds

    def __call__(self) -> Any:
        s, e = next(self.bounds)
        return self.step(self.order[s:e])


def training_step(model: Model, optimizer: Any, M: int, rng: np.random.Generator,
                  rows: int = POOL, compile: bool = False) -> TimedStep:
    """A function that runs one [`TrainingStep`][xpnet.step.TrainingStep] of ``model`` per call, on
    the next batch of ``M`` rows of a seeded permutation of a random training set of ``rows`` rows
    (integer labels, one-hot on the device), as a fit runs it (``compile``: the step compiled
    whole). ``model`` is a classifier whose first layer takes ``n_inputs`` features and whose last
    gives ``n_outputs`` classes."""
    be, n = model.backend, max(rows, M)
    n_in, n_out = model.n_inputs, model.n_outputs   # type: ignore[attr-defined]
    X, Y = model.prepare(rng.random((n, n_in), dtype=np.float32), rng.integers(0, n_out, n))
    step = TrainingStep(model, optimizer, X, Y, compile=compile)
    order = be.asarray(rng.permutation(n))
    bounds = itertools.cycle(batch_bounds(n - n % M, M))   # full batches only
    return TimedStep(step, order, bounds)


MakeModel = Callable[[list[int], Backend, str, str], Model]
"""Builds the ReLU classifier timed: ``make_model(sizes, backend, dtype, precision)`` (the command
line passes ``xpnet.Network``'s)."""


def measure(make_model: MakeModel, backend: Backend, M: int, dtype: str = "float32",
            repeats: int = 7, sizes: tuple[int, ...] = SIZES, sample_seconds: float = 0.1,
            compile: bool = False, precision: str = "32") -> dict[str, Any]:
    """Median step time, median time of its GEMMs alone, and the median of their per-repeat
    ratio, from interleaved repeats of about ``sample_seconds`` each (``compile``: the step
    compiled whole, its compilation timed apart). Under a mixed ``precision`` policy the bare
    GEMMs take operands of its compute dtype (bfloat16, float16), so that the ratio compares the
    step with the same dtype's products."""
    xp = backend.xp
    net = make_model(list(sizes), backend, dtype, precision)
    policy = precision_module.get(precision)
    gemm_dtype = backend.dtype(dtype) if policy.compute is None else \
        backend.low_precision_dtype(policy.compute, policy.name)
    rng = np.random.default_rng(0)
    sgd = SGD(0.01, momentum=0.9)
    step = training_step(net, sgd, M, rng, compile=compile)
    operands = _operands(backend, gemm_dtype, gemm_shapes(sizes, M), rng)

    def gemms() -> None:
        for a, b in operands:
            xp.matmul(a, b)

    with backend.threads_for(step_flops(sizes, M)):   # the BLAS threads a fit would use
        for _ in range(3):  # warm-up: allocations, BLAS thread pools, kernel caches
            step()
            gemms()
        inner = max(1, int(sample_seconds / max(timer(step, backend, 3), 1e-9)))
        step_t, gemm_t = [], []
        for _ in range(repeats):
            step_t.append(timer(step, backend, inner))
            gemm_t.append(timer(gemms, backend, inner))
    s, g = statistics.median(step_t), statistics.median(gemm_t)
    flops = step_flops(sizes, M)
    return {
        "backend": backend.name, "device": backend.describe(), "dtype": dtype,
        "precision": policy.name, "gemm_dtype": policy.compute or dtype,
        "batch_size": M, "step_us": s * 1e6, "gemm_us": g * 1e6,
        "step_over_gemm": statistics.median(a / b for a, b in zip(step_t, gemm_t)),
        "step_gflops": flops / s / 1e9, "gemm_gflops": flops / g / 1e9,
        "repeats": repeats, "inner": inner, "tf32": backend.tf32(),
        "kernels": backend.kernels.name, "compiled": compile,
        "compile_seconds": step.step.compile_seconds,
    }


def main(args: Any, make_model: MakeModel) -> int:
    names = args.backend or [b for b in BACKENDS if b != "array_api_strict"]
    batches = args.batch_sizes or list(BATCHES)
    sizes = tuple(args.sizes or SIZES)
    if len(sizes) < 2:
        raise ValueError("--sizes needs at least an input and an output size")
    backends = []
    device = args.device
    for name in names:
        try:
            backends.append(resolve(name, device))
        except BackendError as exc:
            if args.backend:
                raise
            print(f"skipping {name}: {exc}", file=sys.stderr)
    if not backends:
        raise BackendError(f"no backend can run on device {device!r}")
    where = machine()
    compiled = getattr(args, "compile", False)
    precision = precision_module.get(getattr(args, "precision", "32"))
    kind = args.dtype if precision.compute is None else \
        f"precision {precision.name} ({precision.compute} GEMMs)"
    print(f"training step of {'-'.join(map(str, sizes))} vs its GEMMs, {kind}, "
          f"median of {args.repeats} interleaved repeats"
          + (", the step compiled whole" if compiled else "")
          + f"; {where['cpu']}, {where['cores']} cores, BLAS {where['blas']}", flush=True)
    print(f"{'backend':<24} {'batch':>6} {'step us':>10} {'GEMMs us':>10} {'step/GEMM':>9} "
          f"{'GFLOP/s':>8}", flush=True)
    rows = []
    for backend in backends:
        for M in batches:  # each row as soon as it is measured: a large batch takes seconds
            r = measure(make_model, backend, M, args.dtype, args.repeats, sizes,
                        compile=compiled, precision=precision.name)
            rows.append(r)
            print(f"{r['device']:<24} {r['batch_size']:>6} {r['step_us']:>10.1f} "
                  f"{r['gemm_us']:>10.1f} {r['step_over_gemm']:>9.2f} {r['step_gflops']:>8.1f}",
                  flush=True)
    if args.json:
        from .atomic import write_bytes

        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps({"sizes": sizes, "machine": where, "results": rows},
                                     indent=2).encode())
        print(f"wrote {path}", file=sys.stderr)
    return 0
