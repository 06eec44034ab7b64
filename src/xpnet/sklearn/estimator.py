"""What scikit-learn's two MLP estimators share, over an xpnet Network: the parameters with
scikit-learn's names, defaults and constraints, the checked inputs, the network built as
scikit-learn initialises its own, the fitted attributes (``coefs_``, ``intercepts_``), pickling
and model files. The fits are [`stochastic`][xpnet.sklearn.stochastic]'s and
[`lbfgs`][xpnet.sklearn.lbfgs]'s."""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Real
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.neural_network import MLPClassifier as ScikitMLP
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from .. import init as initialisers
from .. import losses, optim, precision
from ..backend import BackendError, gpu_backend_of, resolve, to_numpy
from ..network import Network
from .arrays import SPARSE, foreign, kind_of
from .lbfgs import LbfgsFit
from .stochastic import StochasticFit


class LayerArrays(list):
    """One array per layer (``coefs_``, ``intercepts_``), a list whose item assignment goes to
    the network through ``assign`` (called with the whole list)."""

    def __init__(self, arrays: list[Any], assign: Any):
        super().__init__(arrays)
        self.assign = assign

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self.assign(list(self))


ACTIVATIONS = {"identity": "identity", "logistic": "sigmoid", "tanh": "tanh", "relu": "relu",
               "sigmoid": "sigmoid", "elu": "elu", "leaky_relu": "leaky_relu"}


class BaseMLP(StochasticFit, LbfgsFit, BaseEstimator):
    """What the classifier and the regressor share: parameters, the network, the fit loop."""

    #: scikit-learn's own constraints for its MLP's parameters (so that a bad value raises its
    #: ``InvalidParameterError`` with its message), xpnet's activations, and xpnet's own
    _parameter_constraints: dict = {
        **ScikitMLP._parameter_constraints,
        "activation": [StrOptions(set(ACTIVATIONS))],
        "backend": "no_validation",
        "device": "no_validation",
        "dtype": [StrOptions({"float32", "float64"}), None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "loss": [StrOptions(set(losses.NAMES)), None],
        "init": [StrOptions(set(initialisers.NAMES)), None],
        "compile": ["boolean"],
        "precision": [StrOptions({*precision.POLICIES, *precision.ALIASES})],
        "class_weight": [dict, StrOptions({"balanced"}), None],
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
                 loss: str | None = None, init: str | None = None, compile: bool = False,
                 class_weight: Any = None, precision: str = "32"):
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
        self.class_weight = class_weight
        self.precision = precision

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
        if not foreign(X):
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
        if self.backend == "auto" and foreign(X):
            on_gpu = gpu_backend_of(X)
            if on_gpu is not None:
                return on_gpu
        return resolve(self.backend, self.device)

    def _dtype_name(self, X: Any) -> str:
        if self.dtype is not None:
            return self.dtype
        if precision.get(self.precision).mixed:   # float32 master weights
            return "float32"
        return "float32" if str(getattr(X, "dtype", "")).endswith("float32") else "float64"

    # ------------------------------------------------------------------ the network
    def _build(self, X: Any, n_outputs: int, output: str, loss: str) -> None:
        """The network for ``n_outputs`` outputs, its weights drawn as scikit-learn draws its
        own ([`_glorot_uniform`][xpnet.sklearn.estimator.BaseMLP._glorot_uniform], from the fit's
        RandomState) unless ``init`` names one of xpnet's initialisers. The network's own generator
        (dropout masks, the examples' order) is seeded by an int ``random_state`` itself, or from a
        RandomState's state without drawing from it."""
        sizes = self._sizes()
        rs = self.random_state
        seed = None if rs is None else int(rs) if isinstance(rs, (int, np.integer)) else \
            int(copy.deepcopy(self._random_state).randint(np.iinfo(np.int32).max))
        self.network_ = Network([self.n_features_in_, *map(int, sizes), n_outputs],
                                hidden=ACTIVATIONS[self.activation], output=output,
                                loss=loss, init=self.init, dropout=self.dropout,
                                backend=self._backend(X), dtype=self._dtype_name(X),
                                seed=seed, precision=self.precision)
        if self.init is None:
            self._glorot_uniform()
        self.n_layers_ = len(sizes) + 2
        self.n_outputs_ = n_outputs
        self.out_activation_ = {"sigmoid": "logistic"}.get(output, output)

    def _glorot_uniform(self) -> None:
        """scikit-learn's initialisation, draw for draw: for each layer in turn, W then b from
        U(-r, r), ``r = sqrt(6 / (fan_in + fan_out))`` (2 instead of 6 when the hidden
        activation is logistic), from the fit's RandomState (``check_random_state`` of
        ``random_state``): the same ``random_state`` starts from scikit-learn's own weights,
        and leaves the RandomState where scikit-learn's would be for the validation split."""
        net = self.network_
        factor = 2.0 if self.activation == "logistic" else 6.0
        params = []
        for d in net.dense_layers:
            r = math.sqrt(factor / (d.fan_in + d.fan_out))
            params += [self._random_state.uniform(-r, r, (d.fan_in, d.fan_out)),
                       self._random_state.uniform(-r, r, d.fan_out)]
        net.set_parameters(params)

    def _optimizer(self) -> optim.Optimizer:
        if self.solver == "adam":
            return optim.Adam(self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2,
                              eps=self.epsilon, epsilon_hat=True)   # scikit-learn's form
        nesterov = bool(self.nesterovs_momentum) and self.momentum > 0
        return optim.SGD(self.learning_rate_init, momentum=self.momentum, nesterov=nesterov)

    def _train(self, X: Any, y: Any, *, incremental: bool, classes: Any = None,
               sample_weight: Any = None) -> Any:
        """What fit and partial_fit share: check the parameters, prepare the data (building
        the network on a first call, or a refit without warm_start) and the examples'
        weights, then train; refuse weights that training made non-finite, as scikit-learn
        does."""
        self._check_params()
        if incremental and self.early_stopping:
            raise ValueError("partial_fit does not support early_stopping=True")
        # as scikit-learn: one RandomState per call, for the initial weights and the split
        self._random_state = check_random_state(self.random_state)
        first = not hasattr(self, "network_") or (not incremental and not self.warm_start)
        X, Y, stratify = self._prepare(X, y, first, incremental, classes)
        w = self._sample_weight(sample_weight, X)
        if self.solver == "lbfgs":
            self._fit_lbfgs(X, Y, w)
        else:
            self._fit(X, Y, incremental=incremental, stratify=stratify, first=first,
                      sample_weight=w)
        net = self.network_
        with net.backend.quiet_float_errors():
            finite = all(bool(net.xp.all(net.xp.isfinite(p))) for p in net.parameters())
        if not finite:
            raise ValueError("Solver produced non-finite parameter weights. The input data may "
                             "contain large values and need to be preprocessed.")
        return self

    def _class_weighted(self, Y: Any, w: np.ndarray | None) -> np.ndarray | None:
        """The training rows' weights times their class's (``class_weight``, a classifier's:
        see [`xpnet.edge.class_weights`][xpnet.edge.class_weights]); the regressor has no
        classes to weigh."""
        if self.class_weight is None:
            return w
        raise ValueError(f"class_weight weighs the classes of a classifier; "
                         f"{type(self).__name__} has none (give sample_weight instead)")

    @staticmethod
    def _sample_weight(sample_weight: Any, X: Any) -> np.ndarray | None:
        """``sample_weight`` checked as scikit-learn checks it (one finite number per row, not
        all zero), as float64 on the host; None stays None (every example counts once)."""
        if sample_weight is None:
            return None
        if foreign(X):   # the weights' values are what matters; they go to the device later
            return _check_sample_weight(to_numpy(sample_weight), np.empty((X.shape[0], 0)),
                                        dtype=np.float64)
        return _check_sample_weight(sample_weight, X, dtype=np.float64)

    def _prepare(self, X: Any, y: Any, first: bool, incremental: bool, classes: Any
                 ) -> tuple[Any, Any, Any]:
        """Checked inputs, encoded targets and the labels to stratify a validation split by;
        builds the network when ``first``."""
        raise NotImplementedError

    def _outputs(self, X: Any, method: str, check_input: bool = True) -> Any:
        """The network's outputs for ``X``, checked as ``method``'s input; with
        ``check_input=False`` (rows the fit has checked already: the validation set) as they
        are, so that feature names are not asked of them again."""
        check_is_fitted(self)
        if not check_input:
            return self.network_.forward(X)
        if get_config()["array_api_dispatch"] and kind_of(X) != self._fit_kind:
            # scikit-learn's array API convention: a method takes the namespace fit took
            raise ValueError(
                f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace "
                f"and the same device as those passed to fit(). Array namespaces and devices "
                f"used during fit {self._fit_kind} and {method} {kind_of(X)} differ.")
        return self.network_.forward(self._inputs(X, reset=False))

    # ------------------------------------------------------------------ fitted attributes
    @property
    def coefs_(self) -> list[np.ndarray]:
        """The weight matrix of each layer, (n_in, n_out), as scikit-learn's list: assigning
        the list or one item (``est.coefs_[1] = W``, ``est.coefs_[0] *= 0``) sets the
        network's weights; on NumPy the arrays are the network's own, so changing one in
        place changes the network, as in scikit-learn (on a GPU backend they are host
        copies: assign them back)."""
        check_is_fitted(self, "network_")
        return LayerArrays([to_numpy(d.W) for d in self.network_.dense_layers],
                           lambda W: self._set_layers(W, None))

    @coefs_.setter
    def coefs_(self, value: list[Any]) -> None:
        self._set_layers(value, None)

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """The bias vector of each layer, as [`coefs_`][xpnet.sklearn.estimator.BaseMLP.coefs_]
        holds the weights."""
        check_is_fitted(self, "network_")
        return LayerArrays([to_numpy(d.b) for d in self.network_.dense_layers],
                           lambda b: self._set_layers(None, b))

    @intercepts_.setter
    def intercepts_(self, value: list[Any]) -> None:
        self._set_layers(None, value)

    def _set_layers(self, coefs: list[Any] | None, intercepts: list[Any] | None) -> None:
        """Assign the weights (``coefs_``) or the biases (``intercepts_``) of every layer, as
        scikit-learn's fitted attributes allow (custom initialisation, weight transfer)."""
        check_is_fitted(self, "network_")
        W = list(coefs) if coefs is not None else self.coefs_
        b = list(intercepts) if intercepts is not None else self.intercepts_
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
                          "restored on NumPy, in precision '32'", stacklevel=2)
            backend = resolve("numpy")
            saved["config"] = {**saved["config"], "precision": "32"}
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
        file (``.npz`` or ``.safetensors``); [`load`][xpnet.sklearn.saved.load] reads it back."""
        from ..io import save

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
                "n_iter": int(self.n_iter_),
                "feature_names_in": [str(n) for n in getattr(self, "feature_names_in_", [])]
                or None}

    def _adopt(self, net: Network, record: dict[str, Any]) -> None:
        """Take a network read from a file as this estimator's fitted state
        ([`load`][xpnet.sklearn.saved.load])."""
        self.network_ = net
        self.n_features_in_ = int(record["n_features_in"])
        if record.get("feature_names_in"):   # so that a DataFrame's columns are checked again
            self.feature_names_in_ = np.asarray(record["feature_names_in"], dtype=object)
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


