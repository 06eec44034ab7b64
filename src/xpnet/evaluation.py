"""Scoring a model on data: the mean cost and accuracy over a set in inference mode, weighted or
not, and the held-out set a fit validates on after each epoch."""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import on_its_device, to_numpy
from .callbacks import Callback
from .edge import class_weights
from .epoch_metrics import compute
from .errors import positive_int
from .model import Model
from .sparse_rows import SparseRows

Array = Any


@on_its_device
def evaluate(model: Model, X: Any, y: Any, batch_size: int = 4096, n: Any = None,
             sample_weight: Any = None) -> dict[str, float]:
    """Mean cost (with the L2 term for a training set of size ``n``, the data size by default)
    and accuracy (classification heads) over (X, y), in chunks, in inference mode; with
    ``sample_weight`` (n,), both are weighted means over the examples (and ``n`` defaults to
    the total weight)."""
    X, Y = model.prepare(X, y)
    w = None if sample_weight is None else model.example_weights(sample_weight, X.shape[0])
    return evaluate_prepared(model, X, Y, positive_int("batch_size", batch_size), n, w)


def evaluate_prepared(model: Model, X: Array, Y: Array, batch_size: int, n: Any, w: Array = None,
                      kept: list[tuple[Array, Array]] | None = None) -> dict[str, float]:
    """[`evaluate`][xpnet.evaluation.evaluate] on prepared arrays; ``w`` the examples' weights as a
    column, or None; each chunk's ``(outputs, targets)`` appended to ``kept`` when given (for
    metrics, from the same forward pass)."""
    xp = model.backend.xp
    total, correct = 0.0, 0
    m = X.shape[0]
    mass = set_size(model, m, w)
    n = n if n is not None else mass
    for s in range(0, m, batch_size):
        e = min(s + batch_size, m)  # slices past the end are not in the standard
        Xb, Yb = X[s:e, :], Y[s:e, :]
        wb = None if w is None else w[s:e, :]
        if isinstance(Xb, SparseRows):   # a chunk of sparse rows, as the first layer takes them
            Xb = Xb.rows()
        C, out = model.loss_and_outputs(Xb, Yb, n=n, weights=wb)
        if kept is not None:
            kept.append((out, Yb))
        total = total + C * (Xb.shape[0] if wb is None else xp.sum(wb))
        if model.is_classifier:
            hits = model.decide(out) == model.target_classes(Yb)
            correct = correct + (xp.sum(xp.astype(hits, xp.int64)) if wb is None else
                                 xp.sum(xp.astype(hits, wb.dtype) * wb[:, 0]))
    result = {"loss": float(total) / mass}
    result["accuracy"] = float(correct) / mass if model.is_classifier else float("nan")
    return result


class Validation(Callback):
    """The held-out data, and its cost and accuracy after each epoch (in inference mode; the
    examples weighted by ``w`` if given), with the ``metrics`` asked for (``val_f1``, ...),
    added to the epoch's logs for the callbacks after it."""

    def __init__(self, X: Array, Y: Array, n: Any, w: Array = None,
                 metrics: list[str] | None = None):
        self.X, self.Y, self.n, self.w, self.metrics = X, Y, n, w, metrics or []

    def on_epoch_end(self, model: Model, epoch: int, logs: dict[str, float]) -> bool:
        chunks: list[tuple[Array, Array]] | None = [] if self.metrics else None
        v = evaluate_prepared(model, self.X, self.Y, 4096, self.n, self.w, chunks)
        logs.update(val_loss=v["loss"], val_accuracy=v["accuracy"])
        if chunks:
            logs.update({f"val_{k}": v for k, v in
                         outputs_metrics(model, self.metrics, chunks).items()})
        return False


def outputs_metrics(model: Model, metrics: list[str], chunks: list[tuple[Array, Array]]
                    ) -> dict[str, float]:
    """``metrics`` over batches' ``(outputs, targets)``: the scores and targets gathered on
    the device, read to the host once."""
    xp = model.backend.xp
    scores = to_numpy(xp.concat([model.scores(out) for out, _ in chunks]))
    targets = to_numpy(xp.concat([Y for _, Y in chunks]))
    return compute(metrics, targets.astype(np.float64), scores.astype(np.float64))


def held_out(model: Model, X: Any, y: Any, validation_data: tuple[Any, ...] | None,
              validation_split: float, sample_weight: Any = None, class_weight: Any = None,
              metrics: list[str] | None = None
              ) -> tuple[Array, Array, Array, Validation | None]:
    """The training data on the device (with its examples' weights, a column, or None), and
    the validation data: ``validation_data`` (``(X, y)`` or ``(X, y, w)``), or the last
    ``validation_split`` of (X, y) and its weights, or none. ``class_weight`` multiplies the
    training rows' weights by their class's ([`class_weights`][xpnet.edge.class_weights]), as Keras
    applies it: the validation figures stay as the data weighs them."""
    X_fit, Y_fit, w_fit, held = _split(model, X, y, validation_data, validation_split,
                                       sample_weight)
    if class_weight is not None:
        if not model.is_classifier:
            raise ValueError("class_weight weighs the classes of a classifier; this network "
                             "regresses real values (give sample_weight instead)")
        labels = to_numpy(model.target_classes(Y_fit))
        cw = class_weights(labels, class_weight, max(2, int(Y_fit.shape[1])))
        cw_col = model.backend.asarray(cw.reshape(-1, 1), Y_fit.dtype)
        w_fit = cw_col if w_fit is None else w_fit * cw_col
        if held is not None:   # the L2 term's n is the training rows' total weight
            held.n = set_size(model, X_fit.shape[0], w_fit)
    if held is not None:
        held.metrics = metrics or []
    return X_fit, Y_fit, w_fit, held


def _split(model: Model, X: Any, y: Any, validation_data: tuple[Any, ...] | None,
           validation_split: float, sample_weight: Any
           ) -> tuple[Array, Array, Array, Validation | None]:
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(f"validation_split must be in [0, 1), not {validation_split}")
    X, Y = model.prepare(X, y)
    w = None if sample_weight is None else model.example_weights(sample_weight, X.shape[0])
    if validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise TypeError("validation_data must be a pair (X_val, y_val) or a triple "
                            "(X_val, y_val, sample_weight_val)")
        X_val, Y_val = model.prepare(*validation_data[:2])
        w_val = model.example_weights(validation_data[2], X_val.shape[0]) \
            if len(validation_data) == 3 and validation_data[2] is not None else None
        return X, Y, w, Validation(X_val, Y_val, set_size(model, X.shape[0], w), w_val)
    if validation_split == 0.0:
        return X, Y, w, None
    n_all = X.shape[0]
    n_val = int(round(validation_split * n_all))
    if not 0 < n_val < n_all:
        raise ValueError(f"validation_split {validation_split} leaves no data on one side")
    cut = n_all - n_val
    w_fit, w_val = (None, None) if w is None else (w[:cut, :], w[cut:, :])
    X_fit, Y_fit = X[:cut, :], Y[:cut, :]
    held = Validation(X[cut:, :], Y[cut:, :], set_size(model, cut, w_fit), w_val)
    return X_fit, Y_fit, w_fit, held


def set_size(model: Model, m: int, w: Array) -> Any:
    """The size of a set of ``m`` rows, as the L2 term and the means count it: ``m``, or with
    the examples' weights ``w`` (a column) their total."""
    return m if w is None else float(model.backend.xp.sum(w))
