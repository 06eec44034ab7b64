"""Callbacks that watch a logged figure: stop early, keep the best model, lower the rate on a
plateau; each through one `Monitor` of the figure and its direction."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .base import Callback, History

if TYPE_CHECKING:
    from ..model import Model

Array = Any


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
    """Stop when ``monitor`` (any logged key; see [`Monitor`][xpnet.callbacks.best.Monitor]) has not
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
    improves (see [`Monitor`][xpnet.callbacks.best.Monitor]): the file then holds the best model so
    far, whatever later epochs do."""

    def __init__(self, path: str | Path, monitor: str = "val_loss", save_best_only: bool = True,
                 mode: str = "auto", min_delta: float = 0.0):
        self.path, self.save_best_only = Path(path), save_best_only
        self.watch = Monitor(monitor, mode, min_delta)
        self.saved_epoch: int | None = None

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        from ..io import save

        better = self.watch.improved(logs, epoch, "the model checkpoint")
        if better or not self.save_best_only:
            save(model, self.path)   # type: ignore[arg-type]
            self.saved_epoch = epoch
        return False


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` once ``monitor`` (see
    [`Monitor`][xpnet.callbacks.best.Monitor]) has gone more than ``patience`` epochs without
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
