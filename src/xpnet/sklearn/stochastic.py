"""The stochastic solvers' fit (``solver="adam"`` or ``"sgd"``) as scikit-learn runs it: epochs
of mini-batches through xpnet's fit loop, the L2 penalty of each batch, ``learning_rate``'s
schedules for SGD, the stopping rule (no improvement by ``tol`` in the training loss, or with
``early_stopping`` in the validation score, for ``n_iter_no_change`` epochs), and the best
weights kept when early stopping."""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from .. import schedules
from ..backend import to_numpy
from ..callbacks import Callback
from ..network import Network
from ..sparse_rows import is_sparse
from .arrays import kind_of


@dataclass(frozen=True)
class ScikitRate(schedules.Schedule):
    """scikit-learn's ``learning_rate`` for ``solver="sgd"`` as an xpnet schedule: the factor
    on ``learning_rate_init`` that the estimator sets after each epoch (``invscaling``:
    ``1 / (t + 1) ** power_t``, t the examples seen; ``adaptive``: divided by 5 on a plateau)."""

    now: list = field(default_factory=lambda: [1.0])

    def factor(self, epoch: int) -> float:
        return float(self.now[0])



def stochastic_only(est: Any) -> bool:
    """partial_fit is there for the stochastic solvers only, as in scikit-learn."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(f"partial_fit is only available for stochastic optimizer. "
                             f"{est.solver} is not stochastic.")
    return True



class Epochs(Callback):
    """scikit-learn's bookkeeping as an xpnet callback: after each epoch, ``record(model,
    loss)`` (the estimator's own) updates the fitted attributes and says whether to stop."""

    def __init__(self, record: Any):
        self.record = record
        self.stopped = False

    def on_epoch_end(self, model: Any, epoch: int, logs: dict[str, float]) -> bool:
        self.stopped = bool(self.record(model, logs["loss"]))
        return self.stopped




class StochasticFit:
    """The stochastic fit, mixed into the estimators (which provide the parameters, the
    network and ``_score_on``)."""

    def _fit(self: Any, X: Any, Y: Any, *, incremental: bool, stratify: Any = None,
             first: bool = True, sample_weight: np.ndarray | None = None) -> Any:
        """Train on prepared inputs ``X`` and targets ``Y`` (labels or rows), the examples
        weighted by ``sample_weight``; one epoch when ``incremental`` (partial_fit), else up to
        ``max_iter`` with the stopping rule. ``n_iter_`` counts this call's epochs; a warm
        start continues the rest of the record (``loss_curve_``, ``t_``, the best loss).
        A NaN or infinite cost does not stop training (scikit-learn trains on; the caller
        checks the weights at the end)."""
        net, w = self.network_, sample_weight
        n = X.shape[0]
        validation = None
        if self.early_stopping and not incremental:
            X, X_val, Y, y_val, w, w_val = self._split(X, Y, stratify, w)
            validation = (X_val, y_val, w_val)
            n = X.shape[0]
        w = self._class_weighted(Y, w)   # the training rows only
        bs = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if bs > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", stacklevel=4)
            bs = n
        self._n_train = n
        self._fit_kind = kind_of(X)
        if not incremental or not hasattr(self, "_optim"):
            self._optim = self._optimizer()
            self._rate = ScikitRate()
        if first or not hasattr(self, "loss_curve_"):   # a warm start continues the record
            self.loss_curve_: list[float] = []
            self.t_ = 0
            self._no_improvement_count = 0
            if validation is not None:
                self.validation_scores_: Any = []
                self.best_validation_score_: Any = -math.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = self.best_validation_score_ = None
                self.best_loss_ = math.inf
        self.n_iter_ = 0
        if validation is not None and self.validation_scores_ is None:   # a warm refit
            self.validation_scores_, self.best_validation_score_ = [], -math.inf
        # scikit-learn's penalty: alpha/(2m) ||W||^2 for each batch of m rows
        net.l2 = float(self.alpha)
        self._validation = validation
        # the weights restored after early stopping if no epoch scores better: these
        self._best_params = None if validation is None else \
            [net.xp.asarray(p, copy=True) for p in net.parameters()]
        stopper = Epochs(self._record_epoch)
        net.fit(X, Y, epochs=1 if incremental else int(self.max_iter), batch_size=bs,
                optimizer=self._optim, shuffle=bool(self.shuffle), progress=False,
                callbacks=[stopper], compile=bool(self.compile), schedule=self._rate,
                l2_per_batch=True, sample_weight=w, stop_on_divergence=False)
        if validation is not None:
            net.set_parameters(self._best_params)
        self._best_params = None
        if not incremental and not stopper.stopped and self.n_iter_ >= self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        return self

    def _record_epoch(self: Any, net: Network, loss: float) -> bool:
        """After an epoch: record the loss (and the validation score), and say whether to stop
        (neither improved by ``tol`` for ``n_iter_no_change`` epochs in a row); keep the best
        parameters when early stopping."""
        self.n_iter_ += 1
        self.t_ += self._n_train
        self.loss_, self.loss_curve_ = loss, [*self.loss_curve_, loss]
        if self.solver == "sgd" and self.learning_rate == "invscaling":
            self._rate.now[0] = 1.0 / (self.t_ + 1) ** self.power_t
        if self.verbose:
            print(f"Iteration {self.n_iter_}, loss = {loss:.8f}", file=sys.stdout)
        if self._validation is not None:
            score = self._score_on(*self._validation)
            self.validation_scores_.append(score)
            if self.verbose:
                print(f"Validation score: {score:f}", file=sys.stdout)
            worse = score < self.best_validation_score_ + self.tol
            if score > self.best_validation_score_:
                self.best_validation_score_ = score
                self._best_params = [net.xp.asarray(p, copy=True) for p in net.parameters()]
        else:   # (partial_fit after an early-stopping fit starts a loss record of its own)
            if self.best_loss_ is None:
                self.best_loss_ = math.inf
            worse = loss > self.best_loss_ - self.tol
            self.best_loss_ = min(self.best_loss_, loss)
        self._no_improvement_count = self._no_improvement_count + 1 if worse else 0
        if self._no_improvement_count > self.n_iter_no_change:
            what = "Validation score" if self._validation is not None else "Training loss"
            said = (f"{what} did not improve more than tol={self.tol:f} for "
                    f"{self.n_iter_no_change} consecutive epochs.")
            lr = self.learning_rate_init * self._rate.now[0]
            if self.solver == "sgd" and self.learning_rate == "adaptive" and lr > 1e-6:
                self._rate.now[0] /= 5.0   # scikit-learn's adaptive rate: a fifth, go on
                self._no_improvement_count = 0
                if self.verbose:
                    print(f"{said} Setting learning rate to {lr / 5.0:f}", file=sys.stdout)
                return False
            if self.verbose:
                print(said + (" Learning rate too small. Stopping." if self.learning_rate ==
                              "adaptive" and self.solver == "sgd" else " Stopping."),
                      file=sys.stdout)
            return True
        return False


    def _split(self: Any, X: Any, Y: Any, stratify: Any, w: np.ndarray | None
               ) -> tuple[Any, ...]:
        """Training and validation parts (X, X_val, Y, y_val, w, w_val) as scikit-learn draws
        them: ``train_test_split`` with the fit's RandomState (after the initial weights' draws)
        and ``stratify`` (a binary classifier's targets; an impossible stratification raises
        its error), the weights following their rows; a validation part under 2 rows is
        refused."""
        idx = np.arange(X.shape[0])
        tr, va = train_test_split(idx, test_size=self.validation_fraction,
                                  random_state=self._random_state, stratify=stratify)
        if len(va) < 2:
            raise ValueError("The validation set is too small. Increase 'validation_fraction' "
                             "or the size of your dataset.")

        def take(A: Any, rows: np.ndarray) -> Any:
            if is_sparse(A):
                return A.tocsr()[rows]
            xp = array_api_compat.array_namespace(A)
            return xp.take(A, xp.asarray(rows, device=array_api_compat.device(A)), axis=0)

        return (take(X, tr), take(X, va), take(Y, tr), self._validation_targets(Y, va),
                None if w is None else w[tr], None if w is None else w[va])

    def _validation_targets(self: Any, Y: Any, idx: np.ndarray) -> Any:
        return to_numpy(Y)[idx]

