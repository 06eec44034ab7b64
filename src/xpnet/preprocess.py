"""Input scaling, fitted on the training split only and saved with the model.

* ``pixels``: x / 255 (uint8 images to [0, 1])
* ``standardize``: (x - mean) / std per feature (a constant feature gets std 1)
* ``minmax``: (x - min) / (max - min) per feature, to [0, 1] on the training data
* ``none``: unchanged

Scalers work on host NumPy arrays: they run once per dataset, before the data moves to the
device, and their fitted statistics go into the model file as plain lists.
"""

from __future__ import annotations

from typing import Any

import numpy as np

KINDS = ("pixels", "standardize", "minmax", "none")


class Scaler:
    """``x' = (x - shift) / scale`` per feature, with shift and scale fitted by
    [`fit`][xpnet.preprocess.Scaler.fit]."""

    def __init__(self, kind: str = "none"):
        if kind not in KINDS:
            raise ValueError(f"unknown scaling {kind!r}; valid: {', '.join(KINDS)}")
        self.kind = kind
        self.shift: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        #: the smallest and largest raw value in the training data (None for older models)
        self.range: tuple[float, float] | None = None

    def fit(self, X: np.ndarray) -> Scaler:
        X = np.asarray(X, dtype=np.float64)
        n = X.shape[1]
        if X.size:
            self.range = (float(X.min()), float(X.max()))
        if self.kind == "pixels":
            self.shift, self.scale = np.zeros(n), np.full(n, 255.0)
        elif self.kind == "standardize":
            std = X.std(axis=0)
            self.shift, self.scale = X.mean(axis=0), np.where(std > 0, std, 1.0)
        elif self.kind == "minmax":
            lo, hi = X.min(axis=0), X.max(axis=0)
            self.shift, self.scale = lo, np.where(hi > lo, hi - lo, 1.0)
        else:
            self.shift, self.scale = np.zeros(n), np.ones(n)
        return self

    def transform(self, X: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        if self.shift is None:
            raise ValueError("the scaler must be fitted before use")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.shift.shape[0]:
            raise ValueError(
                f"input has {X.shape[-1] if X.ndim else 0} features per example but the model "
                f"expects {self.shift.shape[0]}"
            )
        if self.kind == "none":
            return X.astype(dtype, copy=False)
        if self.kind == "pixels":  # a plain scale keeps the data in one dtype pass
            return np.multiply(X, 1.0 / 255.0, dtype=dtype)
        return ((X - self.shift) / self.scale).astype(dtype)

    def range_warning(self, X: np.ndarray) -> str | None:
        """A sentence when raw inputs ``X`` lie far from the range the scaler was fitted on:
        spread over less than a twentieth of it (inputs already scaled, say pixels divided by
        255 for a model that divides by 255 itself), or reaching a whole range beyond it."""
        if self.range is None or not np.size(X):
            return None
        lo, hi = self.range
        span = hi - lo
        x_lo, x_hi = float(np.min(X)), float(np.max(X))
        if span > 0 and (x_hi - x_lo < span / 20 or x_lo < lo - span or x_hi > hi + span):
            return (f"the inputs span [{x_lo:.4g}, {x_hi:.4g}] but the model was fitted on "
                    f"raw values in [{lo:.4g}, {hi:.4g}] and applies its own {self.kind} "
                    "scaling; pass raw inputs, not scaled ones")
        return None

    def fit_transform(self, X: np.ndarray, dtype: Any = np.float32) -> np.ndarray:
        return self.fit(X).transform(X, dtype)

    def config(self) -> dict[str, Any]:
        return {"kind": self.kind,
                "shift": None if self.shift is None else self.shift.tolist(),
                "scale": None if self.scale is None else self.scale.tolist(),
                "range": None if self.range is None else list(self.range)}

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Scaler:
        s = cls(cfg["kind"])
        if cfg.get("shift") is not None:
            s.shift = np.asarray(cfg["shift"], dtype=np.float64)
            s.scale = np.asarray(cfg["scale"], dtype=np.float64)
            if s.shift.shape != s.scale.shape or s.shift.ndim != 1:
                raise ValueError("scaler statistics have inconsistent shapes")
        if cfg.get("range") is not None:
            lo, hi = cfg["range"]
            s.range = (float(lo), float(hi))
        return s

    def __repr__(self) -> str:
        return f"Scaler({self.kind!r})"
