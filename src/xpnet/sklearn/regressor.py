"""The regressor: one output per target column, the squared error or the Poisson deviance."""

from __future__ import annotations

import types
import warnings
from typing import Any

import array_api_compat
import numpy as np
from sklearn.base import RegressorMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import validate_data

from ..backend import to_numpy
from .arrays import SPARSE, foreign, like
from .estimator import BaseMLP
from .stochastic import stochastic_only


def _regressor_init() -> Any:
    """The estimators' ``__init__`` with the regressor's default ``loss="squared_error"``:
    scikit-learn reads an estimator's parameters and their defaults from the signature of its
    ``__init__``, and the two estimators' differ in that one default."""
    shared: Any = BaseMLP.__init__
    init = types.FunctionType(shared.__code__, shared.__globals__, "__init__",
                              shared.__defaults__, shared.__closure__)
    init.__kwdefaults__ = {**(shared.__kwdefaults__ or {}), "loss": "squared_error"}
    init.__qualname__ = "MLPRegressor.__init__"
    init.__annotations__ = dict(shared.__annotations__)
    return init


#: the regressor's ``loss``, scikit-learn's names: (output activation, xpnet's cost)
REGRESSION_LOSSES = {"squared_error": ("identity", "mse"), "poisson": ("exp", "poisson")}


class MLPRegressor(RegressorMixin, BaseMLP):
    """A multi-layer perceptron regressor trained by xpnet, with scikit-learn's interface.

    ``loss="squared_error"`` (the default): identity output, ``(1/2n) sum ||y - p||^2``;
    ``loss="poisson"``: ``exp`` output (positive predictions) and half the Poisson deviance
    ``(1/n) sum [y ln(y/p) - y + p]``, for counts and other non-negative targets. ``y`` may
    have several columns (multi-output regression)."""

    _parameter_constraints: dict = {**BaseMLP._parameter_constraints,
                                    "loss": [StrOptions(set(REGRESSION_LOSSES))]}
    __init__ = _regressor_init()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Fit to data ``X`` (n_samples, n_features) and targets ``y`` ((n,) or (n, k));
        ``sample_weight`` (n_samples,) makes each batch's cost the weighted mean of its
        examples' costs."""
        return self._train(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(stochastic_only)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), weighted by ``sample_weight`` as in
        [`fit`][xpnet.sklearn.regressor.MLPRegressor.fit]."""
        return self._train(X, y, incremental=True, sample_weight=sample_weight)

    def _prepare(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any
                 ) -> tuple[Any, Any, Any]:
        X, Y = self._data(X, y, reset=first)
        if self.loss == "poisson" and bool(array_api_compat.array_namespace(Y).min(Y) < 0):
            raise ValueError("loss='poisson' needs non-negative targets y (counts, rates); "
                             "use loss='squared_error' for targets of any sign")
        if first:
            self._build(X, Y.shape[1], *REGRESSION_LOSSES[str(self.loss)])
        return X, Y, None

    def _data(self, X: Any, y: Any, reset: bool) -> tuple[Any, Any]:
        if foreign(X):
            X = self._inputs(X, reset=reset)
            Y = y
        else:
            X, Y = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                                 multi_output=True, y_numeric=True, accept_sparse=SPARSE)
        if Y.ndim == 2 and Y.shape[1] == 1:   # as scikit-learn: a column becomes a vector
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples, ), for example using ravel().",
                          DataConversionWarning, stacklevel=5)
            Y = array_api_compat.array_namespace(Y).reshape(Y, (-1,))
        self._y_1d = Y.ndim == 1
        if self._y_1d:
            Y = array_api_compat.array_namespace(Y).reshape(Y, (-1, 1))
        if not reset and Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} outputs, the network {self.n_outputs_}")
        return X, Y

    def _score_on(self, X: Any, y: Any, w: np.ndarray | None = None) -> float:
        """R^2 on rows the fit has checked; NaN when a prediction is not finite (a diverged
        fit), as scikit-learn scores it."""
        from sklearn.metrics import r2_score

        predicted = to_numpy(self._values(self._outputs(X, "score", check_input=False), X))
        if not np.isfinite(predicted).all():
            return float("nan")
        return float(r2_score(y, predicted, sample_weight=w))

    def predict(self, X: Any) -> Any:
        """Predicted targets, (n_samples,) for one output, else (n_samples, n_outputs)."""
        return self._values(self._outputs(X, "predict"), X)

    def _values(self, A: Any, X: Any) -> Any:
        if A.shape[1] == 1 and getattr(self, "_y_1d", True):
            A = self.network_.xp.reshape(A, (-1,))
        return like(A, X)

    def _file_record(self) -> dict[str, Any]:
        record = super()._file_record()
        record["y_1d"] = bool(getattr(self, "_y_1d", True))
        return record

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


