"""Optimizers: mini-batch SGD (with momentum or Nesterov momentum) and Adam.

``step(xp, params, grads)`` returns the updated parameters. Updates are written with augmented
assignment (``p -= u``): that updates in place where the array library allows it (NumPy, CuPy,
PyTorch, array-api-strict) and falls back to a new array where it does not (immutable arrays),
so one line serves both; the caller stores what is returned. The gradients are consumed: a step
may overwrite them (scaling ``g`` by the learning rate in its own memory saves a temporary as
large as the parameter, and the update is memory-bound).

:attr:`Optimizer.gradient_scale` lets the network fold a constant into backpropagation for
free: backprop is linear in the output error, so multiplying that small (batch x outputs) array
by ``s`` yields ``s * dW`` for every layer. SGD asks for ``s = -eta`` and then needs one pass
fewer over every parameter; ``step(..., scaled=True)`` says the gradients arrive so scaled.

L2 regularisation is not an optimizer option: it is part of the cost (``Network(l2=...)``), so
its gradient ``(lambda/n) W`` arrives inside ``grads`` and plain SGD performs the classical
weight decay ``W <- (1 - eta lambda / n) W - eta dC0/dW``.
"""

from __future__ import annotations

import math
from typing import Any

from .kernels import PORTABLE, Kernels

Array = Any


def _check_rate(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0.0 or (upper is not None and value >= upper):
        bound = f"[0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, not {value}")
    return value


class Optimizer:
    """Base class: holds the learning rate and per-parameter state."""

    name = "optimizer"

    def __init__(self, learning_rate: float):
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        if self.learning_rate == 0.0:
            raise ValueError("learning_rate must be > 0")
        self.state: dict[str, list[Array]] = {}
        self.t = 0  # steps taken

    #: the factor the network may fold into the gradients it hands to ``step(scaled=True)``
    gradient_scale = 1.0

    def step(self, xp: Any, params: list[Array], grads: list[Array],
             scaled: bool = False, kernels: Kernels = PORTABLE) -> list[Array]:
        """The updated parameters; ``kernels`` (the backend's, :mod:`xpnet.kernels`) do the
        element-wise work."""
        raise NotImplementedError

    def _zeros(self, key: str, xp: Any, params: list[Array]) -> list[Array]:
        if key not in self.state:
            self.state[key] = [xp.zeros_like(p) for p in params]
        return self.state[key]

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "learning_rate": self.learning_rate}

    def state_arrays(self) -> tuple[dict[str, int], dict[str, Array]]:
        """The per-parameter state as named arrays (``opt.<key>.<i>``), for checkpoints."""
        keys = {key: len(arrs) for key, arrs in self.state.items()}
        arrays = {f"opt.{key}.{i}": a for key, arrs in self.state.items()
                  for i, a in enumerate(arrs)}
        return keys, arrays

    def load_state(self, meta: dict[str, Any], arrays: dict[str, Any], backend: Any,
                   dtype: Any) -> None:
        """Restore what :meth:`state_arrays` saved (``meta`` holds ``t`` and the key counts)."""
        self.t = int(meta["t"])
        self.state = {
            key: [backend.asarray(arrays[f"opt.{key}.{i}"], dtype, copy=True)
                  for i in range(count)]
            for key, count in meta["keys"].items()
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Mini-batch gradient descent, ``W <- W - eta dW``.

    With momentum mu: ``v <- mu v - eta dW``, ``W <- W + v``; with Nesterov momentum the step
    looks ahead along the new velocity: ``W <- W + mu v - eta dW`` (Sutskever et al. 2013).
    """

    name = "sgd"

    def __init__(self, learning_rate: float = 0.1, momentum: float = 0.0, nesterov: bool = False):
        super().__init__(learning_rate)
        self.momentum = _check_rate("momentum", momentum, upper=1.0)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)

    @property
    def gradient_scale(self) -> float:  # type: ignore[override]
        return -self.learning_rate

    def step(self, xp: Any, params: list[Array], grads: list[Array],
             scaled: bool = False, kernels: Kernels = PORTABLE) -> list[Array]:
        mu = self.momentum
        self.t += 1
        vel = self._zeros("velocity", xp, params) if mu else None
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if not scaled:
                g *= -self.learning_rate  # consumed: g now holds -eta dW
            p, v = kernels.sgd_update(xp, p, g, vel[i] if vel is not None else None, mu,
                                      self.nesterov)
            if vel is not None:
                vel[i] = v
            out.append(p)
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2``,
    ``W <- W - eta m_hat / (sqrt(v_hat) + eps)`` with the bias corrections
    ``m_hat = m/(1-b1^t)``, ``v_hat = v/(1-b2^t)``.
    """

    name = "adam"

    def __init__(
        self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
        eps: float = 1e-8,
    ):
        super().__init__(learning_rate)
        self.beta1 = _check_rate("beta1", beta1, upper=1.0)
        self.beta2 = _check_rate("beta2", beta2, upper=1.0)
        self.eps = _check_rate("eps", eps)

    def step(self, xp: Any, params: list[Array], grads: list[Array],
             scaled: bool = False, kernels: Kernels = PORTABLE) -> list[Array]:
        b1, b2 = self.beta1, self.beta2
        self.t += 1
        m_all = self._zeros("m", xp, params)
        v_all = self._zeros("v", xp, params)
        c1 = 1.0 - b1**self.t
        c2 = 1.0 - b2**self.t
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            p, m_all[i], v_all[i] = kernels.adam_update(
                xp, p, g, m_all[i], v_all[i], b1, b2, self.learning_rate / c1, c2, self.eps)
            out.append(p)
        return out

    def config(self) -> dict[str, Any]:
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


NAMES = ("sgd", "momentum", "nesterov", "adam")


def get(spec: str | Optimizer, learning_rate: float | None = None, **kwargs: Any) -> Optimizer:
    """An optimizer from a name: ``"sgd"``, ``"momentum"`` (SGD, momentum 0.9 unless given),
    ``"nesterov"`` or ``"adam"``; an Optimizer object is returned as is."""
    if isinstance(spec, Optimizer):
        return spec
    if not isinstance(spec, str) or spec not in NAMES:
        raise ValueError(f"unknown optimizer {spec!r}; valid optimizers: {', '.join(NAMES)}")
    if spec == "adam":
        return Adam(1e-3 if learning_rate is None else learning_rate, **kwargs)
    lr = 0.1 if learning_rate is None else learning_rate
    if spec == "sgd":
        return SGD(lr, **kwargs)
    kwargs.setdefault("momentum", 0.9)
    return SGD(lr, nesterov=spec == "nesterov", **kwargs)


def from_config(cfg: dict[str, Any]) -> Optimizer:
    """Rebuild an optimizer from :meth:`Optimizer.config` (state is restored separately)."""
    cfg = dict(cfg)
    kinds = {"sgd": SGD, "adam": Adam}
    name = cfg.pop("name", None)
    if name not in kinds:
        raise ValueError(f"unknown optimizer {name!r} in saved state")
    return kinds[name](**cfg)
