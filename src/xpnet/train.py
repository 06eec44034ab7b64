"""The fit loop: epochs of mini-batches drawn on the device, each step through one training
step, the epoch's figures read once, and everything that reacts to an epoch as callbacks.

Its collaborators each hold one idea of their own: [`xpnet.evaluation`][xpnet.evaluation] (scores
and the held-out set), [`xpnet.checkpoints`][xpnet.checkpoints] (the run's state, checkpoints and
exact resume), [`xpnet.stopping`][xpnet.stopping] (signals and failing ranks),
[`xpnet.cross_validation`][xpnet.cross_validation].

The loop calls down, never back up: it sees the model through
[`xpnet.model.Model`][xpnet.model.Model], the update through
[`xpnet.step.TrainingStep`][xpnet.step.TrainingStep], and everything that reacts to an epoch
(validation, the divergence guard, progress, checkpoints, the caller's callbacks) through one
[`xpnet.callbacks.CallbackList`][xpnet.callbacks.base.CallbackList].

The training data moves to the device once. Each epoch draws one seeded permutation on the host
(the same order on every backend), moves that index vector once, and slices batches from it with
``take``: no host<->device copy happens per step. Per-step costs stay on the device and are read
once per epoch (on CPU backends, where reading is free, after every step, so that a diverging run
stops at the step that diverged).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, TextIO

from . import comm as comm_module
from . import epoch_metrics, optim, schedules
from .backend import on_its_device
from .callbacks import Callback, CallbackList, DivergenceGuard, History, Progress
from .checkpoints import Checkpoint, Checkpoints, Run, read_checkpoint, save_checkpoint
from .errors import positive_int
from .evaluation import evaluate, held_out, outputs_metrics, set_size
from .model import Model
from .step import TrainingStep, batch_bounds, batches, gemm_flops, layer_sizes
from .stopping import Signals, stopping_cleanly

Array = Any

__all__ = ["Checkpoint", "evaluate", "fit", "read_checkpoint", "save_checkpoint"]


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
    sample_weight: Any = None, class_weight: Any = None,
    metrics: list[str] | None = None, stop_on_divergence: bool = True,
) -> History:
    """Train ``model`` by mini-batch gradient descent; returns the [`History`][xpnet.History].

    ``optimizer``: an Optimizer or a name with ``learning_rate``; ``schedule`` scales the rate
    per epoch or per step ([`xpnet.schedules`][xpnet.schedules]).
    ``validation_split`` holds out the last fraction of (X, y), before shuffling; ``callbacks``:
    [`Callback`][xpnet.callbacks.base.Callback] objects (True from ``on_epoch_end`` stops the fit).

    ``checkpoint``: the full training state, written atomically every ``checkpoint_every``
    epochs and after the last; ``resume`` (its path, or a
    [`Checkpoint`][xpnet.checkpoints.Checkpoint] already read) continues exactly (on NumPy the final
    weights equal an uninterrupted run's). A NaN or infinite cost raises
    [`TrainingDiverged`][xpnet.errors.TrainingDiverged] naming the epoch and step. SIGINT or SIGTERM
    (a scheduler's preemption) stop the fit at the next step boundary and return the history so far,
    ``history.interrupted`` and ``history.signal`` set; a second signal stops at once.

    ``comm`` (a [`xpnet.comm`][xpnet.comm] communicator, or ``"mpi"``/``"nccl"``) trains
    data-parallel: ``batch_size`` is the global batch, split across the ranks, which start from rank
    0's parameters and average gradients with one all-reduce per step; only rank 0 prints and writes
    checkpoints (with ``notes``, JSON values for the caller to read on resume). Every rank must call
    ``fit`` with the same data and arguments. ``l2_per_batch``: each batch's L2 term with its own
    size m, ``lambda/(2m)`` (scikit-learn's convention). ``sample_weight`` (n,): each batch's cost
    is the weighted mean of its rows' (scikit-learn's meaning; the total weight is the L2 term's n,
    accuracies are weighted, the held-out rows keep their weights, ``validation_data`` may be ``(X,
    y, w)``; one process). ``compile=True`` compiles the step whole where the backend can (torch:
    ``torch.compile``; its seconds show after epoch 1). ``stop_on_divergence=False``: train on
    through NaN or infinite costs (as scikit-learn's MLP does). ``class_weight``: ``{class:
    weight}`` or ``"balanced"``, multiplying the training rows' weights. ``metrics``: ``f1``,
    ``auc``, ``top_k``, ``r2``, ``mae`` per epoch ([`epoch_metrics`][xpnet.epoch_metrics])."""
    epochs, batch_size, checkpoint_every, comm, user_callbacks, metrics = _checked(
        model, epochs, batch_size, checkpoint_every, comm, callbacks, metrics)
    shuffler = _shuffler(model, comm)
    X, Y, w, validation = held_out(model, X, y, validation_data, validation_split, sample_weight,
                                   class_weight, metrics)
    run = Run.start(model, optimizer, learning_rate, schedule, epochs, resume, shuffler)
    _same_start_on_every_rank(model, comm)
    step = _step_for(model, run.optimizer, X, Y, comm, compile, l2_per_batch, w, metrics)
    figures = _EpochFigures(model, comm, X.shape[0], batch_size, w, metrics)
    shown = Progress(progress and comm.is_root, stream or sys.stderr, epochs,
                     len(figures.sizes))
    saver = None if checkpoint is None or not comm.is_root else Checkpoints(
        checkpoint, checkpoint_every, epochs, run, shuffler,
        {**(notes or {}), "epochs": epochs, "batch_size": batch_size})
    hooks = _hooks(model, run, figures, validation, shown, saver, user_callbacks,
                   stop_on_divergence)
    flops = gemm_flops(layer_sizes(model.named_parameters()), batch_size)
    with stopping_cleanly(comm, run.history, shown, checkpoint, model.backend, flops) as signals:
        hooks.on_train_begin(model)
        for epoch in range(run.first_epoch + 1, epochs + 1):
            _one_epoch(model, step, run, figures, hooks, signals, epoch, shuffle, shuffler,
                       comm)
            if _epoch_ends(model, step, run, figures, hooks, shown, epoch):
                break
    hooks.on_train_end(model, run.history)
    return run.history


def _checked(model: Model, epochs: int, batch_size: int, checkpoint_every: int, comm: Any,
             callbacks: Any, metrics: list[str] | None
             ) -> tuple[int, int, int, Any, CallbackList, list[str]]:
    """The fit's counts and metrics checked, its communicator, its callbacks as one list."""
    epochs, batch_size = positive_int("epochs", epochs), positive_int("batch_size", batch_size)
    comm = comm_module.get(comm)
    if batch_size < comm.size:
        raise ValueError(f"batch_size {batch_size} is smaller than the {comm.size} ranks")
    return (epochs, batch_size, positive_int("checkpoint_every", checkpoint_every), comm,
            CallbackList(callbacks), epoch_metrics.check(metrics, model.is_classifier))


def _epoch_ends(model: Model, step: TrainingStep, run: Run, figures: _EpochFigures,
                hooks: CallbackList, shown: Progress, epoch: int) -> bool:
    """The epoch's figures to the callbacks (after the first, the compilation's seconds when
    the step was compiled); True when one of them stops the fit."""
    logs = run.history_logs({**figures.epoch_logs(epoch, run.optimizer.learning_rate),
                             **step.loss_scale_logs()})
    if step.compile_seconds is not None and epoch == run.first_epoch + 1:
        shown.message(f"compiled the training step in {step.compile_seconds:.1f}s")
    stop = hooks.on_epoch_end(model, epoch, logs)
    run.history.add_extras(logs)   # what the callbacks after the history added
    if stop:
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
              compile: bool, l2_per_batch: bool = False, weights: Array = None,
              metrics: list[str] | None = None) -> TrainingStep:
    """The fit's training step: with the ranks' reduction in a data-parallel run; compiled
    whole on request, in one process; keeping its outputs when metrics are asked for."""
    if compile and comm.size > 1:
        raise ValueError("compile=True trains in one process; drop it or the communicator")
    if metrics and (compile or comm.size > 1):
        raise ValueError("metrics are computed in one eager process: drop compile=True or "
                         "the communicator, or the metrics")
    reduce = comm_module.averaging(comm, model.backend) if comm.size > 1 else None
    step = TrainingStep(model, optimizer, X, Y, reduce=reduce, compile=compile,
                        n="batch" if l2_per_batch else None, weights=weights)
    step.keep_outputs = bool(metrics)
    return step


def _hooks(model: Model, run: Run, figures: _EpochFigures,
           validation: Callback | None, shown: Progress, saver: Callback | None,
           user: CallbackList, guarded: bool = True) -> CallbackList:
    """Everything that reacts to steps and epochs, in the order it must run: the divergence
    guard, validation (which adds its figures to the logs), the history, progress, checkpoints
    (before the caller's callbacks, so that an early stop's checkpoint holds the stopping
    epoch's weights), then the caller's callbacks; each handed the optimizer."""
    history = run.history
    guard = DivergenceGuard(len(figures.sizes), not model.backend.reads_are_costly, history) \
        if guarded else None
    found = [guard, validation, history, shown, saver]
    hooks = CallbackList([cb for cb in found if cb is not None] + user.callbacks)
    hooks.hand_optimizer(run.optimizer)
    return hooks


def _one_epoch(model: Model, step: TrainingStep, run: Run, figures: _EpochFigures,
               hooks: CallbackList, signals: Signals, epoch: int, shuffle: bool,
               shuffler: Any, comm: Any) -> None:
    """The steps of one epoch over a fresh permutation (epoch counts from 1)."""
    n = figures.n
    opt, schedule, steps = run.optimizer, run.schedule, len(figures.sizes)
    opt.learning_rate = run.base_lr * schedule.factor(epoch - 1) * opt.rate_factor
    run.epoch_started = time.perf_counter()
    hooks.on_epoch_begin(model, epoch)
    order = step.epoch_order(shuffler, n, shuffle)
    for i, (idx, share) in enumerate(batches(order, n, figures.batch_size, comm.rank,
                                             comm.size), start=1):
        if schedule.per_step:   # one-cycle, a warmup: a rate for each step
            opt.learning_rate = run.base_lr * opt.rate_factor * \
                schedule.step_factor((epoch - 1) * steps + i - 1, steps)
        C, hits = step(idx, share)
        figures.add(C, hits, idx, step.kept)
        hooks.on_step_end(model, epoch, i, C)
        if signals.caught:
            raise KeyboardInterrupt


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

    def __init__(self, model: Model, comm: Any, n: int, batch_size: int, w: Array = None,
                 metrics: list[str] | None = None):
        self.model, self.comm, self.n, self.batch_size = model, comm, n, batch_size
        self.metrics = metrics or []
        self.outputs: list[tuple[Array, Array]] = []
        self.sizes = [e - s for s, e in batch_bounds(n, batch_size)]
        self.w = None if w is None else w[:, 0]
        self.mass = set_size(model, n, w)
        self.weights: Array = None
        self.costs: list[Array] = []
        self.hits: list[Array] = []

    def add(self, C: Array, hits: Array | None, idx: Array = None,
            kept: tuple[Array, Array] | None = None) -> None:
        self.costs.append(C)
        if self.metrics and kept is not None:
            self.outputs.append(kept)
        if hits is not None:
            if self.w is not None:
                xp = self.model.backend.xp
                on_device = self.model.backend.asarray(idx)   # host indices for sparse rows
                hits = xp.astype(hits, self.w.dtype) * xp.take(self.w, on_device)
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
        logs = {"epoch": epoch, "loss": loss,
                "accuracy": correct / self.mass if self.model.is_classifier else float("nan"),
                "val_loss": float("nan"), "val_accuracy": float("nan"),
                "learning_rate": learning_rate}
        if self.outputs:
            logs.update(outputs_metrics(self.model, self.metrics, self.outputs))
            self.outputs = []
        return logs
