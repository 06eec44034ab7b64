"""The element-wise kernels of a training step, by name, in the manner of Thinc's ``Ops``.

[`Kernels`][xpnet.kernels.Kernels] holds one portable implementation of each, written against the
array API (what array-api-strict, PyTorch and CuPy run). A backend may override any of them in its
own module ([`xpnet.kernels_numpy`][xpnet.kernels_numpy]: NumPy writing into preallocated workspaces
with ``out=``); `xpnet.Backend.kernels` hands each network its backend's set, and every override is
tested against the portable version on random inputs (``tests/test_kernels.py``).

The kernels of the forward and backward passes (``M`` rows in a batch):

* ``take_rows``: ``X[idx]``, the batch gathered from the training set on the device.
* ``bias_activation``: ``A = f(Z + b)`` with ``Z`` consumed, returning ``(A, backprop)``;
  ``backprop(dA) = dA * f'(Z)`` is the activation's backward kernel (BP1/BP2's Hadamard
  product; softmax's Jacobian-vector product).
* ``output_error``: the cost ``C`` and ``s * dC/dZ_L = s (A_L - Y) / M`` together, from the
  logits ``Z_L`` of a fused cost/activation pair ([`xpnet.losses`][xpnet.losses]), the step's
  gradient scale ``s`` folded in (BP1); for weighted examples, each row's share of the mean in place
  of ``1/M``.
* ``bias_gradient``: ``dC/db = sum over rows of D`` (BP3).
* ``dropout``: ``X * mask`` and its backward ``D * mask``, ``mask = [U >= rate] / (1 - rate)``
  from uniform draws ``U``.

The optimizer updates (``p`` a parameter, ``g`` its gradient, consumed: a kernel may overwrite
it):

* ``sgd_update``: ``v <- mu v + g``; ``p <- p + v``, or with Nesterov momentum
  ``p <- p + g + mu v``; ``g`` arrives already multiplied by ``-eta``.
* ``adam_update``: ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2``,
  ``p <- p - (eta/c1) m / (sqrt(v/c2) + eps)`` with ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t``.
* ``flush_subnormals``: entries of magnitude below the dtype's smallest normal number set to
  zero. A velocity whose gradient is exactly zero (an input that is always zero, a dead unit)
  decays by ``mu`` at every step into subnormal numbers and stays at the smallest one, and on
  many CPUs every arithmetic operation on a subnormal operand takes a slow path; the training
  step flushes the optimizer's state every so often ([`xpnet.step`][xpnet.step]). The values flushed
  are below 1.2e-38 in float32: nothing the update could notice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Array = Any


class Kernels:
    """The portable kernels: array-API code that updates in place where the library allows
    (augmented assignment) and returns the results, which the caller stores."""

    name = "portable"

    def take_rows(self, xp: Any, X: Array, idx: Array) -> Array:
        """The rows ``idx`` of ``X``, a new array."""
        return xp.take(X, idx, axis=0)

    def bias_activation(self, xp: Any, Z: Array, b: Array, activation: Any
                        ) -> tuple[Array, Callable[[Array], Array]]:
        """``A = f(Z + b)`` and the backward kernel ``dA -> dC/dZ``; ``Z`` is consumed (a
        ReLU writes ``A`` into its memory)."""
        Z += b   # in place where the library allows it (augmented assignment)
        return activation.forward(xp, Z)

    def output_error(self, xp: Any, loss: Any, Z: Array, Y: Array, scale: float,
                     shares: Array | None = None) -> tuple[Array, Array]:
        """``(C, s dC/dZ)`` from the logits of a fused pair: the cost (0-d) and the output
        error ``s (A - Y) / M``, or with the rows' ``shares`` of the mean (a column summing to
        1: weighted examples) ``s shares (A - Y)``; ``Z`` is left as it is (its argmax is the
        class)."""
        C, D = loss.from_logits(xp, Z, Y, True, shares)
        if not isinstance(scale, float) or scale != 1.0:   # a 0-d array in a compiled step
            D *= scale   # D is the loss's own new array
        return C, D

    def bias_gradient(self, xp: Any, D: Array) -> Array:
        """``sum over rows of D``, shape (n_out,)."""
        return xp.sum(D, axis=0)

    def dropout(self, xp: Any, X: Array, U: Array, rate: float
                ) -> tuple[Array, Callable[[Array], Array]]:
        """``X * mask`` and the backward kernel ``D -> D * mask``, with
        ``mask = [U >= rate] / (1 - rate)``; ``U`` (uniform draws shaped like ``X``) is
        consumed."""
        mask = xp.astype(U >= rate, X.dtype) * (1.0 / (1.0 - rate))
        return X * mask, lambda D: D * mask

    def sgd_update(self, xp: Any, p: Array, g: Array, v: Array | None, mu: float,
                   nesterov: bool) -> tuple[Array, Array | None]:
        """One SGD step of ``p`` by the scaled gradient ``g`` (``-eta dW``); with momentum
        ``mu`` the velocity ``v`` too. Returns ``(p, v)``."""
        if v is None:
            p += g
            return p, None
        v *= mu
        v += g   # v = mu v - eta dW
        if nesterov:
            p += g
            p += mu * v
        else:
            p += v
        return p, v

    def adam_update(self, xp: Any, p: Array, g: Array, m: Array, v: Array, b1: float,
                    b2: float, step: float, c2: float, eps: float
                    ) -> tuple[Array, Array, Array]:
        """One Adam step; ``step = eta / c1`` and ``c2`` carry the bias corrections.
        Returns ``(p, m, v)``."""
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        p -= step * m / (xp.sqrt(v / c2) + eps)
        return p, m, v


    def flush_subnormals(self, xp: Any, a: Array) -> Array:
        """``a`` with its subnormal entries (0 < |a| < the smallest normal number) zeroed."""
        tiny = xp.finfo(a.dtype).smallest_normal
        return xp.where(xp.abs(a) < tiny, xp.zeros_like(a), a)


PORTABLE = Kernels()
