"""Logs written while training, an epoch at a time: CSV rows and TensorBoard event files."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..backend import to_numpy
from .base import Callback, History

if TYPE_CHECKING:
    from ..model import Model

Array = Any


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
