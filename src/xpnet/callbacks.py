"""What a fit reports and how it reacts, epoch by epoch: the :class:`Callback` interface, the
:class:`History` of per-epoch figures, the :class:`EarlyStopping` callback, and the progress
display (a tqdm bar on a terminal, one plain line per epoch otherwise, or nothing)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .network import Network

Array = Any


class Callback:
    """What :func:`xpnet.train.fit` calls, in the shape Keras made familiar. Subclass it and
    override what you need (any object with these methods works too):

    * ``on_epoch_end(net, epoch, logs)``: after each epoch, ``epoch`` counting from 1 and
      ``logs`` holding ``epoch``, ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``
      (NaN where not measured), ``learning_rate`` and ``seconds``. Return True to stop
      training after this epoch (every callback still sees it).
    * ``on_train_end(net, history)``: once, after the last epoch, an early stop or Ctrl-C.
    """

    def on_epoch_end(self, net: Network, epoch: int, logs: dict[str, float]) -> bool | None:
        return False

    def on_train_end(self, net: Network, history: History) -> None:
        return None


@dataclass
class History:
    """Per-epoch figures of a fit. ``accuracy`` is the running accuracy of the training batches
    (dropout active) and ``loss`` their mean cost; validation figures are in inference mode."""

    epoch: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    learning_rate: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early: bool = False
    interrupted: bool = False

    def append(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            getattr(self, key).append(value)

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
        self.best_params: list[Array] | None = None
        self.wait = 0

    def on_epoch_end(self, net: Network, epoch: int, logs: dict[str, float]) -> bool:
        value = logs.get(self.monitor)
        if value is None or math.isnan(value):
            raise ValueError(f"early stopping monitors {self.monitor!r}, which this fit does not "
                             "report (give validation data for val_* metrics)")
        if self.sign * value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = self.sign * value, epoch, 0
            if self.restore_best:
                self.best_params = [net.xp.asarray(p, copy=True) for p in net.parameters()]
            return False
        self.wait += 1
        return self.wait >= self.patience

    def on_train_end(self, net: Network, history: History) -> None:
        if self.restore_best and self.best_params is not None and history.stopped_early:
            net.set_parameters(self.best_params)


class _Progress:
    """A tqdm bar per epoch on a terminal, one plain line per epoch otherwise, or silence."""

    def __init__(self, enabled: bool, stream: TextIO, epochs: int, steps: int):
        self.enabled, self.stream, self.epochs, self.steps = enabled, stream, epochs, steps
        self.bar = None
        self.tqdm = None
        if enabled and getattr(stream, "isatty", lambda: False)():
            try:
                from tqdm.auto import tqdm

                self.tqdm = tqdm
            except ImportError:
                pass

    def start(self, epoch: int) -> None:
        if self.tqdm is not None:
            self.bar = self.tqdm(total=self.steps, desc=f"epoch {epoch + 1}/{self.epochs}",
                                 unit="batch", leave=False, file=self.stream)

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def end(self, logs: dict[str, float]) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        if self.enabled:
            parts = [f"epoch {logs['epoch']}/{self.epochs}", f"loss {logs['loss']:.4f}"]
            for key in ("accuracy", "val_loss", "val_accuracy"):
                if not math.isnan(logs[key]):
                    parts.append(f"{key} {logs[key]:.4f}")
            parts += [f"lr {logs['learning_rate']:.3g}", f"{logs['seconds']:.1f}s"]
            print("  ".join(parts), file=self.stream, flush=True)

    def message(self, text: str) -> None:
        if self.enabled:
            print(text, file=self.stream, flush=True)
