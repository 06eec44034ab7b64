"""Layers. Each ``forward`` returns ``(Y, backprop)``; the closure holds what the backward pass
needs, so nothing can go stale between a forward and its backward.

``backprop(D, input_grad=True)`` takes the gradient of the cost with respect to the layer's
output and returns ``(dX, grads)``: the gradient with respect to its input (``None`` when
``input_grad`` is false, which the first layer uses to skip a GEMM nothing needs) and the
gradients of its parameters, in the order of [`params`][xpnet.layers.Dense.params].
"""

from __future__ import annotations

import numbers
from typing import Any

from . import activations
from . import init as initialisers
from .activations import Activation
from .backend import Backend, Generator
from .errors import positive_int
from .kernels import Kernels
from .precision import Mixed

Array = Any


class Dense:
    """A fully connected layer: ``Z = X @ W + b``, ``A = f(Z)``.

    ``W`` has shape (fan_in, fan_out) and ``b`` shape (fan_out,): rows are examples, so this is
    the textbook's ``z = W a + b`` transposed. Parameters are created when the layer joins a
    [`Network`][xpnet.network.Network] (which knows the backend, dtype and seed).
    """

    def __init__(
        self,
        fan_in: int,
        fan_out: int,
        activation: str | Activation = "relu",
        init: str | None = None,
        bias_init: str = "zeros",
    ):
        self.fan_in = positive_int("fan_in", fan_in)
        self.fan_out = positive_int("fan_out", fan_out)
        self.activation = activations.get(activation)
        self.init = init if init is not None else initialisers.default_for(self.activation.name)
        initialisers.get(self.init)  # fail now on a typo, not at build time
        if bias_init not in initialisers.BIAS_INITS:
            valid = ", ".join(initialisers.BIAS_INITS)
            raise ValueError(f"unknown bias initialiser {bias_init!r}; valid: {valid}")
        self.bias_init = bias_init
        self.W: Array = None
        self.b: Array = None
        self.kernels: Kernels | None = None

    def build(self, backend: Backend, rng: Generator, dtype: Any) -> None:
        """Bind the backend's kernels, draw W and b on the host with ``rng`` and move them to
        the backend once."""
        self.kernels = backend.kernels
        W = initialisers.get(self.init)(rng.host, self.fan_in, self.fan_out, self.activation.name)
        b = initialisers.bias(rng.host, self.fan_out, self.bias_init)
        self.W = backend.xp.asarray(W, dtype=dtype, device=backend.device)
        self.b = backend.xp.asarray(b, dtype=dtype, device=backend.device)

    def params(self) -> list[Array]:
        return [self.W, self.b]

    def set_params(self, params: list[Array]) -> None:
        self.W, self.b = params

    def forward(
        self, xp: Any, X: Array, training: bool = False, rng: Generator | None = None,
        activate: bool = True, W: Array = None, b: Array = None, mixed: Mixed | None = None,
    ) -> tuple[Array, Any]:
        """``Z = X @ W + b`` and ``A = f(Z)``; with ``activate=False`` return ``Z`` and expect
        ``dC/dZ`` in backprop (the network does this when the cost fuses with ``f``). ``W`` and
        ``b`` default to the layer's own. Under a mixed precision policy ``X``, ``W`` and ``b``
        come in the compute dtype and ``mixed`` does the backward pass's casts
        ([`Mixed.backprop`][xpnet.precision.Mixed.backprop]: float32 gradients).

        Backward: ``dZ = dA * f'(Z)`` (BP1/BP2), ``dW = X^T dZ`` (BP4), ``db = sum_rows dZ``
        (BP3), ``dX = dZ W^T`` (the matrix half of BP2 for the layer below). The element-wise
        parts are the kernels of the backend the layer was built on
        ([`xpnet.kernels`][xpnet.kernels]).
        """
        kernels = _bound(self)
        W = self.W if W is None else W
        b = self.b if b is None else b
        Z = X @ W
        if activate:
            A, act_backprop = kernels.bias_activation(xp, Z, b, self.activation)
        else:
            Z += b  # in place where the library allows it (augmented assignment)
            A, act_backprop = Z, None

        def backprop(D: Array, input_grad: bool = True) -> tuple[Array, list[Array]]:
            dZ = act_backprop(D) if act_backprop is not None else D
            if mixed is not None:
                return mixed.backprop(xp, X, W, dZ, input_grad)
            dX = dZ @ W.T if input_grad else None
            return dX, [X.T @ dZ, kernels.bias_gradient(xp, dZ)]

        return A, backprop

    def config(self) -> dict[str, Any]:
        return {
            "type": "Dense", "fan_in": self.fan_in, "fan_out": self.fan_out,
            "activation": self.activation.config(), "init": self.init,
            "bias_init": self.bias_init,
        }

    def __repr__(self) -> str:
        return f"Dense({self.fan_in}, {self.fan_out}, activation={self.activation.name!r})"


class Dropout:
    """Inverted dropout: in training each input is kept with probability ``1 - rate`` and scaled
    by ``1/(1 - rate)`` so that the expected activation is unchanged; at inference the layer is
    the identity. The same mask multiplies the gradient on the way back.
    """

    rate: float

    def __init__(self, rate: float):
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"dropout rate must be a number in [0, 1), not {rate!r}")
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), not {rate}")
        self.rate = float(rate)
        self.kernels: Kernels | None = None
        self.dtype: Any = None

    def build(self, backend: Backend, rng: Generator, dtype: Any) -> None:
        """Bind the backend's kernels and the network's dtype, in which the uniform draws are
        made (under a mixed precision policy the same draws as in float32; dropout has no
        parameters)."""
        self.kernels, self.dtype = backend.kernels, dtype

    def params(self) -> list[Array]:
        return []

    def set_params(self, params: list[Array]) -> None:
        if params:
            raise ValueError("Dropout has no parameters")

    def forward(
        self, xp: Any, X: Array, training: bool = False, rng: Generator | None = None,
    ) -> tuple[Array, Any]:
        if not training or self.rate == 0.0:
            return X, lambda D, input_grad=True: (D, [])
        if rng is None:
            raise ValueError("Dropout needs a random generator in training mode")
        dtype = X.dtype if self.dtype is None else self.dtype
        Y, mask_backprop = _bound(self).dropout(xp, X, rng.uniform(tuple(X.shape), dtype),
                                           self.rate)
        return Y, lambda D, input_grad=True: (mask_backprop(D), [])

    def config(self) -> dict[str, Any]:
        return {"type": "Dropout", "rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate})"


def _bound(layer: Dense | Dropout) -> Kernels:
    """The kernels ``layer`` was built with; a layer used before it was built says how."""
    if layer.kernels is None:
        raise RuntimeError(f"{layer!r} has not been built: add it to a Network, or call "
                           "layer.build(backend, backend.generator(seed), dtype) first")
    return layer.kernels


def from_config(cfg: dict[str, Any]) -> Dense | Dropout:
    """Rebuild a layer (without parameters) from `config`'s dict."""
    kind = cfg.get("type")
    if kind == "Dense":
        return Dense(
            cfg["fan_in"], cfg["fan_out"], activations.get(cfg["activation"]),
            init=cfg.get("init"), bias_init=cfg.get("bias_init", "zeros"),
        )
    if kind == "Dropout":
        return Dropout(cfg["rate"])
    raise ValueError(f"unknown layer type {kind!r} in model config")


Layer = Dense | Dropout


def stack(
    spec: list[int] | list[Layer], hidden: str, output: str, init: str | None,
    bias_init: str, dropout: float,
) -> list[Layer]:
    """The layers a [`xpnet.Network`][xpnet.network.Network] is built from: ``spec`` a list of sizes
    (Dense layers with ``hidden`` activations, an ``output`` activation on the last, and a Dropout
    of rate ``dropout`` after each hidden layer when it is set), or a list of layer objects, checked
    to fit one another and to end in a Dense layer."""
    if not isinstance(spec, (list, tuple)) or len(spec) == 0:
        raise TypeError("layers must be a non-empty list of sizes or of layer objects")
    def size(s: Any) -> bool:
        return isinstance(s, numbers.Integral) and not isinstance(s, bool)

    if all(size(s) for s in spec):
        activations.get(hidden)  # a typo fails even where no hidden layer uses the name
        sizes = [int(s) for s in spec]   # type: ignore[arg-type]
        if len(sizes) < 2:
            raise ValueError("a list of sizes needs at least an input and an output size")
        layers: list[Layer] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            is_output = i == len(sizes) - 2
            layers.append(Dense(a, b, output if is_output else hidden, init, bias_init))
            if dropout and not is_output:
                layers.append(Dropout(dropout))
        return layers
    for i, s in enumerate(spec):
        if not size(s) and not isinstance(s, (Dense, Dropout)):
            raise TypeError(f"layers[{i}] = {s!r} is " + (
                "not a whole number of units (sizes are counts, like [4, 8, 2])"
                if isinstance(s, numbers.Number) else
                "neither a size nor a layer object (Dense, Dropout)"))
    if any(size(s) for s in spec):
        raise TypeError("layers mixes sizes and layer objects: give all sizes ([4, 8, 2]) or "
                        "all layers (Dense, Dropout)")
    layers = [s for s in spec if isinstance(s, (Dense, Dropout))]
    if not isinstance(layers[-1], Dense):
        raise ValueError("the last layer must be Dense (it defines the outputs)")
    prev = None
    for layer in layers:
        if isinstance(layer, Dense):
            if prev is not None and layer.fan_in != prev.fan_out:
                raise ValueError(
                    f"{layer!r} takes {layer.fan_in} inputs but the layer before it has "
                    f"{prev.fan_out} outputs"
                )
            prev = layer
    return layers
