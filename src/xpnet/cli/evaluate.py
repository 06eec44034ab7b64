"""``xpnet evaluate``: a saved model scored on a dataset's test rows, its own test set or the
rows its training held out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .. import datasets
from ..backend import to_numpy
from ..errors import DataError
from ..metrics import regression_scores
from .common import UsageError, dataset_key, load_dataset, model_inputs


def cmd_evaluate(args: argparse.Namespace) -> int:
    """``xpnet evaluate``: score a model on a dataset's test rows: its own test set, or the rows
    the model's training held out (the split it records), or else all rows, saying which."""
    from .. import loading
    from ..metrics import accuracy, confusion_matrix, report

    net = loading.load(args.model, backend=args.backend, device=args.device,
                       precision=args.precision)
    X, y, which = _rows_to_score(args, net)
    X = model_inputs(net, X, args.model)
    if not net.is_classifier:
        if net.n_outputs != 1:
            raise DataError(f"{args.model} predicts {net.n_outputs} values per example; a CSV "
                            "label column holds one")
        scores = regression_scores(y, to_numpy(net.forward(X))[:, 0])
        print(f"RMSE {scores['rmse']:.6g}  MAE {scores['mae']:.6g}  R^2 {scores['r2']:.4f} "
              f"on {which}")
        return 0
    k = max(2, net.n_outputs)
    if int(y.max(initial=0)) >= k:
        raise DataError(f"labels go up to {int(y.max())} but {args.model} knows {k} classes")
    pred = to_numpy(net.predict_index(X))
    C = confusion_matrix(y, pred, k)
    print(f"accuracy {accuracy(y, pred):.4f} on {which}")
    print(report(C, net.class_names))
    return 0


def _rows_to_score(args: argparse.Namespace, net: Any) -> tuple[Any, Any, str]:
    """The rows ``evaluate`` scores, and a phrase saying which they are."""
    record = net.training_data or {}
    spec = args.dataset or record.get("dataset")
    if spec is None:
        if net.n_inputs != 784:
            raise UsageError(f"{args.model} records no dataset; name the data to score with "
                             "--dataset DATA")
        spec = "mnist"
    same = record.get("dataset") == dataset_key(spec)
    opts = argparse.Namespace(**vars(args))
    opts.dataset = spec
    opts.task = "classification" if net.is_classifier else "regression"   # the model's own
    if opts.label_column is None:
        opts.label_column = record.get("label_column", -1) if same else -1
    ds = load_dataset(opts)
    name = Path(spec).name if Path(spec).exists() else spec
    if ds.X_test is not None:
        assert ds.y_test is not None
        return ds.X_test, ds.y_test, f"the {len(ds.y_test)} test examples of {name}"
    if same and record.get("test_split"):
        fraction, seed = record["test_split"], record.get("seed", 0)
        _, _, X, y = datasets.split(ds.X_train, ds.y_train, fraction, seed)
        return X, y, (f"the {len(y)} rows of {name} that training held out (test split "
                      f"{fraction}, seed {seed})")
    trained = " (training rows included)" if same else ""
    return ds.X_train, ds.y_train, f"all {len(ds.y_train)} rows of {name}{trained}"
