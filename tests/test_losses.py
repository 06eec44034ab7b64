"""Costs against their formulas written out in NumPy float64, and BP1 against finite differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest import dtype_or_skip

from xpnet import activations, losses
from xpnet.backend import to_numpy

RNG = np.random.default_rng(3)
M, K = 6, 4
P = RNG.dirichlet(np.ones(K), size=M)          # rows of probabilities
LABELS = RNG.integers(0, K, M)
ONEHOT = np.eye(K)[LABELS]
BITS = (RNG.random((M, K)) > 0.5).astype(float)
COUNTS = RNG.poisson(1.0, size=(M, K)).astype(float)
WEIGHTS = np.array([1.0, 0.0, 2.5, 0.5, 1.0, 3.0])


def ref_value(name, a, y, w=None):
    """The cost written out: the mean over rows (weighted by ``w``) of each row's sum."""
    w = np.ones(len(a)) if w is None else w
    if name == "mse":
        rows = ((a - y) ** 2).sum(axis=1) / 2
    elif name == "binary_cross_entropy":
        rows = -(y * np.log(a) + (1 - y) * np.log(1 - a)).sum(axis=1)
    elif name == "poisson":
        y_ln_y = np.where(y > 0, y * np.log(np.where(y > 0, y, 1.0)), 0.0)
        rows = (y_ln_y - y * np.log(a) - y + a).sum(axis=1)
    elif name == "huber":   # delta 1
        r = np.abs(a - y)
        rows = np.where(r <= 1.0, r * r / 2, r - 0.5).sum(axis=1)
    elif name == "mae":
        rows = np.abs(a - y).sum(axis=1)
    else:
        rows = -(y * np.log(a)).sum(axis=1)
    return (w * rows).sum() / w.sum()


def target_for(name):
    return {"binary_cross_entropy": BITS, "poisson": COUNTS}.get(name, ONEHOT)


@pytest.mark.parametrize("name", losses.NAMES)
@pytest.mark.parametrize("weighted", [False, True])
def test_value_and_gradient(backend, name, weighted):
    """The value against the formula and dC/dA against central differences of it, as a plain
    mean and with rows weighted (the shares w_i / sum w, zeros among them)."""
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    y = target_for(name)
    w = WEIGHTS if weighted else None
    s = None if w is None else backend.asarray((w / w.sum()).reshape(-1, 1), xp.float64)
    loss = losses.get(name)
    A, Y = backend.asarray(P, xp.float64), backend.asarray(y, xp.float64)
    assert float(loss.value(xp, A, Y, s)) == pytest.approx(ref_value(name, P, y, w), rel=1e-13)
    g = to_numpy(loss.gradient(xp, A, Y, s))
    h = 1e-7
    fd = np.zeros_like(P)
    for idx in np.ndindex(P.shape):
        up, dn = P.copy(), P.copy()
        up[idx] += h
        dn[idx] -= h
        fd[idx] = (ref_value(name, up, y, w) - ref_value(name, dn, y, w)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,act", [("cross_entropy", "softmax"),
                                      ("binary_cross_entropy", "sigmoid"), ("poisson", "exp")])
def test_fused_pairs(backend, name, act):
    """Value from logits equals the value from probabilities; the fused error (A - Y)/M equals
    the chain rule through the activation, and with row shares s, s (A - Y)."""
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    y = target_for(name)
    loss, f = losses.get(name), activations.get(act)
    assert loss.fused(act) and not loss.fused("identity")
    z = RNG.normal(size=(M, K)) * 2
    Z, Y = backend.asarray(z, xp.float64), backend.asarray(y, xp.float64)
    A = f(xp, Z)
    C, D = loss.from_logits(xp, Z, Y, True)
    assert float(C) == pytest.approx(float(loss.value(xp, A, Y)), rel=1e-12)
    assert loss.from_logits(xp, Z, Y, False)[1] is None
    chain = f.backward(xp, Z, A, loss.gradient(xp, A, Y))
    np.testing.assert_allclose(to_numpy(D), to_numpy(chain), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(to_numpy(D), (to_numpy(A) - y) / M, rtol=1e-12, atol=1e-15)
    shares = (WEIGHTS / WEIGHTS.sum()).reshape(-1, 1)
    S = backend.asarray(shares, xp.float64)
    Cw, Dw = loss.from_logits(xp, Z, Y, True, S)
    assert float(Cw) == pytest.approx(float(loss.value(xp, A, Y, S)), rel=1e-12)
    np.testing.assert_allclose(to_numpy(Dw), shares * (to_numpy(A) - y), rtol=1e-12,
                               atol=1e-15)


@pytest.mark.parametrize("name", losses.NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_probabilities_of_exactly_zero_and_one(backend, name, dtype):
    dtype_or_skip(backend, dtype)
    xp = backend.xp
    a = np.array([[0.0, 1.0], [1.0, 0.0]])
    y = np.array([[1.0, 0.0], [1.0, 0.0]])
    A, Y = backend.asarray(a, backend.dtype(dtype)), backend.asarray(y, backend.dtype(dtype))
    loss = losses.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g = loss.value(xp, A, Y), loss.gradient(xp, A, Y)
        if loss.fuses_with in ("softmax", "sigmoid"):   # logits of probabilities
            Z = backend.asarray([[-1000.0, 1000.0], [1000.0, -1000.0]], backend.dtype(dtype))
            vz, dz = loss.from_logits(xp, Z, Y, True)
            assert np.isfinite(float(vz)) and vz.dtype == Z.dtype and dz.dtype == Z.dtype
            assert np.all(np.isfinite(to_numpy(dz)))
    assert np.isfinite(float(v)) and np.all(np.isfinite(to_numpy(g)))
    assert v.dtype == A.dtype and g.dtype == A.dtype


def test_cross_entropy_from_logits_is_exact_for_huge_margins(numpy_backend):
    xp = numpy_backend.xp
    Z = xp.asarray([[0.0, 800.0]])
    Y = xp.asarray([[1.0, 0.0]])
    C, _ = losses.get("cross_entropy").from_logits(xp, Z, Y, False)
    assert float(C) == pytest.approx(800.0)


def test_unknown_loss_lists_valid_ones():
    with pytest.raises(ValueError, match="valid losses: mse, binary_cross_entropy, "
                                         "cross_entropy, poisson"):
        losses.get("crossentropy")
