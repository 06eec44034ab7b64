"""Classification metrics on arrays of class indices: accuracy, the confusion matrix,
per-class precision / recall / F1, and k-fold splits for cross-validation. Inputs may be arrays
of any backend on any device; they are copied to the host once and counted there."""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import to_numpy


def _labels(y: Any) -> np.ndarray:
    return np.asarray(to_numpy(y)).astype(np.int64).ravel()


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of examples whose predicted class equals the true class."""
    t, p = _labels(y_true), _labels(y_pred)
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} true labels but {p.shape[0]} predictions")
    return float((t == p).mean()) if t.size else float("nan")


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class i predicted as class j."""
    t, p = _labels(y_true), _labels(y_pred)
    k = n_classes if n_classes is not None else int(max(t.max(initial=0), p.max(initial=0))) + 1
    C = np.zeros((k, k), dtype=np.int64)
    np.add.at(C, (t, p), 1)
    return C


def precision_recall_f1(C: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision TP/(TP+FP), recall TP/(TP+FN) and F1 (their harmonic mean) from a
    confusion matrix; 0 where a denominator is 0."""
    C = to_numpy(C).astype(np.float64)
    tp = np.diag(C)
    predicted, actual = C.sum(axis=0), C.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": actual}


def report(C: np.ndarray, class_names: list[str] | None = None) -> str:
    """A text table: the confusion matrix, then precision / recall / F1 per class."""
    C = to_numpy(C)
    k = C.shape[0]
    names = class_names or [str(i) for i in range(k)]
    w = max(6, max(len(n) for n in names), len(str(int(C.max(initial=0)))) + 1)
    lines = ["confusion matrix (rows: true class, columns: predicted)",
             " " * w + "".join(f" {n:>{w}}" for n in names)]   # a space between columns
    for i in range(k):
        lines.append(f"{names[i]:>{w}}" + "".join(f" {int(v):>{w}}" for v in C[i]))
    m = precision_recall_f1(C)
    lines += ["", f"{'class':>{w}} {'precision':>9} {'recall':>9} {'f1':>9} {'support':>8}"]
    for i in range(k):
        lines.append(f"{names[i]:>{w}} {m['precision'][i]:9.4f} {m['recall'][i]:9.4f} "
                     f"{m['f1'][i]:9.4f} {int(m['support'][i]):8d}")
    lines.append(f"{'macro':>{w}} {m['precision'].mean():9.4f} {m['recall'].mean():9.4f} "
                 f"{m['f1'].mean():9.4f} {int(m['support'].sum()):8d}")
    return "\n".join(lines)


def regression_scores(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Root-mean-square error, mean absolute error and the coefficient of determination
    ``R^2 = 1 - sum (y - p)^2 / sum (y - mean y)^2`` of real-valued predictions."""
    t = to_numpy(y_true).astype(np.float64).ravel()
    p = to_numpy(y_pred).astype(np.float64).ravel()
    if t.shape != p.shape:
        raise ValueError(f"{t.shape[0]} targets but {p.shape[0]} predictions")
    residual = t - p
    total = float(np.sum((t - t.mean()) ** 2))
    return {"rmse": float(np.sqrt(np.mean(residual**2))), "mae": float(np.mean(np.abs(residual))),
            "r2": 1.0 - float(np.sum(residual**2)) / total if total > 0 else float("nan")}


def kfold(n: int, k: int, seed: int | None = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train_indices, test_indices) pairs; each example is in exactly one test fold."""
    if not 2 <= k <= n:
        raise ValueError(f"k-fold cross-validation needs 2 <= k <= {n} examples, not k={k}")
    order = np.random.default_rng(seed).permutation(n)
    folds = np.array_split(order, k)
    return [(np.concatenate(folds[:i] + folds[i + 1:]), folds[i]) for i in range(k)]
