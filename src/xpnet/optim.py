"""Optimizers: mini-batch SGD (with momentum or Nesterov momentum) and Adam.

An optimizer only updates: ``optimizer.apply(params, grads)`` takes the parameters and their
gradients, both by name (``{"W1": ..., "b1": ...}``), and returns the updated parameters; its
per-parameter state (velocities, moments) is kept under the same names, so it follows the
parameters rather than their positions. It is bound to a backend once
([`Optimizer.bind`][xpnet.optim.Optimizer.bind], which the training step calls) and does its
element-wise work with that backend's kernels ([`xpnet.kernels`][xpnet.kernels]).
[`Optimizer.update`][xpnet.optim.Optimizer.update] is the same update as a function of explicit
state (parameters, gradients and state in; parameters and state out), the form a compiler can
capture whole.

**The gradient scale.** Backpropagation is linear in the output error, so multiplying that
small (batch x outputs) array by a constant ``s`` yields ``s dC/dW`` for every parameter at
almost no cost. Each optimizer names the ``s`` it wants as
[`Optimizer.gradient_scale`][xpnet.optim.Optimizer.gradient_scale], and ``apply`` and ``update``
take gradients already multiplied by it: SGD asks for ``s = -eta`` and then needs one pass fewer
over every parameter; Adam, whose update is invariant to the gradient's scale only up to epsilon,
asks for 1. The training step folds it in ([`xpnet.step`][xpnet.step]); a caller of ``apply``
multiplies by it. Gradients are consumed: an update may overwrite them.

L2 regularisation is not an optimizer option: it is part of the cost (``Network(l2=...)``), so
its gradient ``(lambda/n) W`` arrives inside ``grads`` and plain SGD performs the classical
weight decay ``W <- (1 - eta lambda / n) W - eta dC0/dW``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import clipping

if TYPE_CHECKING:
    from .backend import Backend
    from .kernels import Kernels

Array = Any
State = dict[str, dict[str, Array]]
"""An optimizer's state: for each slot (``"velocity"``, ``"m"``, ``"v"``), an array per
parameter name."""


def _check_rate(name: str, value: float, upper: float | None = None) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0.0 or (upper is not None and value >= upper):
        bound = f"[0, {upper})" if upper is not None else "a finite number >= 0"
        raise ValueError(f"{name} must be {bound}, not {value}")
    return value


class Optimizer:
    """Base class: the learning rate, the step count ``t``, the per-parameter state, and
    gradient clipping (``clipnorm``, ``clipvalue`` or ``global_clipnorm``, Keras's meanings:
    [`xpnet.clipping`][xpnet.clipping]), applied to the gradients before every update."""

    name = "optimizer"
    #: the state slots this optimizer keeps for every parameter
    slots: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, *, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None):
        self.learning_rate = _check_rate("learning_rate", learning_rate)
        if self.learning_rate == 0.0:
            raise ValueError("learning_rate must be > 0")
        self.clipping = clipping.check(clipnorm, clipvalue, global_clipnorm)
        #: a factor on the scheduled rate that callbacks may change (ReduceLROnPlateau)
        self.rate_factor = 1.0
        self.state: State = {}
        self.t = 0  # steps taken
        self.kernels: Kernels | None = None
        self.xp: Any = None

    @property
    def gradient_scale(self) -> float:
        """The factor the gradients given to [`apply`][xpnet.optim.Optimizer.apply] and
        [`update`][xpnet.optim.Optimizer.update] carry."""
        return 1.0

    def bind(self, backend: Backend) -> Optimizer:
        """Do the element-wise work with ``backend``'s kernels from now on; returns self."""
        self.kernels, self.xp = backend.kernels, backend.xp
        return self

    def init_state(self, params: Mapping[str, Array]) -> State:
        """Zero state for ``params``: each slot an array of zeros per parameter."""
        self._kernels()
        return {slot: {k: self.xp.zeros_like(p) for k, p in params.items()}
                for slot in self.slots}

    def apply(self, params: Mapping[str, Array], grads: Mapping[str, Array]
              ) -> dict[str, Array]:
        """One update: the new parameters (by name), from gradients multiplied by
        [`gradient_scale`][xpnet.optim.Optimizer.gradient_scale]; the state and ``t`` advance."""
        if self.slots and not self.state:
            self.state = self.init_state(params)
        new, self.state = self.update(params, grads, self.state, self.t + 1)
        self.t += 1
        return new

    def update(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
               t: int, carried: Any = None, rate: Any = None) -> tuple[dict[str, Array], State]:
        """Step ``t`` (from 1) as a function of explicit state: ``(params, state)`` in, the
        updated ``(params, state)`` out (arrays updated in place where the library allows).
        The gradients are clipped first, if asked; ``carried`` is the factor they carry (the
        gradient scale by default) and ``rate`` the learning rate (``learning_rate`` by
        default): a compiled training step passes both as 0-d arrays, so that a new rate is
        new data for the compiled graph, never a new graph."""
        carried = self.gradient_scale if carried is None else carried
        rate = self.learning_rate if rate is None else rate
        grads = clipping.clip(self.xp, grads, self.clipping, carried)
        return self.step(params, grads, state, t, rate)

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        """The update rule itself, on gradients already clipped, at learning rate ``rate``."""
        raise NotImplementedError

    def flush_subnormals(self) -> None:
        """Zero the subnormal entries of the state (the kernel ``flush_subnormals``): the
        training step calls it every [`xpnet.step.FLUSH_EVERY`][xpnet.step.FLUSH_EVERY] steps."""
        flush = self._kernels().flush_subnormals
        for arrays in self.state.values():
            for k, a in arrays.items():
                arrays[k] = flush(self.xp, a)

    def _kernels(self) -> Kernels:
        if self.kernels is None:
            raise RuntimeError(f"{self!r} is not bound to a backend: call "
                               "optimizer.bind(backend) first (the training step does)")
        return self.kernels

    def config(self) -> dict[str, Any]:
        return {"name": self.name, "learning_rate": self.learning_rate, **self.clipping}

    def config_state(self) -> dict[str, Any]:
        """What a checkpoint keeps beside the state arrays: the step count and the rate
        factor callbacks set."""
        return {"t": self.t, "rate_factor": self.rate_factor}

    def state_arrays(self) -> tuple[dict[str, list[str]], dict[str, Array]]:
        """The state as named arrays (``opt.<slot>.<parameter>``), for checkpoints, and the
        parameter names of each slot."""
        names = {slot: list(arrays) for slot, arrays in self.state.items()}
        arrays = {f"opt.{slot}.{k}": a for slot, arrs in self.state.items()
                  for k, a in arrs.items()}
        return names, arrays

    def load_state(self, meta: dict[str, Any], arrays: Mapping[str, Any], backend: Backend,
                   dtype: Any, names: list[str]) -> None:
        """Restore what [`state_arrays`][xpnet.optim.Optimizer.state_arrays] saved (``meta`` holds
        ``t`` and the slots' parameter names). Files written before the state was keyed by name hold
        ``opt.<slot>.<i>`` with a count per slot; their ``i`` is the position in ``names`` (the
        model's parameter order)."""
        self.t = int(meta["t"])
        self.rate_factor = float(meta.get("rate_factor", 1.0))
        if "slots" in meta:
            layout = {slot: [(k, k) for k in keys] for slot, keys in meta["slots"].items()}
        else:
            layout = {slot: [(str(i), names[i]) for i in range(count)]
                      for slot, count in meta["keys"].items()}
        self.state = {slot: {name: backend.asarray(arrays[f"opt.{slot}.{key}"], dtype, copy=True)
                             for key, name in pairs} for slot, pairs in layout.items()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """Mini-batch gradient descent, ``W <- W - eta dW``.

    With momentum mu: ``v <- mu v - eta dW``, ``W <- W + v``; with Nesterov momentum the step
    looks ahead along the new velocity: ``W <- W + mu v - eta dW`` (Sutskever et al. 2013).
    The gradients arrive as ``-eta dW`` ([`gradient_scale`][xpnet.optim.SGD.gradient_scale]).
    """

    name = "sgd"

    def __init__(self, learning_rate: float = 0.1, momentum: float = 0.0, nesterov: bool = False,
                 **clip: Any):
        super().__init__(learning_rate, **clip)
        self.momentum = _check_rate("momentum", momentum, upper=1.0)
        if nesterov and self.momentum == 0.0:
            raise ValueError("nesterov=True needs a momentum > 0")
        self.nesterov = bool(nesterov)
        self.slots = ("velocity",) if self.momentum else ()

    @property
    def gradient_scale(self) -> float:
        return -self.learning_rate

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        mu, sgd, xp = self.momentum, self._kernels().sgd_update, self.xp
        vel = state.get("velocity")
        out = {}
        for k, p in params.items():
            out[k], v = sgd(xp, p, grads[k], vel[k] if vel is not None else None,
                            mu, self.nesterov)
            if vel is not None:
                vel[k] = v
        return out, state

    def config(self) -> dict[str, Any]:
        return {**super().config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015): ``m <- b1 m + (1-b1) g``, ``v <- b2 v + (1-b2) g^2``,
    ``W <- W - eta m_hat / (sqrt(v_hat) + eps)`` with the bias corrections
    ``m_hat = m/(1-b1^t)``, ``v_hat = v/(1-b2^t)``.

    ``epsilon_hat=True`` adds ``eps`` before the bias correction instead, the form at the end
    of the paper's section 2 that scikit-learn's MLP and Keras use:
    ``W <- W - eta_t m / (sqrt(v) + eps)``, ``eta_t = eta sqrt(1-b2^t) / (1-b1^t)``; that is
    the update above with ``eps / sqrt(1-b2^t)`` in place of ``eps``.
    """

    name = "adam"
    slots = ("m", "v")

    def __init__(
        self, learning_rate: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
        eps: float = 1e-8, epsilon_hat: bool = False, **clip: Any,
    ):
        super().__init__(learning_rate, **clip)
        self.beta1 = _check_rate("beta1", beta1, upper=1.0)
        self.beta2 = _check_rate("beta2", beta2, upper=1.0)
        self.eps = _check_rate("eps", eps)
        self.epsilon_hat = bool(epsilon_hat)

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        b1, b2, adam, xp = self.beta1, self.beta2, self._kernels().adam_update, self.xp
        step, c2 = rate / (1.0 - b1**t), 1.0 - b2**t
        eps = self.eps / c2**0.5 if self.epsilon_hat else self.eps
        m, v = state["m"], state["v"]
        out = {}
        for k, p in params.items():
            out[k], m[k], v[k] = adam(xp, p, grads[k], m[k], v[k], b1, b2, step, c2, eps)
        return out, state

    def config(self) -> dict[str, Any]:
        return {**super().config(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps,
                "epsilon_hat": self.epsilon_hat}


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019): before each Adam step
    ``W <- W (1 - eta lambda)``, the decay apart from the gradient, so that Adam's scaling does
    not weaken it as it weakens an L2 term in the cost (``torch.optim.AdamW``, Keras's
    ``AdamW``). Biases decay too, as in both."""

    name = "adamw"

    def __init__(self, learning_rate: float = 1e-3, weight_decay: float = 0.01,
                 beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8,
                 **clip: Any):
        super().__init__(learning_rate, beta1=beta1, beta2=beta2, eps=eps, **clip)
        self.weight_decay = _check_rate("weight_decay", weight_decay)

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        keep = 1.0 - rate * self.weight_decay
        return super().step({k: p * keep for k, p in params.items()}, grads, state, t, rate)

    def config(self) -> dict[str, Any]:
        cfg = super().config()
        cfg.pop("epsilon_hat")
        return {**cfg, "weight_decay": self.weight_decay}


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e): ``s <- rho s + (1-rho) g^2``, ``W <- W - eta g / (sqrt(s)
    + eps)``; with ``momentum`` mu, ``b <- mu b + g / (sqrt(s) + eps)``, ``W <- W - eta b``
    (``torch.optim.RMSprop``'s form, ``alpha`` there being ``rho``)."""

    name = "rmsprop"

    def __init__(self, learning_rate: float = 1e-3, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, **clip: Any):
        super().__init__(learning_rate, **clip)
        self.rho = _check_rate("rho", rho, upper=1.0)
        self.momentum = _check_rate("momentum", momentum, upper=1.0)
        self.epsilon = _check_rate("epsilon", epsilon)
        self.slots = ("square_avg", "momentum") if self.momentum else ("square_avg",)

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        xp, rho, eta = self.xp, self.rho, rate
        sq, buf = state["square_avg"], state.get("momentum")
        out = {}
        for k, p in params.items():
            g = grads[k]
            sq[k] = rho * sq[k] + (1.0 - rho) * (g * g)
            step = g / (xp.sqrt(sq[k]) + self.epsilon)
            if buf is not None:
                buf[k] = self.momentum * buf[k] + step
                step = buf[k]
            out[k] = p - eta * step
        return out, state

    def config(self) -> dict[str, Any]:
        return {**super().config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon}


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan and Singer 2011): ``s <- s + g^2``, ``W <- W - eta g / (sqrt(s) +
    eps)``, the sum starting at ``initial_accumulator_value`` (Keras's 0.1 by default;
    ``torch.optim.Adagrad``'s form)."""

    name = "adagrad"
    slots = ("sum",)

    def __init__(self, learning_rate: float = 1e-2, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **clip: Any):
        super().__init__(learning_rate, **clip)
        self.initial_accumulator_value = _check_rate("initial_accumulator_value",
                                                     initial_accumulator_value)
        self.epsilon = _check_rate("epsilon", epsilon)

    def init_state(self, params: Mapping[str, Array]) -> State:
        state = super().init_state(params)
        state["sum"] = {k: a + self.initial_accumulator_value for k, a in state["sum"].items()}
        return state

    def step(self, params: Mapping[str, Array], grads: Mapping[str, Array], state: State,
             t: int, rate: Any) -> tuple[dict[str, Array], State]:
        xp, total, out = self.xp, state["sum"], {}
        for k, p in params.items():
            g = grads[k]
            total[k] = total[k] + g * g
            out[k] = p - rate * g / (xp.sqrt(total[k]) + self.epsilon)
        return out, state

    def config(self) -> dict[str, Any]:
        return {**super().config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


NAMES = ("sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "adagrad")


def get(spec: str | Optimizer, learning_rate: float | None = None, **kwargs: Any) -> Optimizer:
    """An optimizer from a name: ``"sgd"``, ``"momentum"`` (SGD, momentum 0.9 unless given),
    ``"nesterov"``, ``"adam"``, ``"adamw"``, ``"rmsprop"`` or ``"adagrad"``, with ``kwargs`` for
    its constructor (``weight_decay``, ``clipnorm``, ...); an Optimizer object is returned as
    is."""
    if isinstance(spec, Optimizer):
        if learning_rate is not None:
            raise ValueError(f"learning_rate={learning_rate} beside the optimizer object {spec!r}: "
                             "give the rate to the object (SGD(learning_rate=...)), or name "
                             "the optimizer ('sgd') with learning_rate=")
        return spec
    if not isinstance(spec, str) or spec not in NAMES:
        raise ValueError(f"unknown optimizer {spec!r}; valid optimizers: {', '.join(NAMES)}")
    adaptive = {"adam": (Adam, 1e-3), "adamw": (AdamW, 1e-3), "rmsprop": (RMSprop, 1e-3),
                "adagrad": (Adagrad, 1e-2)}
    if spec in adaptive:
        cls, default = adaptive[spec]
        return cls(default if learning_rate is None else learning_rate, **kwargs)
    lr = 0.1 if learning_rate is None else learning_rate
    if spec == "sgd":
        return SGD(lr, **kwargs)
    kwargs.setdefault("momentum", 0.9)
    return SGD(lr, nesterov=spec == "nesterov", **kwargs)


def from_config(cfg: dict[str, Any]) -> Optimizer:
    """Rebuild an optimizer from [`Optimizer.config`][xpnet.optim.Optimizer.config] (state is
    restored separately)."""
    cfg = dict(cfg)
    kinds = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}
    name = cfg.pop("name", None)
    if name not in kinds:
        raise ValueError(f"unknown optimizer {name!r} in saved state")
    return kinds[name](**cfg)
