"""Weight initialisers for a Dense layer's W, of shape (fan_in, fan_out).

Each draws on the host in float64 from the network's seeded generator (so a seed gives the same
weights on every backend); the layer then casts and moves the result once.

=============  ==============================================================
``he``         N(0, 2/fan_in) (He et al. 2015; for ReLU-family layers)
``he_uniform`` U(-sqrt(6/fan_in), +sqrt(6/fan_in)): the same variance, 2/fan_in
``xavier``     U(-r, r), r = sqrt(6/(fan_in + fan_out)) (Glorot & Bengio 2010),
               times 4 for sigmoid layers; ``glorot`` is the same initialiser
``normal``     N(0, 1)/sqrt(fan_in)
``small``      0.01 N(0, 1)
``large``      N(0, 1), the classic textbook network's
=============  ==============================================================

(One reference text prints He's uniform bound as 6/sqrt(fan_in); the bound that gives variance
2/fan_in is sqrt(6/fan_in), since U(-r, r) has variance r^2/3.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Init = Callable[[np.random.Generator, int, int, str], np.ndarray]


def he(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def he_uniform(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    r = math.sqrt(6.0 / fan_in)
    return rng.uniform(-r, r, size=(fan_in, fan_out))


def xavier(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    r = math.sqrt(6.0 / (fan_in + fan_out))
    if activation == "sigmoid":
        r *= 4.0
    return rng.uniform(-r, r, size=(fan_in, fan_out))


def normal(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    return rng.normal(0.0, 1.0, size=(fan_in, fan_out)) / math.sqrt(fan_in)


def small(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    return 0.01 * rng.normal(0.0, 1.0, size=(fan_in, fan_out))


def large(rng: np.random.Generator, fan_in: int, fan_out: int, activation: str) -> np.ndarray:
    return rng.normal(0.0, 1.0, size=(fan_in, fan_out))


_REGISTRY: dict[str, Init] = {
    "he": he,
    "he_uniform": he_uniform,
    "xavier": xavier,
    "glorot": xavier,
    "normal": normal,
    "small": small,
    "large": large,
}
NAMES = tuple(_REGISTRY)
BIAS_INITS = ("zeros", "normal")


def default_for(activation: str) -> str:
    """He for the ReLU family, Xavier/Glorot for everything else."""
    return "he" if activation in ("relu", "leaky_relu", "elu") else "xavier"


def get(name: str) -> Init:
    """The initialiser called ``name``."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown initialiser {name!r}; valid initialisers: {', '.join(NAMES)}")
    return _REGISTRY[name]


def bias(rng: np.random.Generator, fan_out: int, kind: str) -> np.ndarray:
    """Biases: zeros (the default) or N(0, 1) (the classic textbook network's)."""
    if kind == "zeros":
        return np.zeros(fan_out)
    if kind == "normal":
        return rng.normal(0.0, 1.0, size=fan_out)
    raise ValueError(f"unknown bias initialiser {kind!r}; valid: {', '.join(BIAS_INITS)}")
