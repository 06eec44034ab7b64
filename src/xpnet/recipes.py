"""Default training settings per kind of dataset: what ``xpnet train`` uses when a flag is not
given. Each recipe was chosen by measurement; the README records the figures.
"""

from __future__ import annotations

from typing import Any

from .datasets import Dataset

# MNIST and other 28x28 IDX image sets: reaches >= 98% test accuracy on MNIST in well under a
# minute on a laptop-class CPU (the README gives the command and the figures of a run).
IMAGES = {
    "hidden": [512, 512], "activation": "relu", "optimizer": "momentum", "lr": 0.05,
    "momentum": 0.9, "batch_size": 128, "epochs": 20, "schedule": "cosine", "dropout": 0.2,
    "l2": 0.0,
}
# Small tables (the wheat seeds): a modest hidden layer, Adam, many cheap epochs.
TABLE = {
    "activation": "tanh", "optimizer": "adam", "lr": 0.01, "batch_size": 16, "epochs": 150,
    "schedule": "constant", "dropout": 0.0, "l2": 0.0,
}
TOY = {
    "xor": {"hidden": [8], "activation": "tanh", "optimizer": "adam", "lr": 0.05,
            "batch_size": 4, "epochs": 300},
    "spirals": {"hidden": [64, 64], "activation": "relu", "optimizer": "adam", "lr": 0.01,
                "batch_size": 32, "epochs": 200},
    "moons": {"hidden": [32], "activation": "relu", "optimizer": "adam", "lr": 0.01,
              "batch_size": 32, "epochs": 100},
}


def for_dataset(ds: Dataset) -> dict[str, Any]:
    """The default settings for ``ds``."""
    base = {"momentum": 0.9, "schedule": "constant", "dropout": 0.0, "l2": 0.0}
    if ds.name in TOY:
        return {**base, **TOY[ds.name]}
    if ds.image_shape is not None:
        return dict(IMAGES)
    hidden = [min(64, max(8, 2 * ds.n_features))]
    return {**base, **TABLE, "hidden": hidden}


def head(n_classes: int, output: str | None, loss: str | None) -> tuple[int, str, str]:
    """(outputs, output activation, loss): one sigmoid unit with binary cross-entropy for two
    classes, softmax with cross-entropy for more; explicit choices are respected."""
    if output is None:
        output = "sigmoid" if n_classes == 2 else "softmax"
    n_out = 1 if n_classes == 2 and output == "sigmoid" else n_classes
    if loss is None:
        if output == "softmax":
            loss = "cross_entropy"
        elif output == "sigmoid" and n_out == 1:
            loss = "binary_cross_entropy"
        else:
            loss = "mse"
    return n_out, output, loss
