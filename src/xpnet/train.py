"""The fit loop: mini-batches drawn on the device, validation, learning-rate schedules,
checkpoints and exact resume, data parallelism, cross-validation.

The training data moves to the device once. Each epoch draws one seeded permutation on the host
(the same order on every backend), moves that index vector once, and slices batches from it with
``take``: no host<->device copy happens per step. Per-step costs stay on the device and are read
once per epoch (on CPU backends, where reading is free, after every step, so that a diverging run
stops at the step that diverged).
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from . import comm as comm_module
from . import io, optim, schedules
from .backend import on_its_device, to_numpy
from .callbacks import History, _Progress
from .errors import ModelFileError, TrainingDiverged, positive_int
from .step import TrainingStep, batch_bounds, batches

if TYPE_CHECKING:
    from .network import Network

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
        if net.is_classifier:
            correct = correct + xp.sum(xp.astype(net._classes(out, net.fused) ==
                                                  net._classes(Yb), xp.int64))
    result = {"loss": float(total) / m}
    result["accuracy"] = float(correct) / m if net.is_classifier else float("nan")
    return result


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
    of (X, y) (taken before shuffling, so it is the same on resume). ``callbacks`` follow
    :class:`xpnet.callbacks.Callback`: ``on_epoch_end(net, epoch, logs)`` returns True to stop,
    ``on_train_end(net, history)`` runs once at the end.

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
    epochs, batch_size = positive_int("epochs", epochs), positive_int("batch_size", batch_size)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    comm = comm_module.get(comm)
    if batch_size < comm.size:
        raise ValueError(f"batch_size {batch_size} is smaller than the {comm.size} ranks")
    # Two random streams: the order of the examples (one stream shared by every rank) and the
    # network's own (dropout masks: a different stream on each rank).
    shuffler = net.backend.generator(
        comm_module.shared_seed(comm, int(net.rng.host.integers(2**52))))
    X, Y, validation = _held_out(net, X, y, validation_data, validation_split)
    run = _Run.start(net, optimizer, learning_rate, schedule, epochs, resume, shuffler)
    _same_start_on_every_rank(net, comm)
    n, xp = X.shape[0], net.xp
    reduce = comm_module.averaging(comm, net.backend) if comm.size > 1 else None
    step = TrainingStep(net, run.optimizer, X, Y, reduce)
    figures = _EpochFigures(net, comm, run.history, n, batch_size)
    shown = _Progress(progress and comm.is_root, stream or sys.stderr, epochs, len(figures.sizes))
    saver = _Checkpoints(net, checkpoint, checkpoint_every,
                         {**(notes or {}), "epochs": epochs, "batch_size": batch_size},
                         shuffler) if checkpoint is not None and comm.is_root else None

    with _stopping_cleanly(comm, run.history, shown, checkpoint):
        for epoch in range(run.first_epoch, epochs):
            run.optimizer.learning_rate = run.base_lr * run.schedule.factor(epoch)
            t0 = time.perf_counter()
            shown.start(epoch)
            order = shuffler.permutation(n) if shuffle else xp.arange(n, device=net.backend.device)
            for i, (idx, share) in enumerate(batches(order, n, batch_size, comm.rank, comm.size)):
                figures.add(epoch, i, *step(idx, share))
                shown.step()
            logs = figures.epoch_logs(epoch, run.optimizer.learning_rate)
            if validation is not None:
                logs.update(validation.figures(n))
            logs["seconds"] = time.perf_counter() - t0
            run.history.append(logs)
            shown.end(logs)
            stop = any([bool(cb.on_epoch_end(net, epoch + 1, logs)) for cb in callbacks])
            if saver is not None:
                saver.after_epoch(epoch + 1, stop or epoch + 1 == epochs, run)
            if stop:
                run.history.stopped_early = True
                shown.message(f"early stop after epoch {epoch + 1}")
                break
    for cb in callbacks:
        if hasattr(cb, "on_train_end"):
            cb.on_train_end(net, run.history)
    return run.history


# --------------------------------------------------------------------- the fit's collaborators
class _Validation:
    """The held-out data, and its cost and accuracy after each epoch (in inference mode)."""

    def __init__(self, net: Network, X: Array, Y: Array):
        self.net, self.X, self.Y = net, X, Y

    def figures(self, n: int) -> dict[str, float]:
        v = _evaluate(self.net, self.X, self.Y, 4096, n)
        return {"val_loss": v["loss"], "val_accuracy": v["accuracy"]}


def _held_out(net: Network, X: Any, y: Any, validation_data: tuple[Any, Any] | None,
              validation_split: float) -> tuple[Array, Array, _Validation | None]:
    """The training data on the device, and the validation data: ``validation_data``, or the
    last ``validation_split`` of (X, y), or none."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), not {validation_split}")
    X, Y = net._batch(X, y)
    if validation_data is not None:
        return X, Y, _Validation(net, *net._batch(*validation_data))
    if validation_split == 0.0:
        return X, Y, None
    n_all = X.shape[0]
    n_val = int(round(validation_split * n_all))
    if not 0 < n_val < n_all:
        raise ValueError(f"validation_split {validation_split} leaves no data on one side")
    held = _Validation(net, X[n_all - n_val:, :], Y[n_all - n_val:, :])
    return X[:n_all - n_val, :], Y[:n_all - n_val, :], held


@dataclass
class _Run:
    """What a fit carries from epoch to epoch and a checkpoint preserves: the optimizer and its
    state, the schedule and base learning rate, the history, and the first epoch to run."""

    optimizer: optim.Optimizer
    schedule: schedules.Schedule
    base_lr: float
    history: History
    first_epoch: int = 0

    @classmethod
    def start(cls, net: Network, optimizer: Any, learning_rate: float | None, schedule: Any,
              epochs: int, resume: str | Path | None, shuffler: Any) -> _Run:
        """A new run, or the one a checkpoint saved (weights, optimizer state, generators)."""
        opt = optim.get(optimizer, learning_rate)
        if resume is None:
            return cls(opt, schedules.get(schedule, epochs=epochs), opt.learning_rate, History())
        header, arrays, shown = io.read_any(resume)
        state = header.get("training")
        if state is None:
            raise ModelFileError(f"{resume}: a model file, not a checkpoint (no training state)")
        saved = header.get("network")
        if not isinstance(saved, dict) or saved.get("layers") != net.config()["layers"]:
            raise ModelFileError(f"{resume}: checkpoint architecture differs from this network")
        net.set_parameters(io.parameters(resume, arrays, shown, net.parameters()))
        opt = optim.from_config(state["optimizer"])
        opt.load_state(state["optimizer_state"], arrays, net.backend, net.dtype)
        net.rng.set_state(state["rng"])
        if state.get("shuffle_rng"):
            shuffler.set_state(state["shuffle_rng"])
        history = History.from_dict(state["history"])
        history.stopped_early = history.interrupted = False
        return cls(opt, schedules.get(state["schedule"]), state["base_learning_rate"], history,
                   state["epochs_done"])


def _same_start_on_every_rank(net: Network, comm: Any) -> None:
    """Data parallelism starts every rank from rank 0's parameters, each rank with its own
    dropout masks."""
    if comm.size == 1:
        return
    xp, rng = net.xp, net.rng
    rng.reseed((comm_module.shared_seed(comm, int(rng.host.integers(2**52))), comm.rank))
    params = net.parameters()
    net.set_parameters(comm_module.unpack(
        xp, comm.broadcast(net.backend, comm_module.pack(xp, params)), params))


class _EpochFigures:
    """The epoch's cost (the batch costs weighted by batch size) and running accuracy, kept on
    the device and read once per epoch; and the divergence guard: a NaN or infinite cost ends
    training naming the step where it appeared, checked after every step where reading a
    value is free (the CPU), else once per epoch, which then finds the step."""

    def __init__(self, net: Network, comm: Any, history: History, n: int, batch_size: int):
        self.net, self.comm, self.history, self.n = net, comm, history, n
        self.sizes = [e - s for s, e in batch_bounds(n, batch_size)]
        self.each_step = not net.backend.reads_are_costly
        self.classifier = net.is_classifier
        self.weights: Array = None
        self.costs: list[Array] = []
        self.hits: list[Array] = []

    def add(self, epoch: int, step: int, C: Array, hits: Array | None) -> None:
        if self.each_step and not math.isfinite(float(C)):
            _diverged(epoch, step, len(self.sizes), float(C), self.history)
        self.costs.append(C)
        if hits is not None:
            self.hits.append(hits)

    def epoch_logs(self, epoch: int, learning_rate: float) -> dict[str, float]:
        xp = self.net.xp
        per_step = xp.stack(self.costs)
        if self.weights is None:
            self.weights = xp.asarray(self.sizes, dtype=per_step.dtype,
                                      device=self.net.backend.device)
        loss = float(xp.sum(per_step * self.weights)) / self.n
        if not math.isfinite(loss):  # on a GPU, found here, once per epoch
            host = to_numpy(per_step)
            bad = int(np.flatnonzero(~np.isfinite(host))[0])
            _diverged(epoch, bad, len(self.sizes), float(host[bad]), self.history)
        correct = int(xp.sum(xp.astype(xp.concat(self.hits), xp.int64))) if self.hits else 0
        if self.comm.size > 1:
            correct = int(self.comm.allreduce_host([correct])[0])
        self.costs, self.hits = [], []
        return {"epoch": epoch + 1, "loss": loss,
                "accuracy": correct / self.n if self.classifier else float("nan"),
                "val_loss": float("nan"), "val_accuracy": float("nan"),
                "learning_rate": learning_rate}


class _Checkpoints:
    """Writes the run's full state every ``every`` epochs, and after the last or stopping one."""

    def __init__(self, net: Network, path: str | Path, every: int, settings: dict[str, Any],
                 shuffler: Any):
        self.net, self.path, self.every = net, path, every
        self.settings, self.shuffler = settings, shuffler

    def after_epoch(self, epochs_done: int, final: bool, run: _Run) -> None:
        if epochs_done % self.every == 0 or final:
            save_checkpoint(self.net, self.path, run.optimizer, run.schedule, run.base_lr,
                            run.history, epochs_done, self.settings, self.shuffler)


@contextlib.contextmanager
def _stopping_cleanly(comm: Any, history: History, shown: _Progress,
                      checkpoint: str | Path | None) -> Iterator[None]:
    """Ctrl-C ends the run after the current step with the history so far; in a data-parallel
    run, a rank that fails alone stops every rank rather than leave them waiting."""
    try:
        yield
    except TrainingDiverged:
        raise   # every rank sees the same global cost, so every rank stops here together
    except Exception as exc:
        if comm.size > 1:
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
    return io.save(net, path, training=state, extra_arrays=arrays)


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


