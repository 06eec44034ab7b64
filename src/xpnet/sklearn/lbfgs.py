"""The full-batch solver (``solver="lbfgs"``): SciPy's L-BFGS over the flattened parameters,
with the cost of the whole training set and its gradient computed by xpnet on its backend."""

from __future__ import annotations

import sys
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ..backend import to_numpy
from ..network import Network
from ..sparse_rows import SparseRows
from ..step import gemm_flops, layer_sizes
from .arrays import kind_of


def whole_set(net: Network, X: Any, Y: Any, w: np.ndarray | None, chunk: int = 4096
               ) -> tuple[Any, int]:
    """The cost and gradients of the whole training set as one function of the parameters
    (for a full-batch solver), and the set's size. Dense X is one pass; sparse X is taken
    ``chunk`` rows at a time, each densified, and the chunks' costs and gradients are added
    with their shares of the set (of its rows, or of its weight): exact, since the cost is a
    mean and the L2 term is the set's (its ``n`` the whole set's), and never the whole matrix
    dense at once."""
    Xd, Yd = net.prepare(X, Y)
    m = Xd.shape[0]
    Wd = None if w is None else net.example_weights(w, m)
    mass = float(m) if w is None else float(np.sum(w))
    parts = [(Xd, Yd, Wd, 1.0)]
    if isinstance(Xd, SparseRows):
        bounds = [(s, min(s + chunk, m)) for s in range(0, m, chunk)]
        parts = [(Xd[s:e, :], Yd[s:e, :], None if Wd is None else Wd[s:e, :],
                  (e - s if w is None else float(np.sum(w[s:e]))) / mass) for s, e in bounds]

    def objective(params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
        total = 0.0
        grads: dict[str, Any] = {}
        for Xc, Yc, Wc, share in parts:
            Xc = Xc.rows() if isinstance(Xc, SparseRows) else Xc
            C, g, _ = net.loss_and_grads(Xc, Yc, n=mass, scale=share, training=False,
                                         params=params, weights=Wc)
            total += share * float(C)
            grads = g if not grads else {k: grads[k] + g[k] for k in g}
        return total, grads

    return objective, m



class LbfgsFit:
    """The L-BFGS fit, mixed into the estimators."""

    def _fit_lbfgs(self: Any, X: Any, Y: Any, sample_weight: np.ndarray | None) -> Any:
        """Full-batch L-BFGS over the flattened parameters, as scikit-learn does it
        (``scipy.optimize.minimize``, method L-BFGS-B, ``max_iter``, ``max_fun``, ``tol`` as the
        gradient tolerance), the cost ``C0 + alpha/(2n) ||W||^2`` (with ``sample_weight``, C0
        the weighted mean and n the total weight) and its gradient computed by xpnet on its
        backend (sparse X a chunk of rows at a time, [`whole_set`][xpnet.sklearn.lbfgs.whole_set]).
        Each function evaluation reads the cost and the gradient back to the host, one round trip
        per evaluation: inherent to SciPy's L-BFGS."""
        from scipy.optimize import minimize

        net, be = self.network_, self.network_.backend
        net.l2 = float(self.alpha)
        objective, n = whole_set(net, X, Y, self._class_weighted(Y, sample_weight))
        like = net.named_parameters()
        names, shapes = list(like), [tuple(p.shape) for p in like.values()]
        ends = np.cumsum([int(np.prod(shape)) for shape in shapes])

        def unpack(flat: np.ndarray) -> dict[str, Any]:
            parts = np.split(flat, ends[:-1])
            return {k: be.asarray(part.reshape(shape), net.dtype)
                    for k, part, shape in zip(names, parts, shapes)}

        def cost(flat: np.ndarray) -> tuple[float, np.ndarray]:
            C, grads = objective(unpack(flat))
            return C, np.concatenate([to_numpy(g).ravel() for g in grads.values()]
                                     ).astype(np.float64)

        start = np.concatenate([to_numpy(p).ravel() for p in like.values()]).astype(np.float64)
        done = [0]

        def report(intermediate_result: Any) -> None:   # verbose: a line per iteration
            done[0] += 1
            print(f"Iteration {done[0]}, loss = {intermediate_result.fun:.8f}", file=sys.stdout)

        # the BLAS threads for this size of evaluation, as a fit's steps get them
        with be.threads_for(gemm_flops(layer_sizes(like), n)):
            result = minimize(cost, start, method="L-BFGS-B", jac=True,
                              callback=report if self.verbose else None,
                              options={"maxfun": self.max_fun, "maxiter": self.max_iter,
                                       "gtol": self.tol})
        net.assign(unpack(np.ascontiguousarray(result.x)))
        self.n_iter_, self.loss_ = min(int(result.nit), int(self.max_iter)), float(result.fun)
        self._fit_kind, self._n_train = kind_of(X), n
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status="
                          f"{result.status}): {result.message}. Increase the number of "
                          "iterations to improve the convergence (max_iter="
                          f"{self.max_iter}).", ConvergenceWarning, stacklevel=5)
        return self

