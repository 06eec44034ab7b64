"""The fit loop: history, validation, early stopping, schedules, divergence, interruption,
checkpoints and exact resume."""

from __future__ import annotations

import io as stdio
import math
import os

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet import schedules
from xpnet.backend import to_numpy


def blobs(n=240, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, n)
    return centres[y] + 0.6 * rng.normal(size=(n, 2)), y


def net_for(backend="numpy", **kw):
    kw.setdefault("seed", 0)
    return xpnet.Network([2, 16, 3], hidden="relu", backend=backend, **kw)


def test_fit_learns_and_records_history(backend):
    X, y = blobs()
    net = net_for(backend)
    h = net.fit(X, y, epochs=8, batch_size=16, optimizer="momentum", learning_rate=0.05,
                validation_split=0.25, progress=False)
    assert h.epoch == list(range(1, 9))
    assert h.loss[-1] < h.loss[0] and h.accuracy[-1] > 0.9 and h.val_accuracy[-1] > 0.9
    assert all(s > 0 for s in h.seconds) and len(h.val_loss) == 8
    assert net.evaluate(X, y)["accuracy"] > 0.9


def test_same_seed_same_training_on_every_backend(backend):
    """Shuffling orders come from the host generator, so float64 runs agree across backends."""
    dtype_or_skip(backend, "float64")
    X, y = blobs(96)
    ref = net_for("numpy", dtype="float64", dropout=0.2)
    ref.fit(X, y, epochs=2, batch_size=16, optimizer="adam", progress=False)
    net = net_for(backend, dtype="float64", dropout=0.2)
    net.fit(X, y, epochs=2, batch_size=16, optimizer="adam", progress=False)
    if backend.is_gpu:
        pytest.skip("GPU dropout masks come from the device generator")
    for p, q in zip(ref.parameters(), net.parameters()):
        np.testing.assert_allclose(to_numpy(q), to_numpy(p), rtol=1e-9, atol=1e-12)


def test_progress_output_plain_lines_and_silence():
    X, y = blobs(64)
    out = stdio.StringIO()
    net_for().fit(X, y, epochs=2, batch_size=32, progress=True, stream=out)
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 2 and lines[1].startswith("epoch 2/2  loss ")
    out = stdio.StringIO()
    net_for().fit(X, y, epochs=2, batch_size=32, progress=False, stream=out)
    assert out.getvalue() == ""


def test_early_stopping_restores_best_weights(backend):
    X, y = blobs()
    net = net_for(backend)
    stopper = xpnet.EarlyStopping(patience=2)
    # a learning rate this large makes the validation loss wander, so it stops early
    h = net.fit(X, y, epochs=60, batch_size=8, optimizer="sgd", learning_rate=1.5,
                validation_split=0.3, callbacks=[stopper], progress=False)
    assert h.stopped_early and len(h.epoch) < 60
    best = min(h.val_loss)
    Xv, yv = X[-72:], y[-72:]
    assert xpnet.evaluate(net, Xv, yv, n=len(y) - 72)["loss"] == pytest.approx(best, rel=1e-5)


def test_the_best_weights_are_restored_however_the_run_ends(backend):
    """The run ends by its epoch count, with its best validation loss at an earlier epoch: the
    model returned has that epoch's weights (Keras restored only when it stopped the run
    itself, keras #12511); and when the last epoch is the best, nothing changes."""
    X, y = blobs()
    net = net_for(backend)
    stopper = xpnet.EarlyStopping(patience=1000)      # never stops the run itself
    h = net.fit(X, y, epochs=25, batch_size=8, optimizer="sgd", learning_rate=1.5,
                validation_split=0.3, callbacks=[stopper], progress=False)
    assert not h.stopped_early and len(h.epoch) == 25
    best = int(np.argmin(h.val_loss))
    assert best < 24, "the learning rate is meant to make the last epoch worse than the best"
    Xv, yv = X[-72:], y[-72:]
    assert xpnet.evaluate(net, Xv, yv, n=len(y) - 72)["loss"] == pytest.approx(
        h.val_loss[best], rel=1e-5)
    assert stopper.best_epoch == best + 1


def test_early_stopping_watches_any_logged_key_in_its_direction():
    """A key a callback adds is watched too; accuracy-like keys are maximised; a key nobody
    logs is named with the keys there are."""

    class Doubled(xpnet.Callback):
        def on_epoch_end(self, model, epoch, logs):
            logs["val_score"] = -2 * logs["val_loss"]

    X, y = blobs()
    stopper = xpnet.EarlyStopping(monitor="val_score", patience=1000)
    h = net_for().fit(X, y, epochs=8, batch_size=8, learning_rate=1.5, validation_split=0.3,
                      callbacks=[Doubled(), stopper], progress=False)
    assert stopper.watch.mode == "max"
    assert stopper.best_epoch == int(np.argmax(h["val_score"])) + 1
    assert h["val_score"] == pytest.approx([-2 * v for v in h.val_loss])   # History keeps it
    with pytest.raises(ValueError, match=r"monitors 'val_f1', which this fit does not report "
                                         r"\(it logs epoch, loss, accuracy"):
        net_for().fit(X, y, epochs=1, callbacks=[xpnet.EarlyStopping("val_f1")],
                      progress=False)


def test_model_checkpoint_keeps_the_best_model(tmp_path):
    X, y = blobs()
    path = tmp_path / "best.npz"
    keeper = xpnet.callbacks.ModelCheckpoint(path, monitor="val_loss", save_best_only=True)
    net = net_for()
    h = net.fit(X, y, epochs=25, batch_size=8, learning_rate=1.5, validation_split=0.3,
                callbacks=[keeper], progress=False)
    best = int(np.argmin(h.val_loss))
    assert keeper.saved_epoch == best + 1
    saved = xpnet.load(path, backend="numpy")
    Xv, yv = X[-72:], y[-72:]
    assert xpnet.evaluate(saved, Xv, yv, n=len(y) - 72)["loss"] == pytest.approx(
        h.val_loss[best], rel=1e-5)


def test_schedules(backend):
    assert schedules.get("step", step_size=2, gamma=0.5).factor(5) == 0.25
    assert schedules.get("exponential", gamma=0.9).factor(2) == pytest.approx(0.81)
    cos = schedules.get("cosine", epochs=10)
    assert cos.factor(0) == 1.0 and cos.factor(5) == pytest.approx(0.5) and cos.factor(10) < 1e-12
    with pytest.raises(ValueError, match="valid schedules"):
        schedules.get("linear")
    X, y = blobs(32)
    h = net_for(backend).fit(X, y, epochs=3, batch_size=8, learning_rate=0.1,
                      schedule=schedules.Schedule("step", step_size=1, gamma=0.5), progress=False)
    assert h.learning_rate == pytest.approx([0.1, 0.05, 0.025])


def test_inputs_with_nan_or_inf_are_refused_before_training(backend):
    X, y = blobs(64)
    X[40, 1] = np.nan
    with pytest.raises(ValueError, match=r"X holds nan at row 40, column 1: inputs must be finite"):
        net_for(backend).fit(X, y, epochs=1, progress=False)


def test_divergence_names_epoch_and_step(tmp_path, backend):
    """On a device whose reads are costly the cost is checked once per epoch, and the step is
    found afterwards: the message is the same."""
    X, y = blobs(64)
    X[40] = 3e38     # an example that overflows float32 in the 3rd batch of 16, not shuffled
    net = net_for(backend)
    with pytest.raises(xpnet.TrainingDiverged, match=r"epoch 1, step 3 of 4") as info:
        net.fit(X, y, epochs=2, batch_size=16, shuffle=False, progress=False,
                checkpoint=tmp_path / "ck.npz")
    assert info.value.history is not None
    assert not (tmp_path / "ck.npz").exists()   # nothing saved after the divergence
    with pytest.raises(ValueError, match="NaN or inf"):
        net.save(tmp_path / "model.npz")


def test_interrupt_returns_history_so_far(backend):
    X, y = blobs(64)

    class Interrupt(xpnet.Callback):
        def on_epoch_end(self, net, epoch, logs):
            if epoch == 2:
                raise KeyboardInterrupt

    out = stdio.StringIO()
    h = net_for(backend).fit(X, y, epochs=5, batch_size=16, callbacks=[Interrupt()], stream=out)
    assert h.interrupted and h.epoch == [1, 2]
    assert "interrupted" in out.getvalue()


class StopAt(xpnet.Callback):
    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, epoch, logs):
        return epoch == self.epoch


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "adam", "adamw",
                                       "rmsprop", "adagrad"])
def test_resume_continues_exactly(tmp_path, backend, optimizer):
    """Stop after 2 of 5 epochs with a checkpoint, resume in a fresh network: the final weights
    equal an uninterrupted run's (dropout, optimizer state, schedule, L2 and shuffling)."""
    if backend.is_gpu:
        pytest.skip("GPU dropout masks come from the device generator, which is not saved")
    X, y = blobs()
    kwargs = dict(epochs=5, batch_size=16, optimizer=optimizer, learning_rate=0.02,
                  schedule="cosine", progress=False)
    full = net_for(backend, dropout=0.3, l2=0.1)
    h_full = full.fit(X, y, **kwargs)
    ck = tmp_path / "run.ckpt.npz"
    first = net_for(backend, dropout=0.3, l2=0.1)
    first.fit(X, y, checkpoint=ck, callbacks=[StopAt(2)], **kwargs)
    # a different seed: everything must come from ck
    second = net_for(backend, dropout=0.3, l2=0.1, seed=123)
    h = second.fit(X, y, resume=ck, **kwargs)
    assert h.epoch == [1, 2, 3, 4, 5] and h.loss == pytest.approx(h_full.loss, rel=1e-12)
    for p, q in zip(full.parameters(), second.parameters()):
        np.testing.assert_array_equal(to_numpy(q), to_numpy(p))


@pytest.mark.parametrize("optimizer", ["momentum", "adam"])
def test_checkpoints_of_the_positional_layout_keep_resuming(tmp_path, optimizer):
    """Checkpoints written before optimizer state was keyed by parameter name stored it as
    ``opt.<slot>.<i>`` with a count per slot; they resume to the same weights as the named
    layout."""
    import json

    X, y = blobs()
    kwargs = dict(epochs=4, batch_size=16, optimizer=optimizer, learning_rate=0.02,
                  progress=False)
    ck = tmp_path / "named.npz"
    net_for(dropout=0.2).fit(X, y, checkpoint=ck, callbacks=[StopAt(2)], **kwargs)
    with np.load(ck) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["header"].tobytes())
    meta = header["training"]["optimizer_state"]
    order = ["W1", "b1", "W2", "b2"]
    old = {}
    for slot, names in meta.pop("slots").items():
        for name in names:
            old[f"opt.{slot}.{order.index(name)}"] = arrays.pop(f"opt.{slot}.{name}")
    meta["keys"] = {slot: 4 for slot in ("velocity",) if optimizer == "momentum"} or \
        {"m": 4, "v": 4}
    arrays.update(old, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8))
    legacy = tmp_path / "positional.npz"
    np.savez(legacy, **arrays)
    a, b = net_for(seed=5, dropout=0.2), net_for(seed=6, dropout=0.2)
    a.fit(X, y, resume=ck, **kwargs)
    b.fit(X, y, resume=legacy, **kwargs)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(to_numpy(q), to_numpy(p))


def test_callbacks_must_be_callback_objects():
    X, y = blobs(16)

    class Duck:
        def on_epoch_end(self, net, epoch, logs):
            return False

    with pytest.raises(TypeError, match="subclass xpnet.Callback"):
        net_for().fit(X, y, epochs=1, callbacks=[Duck()], progress=False)
    with pytest.raises(TypeError, match="a list of xpnet.Callback objects"):
        net_for().fit(X, y, epochs=1, callbacks=xpnet.EarlyStopping(), progress=False)


def test_empty_and_mismatched_data_say_what_is_wrong():
    net = net_for()
    with pytest.raises(ValueError, match=r"X has no examples \(0 rows\)"):
        net.fit(np.zeros((0, 2)), np.zeros(0, dtype=int), progress=False)
    with pytest.raises(ValueError, match="X has 4 examples but Y has 3"):
        net.fit(np.zeros((4, 2)), np.zeros(3, dtype=int), progress=False)
    with pytest.raises(ValueError, match="Y must hold numbers: integer class labels 0..2"):
        net.fit(np.zeros((2, 2)), np.array(["cat", "dog"]), progress=False)
    with pytest.raises(ValueError, match="X must be a 2-D array of numbers"):
        net.fit([[1.0, 2.0], [3.0]], [0, 1], progress=False)
    with pytest.raises(TypeError, match="validation_data must be a pair"):
        net.fit(np.zeros((4, 2)), np.zeros(4, dtype=int), validation_data=np.zeros((2, 2)),
                progress=False)


def test_resume_rejects_plain_model_and_other_architecture(tmp_path):
    X, y = blobs(32)
    net = net_for()
    net.save(tmp_path / "m.npz")
    with pytest.raises(xpnet.ModelFileError, match="not a checkpoint"):
        net_for().fit(X, y, epochs=1, resume=tmp_path / "m.npz", progress=False)
    net.fit(X, y, epochs=1, checkpoint=tmp_path / "c.npz", progress=False)
    other = xpnet.Network([2, 8, 3], backend="numpy")
    with pytest.raises(xpnet.ModelFileError, match="architecture differs"):
        other.fit(X, y, epochs=2, resume=tmp_path / "c.npz", progress=False)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": 0}, "epochs must be a positive integer"),
        ({"batch_size": -1}, "batch_size must be a positive integer"),
        ({"validation_split": 1.0}, r"validation_split must be in \[0, 1\)"),
        ({"optimizer": "lion"}, "valid optimizers"),
    ],
)
def test_fit_argument_errors(kwargs, match):
    X, y = blobs(16)
    with pytest.raises(ValueError, match=match):
        net_for().fit(X, y, progress=False, **kwargs)


def test_cross_validation_on_blobs(backend):
    X, y = blobs(150)
    cv = xpnet.cross_validate(lambda: net_for(backend), X, y, k=3, epochs=10, batch_size=16,
                              optimizer=xpnet.SGD(0.05, momentum=0.9), progress=False)
    assert len(cv["fold_accuracy"]) == 3 and cv["mean"] > 0.9 and math.isfinite(cv["std"])


def test_callback_interface(backend):
    """A Callback subclass sees every epoch's logs, stops the run by returning True, and its
    on_train_end runs once with the history."""
    seen, ended = [], []

    class Recorder(xpnet.Callback):
        def on_epoch_end(self, net, epoch, logs):
            seen.append((epoch, sorted(logs)))
            return epoch == 3

        def on_train_end(self, net, history):
            ended.append(list(history.epoch))

    X, y = blobs(64)
    h = net_for(backend).fit(X, y, epochs=10, batch_size=16, validation_split=0.25,
                             callbacks=[Recorder(), xpnet.Callback()], progress=False)
    assert [e for e, _ in seen] == [1, 2, 3] and h.stopped_early and ended == [[1, 2, 3]]
    assert seen[0][1] == ["accuracy", "epoch", "learning_rate", "loss", "seconds", "val_accuracy",
                          "val_loss"]


@pytest.mark.parametrize("kernels", ["numpy", "numba"])
def test_no_subnormal_optimizer_state_survives_a_fit(monkeypatch, kernels):
    """A feature that falls silent leaves its weights' velocities decaying by mu = 0.9 at every
    step: into the subnormal range after ~800 steps, where they stay (0.9 times the smallest
    subnormal rounds back to it). NumPy's kernels leave them to the step's periodic flush, so
    with the flush switched off they stay (the test can fail); the numba momentum kernel
    flushes each one as it computes it."""
    from xpnet import step
    from xpnet.backend import NumpyBackend

    if kernels == "numba":
        numba_kernels = pytest.importorskip("xpnet.kernels_numba")
        chosen = numba_kernels.NumbaKernels()
    else:
        from xpnet.kernels_numpy import NumpyKernels

        chosen = NumpyKernels()
    plain = NumpyBackend.create()
    backend = NumpyBackend(plain.xp, plain.device, plain.lib, chosen)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(16, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    silent = X.copy()
    silent[:, 2] = 0.0

    def subnormals(flush_every):
        monkeypatch.setattr(step, "FLUSH_EVERY", flush_every)
        net = xpnet.Network([3, 4, 2], backend=backend, seed=0)
        opt = xpnet.SGD(0.05, momentum=0.9)
        net.fit(X, y, epochs=1, batch_size=1, optimizer=opt, progress=False)
        net.fit(silent, y, epochs=80, batch_size=1, optimizer=opt, progress=False)
        v = np.concatenate([a.ravel() for a in opt.state["velocity"].values()])
        return int(np.sum((v != 0) & (np.abs(v) < np.finfo(np.float32).tiny)))

    if kernels == "numpy":
        assert subnormals(10**9) > 0      # without flushing, subnormals stay
        assert subnormals(100) == 0       # 1296 steps, the last flush at step 1200
    else:
        assert subnormals(10**9) == 0     # flushed as they arise


def test_blas_threads_follow_the_shape_and_the_user(monkeypatch):
    from xpnet.backend import ONE_THREAD_BELOW, blas_threads_for

    for name in ("XPNET_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    cores = len(os.sched_getaffinity(0))
    assert blas_threads_for(ONE_THREAD_BELOW / 2) == 1
    assert blas_threads_for(ONE_THREAD_BELOW * 2) == cores      # never more than the cores
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    assert blas_threads_for(1.0) is None                        # the user's setting wins
    monkeypatch.setenv("XPNET_BLAS_THREADS", "3")
    assert blas_threads_for(1.0) == 3


def test_a_small_fit_runs_its_blas_on_one_thread(monkeypatch):
    """NumPy's BLAS (the libraries xpnet.backend.blas_controller limits: those loaded with
    NumPy, not a BLAS another library brings later) runs one thread during a small fit, and
    gets its setting back afterwards."""
    pytest.importorskip("threadpoolctl")
    from xpnet.backend import blas_controller

    for name in ("XPNET_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)
    seen = []

    def threads():
        return {i["num_threads"] for i in blas_controller().info()}

    class Threads(xpnet.Callback):
        def on_epoch_end(self, net, epoch, logs):
            seen.append(threads())

    X, y = blobs(64)
    before = threads()
    assert before, "NumPy's BLAS is among the controlled libraries"
    net_for().fit(X, y, epochs=1, batch_size=16, callbacks=[Threads()], progress=False)
    assert seen == [{1}]
    assert threads() == before                                  # given back afterwards


def test_a_compiled_step_trains_as_the_eager_one(tmp_path):
    """torch.compile of the whole step (forward, backward, SGD-momentum update): after a few
    epochs the weights equal the eager step's to float32 rounding, through a schedule that
    changes the learning rate (data for the compiled step, not a new graph)."""
    torch = pytest.importorskip("torch")
    import os

    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    X, y = blobs(96)
    kwargs = dict(epochs=3, batch_size=32, optimizer="momentum", learning_rate=0.05,
                  schedule="cosine", progress=False)
    eager = xpnet.Network([2, 8, 3], backend="torch", seed=0)
    compiled = xpnet.Network([2, 8, 3], backend="torch", seed=0)
    out = stdio.StringIO()
    eager.fit(X, y, **kwargs)
    compiled.fit(X, y, compile=True, **{**kwargs, "progress": True}, stream=out)
    for p, q in zip(eager.parameters(), compiled.parameters()):
        np.testing.assert_allclose(q.detach().numpy(), p.detach().numpy(), rtol=1e-5,
                                   atol=1e-6)
    assert "compiled the training step in" in out.getvalue()
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1


def test_compile_elsewhere_names_the_backends_that_can():
    X, y = blobs(16)
    with pytest.raises(xpnet.BackendError, match="compile=True needs a backend that compiles "
                                                 "the whole step: torch"):
        net_for().fit(X, y, epochs=1, compile=True, progress=False)


# ------------------------------------------------------------------ weighted examples
def test_integer_weights_train_as_repeated_rows(backend):
    """Weight k is k copies of the row: with the whole set as one batch (no order to differ),
    a weighted fit ends with the weights, history and L2 term of a fit on the repeated rows,
    and evaluate() with the weights gives the repeated rows' figures."""
    dtype_or_skip(backend, "float64")
    X, y = blobs(40)
    w = np.random.default_rng(1).integers(0, 4, 40)
    rep = np.repeat(np.arange(40), w)
    a, b = net_for(backend, dtype="float64", l2=0.5), net_for(backend, dtype="float64", l2=0.5)
    ha = a.fit(X, y, epochs=5, batch_size=40, optimizer="adam", learning_rate=0.05,
               progress=False, sample_weight=w)
    hb = b.fit(X[rep], y[rep], epochs=5, batch_size=len(rep), optimizer="adam",
               learning_rate=0.05, progress=False)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)
    np.testing.assert_allclose(ha.accuracy, hb.accuracy, rtol=1e-12)
    got, want = a.evaluate(X, y, sample_weight=w), a.evaluate(X[rep], y[rep])
    assert got["loss"] == pytest.approx(want["loss"], rel=1e-10)
    assert got["accuracy"] == pytest.approx(want["accuracy"], rel=1e-12)
    assert a.evaluate(X, y)["loss"] != pytest.approx(want["loss"], rel=1e-3)


def test_weights_follow_their_rows_into_validation(backend):
    """validation_split holds out the last rows with their weights, and the validation
    figures are the held-out rows' weighted means (here: evaluate() on them with weights)."""
    X, y = blobs(100)
    w = np.linspace(0.1, 3.0, 100)
    net = net_for(backend)
    h = net.fit(X, y, epochs=2, batch_size=20, optimizer="sgd", learning_rate=0.1,
                validation_split=0.3, progress=False, sample_weight=w)
    held = net.evaluate(X[70:], y[70:], sample_weight=w[70:], n=float(w[:70].sum()))
    assert h.val_loss[-1] == pytest.approx(held["loss"], rel=1e-5)
    assert h.val_accuracy[-1] == pytest.approx(held["accuracy"], rel=1e-6)
    h2 = net_for(backend).fit(X, y, epochs=1, batch_size=20, validation_data=(X, y, w),
                              progress=False, sample_weight=w)
    assert np.isfinite(h2.val_loss[-1])


@pytest.mark.parametrize("weights,match", [
    (np.ones(7), r"one number per example, shape \(40,\)"),
    (np.zeros(40), "all zero"),
    (np.r_[np.ones(39), np.nan], "finite"),
])
def test_bad_sample_weights_say_what_is_wrong(weights, match):
    X, y = blobs(40)
    with pytest.raises(ValueError, match=match):
        net_for().fit(X, y, epochs=1, progress=False, sample_weight=weights)


def test_a_batch_whose_weights_sum_to_zero_moves_nothing_but_its_l2_term():
    """Zero weights: the batch's cost is 0 and its gradient only the L2 term's, (lambda/M) W,
    as for an unweighted batch of its M rows."""
    X, y = blobs(10)
    net = net_for(dtype="float64", l2=0.2)
    Xd, Yd = net.prepare(X, y)
    C, grads, _ = net.loss_and_grads(Xd, Yd, weights=net.backend.asarray(np.zeros((10, 1))))
    W = net.named_parameters()
    assert float(C) == pytest.approx(0.2 / 20 * sum(float(np.sum(W[k] ** 2))
                                                    for k in W if k.startswith("W")))
    np.testing.assert_allclose(grads["W1"], 0.2 / 10 * W["W1"], rtol=1e-12)
    np.testing.assert_array_equal(grads["b1"], 0.0)


def test_weighted_examples_are_refused_in_a_data_parallel_step():
    """A rank's share of a global batch would have to be its share of the batch's weight,
    which the step does not compute: it says so rather than average the wrong way."""
    from xpnet.step import TrainingStep

    X, y = blobs(20)
    net = net_for()
    Xd, Yd = net.prepare(X, y)
    with pytest.raises(ValueError, match="weighted examples train in one process"):
        TrainingStep(net, xpnet.SGD(0.1), Xd, Yd, reduce=lambda g, C: (g, C),
                     weights=net.example_weights(np.ones(20), 20))


@pytest.mark.parametrize("class_weight", [{0: 3.0, 2: 0.5}, "balanced"])
def test_class_weight_is_the_matching_sample_weight(class_weight, backend):
    """class_weight multiplies each training row's weight by its class's: the same fit, weight
    for weight, as the sample weights it stands for ("balanced": n / (k * count), as
    scikit-learn's compute_class_weight)."""
    X, y = blobs(90)
    y = np.where(np.arange(90) < 60, 0, y)   # imbalanced: class 0 dominates
    if class_weight == "balanced":
        sklearn_utils = pytest.importorskip("sklearn.utils")
        per_class = sklearn_utils.compute_class_weight("balanced", classes=np.arange(3), y=y)
    else:
        per_class = np.array([3.0, 1.0, 0.5])
    kw = dict(epochs=3, batch_size=16, progress=False, shuffle=False)
    a, b = net_for(backend), net_for(backend)
    a.fit(X, y, class_weight=class_weight, **kw)
    b.fit(X, y, sample_weight=per_class[y], **kw)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=1e-6, atol=1e-7)
    c = net_for(backend)
    c.fit(X, y, **kw)
    assert not np.allclose(to_numpy(a.parameters()[0]), to_numpy(c.parameters()[0]))


def test_class_weight_mistakes_say_so():
    X, y = blobs(30)
    with pytest.raises(ValueError, match=r"class_weight names class 7; the classes are 0..2"):
        net_for().fit(X, y, class_weight={7: 2.0}, progress=False)
    with pytest.raises(ValueError, match="'balanced'"):
        net_for().fit(X, y, class_weight="even", progress=False)


def test_csv_logger_writes_a_row_as_each_epoch_ends(tmp_path):
    """Each row is on disk when its epoch ends (read back from inside the next epoch), with
    the keys callbacks before it added; append continues a resumed run's file."""
    import csv

    path = tmp_path / "log.csv"
    seen = []

    class Doubled(xpnet.Callback):
        def on_epoch_end(self, model, epoch, logs):
            logs["double_loss"] = 2 * logs["loss"]

    class Peek(xpnet.Callback):
        def on_epoch_begin(self, model, epoch):
            seen.append(len(path.read_text().splitlines()) if path.exists() else 0)

    X, y = blobs()
    logger = xpnet.callbacks.CSVLogger(path)
    h = net_for().fit(X, y, epochs=3, progress=False, validation_split=0.25,
                      callbacks=[Peek(), Doubled(), logger])
    assert seen == [0, 2, 3]   # the header and epoch 1 were there when epoch 2 began
    rows = list(csv.DictReader(path.open()))
    assert [float(r["loss"]) for r in rows] == pytest.approx(h.loss)
    assert [float(r["double_loss"]) for r in rows] == pytest.approx([2 * v for v in h.loss])
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(h.val_loss)
    net_for().fit(X, y, epochs=2, progress=False,
                  callbacks=[xpnet.callbacks.CSVLogger(path, append=True)])
    lines = path.read_text().splitlines()
    assert len(lines) == 1 + 3 + 2 and lines[0].startswith("epoch,loss")


def test_tensorboard_events_read_back_by_tensorboard(tmp_path):
    """Every epoch's figures as scalars, and the parameters' histograms, in event files that
    TensorBoard's own reader loads."""
    pytest.importorskip("tensorboardX")
    accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    X, y = blobs()
    board = xpnet.callbacks.TensorBoard(tmp_path / "runs", histograms=True)
    h = net_for().fit(X, y, epochs=3, progress=False, validation_split=0.25,
                      metrics=["f1"], callbacks=[board])
    events = accumulator.EventAccumulator(str(tmp_path / "runs"),
                                          size_guidance={accumulator.SCALARS: 0})
    events.Reload()
    tags = events.Tags()
    assert {"loss", "val_loss", "accuracy", "learning_rate", "f1", "val_f1"} <= set(
        tags["scalars"])
    assert [e.step for e in events.Scalars("loss")] == [1, 2, 3]
    assert [e.value for e in events.Scalars("loss")] == pytest.approx(h.loss, rel=1e-6)
    assert [e.value for e in events.Scalars("val_f1")] == pytest.approx(h["val_f1"], rel=1e-6)
    assert {"W1", "b1", "W2", "b2"} <= set(tags["histograms"])
