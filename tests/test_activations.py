"""Activations against independent float64 references (math module, explicit Jacobians)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from conftest import dtype_or_skip

from xpnet import activations
from xpnet.backend import to_numpy

ELEMENTWISE = [n for n in activations.NAMES if n != "softmax"]


def reference(name: str, z: float, alpha: float) -> float:
    """Each activation written out with the math module, one number at a time."""
    if name == "sigmoid":
        return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))
    if name == "relu":
        return max(z, 0.0)
    if name == "leaky_relu":
        return z if z > 0 else alpha * z
    if name == "tanh":
        return math.tanh(z)
    if name == "elu":
        return z if z > 0 else alpha * (math.exp(z) - 1)
    if name == "identity":
        return z
    if name == "exp":
        return math.exp(z)
    raise AssertionError(name)


def params_for(name):
    return {"alpha": 0.3} if name in ("leaky_relu", "elu") else {}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_values_match_reference(backend, name):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    z = np.linspace(-6, 6, 41)
    act = activations.get(name, **params_for(name))
    A = to_numpy(act(xp, backend.asarray(z, xp.float64)))
    want = [reference(name, v, 0.3) for v in z]
    np.testing.assert_allclose(A, want, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_finite_differences(backend, name):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    z = np.linspace(-4, 4, 33) + 0.0123  # keep clear of the kink at 0
    act = activations.get(name, **params_for(name))
    Z = backend.asarray(z, xp.float64)
    d = to_numpy(act.df(xp, Z, act(xp, Z)))
    h = 1e-6
    fd = [(reference(name, v + h, 0.3) - reference(name, v - h, 0.3)) / (2 * h) for v in z]
    np.testing.assert_allclose(d, fd, rtol=1e-7, atol=1e-9)
    # backward() is dA * f'(Z), whichever form the activation uses for it
    dA = backend.asarray(np.cos(z), xp.float64)
    np.testing.assert_allclose(to_numpy(act.backward(xp, Z, act(xp, Z), dA)), np.cos(z) * d,
                               rtol=1e-12, atol=1e-15)


def test_relu_derivative_is_zero_at_zero(backend):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    act = activations.get("relu")
    Z = backend.asarray([-1.0, 0.0, 2.0], xp.float64)
    assert list(to_numpy(act.df(xp, Z, act(xp, Z)))) == [0.0, 0.0, 1.0]
    assert list(to_numpy(act.backward(xp, Z, act(xp, Z), xp.ones_like(Z)))) == [0.0, 0.0, 1.0]


def test_softmax_rows_and_jacobian(backend):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    rng = np.random.default_rng(0)
    z = rng.normal(size=(4, 5)) * 3
    act = activations.get("softmax")
    Z = backend.asarray(z, xp.float64)
    A = act(xp, Z)
    e = np.exp(z)
    np.testing.assert_allclose(to_numpy(A), e / e.sum(axis=1, keepdims=True), rtol=1e-14)
    dA = rng.normal(size=z.shape)
    dZ = to_numpy(act.backward(xp, Z, A, backend.asarray(dA, xp.float64)))
    a = to_numpy(A)
    for i in range(z.shape[0]):  # explicit Jacobian diag(a) - a a^T, row by row
        J = np.diag(a[i]) - np.outer(a[i], a[i])
        np.testing.assert_allclose(dZ[i], J.T @ dA[i], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", activations.NAMES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_extreme_inputs_no_warnings_and_dtype_kept(backend, name, dtype):
    """Nothing overflows or warns on the way for |z| up to 1000 (exp up to 50: its value
    itself is beyond every float from about 710)."""
    dtype_or_skip(backend, dtype)
    xp = backend.xp
    top = 50.0 if name == "exp" else 1000.0
    Z = backend.asarray([[-1000.0, -50.0, 0.0, 50.0, top]], backend.dtype(dtype))
    act = activations.get(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        A = act(xp, Z)
        dZ = act.backward(xp, Z, A, xp.ones_like(Z))
    assert A.dtype == Z.dtype and dZ.dtype == Z.dtype
    assert np.all(np.isfinite(to_numpy(A))) and np.all(np.isfinite(to_numpy(dZ)))
    if name == "sigmoid":
        assert list(to_numpy(A)[0, [0, 2, 4]]) == [0.0, 0.5, 1.0]
    if name == "softmax":
        assert to_numpy(A)[0, 4] == 1.0


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid activations: sigmoid, relu"):
        activations.get("sigmod")


def test_config_round_trip():
    act = activations.get("elu", alpha=0.5)
    again = activations.get(act.config())
    assert again.name == "elu" and again.params == {"alpha": 0.5}
