"""NumPy's overrides of [`xpnet.kernels`][xpnet.kernels]: the same maths, written with ``out=`` into
memory the kernel owns (consumed gradients, one preallocated workspace per parameter shape) and
with the ufuncs' own methods (``np.add.reduce`` rather than ``np.sum``, whose dispatch layers
add a fixed cost to every call: a step of a small network makes about forty calls, so at
small batches the calls, not the arithmetic, are most of what is not GEMM).

``bias_activation`` is overridden for ReLU only, and only to skip the dispatch layers: the
portable form (``A`` written into ``Z``'s memory, a float 0/1 mask kept for the backward pass) is
already NumPy's fastest: ``np.maximum(Z, 0, out=Z)`` with a boolean mask in the backward pass
is slower (a multiply by a boolean array casts as it goes), and ``np.heaviside`` for the mask
far slower. ``dropout`` keeps the portable code.

The portable Adam update allocates seven temporaries the size of each parameter per step; this
one none. For small arrays the extra calls cost more than the allocations they save, so arrays
of fewer than ``SMALL`` entries take the portable path (the measurements behind these choices
are in the performance docs).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .kernels import Kernels

Array = Any


SMALL = 16384


class NumpyKernels(Kernels):
    name = "numpy"

    def __init__(self) -> None:
        self._work: dict[tuple[tuple[int, ...], Any], np.ndarray] = {}

    def _workspace(self, like: np.ndarray) -> np.ndarray:
        key = (like.shape, like.dtype)
        work = self._work.get(key)
        if work is None:
            work = self._work[key] = np.empty_like(like)
        return work

    def take_rows(self, xp: Any, X: Array, idx: Array) -> Array:
        return X.take(idx, axis=0)

    def bias_activation(self, xp: Any, Z: Array, b: Array, activation: Any
                        ) -> tuple[Array, Callable[[Array], Array]]:
        if activation.name != "relu":
            return super().bias_activation(xp, Z, b, activation)
        np.add(Z, b, out=Z)
        P = np.greater(Z, 0).astype(Z.dtype)   # relu'(Z), 0 at z = 0
        np.multiply(Z, P, out=Z)               # A = Z P, in Z's memory
        return Z, lambda dA: np.multiply(dA, P)

    def bias_gradient(self, xp: Any, D: Array) -> Array:
        return np.add.reduce(D, axis=0)

    def output_error(self, xp: Any, loss: Any, Z: Array, Y: Array, scale: float,
                     shares: Array | None = None) -> tuple[Array, Array]:
        if loss.name != "cross_entropy":
            return super().output_error(xp, loss, Z, Y, scale, shares)
        # C = sum_ij r_i Y_ij (ln t_i - S_ij), r_i = 1/M or the row's share, S = Z - rowmax Z,
        # t = rowsum e^S: -ln softmax(Z) = ln t - S, never ln 0
        M = Z.shape[0]
        S = np.subtract(Z, np.maximum.reduce(Z, axis=1, keepdims=True))
        E = np.exp(S)
        t = np.add.reduce(E, axis=1, keepdims=True)
        np.subtract(np.log(t), S, out=S)
        if shares is None:
            C = np.vdot(Y, S) / M
        else:
            np.multiply(S, shares, out=S)
            C = np.vdot(Y, S)
        np.divide(E, t, out=E)             # softmax(Z)
        np.subtract(E, Y, out=E)
        if shares is None:
            np.multiply(E, scale / M, out=E)   # D = s (softmax(Z) - Y) / M
        else:
            np.multiply(E, shares * scale, out=E)   # D = s r (softmax(Z) - Y)
        return C, E

    def sgd_update(self, xp: Any, p: Array, g: Array, v: Array | None, mu: float,
                   nesterov: bool) -> tuple[Array, Array | None]:
        if v is None or not nesterov:   # the portable code is in place already
            return super().sgd_update(xp, p, g, v, mu, nesterov)
        np.multiply(v, mu, out=v)
        np.add(v, g, out=v)
        np.add(p, g, out=p)
        np.multiply(v, mu, out=g)   # g is consumed: mu v in its memory, no temporary
        np.add(p, g, out=p)
        return p, v

    def flush_subnormals(self, xp: Any, a: Array) -> Array:
        tiny = np.finfo(a.dtype).tiny
        small = np.less(np.abs(a), tiny)
        np.copyto(a, 0, where=small)   # in place
        return a

    def adam_update(self, xp: Any, p: Array, g: Array, m: Array, v: Array, b1: float,
                    b2: float, step: float, c2: float, eps: float
                    ) -> tuple[Array, Array, Array]:
        if p.size < SMALL:
            return super().adam_update(xp, p, g, m, v, b1, b2, step, c2, eps)
        w = self._workspace(p)
        np.multiply(g, g, out=w)          # v <- b2 v + (1 - b2) g^2
        np.multiply(w, 1.0 - b2, out=w)
        np.multiply(v, b2, out=v)
        np.add(v, w, out=v)
        np.multiply(m, b1, out=m)         # m <- b1 m + (1 - b1) g, g consumed
        np.multiply(g, 1.0 - b1, out=g)
        np.add(m, g, out=m)
        np.multiply(v, 1.0 / c2, out=w)   # p <- p - step m / (sqrt(v / c2) + eps)
        np.sqrt(w, out=w)
        np.add(w, eps, out=w)
        np.divide(m, w, out=w)
        np.multiply(w, step, out=w)
        np.subtract(p, w, out=p)
        return p, m, v
