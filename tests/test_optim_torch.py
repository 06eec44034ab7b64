"""AdamW, RMSprop, Adagrad and gradient clipping, update for update against PyTorch's own
(torch.optim, torch.nn.utils.clip_grad_norm_ and clip_grad_value_), in float64 over 20 steps."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet.backend import to_numpy

torch = pytest.importorskip("torch", reason="PyTorch is the reference: pip install torch")

RNG = np.random.default_rng(11)
START = {"W1": RNG.normal(size=(4, 3)), "b1": RNG.normal(size=3)}
# gradients of very different sizes from step to step, so that clipping bites at some steps
GRADS = [{k: RNG.normal(size=v.shape) * RNG.choice([0.1, 1.0, 10.0]) for k, v in START.items()}
         for _ in range(20)]


def ours(optimizer, backend, steps=GRADS):
    params = {k: backend.asarray(v, backend.xp.float64, copy=True) for k, v in START.items()}
    optimizer.bind(backend)
    for g in steps:
        scaled = {k: backend.asarray(v * optimizer.gradient_scale, backend.xp.float64)
                  for k, v in g.items()}
        params = optimizer.apply(params, scaled)
    return {k: to_numpy(v) for k, v in params.items()}


def theirs(make, clip=None, steps=GRADS):
    params = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
              for k, v in START.items()}
    opt = make(list(params.values()))
    for g in steps:
        for k, p in params.items():
            p.grad = torch.tensor(g[k], dtype=torch.float64)
        if clip is not None:
            clip(list(params.values()))
        opt.step()
    return {k: p.detach().numpy() for k, p in params.items()}


def agree(a, b):
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("case", ["adamw", "rmsprop", "rmsprop-momentum", "adagrad"])
def test_the_new_optimizers_follow_torch(case, backend):
    if backend.name == "array_api_strict" and backend.device_name == "no_float64":
        pytest.skip("no float64 on this device")
    make_ours, make_theirs = {
        "adamw": (lambda: xpnet.optim.AdamW(0.01, weight_decay=0.1),
                  lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1, eps=1e-8)),
        "rmsprop": (lambda: xpnet.optim.RMSprop(0.01, rho=0.9, epsilon=1e-7),
                    lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-7)),
        "rmsprop-momentum": (lambda: xpnet.optim.RMSprop(0.01, rho=0.8, momentum=0.9),
                             lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.8, eps=1e-7,
                                                           momentum=0.9)),
        "adagrad": (lambda: xpnet.optim.Adagrad(0.1, initial_accumulator_value=0.1),
                    lambda p: torch.optim.Adagrad(p, lr=0.1, initial_accumulator_value=0.1,
                                                  eps=1e-7)),
    }[case]
    agree(ours(make_ours(), backend), theirs(make_theirs))


def per_parameter_norm(limit):
    def clip(params):
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], limit)
    return clip


@pytest.mark.parametrize("mode,limit,clip", [
    ("clipnorm", 2.0, per_parameter_norm(2.0)),
    ("global_clipnorm", 3.0, lambda ps: torch.nn.utils.clip_grad_norm_(ps, 3.0)),
    ("clipvalue", 0.5, lambda ps: torch.nn.utils.clip_grad_value_(ps, 0.5)),
])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_clipping_follows_torch_then_the_same_update(mode, limit, clip, solver, backend):
    if backend.name == "array_api_strict" and backend.device_name == "no_float64":
        pytest.skip("no float64 on this device")
    if solver == "sgd":   # SGD's gradients arrive scaled by -eta: the bounds scale with it
        ours_opt = xpnet.SGD(0.05, momentum=0.9, **{mode: limit})
        make = lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)   # noqa: E731
    else:
        ours_opt = xpnet.optim.Adam(0.01, **{mode: limit})
        make = lambda p: torch.optim.Adam(p, lr=0.01, eps=1e-8)   # noqa: E731
    clipped = ours(ours_opt, backend)
    agree(clipped, theirs(make, clip))
    unclipped = theirs(make)
    assert any(not np.allclose(clipped[k], unclipped[k]) for k in clipped)   # it bit


def test_clipping_in_a_fit_bounds_a_spike(backend):
    """Inputs a hundred times too large: plain SGD diverges, and the divergence guard ends the
    fit; with its gradients clipped the same fit trains on, finite."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(64, 4)) * 100.0, rng.integers(0, 2, 64)
    with pytest.raises(xpnet.TrainingDiverged):
        xpnet.Network([4, 8, 2], backend=backend, seed=0).fit(
            X, y, epochs=5, batch_size=16, progress=False, optimizer=xpnet.SGD(2.0))
    net = xpnet.Network([4, 8, 2], backend=backend, seed=0)
    net.fit(X, y, epochs=5, batch_size=16, progress=False,
            optimizer=xpnet.SGD(2.0, global_clipnorm=1.0))
    assert all(np.isfinite(to_numpy(p)).all() for p in net.parameters())


def test_the_scale_as_an_array_clips_as_the_float_does(backend):
    """The compiled step hands the gradient scale over as a 0-d array (a new learning rate is
    new data, not a new graph): clipping gives the same update either way."""
    rng = np.random.default_rng(1)
    net = xpnet.Network([4, 8, 2], backend=backend, seed=0)
    X, y = net.prepare(rng.normal(size=(16, 4)) * 30.0, rng.integers(0, 2, 16))
    grads = net.loss_and_grads(X, y, scale=-0.5)[1]
    opt = xpnet.SGD(0.5, clipvalue=0.01).bind(net.backend)

    def fresh():
        return {k: net.backend.asarray(p, copy=True) for k, p in net.named_parameters().items()}

    as_float = opt.update(fresh(), grads, {}, 1, -0.5)[0]
    dtype = net.named_parameters()["W1"].dtype
    as_array = opt.update(fresh(), grads, {}, 1, net.backend.scalar(-0.5, dtype))[0]
    unclipped = xpnet.SGD(0.5).bind(net.backend).update(fresh(), grads, {}, 1)[0]
    for k in as_float:
        np.testing.assert_allclose(to_numpy(as_float[k]), to_numpy(as_array[k]), rtol=1e-6)
    assert not np.allclose(to_numpy(as_float["W1"]), to_numpy(unclipped["W1"]))
