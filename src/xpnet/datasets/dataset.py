"""A dataset as the rest of xpnet sees it: host NumPy arrays with a train and a test split."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Training and (optional) test arrays on the host, plus what describes them.

    ``X_*`` are (n, features) arrays (uint8 pixels or floats); ``y_*`` are int64 class indices
    into ``class_names``, or float64 targets when ``task`` is ``"regression"`` (then
    ``class_names`` is empty). ``image_shape`` is set for image data (for pictures of inputs).
    ``scaling`` names the preprocessing the data calls for by default.
    """

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray | None = None
    y_test: np.ndarray | None = None
    class_names: list[str] = field(default_factory=list)
    image_shape: tuple[int, ...] | None = None
    scaling: str = "standardize"
    task: str = "classification"

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        test = f", test {len(self.X_test)}" if self.X_test is not None else ""
        target = "a real-valued target" if self.task == "regression" else \
            f"{self.n_classes} classes"
        return (f"<Dataset {self.name}: train {len(self.X_train)}{test}, "
                f"{self.n_features} features, {target}>")


def split(X: np.ndarray, y: np.ndarray, fraction: float, seed: int | None = 0):
    """Hold out ``fraction`` of the rows, stratified by class (at random for real-valued
    targets): (X_a, y_a, X_b, y_b)."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"split fraction must be in (0, 1), not {fraction}")
    rng = np.random.default_rng(seed)
    held = []
    strata = [y == c for c in np.unique(y)] if y.dtype.kind in "iub" else [np.ones(len(y), bool)]
    for members in strata:
        rows = np.flatnonzero(members)
        rng.shuffle(rows)
        held.append(rows[: int(round(fraction * len(rows)))])
    mask = np.zeros(len(y), dtype=bool)
    mask[np.concatenate(held)] = True
    if mask.all() or not mask.any():
        raise ValueError(f"a split of {fraction} leaves one side empty for {len(y)} examples")
    return X[~mask], y[~mask], X[mask], y[mask]
