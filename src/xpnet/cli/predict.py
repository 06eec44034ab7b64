"""``xpnet predict``: a saved model's answers for new rows, as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from .. import datasets
from ..backend import to_numpy
from ..errors import DataError
from .common import model_inputs, say


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
    from .. import loading

    net = loading.load(args.model, backend=args.backend, device=args.device)
    X = model_inputs(net, _read_inputs(args.input, net.n_inputs), args.model)
    if not net.is_classifier:   # regression: the values
        values = to_numpy(net.forward(X))
        lines = ["index,prediction"] + [f"{i}," + ",".join(f"{v:.8g}" for v in row)
                                        for i, row in enumerate(values)]
    else:
        pred = to_numpy(net.predict(X))
        names = net.class_names
        lines = ["index,prediction"] + [
            f"{i},{names[c] if names and c < len(names) else c}" for i, c in enumerate(pred)]
    text = "\n".join(lines) + "\n"
    if args.out:
        from ..atomic import write_bytes

        write_bytes(Path(args.out), text.encode())
        say(args, f"wrote {len(pred)} predictions to {args.out}")
    else:
        sys.stdout.write(text)
    return 0
