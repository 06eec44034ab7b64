"""The element-wise kernels of a training step, by name, in the manner of Thinc's ``Ops``.

:class:`Kernels` holds one portable implementation of each, written against the array API
(what array-api-strict, PyTorch and CuPy run). A backend may override any of them in its own
module (:mod:`xpnet.kernels_numpy`: NumPy writing into preallocated workspaces with ``out=``);
:meth:`xpnet.Backend.kernels` hands each network its backend's set, and every override is tested
against the portable version on random inputs (``tests/test_kernels.py``).

The kernels (``p`` a parameter, ``g`` its gradient, consumed: a kernel may overwrite it):

* ``sgd_update``: ``v <- mu v + g``; ``p <- p + v``, or with Nesterov momentum
  ``p <- p + g + mu v``; ``g`` arrives already multiplied by ``-eta``.
* ``adam_update``: ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2``,
  ``p <- p - (eta/c1) m / (sqrt(v/c2) + eps)`` with ``c1 = 1 - b1^t``, ``c2 = 1 - b2^t``.
"""

from __future__ import annotations

from typing import Any

Array = Any


class Kernels:
    """The portable kernels: array-API code that updates in place where the library allows
    (augmented assignment) and returns the results, which the caller stores."""

    name = "portable"

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


PORTABLE = Kernels()
