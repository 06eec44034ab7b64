"""Fused CPU kernels for the NumPy backend, compiled by numba: the same maths as
[`xpnet.kernels`][xpnet.kernels], each in one pass over its arrays where NumPy needs several.

* ``bias_activation`` for ReLU: ``A = max(Z + b, 0)`` and the 0/1 mask of ``Z + b > 0`` in one
  pass (NumPy: an add, a comparison, a cast and a multiply, four passes).
* ``output_error`` for softmax with cross-entropy: the cost and ``s (softmax(Z) - Y) / M`` row by
  row, in one loop (NumPy: ten calls over the batch).
* ``sgd_update`` with momentum: ``v <- mu v + g``, ``p <- p + v`` (or Nesterov's
  ``p <- p + g + mu v``) in one pass over ``p``, ``v`` and ``g`` (NumPy: three), a subnormal ``v``
  flushed to zero on the way.
* ``adam_update``: the moments and the parameter in one pass (NumPy: twelve calls).

Single-threaded on purpose: the BLAS's threads already use the cores during the GEMMs, and
kernels that spawned their own would compete with them. Compiled on first use (seconds) and
cached on disk by numba (``cache=True``). Installed with ``pip install "xpnet[cpu]"`` and
chosen with ``XPNET_KERNELS=numba``
([`xpnet.backend.numpy_kernels`][xpnet.backend.numpy_backend.numpy_kernels] says why they are not
the default). Every kernel is tested against the portable one (``tests/test_kernels.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numba
import numpy as np

from .kernels_numpy import NumpyKernels

Array = Any
jit = numba.njit(cache=True, fastmath=False, nogil=True)


@jit
def _bias_relu(Z, b, P):  # pragma: no cover - compiled
    m, n = Z.shape
    for i in range(m):
        for j in range(n):
            z = Z[i, j] + b[j]
            mask = 1.0 if z > 0 else 0.0
            P[i, j] = mask
            Z[i, j] = z * mask   # as the portable Z * mask: NaN and -inf give NaN, not 0


@jit
def _softmax_xent(Z, Y, s, D):  # pragma: no cover - compiled
    m, n = Z.shape
    total = 0.0
    for i in range(m):
        top = Z[i, 0]
        for j in range(1, n):
            top = max(top, Z[i, j])
        t = 0.0
        for j in range(n):
            e = math.exp(Z[i, j] - top)
            D[i, j] = e
            t += e
        log_t = math.log(t)
        for j in range(n):
            total += Y[i, j] * (log_t - (Z[i, j] - top))
            D[i, j] = (D[i, j] / t - Y[i, j]) * s
    return total / m


@jit
def _momentum(p, g, v, mu, nesterov, tiny):  # pragma: no cover - compiled
    for k in range(p.size):
        vk = mu * v[k] + g[k]
        if abs(vk) < tiny:
            vk = 0.0
        v[k] = vk
        p[k] += g[k] + mu * vk if nesterov else vk


@jit
def _adam(p, g, m, v, b1, b2, step, c2, eps):  # pragma: no cover - compiled
    for k in range(p.size):
        gk = g[k]
        mk = b1 * m[k] + (1.0 - b1) * gk
        vk = b2 * v[k] + (1.0 - b2) * gk * gk
        m[k] = mk
        v[k] = vk
        p[k] -= step * mk / (math.sqrt(vk / c2) + eps)


class NumbaKernels(NumpyKernels):
    name = "numba"

    def bias_activation(self, xp: Any, Z: Array, b: Array, activation: Any
                        ) -> tuple[Array, Callable[[Array], Array]]:
        if activation.name != "relu" or not Z.flags.c_contiguous:
            return super().bias_activation(xp, Z, b, activation)
        P = np.empty_like(Z)
        _bias_relu(Z, b, P)
        return Z, lambda dA: np.multiply(dA, P)

    def output_error(self, xp: Any, loss: Any, Z: Array, Y: Array, scale: float,
                     shares: Array | None = None) -> tuple[Array, Array]:
        if loss.name != "cross_entropy" or not isinstance(scale, float) or shares is not None:
            return super().output_error(xp, loss, Z, Y, scale, shares)
        D = np.empty_like(Z)
        M = Z.shape[0]
        C = _softmax_xent(np.ascontiguousarray(Z), np.ascontiguousarray(Y, dtype=Z.dtype),
                          scale / M, D)
        return np.asarray(C, dtype=Z.dtype), D

    def sgd_update(self, xp: Any, p: Array, g: Array, v: Array | None, mu: float,
                   nesterov: bool) -> tuple[Array, Array | None]:
        if v is None or not (p.flags.c_contiguous and g.flags.c_contiguous
                             and v.flags.c_contiguous):
            return super().sgd_update(xp, p, g, v, mu, nesterov)
        _momentum(p.reshape(-1), g.reshape(-1), v.reshape(-1), p.dtype.type(mu), nesterov,
                  np.finfo(p.dtype).tiny)
        return p, v

    def adam_update(self, xp: Any, p: Array, g: Array, m: Array, v: Array, b1: float,
                    b2: float, step: float, c2: float, eps: float
                    ) -> tuple[Array, Array, Array]:
        if not all(a.flags.c_contiguous for a in (p, g, m, v)):
            return super().adam_update(xp, p, g, m, v, b1, b2, step, c2, eps)
        _adam(p.reshape(-1), g.reshape(-1), m.reshape(-1), v.reshape(-1), b1, b2, step, c2, eps)
        return p, m, v
