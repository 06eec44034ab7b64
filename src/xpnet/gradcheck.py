"""Gradient checking: backpropagation against central finite differences.

For a parameter entry w, the numerical derivative is ``(C(w + h) - C(w - h)) / (2h)``, whose
error is O(h^2) (truncation) plus O(eps_machine |C| / h) (rounding); in float64 with h = 1e-6
both are far below the 1e-6 relative error a correct backward pass reaches.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from .backend import BackendError, on_its_device, to_numpy
from .model import Model


class _Convertible(Model, Protocol):
    def to(self, backend: Any = None, device: Any = None, dtype: str | None = None) -> Any:
        ...


@on_its_device
def gradcheck(
    model: _Convertible, X: Any, Y: Any, *, eps: float = 1e-6, max_entries: int | None = 200,
    seed: int = 0,
) -> float:
    """Largest relative error, over the parameter arrays, between backprop and central
    differences of the model's cost (in inference mode: dropout off, so the cost is
    deterministic).

    The error of one array is ``||g_bp - g_fd|| / (||g_bp|| + ||g_fd||)`` over the checked
    entries: all of them, or ``max_entries`` drawn at random from larger arrays. A model that
    is not float64 is checked on a float64 copy (finite differences in float32 measure rounding,
    not correctness). Values around 1e-9 mean the gradients are right; above 1e-4, wrong.
    """
    if "float64" not in model.backend.dtypes():
        raise BackendError(
            f"gradcheck compares in float64, which {model.backend.describe()} lacks; check a copy "
            "on a device that has it, e.g. gradcheck(net.to(backend='numpy'), X, Y)")
    if model.dtype_name != "float64":
        model = model.to(dtype="float64")
    X, Y = model.prepare(X, Y)
    be = model.backend
    _, analytic, _ = model.loss_and_grads(X, Y, training=False)
    params = dict(model.named_parameters())
    pick = np.random.default_rng(seed)
    worst = 0.0
    for name, p in params.items():
        base = to_numpy(p).astype(np.float64)
        flat_idx = np.arange(base.size)
        if max_entries is not None and base.size > max_entries:
            flat_idx = pick.choice(base.size, size=max_entries, replace=False)
        numeric = np.empty(flat_idx.size)
        for j, i in enumerate(flat_idx):
            costs = []
            for step in (eps, -eps):
                trial = base.copy()
                trial.flat[i] += step
                costs.append(model.loss_and_outputs(
                    X, Y, params={**params, name: be.asarray(trial, p.dtype)})[0])
            numeric[j] = (float(costs[0]) - float(costs[1])) / (2 * eps)
        exact = to_numpy(analytic[name]).astype(np.float64).ravel()[flat_idx]
        scale = np.linalg.norm(exact) + np.linalg.norm(numeric)
        if scale > 0:
            worst = max(worst, float(np.linalg.norm(exact - numeric) / scale))
    return worst
