"""The robust and smoothed costs against PyTorch's own loss functions and autograd, in float64:
label-smoothed cross-entropy (F.cross_entropy's label_smoothing), label-smoothed binary
cross-entropy (Keras's smoothing, y (1 - e) + e / 2, through BCE with logits), Huber
(F.huber_loss with its delta) and mean absolute error (F.l1_loss)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet.backend import to_numpy

torch = pytest.importorskip("torch", reason="PyTorch is the reference: pip install torch")
F = torch.nn.functional

RNG = np.random.default_rng(3)
X = RNG.normal(size=(12, 5))
LABELS = RNG.integers(0, 3, 12)
BITS = RNG.integers(0, 2, 12).astype(float)
VALUES = RNG.normal(size=12) * 3.0   # some residuals beyond delta, some within


def net(backend, out, k, loss):
    return xpnet.Network([5, 6, k], hidden="tanh", output=out, loss=loss, backend=backend,
                         dtype="float64", seed=2, bias_init="normal")


def torch_cost_and_grads(network, cost):
    params = [torch.tensor(to_numpy(p), dtype=torch.float64, requires_grad=True)
              for p in network.parameters()]
    H = torch.tanh(torch.tensor(X) @ params[0] + params[1])
    Z = H @ params[2] + params[3]
    C = cost(Z)
    C.backward()
    return float(C), [p.grad.numpy() for p in params]


CASES = {
    "smoothed cross-entropy": (
        "softmax", 3, lambda: xpnet.losses.get("cross_entropy", label_smoothing=0.2), LABELS,
        lambda Z: F.cross_entropy(Z, torch.tensor(LABELS), label_smoothing=0.2)),
    "smoothed binary cross-entropy": (
        "sigmoid", 1, lambda: xpnet.losses.get("binary_cross_entropy", label_smoothing=0.2),
        BITS, lambda Z: F.binary_cross_entropy_with_logits(
            Z[:, 0], torch.tensor(BITS) * 0.8 + 0.1)),
    "huber": (
        "identity", 1, lambda: xpnet.losses.get("huber", delta=1.5), VALUES,
        lambda Z: F.huber_loss(Z[:, 0], torch.tensor(VALUES), delta=1.5)),
    "mae": (
        "identity", 1, lambda: "mae", VALUES,
        lambda Z: F.l1_loss(Z[:, 0], torch.tensor(VALUES))),
}


@pytest.mark.parametrize("case", list(CASES))
def test_costs_and_gradients_match_torch(case, backend):
    dtype_or_skip(backend, "float64")
    out, k, loss, y, cost = CASES[case]
    network = net(backend, out, k, loss())
    Xd, Y = network.prepare(X, y)
    C, grads, _ = network.loss_and_grads(Xd, Y)
    ref_C, ref_grads = torch_cost_and_grads(network, cost)
    assert float(C) == pytest.approx(ref_C, rel=1e-12)
    for g, r in zip(grads.values(), ref_grads):
        np.testing.assert_allclose(to_numpy(g), r, rtol=1e-10, atol=1e-13)


def test_smoothing_and_delta_travel_with_the_model(tmp_path):
    network = net("numpy", "softmax", 3, xpnet.losses.get("cross_entropy", label_smoothing=0.1))
    network.save(tmp_path / "m.npz")
    again = xpnet.load(tmp_path / "m.npz", backend="numpy")
    assert again.loss.label_smoothing == 0.1
    huber = net("numpy", "identity", 1, xpnet.losses.get("huber", delta=2.0))
    assert xpnet.Network.from_config(huber.config()).loss.delta == 2.0
    with pytest.raises(ValueError, match="label_smoothing smooths the targets of a cross"):
        xpnet.losses.get("mse", label_smoothing=0.1)
