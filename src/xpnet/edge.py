"""The network's edge: what users hand a model (inputs, targets, example weights) checked and
placed on its device once, as the engine takes them.

Inputs that come from the host are checked there (finite, the right shape), where reading them
costs nothing; arrays already on the device are taken as they are, so that a training step
never waits on a GPU to check its batch. A SciPy sparse matrix stays on the host
([`xpnet.sparse_rows.SparseRows`][xpnet.sparse_rows.SparseRows]).
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import array_api_extra as xpx
import numpy as np

from .backend import Backend, to_numpy
from .sparse_rows import SparseRows, is_sparse, stays_sparse

Array = Any


def inputs(backend: Backend, dtype: Any, X: Any, n_inputs: int, dense_first: bool = True
           ) -> Array:
    """``X`` as an array (examples, n_inputs) of ``dtype`` on ``backend``'s device, checked:
    2-D, at least one row, ``n_inputs`` features, and (for host data) finite. Sparse ``X``
    stays sparse, its batches CSR for a first Dense layer where that pays
    ([`xpnet.sparse_rows.stays_sparse`][xpnet.sparse_rows.stays_sparse])."""
    if is_sparse(X):
        rows = SparseRows(X, backend, dtype, direct=dense_first and stays_sparse(X, backend))
        if rows.shape[0] == 0:
            raise ValueError("X has no examples (0 rows)")
        if rows.shape[1] != n_inputs:
            raise ValueError(f"X has {rows.shape[1]} features per example but the network "
                             f"expects {n_inputs}")
        return rows
    if isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        check_finite_on_host(X)
    try:
        X = backend.asarray(X, dtype)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"X must be a 2-D array of numbers ({exc})") from None
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (examples, features); got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError("X has no examples (0 rows)")
    if X.shape[1] != n_inputs:
        raise ValueError(
            f"X has {X.shape[1]} features per example but the network expects {n_inputs}")
    return X


def check_finite_on_host(X: Any) -> None:
    """Refuse host inputs holding NaN or infinity, naming the first (what cannot be read as
    numbers is left to the conversion, which says so)."""
    try:
        host = np.asarray(X)
    except (ValueError, TypeError):
        return
    if host.dtype.kind in "biuf" and host.size and not np.isfinite(host).all():
        bad = np.argwhere(~np.isfinite(host))[0]
        where = f"row {bad[0]}" + (f", column {bad[1]}" if host.ndim == 2 else "")
        raise ValueError(f"X holds {host[tuple(bad)]} at {where}: inputs must be finite "
                         "numbers (impute or drop the missing values first)")


def targets(backend: Backend, dtype: Any, Y: Any, n_examples: int, k: int) -> Array:
    """Targets as float rows (n, k) on the device: one-hot from integer labels (n,) in
    [0, k), a column from (n,) floats or labels when ``k`` is 1, else (n, k) as given. The
    labels' range is checked on the host when they came from there, else in one read."""
    xp = backend.xp
    host = None   # the labels as given on the host, when they were: checked there, free
    if not backend.owns(Y) or isinstance(Y, np.ndarray):
        # float targets cross to the device in the network's dtype
        Y = np.asarray(to_numpy(Y))
        if Y.dtype.kind not in "biuf":
            raise ValueError(
                f"Y must hold numbers: integer class labels 0..{k - 1} or float targets, "
                f"not {Y.dtype} values; map the labels to integers first (or use "
                "xpnet.sklearn.MLPClassifier, which takes labels of any kind)")
        host = Y
        Y = backend.asarray(Y, dtype if Y.dtype.kind == "f" else None)
    Y = backend.asarray(Y)
    if Y.ndim == 0 or Y.shape[0] != n_examples:
        got = "a scalar" if Y.ndim == 0 else f"{Y.shape[0]}"
        raise ValueError(f"X has {n_examples} examples but Y has {got}")
    integral = xp.isdtype(Y.dtype, ("integral", "bool"))
    if Y.ndim == 1 and integral and k > 1:
        lo, hi = label_range(xp, host, Y)
        if lo < 0 or hi >= k:
            raise ValueError(
                f"labels must be integers in [0, {k - 1}] for {k} outputs; found {lo}..{hi}")
        return xpx.one_hot(Y, k, dtype=dtype, xp=xp)
    Y = xp.astype(Y, dtype) if Y.dtype != dtype else Y
    if Y.ndim == 1 and k == 1:
        return xp.reshape(Y, (n_examples, 1))
    if Y.ndim != 2 or Y.shape[1] != k:
        raise ValueError(
            f"Y must be integer labels (n,) or an (n, {k}) array; got shape {tuple(Y.shape)}")
    return Y


def label_range(xp: Any, host: np.ndarray | None, Y: Array) -> tuple[int, int]:
    """The smallest and largest label: from the host copy when the labels came from the host
    (no device read), else in one read of both from the device."""
    if host is not None and host.size:
        return int(host.min()), int(host.max())
    lo_hi = to_numpy(xp.stack([xp.min(Y), xp.max(Y)]))
    return int(lo_hi[0]), int(lo_hi[1])


def example_weights(backend: Backend, dtype: Any, weights: Any, n_examples: int) -> Array:
    """Per-example weights as a column (n, 1) of ``dtype`` on the device, checked: finite,
    one per example, and not all zero."""
    w = np.asarray(to_numpy(weights), dtype=np.float64)
    if w.ndim != 1 or w.shape[0] != n_examples:
        raise ValueError(f"sample weights must be one number per example, shape "
                         f"({n_examples},); got shape {w.shape}")
    if not np.isfinite(w).all():
        raise ValueError("sample weights must be finite")
    if not w.any():
        raise ValueError("sample weights are all zero: no example would count")
    return backend.asarray(w.reshape(-1, 1), dtype)


def class_weights(labels: np.ndarray, class_weight: Any, k: int) -> np.ndarray:
    """Each example's weight from its class (``labels``, indices 0..k-1 on the host):
    ``class_weight`` a dict ``{class index: weight}`` (classes not named weigh 1), or
    ``"balanced"``, scikit-learn's ``n / (k * count of the class)`` over the classes present,
    so that every class weighs the same in all."""
    labels = np.asarray(labels, dtype=np.int64)
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight must be a dict {{class: weight}} or 'balanced', not "
                             f"{class_weight!r}")
        counts = np.bincount(labels, minlength=k).astype(np.float64)
        present = counts > 0
        per_class = np.ones(k)
        per_class[present] = len(labels) / (present.sum() * counts[present])
        return per_class[labels]
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class: weight}} or 'balanced', not "
                        f"{type(class_weight).__name__}")
    per_class = np.ones(k)
    for c, wc in class_weight.items():
        if not (isinstance(c, (int, np.integer)) and 0 <= int(c) < k):
            raise ValueError(f"class_weight names class {c!r}; the classes are 0..{k - 1}")
        if not (np.isfinite(wc) and wc >= 0):
            raise ValueError(f"class_weight[{c!r}] must be a finite number >= 0, not {wc}")
        per_class[int(c)] = float(wc)
    return per_class[labels]


def shares(xp: Any, weights: Array, n: Any) -> tuple[Array, Any]:
    """Each row's share ``w_i / sum w`` of the batch's mean, for the column of example
    ``weights``, and the L2 term's ``n`` (``sum w`` unless given). A batch whose weights sum to
    zero counts ``M`` for the sum, so that its rows' shares are zero and its L2 term is an
    unweighted batch's."""
    total = xp.sum(weights)
    total = xp.where(total == 0, xp.ones_like(total) * weights.shape[0], total)
    return weights / total, total if n is None else n
