"""Cost functions: each with its value and its output error (BP1), averaged over a batch.

With ``M`` examples in a batch (rows of ``A`` and ``Y``):

* ``mse``: C = (1/2M) sum ||a - y||^2, dC/dA = (A - Y) / M
* ``binary_cross_entropy``: C = -(1/M) sum [y ln a + (1 - y) ln(1 - a)],
  dC/dA = (A - Y) / (A (1 - A) M)
* ``cross_entropy``: C = -(1/M) sum y ln a (over softmax outputs), dC/dA = -Y / (A M)

Two pairings fuse: cross-entropy after softmax and binary cross-entropy after sigmoid give the
output error ``D_L = dC/dZ_L = (A - Y) / M`` directly (the Jacobian of the activation cancels the
denominator of dC/dA). For them the network hands the logits ``Z`` to :attr:`Loss.from_logits`,
which computes the value (log-softmax, softplus: never ``log(0)``) and the error together,
sharing the exponentials. Elsewhere probabilities are clipped to [eps, 1 - eps].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Array = Any


@dataclass(frozen=True)
class Loss:
    """A cost ``value(xp, A, Y)`` (0-d, mean over the batch) and ``gradient(xp, A, Y) = dC/dA``.

    ``fuses_with`` names the output activation with which the output error simplifies to
    ``(A - Y) / M``; ``from_logits(xp, Z, Y, error)`` then returns the cost and (if ``error``)
    that output error, both from ``Z``.
    """

    name: str
    value: Callable[[Any, Array, Array], Array]
    gradient: Callable[[Any, Array, Array], Array]
    fuses_with: str | None = None
    from_logits: Callable[[Any, Array, Array, bool], tuple[Array, Array | None]] | None = None

    def fused(self, activation_name: str) -> bool:
        """Whether this cost fuses with an output layer of the given activation."""
        return self.fuses_with == activation_name


def _eps(xp: Any, A: Array) -> float:
    return float(xp.finfo(A.dtype).eps)


def _mse_value(xp: Any, A: Array, Y: Array) -> Array:
    R = A - Y
    return xp.sum(R * R) / (2 * A.shape[0])


def _bce_value(xp: Any, A: Array, Y: Array) -> Array:
    eps = _eps(xp, A)
    P = xp.clip(A, eps, 1.0 - eps)
    return -xp.sum(Y * xp.log(P) + (1.0 - Y) * xp.log1p(-P)) / A.shape[0]


def _bce_gradient(xp: Any, A: Array, Y: Array) -> Array:
    eps = _eps(xp, A)
    P = xp.clip(A, eps, 1.0 - eps)
    return (P - Y) / (P * (1.0 - P) * A.shape[0])


def _bce_from_logits(xp: Any, Z: Array, Y: Array, error: bool) -> tuple[Array, Array | None]:
    # -[y ln s(z) + (1-y) ln(1-s(z))] = softplus(z) - y z, softplus(z) = max(z,0) + ln(1+e^-|z|)
    M = Z.shape[0]
    e = xp.exp(-xp.abs(Z))
    P = xp.astype(Z >= 0, Z.dtype)
    C = xp.sum(Z * P + xp.log1p(e) - Y * Z) / M
    if not error:
        return C, None
    A = (e + P * (1.0 - e)) / (1.0 + e)  # sigmoid(z) from the same e = exp(-|z|)
    return C, (A - Y) / M


def _ce_value(xp: Any, A: Array, Y: Array) -> Array:
    P = xp.clip(A, _eps(xp, A), 1.0)
    return -xp.sum(Y * xp.log(P)) / A.shape[0]


def _ce_gradient(xp: Any, A: Array, Y: Array) -> Array:
    P = xp.clip(A, _eps(xp, A), 1.0)
    return -Y / (P * A.shape[0])


def _ce_from_logits(xp: Any, Z: Array, Y: Array, error: bool) -> tuple[Array, Array | None]:
    # ln softmax(z)_j = (z_j - m) - ln sum_k e^(z_k - m), m the row maximum
    M = Z.shape[0]
    S = Z - xp.max(Z, axis=1, keepdims=True)
    E = xp.exp(S)
    total = xp.sum(E, axis=1, keepdims=True)
    C = xp.sum(Y * (xp.log(total) - S)) / M
    if not error:
        return C, None
    E /= total  # softmax(z), in E's memory where the library allows it
    E -= Y
    E /= M
    return C, E


_REGISTRY: dict[str, Loss] = {
    "mse": Loss("mse", _mse_value, lambda xp, A, Y: (A - Y) / A.shape[0]),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", _bce_value, _bce_gradient, "sigmoid", _bce_from_logits
    ),
    "cross_entropy": Loss("cross_entropy", _ce_value, _ce_gradient, "softmax", _ce_from_logits),
}
NAMES = tuple(_REGISTRY)


def get(spec: str | Loss) -> Loss:
    """The cost called ``spec`` (a Loss is returned as is)."""
    if isinstance(spec, Loss):
        return spec
    if spec not in _REGISTRY:
        raise ValueError(f"unknown loss {spec!r}; valid losses: {', '.join(NAMES)}")
    return _REGISTRY[spec]
