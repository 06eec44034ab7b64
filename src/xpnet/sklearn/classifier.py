"""The classifier: labels of any kind NumPy can sort, one sigmoid output for two classes (or per
label of a label indicator matrix), a softmax output for more."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin
from sklearn.exceptions import DataConversionWarning
from sklearn.metrics import accuracy_score
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target, unique_labels
from sklearn.utils.validation import validate_data

from .. import losses
from ..backend import to_numpy
from ..edge import class_weights
from .arrays import SPARSE, foreign, like
from .estimator import BaseMLP
from .stochastic import stochastic_only


class MLPClassifier(ClassifierMixin, BaseMLP):
    """A multi-layer perceptron classifier trained by xpnet, with scikit-learn's interface.

    Binary problems get one sigmoid output and binary cross-entropy; more classes a softmax
    output and cross-entropy (BP1 fuses both to ``(A - Y)/M``). ``classes_`` holds the labels in
    sorted order, of any type NumPy can sort (strings, integers, objects)."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Fit to data ``X`` (n_samples, n_features) and labels ``y`` (n_samples,), or a label
        indicator matrix (n_samples, n_labels); ``sample_weight`` (n_samples,) makes each
        batch's cost the weighted mean of its examples' costs."""
        return self._train(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(stochastic_only)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
                    ) -> MLPClassifier:
        """One epoch over (X, y), weighted by ``sample_weight`` as in
        [`fit`][xpnet.sklearn.classifier.MLPClassifier.fit]; the first call needs ``classes``, every
        label there is."""
        return self._train(X, y, incremental=True, classes=classes,
                           sample_weight=sample_weight)

    def _prepare(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any
                 ) -> tuple[Any, Any, Any]:
        if incremental and first and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        X, y_host = self._data(X, y, reset=first)
        if not first and not incremental and set(unique_labels(y_host)) != set(self.classes_):
            raise ValueError("warm_start can only be used where `y` has the same classes as "
                             f"in the previous call to fit. Previously got {self.classes_}, "
                             f"`y` has {unique_labels(y_host)}")
        if first:
            self._multilabel = y_host.ndim == 2
            self.classes_ = unique_labels(to_numpy(classes) if incremental else y_host)
            self._build_for_classes(X)
        elif (y_host.ndim == 2) != self._multilabel:
            raise ValueError("y is a label indicator matrix where it was labels before, or "
                             "the other way round; fit again without warm_start")
        elif classes is not None and not np.array_equal(unique_labels(to_numpy(classes)),
                                                        self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on the first call to "
                             f"partial_fit: {self.classes_!r}")
        if incremental and not self._multilabel and not np.isin(y_host, self.classes_).all():
            unknown = sorted(set(np.unique(y_host)) - set(self.classes_))
            raise ValueError(f"y has labels {unknown} that are not in classes {self.classes_}")
        Y = self._encode(y_host)
        # as scikit-learn: only a single-output (binary) target stratifies the split, by its
        # 0/1 column as booleans
        single = not self._multilabel and len(self.classes_) <= 2
        stratify = np.asarray(Y, dtype=bool).reshape(-1, 1) if self.early_stopping and single \
            else None
        return X, Y, stratify

    def _data(self, X: Any, y: Any, reset: bool) -> tuple[Any, np.ndarray]:
        if foreign(X):
            X = self._inputs(X, reset=reset)
            y_host = to_numpy(y)
        else:
            X, y_host = validate_data(self, X, y, reset=reset, dtype=[np.float64, np.float32],
                                      multi_output=True, accept_sparse=SPARSE)
        y_host = np.asarray(y_host)
        if y_host.ndim == 2 and y_host.shape[1] == 1:
            warnings.warn("A column-vector y was passed when a 1d array was expected. Please "
                          "change the shape of y to (n_samples, ), for example using ravel().",
                          DataConversionWarning, stacklevel=5)
            y_host = y_host.ravel()
        check_classification_targets(y_host)
        if y_host.ndim == 2 and type_of_target(y_host) != "multilabel-indicator":
            raise ValueError(f"y must be labels (n_samples,) or a label indicator matrix of 0 "
                             f"and 1; got shape {y_host.shape}")
        return X, y_host

    def _build_for_classes(self, X: Any) -> None:
        k = len(self.classes_)
        if self._multilabel:   # independent sigmoid outputs, binary cross-entropy on each
            self._build(X, k, "sigmoid", self.loss or "binary_cross_entropy")
            return
        if k <= 2:   # one class trains as scikit-learn's does: one output, every target 0
            self._build(X, 1, "sigmoid", self.loss or "binary_cross_entropy")
        else:
            self._build(X, k, "softmax", self.loss or "cross_entropy")

    def _encode(self, y_host: np.ndarray) -> Any:
        """Class indices (n,) as int64 (one sigmoid output: 0/1 as the target column); a label
        indicator matrix as floats, one column per label."""
        if self._multilabel:
            return y_host.astype(np.float64)
        idx = np.searchsorted(self.classes_, y_host).astype(np.int64)
        if len(self.classes_) <= 2:
            return idx.astype(np.float64)
        return idx

    def _class_weighted(self, Y: Any, w: np.ndarray | None) -> np.ndarray | None:
        """The training rows' weights times their class's: ``class_weight`` a dict
        ``{label: weight}`` in the labels of ``classes_``, or ``"balanced"``
        (``n / (k * count)`` over the rows trained on); not for multilabel targets."""
        if self.class_weight is None:
            return w
        if self._multilabel:
            raise ValueError("class_weight weighs the classes of labels, not of a label "
                             "indicator matrix; give sample_weight instead")
        index = to_numpy(Y).astype(np.int64).reshape(-1)
        spec = self.class_weight
        if isinstance(spec, dict):
            unknown = [c for c in spec if c not in set(self.classes_.tolist())]
            if unknown:
                raise ValueError(f"class_weight names {unknown}, not among the classes "
                                 f"{self.classes_.tolist()}")
            spec = {int(np.searchsorted(self.classes_, c)): wc for c, wc in spec.items()}
        cw = class_weights(index, spec, max(2, len(self.classes_)))
        return cw if w is None else w * cw

    def _validation_targets(self, Y: Any, idx: np.ndarray) -> Any:
        if self._multilabel:
            return to_numpy(Y).astype(np.int64)[idx]
        return self.classes_[to_numpy(Y).astype(np.int64)[idx]]

    def _score_on(self, X: Any, y: Any, w: np.ndarray | None = None) -> float:
        """Accuracy on rows the fit has checked (subset accuracy for multilabel targets)."""
        labels = self._labels(self._outputs(X, "score", check_input=False), X)
        return float(accuracy_score(y, to_numpy(labels), sample_weight=w))

    def _proba_columns(self, X: Any, method: str) -> Any:
        """Class probabilities: a softmax output as it is; sigmoid outputs held strictly
        inside (0, 1) (a logit beyond about +-37 rounds the sigmoid to exactly 0 or 1 in
        float64, a certainty no finite logit means, and scikit-learn's estimator checks ask
        for probabilities below 1) and, for one output, as the two columns ``[1 - p, p]``."""
        A, xp = self._outputs(X, method), self.network_.xp
        if self.out_activation_ != "logistic":
            return A
        info = xp.finfo(A.dtype)
        A = losses.clip(xp, A, float(info.smallest_normal), 1.0 - float(info.eps) / 2)
        if A.shape[1] == 1 and not getattr(self, "_multilabel", False):
            A = xp.concat([1.0 - A, A], axis=1)
        return A

    def predict_proba(self, X: Any) -> Any:
        """Probabilities (n_samples, n_classes), columns in the order of ``classes_``."""
        return like(self._proba_columns(X, "predict_proba"), X)

    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``, as scikit-learn defines it (``-inf`` where a probability
        is 0 in the dtype, with NumPy's divide-by-zero warning)."""
        A = self._proba_columns(X, "predict_log_proba")
        return like(self.network_.xp.log(A), X)

    def predict(self, X: Any) -> Any:
        """The most probable class of each row, from ``classes_``; for a multilabel fit, the
        label indicator matrix (each label's probability >= 0.5)."""
        return self._labels(self._outputs(X, "predict"), X)

    def _labels(self, A: Any, X: Any) -> Any:
        """The predictions the outputs ``A`` of the rows ``X`` stand for (a fit on one class
        predicts it everywhere, as scikit-learn's does)."""
        if getattr(self, "_multilabel", False):
            return like(to_numpy(A) >= 0.5, X).astype(int) if not foreign(X) else \
                like(A >= 0.5, X)
        if len(self.classes_) == 1:
            labels = np.repeat(self.classes_, A.shape[0])
        else:
            labels = self.classes_[to_numpy(self.network_.target_classes(A))]
        if foreign(X) and labels.dtype.kind in "iufb":
            return like(labels, X)   # labels a device can hold go back to it
        return labels

    def _class_names(self) -> list[str] | None:
        return [str(c) for c in self.classes_]

    def _file_record(self) -> dict[str, Any]:
        record = super()._file_record()
        record["classes"] = self.classes_.tolist()
        record["multilabel"] = bool(self._multilabel)
        return record

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


