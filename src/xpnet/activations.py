"""Activation functions, each registered together with its derivative.

An [`Activation`][xpnet.activations.Activation] maps pre-activations ``Z`` (batch, n) to activations
``A = f(Z)`` and back-propagates an upstream gradient ``dA = dC/dA`` to ``dZ = dC/dZ``. For the
element-wise functions that is ``dZ = dA * f'(Z)`` (the Hadamard product of BP1/BP2); softmax
couples the entries of a row and back-propagates through its Jacobian without forming it.

Piecewise functions are written with 0/1 masks (``Z * (Z > 0)``) rather than ``where``: the
same maths, but NumPy's ``where`` on a random sign pattern is far slower than a multiply,
enough to make ReLU's backward pass cost as much as the layer's GEMM.
[`Activation.forward`][xpnet.activations.Activation.forward] also lets the mask computed for ``f``
be reused by the backward pass.

Look one up with [`get`][xpnet.activations.get] (``get("elu", alpha=0.5)``);
[`NAMES`][xpnet.activations.NAMES] lists them all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Array = Any
Fn = Callable[[Any, Array], Array]


@dataclass(frozen=True)
class Activation:
    """``f`` and its derivative, kept in one object so they cannot drift apart.

    ``f(xp, Z) -> A``; ``df(xp, Z, A) -> f'(Z)`` element-wise (``None`` for softmax, whose
    derivative is a Jacobian); ``vjp(xp, Z, A, dA) -> dZ`` when the product with the upstream
    gradient has a cheaper or non-element-wise form; ``fused(xp, Z) -> (A, backprop)`` when the
    forward pass computes something (a mask) the backward pass can reuse.
    """

    name: str
    f: Fn
    df: Callable[[Any, Array, Array], Array] | None
    vjp: Callable[[Any, Array, Array, Array], Array] | None = None
    params: dict[str, float] = field(default_factory=dict)
    fused: Callable[[Any, Array], tuple[Array, Callable[[Array], Array]]] | None = None

    def __call__(self, xp: Any, Z: Array) -> Array:
        return self.f(xp, Z)

    def forward(self, xp: Any, Z: Array) -> tuple[Array, Callable[[Array], Array]]:
        """``(A, backprop)`` with ``backprop(dA) = dC/dZ``: the layer's view of the activation.

        The caller hands ``Z`` over: ReLU-like activations write ``A`` into its memory (their
        backward pass needs only the mask), saving an allocation per layer and step."""
        if self.fused is not None:
            return self.fused(xp, Z)
        A = self.f(xp, Z)
        return A, lambda dA: self.backward(xp, Z, A, dA)

    def backward(self, xp: Any, Z: Array, A: Array, dA: Array) -> Array:
        """dC/dZ from dC/dA: ``dA * f'(Z)`` (BP1 and BP2's Hadamard product)."""
        if self.vjp is not None:
            return self.vjp(xp, Z, A, dA)
        if self.df is None:
            raise TypeError(f"{self.name} has neither a derivative nor a product with one")
        return dA * self.df(xp, Z, A)

    def config(self) -> dict[str, Any]:
        """Name and parameters, enough to rebuild this activation with
        [`get`][xpnet.activations.get]."""
        return {"name": self.name, **self.params}


_REGISTRY: dict[str, Callable[..., Activation]] = {}


def register(name: str) -> Callable[[Callable[..., Activation]], Callable[..., Activation]]:
    """Register a factory ``(**params) -> Activation`` under ``name``."""

    def deco(factory: Callable[..., Activation]) -> Callable[..., Activation]:
        _REGISTRY[name] = factory
        return factory

    return deco


def get(spec: str | Activation | dict, **params: float) -> Activation:
    """The activation called ``spec`` (a name, a config dict, or an Activation returned as is)."""
    if isinstance(spec, Activation):
        return spec
    if isinstance(spec, dict):
        params = {k: v for k, v in spec.items() if k != "name"}
        spec = spec["name"]
    if not isinstance(spec, str):
        raise TypeError(f"activation must be a name or an Activation, not {type(spec).__name__}")
    if spec not in _REGISTRY:
        raise ValueError(f"unknown activation {spec!r}; valid activations: {', '.join(NAMES)}")
    try:
        return _REGISTRY[spec](**params)
    except TypeError as exc:
        raise TypeError(f"bad parameters for activation {spec!r}: {exc}") from None


@register("sigmoid")
def sigmoid() -> Activation:
    """sigma(z) = 1 / (1 + e^-z), sigma' = sigma (1 - sigma).

    Evaluated from ``e = exp(-|z|) <= 1`` so that no branch overflows for large |z|:
    sigma(z) = 1/(1+e) for z >= 0 and e/(1+e) for z < 0.
    """

    def f(xp: Any, Z: Array) -> Array:
        e = xp.exp(-xp.abs(Z))
        r = 1.0 / (1.0 + e)
        P = xp.astype(Z >= 0, Z.dtype)
        return r * (e + P * (1.0 - e))  # r where z >= 0, e r elsewhere

    return Activation("sigmoid", f, lambda xp, Z, A: A * (1.0 - A))


@register("relu")
def relu() -> Activation:
    """relu(z) = max(z, 0); relu'(z) = 1 for z > 0, else 0 (0 at z = 0)."""

    def fused(xp: Any, Z: Array) -> tuple[Array, Callable[[Array], Array]]:
        P = xp.astype(Z > 0, Z.dtype)
        Z *= P  # A = Z * P, in Z's memory where the library allows it
        return Z, lambda dA: dA * P

    return Activation(
        "relu",
        lambda xp, Z: Z * xp.astype(Z > 0, Z.dtype),
        lambda xp, Z, A: xp.astype(Z > 0, Z.dtype),
        fused=fused,
    )


@register("leaky_relu")
def leaky_relu(alpha: float = 0.01) -> Activation:
    """leaky_relu(z) = z for z > 0, alpha z otherwise; derivative 1 or alpha."""
    alpha = float(alpha)

    def slope(xp: Any, Z: Array) -> Array:  # 1 where z > 0, alpha elsewhere
        return xp.astype(Z > 0, Z.dtype) * (1.0 - alpha) + alpha

    def fused(xp: Any, Z: Array) -> tuple[Array, Callable[[Array], Array]]:
        S = slope(xp, Z)
        Z *= S  # A = Z * S, in Z's memory where the library allows it
        return Z, lambda dA: dA * S

    return Activation(
        "leaky_relu",
        lambda xp, Z: Z * slope(xp, Z),
        lambda xp, Z, A: slope(xp, Z),
        params={"alpha": alpha},
        fused=fused,
    )


@register("tanh")
def tanh() -> Activation:
    """tanh(z); tanh'(z) = 1 - tanh(z)^2."""
    return Activation("tanh", lambda xp, Z: xp.tanh(Z), lambda xp, Z, A: 1.0 - A * A)


@register("elu")
def elu(alpha: float = 1.0) -> Activation:
    """elu(z) = z for z > 0, alpha (e^z - 1) otherwise; derivative 1 or elu(z) + alpha.

    ``expm1(min(z, 0))`` keeps the unused branch from overflowing for large positive z.
    """
    alpha = float(alpha)

    def f(xp: Any, Z: Array) -> Array:
        E = alpha * xp.expm1(xp.minimum(Z, 0.0))
        return E + xp.astype(Z > 0, Z.dtype) * (Z - E)  # z where z > 0, E elsewhere

    def df(xp: Any, Z: Array, A: Array) -> Array:
        G = A + alpha  # the derivative where z <= 0 (there A = E)
        return G + xp.astype(Z > 0, Z.dtype) * (1.0 - G)

    return Activation("elu", f, df, params={"alpha": alpha})


@register("identity")
def identity() -> Activation:
    """identity(z) = z; derivative 1 (the output of a regression network)."""
    return Activation(
        "identity",
        lambda xp, Z: Z,
        lambda xp, Z, A: xp.ones_like(Z),
        vjp=lambda xp, Z, A, dA: dA,
    )


@register("exp")
def exp() -> Activation:
    """exp(z); exp'(z) = exp(z) = a (a positive output, the mean of a Poisson regression)."""
    return Activation("exp", lambda xp, Z: xp.exp(Z), lambda xp, Z, A: A,
                      vjp=lambda xp, Z, A, dA: dA * A)


@register("softmax")
def softmax() -> Activation:
    """softmax(z)_j = e^(z_j - m) / sum_k e^(z_k - m), m the row maximum (so no overflow).

    Its Jacobian is ``diag(a) - a a^T`` per row; the vector-Jacobian product is formed without
    it: ``dZ = A * (dA - sum(dA * A, axis=1))``.
    """

    def f(xp: Any, Z: Array) -> Array:
        E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
        return E / xp.sum(E, axis=1, keepdims=True)

    def vjp(xp: Any, Z: Array, A: Array, dA: Array) -> Array:
        return A * (dA - xp.sum(dA * A, axis=1, keepdims=True))

    return Activation("softmax", f, None, vjp=vjp)


NAMES = tuple(_REGISTRY)
