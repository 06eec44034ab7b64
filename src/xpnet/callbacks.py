"""What a fit reports and how it reacts, step by step and epoch by epoch: the
[`Callback`][xpnet.callbacks.Callback] protocol and the
[`CallbackList`][xpnet.callbacks.CallbackList] the fit loop calls, the
[`History`][xpnet.callbacks.History] of per-epoch figures, and the callbacks that come with xpnet:
[`EarlyStopping`][xpnet.callbacks.EarlyStopping],
[`DivergenceGuard`][xpnet.callbacks.DivergenceGuard] and [`Progress`][xpnet.callbacks.Progress] (the
fit loop adds its validation and checkpoint callbacks, [`xpnet.train`][xpnet.train])."""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from .backend import to_numpy
from .errors import TrainingDiverged

if TYPE_CHECKING:
    from .model import Model

Array = Any


class Callback:
    """What [`xpnet.train.fit`][xpnet.train.fit] calls, in the shape Keras made familiar. Subclass
    it and override what you need; every hook does nothing by default.

    * ``on_train_begin(model)``: once, before the first epoch.
    * ``on_epoch_begin(model, epoch)``: before each epoch, ``epoch`` counting from 1.
    * ``on_step_end(model, epoch, step, cost)``: after each step (``step`` from 1), with the
      batch cost as a 0-d device array; reading it (``float(cost)``) makes a GPU wait.
    * ``on_epoch_end(model, epoch, logs)``: after each epoch, ``logs`` holding ``epoch``,
      ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` (NaN where not measured),
      ``learning_rate`` and ``seconds``; a callback may add entries for those after it. Return
      True to stop training after this epoch (every callback still sees it).
    * ``on_train_end(model, history)``: once, after the last epoch, an early stop or an
      interruption (``history.interrupted``).

    Before training begins the fit hands each callback its optimizer as ``self.optimizer``
    (its ``rate_factor`` multiplies the scheduled learning rate from the next step on).
    """

    optimizer: Any = None

    def on_train_begin(self, model: Model) -> None:
        return None

    def on_epoch_begin(self, model: Model, epoch: int) -> None:
        return None

    def on_step_end(self, model: Model, epoch: int, step: int, cost: Array) -> None:
        return None

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool | None:
        return False

    def on_train_end(self, model: Model, history: History) -> None:
        return None


class CallbackList(Callback):
    """Callbacks called in order, as one. Each must be a [`Callback`][xpnet.callbacks.Callback];
    only those that override ``on_step_end`` are called per step."""

    def __init__(self, callbacks: Iterable[Any]):
        if isinstance(callbacks, Callback) or not isinstance(callbacks, (list, tuple)):
            raise TypeError("callbacks must be a list of xpnet.Callback objects, not "
                            f"{type(callbacks).__name__}")
        for cb in callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks must be xpnet.Callback objects (subclass "
                                f"xpnet.Callback); got {cb!r}")
        self.callbacks: list[Callback] = list(callbacks)
        self.per_step = [cb for cb in self.callbacks
                         if type(cb).on_step_end is not Callback.on_step_end]

    def hand_optimizer(self, optimizer: Any) -> None:
        """Give every callback the fit's optimizer (``callback.optimizer``)."""
        for cb in self.callbacks:
            cb.optimizer = optimizer

    def on_train_begin(self, model: Model) -> None:
        for cb in self.callbacks:
            cb.on_train_begin(model)

    def on_epoch_begin(self, model: Model, epoch: int) -> None:
        for cb in self.callbacks:
            cb.on_epoch_begin(model, epoch)

    def on_step_end(self, model: Model, epoch: int, step: int, cost: Array) -> None:
        for cb in self.per_step:
            cb.on_step_end(model, epoch, step, cost)

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        return any([bool(cb.on_epoch_end(model, epoch, logs)) for cb in self.callbacks])

    def on_train_end(self, model: Model, history: History) -> None:
        for cb in self.callbacks:
            cb.on_train_end(model, history)


STANDARD_LOGS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                 "seconds")
"""The figures every epoch logs (History keeps each as an attribute, the rest in ``extras``)."""


@dataclass
class History(Callback):
    """Per-epoch figures of a fit. ``accuracy`` is the running accuracy of the training batches
    (dropout active) and ``loss`` their mean cost; validation figures are in inference mode.
    ``interrupted`` is set when a signal (``signal``: ``"SIGINT"``, Ctrl-C, or ``"SIGTERM"``)
    stopped the fit at a step boundary."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False
    interrupted: bool = False
    signal: str | None = None
    #: every other figure a callback logged, by key, one value per epoch (NaN where missing)
    extras: dict[str, list[float]] = field(default_factory=dict)

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        """Record the epoch (the fit loop places it after validation)."""
        self.append(logs)
        return False

    def append(self, logs: dict[str, float]) -> None:
        for key in STANDARD_LOGS:
            getattr(self, key).append(logs[key])

    def add_extras(self, logs: dict[str, float]) -> None:
        """Keep the keys callbacks added to this epoch's logs (the fit loop calls it once every
        callback has seen them)."""
        done = len(self.epoch)
        for key, value in logs.items():
            if key in STANDARD_LOGS or not isinstance(value, (int, float)):
                continue
            column = self.extras.setdefault(key, [])
            column.extend([math.nan] * (done - 1 - len(column)))
            column.append(float(value))

    def __getitem__(self, key: str) -> list[float]:
        """Any recorded figure by name: ``history["val_f1"]`` as ``history.val_loss``."""
        if key in self.extras:
            return self.extras[key]
        if key in STANDARD_LOGS:
            return list(getattr(self, key))
        raise KeyError(f"{key!r} was not logged; logged: "
                       f"{', '.join([*STANDARD_LOGS, *self.extras])}")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)


class Monitor:
    """A logged figure watched for improvement: ``key`` (any key of an epoch's logs: ``loss``,
    ``val_loss``, ``val_accuracy``, or one a callback adds), ``mode`` ``"min"``, ``"max"`` or
    ``"auto"`` (minimise a key that names a loss or an error, ``mae``, ``mse``, ``rmse``;
    maximise anything else: accuracies, F1, R^2, AUC), improving when it passes the best so far
    by more than ``min_delta``."""

    def __init__(self, key: str, mode: str = "auto", min_delta: float = 0.0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', not {mode!r}")
        if mode == "auto":
            lowered = key.lower()
            mode = "min" if any(w in lowered for w in ("loss", "error", "mae", "mse")) else "max"
        self.key, self.mode, self.min_delta = key, mode, float(min_delta)
        self.sign = 1.0 if mode == "min" else -1.0   # minimise sign * value
        self.best = math.inf
        self.best_epoch: int | None = None

    def value(self, logs: dict[str, float], who: str) -> float:
        """The watched figure in ``logs``; a missing or NaN one is an error naming the keys
        there are (``who`` says what watches it)."""
        value = logs.get(self.key)
        if value is None or math.isnan(value):
            there = ", ".join(k for k, v in logs.items() if not (isinstance(v, float) and
                                                                 math.isnan(v)))
            raise ValueError(f"{who} monitors {self.key!r}, which this fit does not report "
                             f"(it logs {there}; val_* figures need validation data)")
        return float(value)

    def improved(self, logs: dict[str, float], epoch: int, who: str) -> bool:
        """Whether this epoch's figure is the best yet (recorded as the best when it is)."""
        v = self.sign * self.value(logs, who)
        if v < self.best - self.min_delta:
            self.best, self.best_epoch = v, epoch
            return True
        return False


class EarlyStopping(Callback):
    """Stop when ``monitor`` (any logged key; see [`Monitor`][xpnet.callbacks.Monitor]) has not
    improved by ``min_delta`` for ``patience`` epochs. With ``restore_best`` the model ends with
    the weights of its best epoch however the run ends: stopped by this callback, by another,
    by the epoch count, or by SIGINT/SIGTERM (a checkpoint written at that moment keeps the
    last weights, to resume from)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True, mode: str = "auto"):
        if patience < 1:
            raise ValueError(f"patience must be >= 1, not {patience}")
        self.watch = Monitor(monitor, mode, min_delta)
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.restore_best = restore_best
        self.best_params: dict[str, Array] | None = None
        self.last_epoch: int | None = None
        self.wait = 0

    @property
    def best_epoch(self) -> int | None:
        return self.watch.best_epoch

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        self.last_epoch = epoch
        if self.watch.improved(logs, epoch, "early stopping"):
            self.wait = 0
            if self.restore_best:
                xp = model.backend.xp
                self.best_params = {k: xp.asarray(p, copy=True)
                                    for k, p in model.named_parameters().items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, model: Model, history: History) -> None:
        if self.restore_best and self.best_params is not None and \
                self.best_epoch != self.last_epoch:
            model.assign(self.best_params)


class ModelCheckpoint(Callback):
    """Write the model to ``path`` (``.npz`` or ``.safetensors``, atomically: a reader sees the
    old file or the new one) after each epoch, or with ``save_best_only`` only when ``monitor``
    improves (see [`Monitor`][xpnet.callbacks.Monitor]): the file then holds the best model so
    far, whatever later epochs do."""

    def __init__(self, path: str | Path, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "auto", min_delta: float = 0.0):
        self.path, self.save_best_only = Path(path), save_best_only
        self.watch = Monitor(monitor, mode, min_delta)
        self.saved_epoch: int | None = None

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        from .io import save

        better = self.watch.improved(logs, epoch, "the model checkpoint")
        if better or not self.save_best_only:
            save(model, self.path)   # type: ignore[arg-type]
            self.saved_epoch = epoch
        return False


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` (see
    [`Monitor`][xpnet.callbacks.Monitor]) has gone more than ``patience`` epochs without
    improving by ``min_delta``, never below ``min_lr``, then wait ``cooldown`` epochs before
    counting again: PyTorch's ``ReduceLROnPlateau`` with ``threshold_mode="abs"`` (Keras's
    reduces one epoch sooner: its ``patience`` is PyTorch's plus one). The reduction is a factor
    on whatever the schedule gives (the optimizer's ``rate_factor``), kept in checkpoints."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 min_lr: float = 0.0, min_delta: float = 1e-4, cooldown: int = 0,
                 mode: str = "auto"):
        if not 0.0 < factor < 1.0:
            raise ValueError(f"factor must be in (0, 1), not {factor}")
        if patience < 0 or cooldown < 0 or min_lr < 0:
            raise ValueError("patience, cooldown and min_lr must be >= 0")
        self.watch = Monitor(monitor, mode, min_delta)
        self.factor, self.patience, self.min_lr = factor, patience, min_lr
        self.cooldown, self.cooling, self.wait = cooldown, 0, 0

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        self.wait = 0 if self.watch.improved(logs, epoch, "ReduceLROnPlateau") else self.wait + 1
        if self.cooling > 0:
            self.cooling -= 1
            self.wait = 0
        opt = self.optimizer
        if self.wait > self.patience and opt is not None:
            new = max(opt.learning_rate * self.factor, self.min_lr)
            if opt.learning_rate - new > 1e-8:
                opt.rate_factor *= new / opt.learning_rate
            self.cooling, self.wait = self.cooldown, 0
        return False


class TensorBoard(Callback):
    """Event files TensorBoard reads (``tensorboard --logdir LOG_DIR``), written through
    tensorboardX (``pip install "xpnet[tensorboard]"``): every figure of each epoch's logs as a
    scalar (loss, accuracy, the validation figures, the learning rate, the metrics and whatever
    callbacks before it add), and with ``histograms=True`` a histogram of each parameter every
    epoch (one read of the parameters from the device an epoch)."""

    def __init__(self, log_dir: str | Path, histograms: bool = False):
        try:
            from tensorboardX import SummaryWriter
        except ImportError as exc:
            raise ImportError(f"the TensorBoard callback writes through tensorboardX ({exc}): "
                              'pip install "xpnet[tensorboard]"') from None
        self.log_dir, self.histograms = Path(log_dir), histograms
        self.writer_class: Any = SummaryWriter
        self.writer: Any = None

    def on_train_begin(self, model: Model) -> None:
        self.writer = self.writer_class(logdir=str(self.log_dir))

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        for key, value in logs.items():
            if key != "epoch" and isinstance(value, (int, float)) and not math.isnan(value):
                self.writer.add_scalar(key, float(value), epoch)
        if self.histograms:
            for name, p in model.named_parameters().items():
                self.writer.add_histogram(name, to_numpy(p), epoch)
        self.writer.flush()
        return False

    def on_train_end(self, model: Model, history: History) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


class CSVLogger(Callback):
    """A CSV row per epoch at ``path``, written and flushed as each epoch ends, so that a run
    stopped from outside keeps its curve: the epoch's logs, in the order they were logged
    (put it after the callbacks whose figures it should hold). ``append=True`` continues an
    existing file (a resumed run) instead of starting it afresh."""

    def __init__(self, path: str | Path, append: bool = False, separator: str = ","):
        self.path, self.append, self.separator = Path(path), append, separator
        self.columns: list[str] | None = None
        self.file: Any = None

    def on_train_begin(self, model: Model) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        exists = self.append and self.path.exists() and self.path.stat().st_size > 0
        if exists:
            with open(self.path, newline="") as fh:
                self.columns = next(csv.reader(fh, delimiter=self.separator))
        self.file = open(self.path, "a" if exists else "w", newline="")   # noqa: SIM115

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        out = csv.writer(self.file, delimiter=self.separator)
        if self.columns is None:
            self.columns = list(logs)
            out.writerow(self.columns)
        out.writerow([_cell(logs.get(k, math.nan)) for k in self.columns])
        self.file.flush()
        return False

    def on_train_end(self, model: Model, history: History) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def _cell(value: Any) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class DivergenceGuard(Callback):
    """A NaN or infinite cost ends training with
    [`TrainingDiverged`][xpnet.errors.TrainingDiverged], naming the epoch and the step where it
    appeared. Where reading a value is free (the CPU) every step's cost is checked as it comes; on a
    device, whose reads wait for the queue, the epoch's loss is checked once and, when it is not
    finite, the step is found in the epoch's costs."""

    def __init__(self, steps: int, each_step: bool, history: History):
        self.steps, self.each_step, self.history = steps, each_step, history
        self.costs: list[Array] = []

    def on_step_end(self, model: Model, epoch: int, step: int, cost: Array) -> None:
        if self.each_step:
            if not math.isfinite(float(cost)):
                self._diverged(epoch, step, float(cost))
        else:
            self.costs.append(cost)

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        costs, self.costs = self.costs, []
        if not math.isfinite(logs["loss"]):
            host = to_numpy(model.backend.xp.stack(costs)) if costs else np.array([np.nan])
            bad = int(np.flatnonzero(~np.isfinite(host))[0])
            self._diverged(epoch, bad + 1, float(host[bad]))
        return False

    def _diverged(self, epoch: int, step: int, value: float) -> None:
        raise TrainingDiverged(
            f"the training cost became {value} at epoch {epoch}, step {step} of {self.steps}; "
            "lower the learning rate (or check the inputs for NaN/inf). No weights were saved "
            "after this point.", self.history)


class Progress(Callback):
    """A tqdm bar per epoch on a terminal, one plain line per epoch otherwise, or silence.

    A run of more than [`EVERY_EPOCH_UP_TO`][xpnet.callbacks.Progress.EVERY_EPOCH_UP_TO] epochs
    whose epochs take less than a second shows its first and last epoch and one line a second
    between them (a small table's 150 epochs of 0.1 s, say); every epoch's figures are in the
    history all the same."""

    EVERY_EPOCH_UP_TO = 20
    SECONDS_BETWEEN_LINES = 1.0

    def __init__(self, enabled: bool, stream: TextIO, epochs: int, steps: int):
        self.enabled, self.stream, self.epochs, self.steps = enabled, stream, epochs, steps
        self.last_line: float | None = None
        self.bar: Any = None
        self.tqdm: Any = None
        if enabled and getattr(stream, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass

    def on_epoch_begin(self, model: Model, epoch: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(total=self.steps, desc=f"epoch {epoch}/{self.epochs}",
                                 unit="batch", leave=False, file=self.stream)

    def on_step_end(self, model: Model, epoch: int, step: int, cost: Array) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        self.close()
        now = time.monotonic()
        shown = self.epochs <= self.EVERY_EPOCH_UP_TO or self.last_line is None or \
            epoch == self.epochs or now - self.last_line >= self.SECONDS_BETWEEN_LINES
        if self.enabled and shown:
            self.last_line = now
            parts = [f"epoch {logs['epoch']}/{self.epochs}", f"loss {logs['loss']:.4f}"]
            for key in ("accuracy", "val_loss", "val_accuracy",
                        *(k for k in logs if k not in STANDARD_LOGS)):
                value = logs[key]
                if isinstance(value, (int, float)) and not math.isnan(value):
                    parts.append(f"{key} {value:.4f}")
            parts += [f"lr {logs['learning_rate']:.3g}", f"{logs['seconds']:.1f}s"]
            print("  ".join(parts), file=self.stream, flush=True)
        return False

    def on_train_end(self, model: Model, history: History) -> None:
        self.close()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
