"""What every command shares: the usage error and its exit status, where output goes (results
to stdout, progress to stderr), reading a dataset, naming it as a model records it, a model's
inputs from raw rows, and writing the metrics file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets
from ..errors import DataError

EXIT_USAGE = 2


class UsageError(ValueError):
    """A problem with what the user asked for; shown as one line, exit status 2."""


def say(args: argparse.Namespace, *parts: Any) -> None:
    """Progress and diagnostics: stderr (``--quiet`` silences them)."""
    if not getattr(args, "quiet", False):
        print(*parts, file=sys.stderr, flush=True)


def result(args: argparse.Namespace, *parts: Any) -> None:
    """A command's result: stdout, so that ``> out.txt`` keeps it (``--quiet`` hides progress,
    never results; of a data-parallel run's ranks, rank 0 alone prints them)."""
    if getattr(args, "show_results", True):
        print(*parts, flush=True)


def load_dataset(args: argparse.Namespace) -> datasets.Dataset:
    return datasets.load(args.dataset, data_dir=args.data_dir, label_column=args.label_column,
                         download=not args.no_download, progress=not args.quiet,
                         task=getattr(args, "task", None) or "auto")


def write_metrics(args: argparse.Namespace, metrics: dict[str, Any]) -> None:
    if args.metrics_out:
        from ..atomic import write_bytes

        path = Path(args.metrics_out)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(metrics, indent=2).encode())
        say(args, f"wrote metrics to {path}")


def dataset_key(spec: str) -> str:
    """A dataset as a model records it: a file or folder by its absolute path, else its name."""
    where = Path(spec)
    return str(where.resolve()) if where.exists() else spec


def check_rows(net: Any, X: np.ndarray, model: str) -> np.ndarray:
    """``X`` if its rows have the features ``net`` takes, else one line saying how many."""
    if X.ndim != 2 or X.shape[1] != net.n_inputs:
        raise DataError(f"inputs have {X.shape[-1]} features per example but {model} expects "
                        f"{net.n_inputs}")
    return X


def model_inputs(net: Any, X: np.ndarray, model: str) -> np.ndarray:
    """Raw rows as the engine takes them: checked, then scaled as the model was trained."""
    X = check_rows(net, X, model)
    dtype = np.float64 if net.dtype_name == "float64" else np.float32
    if not net.preprocessing:
        return X.astype(dtype)
    warning = net.preprocessing.range_warning(X)
    if warning:
        print(f"xpnet: warning: {warning}", file=sys.stderr)
    return net.preprocessing.transform(X, dtype)
