"""Small synthetic classification sets, generated in code, for demos and quick tests."""

from __future__ import annotations

import numpy as np

from .dataset import Dataset


def xor() -> Dataset:
    """The reference text's table: inputs 001, 011, 101, 111 -> 0, 1, 1, 0 (train = test)."""
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.int64)
    return Dataset("xor", X, y, X.copy(), y.copy(), ["0", "1"], scaling="none")


def spirals(n: int = 600, classes: int = 3, noise: float = 0.2, seed: int = 0) -> Dataset:
    """``classes`` interleaved spiral arms in the plane; 20% held out as a test split."""
    rng = np.random.default_rng(seed)
    per = n // classes
    X, y = [], []
    for c in range(classes):
        r = np.linspace(0.0, 1.0, per)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, per) + rng.normal(0.0, noise, per)
        X.append(np.column_stack([r * np.sin(t), r * np.cos(t)]))
        y.append(np.full(per, c))
    return _with_test_split("spirals", np.vstack(X), np.concatenate(y), classes, rng)


def moons(n: int = 600, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles; 20% held out as a test split."""
    rng = np.random.default_rng(seed)
    half = n // 2
    t = rng.uniform(0.0, np.pi, size=half)
    upper = np.column_stack([np.cos(t), np.sin(t)])
    lower = np.column_stack([1.0 - np.cos(t), 0.5 - np.sin(t)])
    X = np.vstack([upper, lower]) + rng.normal(0.0, noise, size=(2 * half, 2))
    y = np.concatenate([np.zeros(half, np.int64), np.ones(half, np.int64)])
    return _with_test_split("moons", X, y, 2, rng)


def _with_test_split(name, X, y, classes, rng) -> Dataset:
    order = rng.permutation(len(y))
    X, y = X[order], y[order].astype(np.int64)
    cut = int(0.8 * len(y))
    return Dataset(name, X[:cut], y[:cut], X[cut:], y[cut:], [str(c) for c in range(classes)],
                   scaling="standardize")
