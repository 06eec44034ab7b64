"""Learning-rate schedules: the learning rate of epoch e (counting from 0) is
``eta_e = eta_0 * factor(e)``.

* ``constant``: factor 1
* ``step``: ``gamma ** floor(e / step_size)``
* ``exponential``: ``gamma ** e``
* ``cosine``: ``min_factor + (1 - min_factor) (1 + cos(pi e / epochs)) / 2``
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

    def __post_init__(self):
        if self.name not in NAMES:
            raise ValueError(f"unknown schedule {self.name!r}; valid schedules: {', '.join(NAMES)}")
        if self.step_size < 1 or self.epochs < 1:
            raise ValueError("schedule step_size and epochs must be >= 1")
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"schedule gamma must be in (0, 1], not {self.gamma}")

    def factor(self, epoch: int) -> float:
        if self.name == "step":
            return self.gamma ** (epoch // self.step_size)
        if self.name == "exponential":
            return self.gamma**epoch
        if self.name == "cosine":
            t = min(epoch, self.epochs) / self.epochs
            return self.min_factor + (1.0 - self.min_factor) * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0

    def config(self) -> dict[str, Any]:
        return asdict(self)


NAMES = ("constant", "step", "exponential", "cosine")


def get(spec: str | Schedule | None, epochs: int = 1, **kwargs: Any) -> Schedule:
    """A schedule from a name (``cosine`` spans ``epochs``), a config dict, or as given."""
    if isinstance(spec, Schedule):
        return spec
    if spec is None:
        return Schedule()
    if isinstance(spec, dict):
        return Schedule(**spec)
    if spec == "cosine":
        kwargs.setdefault("epochs", epochs)
    return Schedule(spec, **kwargs)
