"""What every fit runs beside the caller's callbacks: the divergence guard and the progress
display."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from ..backend import to_numpy
from ..errors import TrainingDiverged
from .base import STANDARD_LOGS, Callback, History

if TYPE_CHECKING:
    from ..model import Model

Array = Any


class DivergenceGuard(Callback):
    """A NaN or infinite cost ends training with
    [`TrainingDiverged`][xpnet.errors.TrainingDiverged], naming the epoch and the step where it
    appeared. Where reading a value is free (the CPU) every step's cost is checked as it comes; on a
    device, whose reads wait for the queue, the epoch's loss is checked once and, when it is not
    finite, the step is found in the epoch's costs. Under float16 loss scaling a skipped step
    (an inf or NaN among the scaled gradients) is not divergence, since its cost is finite and it
    changed nothing; an epoch whose every step was skipped is, as no weight moved in it."""

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
        if logs.get("skipped_steps", 0) >= self.steps:   # float16 loss scaling skipped them all
            raise TrainingDiverged(
                f"every step of epoch {epoch} had an inf or NaN gradient in float16 and was "
                f"skipped (the loss scale fell to {logs['loss_scale']:g}); lower the learning "
                "rate or use precision='bf16-mixed' or '32'.", self.history)
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

    A run of more than [`EVERY_EPOCH_UP_TO`][xpnet.callbacks.fit.Progress.EVERY_EPOCH_UP_TO] epochs
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
                    parts.append(f"{key} {_figure(key, value)}")
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


def _figure(key: str, value: float) -> str:
    """A logged figure as a progress line shows it: counts (``skipped_steps``) and whole numbers
    from 2 up (a loss scale) as they are, the rest to four decimals."""
    if float(value).is_integer() and (key.endswith("_steps") or abs(value) >= 2):
        return str(int(value))
    return f"{value:.4f}"
