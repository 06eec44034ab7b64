"""scikit-learn estimators over xpnet: change one import.

    from xpnet.sklearn import MLPClassifier     # instead of sklearn.neural_network's

:class:`MLPClassifier` and :class:`MLPRegressor` take every parameter of scikit-learn's MLP
estimators with the same meaning and default, validated by scikit-learn's own constraints
(its ``InvalidParameterError`` and messages), and follow its training procedure:
mini-batches of ``min(200, n)`` by default, Adam or SGD, the L2 penalty ``alpha / (2m)
||W||^2`` of each batch of m rows, ``learning_rate`` (``constant``, ``invscaling`` with
``power_t``, ``adaptive``) for SGD, stopping once the training loss (or, with
``early_stopping``, the validation score) has not improved by ``tol`` for ``n_iter_no_change``
epochs (``np.inf``: never), ``warm_start`` continuing the record (``loss_curve_``, ``t_``);
or full-batch L-BFGS (``solver="lbfgs"``). ``fit`` and ``partial_fit`` take
``sample_weight``: each batch's cost is then the weighted mean of its examples' costs, its L2
term ``alpha / (2 sum w)`` (so weight k is k copies of a row), and early stopping's
validation score is weighted too. The regressor's ``loss`` is scikit-learn's:
``"squared_error"`` or ``"poisson"`` (an exp output and half the Poisson deviance).
xpnet's own: ``backend`` and ``device`` (``"auto"``: a GPU when CuPy sees one), ``dtype``
(default: float32 for float32 input, else float64, as scikit-learn does), ``dropout``,
the classifier's ``loss``, ``init`` and ``compile`` (the step compiled whole, on the torch
backend).

Arrays of another library (CuPy, PyTorch, array-api-strict) are accepted as they are, and
predictions come back in the input's library and on its device (the array API convention:
outputs follow the input's namespace); NumPy in, NumPy out. With ``backend="auto"``, CuPy or
CUDA PyTorch input trains on its own GPU. Fitted estimators pickle (the network is stored as
NumPy arrays plus its description and its random state, so training goes on as it would have;
xpnet's model files never hold pickle) and :meth:`~MLPClassifier.save` / :func:`load` go
through xpnet model files.

The weights start as scikit-learn's do (Glorot-uniform weights and biases) unless ``init``
names one of xpnet's initialisers. Differences from scikit-learn, on purpose: a label
indicator ``y`` trains one sigmoid output per label; sparse ``X`` stays sparse, each batch
(for L-BFGS, each chunk of 4096 rows) taken as it is needed (:mod:`xpnet.sparse_rows`);
Adam adds epsilon after the bias correction (Kingma and Ba's form; scikit-learn before it);
the squared-error loss is ``(1/2n) sum ||y - p||^2``, which for several outputs is
scikit-learn's ``loss_curve_`` times the number of outputs (the gradients are the same);
sigmoid probabilities are held strictly inside (0, 1); ``loss="poisson"`` refuses negative
targets (scikit-learn trains on them to a NaN loss); ``coefs_`` and ``intercepts_`` are
copies (assign the whole list to change them; changing an array in place changes nothing);
``partial_fit`` trains one epoch whatever ``early_stopping`` says (scikit-learn refuses), and
early stopping with fewer than 2 validation examples watches the training loss, with a
warning (scikit-learn refuses); sample weights train in one process.
"""

from __future__ import annotations

import math
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np

try:
    from sklearn import get_config
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning, DataConversionWarning
    from sklearn.metrics import accuracy_score
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as _ScikitMLP
    from sklearn.utils import check_random_state
    from sklearn.utils._param_validation import Interval, StrOptions
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import (
        check_classification_targets,
        type_of_target,
        unique_labels,
    )
    from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
except ImportError as exc:  # only this module needs scikit-learn
    raise ImportError(f'xpnet.sklearn needs scikit-learn ({exc}): pip install "xpnet[sklearn]"'
                      ) from None

from dataclasses import dataclass, field
from numbers import Real

from . import init as initialisers
from . import losses, optim, schedules
from .backend import BackendError, gpu_backend_of, resolve, to_numpy
from .callbacks import Callback
from .network import Network
from .sparse_rows import SparseRows, is_sparse
from .step import gemm_flops, layer_sizes

SPARSE = ["csr", "csc", "coo"]
"""The sparse formats X may come in (kept sparse on the host: :mod:`xpnet.sparse_rows`)."""

ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "sigmoid": "sigmoid", "elu": "elu", "leaky_relu": "leaky_relu"}


def _foreign(X: Any) -> bool:
    """Whether ``X`` is an array of another array-API library than NumPy."""
    return array_api_compat.is_array_api_obj(X) and not isinstance(X, np.ndarray) \
        and not array_api_compat.is_numpy_array(X)


def _kind(X: Any) -> tuple[str, str]:
    """The array library and device of ``X``: ("numpy", "cpu") for anything NumPy reads."""
    if not _foreign(X):
        return "numpy", "cpu"
    return array_api_compat.array_namespace(X).__name__, str(array_api_compat.device(X))


def _like(result: Any, X: Any) -> Any:
    """``result`` as an array of ``X``'s library on ``X``'s device (NumPy when X is NumPy)."""
    if not _foreign(X):
        return to_numpy(result)
    xp = array_api_compat.array_namespace(X)
    device = array_api_compat.device(X)
    try:
        if array_api_compat.array_namespace(result) is xp and \
                array_api_compat.device(result) == device:
            return result
    except TypeError:
        pass
    return xp.asarray(to_numpy(result), device=device)


@dataclass(frozen=True)
class _ScikitRate(schedules.Schedule):
    """scikit-learn's ``learning_rate`` for ``solver="sgd"`` as an xpnet schedule: the factor
    on ``learning_rate_init`` that the estimator sets after each epoch (``invscaling``:
    ``1 / (t + 1) ** power_t``, t the examples seen; ``adaptive``: divided by 5 on a plateau)."""

    now: list = field(default_factory=lambda: [1.0])

    def factor(self, epoch: int) -> float:
        return float(self.now[0])


def _stochastic(est: Any) -> bool:
    """partial_fit is there for the stochastic solvers only, as in scikit-learn."""
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(f"partial_fit is only available for stochastic optimizer. "
                             f"{est.solver} is not stochastic.")
    return True


class _Epochs(Callback):
    """scikit-learn's bookkeeping as an xpnet callback: after each epoch, ``record(model,
    loss)`` (the estimator's own) updates the fitted attributes and says whether to stop."""

    def __init__(self, record: Any):
        self.record = record
        self.stopped = False

    def on_epoch_end(self, model: Any, epoch: int, logs: dict[str, float]) -> bool:
        self.stopped = bool(self.record(model, logs["loss"]))
        return self.stopped


def _whole_set(net: Network, X: Any, Y: Any, w: np.ndarray | None, chunk: int = 4096
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


class _MLP(BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, the fit loop."""

    #: scikit-learn's own constraints for its MLP's parameters (so that a bad value raises its
    #: ``InvalidParameterError`` with its message), xpnet's activations, and xpnet's own
    _parameter_constraints: dict = {
        **_ScikitMLP._parameter_constraints,
        "activation": [StrOptions(set(ACTIVATIONS))],
        "backend": "no_validation",
        "device": "no_validation",
        "dtype": [StrOptions({"float32", "float64"}), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "loss": [StrOptions(set(losses.NAMES)), None],
        "init": [StrOptions(set(initialisers.NAMES)), None],
        "compile": ["boolean"],
    }

    def __init__(self, hidden_layer_sizes: Any = (100,), activation: str = "relu", *,
                 solver: str = "adam", alpha: float = 0.0001, batch_size: Any = "auto",
                 learning_rate: str = "constant", learning_rate_init: float = 0.001,
                 power_t: float = 0.5, max_iter: int = 200, shuffle: bool = True,
                 random_state: Any = None, tol: float = 1e-4, verbose: bool = False,
                 warm_start: bool = False, momentum: float = 0.9,
                 nesterovs_momentum: bool = True, early_stopping: bool = False,
                 validation_fraction: float = 0.1, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-8, n_iter_no_change: int = 10, max_fun: int = 15000,
                 backend: str = "auto",
                 device: Any = None, dtype: str | None = None, dropout: float = 0.0,
                 loss: str | None = None, init: str | None = None, compile: bool = False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.dropout = dropout
        self.loss = loss
        self.init = init
        self.compile = compile

    # ------------------------------------------------------------------ checks
    def _sizes(self) -> list[Any]:
        sizes = self.hidden_layer_sizes
        return [sizes] if np.isscalar(sizes) else list(sizes)

    def _check_params(self) -> None:
        """scikit-learn's validation (its constraints, its error type), then what it checks
        while fitting, and what xpnet does not offer."""
        self._validate_params()
        sizes = self._sizes()
        if any(not isinstance(s, (int, np.integer)) or isinstance(s, bool) or s < 1
               for s in sizes):
            raise ValueError(f"hidden_layer_sizes must be > 0, got {sizes}.")

    # ------------------------------------------------------------------ data
    def _inputs(self, X: Any, reset: bool) -> Any:
        """Checked inputs: NumPy through scikit-learn's validation, other libraries' arrays
        as they are (2-D, finite, the fitted number of features)."""
        if not _foreign(X):
            return validate_data(self, X, reset=reset, dtype=[np.float64, np.float32],
                                 accept_sparse=SPARSE)
        if X.ndim != 2:
            raise ValueError(f"Expected 2D array, got an array of shape {tuple(X.shape)}")
        if reset:
            self.n_features_in_ = int(X.shape[1])
        elif X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input.")
        return X

    def _backend(self, X: Any) -> Any:
        """The backend to train on: as asked, or with "auto" the GPU library of GPU input."""
        if self.backend == "auto" and _foreign(X):
            on_gpu = gpu_backend_of(X)
            if on_gpu is not None:
                return on_gpu
        return resolve(self.backend, self.device)

    def _dtype_name(self, X: Any) -> str:
        if self.dtype is not None:
            return self.dtype
        return "float32" if str(getattr(X, "dtype", "")).endswith("float32") else "float64"

    # ------------------------------------------------------------------ the network
    def _build(self, X: Any, n_outputs: int, output: str, loss: str) -> None:
        sizes = self._sizes()
        rs = self.random_state   # an int stays the seed; a RandomState gives one
        seed = None if rs is None else int(rs) if isinstance(rs, (int, np.integer)) else \
            int(check_random_state(rs).randint(np.iinfo(np.int32).max))
        self.network_ = Network([self.n_features_in_, *map(int, sizes), n_outputs],
                                hidden=ACTIVATIONS[self.activation], output=output,
                                loss=loss, init=self.init, dropout=self.dropout,
                                backend=self._backend(X), dtype=self._dtype_name(X),
                                seed=None if seed is None else int(seed))
        if self.init is None:
            self._glorot_uniform()
        self.n_layers_ = len(sizes) + 2
        self.n_outputs_ = n_outputs
        self.out_activation_ = {"sigmoid": "logistic"}.get(output, output)

    def _glorot_uniform(self) -> None:
        """scikit-learn's initialisation: W and b of every layer from U(-r, r),
        ``r = sqrt(6 / (fan_in + fan_out))`` (2 instead of 6 when the hidden activation is
        logistic), drawn from the network's seeded generator."""
        net = self.network_
        factor = 2.0 if self.activation == "logistic" else 6.0
        params = []
        for d in net.dense_layers:
            r = math.sqrt(factor / (d.fan_in + d.fan_out))
            params += [net.rng.host.uniform(-r, r, (d.fan_in, d.fan_out)),
                       net.rng.host.uniform(-r, r, d.fan_out)]
        net.set_parameters(params)

    def _optimizer(self) -> optim.Optimizer:
        if self.solver == "adam":
            return optim.Adam(self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2,
                              eps=self.epsilon)
        nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
        return optim.SGD(self.learning_rate_init, momentum=self.momentum, nesterov=nesterov)

    def _train(self, X: Any, y: Any, *, incremental: bool, classes: Any = None,
               sample_weight: Any = None) -> Any:
        """What fit and partial_fit share: check the parameters, prepare the data (building
        the network on a first call, or a refit without warm_start) and the examples'
        weights, then train."""
        self._check_params()
        first = not hasattr(self, "network_") or (not incremental and not self.warm_start)
        X, Y, stratify = self._prepare(X, y, first, incremental, classes)
        w = self._sample_weight(sample_weight, X)
        return self._fit(X, Y, incremental=incremental, stratify=stratify, first=first,
                         sample_weight=w)

    @staticmethod
    def _sample_weight(sample_weight: Any, X: Any) -> np.ndarray | None:
        """``sample_weight`` checked as scikit-learn checks it (one finite number per row, not
        all zero), as float64 on the host; None stays None (every example counts once)."""
        if sample_weight is None:
            return None
        if _foreign(X):   # the weights' values are what matters; they go to the device later
            return _check_sample_weight(to_numpy(sample_weight), np.empty((X.shape[0], 0)),
                                        dtype=np.float64)
        return _check_sample_weight(sample_weight, X, dtype=np.float64)

    def _prepare(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any
                 ) -> tuple[Any, Any, Any]:
        """Checked inputs, encoded targets and the labels to stratify a validation split by;
        builds the network when ``first``."""
        raise NotImplementedError

    def _fit(self, X: Any, Y: Any, *, incremental: bool, stratify: Any = None,
             first: bool = True, sample_weight: np.ndarray | None = None) -> Any:
        """Train on prepared inputs ``X`` and targets ``Y`` (labels or rows), the examples
        weighted by ``sample_weight``; one epoch when ``incremental`` (partial_fit), else up to
        ``max_iter`` with the stopping rule."""
        net, w = self.network_, sample_weight
        if self.solver == "lbfgs":
            return self._fit_lbfgs(X, Y, w)
        n = X.shape[0]
        validation = None
        if self.early_stopping and not incremental:
            split = self._split(X, Y, stratify, w)
            if split is None:   # scikit-learn refuses; here the training loss decides instead
                warnings.warn(f"The validation set of {self.validation_fraction} of "
                              f"{X.shape[0]} examples would hold fewer than 2; early stopping "
                              "watches the training loss instead. Increase "
                              "'validation_fraction' or the size of your dataset.", stacklevel=4)
            else:
                X, X_val, Y, y_val, w, w_val = split
                validation = (X_val, y_val, w_val)
                n = X.shape[0]
        bs = min(200, n) if self.batch_size == "auto" else int(self.batch_size)
        if bs > n:
            warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going "
                          "to be clipped", stacklevel=4)
            bs = n
        self._n_train = n
        self._fit_kind = _kind(X)
        if not incremental or not hasattr(self, "_optim"):
            self._optim = self._optimizer()
            self._rate = _ScikitRate()
        if first or not hasattr(self, "loss_curve_"):   # a warm start continues the record
            self.loss_curve_: list[float] = []
            self.n_iter_, self.t_ = 0, 0
            self._no_improvement_count = 0
            if validation is not None:
                self.validation_scores_: Any = []
                self.best_validation_score_: Any = -math.inf
                self.best_loss_ = None
            else:
                self.validation_scores_ = self.best_validation_score_ = None
                self.best_loss_ = math.inf
        if validation is not None and self.validation_scores_ is None:   # a warm refit
            self.validation_scores_, self.best_validation_score_ = [], -math.inf
        # scikit-learn's penalty: alpha/(2m) ||W||^2 for each batch of m rows
        net.l2 = float(self.alpha)
        self._validation = validation
        self._best_params: list[Any] | None = None
        stopper = _Epochs(self._record_epoch)
        net.fit(X, Y, epochs=1 if incremental else int(self.max_iter), batch_size=bs,
                optimizer=self._optim, shuffle=bool(self.shuffle), progress=False,
                callbacks=[stopper], compile=bool(self.compile), schedule=self._rate,
                l2_per_batch=True, sample_weight=w)
        best = self._best_params
        if validation is not None and best is not None:
            net.set_parameters(best)
            self._best_params = None
        if not incremental and not stopper.stopped and self.n_iter_ >= self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached "
                          "and the optimization hasn't converged yet.", ConvergenceWarning,
                          stacklevel=4)
        return self

    def _fit_lbfgs(self, X: Any, Y: Any, sample_weight: np.ndarray | None) -> Any:
        """Full-batch L-BFGS over the flattened parameters, as scikit-learn does it
        (``scipy.optimize.minimize``, method L-BFGS-B, ``max_iter``, ``max_fun``, ``tol`` as the
        gradient tolerance), the cost ``C0 + alpha/(2n) ||W||^2`` (with ``sample_weight``, C0
        the weighted mean and n the total weight) and its gradient computed by xpnet on its
        backend (sparse X a chunk of rows at a time, :func:`_whole_set`). Each function
        evaluation reads the cost and the gradient back to the host, one round trip per
        evaluation: inherent to SciPy's L-BFGS."""
        from scipy.optimize import minimize

        net, be = self.network_, self.network_.backend
        net.l2 = float(self.alpha)
        objective, n = _whole_set(net, X, Y, sample_weight)
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
        self._fit_kind, self._n_train = _kind(X), n
        if result.status != 0:
            warnings.warn(f"lbfgs failed to converge after {result.nit} iteration(s) (status="
                          f"{result.status}): {result.message}. Increase the number of "
                          "iterations to improve the convergence (max_iter="
                          f"{self.max_iter}).", ConvergenceWarning, stacklevel=5)
        return self

    def _record_epoch(self, net: Network, loss: float) -> bool:
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

    def _split(self, X: Any, Y: Any, stratify: Any, w: np.ndarray | None
               ) -> tuple[Any, ...] | None:
        """Training and validation parts (X, X_val, Y, y_val, w, w_val) as scikit-learn draws
        them (stratified for classifiers where every class can be; the weights, if any, follow
        their rows), or None when validation would get < 2."""
        idx = np.arange(X.shape[0])
        try:
            tr, va = train_test_split(idx, test_size=self.validation_fraction,
                                      random_state=self.random_state, stratify=stratify)
        except ValueError:   # too few examples of a class to stratify: split plainly
            tr, va = train_test_split(idx, test_size=self.validation_fraction,
                                      random_state=self.random_state)
        if len(tr) == 0 or len(va) < 2:
            return None
        def take(A: Any, rows: np.ndarray) -> Any:
            if is_sparse(A):
                return A.tocsr()[rows]
            xp = array_api_compat.array_namespace(A)
            return xp.take(A, xp.asarray(rows, device=array_api_compat.device(A)), axis=0)

        return (take(X, tr), take(X, va), take(Y, tr), self._validation_targets(Y, va),
                None if w is None else w[tr], None if w is None else w[va])

    def _validation_targets(self, Y: Any, idx: np.ndarray) -> Any:
        return to_numpy(Y)[idx]

    def _outputs(self, X: Any, method: str) -> Any:
        """The network's outputs for ``X``, checked as ``method``'s input."""
        check_is_fitted(self)
        if get_config()["array_api_dispatch"] and _kind(X) != self._fit_kind:
            # scikit-learn's array API convention: a method takes the namespace fit took
            raise ValueError(
                f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace "
                f"and the same device as those passed to fit(). Array namespaces and devices "
                f"used during fit {self._fit_kind} and {method} {_kind(X)} differ.")
        return self.network_.forward(self._inputs(X, reset=False))

    # ------------------------------------------------------------------ fitted attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        check_is_fitted(self, "network_")
        return [to_numpy(d.W) for d in self.network_.dense_layers]

    @coefs_.setter
    def coefs_(self, value: list[Any]) -> None:
        self._set_layers(value, None)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        check_is_fitted(self, "network_")
        return [to_numpy(d.b) for d in self.network_.dense_layers]

    @intercepts_.setter
    def intercepts_(self, value: list[Any]) -> None:
        self._set_layers(None, value)

    def _set_layers(self, coefs: list[Any] | None, intercepts: list[Any] | None) -> None:
        """Assign the weights (``coefs_``) or the biases (``intercepts_``) of every layer, as
        scikit-learn's fitted attributes allow (custom initialisation, weight transfer)."""
        check_is_fitted(self, "network_")
        W = coefs if coefs is not None else self.coefs_
        b = intercepts if intercepts is not None else self.intercepts_
        if len(W) != len(self.network_.dense_layers) or len(b) != len(W):
            raise ValueError(f"expected {len(self.network_.dense_layers)} arrays, one per layer")
        self.network_.set_parameters([a for pair in zip(W, b) for a in pair])

    # ------------------------------------------------------------------ pickling and files
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        net = state.pop("network_", None)
        if net is not None:   # backends hold modules: keep NumPy arrays and the description
            state["_network_state"] = {
                "config": net.config(), "params": [to_numpy(p) for p in net.parameters()],
                "backend": net.backend.name, "device": net.backend.device_name,
                "dtype": net.dtype_name, "rng": net.rng.get_state()}
        opt = state.pop("_optim", None)
        if opt is not None:
            slots, arrays = opt.state_arrays()
            state["_optim_state"] = {"config": opt.config(), "t": opt.t, "slots": slots,
                                     "arrays": {k: to_numpy(a) for k, a in arrays.items()}}
        state.pop("_best_params", None)
        state.pop("_validation", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_network_state", None)
        saved_opt = state.pop("_optim_state", None)
        self.__dict__.update(state)
        if saved is None:
            return
        try:
            backend = resolve(saved["backend"], None if saved["device"] == "cpu"
                              else saved["device"])
        except BackendError as exc:
            warnings.warn(f"{saved['backend']} is not available here ({exc}); the network is "
                          "restored on NumPy", stacklevel=2)
            backend = resolve("numpy")
        net = Network.from_config(saved["config"], backend=backend, dtype=saved["dtype"])
        net.set_parameters(saved["params"])
        if saved.get("rng") is not None:   # so that the shuffling goes on as it would have
            net.rng.set_state(saved["rng"])
        self.network_ = net
        if saved_opt is not None:
            opt = optim.from_config(saved_opt["config"])
            opt.load_state({"t": saved_opt["t"], "slots": saved_opt["slots"]},
                           saved_opt["arrays"], backend, net.dtype,
                           list(net.named_parameters()))
            self._optim = opt

    def save(self, path: str | Path) -> Path:
        """The fitted network, with the estimator's parameters and classes, as an xpnet model
        file (``.npz`` or ``.safetensors``); :func:`load` reads it back."""
        from .io import save

        check_is_fitted(self)
        net = self.network_
        net.class_names = self._class_names()
        return save(net, path, estimator=self._file_record())

    def _class_names(self) -> list[str] | None:
        return None

    def _file_record(self) -> dict[str, Any]:
        params = {k: list(v) if isinstance(v, tuple) else v
                  for k, v in self.get_params().items()
                  if isinstance(v, (str, int, float, bool, type(None), tuple))}
        return {"kind": type(self).__name__, "params": params,
                "n_features_in": int(self.n_features_in_),
                "loss_curve": list(getattr(self, "loss_curve_", [])),
                "n_iter": int(self.n_iter_)}

    def _adopt(self, net: Network, record: dict[str, Any]) -> None:
        """Take a network read from a file as this estimator's fitted state (:func:`load`)."""
        self.network_ = net
        self.n_features_in_ = int(record["n_features_in"])
        self.loss_curve_, self.n_iter_ = list(record["loss_curve"]), int(record["n_iter"])
        self.n_layers_ = len(net.dense_layers) + 1
        self.n_outputs_ = net.n_outputs
        self.out_activation_ = {"sigmoid": "logistic"}.get(net.output_activation,
                                                            net.output_activation)
        self._fit_kind = ("numpy", "cpu")
        if "classes" in record:
            self.classes_ = np.array(record["classes"])
            self._multilabel = bool(record.get("multilabel", False))
        else:
            self._y_1d = bool(record.get("y_1d", True))

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.array_api_support = True
        tags.input_tags.sparse = True
        return tags


class MLPClassifier(ClassifierMixin, _MLP):
    """A multi-layer perceptron classifier trained by xpnet, with scikit-learn's interface.

    Binary problems get one sigmoid output and binary cross-entropy; more classes a softmax
    output and cross-entropy (BP1 fuses both to ``(A - Y)/M``). ``classes_`` holds the labels in
    sorted order, of any type NumPy can sort (strings, integers, objects)."""

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPClassifier:
        """Fit to data ``X`` (n_samples, n_features) and labels ``y`` (n_samples,), or a label
        indicator matrix (n_samples, n_labels); ``sample_weight`` (n_samples,) makes each
        batch's cost the weighted mean of its examples' costs."""
        return self._train(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(_stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, classes: Any = None
                    ) -> MLPClassifier:
        """One epoch over (X, y), weighted by ``sample_weight`` as in :meth:`fit`; the first
        call needs ``classes``, every label there is."""
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
        stratify = y_host if self.early_stopping and not self._multilabel else None
        return X, self._encode(y_host), stratify

    def _data(self, X: Any, y: Any, reset: bool) -> tuple[Any, np.ndarray]:
        if _foreign(X):
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
        if k < 2:
            raise ValueError(f"The number of classes has to be greater than one; got {k} class")
        if k == 2:
            self._build(X, 1, "sigmoid", self.loss or "binary_cross_entropy")
        else:
            self._build(X, k, "softmax", self.loss or "cross_entropy")

    def _encode(self, y_host: np.ndarray) -> Any:
        """Class indices (n,) as int64 (one sigmoid output: 0/1 as the target column); a label
        indicator matrix as floats, one column per label."""
        if self._multilabel:
            return y_host.astype(np.float64)
        idx = np.searchsorted(self.classes_, y_host).astype(np.int64)
        if len(self.classes_) == 2:
            return idx.astype(np.float64)
        return idx

    def _validation_targets(self, Y: Any, idx: np.ndarray) -> Any:
        if self._multilabel:
            return to_numpy(Y).astype(np.int64)[idx]
        return self.classes_[to_numpy(Y).astype(np.int64)[idx]]

    def _score_on(self, X: Any, y: Any, w: np.ndarray | None = None) -> float:
        # (subset accuracy for multilabel targets)
        return float(accuracy_score(y, to_numpy(self.predict(X)), sample_weight=w))

    def _proba_columns(self, X: Any, method: str) -> Any:
        """Class probabilities: a softmax output as it is; sigmoid outputs held strictly
        inside (0, 1) (a logit beyond about +-37 rounds the sigmoid to exactly 0 or 1 in
        float64, a certainty no finite logit means) and, for one output, as the two columns
        ``[1 - p, p]``."""
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
        return _like(self._proba_columns(X, "predict_proba"), X)

    def predict_log_proba(self, X: Any) -> Any:
        """``log(predict_proba(X))``, as scikit-learn defines it (``-inf`` where a probability
        is 0 in the dtype, with NumPy's divide-by-zero warning)."""
        A = self._proba_columns(X, "predict_log_proba")
        return _like(self.network_.xp.log(A), X)

    def predict(self, X: Any) -> Any:
        """The most probable class of each row, from ``classes_``; for a multilabel fit, the
        label indicator matrix (each label's probability >= 0.5)."""
        A = self._outputs(X, "predict")
        if getattr(self, "_multilabel", False):
            return _like(to_numpy(A) >= 0.5, X).astype(int) if not _foreign(X) else \
                _like(A >= 0.5, X)
        labels = self.classes_[to_numpy(self.network_.target_classes(A))]
        if _foreign(X) and labels.dtype.kind in "iufb":
            return _like(labels, X)   # labels a device can hold go back to it
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


def _regressor_init() -> Any:
    """The estimators' ``__init__`` with the regressor's default ``loss="squared_error"``:
    scikit-learn reads an estimator's parameters and their defaults from the signature of its
    ``__init__``, and the two estimators' differ in that one default."""
    shared: Any = _MLP.__init__
    init = types.FunctionType(shared.__code__, shared.__globals__, "__init__",
                              shared.__defaults__, shared.__closure__)
    init.__kwdefaults__ = {**(shared.__kwdefaults__ or {}), "loss": "squared_error"}
    init.__qualname__ = "MLPRegressor.__init__"
    init.__annotations__ = dict(shared.__annotations__)
    return init


#: the regressor's ``loss``, scikit-learn's names: (output activation, xpnet's cost)
REGRESSION_LOSSES = {"squared_error": ("identity", "mse"), "poisson": ("exp", "poisson")}


class MLPRegressor(RegressorMixin, _MLP):
    """A multi-layer perceptron regressor trained by xpnet, with scikit-learn's interface.

    ``loss="squared_error"`` (the default): identity output, ``(1/2n) sum ||y - p||^2``;
    ``loss="poisson"``: ``exp`` output (positive predictions) and half the Poisson deviance
    ``(1/n) sum [y ln(y/p) - y + p]``, for counts and other non-negative targets. ``y`` may
    have several columns (multi-output regression)."""

    _parameter_constraints: dict = {**_MLP._parameter_constraints,
                                    "loss": [StrOptions(set(REGRESSION_LOSSES))]}
    __init__ = _regressor_init()

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """Fit to data ``X`` (n_samples, n_features) and targets ``y`` ((n,) or (n, k));
        ``sample_weight`` (n_samples,) makes each batch's cost the weighted mean of its
        examples' costs."""
        return self._train(X, y, incremental=False, sample_weight=sample_weight)

    @available_if(_stochastic)
    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> MLPRegressor:
        """One epoch over (X, y), weighted by ``sample_weight`` as in :meth:`fit`."""
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
        if _foreign(X):
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
        from sklearn.metrics import r2_score

        return float(r2_score(y, to_numpy(self.predict(X)), sample_weight=w))

    def predict(self, X: Any) -> Any:
        """Predicted targets, (n_samples,) for one output, else (n_samples, n_outputs)."""
        A = self._outputs(X, "predict")
        if A.shape[1] == 1 and getattr(self, "_y_1d", True):
            A = self.network_.xp.reshape(A, (-1,))
        return _like(A, X)

    def _file_record(self) -> dict[str, Any]:
        record = super()._file_record()
        record["y_1d"] = bool(getattr(self, "_y_1d", True))
        return record

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.positive_only = self.loss == "poisson"
        return tags


def load(path: str | Path, backend: str = "auto", device: Any = None) -> _MLP:
    """An estimator saved with :meth:`MLPClassifier.save` or :meth:`MLPRegressor.save`."""
    from .errors import ModelFileError
    from .loading import load_with_header

    net, header = load_with_header(path, backend=backend, device=device)
    record = header.get("estimator")
    if not isinstance(record, dict) or record.get("kind") not in ("MLPClassifier",
                                                                   "MLPRegressor"):
        raise ModelFileError(f"{path}: an xpnet model, not a saved scikit-learn estimator")
    cls = MLPClassifier if record["kind"] == "MLPClassifier" else MLPRegressor
    known = cls().get_params()
    params: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v
                              for k, v in record["params"].items() if k in known}
    est = cls(**params)
    est._adopt(net, record)
    return est
