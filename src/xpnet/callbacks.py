"""What a fit reports and how it reacts, step by step and epoch by epoch: the
[`Callback`][xpnet.callbacks.Callback] protocol and the
[`CallbackList`][xpnet.callbacks.CallbackList] the fit loop calls, the
[`History`][xpnet.callbacks.History] of per-epoch figures, and the callbacks that come with xpnet:
[`EarlyStopping`][xpnet.callbacks.EarlyStopping],
[`DivergenceGuard`][xpnet.callbacks.DivergenceGuard] and [`Progress`][xpnet.callbacks.Progress] (the
fit loop adds its validation and checkpoint callbacks, [`xpnet.train`][xpnet.train])."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
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
    """

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

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        """Record the epoch (the fit loop places it after validation)."""
        self.append(logs)
        return False

    def append(self, logs: dict[str, float]) -> None:
        for key in ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                    "seconds"):
            getattr(self, key).append(logs[key])

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        return cls(**d)


class EarlyStopping(Callback):
    """Stop when ``monitor`` (``val_loss``, ``val_accuracy``, ``loss``, ``accuracy``) has not
    improved by ``min_delta`` for ``patience`` epochs; optionally restore the best weights."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = True):
        if monitor not in ("val_loss", "val_accuracy", "loss", "accuracy"):
            raise ValueError(f"unknown metric {monitor!r} to monitor; valid: val_loss, "
                             "val_accuracy, loss, accuracy")
        if patience < 1:
            raise ValueError(f"patience must be >= 1, not {patience}")
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.restore_best = restore_best
        self.sign = 1.0 if monitor.endswith("loss") else -1.0   # minimise sign * value
        self.best = math.inf
        self.best_epoch: int | None = None
        self.best_params: dict[str, Array] | None = None
        self.wait = 0

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        value = logs.get(self.monitor)
        if value is None or math.isnan(value):
            raise ValueError(f"early stopping monitors {self.monitor!r}, which this fit does not "
                             "report (give validation data for val_* metrics)")
        if self.sign * value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = self.sign * value, epoch, 0
            if self.restore_best:
                xp = model.backend.xp
                self.best_params = {k: xp.asarray(p, copy=True)
                                    for k, p in model.named_parameters().items()}
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, model: Model, history: History) -> None:
        if self.restore_best and self.best_params is not None and history.stopped_early:
            model.assign(self.best_params)


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
            for key in ("accuracy", "val_loss", "val_accuracy"):
                if not math.isnan(logs[key]):
                    parts.append(f"{key} {logs[key]:.4f}")
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
