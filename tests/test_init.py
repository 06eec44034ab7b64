"""Initialisers: the spread of each against its formula; seeds identical on every backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet import init
from xpnet.backend import to_numpy

FAN_IN, FAN_OUT = 400, 300


@pytest.mark.parametrize(
    "name,activation,std",
    [
        ("he", "relu", math.sqrt(2 / FAN_IN)),
        ("he_uniform", "relu", math.sqrt(2 / FAN_IN)),
        ("xavier", "tanh", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("glorot", "tanh", math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("xavier", "sigmoid", 4 * math.sqrt(2 / (FAN_IN + FAN_OUT))),
        ("normal", "sigmoid", 1 / math.sqrt(FAN_IN)),
        ("small", "relu", 0.01),
        ("large", "sigmoid", 1.0),
    ],
)
def test_standard_deviation(name, activation, std):
    W = init.get(name)(np.random.default_rng(0), FAN_IN, FAN_OUT, activation)
    assert W.shape == (FAN_IN, FAN_OUT)
    assert W.std() == pytest.approx(std, rel=0.02)
    assert abs(W.mean()) < 0.02 * std


def test_uniform_bounds():
    """He uniform uses sqrt(6/fan_in), not the 6/sqrt(fan_in) one reference text prints."""
    W = init.he_uniform(np.random.default_rng(0), FAN_IN, FAN_OUT, "relu")
    bound = math.sqrt(6 / FAN_IN)
    assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound
    X = init.xavier(np.random.default_rng(0), FAN_IN, FAN_OUT, "tanh")
    assert np.abs(X).max() <= math.sqrt(6 / (FAN_IN + FAN_OUT))


def test_defaults_and_errors():
    assert init.default_for("relu") == "he" and init.default_for("sigmoid") == "xavier"
    with pytest.raises(ValueError, match="valid initialisers: he, he_uniform"):
        init.get("kaiming")
    with pytest.raises(ValueError, match="valid: zeros, normal"):
        xpnet.Dense(3, 2, bias_init="ones")


def test_biases_zero_unless_asked(numpy_backend):
    net = xpnet.Network([5, 4, 2], backend="numpy", seed=0)
    assert all(float(np.abs(to_numpy(d.b)).max()) == 0.0 for d in net.dense_layers)
    net = xpnet.Network([5, 4, 2], bias_init="normal", backend="numpy", seed=0)
    assert float(np.abs(to_numpy(net.dense_layers[0].b)).max()) > 0.0


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_seed_same_weights_on_every_backend(backend, dtype):
    dtype_or_skip(backend, dtype)
    ref = xpnet.Network([6, 5, 3], backend="numpy", dtype=dtype, seed=42)
    net = xpnet.Network([6, 5, 3], backend=backend, dtype=dtype, seed=42)
    for p, q in zip(ref.parameters(), net.parameters()):
        np.testing.assert_array_equal(to_numpy(p), to_numpy(q))
    other = xpnet.Network([6, 5, 3], backend=backend, dtype=dtype, seed=43)
    assert not np.array_equal(to_numpy(other.parameters()[0]), to_numpy(net.parameters()[0]))
