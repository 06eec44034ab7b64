"""The callback protocol: what the fit loop calls (`Callback`), the list it calls them through
(`CallbackList`) and the `History` of every epoch's figures."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..model import Model

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
    """Callbacks called in order, as one. Each must be a
    [`Callback`][xpnet.callbacks.base.Callback]; only those that override ``on_step_end`` are
    called per step."""

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
        """Record the epoch (the fit loop places it after validation), with the figures beyond
        the standard ones that the loop and the callbacks before this one logged (so that a
        checkpoint written after it holds them)."""
        self.append(logs)
        self.add_extras(logs)
        return False

    def append(self, logs: dict[str, float]) -> None:
        for key in STANDARD_LOGS:
            getattr(self, key).append(logs[key])

    def add_extras(self, logs: dict[str, float]) -> None:
        """Keep the keys callbacks added to this epoch's logs (the fit loop calls it once every
        callback has seen them; calling it again for the same epoch keeps the latest values)."""
        done = len(self.epoch)
        for key, value in logs.items():
            if key in STANDARD_LOGS or not isinstance(value, (int, float)):
                continue
            column = self.extras.setdefault(key, [])
            column.extend([math.nan] * (done - len(column)))
            column[done - 1] = float(value)

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
