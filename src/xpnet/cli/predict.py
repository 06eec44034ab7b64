"""``xpnet predict``: a saved model's answers for new rows, as CSV."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from .. import datasets
from ..backend import to_numpy
from ..errors import DataError
from .common import check_rows, say


def _read_inputs(path: str, n_inputs: int) -> np.ndarray:
    p = Path(path)
    if p.suffix == ".npy":
        try:
            X = np.load(p, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"{p}: file not found") from None
        except (ValueError, OSError) as exc:
            raise DataError(f"{p}: not a readable .npy array ({exc})") from None
        return X.reshape(len(X), -1)
    if "idx" in p.name:
        X = datasets.read_idx(p)
        return X.reshape(X.shape[0], -1)
    from ..datasets.tabular import read_matrix

    return read_matrix(p, n_inputs)


def cmd_predict(args: argparse.Namespace) -> int:
    """``xpnet predict``: the model's answers for raw rows, as ``xpnet.load(path).predict``
    gives them (its input scaling applied, its class labels), one CSV line per row."""
    from .. import loading

    net = loading.load(args.model, backend=args.backend, device=args.device,
                       precision=args.precision)
    X = check_rows(net, _read_inputs(args.input, net.n_inputs), args.model)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        answers = to_numpy(net.predict(X))
    for w in caught:
        print(f"xpnet: warning: {w.message}", file=sys.stderr)
    rows = answers.reshape(len(answers), -1)
    lines = ["index,prediction"] + [
        f"{i}," + ",".join(f"{v:.8g}" if isinstance(v, float) else str(v) for v in row.tolist())
        for i, row in enumerate(rows)]
    text = "\n".join(lines) + "\n"
    if args.out:
        from ..atomic import write_bytes

        write_bytes(Path(args.out), text.encode())
        say(args, f"wrote {len(rows)} predictions to {args.out}")
    else:
        sys.stdout.write(text)
    return 0
