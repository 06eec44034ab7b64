"""Optimizers against the update rules written out in NumPy float64."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet.backend import to_numpy

RNG = np.random.default_rng(5)
P0 = [RNG.normal(size=(3, 2)), RNG.normal(size=2)]
GRADS = [[RNG.normal(size=(3, 2)), RNG.normal(size=2)] for _ in range(4)]


def reference(kind, lr, **kw):
    p = [q.copy() for q in P0]
    state = [np.zeros_like(q) for q in p], [np.zeros_like(q) for q in p]
    for t, gs in enumerate(GRADS, start=1):
        for i, g in enumerate(gs):
            if kind == "sgd":
                mu = kw.get("momentum", 0.0)
                v = state[0][i] = mu * state[0][i] - lr * g
                p[i] = p[i] + (mu * v - lr * g if kw.get("nesterov") else v)
            else:
                b1, b2, eps = 0.9, 0.999, 1e-8
                m = state[0][i] = b1 * state[0][i] + (1 - b1) * g
                s = state[1][i] = b2 * state[1][i] + (1 - b2) * g * g
                p[i] = p[i] - lr * (m / (1 - b1**t)) / (np.sqrt(s / (1 - b2**t)) + eps)
    return p


@pytest.mark.parametrize(
    "opt,kind,kw",
    [
        (lambda: xpnet.SGD(0.1), "sgd", {}),
        (lambda: xpnet.SGD(0.1, momentum=0.9), "sgd", {"momentum": 0.9}),
        (lambda: xpnet.SGD(0.1, momentum=0.9, nesterov=True), "sgd",
         {"momentum": 0.9, "nesterov": True}),
        (lambda: xpnet.Adam(0.01), "adam", {}),
    ],
)
def test_updates_match_reference(backend, opt, kind, kw):
    dtype_or_skip(backend, "float64")
    xp = backend.xp
    o = opt().bind(backend)
    params = {"W1": backend.asarray(P0[0], xp.float64, copy=True),
              "b1": backend.asarray(P0[1], xp.float64, copy=True)}
    for gs in GRADS:   # apply takes gradients times the optimizer's gradient_scale
        grads = {k: backend.asarray(g * o.gradient_scale, xp.float64, copy=True)
                 for k, g in zip(params, gs)}
        params = o.apply(params, grads)
    want = reference(kind, o.learning_rate, **kw)
    assert o.t == len(GRADS) and all(set(s) == {"W1", "b1"} for s in o.state.values())
    for got, w in zip(params.values(), want):
        assert got.dtype == xp.float64
        np.testing.assert_allclose(to_numpy(got), w, rtol=1e-12)


def test_state_keeps_dtype(backend):
    xp = backend.xp
    o = xpnet.Adam().bind(backend)
    params = {"W": backend.asarray(P0[0], xp.float32, copy=True)}
    params = o.apply(params, {"W": backend.asarray(GRADS[0][0], xp.float32)})
    assert params["W"].dtype == xp.float32
    assert all(s["W"].dtype == xp.float32 for s in o.state.values())


def test_an_unbound_optimizer_says_how_to_bind_it():
    with pytest.raises(RuntimeError, match=r"call optimizer.bind\(backend\) first"):
        xpnet.SGD(0.1).apply({"W": np.ones(2)}, {"W": np.ones(2)})


def test_names_and_validation():
    assert isinstance(xpnet.optim.get("momentum", 0.05), xpnet.SGD)
    assert xpnet.optim.get("momentum", 0.05).momentum == 0.9
    assert xpnet.optim.get("nesterov").nesterov
    assert isinstance(xpnet.optim.get("adam"), xpnet.Adam)
    for name, cls in (("adamw", xpnet.optim.AdamW), ("rmsprop", xpnet.optim.RMSprop),
                      ("adagrad", xpnet.optim.Adagrad)):
        assert type(xpnet.optim.get(name)) is cls
    with pytest.raises(ValueError, match="valid optimizers: sgd, momentum, nesterov, adam, "
                                         "adamw, rmsprop, adagrad"):
        xpnet.optim.get("lion")
    with pytest.raises(ValueError, match="clip gradients one way"):
        xpnet.SGD(0.1, clipnorm=1.0, clipvalue=0.5)
    with pytest.raises(ValueError, match="global_clipnorm must be a finite number > 0"):
        xpnet.optim.Adam(global_clipnorm=0.0)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError, match="learning_rate"):
            xpnet.SGD(bad)
    with pytest.raises(ValueError, match="momentum"):
        xpnet.SGD(0.1, momentum=1.0)
    with pytest.raises(ValueError, match="nesterov"):
        xpnet.SGD(0.1, nesterov=True)
