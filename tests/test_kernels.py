"""Every backend override of a kernel against the portable version, on random inputs: the
same results, to rounding, in float32 and float64 (xpnet.kernels' contract)."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet import activations, losses
from xpnet.backend import resolve
from xpnet.kernels import PORTABLE, Kernels


def _kernel_sets():
    from xpnet.kernels_numpy import NumpyKernels

    sets = {"numpy": NumpyKernels()}
    try:
        from xpnet.kernels_numba import NumbaKernels

        sets["numba"] = NumbaKernels()
    except ImportError:   # numba not installed: its kernels are not used either
        pass
    return sets


OVERRIDES = _kernel_sets()
XP = {"numpy": "numpy", "numba": "numpy"}   # the namespace each set works on
SHAPES = [(7,), (13, 5), (64, 33), (200, 100)]   # the last above kernels_numpy.SMALL


def test_each_backend_names_its_kernels():
    assert isinstance(OVERRIDES["numpy"], Kernels) and OVERRIDES["numpy"].name == "numpy"
    assert resolve("numpy").kernels.name == "numpy"   # numba's only when asked for


def test_the_numba_kernels_are_chosen_by_name(monkeypatch):
    import xpnet

    monkeypatch.setenv("XPNET_KERNELS", "numba")
    if "numba" in OVERRIDES:
        assert resolve("numpy").kernels.name == "numba"
    else:
        with pytest.raises(xpnet.BackendError, match="needs numba"):
            resolve("numpy")
    monkeypatch.setenv("XPNET_KERNELS", "fortran")
    with pytest.raises(xpnet.BackendError, match="valid: numpy, numba"):
        resolve("numpy")
    assert resolve("array_api_strict").kernels is PORTABLE   # the reference path


def random_arrays(rng, shape, dtype, n):
    return [rng.normal(size=shape).astype(dtype) for _ in range(n)]


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("momentum,nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_update_matches_the_portable_kernel(backend, dtype, shape, momentum, nesterov):
    rng = np.random.default_rng(hash((shape, momentum, nesterov)) % 2**32)
    p, g, v = random_arrays(rng, shape, dtype, 3)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    got = kernels.sgd_update(xp, p.copy(), g.copy(), v.copy() if momentum else None, momentum,
                             nesterov)
    want = PORTABLE.sgd_update(xp, p.copy(), g.copy(), v.copy() if momentum else None,
                               momentum, nesterov)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    for a, b in zip(got, want):
        if b is None:
            assert a is None
        else:
            assert a.dtype == dtype
            np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("t", [1, 7, 1000])
def test_adam_update_matches_the_portable_kernel(backend, dtype, shape, t):
    rng = np.random.default_rng(t + len(shape))
    p, g, m = random_arrays(rng, shape, dtype, 3)
    v = np.abs(random_arrays(rng, shape, dtype, 1)[0])
    b1, b2, lr, eps = 0.9, 0.999, 1e-3, 1e-8
    args = (b1, b2, lr / (1 - b1**t), 1 - b2**t, eps)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    got = kernels.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    want = PORTABLE.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    again = kernels.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    np.testing.assert_array_equal(again[0], got[0])   # the workspace carries nothing over


TESTED = {"sgd_update", "adam_update", "flush_subnormals", "take_rows", "bias_gradient",
          "bias_activation", "output_error"}


@pytest.mark.parametrize("backend", list(OVERRIDES))
def test_every_override_has_a_test_here(backend):
    kinds = type(OVERRIDES[backend])
    overridden = {name for name, fn in vars(kinds).items()
                  if callable(fn) and not name.startswith("_") and hasattr(Kernels, name)}
    assert overridden, "a backend's kernel class should override something"
    assert overridden <= TESTED, f"untested overrides: {sorted(overridden - TESTED)}"


@pytest.mark.parametrize("backend", list(OVERRIDES))
def test_take_rows_matches_the_portable_kernel(backend):
    rng = np.random.default_rng(3)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    idx = rng.permutation(50)[:17]
    for X in (rng.normal(size=(50, 6)).astype(np.float32), rng.integers(0, 9, 50)):
        got, want = kernels.take_rows(xp, X, idx), PORTABLE.take_rows(xp, X, idx)
        assert got.dtype == X.dtype
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(got, X[idx])


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 3), (32, 100), (128, 512)])
def test_bias_gradient_matches_the_portable_kernel(backend, dtype, shape):
    D = np.random.default_rng(4).normal(size=shape).astype(dtype)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    got = kernels.bias_gradient(xp, D)
    assert got.shape == (shape[1],) and got.dtype == dtype
    np.testing.assert_allclose(got, PORTABLE.bias_gradient(xp, D), rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", activations.NAMES)
def test_bias_activation_matches_the_portable_kernel(backend, dtype, name):
    rng = np.random.default_rng(5)
    Z = rng.normal(size=(40, 9)).astype(dtype) * 3
    Z[0, :3] = 0.0   # the kink of the piecewise functions
    b = rng.normal(size=9).astype(dtype)
    dA = rng.normal(size=Z.shape).astype(dtype)
    f = activations.get(name)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    A, backprop = kernels.bias_activation(xp, Z.copy(), b, f)
    A0, backprop0 = PORTABLE.bias_activation(xp, Z.copy(), b, f)
    rtol = 1e-6 if dtype == np.float32 else 1e-14
    assert A.dtype == dtype
    np.testing.assert_allclose(A, A0, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(A, f(np, Z + b), rtol=rtol, atol=rtol)
    np.testing.assert_allclose(backprop(dA.copy()), backprop0(dA.copy()), rtol=rtol, atol=rtol)


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("loss_name", ["cross_entropy", "binary_cross_entropy"])
@pytest.mark.parametrize("scale", [1.0, -0.05])
@pytest.mark.parametrize("targets", ["one-hot", "soft"])
@pytest.mark.parametrize("weighted", [False, True])
def test_output_error_matches_the_portable_kernel(backend, dtype, loss_name, scale, targets,
                                                  weighted):
    """Against the portable kernel and against SciPy; ``weighted``: each row's share of the
    mean ``r_i = w_i / sum w`` (zeros among them) in place of 1/M."""
    rng = np.random.default_rng(6)
    k = 10 if loss_name == "cross_entropy" else 1
    Z = (rng.normal(size=(33, k)) * 8).astype(dtype)
    if targets == "one-hot" and k > 1:
        Y = np.eye(k, dtype=dtype)[rng.integers(0, k, 33)]
    elif targets == "one-hot":
        Y = rng.integers(0, 2, (33, 1)).astype(dtype)
    else:   # rows that need not sum to 1: the general formula, not a one-hot shortcut
        Y = rng.random((33, k)).astype(dtype)
    w = rng.integers(0, 4, 33).astype(np.float64) if weighted else np.ones(33)
    r = (w / w.sum()).reshape(-1, 1)
    shares = r.astype(dtype) if weighted else None
    loss = losses.get(loss_name)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    Z_before = Z.copy()
    C, D = kernels.output_error(xp, loss, Z, Y, scale, shares)
    np.testing.assert_array_equal(Z, Z_before)   # the logits still give the classes
    C0, D0 = PORTABLE.output_error(xp, loss, Z.copy(), Y, scale, shares)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    assert D.dtype == dtype and D.shape == Z.shape and np.ndim(C) == 0
    np.testing.assert_allclose(float(C), float(C0), rtol=rtol)
    np.testing.assert_allclose(D, D0, rtol=rtol, atol=rtol * 1e-3)
    # and the maths itself, against SciPy's special functions in float64: the cost, and
    # s (A - Y) / M with A the output activation of Z
    special = pytest.importorskip("scipy.special")
    Z64, Y64 = Z.astype(np.float64), Y.astype(np.float64)
    if k > 1:
        A, C_ref = special.softmax(Z64, axis=1), -np.sum(r * Y64 * special.log_softmax(Z64, axis=1))
    else:
        A = special.expit(Z64)
        C_ref = -np.sum(r * (Y64 * special.log_expit(Z64) + (1 - Y64) * special.log_expit(-Z64)))
    np.testing.assert_allclose(float(C), C_ref, rtol=rtol)
    np.testing.assert_allclose(D, scale * r * (A - Y64), rtol=rtol, atol=rtol * 1e-3)


@pytest.mark.parametrize("backend", list(OVERRIDES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flush_subnormals_matches_the_portable_kernel_and_numpy(backend, dtype):
    """Subnormals (0 < |a| < the smallest normal) become 0; zero, normal numbers, inf and NaN
    stay as they are."""
    info = np.finfo(dtype)
    sub = info.smallest_subnormal
    a = np.array([0.0, sub, -sub, info.tiny / 3, info.tiny, -info.tiny, 1.0, -2.5, np.inf,
                  -np.inf, np.nan], dtype=dtype)
    expected = np.array([0.0, 0.0, 0.0, 0.0, info.tiny, -info.tiny, 1.0, -2.5, np.inf,
                         -np.inf, np.nan], dtype=dtype)
    kernels, xp = OVERRIDES[backend], resolve(XP[backend]).xp
    got = kernels.flush_subnormals(xp, a.copy())
    want = PORTABLE.flush_subnormals(xp, a.copy())
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.asarray(want), expected)
    assert got.dtype == dtype


@pytest.mark.parametrize("backend", list(OVERRIDES))
def test_relu_keeps_nan_and_inf_as_the_portable_kernel_does(backend):
    """A NaN input must stay NaN through the layer (the divergence guard looks for it):
    A = Z * [Z > 0] gives NaN for NaN and -inf, inf for inf, and 0 elsewhere below zero."""
    xp = resolve(XP[backend]).xp
    Z = np.array([[np.nan, -np.inf, np.inf, -1.0, 0.0, 2.0]], dtype=np.float32)
    b = np.zeros(6, dtype=np.float32)
    relu = activations.get("relu")
    A0, bp0 = PORTABLE.bias_activation(xp, Z.copy(), b, relu)
    A1, bp1 = OVERRIDES[backend].bias_activation(xp, Z.copy(), b, relu)
    np.testing.assert_array_equal(A1, A0)
    np.testing.assert_array_equal(bp1(np.ones_like(Z)), bp0(np.ones_like(Z)))
