"""The matmul core of a 784-512-512-10 network: each Dense layer's forward (``A @ W``), weight
gradient (``A^T @ D``) and input gradient (``D @ W^T``) through the layer code, beside the bare
``xp.matmul`` of the same shapes; the full training step; and one MNIST epoch."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import BATCHES, DTYPES, SIZES, add_gflops, record, synced

import xpnet

LAYERS = list(zip(SIZES[:-1], SIZES[1:]))
OPS = ["forward", "weight_grad", "input_grad"]


def operands(backend, dtype, M, n_in, n_out):
    rng = np.random.default_rng(0)
    dt = backend.dtype(dtype)
    A = backend.asarray(rng.random((M, n_in)), dt)
    W = backend.asarray(rng.random((n_in, n_out)) - 0.5, dt)
    D = backend.asarray(rng.random((M, n_out)), dt)
    return A, W, D


def time_bare(benchmark, backend, dtype, batch, layer, op, A, W, D):
    """Time ``xp.matmul`` alone on the operands of one of a layer's GEMMs."""
    xp = backend.xp
    fn = {"forward": lambda: xp.matmul(A, W), "weight_grad": lambda: xp.matmul(A.T, D),
          "input_grad": lambda: xp.matmul(D, W.T)}[op]
    record(benchmark, backend, dtype, batch, 2 * batch * layer[0] * layer[1], op=op,
           layer=f"{layer[0]}x{layer[1]}", kind="bare")
    benchmark(synced(fn, backend))
    add_gflops(benchmark)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", LAYERS, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("op", OPS)
def test_bare_matmul(benchmark, backend, dtype, batch, layer, op):
    """The roofline: xp.matmul alone on the shapes of one of a layer's GEMMs."""
    time_bare(benchmark, backend, dtype, batch, layer, op,
              *operands(backend, dtype, batch, *layer))


def low_precision_or_skip(backend, low):
    """The backend's ``low`` dtype ("bfloat16", "float16"); skipped where the backend has none,
    and float16 on a CPU (no CPU here has float16 GEMM units: a product takes tens of times
    float32's time, a GPU figure)."""
    if low not in backend.low_precision:
        pytest.skip(f"{backend.name} has no {low}")
    if low == "float16" and not backend.is_gpu:
        pytest.skip("float16 GEMMs have no CPU units: timed on a GPU")
    return backend.low_precision_dtype(low, low)


@pytest.mark.parametrize("low", ["bfloat16", "float16"])
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", LAYERS, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("op", OPS)
def test_bare_matmul_low_precision(benchmark, backend, low, batch, layer, op):
    """The roofline of a mixed precision policy's GEMMs: xp.matmul alone in bfloat16 or
    float16, on a layer's shapes."""
    xp, dt = backend.xp, low_precision_or_skip(backend, low)
    time_bare(benchmark, backend, low, batch, layer, op,
              *(xp.astype(a, dt) for a in operands(backend, "float32", batch, *layer)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("layer", LAYERS, ids=lambda t: f"{t[0]}x{t[1]}")
@pytest.mark.parametrize("op", ["forward", "backward"])
def test_dense_layer(benchmark, backend, dtype, batch, layer, op):
    """A Dense layer's own code: forward (GEMM + bias + ReLU), or backprop (ReLU derivative,
    weight-gradient GEMM, bias sum and input-gradient GEMM)."""
    xp = backend.xp
    A, W, D = operands(backend, dtype, batch, *layer)
    dense = xpnet.Dense(*layer, activation="relu")
    dense.build(backend, backend.generator(0), backend.dtype(dtype))
    dense.set_params([W, backend.asarray(np.zeros(layer[1]), backend.dtype(dtype))])
    if op == "forward":
        fn = lambda: dense.forward(xp, A)  # noqa: E731
        flops = 2 * batch * layer[0] * layer[1]
    else:
        _, backprop = dense.forward(xp, A)
        fn = lambda: backprop(D)  # noqa: E731
        flops = 4 * batch * layer[0] * layer[1]
    record(benchmark, backend, dtype, batch, flops, op=op, layer=f"{layer[0]}x{layer[1]}",
           kind="layer")
    benchmark(synced(fn, backend))
    add_gflops(benchmark)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", BATCHES)
def test_train_step(benchmark, backend, dtype, batch):
    """The training step of 784-512-512-10 as a fit runs it (xpnet.step.TrainingStep): the
    batch gathered from a 60,000-row training set on the device, forward, backward,
    SGD-momentum update."""
    from xpnet.bench import step_flops, training_step

    net = xpnet.Network(list(SIZES), hidden="relu", backend=backend, dtype=dtype, seed=0)
    step = training_step(net, xpnet.SGD(0.01, momentum=0.9), batch, np.random.default_rng(0))
    record(benchmark, backend, dtype, batch, step_flops(SIZES, batch), kind="step")
    benchmark(synced(step, backend))
    add_gflops(benchmark)


@pytest.mark.parametrize("precision", ["bf16-mixed", "16-mixed"])
@pytest.mark.parametrize("batch", BATCHES)
def test_train_step_mixed(benchmark, backend, precision, batch):
    """The same step under a mixed precision policy (float32 weights, GEMMs in bfloat16 or
    float16; float16 with its loss scaling), on the backends that have the compute dtype."""
    from xpnet.bench import step_flops, training_step

    low = xpnet.precision.get(precision).compute
    low_precision_or_skip(backend, low)
    net = xpnet.Network(list(SIZES), hidden="relu", backend=backend, seed=0,
                        precision=precision)
    step = training_step(net, xpnet.SGD(0.01, momentum=0.9), batch, np.random.default_rng(0))
    record(benchmark, backend, low, batch, step_flops(SIZES, batch), kind="step",
           precision=precision)
    benchmark(synced(step, backend))
    add_gflops(benchmark)


@pytest.mark.parametrize("batch", [32, 128, 2048])
def test_train_step_compiled(benchmark, backend, batch):
    """The same step compiled whole (``compile=True``: torch.compile), float32; the backends
    that cannot compile are skipped. The compilation is done before the timing."""
    from xpnet.bench import step_flops, training_step

    if backend.name != "torch":
        pytest.skip(f"{backend.name} does not compile the step")
    net = xpnet.Network(list(SIZES), hidden="relu", backend=backend, seed=0)
    step = training_step(net, xpnet.SGD(0.01, momentum=0.9), batch, np.random.default_rng(0),
                         compile=True)
    step()
    record(benchmark, backend, "float32", batch, step_flops(SIZES, batch), kind="step",
           compiled=True, compile_seconds=step.step.compile_seconds)
    benchmark(synced(step, backend))
    add_gflops(benchmark)


@pytest.mark.parametrize("batch", [128])
def test_mnist_epoch(benchmark, backend, batch):
    """One epoch of 784-512-512-10 over MNIST (60,000 images), the data already on the device."""
    try:
        ds = xpnet.datasets.mnist(download=False)
    except xpnet.DataError as exc:
        pytest.skip(str(exc))
    net = xpnet.Network(list(SIZES), hidden="relu", backend=backend, seed=0)
    X = backend.asarray(ds.X_train.astype(np.float32) / 255.0)   # moved once, here
    y = backend.asarray(ds.y_train)
    record(benchmark, backend, "float32", batch, 0, kind="epoch")
    benchmark.pedantic(
        synced(lambda: net.fit(X, y, epochs=1, batch_size=batch, optimizer="momentum",
                               learning_rate=0.01, progress=False), backend),
        rounds=3, iterations=1, warmup_rounds=1)
