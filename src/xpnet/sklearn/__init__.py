"""scikit-learn estimators over xpnet: change one import.

    from xpnet.sklearn import MLPClassifier     # instead of sklearn.neural_network's

[`MLPClassifier`][xpnet.sklearn.classifier.MLPClassifier] and
[`MLPRegressor`][xpnet.sklearn.regressor.MLPRegressor] take every parameter of scikit-learn's MLP
estimators with the same meaning and default, validated by scikit-learn's own constraints (its
``InvalidParameterError`` and messages), and follow its training procedure: mini-batches of
``min(200, n)`` by default, Adam or SGD, the L2 penalty ``alpha / (2m)
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
the classifier's ``loss``, ``init``, ``compile`` (the step compiled whole, on the torch
backend) and ``precision`` (``"bf16-mixed"``, ``"16-mixed"``: float32 weights and GEMMs in
bfloat16/float16, [`xpnet.precision`][xpnet.precision]; float32 by default then).

Arrays of another library (CuPy, PyTorch, array-api-strict) are accepted as they are, and
predictions come back in the input's library and on its device (the array API convention:
outputs follow the input's namespace); NumPy in, NumPy out. With ``backend="auto"``, CuPy or
CUDA PyTorch input trains on its own GPU. Fitted estimators pickle (the network is stored as
NumPy arrays plus its description and its random state, so training goes on as it would have;
xpnet's model files never hold pickle) and [`save`][xpnet.sklearn.estimator.BaseMLP.save] /
[`load`][xpnet.sklearn.saved.load] go through xpnet model files.

The weights start as scikit-learn's do, drawn draw for draw from the same ``RandomState``
(unless ``init`` names one of xpnet's initialisers), and the fits follow scikit-learn's rules
to its refusals and messages. What differs, each for a reason: a label indicator ``y`` trains
one sigmoid output per label; sparse ``X`` stays sparse, each batch (for L-BFGS, each chunk of
4096 rows) taken as it is needed ([`xpnet.sparse_rows`][xpnet.sparse_rows]); the squared-error loss
reported for several outputs is the cost the updates minimise, ``(1/2n) sum ||y - p||^2``
(scikit-learn reports its mean over the outputs); sigmoid probabilities are held strictly inside (0,
1); ``loss="poisson"`` refuses negative targets (scikit-learn trains on them to a NaN loss); on a
GPU backend ``coefs_`` and ``intercepts_`` hold host copies (assign the list or an item to change
the network); the examples' order in each epoch comes from xpnet's own generator; sample weights
train in one process.

The package, one idea a module: [`estimator`][xpnet.sklearn.estimator] (what both estimators share:
parameters, the network, fitted attributes, pickling and files),
[`stochastic`][xpnet.sklearn.stochastic] (the Adam and SGD fit with scikit-learn's stopping rule),
[`lbfgs`][xpnet.sklearn.lbfgs] (the full-batch L-BFGS fit),
[`classifier`][xpnet.sklearn.classifier], [`regressor`][xpnet.sklearn.regressor],
[`arrays`][xpnet.sklearn.arrays] (inputs and outputs in the caller's array library) and
[`saved`][xpnet.sklearn.saved] (estimators from model files).
"""

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # only this package needs scikit-learn
    raise ImportError(f'xpnet.sklearn needs scikit-learn ({exc}): pip install "xpnet[sklearn]"'
                      ) from None

from .classifier import MLPClassifier  # noqa: E402
from .regressor import MLPRegressor  # noqa: E402
from .saved import load  # noqa: E402

__all__ = ["MLPClassifier", "MLPRegressor", "load"]
