"""Dense and Dropout layers against plain NumPy float64."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet.backend import to_numpy


def test_dense_forward_backward_match_numpy(backend):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(5, 4)), rng.normal(size=(4, 3)), rng.normal(size=3)
    layer = xpnet.Dense(4, 3, activation="tanh")
    layer.build(backend, backend.generator(0), xp.float64)
    layer.set_params([backend.asarray(w, xp.float64), backend.asarray(b, xp.float64)])
    A, backprop = layer.forward(xp, backend.asarray(x, xp.float64))
    z = x @ w + b
    np.testing.assert_allclose(to_numpy(A), np.tanh(z), rtol=1e-14)
    d = rng.normal(size=(5, 3))
    dX, (dW, db) = backprop(backend.asarray(d, xp.float64))
    dz = d * (1 - np.tanh(z) ** 2)
    np.testing.assert_allclose(to_numpy(dW), x.T @ dz, rtol=1e-12)
    np.testing.assert_allclose(to_numpy(db), dz.sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(to_numpy(dX), dz @ w.T, rtol=1e-12)
    assert backprop(backend.asarray(d, xp.float64), input_grad=False)[0] is None


def test_dropout_is_inverted_and_identity_at_inference(backend):
    xp = backend.xp
    layer = xpnet.Dropout(0.25)
    layer.build(backend, backend.generator(0), xp.float32)
    X = xp.ones((400, 50), dtype=xp.float32, device=backend.device)
    same, _ = layer.forward(xp, X, training=False)
    assert same is X
    rng = backend.generator(0)
    Y, backprop = layer.forward(xp, X, training=True, rng=rng)
    y = to_numpy(Y)
    assert Y.dtype == xp.float32
    assert set(np.unique(y)) == {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.01        # rate of dropped units
    assert abs(y.mean() - 1.0) < 0.02                # expectation preserved
    dX, grads = backprop(xp.ones_like(X))
    np.testing.assert_array_equal(to_numpy(dX), y)   # the same mask on the way back
    assert grads == []


def test_dropout_masks_identical_across_cpu_backends(backend):
    if backend.is_gpu:
        pytest.skip("GPU masks come from the device generator by design")
    ref_be = xpnet.resolve("numpy")
    X = np.ones((8, 6), dtype=np.float32)
    def built(be):
        layer = xpnet.Dropout(0.5)
        layer.build(be, be.generator(0), be.xp.float32)
        return layer

    ref, _ = built(ref_be).forward(ref_be.xp, ref_be.asarray(X), True, ref_be.generator(7))
    got, _ = built(backend).forward(backend.xp, backend.asarray(X), True, backend.generator(7))
    np.testing.assert_array_equal(to_numpy(ref), to_numpy(got))


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rate_range(rate):
    with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
        xpnet.Dropout(rate)


@pytest.mark.parametrize("args", [(0, 3), (3, -1), (2.5, 3)])
def test_dense_sizes(args):
    with pytest.raises((ValueError, TypeError), match="must be a positive integer"):
        xpnet.Dense(*args)


def test_a_layer_used_before_it_is_built_says_how():
    import array_api_compat.numpy as xp

    with pytest.raises(RuntimeError, match="has not been built: add it to a Network"):
        xpnet.Dense(3, 2).forward(xp, xp.ones((1, 3)), W=xp.ones((3, 2)), b=xp.zeros(2))
