"""The fit loop: mini-batches drawn on the device, validation, learning-rate schedules,
checkpoints and exact resume, data parallelism, cross-validation.

The training data moves to the device once. Each epoch draws one seeded permutation on the host
(the same order on every backend), moves that index vector once, and slices batches from it with
``take``: no host<->device copy happens per step. Per-step costs stay on the device and are read
once per epoch (on CPU backends, where reading is free, after every step, so that a diverging run
stops at the step that diverged).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import comm as comm_module
from . import optim, schedules
from .backend import to_numpy
from .callbacks import History, _Progress
from .errors import ModelFileError, TrainingDiverged, positive_int
from .network import Network, on_its_device

Array = Any


@on_its_device
def evaluate(net: Network, X: Any, y: Any, batch_size: int = 4096, n: int | None = None
             ) -> dict[str, float]:
    """Mean cost (with the L2 term for a training set of size ``n``, the data size by default)
    and accuracy (classification heads) over (X, y), in chunks, in inference mode."""
    X, Y = net._batch(X, y)
    return _evaluate(net, X, Y, batch_size, n if n is not None else X.shape[0])


def _evaluate(net: Network, X: Array, Y: Array, batch_size: int, n: int) -> dict[str, float]:
    xp = net.xp
    total, correct = 0.0, 0
    m = X.shape[0]
    for s in range(0, m, batch_size):
        e = min(s + batch_size, m)  # slices past the end are not in the standard
        Xb, Yb = X[s:e, :], Y[s:e, :]
        C, _, out = net._objective(Xb, Yb, training=False, n=n, grads=False)
        total = total + C * Xb.shape[0]
        if _classifier(net):
            correct = correct + xp.sum(xp.astype(net._classes(out, net.fused) ==
                                                  net._classes(Yb), xp.int64))
    result = {"loss": float(total) / m}
    result["accuracy"] = float(correct) / m if _classifier(net) else float("nan")
    return result


def _classifier(net: Network) -> bool:
    return net.output_activation in ("softmax", "sigmoid")


@on_its_device
def fit(
    net: Network,
    X: Any,
    y: Any,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    optimizer: str | optim.Optimizer = "sgd",
    learning_rate: float | None = None,
    schedule: str | schedules.Schedule | None = None,
    validation_data: tuple[Any, Any] | None = None,
    validation_split: float = 0.0,
    shuffle: bool = True,
    progress: bool = True,
    callbacks: list[Any] | tuple[Any, ...] = (),
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: str | Path | None = None,
    stream: TextIO | None = None,
    comm: Any = None,
    notes: dict[str, Any] | None = None,
) -> History:
    """Train ``net`` by mini-batch gradient descent and return its :class:`History`.

    ``optimizer`` is an Optimizer or a name (``sgd``, ``momentum``, ``nesterov``, ``adam``, with
    ``learning_rate``); ``schedule`` scales the learning rate per epoch (``step``,
    ``exponential``, ``cosine`` or a Schedule). ``validation_split`` holds out the last fraction
    of (X, y) (taken before shuffling, so it is the same on resume). Callbacks have
    ``on_epoch_end(net, epoch, logs) -> stop?`` and optionally ``on_train_end(net, history)``.

    With ``checkpoint`` set, the full training state is written atomically every
    ``checkpoint_every`` epochs; ``resume`` continues from such a file exactly where it stopped
    (on NumPy the final weights equal an uninterrupted run's). A NaN or infinite cost raises
    :class:`TrainingDiverged` naming the epoch and step; Ctrl-C stops after the current step
    and returns the history so far (``history.interrupted``).

    ``comm`` (a :mod:`xpnet.comm` communicator, or ``"mpi"``/``"nccl"``) trains data-parallel:
    ``batch_size`` is the global batch, split across the ranks; rank 0's initial parameters
    are broadcast; gradients are averaged with one all-reduce per step; only rank 0 prints and
    writes checkpoints. Every rank must call ``fit`` with the same data and arguments.
    ``notes`` (plain JSON values) are stored in checkpoints beside the fit's own settings,
    for the caller to read back on resume (the command line records its dataset there).
    """
    from .io import load_with_state

    epochs = positive_int("epochs", epochs)
    batch_size = positive_int("batch_size", batch_size)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), not {validation_split}")
    stream = stream if stream is not None else sys.stderr
    xp, rng = net.xp, net.rng
    comm = comm_module.get(comm)
    if batch_size < comm.size:
        raise ValueError(f"batch_size {batch_size} is smaller than the {comm.size} ranks")
    # Two random streams: the order of the examples (one stream shared by every rank) and the
    # network's own (dropout masks: a different stream on each rank).
    shuffler = net.backend.generator(comm_module.shared_seed(comm, int(rng.host.integers(2**52))))

    X, Y = net._batch(X, y)
    n_all = X.shape[0]
    if validation_data is None and validation_split > 0.0:
        n_val = int(round(validation_split * n_all))
        if not 0 < n_val < n_all:
            raise ValueError(f"validation_split {validation_split} leaves no data on one side")
        Xv, Yv = X[n_all - n_val:, :], Y[n_all - n_val:, :]
        X, Y = X[:n_all - n_val, :], Y[:n_all - n_val, :]
    elif validation_data is not None:
        Xv, Yv = net._batch(*validation_data)
    else:
        Xv = Yv = None
    n = X.shape[0]

    opt = optim.get(optimizer, learning_rate)
    sched = schedules.get(schedule, epochs=epochs)
    base_lr = opt.learning_rate
    history, start = History(), 0
    if resume is not None:
        saved, state, arrays = load_with_state(resume, backend=net.backend,
                                               dtype=net.dtype_name)
        if state is None:
            raise ModelFileError(f"{resume}: a model file, not a checkpoint (no training state)")
        if saved.config()["layers"] != net.config()["layers"]:
            raise ModelFileError(f"{resume}: checkpoint architecture differs from this network")
        net.set_parameters(saved.parameters())
        opt = optim.from_config(state["optimizer"])
        opt.load_state(state["optimizer_state"], arrays, net.backend, net.dtype)
        rng.set_state(state["rng"])
        if state.get("shuffle_rng"):
            shuffler.set_state(state["shuffle_rng"])
        sched = schedules.get(state["schedule"])
        base_lr = state["base_learning_rate"]
        history = History.from_dict(state["history"])
        history.stopped_early = history.interrupted = False
        start = state["epochs_done"]
    if comm.size > 1:   # everyone starts from rank 0's parameters, with its own dropout masks
        rng.reseed((comm_module.shared_seed(comm, int(rng.host.integers(2**52))), comm.rank))
        params = net.parameters()
        net.set_parameters(comm_module.unpack(
            xp, comm.broadcast(net.backend, comm_module.pack(xp, params)), params))

    steps = math.ceil(n / batch_size)
    shown = _Progress(progress and comm.is_root, stream, epochs, steps)
    writes = checkpoint is not None and comm.is_root
    check_each_step = not net.backend.reads_are_costly  # a host scalar costs nothing to read
    reduce = comm_module.averaging(comm, net.backend) if comm.size > 1 else None
    classifier, logits = _classifier(net), net.fused
    stop = False
    try:
        for epoch in range(start, epochs):
            opt.learning_rate = base_lr * sched.factor(epoch)
            t0 = time.perf_counter()
            shown.start(epoch)
            order = shuffler.permutation(n) if shuffle else \
                xp.arange(n, device=net.backend.device)
            costs, hits = [], []
            for step, s in enumerate(range(0, n, batch_size)):
                e = min(s + batch_size, n)
                share = 1.0
                if comm.size > 1:  # this rank's share of the global batch order[s:e]
                    m = e - s
                    s, e = s + m * comm.rank // comm.size, s + m * (comm.rank + 1) // comm.size
                    share = (e - s) / m
                idx = order[s:e]
                Yb = xp.take(Y, idx, axis=0)
                C, out = net._step(xp.take(X, idx, axis=0), Yb, opt, n, reduce, share)
                if check_each_step and not math.isfinite(float(C)):
                    _diverged(epoch, step, steps, float(C), history)
                costs.append(C)
                if classifier:
                    hits.append(net._classes(out, logits) == net._classes(Yb))
                shown.step()
            # One reduction per epoch, on the device: the cost averages the batches weighted by
            # their sizes (the last one may be short).
            per_step = xp.stack(costs)
            sizes = xp.asarray([min(batch_size, n - s) for s in range(0, n, batch_size)],
                               dtype=per_step.dtype, device=net.backend.device)
            loss = float(xp.sum(per_step * sizes)) / n
            if not math.isfinite(loss):  # on a GPU, found here, once per epoch
                host = to_numpy(per_step)
                bad = int(np.flatnonzero(~np.isfinite(host))[0])
                _diverged(epoch, bad, steps, float(host[bad]), history)
            correct = int(xp.sum(xp.astype(xp.concat(hits), xp.int64))) if classifier else 0
            if comm.size > 1:
                correct = int(comm.allreduce_host([correct])[0])
            logs = {"epoch": epoch + 1, "loss": loss,
                    "accuracy": correct / n if classifier else float("nan"),
                    "val_loss": float("nan"), "val_accuracy": float("nan"),
                    "learning_rate": opt.learning_rate}
            if Xv is not None:
                v = _evaluate(net, Xv, Yv, 4096, n)
                logs["val_loss"], logs["val_accuracy"] = v["loss"], v["accuracy"]
            logs["seconds"] = time.perf_counter() - t0
            history.append(logs)
            shown.end(logs)
            for cb in callbacks:
                stop = bool(cb.on_epoch_end(net, epoch + 1, logs)) or stop
            if writes and ((epoch + 1) % checkpoint_every == 0 or stop or epoch + 1 == epochs):
                save_checkpoint(net, checkpoint, opt, sched, base_lr, history, epoch + 1,
                                {**(notes or {}), "epochs": epochs, "batch_size": batch_size},
                                shuffler)
            if stop:
                history.stopped_early = True
                shown.message(f"early stop after epoch {epoch + 1}")
                break
    except TrainingDiverged:
        raise   # every rank sees the same global cost, so every rank stops here together
    except Exception as exc:
        if comm.size > 1:   # one rank failed alone: stop them all rather than hang
            print(f"rank {comm.rank}: {type(exc).__name__}: {exc}; aborting all ranks",
                  file=sys.stderr, flush=True)
            comm.abort(1)
        raise
    except KeyboardInterrupt:
        if comm.size > 1:
            comm.abort(130)
        history.interrupted = True
        if shown.bar is not None:
            shown.bar.close()
        shown.message(f"interrupted; returning the history of {len(history.epoch)} "
                      "completed epochs" + (f" (last checkpoint: {checkpoint})"
                                            if checkpoint is not None else ""))
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(net, history)
    return history


def _diverged(epoch: int, step: int, steps: int, value: float, history: History) -> None:
    raise TrainingDiverged(
        f"the training cost became {value} at epoch {epoch + 1}, step {step + 1} of {steps}; "
        "lower the learning rate (or check the inputs for NaN/inf). No weights were saved "
        "after this point.", history)


def save_checkpoint(net: Network, path: str | Path, opt: optim.Optimizer,
                    sched: schedules.Schedule, base_lr: float, history: History,
                    epochs_done: int, settings: dict[str, Any] | None = None,
                    shuffler: Any = None) -> Path:
    """The model plus everything :func:`fit` needs to continue exactly: optimizer state, the
    random generator's state, schedule, base learning rate, history and epochs done."""
    from .io import save

    keys, arrays = opt.state_arrays()
    state = {
        "epochs_done": epochs_done,
        "optimizer": opt.config(),
        "optimizer_state": {"t": opt.t, "keys": keys},
        "rng": net.rng.get_state(),
        "shuffle_rng": shuffler.get_state() if shuffler is not None else None,
        "schedule": sched.config(),
        "base_learning_rate": base_lr,
        "history": history.as_dict(),
        "fit": settings or {},
    }
    return save(net, path, training=state, extra_arrays=arrays)


def cross_validate(make_network: Any, X: np.ndarray, y: np.ndarray, k: int = 5,
                   scaling: str = "standardize", seed: int | None = 0,
                   **fit_kwargs: Any) -> dict[str, Any]:
    """k-fold cross-validation: for each fold, a fresh ``make_network()``, a scaler fitted on
    the training folds only, :func:`fit`, and the accuracy on the held-out fold."""
    from .metrics import kfold
    from .preprocess import Scaler

    scores = []
    opt = fit_kwargs.pop("optimizer", "sgd")
    for fold, (tr, te) in enumerate(kfold(len(y), k, seed), start=1):
        net = make_network()
        # each fold starts from fresh optimizer state
        fit_kwargs["optimizer"] = optim.from_config(opt.config()) \
            if isinstance(opt, optim.Optimizer) else opt
        scaler = Scaler(scaling).fit(X[tr])
        dtype = np.float64 if net.dtype_name == "float64" else np.float32
        fit(net, scaler.transform(X[tr], dtype), y[tr], **fit_kwargs)
        acc = float(np.mean(to_numpy(net.predict(scaler.transform(X[te], dtype))) == y[te]))
        scores.append(acc)
        if fit_kwargs.get("progress", True):
            print(f"fold {fold}/{k}: accuracy {acc:.4f}",
                  file=fit_kwargs.get("stream") or sys.stderr)
    return {"fold_accuracy": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}


