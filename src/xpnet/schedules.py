"""Learning-rate schedules: the learning rate ``eta = eta_0 * factor``, where ``eta_0`` is the
optimizer's rate and the factor follows the epoch ``e`` (counting from 0) or, for the schedules
that change within an epoch, the step ``j`` (counting from 0 over the whole run).

Per epoch:

* ``constant``: factor 1
* ``step``: ``gamma ** floor(e / step_size)``
* ``exponential``: ``gamma ** e``
* ``cosine``: ``min_factor + (1 - min_factor) (1 + cos(pi e / epochs)) / 2``

Per step:

* ``one_cycle`` (Smith and Topin 2019, PyTorch's ``OneCycleLR`` with cosine annealing): from
  ``1 / div_factor`` up to 1 over the first ``pct_start`` of the run's ``T`` steps, then down
  to ``1 / (div_factor * final_div_factor)``, each half a cosine;
* ``warmup`` (any schedule, in epochs, fractions allowed: ``W`` steps): the factor is multiplied
  by ``(j + 1) / W`` for the first ``W`` steps, a linear rise to the schedule's own rate
  (PyTorch's ``LinearLR`` from ``1 / W``).

A rate that changes per step is set before each step; a compiled step takes it as data (a new
rate never recompiles SGD's step, whose rate rides in the gradient scale).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Schedule:
    name: str = "constant"
    step_size: int = 10
    gamma: float = 0.5
    epochs: int = 1
    min_factor: float = 0.0
    warmup: float = 0.0
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4

    def __post_init__(self) -> None:
        if self.name not in NAMES:
            raise ValueError(f"unknown schedule {self.name!r}; valid schedules: {', '.join(NAMES)}")
        if self.step_size < 1 or self.epochs < 1:
            raise ValueError("schedule step_size and epochs must be >= 1")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"schedule gamma must be in (0, 1], not {self.gamma}")
        if not 0.0 <= self.warmup < math.inf:
            raise ValueError(f"warmup must be a number of epochs >= 0, not {self.warmup}")
        if not 0.0 < self.pct_start < 1.0:
            raise ValueError(f"pct_start must be in (0, 1), not {self.pct_start}")
        if self.div_factor <= 0 or self.final_div_factor <= 0:
            raise ValueError("div_factor and final_div_factor must be > 0")

    @property
    def per_step(self) -> bool:
        """Whether the rate changes within an epoch (one-cycle, or a warmup)."""
        return self.name == "one_cycle" or self.warmup > 0

    def factor(self, epoch: int) -> float:
        """The factor of epoch ``epoch`` (from 0) for the schedules that change per epoch (1 for
        one-cycle, whose factor follows the steps)."""
        if self.name == "step":
            return self.gamma ** (epoch // self.step_size)
        if self.name == "exponential":
            return self.gamma**epoch
        if self.name == "cosine":
            t = min(epoch, self.epochs) / self.epochs
            return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0

    def step_factor(self, step: int, steps_per_epoch: int) -> float:
        """The factor of step ``step`` (from 0 over the run) with ``steps_per_epoch`` steps in
        an epoch: the epoch's factor, or one-cycle's, times the warmup's rise."""
        if self.name == "one_cycle":
            f = self._one_cycle(step, self.epochs * steps_per_epoch)
        else:
            f = self.factor(step // steps_per_epoch)
        if self.warmup > 0:
            w = max(1, round(self.warmup * steps_per_epoch))
            f *= min(1.0, (step + 1) / w)
        return f

    def _one_cycle(self, step: int, total: int) -> float:
        start, peak = 1.0 / self.div_factor, 1.0
        end = start / self.final_div_factor
        up = self.pct_start * total - 1.0
        if step <= up:
            return _cosine(start, peak, step / up if up > 0 else 1.0)
        return _cosine(peak, end, (step - up) / max(total - 1.0 - up, 1e-12))

    def config(self) -> dict[str, Any]:
        return asdict(self)


def _cosine(start: float, end: float, pct: float) -> float:
    """From ``start`` to ``end`` along half a cosine, ``pct`` of the way."""
    return end + (start - end) / 2.0 * (math.cos(math.pi * min(pct, 1.0)) + 1.0)


NAMES = ("constant", "step", "exponential", "cosine", "one_cycle")


def get(spec: str | Schedule | None, epochs: int = 1, **kwargs: Any) -> Schedule:
    """A schedule from a name (``cosine`` and ``one_cycle`` span ``epochs``), a config dict, or
    as given."""
    if isinstance(spec, Schedule):
        return spec
    if spec is None:
        return Schedule(**kwargs)
    if isinstance(spec, dict):
        return Schedule(**spec)
    if spec in ("cosine", "one_cycle"):
        kwargs.setdefault("epochs", epochs)
    return Schedule(spec, **kwargs)
