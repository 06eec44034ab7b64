"""k-fold cross-validation over the fit loop: a fresh model and scaler per fold, scored on the
fold held out."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from . import optim
from .evaluation import evaluate
from .train import fit


def cross_validate(make_network: Any, X: np.ndarray, y: np.ndarray, k: int = 5,
                   scaling: str = "standardize", seed: int | None = 0,
                   report: bool | None = None, **fit_kwargs: Any) -> dict[str, Any]:
    """k-fold cross-validation: for each fold, a fresh model from ``make_network()``, a scaler
    fitted on the training folds only, [`xpnet.train.fit`][xpnet.train.fit], and the accuracy on the
    held-out fold. ``report`` prints one line per fold (by default when ``progress`` is
    on)."""
    if report is None:
        report = fit_kwargs.get("progress", True)
    from .metrics import kfold
    from .preprocess import Scaler

    scores = []
    opt = fit_kwargs.pop("optimizer", "sgd")
    for fold, (tr, te) in enumerate(kfold(len(y), k, seed), start=1):
        net = make_network()
        # each fold starts from fresh optimizer state
        fit_kwargs["optimizer"] = optim.from_config(opt.config()) \
            if isinstance(opt, optim.Optimizer) else opt
        scaler = Scaler(scaling).fit(X[tr])
        dtype = np.float64 if net.dtype_name == "float64" else np.float32
        fit(net, scaler.transform(X[tr], dtype), y[tr], **fit_kwargs)
        acc = evaluate(net, scaler.transform(X[te], dtype), y[te])["accuracy"]
        scores.append(acc)
        if report:
            print(f"fold {fold}/{k}: accuracy {acc:.4f}",
                  file=fit_kwargs.get("stream") or sys.stderr)
    return {"fold_accuracy": scores, "mean": float(np.mean(scores)), "std": float(np.std(scores))}
