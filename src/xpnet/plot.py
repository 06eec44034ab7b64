"""Pictures of a training run (needs the optional extra: ``pip install "xpnet[plot]"``).

* training curves: loss and accuracy per epoch, training and validation
* the confusion matrix of a test set
* a grid of misclassified test images with their true and predicted labels (image data)
* the first layer's weights, one image per hidden unit (image data)

Every function writes one PNG and returns its path; [`all_figures`][xpnet.plot.all_figures] writes
the set.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .backend import to_numpy


def pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            'plotting needs matplotlib: pip install "xpnet[plot]"'
        ) from None
    matplotlib.use("Agg")  # files only; no display needed
    import matplotlib.pyplot as plt

    return plt


def training_curves(history: Any, path: str | Path) -> Path:
    """Loss and accuracy per epoch, training (solid) and validation (dashed)."""
    plt = pyplot()
    h = history if isinstance(history, dict) else history.as_dict()
    epochs = h["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, h["loss"], "o-", label="training")
    if not all(math.isnan(v) for v in h["val_loss"]):
        ax_loss.plot(epochs, h["val_loss"], "s--", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cost", title="Cost per epoch")
    ax_loss.set_yscale("log")
    has_acc = not all(math.isnan(v) for v in h["accuracy"])
    if has_acc:
        ax_acc.plot(epochs, [100 * a for a in h["accuracy"]], "o-", label="training")
        if not all(math.isnan(v) for v in h["val_accuracy"]):
            ax_acc.plot(epochs, [100 * a for a in h["val_accuracy"]], "s--", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy per epoch")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    return _save(fig, plt, path)


def confusion(C: np.ndarray, path: str | Path, class_names: list[str] | None = None,
              title: str = "Confusion matrix") -> Path:
    """The confusion matrix as a heat map with counts (rows: true class, columns: predicted)."""
    plt = pyplot()
    C = to_numpy(C)
    k = C.shape[0]
    names = class_names or [str(i) for i in range(k)]
    size = max(5.0, 0.55 * k + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    # a log-like colour scale keeps the off-diagonal errors visible beside the large diagonal
    im = ax.imshow(np.log1p(C), cmap="Blues")
    ax.set(xticks=range(k), yticks=range(k), xticklabels=names, yticklabels=names,
           xlabel="predicted class", ylabel="true class", title=title)
    threshold = np.log1p(C).max() / 2
    for i in range(k):
        for j in range(k):
            if C[i, j]:
                ax.text(j, i, str(int(C[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if np.log1p(C[i, j]) > threshold else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, label="log(1 + count)")
    return _save(fig, plt, path)


def misclassified(X: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                  image_shape: tuple[int, ...], path: str | Path,
                  class_names: list[str] | None = None, limit: int = 36) -> Path:
    """A grid of up to ``limit`` misclassified images, titled ``true -> predicted``. The
    arrays may live on any backend's device; they are copied to the host once."""
    plt = pyplot()
    X, y_true, y_pred = to_numpy(X), to_numpy(y_true), to_numpy(y_pred)
    all_wrong = np.flatnonzero(y_true != y_pred)
    wrong = all_wrong[:limit]
    names = class_names or [str(i) for i in range(int(max(y_true.max(), y_pred.max())) + 1)]
    cols = max(1, min(6, len(wrong)))
    rows = max(1, math.ceil(len(wrong) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.8 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, i in zip(axes.ravel(), wrong):
        ax.imshow(X[i].reshape(image_shape), cmap="gray_r")
        ax.set_title(f"{names[y_true[i]]} -> {names[y_pred[i]]}", fontsize=9, color="crimson")
    fig.suptitle(f"the first {len(wrong)} of {len(all_wrong)} misclassified test images "
                 "(true -> predicted)" if len(wrong) else "no misclassified test images")
    return _save(fig, plt, path)


def first_layer_weights(net: Any, image_shape: tuple[int, ...], path: str | Path,
                        limit: int = 64, active: np.ndarray | None = None) -> Path:
    """Each of the first ``limit`` hidden units' incoming weights drawn as an image (red
    positive, blue negative, symmetric scale per unit). ``active`` (one flag per input) blanks
    the pixels that are zero in every image: they never receive a gradient, so they only show
    the random initialisation."""
    plt = pyplot()
    W = to_numpy(net.dense_layers[0].W).astype(np.float64)
    if active is not None:
        W = W * to_numpy(active).astype(np.float64)[:, None]
    n = min(limit, W.shape[1])
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.3 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    im = None
    for j, ax in enumerate(axes.ravel()[:n]):
        w = W[:, j].reshape(image_shape)
        m = float(np.abs(w).max()) or 1.0
        im = ax.imshow(w / m, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    fig.suptitle(f"first-layer weights of {n} of {W.shape[1]} hidden units")
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.03, pad=0.02,
                     label="weight / the unit's largest |weight|")
    return _save(fig, plt, path, tight=False)


def all_figures(directory: str | Path, net: Any, history: Any, X_test: Any = None,
                y_test: Any = None, X_test_raw: Any = None,
                image_shape: tuple[int, ...] | None = None) -> list[Path]:
    """Write every figure that applies into ``directory``; returns the paths written.

    ``X_test`` is the preprocessed test input (for predictions); ``X_test_raw`` the images as
    they look (for the misclassified grid). Arrays may be NumPy arrays or arrays of the
    network's backend on its device."""
    from .metrics import confusion_matrix

    directory = Path(directory)
    out = [training_curves(history, directory / "training_curves.png")]
    if X_test is not None and y_test is not None:
        pred = to_numpy(net.predict_index(X_test))
        y = to_numpy(y_test)
        k = max(2, net.n_outputs)
        out.append(confusion(confusion_matrix(y, pred, k), directory / "confusion_matrix.png",
                             net.class_names,
                             title=f"Confusion matrix, test set ({len(y)} examples)"))
        if image_shape is not None:
            raw = X_test_raw if X_test_raw is not None else X_test
            out.append(misclassified(raw, y, pred, image_shape,
                                     directory / "misclassified.png", net.class_names))
    if image_shape is not None:
        active = to_numpy(X_test_raw).max(axis=0) > 0 if X_test_raw is not None else None
        out.append(first_layer_weights(net, image_shape, directory / "first_layer_weights.png",
                                       active=active))
    return out


def _save(fig: Any, plt: Any, path: str | Path, tight: bool = True) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
