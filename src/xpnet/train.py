"""The fit loop: mini-batches drawn on the device, validation, learning-rate schedules,
checkpoints and exact resume, data parallelism, clean stops on signals, cross-validation.

The loop calls down, never back up: it sees the model through :class:`xpnet.model.Model`, the
update through :class:`xpnet.step.TrainingStep`, and everything that reacts to an epoch
(validation, the divergence guard, progress, checkpoints, the caller's callbacks) through one
:class:`xpnet.callbacks.CallbackList`.

The training data moves to the device once. Each epoch draws one seeded permutation on the host
(the same order on every backend), moves that index vector once, and slices batches from it with
``take``: no host<->device copy happens per step. Per-step costs stay on the device and are read
once per epoch (on CPU backends, where reading is free, after every step, so that a diverging run
stops at the step that diverged).
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from . import comm as comm_module
from . import io, optim, schedules
from .backend import on_its_device
from .callbacks import Callback, CallbackList, DivergenceGuard, History, Progress
from .errors import ModelFileError, TrainingDiverged, positive_int
from .model import Model
from .sparse_rows import SparseRows
from .step import TrainingStep, batch_bounds, batches, gemm_flops, layer_sizes

Array = Any


@on_its_device
def evaluate(model: Model, X: Any, y: Any, batch_size: int = 4096, n: Any = None,
             sample_weight: Any = None) -> dict[str, float]:
    """Mean cost (with the L2 term for a training set of size ``n``, the data size by default)
    and accuracy (classification heads) over (X, y), in chunks, in inference mode; with
    ``sample_weight`` (n,), both are weighted means over the examples (and ``n`` defaults to
    the total weight)."""
    X, Y = model.prepare(X, y)
    w = None if sample_weight is None else model.example_weights(sample_weight, X.shape[0])
    return _evaluate(model, X, Y, positive_int("batch_size", batch_size), n, w)


def _evaluate(model: Model, X: Array, Y: Array, batch_size: int, n: Any, w: Array = None
              ) -> dict[str, float]:
    """:func:`evaluate` on prepared arrays; ``w`` the examples' weights as a column, or None."""
    xp = model.backend.xp
    total, correct = 0.0, 0
    m = X.shape[0]
    mass = _size(model, m, w)
    n = n if n is not None else mass
    for s in range(0, m, batch_size):
        e = min(s + batch_size, m)  # slices past the end are not in the standard
        Xb, Yb = X[s:e, :], Y[s:e, :]
        wb = None if w is None else w[s:e, :]
        if isinstance(Xb, SparseRows):   # a chunk of sparse rows, as the first layer takes them
            Xb = Xb.rows()
        C, out = model.loss_and_outputs(Xb, Yb, n=n, weights=wb)
        total = total + C * (Xb.shape[0] if wb is None else xp.sum(wb))
        if model.is_classifier:
            hits = model.decide(out) == model.target_classes(Yb)
            correct = correct + (xp.sum(xp.astype(hits, xp.int64)) if wb is None else
                                 xp.sum(xp.astype(hits, wb.dtype) * wb[:, 0]))
    result = {"loss": float(total) / mass}
    result["accuracy"] = float(correct) / mass if model.is_classifier else float("nan")
    return result


@on_its_device
def fit(
    model: Model,
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
    callbacks: list[Callback] | tuple[Callback, ...] = (),
    checkpoint: str | Path | None = None,
    checkpoint_every: int = 1,
    resume: str | Path | Checkpoint | None = None,
    stream: TextIO | None = None,
    comm: Any = None,
    notes: dict[str, Any] | None = None,
    compile: bool = False,
    l2_per_batch: bool = False,
    sample_weight: Any = None,
) -> History:
    """Train ``model`` by mini-batch gradient descent and return its :class:`History`.

    ``optimizer``: an Optimizer or a name (``sgd``, ``momentum``, ``nesterov``, ``adam``) with
    ``learning_rate``; ``schedule`` scales it per epoch (``step``, ``exponential``, ``cosine``).
    ``validation_split`` holds out the last fraction of (X, y), before shuffling. ``callbacks``
    are :class:`xpnet.callbacks.Callback` objects; True from ``on_epoch_end`` stops the fit.

    ``checkpoint``: the full training state, written atomically every ``checkpoint_every``
    epochs and after the last; ``resume`` (its path, or a :class:`Checkpoint` already read)
    continues exactly (on NumPy the final weights equal an uninterrupted run's). A NaN or
    infinite cost raises :class:`TrainingDiverged` naming the epoch and step. SIGINT or SIGTERM
    (a scheduler's preemption) stop the fit at the next step boundary and return the history
    so far, ``history.interrupted`` and ``history.signal`` set; a second signal stops at once.

    ``comm`` (a :mod:`xpnet.comm` communicator, or ``"mpi"``/``"nccl"``) trains data-parallel:
    ``batch_size`` is the global batch, split across the ranks, which start from rank 0's
    parameters and average gradients with one all-reduce per step; only rank 0 prints and
    writes checkpoints (with ``notes``, JSON values for the caller to read on resume). Every
    rank must call ``fit`` with the same data and arguments.
    ``l2_per_batch``: each batch's L2 term with its own size m, ``lambda/(2m)`` (scikit-learn's
    convention). ``sample_weight`` (n,): each batch's cost is the weighted mean of its rows'
    (scikit-learn's meaning; the total weight is the L2 term's n, accuracies are weighted, the
    held-out rows keep their weights, ``validation_data`` may be ``(X, y, w)``; one process).
    ``compile=True`` compiles the step whole where the backend can (torch: ``torch.compile``);
    the compilation's seconds show after epoch 1.
    """
    epochs, batch_size = positive_int("epochs", epochs), positive_int("batch_size", batch_size)
    checkpoint_every = positive_int("checkpoint_every", checkpoint_every)
    user_callbacks, comm = CallbackList(callbacks), comm_module.get(comm)
    if batch_size < comm.size:
        raise ValueError(f"batch_size {batch_size} is smaller than the {comm.size} ranks")
    shuffler = _shuffler(model, comm)
    X, Y, w, validation = _held_out(model, X, y, validation_data, validation_split, sample_weight)
    run = _Run.start(model, optimizer, learning_rate, schedule, epochs, resume, shuffler)
    _same_start_on_every_rank(model, comm)
    step = _step_for(model, run.optimizer, X, Y, comm, compile, l2_per_batch, w)
    figures = _EpochFigures(model, comm, X.shape[0], batch_size, w)
    shown = Progress(progress and comm.is_root, stream or sys.stderr, epochs,
                     len(figures.sizes))
    saver = None if checkpoint is None or not comm.is_root else _Checkpoints(
        checkpoint, checkpoint_every, epochs, run, shuffler,
        {**(notes or {}), "epochs": epochs, "batch_size": batch_size})
    hooks = _hooks(model, run.history, figures, validation, shown, saver, user_callbacks)
    flops = gemm_flops(layer_sizes(model.named_parameters()), batch_size)
    with _stopping_cleanly(comm, run.history, shown, checkpoint, model.backend, flops) as signals:
        hooks.on_train_begin(model)
        for epoch in range(run.first_epoch + 1, epochs + 1):
            _one_epoch(model, step, run, figures, hooks, signals, epoch, shuffle, shuffler,
                       comm)
            if _epoch_ends(model, step, run, figures, hooks, shown, epoch):
                break
    hooks.on_train_end(model, run.history)
    return run.history


def _epoch_ends(model: Model, step: TrainingStep, run: _Run, figures: _EpochFigures,
                hooks: CallbackList, shown: Progress, epoch: int) -> bool:
    """The epoch's figures to the callbacks (after the first, the compilation's seconds when
    the step was compiled); True when one of them stops the fit."""
    logs = run.history_logs(figures.epoch_logs(epoch, run.optimizer.learning_rate))
    if step.compile_seconds is not None and epoch == run.first_epoch + 1:
        shown.message(f"compiled the training step in {step.compile_seconds:.1f}s")
    if hooks.on_epoch_end(model, epoch, logs):
        run.history.stopped_early = True
        shown.message(f"early stop after epoch {epoch}")
        return True
    return False


def _shuffler(model: Model, comm: Any) -> Any:
    """The random stream of the examples' order: one stream shared by every rank, apart from
    the model's own (dropout masks: a different stream on each rank)."""
    return model.backend.generator(
        comm_module.shared_seed(comm, int(model.rng.host.integers(2**52))))


def _step_for(model: Model, optimizer: optim.Optimizer, X: Array, Y: Array, comm: Any,
              compile: bool, l2_per_batch: bool = False, weights: Array = None
              ) -> TrainingStep:
    """The fit's training step: with the ranks' reduction in a data-parallel run; compiled
    whole on request, in one process."""
    if compile and comm.size > 1:
        raise ValueError("compile=True trains in one process; drop it or the communicator")
    reduce = comm_module.averaging(comm, model.backend) if comm.size > 1 else None
    return TrainingStep(model, optimizer, X, Y, reduce=reduce, compile=compile,
                        n="batch" if l2_per_batch else None, weights=weights)


def _hooks(model: Model, history: History, figures: _EpochFigures,
           validation: Callback | None, shown: Progress, saver: Callback | None,
           user: CallbackList) -> CallbackList:
    """Everything that reacts to steps and epochs, in the order it must run: the divergence
    guard, validation (which adds its figures to the logs), the history, progress, checkpoints
    (before the caller's callbacks, so that an early stop's checkpoint holds the stopping
    epoch's weights), then the caller's callbacks."""
    guard = DivergenceGuard(len(figures.sizes), not model.backend.reads_are_costly, history)
    found = [guard, validation, history, shown, saver]
    return CallbackList([cb for cb in found if cb is not None] + user.callbacks)


def _one_epoch(model: Model, step: TrainingStep, run: _Run, figures: _EpochFigures,
               hooks: CallbackList, signals: _Signals, epoch: int, shuffle: bool,
               shuffler: Any, comm: Any) -> None:
    """The steps of one epoch over a fresh permutation (epoch counts from 1)."""
    xp, n = model.backend.xp, figures.n
    run.optimizer.learning_rate = run.base_lr * run.schedule.factor(epoch - 1)
    run.epoch_started = time.perf_counter()
    hooks.on_epoch_begin(model, epoch)
    order = shuffler.permutation(n) if shuffle else xp.arange(n, device=model.backend.device)
    for i, (idx, share) in enumerate(batches(order, n, figures.batch_size, comm.rank,
                                             comm.size), start=1):
        C, hits = step(idx, share)
        figures.add(C, hits, idx)
        hooks.on_step_end(model, epoch, i, C)
        if signals.caught:
            raise KeyboardInterrupt


# --------------------------------------------------------------------- the fit's collaborators
class _Validation(Callback):
    """The held-out data, and its cost and accuracy after each epoch (in inference mode; the
    examples weighted by ``w`` if given), added to the epoch's logs for the callbacks after
    it."""

    def __init__(self, X: Array, Y: Array, n: Any, w: Array = None):
        self.X, self.Y, self.n, self.w = X, Y, n, w

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        v = _evaluate(model, self.X, self.Y, 4096, self.n, self.w)
        logs.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
        return False


def _held_out(model: Model, X: Any, y: Any, validation_data: tuple[Any, ...] | None,
              validation_split: float, sample_weight: Any = None
              ) -> tuple[Array, Array, Array, _Validation | None]:
    """The training data on the device (with its examples' weights, a column, or None), and
    the validation data: ``validation_data`` (``(X, y)`` or ``(X, y, w)``), or the last
    ``validation_split`` of (X, y) and its weights, or none."""
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), not {validation_split}")
    X, Y = model.prepare(X, y)
    w = None if sample_weight is None else model.example_weights(sample_weight, X.shape[0])
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a pair (X_val, y_val) or a triple "
                            "(X_val, y_val, sample_weight_val)")
        X_val, Y_val = model.prepare(*validation_data[:2])
        w_val = model.example_weights(validation_data[2], X_val.shape[0]) \
            if len(validation_data) == 3 and validation_data[2] is not None else None
        return X, Y, w, _Validation(X_val, Y_val, _size(model, X.shape[0], w), w_val)
    if validation_split == 0.0:
        return X, Y, w, None
    n_all = X.shape[0]
    n_val = int(round(validation_split * n_all))
    if not 0 < n_val < n_all:
        raise ValueError(f"validation_split {validation_split} leaves no data on one side")
    cut = n_all - n_val
    w_fit, w_val = (None, None) if w is None else (w[:cut, :], w[cut:, :])
    X_fit, Y_fit = X[:cut, :], Y[:cut, :]
    held = _Validation(X[cut:, :], Y[cut:, :], _size(model, cut, w_fit), w_val)
    return X_fit, Y_fit, w_fit, held


def _size(model: Model, m: int, w: Array) -> Any:
    """The size of a set of ``m`` rows, as the L2 term and the means count it: ``m``, or with
    the examples' weights ``w`` (a column) their total."""
    return m if w is None else float(model.backend.xp.sum(w))


@dataclass
class Checkpoint:
    """A checkpoint file as read once: its path, header, arrays and shown name
    (:func:`read_checkpoint`); ``fit(resume=...)`` takes it, and so does the command line."""

    path: Path
    header: dict[str, Any]
    arrays: dict[str, Any]
    shown: dict[str, str]

    @property
    def state(self) -> dict[str, Any]:
        return self.header["training"]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`fit`; a model file without training state, or a
    file that is not xpnet's, is refused with :class:`ModelFileError`."""
    header, arrays, shown = io.read_any(path)
    if not isinstance(header.get("training"), dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (no training state)")
    return Checkpoint(Path(path), header, arrays, shown)


@dataclass
class _Run:
    """What a fit carries from epoch to epoch and a checkpoint preserves: the optimizer and its
    state, the schedule and base learning rate, the history, and the epochs already done."""

    optimizer: optim.Optimizer
    schedule: schedules.Schedule
    base_lr: float
    history: History
    first_epoch: int = 0
    epoch_started: float = 0.0

    def history_logs(self, logs: dict[str, float]) -> dict[str, float]:
        logs["seconds"] = time.perf_counter() - self.epoch_started
        return logs

    @classmethod
    def start(cls, model: Model, optimizer: Any, learning_rate: float | None, schedule: Any,
              epochs: int, resume: str | Path | Checkpoint | None, shuffler: Any) -> _Run:
        """A new run, or the one a checkpoint saved (weights, optimizer state, generators)."""
        opt = optim.get(optimizer, learning_rate)
        if resume is None:
            return cls(opt, schedules.get(schedule, epochs=epochs), opt.learning_rate, History())
        ck = resume if isinstance(resume, Checkpoint) else read_checkpoint(resume)
        state, saved = ck.state, ck.header.get("network")
        if state["epochs_done"] >= epochs:
            raise ValueError(f"the checkpoint has done {state['epochs_done']} epochs already, "
                             f"and this fit asks for {epochs} in all; ask for more epochs to "
                             "continue")
        if not isinstance(saved, dict) or saved.get("layers") != model.config()["layers"]:
            raise ModelFileError(f"{ck.path}: checkpoint architecture differs from this network")
        names = list(model.named_parameters())
        like = list(model.named_parameters().values())
        loaded = io.parameters(ck.path, ck.arrays, ck.shown, like)
        model.assign({k: model.backend.asarray(a, p.dtype, copy=True)
                      for k, a, p in zip(names, loaded, like)})
        opt = optim.from_config(state["optimizer"])
        opt.load_state(state["optimizer_state"], ck.arrays, model.backend,
                       like[0].dtype, names)
        model.rng.set_state(state["rng"])
        if state.get("shuffle_rng"):
            shuffler.set_state(state["shuffle_rng"])
        history = History.from_dict(state["history"])
        history.stopped_early = history.interrupted = False
        history.signal = None
        return cls(opt, schedules.get(state["schedule"]), state["base_learning_rate"], history,
                   state["epochs_done"])


def _same_start_on_every_rank(model: Model, comm: Any) -> None:
    """Data parallelism starts every rank from rank 0's parameters, each rank with its own
    dropout masks."""
    if comm.size == 1:
        return
    xp, rng = model.backend.xp, model.rng
    rng.reseed((comm_module.shared_seed(comm, int(rng.host.integers(2**52))), comm.rank))
    params = model.named_parameters()
    like = list(params.values())
    flat = comm.broadcast(model.backend, comm_module.pack(xp, like))
    model.assign(dict(zip(params, comm_module.unpack(xp, flat, like))))


class _EpochFigures:
    """The epoch's cost (the batch costs weighted by batch size) and running accuracy (each
    hit weighted by its example's weight in ``w``, a column, if given), kept on the device and
    read once per epoch."""

    def __init__(self, model: Model, comm: Any, n: int, batch_size: int, w: Array = None):
        self.model, self.comm, self.n, self.batch_size = model, comm, n, batch_size
        self.sizes = [e - s for s, e in batch_bounds(n, batch_size)]
        self.w = None if w is None else w[:, 0]
        self.mass = _size(model, n, w)
        self.weights: Array = None
        self.costs: list[Array] = []
        self.hits: list[Array] = []

    def add(self, C: Array, hits: Array | None, idx: Array = None) -> None:
        self.costs.append(C)
        if hits is not None:
            if self.w is not None:
                xp = self.model.backend.xp
                hits = xp.astype(hits, self.w.dtype) * xp.take(self.w, idx)
            self.hits.append(hits)

    def epoch_logs(self, epoch: int, learning_rate: float) -> dict[str, float]:
        xp = self.model.backend.xp
        per_step = xp.stack(self.costs)
        if self.weights is None:
            self.weights = xp.asarray(self.sizes, dtype=per_step.dtype,
                                      device=self.model.backend.device)
        loss = float(xp.sum(per_step * self.weights)) / self.n
        correct: float = 0
        if self.hits:
            hits = xp.concat(self.hits)
            correct = float(xp.sum(hits)) if self.w is not None else \
                int(xp.sum(xp.astype(hits, xp.int64)))
        if self.comm.size > 1:
            correct = int(self.comm.allreduce_host([correct])[0])
        self.costs, self.hits = [], []
        return {"epoch": epoch, "loss": loss,
                "accuracy": correct / self.mass if self.model.is_classifier else float("nan"),
                "val_loss": float("nan"), "val_accuracy": float("nan"),
                "learning_rate": learning_rate}


class _Checkpoints(Callback):
    """Writes the run's full state every ``every`` epochs and after the last one, and, when
    the run stops early, after the stopping epoch (before any best weights are restored)."""

    def __init__(self, path: str | Path, every: int, epochs: int, run: _Run, shuffler: Any,
                 settings: dict[str, Any]):
        self.path, self.every, self.epochs, self.run = path, every, epochs, run
        self.shuffler, self.settings = shuffler, settings
        self.written = run.first_epoch

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        if epoch % self.every == 0 or epoch == self.epochs:
            self.write(model, epoch)
        return False

    def on_train_end(self, model: Model, history: History) -> None:
        done = len(history.epoch)
        if not history.interrupted and done and self.written != done:
            self.write(model, done)

    def write(self, model: Any, epochs_done: int) -> None:
        run = self.run
        save_checkpoint(model, self.path, run.optimizer, run.schedule, run.base_lr,
                        run.history, epochs_done, self.settings, self.shuffler)
        self.written = epochs_done


class _Signals:
    """SIGINT and SIGTERM, while a fit runs in the main thread, ask it to stop at the next
    step boundary (``caught`` names the signal); a second one stops at once. Signals the
    process ignores (SIGINT in a background job) stay ignored."""

    def __init__(self) -> None:
        self.caught: str | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is not threading.main_thread():
            return self
        for sig in (signal.SIGINT, signal.SIGTERM):
            current = signal.getsignal(sig)
            if current in (signal.default_int_handler, signal.SIG_DFL):
                self.previous[sig] = current
                signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.caught is not None:   # the second signal: stop now
            raise KeyboardInterrupt
        self.caught = signal.Signals(signum).name

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _stopping_cleanly(comm: Any, history: History, shown: Progress,
                      checkpoint: str | Path | None, backend: Any, flops: float
                      ) -> Iterator[_Signals]:
    """A signal ends the run at a step boundary with the history so far; in a data-parallel
    run, a rank that fails alone stops every rank rather than leave them waiting. Inside,
    floating-point warnings stay quiet (a diverging run ends with the guard's one line) and
    the BLAS runs the threads chosen for a step of ``flops``."""
    signals = _Signals()
    try:
        with signals, backend.quiet_float_errors(), backend.threads_for(flops):
            yield signals
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
        history.interrupted, history.signal = True, signals.caught or "SIGINT"
        shown.close()
        shown.message(f"interrupted ({history.signal}); returning the history of "
                      f"{len(history.epoch)} completed epochs" +
                      (f" (last checkpoint: {checkpoint})" if checkpoint is not None else ""))


def save_checkpoint(model: io.Saved, path: str | Path, opt: optim.Optimizer,
                    sched: schedules.Schedule, base_lr: float, history: History,
                    epochs_done: int, settings: dict[str, Any] | None = None,
                    shuffler: Any = None) -> Path:
    """The model plus everything :func:`fit` needs to continue exactly: optimizer state, the
    random generator's state, schedule, base learning rate, history and epochs done."""
    slots, arrays = opt.state_arrays()
    state = {
        "epochs_done": epochs_done,
        "optimizer": opt.config(),
        "optimizer_state": {"t": opt.t, "slots": slots},
        "rng": model.rng.get_state(),
        "shuffle_rng": shuffler.get_state() if shuffler is not None else None,
        "schedule": sched.config(),
        "base_learning_rate": base_lr,
        "history": history.as_dict(),
        "fit": settings or {},
    }
    return io.save(model, path, training=state, extra_arrays=arrays)


def cross_validate(make_network: Any, X: np.ndarray, y: np.ndarray, k: int = 5,
                   scaling: str = "standardize", seed: int | None = 0,
                   report: bool | None = None, **fit_kwargs: Any) -> dict[str, Any]:
    """k-fold cross-validation: for each fold, a fresh model from ``make_network()``, a scaler
    fitted on the training folds only, :func:`fit`, and the accuracy on the held-out fold.
    ``report`` prints one line per fold (by default when ``progress`` is on)."""
    if report is None:
        report = fit_kwargs.get("progress", True)
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
        acc = evaluate(net, scaler.transform(X[te], dtype), y[te])["accuracy"]
        scores.append(acc)
        if report:
            print(f"fold {fold}/{k}: accuracy {acc:.4f}",
                  file=fit_kwargs.get("stream") or sys.stderr)
    return {"fold_accuracy": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}


