"""Every backend override of a kernel against the portable version, on random inputs: the
same results, to rounding, in float32 and float64 (xpnet.kernels' contract)."""

from __future__ import annotations

import numpy as np
import pytest

from xpnet.backend import resolve
from xpnet.kernels import PORTABLE, Kernels

OVERRIDES = {"numpy": resolve("numpy").kernels}
SHAPES = [(7,), (13, 5), (64, 33), (200, 100)]   # the last above kernels_numpy.SMALL


def test_each_backend_names_its_kernels():
    assert isinstance(OVERRIDES["numpy"], Kernels) and OVERRIDES["numpy"].name == "numpy"
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
    kernels, xp = OVERRIDES[backend], resolve(backend).xp
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
    kernels, xp = OVERRIDES[backend], resolve(backend).xp
    got = kernels.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    want = PORTABLE.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    rtol = 1e-5 if dtype == np.float32 else 1e-13
    for a, b in zip(got, want):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol * 1e-2)
    again = kernels.adam_update(xp, p.copy(), g.copy(), m.copy(), v.copy(), *args)
    np.testing.assert_array_equal(again[0], got[0])   # the workspace carries nothing over
