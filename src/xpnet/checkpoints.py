"""A run's state across epochs and processes: what a fit carries from one epoch to the next (the
optimizer and its state, the schedule, the history, the epochs done), written to a checkpoint as
it goes, and read back to continue exactly."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import io, optim, schedules
from .callbacks import Callback, History
from .errors import ModelFileError
from .model import Model


@dataclass
class Checkpoint:
    """A checkpoint file as read once: its path, header, arrays and shown name
    ([`read_checkpoint`][xpnet.checkpoints.read_checkpoint]); ``fit(resume=...)`` takes it, and so
    does the command line."""

    path: Path
    header: dict[str, Any]
    arrays: dict[str, Any]
    shown: dict[str, str]

    @property
    def state(self) -> dict[str, Any]:
        return self.header["training"]


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by [`fit`][xpnet.train.fit]; a model file without training state,
    or a file that is not xpnet's, is refused with
    [`ModelFileError`][xpnet.errors.ModelFileError]."""
    header, arrays, shown = io.read_any(path)
    if not isinstance(header.get("training"), dict):
        raise ModelFileError(f"{path}: a model file, not a checkpoint (no training state)")
    return Checkpoint(Path(path), header, arrays, shown)


@dataclass
class Run:
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
              epochs: int, resume: str | Path | Checkpoint | None, shuffler: Any) -> Run:
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


class Checkpoints(Callback):
    """Writes the run's full state every ``every`` epochs and after the last one, and, when
    the run stops early, after the stopping epoch (before any best weights are restored)."""

    def __init__(self, path: str | Path, every: int, epochs: int, run: Run, shuffler: Any,
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


def save_checkpoint(model: io.Saved, path: str | Path, opt: optim.Optimizer,
                    sched: schedules.Schedule, base_lr: float, history: History,
                    epochs_done: int, settings: dict[str, Any] | None = None,
                    shuffler: Any = None) -> Path:
    """The model plus everything [`fit`][xpnet.train.fit] needs to continue exactly: optimizer
    state, the random generator's state, schedule, base learning rate, history and epochs done."""
    slots, arrays = opt.state_arrays()
    state = {
        "epochs_done": epochs_done,
        "optimizer": opt.config(),
        "optimizer_state": {**opt.config_state(), "slots": slots},
        "rng": model.rng.get_state(),
        "shuffle_rng": shuffler.get_state() if shuffler is not None else None,
        "schedule": sched.config(),
        "base_learning_rate": base_lr,
        "history": history.as_dict(),
        "fit": settings or {},
    }
    return io.save(model, path, training=state, extra_arrays=arrays)
