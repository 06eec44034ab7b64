"""Cost functions: each with its value and its output error (BP1), a mean over a batch.

With ``M`` examples in a batch (rows of ``A`` and ``Y``) and ``s_i`` the share of row i in the
mean (``1/M`` each; with example weights ``w``, ``s_i = w_i / sum_k w_k``, scikit-learn's
``sample_weight``):

* ``mse``: C = (1/2) sum_i s_i ||a_i - y_i||^2, dC/dA = s (A - Y)
* ``binary_cross_entropy``: C = -sum_i s_i sum_j [y ln a + (1 - y) ln(1 - a)],
  dC/dA = s (A - Y) / (A (1 - A))
* ``cross_entropy``: C = -sum_i s_i sum_j y ln a (over softmax outputs), dC/dA = -s Y / A
* ``poisson``: half the Poisson deviance, C = sum_i s_i sum_j [y ln(y/a) - y + a] (0 for a
  perfect fit), dC/dA = s (1 - Y/A), for positive outputs (an ``exp`` output layer)
* ``huber`` (with ``delta``): C = sum_i s_i sum_j h(a - y), h(r) = r^2 / 2 where |r| <= delta,
  else delta (|r| - delta / 2); dC/dA = s clip(A - Y, -delta, delta): quadratic near the
  target, linear (robust to outliers) beyond it
* ``mae``: C = sum_i s_i sum_j |a - y|, dC/dA = s sign(A - Y)

The cross-entropies take ``label_smoothing`` e: the targets become ``Y (1 - e) + e / k``
([`Loss.targets`][xpnet.losses.Loss.targets]).

Three pairings fuse: cross-entropy after softmax, binary cross-entropy after sigmoid and the
Poisson deviance after exp give the output error ``D_L = dC/dZ_L = s (A - Y)`` directly (the
Jacobian of the activation cancels the denominator of dC/dA). For them the network hands the
logits ``Z`` to [`Loss.from_logits`][xpnet.losses.Loss.from_logits], which computes the value
(log-softmax, softplus, ``y z``: never ``log(0)``) and the error together, sharing the exponentials.
Elsewhere probabilities are clipped to [eps, 1 - eps].

Every function takes the shares as ``s``: a column (M, 1) summing to 1, or None for ``1/M``.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import array_api_compat

Array = Any


@dataclass(frozen=True)
class Loss:
    """A cost ``value(xp, A, Y, s)`` (0-d, the mean over the batch with row shares ``s``) and
    ``gradient(xp, A, Y, s) = dC/dA``.

    ``fuses_with`` names the output activation with which the output error simplifies to
    ``s (A - Y)``; ``from_logits(xp, Z, Y, error, s)`` then returns the cost and (if ``error``)
    that output error, both from ``Z``.
    """

    name: str
    value: Callable[..., Array]
    gradient: Callable[..., Array]
    fuses_with: str | None = None
    from_logits: Callable[..., tuple[Array, Array | None]] | None = None
    #: cross-entropies: the targets ``Y (1 - e) + e / k`` (``e / 2`` for one sigmoid output)
    label_smoothing: float = 0.0
    #: Huber: where the cost turns from quadratic to linear
    delta: float = 1.0

    def fused(self, activation_name: str) -> bool:
        """Whether this cost fuses with an output layer of the given activation."""
        return self.fuses_with == activation_name

    def targets(self, xp: Any, Y: Array) -> Array:
        """The targets the cost compares with: ``Y`` itself, or smoothed (PyTorch's and
        Keras's ``label_smoothing``): the gradient of the smoothed cross-entropy is the fused
        ``s (A - Y')``, so smoothing the targets once smooths value and error alike."""
        if not self.label_smoothing:
            return Y
        e = self.label_smoothing
        return Y * (1.0 - e) + e * (0.5 if Y.shape[1] == 1 else 1.0 / Y.shape[1])

    def config(self) -> str | dict[str, Any]:
        """The name, with the parameters that differ from the defaults (for model files)."""
        params = {k: v for k, v in (("label_smoothing", self.label_smoothing),
                                    ("delta", self.delta)) if v != DEFAULTS[k]}
        return {"name": self.name, **params} if params else self.name


def _eps(xp: Any, A: Array) -> float:
    return float(xp.finfo(A.dtype).eps)


def mean(xp: Any, T: Array, s: Array | None) -> Array:
    """``sum_i s_i sum_j T_ij``: the mean over the rows of ``T`` (``1/M`` each when ``s`` is
    None), summed over its columns."""
    return xp.sum(T) / T.shape[0] if s is None else xp.sum(T * s)


def share(T: Array, s: Array | None) -> Array:
    """Each row of ``T`` times its share of the mean: ``T / M``, or ``s * T``."""
    return T / T.shape[0] if s is None else T * s


def _mse_value(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    R = A - Y
    return mean(xp, R * R, s) / 2


def _mse_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    return share(A - Y, s)


def _bce_value(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    eps = _eps(xp, A)
    P = clip(xp, A, eps, 1.0 - eps)
    return -mean(xp, Y * xp.log(P) + (1.0 - Y) * xp.log1p(-P), s)


def _bce_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    eps = _eps(xp, A)
    P = clip(xp, A, eps, 1.0 - eps)
    return share((P - Y) / (P * (1.0 - P)), s)


def _bce_from_logits(xp: Any, Z: Array, Y: Array, error: bool, s: Array | None = None
                     ) -> tuple[Array, Array | None]:
    # -[y ln s(z) + (1-y) ln(1-s(z))] = softplus(z) - y z, softplus(z) = max(z,0) + ln(1+e^-|z|)
    e = xp.exp(-xp.abs(Z))
    P = xp.astype(Z >= 0, Z.dtype)
    C = mean(xp, Z * P + xp.log1p(e) - Y * Z, s)
    if not error:
        return C, None
    A = (e + P * (1.0 - e)) / (1.0 + e)  # sigmoid(z) from the same e = exp(-|z|)
    return C, share(A - Y, s)


def _ce_value(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    P = clip(xp, A, _eps(xp, A), 1.0)
    return -mean(xp, Y * xp.log(P), s)


def _ce_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    P = clip(xp, A, _eps(xp, A), 1.0)
    return share(-Y / P, s)


def _ce_from_logits(xp: Any, Z: Array, Y: Array, error: bool, s: Array | None = None
                    ) -> tuple[Array, Array | None]:
    # ln softmax(z)_j = (z_j - m) - ln sum_k e^(z_k - m), m the row maximum
    S = Z - xp.max(Z, axis=1, keepdims=True)
    E = xp.exp(S)
    total = xp.sum(E, axis=1, keepdims=True)
    C = mean(xp, Y * (xp.log(total) - S), s)
    if not error:
        return C, None
    E /= total  # softmax(z), in E's memory where the library allows it
    E -= Y
    if s is None:
        E /= Z.shape[0]
    else:
        E *= s
    return C, E


def clip(xp: Any, A: Array, low: float, high: float | None = None) -> Array:
    """``min(max(A, low), high)`` element-wise (NaN stays NaN), as ``xp.clip`` computes it:
    two element-wise kernels on every library, where array-api-compat's CuPy ``clip`` indexes
    with boolean masks, which waits on the GPU for their sizes."""
    bound = lambda v: xp.asarray(v, dtype=A.dtype, device=array_api_compat.device(A))  # noqa: E731
    P = xp.maximum(A, bound(low))
    return P if high is None else xp.minimum(P, bound(high))


def _huber_value(xp: Any, A: Array, Y: Array, s: Array | None = None, delta: float = 1.0
                 ) -> Array:
    R = xp.abs(A - Y)
    quadratic = xp.minimum(R, xp.full_like(R, delta))
    return mean(xp, quadratic * (R - 0.5 * quadratic), s)   # 0.5 r^2, or delta (r - delta/2)


def _huber_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None, delta: float = 1.0
                    ) -> Array:
    R = A - Y
    bound = xp.full_like(R, delta)
    return share(xp.minimum(xp.maximum(R, -bound), bound), s)


def _mae_value(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    return mean(xp, xp.abs(A - Y), s)


def _mae_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    return share(xp.sign(A - Y), s)


def _y_ln_y(xp: Any, Y: Array) -> Array:
    """``y ln y``, 0 where y = 0 (its limit), never evaluating ``ln 0``."""
    return Y * xp.log(xp.where(Y > 0, Y, xp.ones_like(Y)))


def _poisson_value(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    P = clip(xp, A, float(xp.finfo(A.dtype).smallest_normal))
    return mean(xp, _y_ln_y(xp, Y) - Y * xp.log(P) - Y + P, s)


def _poisson_gradient(xp: Any, A: Array, Y: Array, s: Array | None = None) -> Array:
    P = clip(xp, A, float(xp.finfo(A.dtype).smallest_normal))
    return share(1.0 - Y / P, s)


def _poisson_from_logits(xp: Any, Z: Array, Y: Array, error: bool, s: Array | None = None
                         ) -> tuple[Array, Array | None]:
    # with a = e^z: y ln(y/a) - y + a = y ln y - y z - y + e^z
    A = xp.exp(Z)
    C = mean(xp, _y_ln_y(xp, Y) - Y * Z - Y + A, s)
    return (C, share(A - Y, s)) if error else (C, None)


_REGISTRY: dict[str, Loss] = {
    "mse": Loss("mse", _mse_value, _mse_gradient),
    "binary_cross_entropy": Loss(
        "binary_cross_entropy", _bce_value, _bce_gradient, "sigmoid", _bce_from_logits
    ),
    "cross_entropy": Loss("cross_entropy", _ce_value, _ce_gradient, "softmax", _ce_from_logits),
    "poisson": Loss("poisson", _poisson_value, _poisson_gradient, "exp", _poisson_from_logits),
    "huber": Loss("huber", _huber_value, _huber_gradient),
    "mae": Loss("mae", _mae_value, _mae_gradient),
}
NAMES = tuple(_REGISTRY)
DEFAULTS = {"label_smoothing": 0.0, "delta": 1.0}


def get(spec: str | dict[str, Any] | Loss, **params: Any) -> Loss:
    """The cost called ``spec`` (a name, or a model file's ``{"name": ..., parameter: ...}``;
    a Loss is returned as is), with ``label_smoothing`` (the cross-entropies) or ``delta``
    (Huber) where given."""
    if isinstance(spec, Loss):
        return spec
    if isinstance(spec, dict):
        params = {**{k: v for k, v in spec.items() if k != "name"}, **params}
        spec = spec.get("name", "?")
    if spec not in _REGISTRY:
        raise ValueError(f"unknown loss {spec!r}; valid losses: {', '.join(NAMES)}")
    base = _REGISTRY[spec]
    unknown = set(params) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"loss parameters are label_smoothing and delta, not "
                         f"{', '.join(sorted(unknown))}")
    e = float(params.get("label_smoothing", 0.0))
    if e and spec not in ("cross_entropy", "binary_cross_entropy"):
        raise ValueError(f"label_smoothing smooths the targets of a cross-entropy, not of {spec}")
    if not 0.0 <= e < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), not {e}")
    delta = float(params.get("delta", 1.0))
    if not 0.0 < delta < math.inf:
        raise ValueError(f"delta must be a finite number > 0, not {delta}")
    if spec == "huber" and delta != 1.0:
        base = Loss("huber", functools.partial(_huber_value, delta=delta),
                    functools.partial(_huber_gradient, delta=delta), delta=delta)
    return dataclasses.replace(base, label_smoothing=e) if e else base
