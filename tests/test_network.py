"""The Network contract, and backpropagation against independent references: central finite
differences on every backend, PyTorch autograd, and NumPy float64."""

from __future__ import annotations

import contextlib
import warnings

import array_api_compat
import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet.backend import to_numpy

HIDDEN = ["sigmoid", "relu", "leaky_relu", "tanh", "elu", "identity"]
HEADS = [  # (output activation, cost): the fused pairs, the Jacobian path and the classics
    ("softmax", "cross_entropy"),
    ("sigmoid", "binary_cross_entropy"),
    ("sigmoid", "mse"),
    ("softmax", "mse"),
    ("identity", "mse"),
    ("tanh", "mse"),
    ("sigmoid", "cross_entropy"),
    ("exp", "poisson"),
]
RNG = np.random.default_rng(11)
X_SMALL = RNG.normal(size=(9, 5))
LABELS = RNG.integers(0, 3, 9)
BITS = (RNG.random((9, 3)) > 0.5).astype(float)


COUNTS = RNG.poisson(1.5, size=(9, 3)).astype(float)
WEIGHTS = np.array([0.5, 2.0, 0.0, 1.0, 3.5, 1.0, 0.25, 0.0, 1.5])


def targets(loss, out):
    if loss == "binary_cross_entropy":
        return BITS
    if loss == "poisson":
        return COUNTS
    if out in ("identity", "tanh"):
        return RNG.uniform(-0.9, 0.9, size=(9, 3))
    return LABELS


def small_net(backend, hidden, out, loss, **kw):
    # Normal biases keep ReLU units off their kink at exactly 0, where no derivative exists.
    kw.setdefault("bias_init", "normal")
    return xpnet.Network([5, 4, 4, 3], hidden=hidden, output=out, loss=loss, backend=backend,
                         dtype="float64", seed=1, l2=0.3, **kw)


def rel_err(a, b):
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    return np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-300)


# ------------------------------------------------------------------ the public contract
def test_contract_classic_network():
    net = xpnet.Network([784, 30, 10], hidden="sigmoid", output="sigmoid", loss="mse",
                        init="large", backend="numpy", dtype="float32", seed=0)
    assert [type(layer) for layer in net.layers] == [xpnet.Dense, xpnet.Dense]
    W, b = net.layers[0].W, net.layers[0].b
    assert W.shape == (784, 30) and b.shape == (30,) and W.dtype == np.float32
    X = RNG.random((4, 784))
    A = net.forward(X)
    assert A.shape == (4, 10) and A.dtype == np.float32
    c = net.cost(X, [1, 2, 3, 4])
    assert isinstance(c, float) and c > 0
    grads = net.gradients(X, [1, 2, 3, 4])
    assert len(grads) == 2
    for (dW, db), layer in zip(grads, net.layers):
        assert dW.shape == layer.W.shape and db.shape == layer.b.shape
        assert dW.dtype == np.float32 and db.dtype == np.float32
    pred = net.predict(X)
    assert pred.shape == (4,) and np.issubdtype(to_numpy(pred).dtype, np.integer)
    net.layers[1].W = np.zeros((30, 10), dtype=np.float32)   # assignable
    np.testing.assert_allclose(to_numpy(net.forward(X)), 0.5)


def test_contract_layer_objects(backend):
    net = xpnet.Network([xpnet.Dense(784, 512, activation="relu"), xpnet.Dropout(0.2),
                         xpnet.Dense(512, 10, activation="softmax")], loss="cross_entropy",
                        backend=backend, seed=0)
    assert len(net.layers) == 3 and len(net.gradients(np.zeros((2, 784)), [0, 1])) == 2
    A = net.forward(np.ones((3, 784)))
    np.testing.assert_allclose(to_numpy(A).sum(axis=1), 1.0, rtol=1e-5)
    # inference mode: dropout off, so the forward pass is deterministic
    np.testing.assert_array_equal(to_numpy(net.forward(np.ones((3, 784)))), to_numpy(A))


def test_auto_backend_falls_back_to_numpy_without_gpu():
    net = xpnet.Network([2, 2], backend="auto")
    assert net.backend.name in ("numpy", "cupy")


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,loss", HEADS)
def test_gradcheck_every_pairing(backend, hidden, out, loss):
    dtype_or_skip(backend, "float64")
    net = small_net(backend, hidden, out, loss)
    err = xpnet.gradcheck(net, X_SMALL, targets(loss, out), max_entries=None)
    assert err < 1e-6, f"relative error {err:.2e}"


def test_gradcheck_catches_a_wrong_gradient(numpy_backend):
    """The check itself must be able to fail: corrupt the derivative and it must notice."""
    net = small_net("numpy", "tanh", "sigmoid", "mse")
    good = xpnet.gradcheck(net, X_SMALL, LABELS)
    act = net.dense_layers[0].activation
    net.dense_layers[0].activation = xpnet.activations.Activation(
        "tanh", act.f, lambda xp, Z, A: 1.0 - 0.9 * A * A)
    assert good < 1e-7 and xpnet.gradcheck(net, X_SMALL, LABELS) > 1e-3


def test_gradcheck_on_float32_network_uses_float64_copy():
    net = xpnet.Network([5, 4, 3], hidden="tanh", backend="numpy", seed=0)
    assert xpnet.gradcheck(net, X_SMALL, LABELS) < 1e-6
    assert net.dtype_name == "float32"




def torch_reference_grads(net, X, Y, loss, l2, w=None):
    """The same network written directly in PyTorch; gradients by torch.autograd. With
    example weights ``w``, the cost is sum_i w_i C_i / sum_i w_i and the L2 term's n is
    sum_i w_i."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    params = [torch.tensor(to_numpy(p), dtype=torch.float64, requires_grad=True)
              for p in net.parameters()]
    A = torch.tensor(X, dtype=torch.float64)
    for k, layer in enumerate(net.dense_layers):
        Z = A @ params[2 * k] + params[2 * k + 1]
        name, alpha = layer.activation.name, layer.activation.params.get("alpha")
        if name == "softmax":
            A = torch.softmax(Z, dim=1)
        elif name == "leaky_relu":
            A = F.leaky_relu(Z, alpha)
        elif name == "elu":
            A = F.elu(Z, alpha)
        else:
            A = {"sigmoid": torch.sigmoid, "relu": F.relu, "tanh": torch.tanh,
                 "exp": torch.exp, "identity": lambda z: z}[name](Z)
    T = torch.tensor(Y, dtype=torch.float64)
    if T.ndim == 1:
        T = F.one_hot(T.long(), A.shape[1]).double()
    if loss == "mse":
        rows = ((A - T) ** 2).sum(dim=1) / 2
    elif loss == "binary_cross_entropy":
        rows = F.binary_cross_entropy(A, T, reduction="none").sum(dim=1)
    elif loss == "poisson":   # half the Poisson deviance, y ln(y/a) - y + a
        rows = (torch.xlogy(T, T) - torch.xlogy(T, A) - T + A).sum(dim=1)
    else:
        rows = -(T * torch.log(A)).sum(dim=1)
    weights = torch.ones(A.shape[0], dtype=torch.float64) if w is None else \
        torch.tensor(w, dtype=torch.float64)
    C = (weights * rows).sum() / weights.sum()
    C = C + l2 / (2 * weights.sum()) * sum((p**2).sum() for p in params[0::2])
    C.backward()
    return [p.grad.numpy() for p in params]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("out,loss", HEADS)
def test_gradients_match_torch_autograd(backend, hidden, out, loss):
    dtype_or_skip(backend, "float64")
    net = small_net(backend, hidden, out, loss)
    Y = targets(loss, out)
    ref = torch_reference_grads(net, X_SMALL, Y, loss, net.l2)
    got = [to_numpy(g) for pair in net.gradients(X_SMALL, Y) for g in pair]
    worst = max(rel_err(g, r) for g, r in zip(got, ref))
    assert worst < 1e-12, f"relative error {worst:.2e} against autograd"


@pytest.mark.parametrize("out,loss", HEADS)
def test_weighted_cost_and_gradients_match_torch_autograd(backend, out, loss):
    """Example weights (zeros among them): the cost is the weighted mean of the rows' costs,
    the L2 term's n the total weight, on the fused and the Jacobian paths alike."""
    dtype_or_skip(backend, "float64")
    pytest.importorskip("torch")
    net = small_net(backend, "tanh", out, loss)
    Y = targets(loss, out)
    X, T = net.prepare(X_SMALL, Y)
    C, grads, _ = net.loss_and_grads(X, T, weights=net.example_weights(WEIGHTS, 9))
    ref = torch_reference_grads(net, X_SMALL, Y, loss, net.l2, WEIGHTS)
    worst = max(rel_err(to_numpy(g), r) for g, r in zip(grads.values(), ref))
    assert worst < 1e-12, f"relative error {worst:.2e} against autograd"
    unweighted = [to_numpy(g) for g in net.loss_and_grads(X, T)[1].values()]
    assert max(rel_err(g, to_numpy(h)) for g, h in zip(unweighted, grads.values())) > 1e-3


@pytest.mark.parametrize("out,loss", HEADS)
def test_strict_equals_numpy_float64(out, loss):
    pytest.importorskip("array_api_strict")
    Y = targets(loss, out)
    a, b = (small_net(name, "elu", out, loss) for name in ("numpy", "array_api_strict"))
    np.testing.assert_allclose(to_numpy(b.forward(X_SMALL)), to_numpy(a.forward(X_SMALL)),
                               rtol=1e-12, atol=1e-15)
    assert b.cost(X_SMALL, Y) == pytest.approx(a.cost(X_SMALL, Y), rel=1e-12)
    for ga, gb in zip(a.gradients(X_SMALL, Y), b.gradients(X_SMALL, Y)):
        for p, q in zip(ga, gb):
            np.testing.assert_allclose(to_numpy(q), to_numpy(p), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ dtypes and numerics
@pytest.mark.parametrize("out,loss", HEADS)
def test_float32_end_to_end(backend, out, loss):
    net = xpnet.Network([5, 8, 3], hidden="relu", output=out, loss=loss, backend=backend,
                        dropout=0.1, l2=0.01, seed=0)
    Y = targets(loss, out)
    opt = xpnet.Adam(0.01)
    for _ in range(3):
        C = net.train_step(X_SMALL, Y, opt, n=100)
    assert C.dtype == net.xp.float32
    assert all(p.dtype == net.xp.float32 for p in net.parameters())
    assert all(s.dtype == net.xp.float32 for slot in ("m", "v")
               for s in opt.state[slot].values())
    assert all(g.dtype == net.xp.float32 for pair in net.gradients(X_SMALL, Y) for g in pair)
    assert net.forward(X_SMALL).dtype == net.xp.float32


@pytest.mark.parametrize("out,loss", [("softmax", "cross_entropy"),
                                      ("sigmoid", "binary_cross_entropy"),
                                      ("sigmoid", "cross_entropy")])
def test_saturated_outputs_stay_finite_without_warnings(backend, out, loss):
    net = xpnet.Network([2, 3], output=out, loss=loss, backend=backend, seed=0)
    W = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 1000.0]])
    net.layers[0].W = backend.asarray(W, net.dtype)
    X = np.array([[1.0, 0.0], [0.0, -1.0]])
    Y = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = net.cost(X, Y)
        grads = net.gradients(X, Y)
    # from logits the fused pairs see the full margin; clipping caps the other at -ln(eps) each
    assert np.isfinite(c) and c > (100 if net.loss.fused(out) else 5)
    assert all(np.all(np.isfinite(to_numpy(g))) for pair in grads for g in pair)


# ------------------------------------------------------------------ learning
def test_learns_xor_table(backend):
    """The reference text's table: 001, 011, 101, 111 -> 0, 1, 1, 0."""
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=float)
    y = np.array([0, 1, 1, 0])
    net = xpnet.Network([3, 4, 1], hidden="sigmoid", output="sigmoid", loss="mse",
                        init="large", backend=backend, seed=0)
    opt = xpnet.SGD(2.0)
    for _ in range(2000):
        net.train_step(X, y, opt)
    assert list(to_numpy(net.predict(X))) == [0, 1, 1, 0]
    assert net.cost(X, y) < 0.01


def test_fits_three_class_problem(backend):
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, 300)
    X = centres[y] + 0.5 * rng.normal(size=(300, 2))
    net = xpnet.Network([2, 16, 3], hidden="relu", output="softmax", loss="cross_entropy",
                        backend=backend, seed=0)
    opt = xpnet.SGD(0.1, momentum=0.9)
    before = net.cost(X, y)
    for _ in range(30):
        for i in range(0, 300, 30):
            net.train_step(X[i:i + 30], y[i:i + 30], opt)
    assert net.cost(X, y) < 0.2 * before
    assert (to_numpy(net.predict(X)) == y).mean() > 0.95


def test_l2_is_classical_weight_decay(numpy_backend):
    """With plain SGD, the L2 term gives W <- (1 - eta*lambda/n) W - eta dC0/dW, biases not
    decayed (n the training-set size)."""
    net = small_net("numpy", "tanh", "sigmoid", "mse")
    plain = small_net("numpy", "tanh", "sigmoid", "mse")
    plain.l2 = 0.0
    eta, lam, n = 0.5, net.l2, 50
    g0 = plain.gradients(X_SMALL, LABELS)
    W0 = [to_numpy(d.W).copy() for d in net.dense_layers]
    b0 = [to_numpy(d.b).copy() for d in net.dense_layers]
    net.train_step(X_SMALL, LABELS, xpnet.SGD(eta), n=n)
    for d, w, b, (dW, db) in zip(net.dense_layers, W0, b0, g0):
        np.testing.assert_allclose(to_numpy(d.W), (1 - eta * lam / n) * w - eta * to_numpy(dW),
                                   rtol=1e-12)
        np.testing.assert_allclose(to_numpy(d.b), b - eta * to_numpy(db), rtol=1e-12)
    # and the cost carries lambda/(2n) sum W^2
    reg = lam / (2 * 9) * sum((w**2).sum() for w in W0)
    fresh = small_net("numpy", "tanh", "sigmoid", "mse")
    assert fresh.cost(X_SMALL, LABELS) == pytest.approx(plain.cost(X_SMALL, LABELS) + reg)


def test_copy_to_other_backend_and_dtype(backend):
    net = small_net("numpy", "relu", "softmax", "cross_entropy")
    other = net.to(backend=backend, dtype="float32")
    assert other.backend is backend and other.dtype_name == "float32"
    assert all(array_api_compat.device(p) == backend.device for p in other.parameters())
    np.testing.assert_allclose(to_numpy(other.forward(X_SMALL)), to_numpy(net.forward(X_SMALL)),
                               rtol=1e-5, atol=1e-6)


def test_predict_single_sigmoid_output_thresholds(numpy_backend):
    net = xpnet.Network([1, 1], output="sigmoid", loss="binary_cross_entropy", backend="numpy")
    net.layers[0].W = np.array([[1.0]], dtype=np.float32)
    assert list(net.predict(np.array([[-2.0], [0.5], [3.0]]))) == [0, 1, 1]


# ------------------------------------------------------------------ the device of the network
def test_entry_points_work_with_the_networks_device_current(monkeypatch):
    """CuPy works on the current device, so everything that computes enters the network's
    device context (Backend.on_device); here that context is recorded instead."""
    entered = []

    def recording(self):
        entered.append(self.name)
        return contextlib.nullcontext()

    monkeypatch.setattr(xpnet.Backend, "on_device", recording)
    net = xpnet.Network([5, 4, 3], backend="numpy", seed=0)
    X, y = RNG.normal(size=(6, 5)), RNG.integers(0, 3, 6)
    calls = {
        "forward": lambda: net.forward(X),
        "predict": lambda: net.predict(X),
        "cost": lambda: net.cost(X, y),
        "gradients": lambda: net.gradients(X, y),
        "train_step": lambda: net.train_step(X, y, xpnet.SGD(0.1)),
        "fit": lambda: net.fit(X, y, epochs=1, batch_size=3, progress=False),
        "evaluate": lambda: net.evaluate(X, y),
        "gradcheck": lambda: xpnet.gradcheck(net, X, y, max_entries=3),
    }
    for name, call in calls.items():
        entered.clear()
        call()
        assert entered and entered[0] == "numpy", name


def test_network_on_a_second_gpu_stays_there():
    cp = pytest.importorskip("cupy")
    if xpnet.backend.gpu_count() < 2:
        pytest.skip("needs two CUDA devices")
    current = cp.cuda.runtime.getDevice()
    net = xpnet.Network([5, 4, 3], backend="cupy", device=1, seed=0)
    X, y = RNG.normal(size=(12, 5)), RNG.integers(0, 3, 12)
    net.fit(X, y, epochs=2, batch_size=4, optimizer="adam", progress=False)
    on_cpu = net.to("numpy")  # the same weights, float32 on the CPU
    assert net.evaluate(X, y)["accuracy"] == pytest.approx(on_cpu.evaluate(X, y)["accuracy"])
    assert all(p.device.id == 1 for p in net.parameters())
    assert cp.cuda.runtime.getDevice() == current  # the caller's current device is restored


# ------------------------------------------------------------------ errors at the edge
@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"hidden": "sigmod"}, ValueError, "valid activations"),
        ({"loss": "xent"}, ValueError, "valid losses"),
        ({"init": "kaiming"}, ValueError, "valid initialisers"),
        ({"dtype": "float16"}, ValueError, "valid dtypes"),
        ({"backend": "jax"}, ValueError, "valid backends"),
        ({"l2": -1.0}, ValueError, "l2 must be >= 0"),
        ({"dropout": 1.0}, ValueError, "dropout rate"),
    ],
)
def test_bad_arguments_say_what_is_valid(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        xpnet.Network([4, 3, 2], **{"backend": "numpy", **kwargs})


def test_shape_errors_name_both_numbers(numpy_backend):
    net = xpnet.Network([4, 3, 2], backend="numpy")
    with pytest.raises(ValueError, match="X has 5 features per example but the network expects 4"):
        net.forward(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="X has 2 examples but Y has 3"):
        net.cost(np.zeros((2, 4)), [0, 1, 1])
    with pytest.raises(ValueError, match=r"labels must be integers in \[0, 1\]"):
        net.cost(np.zeros((2, 4)), [0, 2])
    with pytest.raises(ValueError, match="takes 5 inputs but the layer before it has 3"):
        xpnet.Network([xpnet.Dense(4, 3), xpnet.Dense(5, 2)], backend="numpy")
    with pytest.raises(ValueError, match="last layer must be Dense"):
        xpnet.Network([xpnet.Dense(4, 3), xpnet.Dropout(0.5)], backend="numpy")
