"""Per-step schedules and ReduceLROnPlateau against torch.optim.lr_scheduler's own sequences:
OneCycleLR, LinearLR (the warmup) and ReduceLROnPlateau (threshold_mode="abs"); and in a fit,
the rate each step used is the one the schedule gives."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet import schedules

torch = pytest.importorskip("torch", reason="PyTorch is the reference: pip install torch")


def torch_rates(make_scheduler, steps, lr=0.1):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make_scheduler(opt)
    rates = []
    for _ in range(steps):
        rates.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(rates)


@pytest.mark.parametrize("pct_start,div,final", [(0.3, 25.0, 1e4), (0.45, 10.0, 100.0)])
def test_one_cycle_follows_torch(pct_start, div, final):
    epochs, per_epoch = 4, 7
    ours = schedules.Schedule("one_cycle", epochs=epochs, pct_start=pct_start, div_factor=div,
                              final_div_factor=final)
    got = 0.1 * np.array([ours.step_factor(j, per_epoch) for j in range(epochs * per_epoch)])
    ref = torch_rates(lambda o: torch.optim.lr_scheduler.OneCycleLR(
        o, max_lr=0.1, epochs=epochs, steps_per_epoch=per_epoch, pct_start=pct_start,
        div_factor=div, final_div_factor=final, cycle_momentum=False), epochs * per_epoch)
    np.testing.assert_allclose(got, ref, rtol=1e-12)


def test_warmup_follows_torch_linear_lr_then_the_schedule():
    per_epoch, warm_steps = 5, 6
    ours = schedules.Schedule("constant", warmup=warm_steps / per_epoch)
    got = 0.1 * np.array([ours.step_factor(j, per_epoch) for j in range(15)])
    ref = torch_rates(lambda o: torch.optim.lr_scheduler.LinearLR(
        o, start_factor=1 / warm_steps, end_factor=1.0, total_iters=warm_steps - 1), 15)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    cosine = schedules.Schedule("cosine", epochs=3, warmup=1.0)   # the rise on top of cosine
    assert cosine.step_factor(0, per_epoch) == pytest.approx(1 / 5)
    assert cosine.step_factor(7, per_epoch) == pytest.approx(cosine.factor(1))


def test_a_fit_uses_the_rate_of_each_step():
    """The rate a step used, seen from a callback, is the schedule's for that step."""
    seen = []

    class Rates(xpnet.Callback):
        def on_step_end(self, model, epoch, step, cost):
            seen.append(self.optimizer.learning_rate)

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    sched = schedules.Schedule("one_cycle", epochs=3)
    xpnet.Network([3, 4, 2], backend="numpy", seed=0).fit(
        X, y, epochs=3, batch_size=10, learning_rate=0.2, schedule=sched, progress=False,
        callbacks=[Rates()])
    np.testing.assert_allclose(seen, [0.2 * sched.step_factor(j, 4) for j in range(12)])


def test_reduce_on_plateau_follows_torch():
    """On the same sequence of validation figures, the rate of each epoch is PyTorch's."""
    values = [1.0, 0.9, 0.9, 0.9, 0.95, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.7, 0.7, 0.7]

    class Feed(xpnet.Callback):
        def on_epoch_end(self, model, epoch, logs):
            logs["score"] = values[epoch - 1]

    plateau = xpnet.callbacks.ReduceLROnPlateau("score", factor=0.5, patience=1, cooldown=1,
                                                min_lr=0.02, min_delta=0.01, mode="min")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    h = xpnet.Network([3, 4, 2], backend="numpy", seed=0).fit(
        X, y, epochs=len(values), batch_size=10, learning_rate=0.1, progress=False,
        callbacks=[Feed(), plateau])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    ref_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
        opt, factor=0.5, patience=1, cooldown=1, min_lr=0.02, threshold=0.01,
        threshold_mode="abs")
    ref = []
    for v in values:
        ref.append(opt.param_groups[0]["lr"])
        ref_sched.step(v)
    np.testing.assert_allclose(h.learning_rate, ref, rtol=1e-12)
    assert len(set(ref)) >= 3 and min(ref) == pytest.approx(0.02)   # reduced thrice, floored


def test_the_rate_factor_survives_a_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    net = xpnet.Network([3, 4, 2], backend="numpy", seed=0)
    opt = xpnet.SGD(0.1)

    class Halve(xpnet.Callback):
        def on_epoch_end(self, model, epoch, logs):
            self.optimizer.rate_factor = 0.5

    net.fit(X, y, epochs=2, optimizer=opt, progress=False, callbacks=[Halve()],
            checkpoint=tmp_path / "ck.npz")
    h = xpnet.Network([3, 4, 2], backend="numpy", seed=0).fit(
        X, y, epochs=3, progress=False, resume=tmp_path / "ck.npz")
    assert h.learning_rate == pytest.approx([0.1, 0.05, 0.05])


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_compiled_step_takes_a_new_rate_as_data(optimizer):
    """torch.compile of the whole step, under a one-cycle schedule (a new rate every step):
    no more graphs than under a constant rate, and the weights of the eager run."""
    dynamo = pytest.importorskip("torch._dynamo")
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(96, 6)).astype(np.float32), rng.integers(0, 3, 96)

    def fit(schedule, compile):
        dynamo.reset()
        dynamo.utils.counters.clear()
        net = xpnet.Network([6, 8, 3], backend="torch", seed=0)
        net.fit(X, y, epochs=2, batch_size=16, optimizer=optimizer, learning_rate=0.05,
                schedule=schedule, compile=compile, progress=False, shuffle=False)
        return net, dynamo.utils.counters["stats"].get("unique_graphs", 0)

    _, constant = fit(None, True)
    compiled, cycling = fit("one_cycle", True)
    eager, _ = fit("one_cycle", False)
    assert cycling <= constant
    for p, q in zip(compiled.parameters(), eager.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
