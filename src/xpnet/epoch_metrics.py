"""Figures beyond the loss and the accuracy, computed every epoch while a model trains
(``fit(..., metrics=[...])``): on the outputs of the epoch's training batches and on the
held-out set, one read of each from the device per epoch.

* ``f1``: the macro F1, the mean over the classes of ``2 P R / (P + R)``;
* ``auc``: the area under the ROC curve, ``P(score of a positive > score of a negative)`` with
  ties counted half (the Mann-Whitney statistic); for more than two classes the mean over the
  classes of each against the rest (scikit-learn's ``multi_class="ovr"``, ``average="macro"``);
* ``top_k`` (``top_5``; ``top_3`` and so on): the fraction of rows whose class is among the k
  highest scores;
* ``r2``: ``1 - sum (y - p)^2 / sum (y - mean y)^2``; ``mae``: the mean absolute error.

Each takes the targets and the model's scores (class probabilities, or regressed values) as
NumPy arrays; a classifier's take its class figures, a regressor's the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .metrics import confusion_matrix, precision_recall_f1, regression_scores

CLASSIFIER = ("f1", "auc", "top_k")
REGRESSOR = ("r2", "mae")


def check(names: Sequence[str] | None, is_classifier: bool) -> list[str]:
    """The metrics asked for, checked against what this kind of model reports."""
    names = list(names or [])
    fits = CLASSIFIER if is_classifier else REGRESSOR
    for name in names:
        base = "top_k" if re.fullmatch(r"top_(k|\d+)", name) else name
        if base not in (*CLASSIFIER, *REGRESSOR):
            raise ValueError(f"unknown metric {name!r}; valid: f1, auc, top_k (top_3, ...), "
                             "r2, mae")
        if base not in fits:
            kind = "a classifier" if is_classifier else "a regressor"
            raise ValueError(f"{name} is not a figure of {kind}; {kind} reports "
                             f"{', '.join(fits)}")
    return names


def compute(names: Sequence[str], Y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Each metric of ``names`` for targets ``Y`` (one-hot rows, a 0/1 column, or values) and
    ``scores`` of the same shape."""
    out: dict[str, float] = {}
    for name in names:
        if name == "f1":
            out[name] = macro_f1(Y, scores)
        elif name == "auc":
            out[name] = roc_auc(Y, scores)
        elif name.startswith("top_"):
            out[name] = top_k(Y, scores, 5 if name == "top_k" else int(name[4:]))
        elif name == "r2":
            out[name] = regression_scores(Y.ravel(), scores.ravel())["r2"]
        else:
            out[name] = float(np.mean(np.abs(Y - scores)))
    return out


def classes(A: np.ndarray) -> np.ndarray:
    """The class of each row of targets or scores: the argmax, or ``>= 0.5`` for one column."""
    return (A[:, 0] >= 0.5).astype(np.int64) if A.shape[1] == 1 else A.argmax(axis=1)


def macro_f1(Y: np.ndarray, scores: np.ndarray) -> float:
    k = max(2, Y.shape[1])
    return float(precision_recall_f1(confusion_matrix(classes(Y), classes(scores), k))["f1"]
                 .mean())


def roc_auc(Y: np.ndarray, scores: np.ndarray) -> float:
    if Y.shape[1] == 1:
        return _binary_auc(Y[:, 0] >= 0.5, scores[:, 0])
    return float(np.mean([_binary_auc(Y[:, c] >= 0.5, scores[:, c])
                          for c in range(Y.shape[1])]))


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney: the mean rank of the positives, ties sharing their average rank."""
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")   # undefined with one class only
    order = np.argsort(score, kind="mergesort")
    s = score[order]
    first = np.r_[True, s[1:] != s[:-1]]             # where each run of equal scores starts
    starts = np.flatnonzero(first)
    ends = np.r_[starts[1:], len(s)] - 1
    ranks = np.empty(len(s))
    ranks[order] = ((starts + ends) / 2.0 + 1.0)[np.cumsum(first) - 1]
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def top_k(Y: np.ndarray, scores: np.ndarray, k: int) -> float:
    truth = classes(Y)
    best = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean((best == truth[:, None]).any(axis=1)))
