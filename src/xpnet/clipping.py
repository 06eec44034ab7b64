"""Gradient clipping, with Keras's three meanings, as array operations on the device.

* ``clipvalue=v``: each element of each gradient clamped to ``[-v, v]``
  (``torch.nn.utils.clip_grad_value_``);
* ``clipnorm=c``: each parameter's gradient whose norm exceeds ``c`` rescaled to norm ``c``;
* ``global_clipnorm=c``: all gradients rescaled together when their joint norm
  ``sqrt(sum ||g||^2)`` exceeds ``c`` (``torch.nn.utils.clip_grad_norm_``).

A norm is clipped by the factor ``min(1, c / (norm + 1e-6))``, as PyTorch computes it. The
gradients reach an optimizer multiplied by its gradient scale (``-eta`` for SGD, which folds
the learning rate into backpropagation), so the bounds are scaled by its magnitude instead of
the gradients being divided by it. Everything stays an array: no value is read back to the
host, so a GPU step never waits, and a compiled step takes a new scale as data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import array_api_compat

Array = Any
EPS = 1e-6


def check(clipnorm: float | None, clipvalue: float | None, global_clipnorm: float | None
          ) -> dict[str, float]:
    """The clipping asked for, checked: at most one mode, its bound a finite number > 0."""
    given = {k: v for k, v in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                               ("global_clipnorm", global_clipnorm)) if v is not None}
    if len(given) > 1:
        raise ValueError(f"clip gradients one way: {', '.join(given)} were all given")
    for k, v in given.items():
        v = float(v)
        if not 0.0 < v < float("inf"):
            raise ValueError(f"{k} must be a finite number > 0, not {v}")
        given[k] = v
    return given


def clip(xp: Any, grads: Mapping[str, Array], mode: dict[str, float], carried: Any
         ) -> Mapping[str, Array]:
    """``grads`` (multiplied by ``carried``: a float, or a 0-d array) clipped as ``mode``
    ([`check`][xpnet.clipping.check]'s result) says; as given when ``mode`` is empty."""
    if not mode:
        return grads
    (kind, bound), = mode.items()
    like = next(iter(grads.values()))
    a = _array(xp, carried, like)
    a = xp.abs(a)
    if kind == "clipvalue":
        b = a * bound
        return {k: xp.minimum(xp.maximum(g, -b), b) for k, g in grads.items()}
    if kind == "clipnorm":
        return {k: g * _factor(xp, xp.sqrt(xp.sum(g * g)), a, bound) for k, g in grads.items()}
    total = xp.sqrt(sum(xp.sum(g * g) for g in grads.values()))
    f = _factor(xp, total, a, bound)
    return {k: g * f for k, g in grads.items()}


def _factor(xp: Any, scaled_norm: Array, a: Array, bound: float) -> Array:
    """``min(1, c / (norm + 1e-6))`` for the true gradient's norm ``scaled_norm / a``; the
    same, multiplied through by ``a``, without dividing by a zero scale."""
    ratio = (bound * a) / (scaled_norm + EPS * a)
    return xp.minimum(ratio, xp.ones_like(ratio))


def _array(xp: Any, value: Any, like: Array) -> Array:
    if array_api_compat.is_array_api_obj(value):
        return value
    return xp.asarray(float(value), dtype=like.dtype, device=array_api_compat.device(like))
