"""xpnet.sklearn against scikit-learn itself: its estimator checks, its own MLP's updates from the
same weights, its stopping rule, and what its users do with estimators (pipelines, grid search
with worker processes, pickling, other array libraries)."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest

sklearn = pytest.importorskip("sklearn")

from sklearn import neural_network  # noqa: E402
from sklearn.datasets import load_digits, make_classification, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, DataConversionWarning  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import xpnet  # noqa: E402
from xpnet.backend import to_numpy  # noqa: E402
from xpnet.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# The one place for checks expected to fail, with the reason. Empty: every check passes, for
# the defaults, for SGD, float32, tanh and two hidden layers, and for L-BFGS. (Not with
# early_stopping=True: there the estimators refuse what scikit-learn's MLP refuses, a
# validation set under 2 rows and partial_fit, so they fail the checks that fit a few rows or
# call partial_fit, as scikit-learn's own MLP does with early stopping; its own test_mlp.py,
# run in tests/test_sklearn_own_tests.py, covers early stopping instead.)
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

CHECKED = [
    MLPClassifier(),
    MLPRegressor(),
    MLPClassifier(solver="sgd", learning_rate_init=0.05, activation="tanh", dtype="float32"),
    MLPRegressor(hidden_layer_sizes=(16, 16)),
    MLPClassifier(solver="lbfgs"),
]
# (Not MLPRegressor(loss="poisson"): check_regressor_multioutput fits it on targets of both
# signs whatever its positive_only tag says, which it refuses, and scikit-learn's own Poisson
# MLP fails check_regressors_train's R^2 > 0.5 on a shifted linear target. Its Poisson loss is
# compared with scikit-learn's below instead.)


# Settings for one check, as scikit-learn's own PER_ESTIMATOR_CHECK_PARAMS sets them for its
# MLP: "weight k" equals "k copies of the row" only where the fit sees the same batches, so the
# equivalence checks run without early stopping (a held-out tenth of 15 weighted rows is not a
# held-out tenth of their ~30 copies). With n = 15 every batch is the whole set ("auto" is
# min(200, n)), and the weighted fit must then match the repeated one to rtol 1e-7, a float64
# tolerance (float32's resolution is 1.2e-7), so they train in the input's float64.
EQUIVALENCE = {"early_stopping": False, "dtype": None}
CHECK_PARAMS = {"check_sample_weight_equivalence_on_dense_data": EQUIVALENCE,
                "check_sample_weight_equivalence_on_sparse_data": EQUIVALENCE}


def check_name(check):
    return getattr(check, "func", check).__name__


@parametrize_with_checks(CHECKED, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator, check):
    if check_name(check) in CHECK_PARAMS:   # a copy: the instance serves the other checks too
        estimator = sklearn.base.clone(estimator).set_params(**CHECK_PARAMS[check_name(check)])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


def test_the_sample_weight_and_multilabel_checks_run_for_both_estimators():
    """The checks the issue names are among those parametrize_with_checks yields (not left
    out by tags): every sample-weight check for both estimators, the multilabel ones for the
    classifier."""
    from sklearn.utils.estimator_checks import _yield_all_checks

    def names(est):
        return {check_name(c) for c in _yield_all_checks(est, legacy=True)}

    wanted = {"check_sample_weights_pandas_series", "check_sample_weights_not_an_array",
              "check_sample_weights_list", "check_sample_weights_shape",
              "check_sample_weights_not_overwritten", "check_all_zero_sample_weights_error",
              "check_sample_weight_equivalence_on_dense_data",
              "check_sample_weight_equivalence_on_sparse_data"}
    assert wanted <= names(MLPClassifier()) and wanted <= names(MLPRegressor())
    assert {"check_classifiers_multilabel_representation_invariance",
            "check_classifiers_multilabel_output_format_predict",
            "check_classifiers_multilabel_output_format_predict_proba",
            "check_classifiers_one_label_sample_weights"} <= names(MLPClassifier())


# ------------------------------------------------------------------ the same maths as sklearn
def sklearn_twin(ours, X, y, **params):
    """scikit-learn's own MLP holding our fitted weights (its partial_fit keeps coefs_ it
    finds), so that one more epoch on both can be compared update for update."""
    cls = neural_network.MLPClassifier if isinstance(ours, MLPClassifier) else \
        neural_network.MLPRegressor
    twin = cls(**params)
    twin.partial_fit(X[:2], y[:2], **({"classes": ours.classes_} if cls is
                                      neural_network.MLPClassifier else {}))
    twin.coefs_ = [c.copy() for c in ours.coefs_]
    twin.intercepts_ = [b.copy() for b in ours.intercepts_]
    del twin._optimizer                              # a fresh optimizer, as ours
    return twin


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression", "poisson"])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("n", [120, 110])
@pytest.mark.parametrize("weighted", [False, True])
def test_an_epoch_updates_the_weights_as_scikit_learn_does(kind, solver, n, weighted):
    """Same weights, same batches (no shuffling, batches of 30; with 110 rows the last has 20,
    whose L2 term is alpha/(2*20)), same settings: one epoch of xpnet's estimator and of
    scikit-learn's MLP end with the same weights (the cost, its gradient, the L2 penalty per
    batch and the update rule all agree), also with sample weights (each batch's weighted
    mean, its L2 term over its total weight) and for the Poisson loss (exp output, half the
    Poisson deviance), Adam with scikit-learn's epsilon (added before the bias correction:
    xpnet.Adam(epsilon_hat=True))."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 6))
    if kind == "regression":
        y = X @ rng.normal(size=6) + 0.1 * rng.normal(size=n)
        cls = MLPRegressor
    elif kind == "poisson":
        y = rng.poisson(np.exp(0.3 * X[:, 0])).astype(float)
        cls = MLPRegressor
    else:
        y = (X[:, 0] + X[:, 1] > 0).astype(int) + (kind == "multiclass") * (X[:, 2] > 0.5)
        cls = MLPClassifier
    params = dict(hidden_layer_sizes=(5, 4), activation="tanh", solver=solver, alpha=0.01,
                  batch_size=30, learning_rate_init=0.05, shuffle=False, momentum=0.0,
                  epsilon=1e-3, **({"loss": "poisson"} if kind == "poisson" else {}))
    sw = rng.uniform(0.0, 3.0, n) if weighted else None
    ours = cls(**params, backend="numpy", dtype="float64", random_state=0)
    ours.partial_fit(X, y, **({"classes": np.unique(y)} if cls is MLPClassifier else {}))
    twin = sklearn_twin(ours, X, y, **params)
    del ours._optim                                  # both start the epoch with fresh state
    ours.partial_fit(X, y, sample_weight=sw)
    twin.partial_fit(X, y, sample_weight=sw)
    for a, b in zip(ours.coefs_ + ours.intercepts_, twin.coefs_ + twin.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours.loss_curve_[-1], twin.loss_curve_[-1], rtol=1e-6)


def test_the_stopping_rule_is_scikit_learns():
    """On the same sequence of losses, xpnet stops at the epoch scikit-learn's own rule does."""
    losses = [1.0, 0.5, 0.49995, 0.4999, 0.49999, 0.49992, 0.4998, 0.49991, 0.4999, 0.4997]
    reference = neural_network.MLPClassifier(tol=1e-3, n_iter_no_change=3)
    reference.loss_curve_, reference.best_loss_ = [], np.inf
    reference._no_improvement_count = 0
    expected = None
    for epoch, loss in enumerate(losses, start=1):
        reference.loss_curve_.append(loss)
        reference._update_no_improvement_count(False, None, None, None)
        if reference._no_improvement_count > reference.n_iter_no_change:
            expected = epoch
            break
    ours = MLPClassifier(tol=1e-3, n_iter_no_change=3)
    ours.loss_curve_, ours.n_iter_, ours.t_, ours._n_train = [], 0, 0, 1
    ours.best_loss_, ours._no_improvement_count, ours._validation = np.inf, 0, None
    from xpnet.sklearn.stochastic import Epochs, ScikitRate

    ours._rate = ScikitRate()

    rule = Epochs(ours._record_epoch)
    got = next(e for e, loss in enumerate(losses, start=1)
               if rule.on_epoch_end(None, e, {"loss": loss}))
    assert got == expected == 6


# ------------------------------------------------------------------ what users do
def test_labels_of_every_kind_and_probabilities():
    X, y = make_classification(n_samples=150, n_features=5, n_informative=3, n_classes=3,
                               random_state=0)
    for labels in (np.array(["cat", "dog", "eel"]), np.array([10, 20, 30]),
                   np.array(["x", "y", "z"], dtype=object)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(max_iter=300, random_state=0).fit(X, labels[y])
        assert list(est.classes_) == list(labels)
        pred = est.predict(X)
        assert set(pred) <= set(labels) and (pred == labels[y]).mean() > 0.8
        proba = est.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0)
        np.testing.assert_allclose(est.predict_log_proba(X), np.log(proba), rtol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        binary = MLPClassifier(random_state=0, max_iter=300).fit(X, y == 1)
    assert binary.predict_proba(X).shape == (150, 2) and binary.network_.n_outputs == 1


def test_multi_output_regression():
    X, Y = make_regression(n_samples=200, n_features=6, n_targets=3, noise=1.0,
                           random_state=0)
    est = make_pipeline(StandardScaler(), MLPRegressor(max_iter=500, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, Y / 100)
    assert est.predict(X).shape == (200, 3) and est.score(X, Y / 100) > 0.9


def test_grid_search_with_worker_processes():
    """GridSearchCV with n_jobs=2 pickles the estimator into joblib's worker processes."""
    X, y = load_digits(return_X_y=True)
    search = GridSearchCV(make_pipeline(StandardScaler(), MLPClassifier(max_iter=100,
                                                                        random_state=0)),
                          {"mlpclassifier__hidden_layer_sizes": [(16,), (32,)]}, cv=3,
                          n_jobs=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X[:600], y[:600])
    # scikit-learn's own MLPClassifier, the same search: 0.843 and 0.875 (xpnet 0.827, 0.871)
    assert search.best_score_ > 0.78
    assert search.best_estimator_.score(X[600:], y[600:]) > 0.83


def test_pickling_keeps_predictions_and_training_state():
    X, y = make_classification(n_samples=120, n_features=4, random_state=1)
    est = MLPClassifier(max_iter=20, random_state=0, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(again.predict_proba(X), est.predict_proba(X))
        est.partial_fit(X, y)
        again.partial_fit(X, y)   # the optimizer's state travelled too
    np.testing.assert_allclose(again.coefs_[0], est.coefs_[0], rtol=1e-12)


@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_estimators_save_to_and_load_from_model_files(tmp_path, suffix):
    if suffix == ".safetensors":
        pytest.importorskip("safetensors")
    X, y = make_classification(n_samples=120, n_features=4, n_classes=3, n_informative=3,
                               n_redundant=0, random_state=2)
    labels = np.array([3, 7, 11])[y]
    clf = MLPClassifier(max_iter=50, random_state=0, hidden_layer_sizes=(9,))
    reg = MLPRegressor(max_iter=50, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
        reg.fit(X, X[:, 0] * 2.0)
    for est in (clf, reg):
        path = est.save(tmp_path / f"{type(est).__name__}{suffix}")
        back = xpnet.sklearn.load(path, backend="numpy")
        assert type(back) is type(est) and back.get_params() == est.get_params()
        np.testing.assert_array_equal(back.predict(X), est.predict(X))
        assert back.n_iter_ == est.n_iter_ and back.loss_curve_ == est.loss_curve_
    assert xpnet.sklearn.load(tmp_path / f"MLPClassifier{suffix}").classes_.dtype.kind == "i"
    plain = xpnet.Network([4, 3], backend="numpy").save(tmp_path / f"plain{suffix}")
    with pytest.raises(xpnet.ModelFileError, match="not a saved scikit-learn estimator"):
        xpnet.sklearn.load(plain)


def test_other_array_libraries_in_and_out():
    """Outputs follow the input's library and device; NumPy in, NumPy out."""
    torch = pytest.importorskip("torch")
    xs = pytest.importorskip("array_api_strict")
    X, y = make_classification(n_samples=100, n_features=4, random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(max_iter=50, random_state=0).fit(torch.asarray(X), torch.asarray(y))
        assert isinstance(est.predict(torch.asarray(X)), torch.Tensor)
        assert isinstance(est.predict_proba(torch.asarray(X)), torch.Tensor)
        assert isinstance(est.predict(X), np.ndarray)
        np.testing.assert_array_equal(est.predict(torch.asarray(X)).numpy(), est.predict(X))
        device = xs.Device("device1")
        on_device = MLPRegressor(max_iter=50, random_state=0, backend="array_api_strict",
                                 device="device1")
        Xd = xs.asarray(X, device=device)
        on_device.fit(Xd, xs.asarray(X[:, 1], device=device))
        out = on_device.predict(Xd)
        assert out.device == device and out.shape == (100,)
        np.testing.assert_allclose(to_numpy(out), on_device.predict(X), rtol=1e-6)


def test_clear_errors():
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    with pytest.raises(ValueError, match="sample_weight.shape == .* expected"):
        MLPClassifier().fit(X, y, sample_weight=np.ones(len(y) + 1))
    with pytest.raises(ValueError, match="at least one non-zero"):
        MLPClassifier().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="non-negative targets"):
        MLPRegressor(loss="poisson").fit(X, X[:, 0])
    with pytest.raises(sklearn.utils._param_validation.InvalidParameterError, match="'loss'"):
        MLPRegressor(loss="mse").fit(X, X[:, 0])
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        MLPClassifier().partial_fit(X, y)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier(max_iter=3).fit(X, y)


# ------------------------------------------------------------------ side by side with scikit-learn
def both(**params):
    """The same parameters through scikit-learn's MLPClassifier and xpnet's."""
    return neural_network.MLPClassifier(**params), MLPClassifier(**params)


def outcome(fn):
    """What calling ``fn`` does: ("ok", result) or (the exception's type, None)."""
    try:
        return "ok", fn()
    except Exception as exc:   # noqa: BLE001 - the type is what is compared
        return type(exc), None


@pytest.mark.parametrize("params", [
    {"learning_rate": "constant"}, {"learning_rate": "invscaling", "power_t": 0.25},
    {"learning_rate": "adaptive"}, {"max_fun": 100}, {"n_iter_no_change": np.inf},
    {"random_state": np.random.RandomState(0)},
])
def test_scikit_learns_parameters_are_accepted(params):
    X, y = make_classification(300, n_classes=3, n_informative=4, random_state=0)
    theirs, ours = both(max_iter=5, solver="sgd", **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert outcome(lambda: theirs.fit(X, y))[0] == outcome(lambda: ours.fit(X, y))[0] == "ok"
    assert ours.get_params()[next(iter(params))] is params[next(iter(params))]


@pytest.mark.parametrize("params", [
    {"learning_rate": "sometimes"}, {"shuffle": "yes"}, {"alpha": -1.0}, {"max_iter": 0},
    {"hidden_layer_sizes": "big"}, {"activation": "swish"}, {"n_iter_no_change": 0},
])
def test_invalid_parameters_raise_scikit_learns_error(params):
    from sklearn.utils._param_validation import InvalidParameterError

    X, y = make_classification(60, random_state=0)
    theirs, ours = both(**params)
    with pytest.raises(InvalidParameterError) as info:
        ours.fit(X, y)
    with pytest.raises(InvalidParameterError) as reference:
        theirs.fit(X, y)
    name = next(iter(params))
    assert f"The '{name}' parameter of MLPClassifier must be" in str(info.value)
    assert str(reference.value).split(" must be")[0] == str(info.value).split(" must be")[0]


@pytest.mark.parametrize("schedule", ["invscaling", "adaptive"])
def test_sgd_learning_rate_schedules_follow_scikit_learns_rule(schedule):
    """invscaling: eta_init / (t + 1) ** power_t after each epoch, t the examples seen;
    adaptive: a fifth of the rate on each plateau instead of stopping, until 1e-6."""
    X, y = make_classification(200, random_state=0)
    est = MLPClassifier(solver="sgd", learning_rate=schedule, learning_rate_init=0.5,
                        max_iter=30, tol=1e9 if schedule == "adaptive" else 1e-4,
                        n_iter_no_change=2, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
    if schedule == "invscaling":
        assert est._optim.learning_rate == pytest.approx(0.5 / (200 * 29 + 1) ** 0.5)
    else:   # every 3 epochs no improvement (tol is huge): a fifth, until below 1e-6 it stops
        assert est._optim.learning_rate == pytest.approx(0.5 / 5 ** 9)
        assert est.n_iter_ == 30 and len(est.loss_curve_) == 30


def test_warm_start_accumulates_and_refuses_new_classes():
    X, y = make_classification(300, n_classes=3, n_informative=4, random_state=0)
    for est in both(warm_start=True, max_iter=10, random_state=0):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y)
            est.fit(X, y)
        assert len(est.loss_curve_) == 20 and est.t_ == 6000
        with pytest.raises(ValueError, match="warm_start can only be used where `y` has the "
                                             "same classes"):
            est.fit(X[y < 2], y[y < 2])


def test_fitted_attributes_as_scikit_learns():
    X, y = make_classification(100, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs, ours = (e.fit(X, y) for e in both(max_iter=5, random_state=0))
    assert ours.validation_scores_ is theirs.validation_scores_ is None
    assert ours.best_validation_score_ is theirs.best_validation_score_ is None
    assert ours.loss_ == ours.loss_curve_[-1] and theirs.loss_ == theirs.loss_curve_[-1]
    # coefs_ and intercepts_ can be assigned: scikit-learn's weights give its predictions
    ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
    np.testing.assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=1e-6,
                               atol=1e-9)


def test_a_column_regression_target_warns_and_predicts_a_vector():
    from sklearn.datasets import make_regression

    X, y = make_regression(80, 4, random_state=0)
    for est in (neural_network.MLPRegressor(max_iter=5), MLPRegressor(max_iter=5)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            with pytest.warns(DataConversionWarning):
                est.fit(X, y.reshape(-1, 1))
        assert est.predict(X).shape == (80,)


def test_an_unpickled_estimator_continues_as_the_original():
    import pickle

    X, y = make_classification(120, random_state=0)
    a = MLPClassifier(hidden_layer_sizes=(8,), random_state=0)
    a.partial_fit(X, y, classes=[0, 1])
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X, y)
    b.partial_fit(X, y)
    for p, q in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_array_equal(p, q)


def test_the_grid_search_example_runs():
    """examples/sklearn_grid_search.py, the README's example, end to end."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "examples" / "sklearn_grid_search.py"
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    held_out = float(r.stdout.rsplit("held-out accuracy", 1)[1])
    assert held_out > 0.95


def test_multilabel_targets_as_scikit_learns():
    """An indicator y: one sigmoid output per label with binary cross-entropy; predict gives
    the indicator matrix, predict_proba each label's probability, classes_ the labels 0..k-1,
    and the (subset) accuracy is within a few points of scikit-learn's on the same data."""
    from sklearn.datasets import make_multilabel_classification

    X, Y = make_multilabel_classification(300, n_classes=4, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs, ours = (e.fit(X, Y) for e in both(max_iter=200, random_state=0))
    assert ours.predict(X).shape == theirs.predict(X).shape == (300, 4)
    assert set(np.unique(ours.predict(X))) <= {0, 1}
    assert ours.predict_proba(X).shape == (300, 4)
    np.testing.assert_array_equal(ours.classes_, theirs.classes_)
    assert abs(ours.score(X, Y) - theirs.score(X, Y)) < 0.05
    assert ours.__sklearn_tags__().classifier_tags.multi_label


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_sparse_inputs_train_as_their_dense_rows_would(fmt):
    """A sparse X is never densified whole: each batch is, as it is taken; the weights after a
    fit equal those of the same fit on the dense matrix, and predict takes sparse rows too."""
    import scipy.sparse as sp

    X = sp.random(300, 40, density=0.1, format=fmt, random_state=0, dtype=np.float64)
    y = (np.asarray(X.sum(axis=1)).ravel() > 0.2).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = MLPClassifier(max_iter=5, random_state=0, dtype="float64").fit(X, y)
        dense = MLPClassifier(max_iter=5, random_state=0, dtype="float64").fit(X.toarray(), y)
        theirs = neural_network.MLPClassifier(max_iter=5, random_state=0).fit(X, y)
    for p, q in zip(sparse.coefs_, dense.coefs_):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(sparse.predict(X), dense.predict(X.toarray()))
    assert theirs.predict(X).shape == sparse.predict(X).shape


@pytest.mark.parametrize("backend,dropout_first,density", [
    ("numpy", False, 0.02), ("numpy", True, 0.02), ("numpy", False, 0.2),
    ("array_api_strict", False, 0.02)])
def test_sparse_rows_reach_the_first_layer_a_batch_at_a_time(monkeypatch, backend,
                                                             dropout_first, density):
    """Each step takes its batch's rows only. On NumPy, for a matrix under SPARSE_BELOW
    non-zero, they stay CSR for the first Dense layer's products (SciPy multiplies NumPy arrays
    directly, faster than densifying there); a denser matrix, an input dropout layer or a
    backend SciPy cannot multiply gets them densified. Either way the fit equals the fit on the
    dense matrix."""
    import scipy.sparse as sp

    from xpnet.sparse_rows import SPARSE_BELOW, SparseRows

    if backend != "numpy":
        pytest.importorskip(backend)
    seen = []
    real = SparseRows.take

    def spy(self, idx):
        out = real(self, idx)
        seen.append((out.shape[0], sp.issparse(out)))
        return out

    monkeypatch.setattr(SparseRows, "take", spy)
    X = sp.random(100, 200, density=density, format="csr", random_state=0)
    y = np.asarray(X.sum(axis=1)).ravel() > np.median(np.asarray(X.sum(axis=1)))

    def net():
        layers = [xpnet.Dropout(0.0)] if dropout_first else []
        return xpnet.Network(layers + [xpnet.Dense(200, 4, "tanh"),
                                       xpnet.Dense(4, 2, "softmax")],
                             backend=backend, seed=0, dtype="float64")

    a, b = net(), net()
    b.set_parameters([to_numpy(p) for p in a.parameters()])
    a.fit(X, y.astype(int), epochs=2, batch_size=32, progress=False, l2_per_batch=True)
    stays_sparse = backend == "numpy" and not dropout_first and density < SPARSE_BELOW
    assert seen == [(32, stays_sparse)] * 3 + [(4, stays_sparse)] + \
        [(32, stays_sparse)] * 3 + [(4, stays_sparse)]
    b.fit(X.toarray(), y.astype(int), epochs=2, batch_size=32, progress=False,
          l2_per_batch=True)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(to_numpy(p), to_numpy(q), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(to_numpy(a.forward(X)), to_numpy(b.forward(X.toarray())),
                               rtol=1e-12)


def test_lbfgs_as_scikit_learns():
    """Full-batch L-BFGS through scipy.optimize: both libraries fit the training set, report
    the loss at the optimum (xpnet's equals its own cost there, L2 included), warn when
    max_iter cuts it short, and refuse partial_fit the same way."""
    X, y = make_classification(200, n_classes=3, n_informative=4, random_state=0)
    theirs, ours = both(solver="lbfgs", max_iter=300, random_state=0, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    assert ours.score(X, y) >= theirs.score(X, y) - 0.05
    net = ours.network_
    assert ours.loss_ == pytest.approx(net.cost(X, np.searchsorted(ours.classes_, y),
                                                n=len(y)), rel=1e-9)
    for est in both(solver="lbfgs", max_iter=2):
        with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
            est.fit(X, y)
        assert est.n_iter_ == 2
    for est in both(solver="lbfgs"):
        assert not hasattr(est, "partial_fit")
        with pytest.raises(AttributeError, match="has no attribute 'partial_fit'"):
            est.partial_fit(X, y, classes=np.unique(y))


# ------------------------------------------------------------------ sample weights
def test_adaboost_boosts_xpnets_classifier_as_scikit_learns():
    """AdaBoost needs fit(X, y, sample_weight): it runs on both MLPs, every round's estimator
    kept, and xpnet's boosted accuracy, averaged over three seeds (one seed's varies by +-0.05
    for either library), is no worse than scikit-learn's by more than a few points."""
    from sklearn.ensemble import AdaBoostClassifier

    X, y = make_classification(300, n_classes=3, n_informative=4, random_state=0)
    scores = np.zeros((3, 2))
    for seed in range(3):
        for j, mlp in enumerate(both(hidden_layer_sizes=(16,), max_iter=60, random_state=seed)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                boost = AdaBoostClassifier(mlp, n_estimators=4, random_state=seed).fit(X, y)
            scores[seed, j] = boost.score(X, y)
            assert len(boost.estimators_) == 4
    theirs, ours = scores.mean(axis=0)
    assert ours >= theirs - 0.03, scores


@pytest.mark.parametrize("n_classes", [2, 3])
def test_early_stopping_holds_out_scikit_learns_rows_with_their_weights(n_classes):
    """The same random_state holds out the rows scikit-learn's MLP holds out (its RandomState
    after the same initial draws; stratified for a binary target only), each row with its
    weight: after one epoch at a negligible learning rate both estimators score the same
    weights on them, so their weighted validation scores agree."""
    X, y = make_classification(400, n_classes=n_classes, n_informative=4, random_state=0)
    w = np.random.default_rng(0).uniform(0.1, 3.0, 400)
    theirs, ours = both(early_stopping=True, max_iter=1, solver="sgd", momentum=0.0,
                        learning_rate_init=1e-10, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y, sample_weight=w)
        ours.fit(X, y, sample_weight=w)
    assert ours.validation_scores_[0] == pytest.approx(theirs.validation_scores_[0], abs=1e-12)
    assert ours.best_validation_score_ == max(ours.validation_scores_)


def test_sample_weights_with_other_array_libraries_train_as_numpys():
    torch = pytest.importorskip("torch")
    X, y = make_classification(120, random_state=0)
    w = np.random.default_rng(0).uniform(0.0, 2.0, 120)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(max_iter=5, random_state=0, dtype="float64").fit(X, y, w)
        b = MLPClassifier(max_iter=5, random_state=0, dtype="float64").fit(
            torch.asarray(X), torch.asarray(y), torch.asarray(w))
    for p, q in zip(a.coefs_, b.coefs_):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


def test_lbfgs_on_sparse_rows_equals_lbfgs_on_the_dense_matrix():
    """Full-batch L-BFGS on a sparse X takes the cost and gradient 4096 rows at a time (never
    the whole matrix dense): the same fit as on the dense matrix, with weights too."""
    import scipy.sparse as sp

    X = sp.random(5000, 30, density=0.05, format="csr", random_state=0, dtype=np.float64)
    y = (np.asarray(X.sum(axis=1)).ravel() > 0.75).astype(int)
    w = np.random.default_rng(0).uniform(0.5, 2.0, 5000)
    fits = []
    for data in (X, X.toarray()):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            fits.append(MLPClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=15,
                                      random_state=0).fit(data, y, sample_weight=w))
    for p, q in zip(fits[0].coefs_, fits[1].coefs_):
        np.testing.assert_allclose(p, q, rtol=1e-7, atol=1e-9)
    assert fits[0].loss_ == pytest.approx(fits[1].loss_, rel=1e-10)


def test_poisson_regression_as_scikit_learns():
    """loss="poisson": an exp output (positive predictions, out_activation_ "exp") fitted by
    half the Poisson deviance; on counts it scores as scikit-learn's own Poisson MLP."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4))
    y = rng.poisson(np.exp(0.6 * X[:, 0] - 0.4 * X[:, 1]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = neural_network.MLPRegressor(loss="poisson", max_iter=300, random_state=0)
        ours = MLPRegressor(loss="poisson", max_iter=300, random_state=0)
        theirs.fit(X, y)
        ours.fit(X, y)
    assert ours.out_activation_ == theirs.out_activation_ == "exp"
    assert (ours.predict(X) > 0).all()
    assert abs(ours.score(X, y) - theirs.score(X, y)) < 0.05
    assert MLPRegressor().get_params()["loss"] == neural_network.MLPRegressor().loss


@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_from_scikit_learns_start_follows_its_path(weighted):
    """From the same starting weights, L-BFGS through xpnet's cost and gradient takes the
    iterates scikit-learn's does: after 10 iterations the weights agree to rounding, so
    xpnet hands scipy.optimize the same function, weighted or not."""
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    X, y = (X - X.mean(0)) / X.std(0), (y - y.mean()) / y.std()
    sw = np.random.default_rng(0).uniform(0.2, 2.0, len(y)) if weighted else None
    start = dict(solver="lbfgs", random_state=0, max_iter=1, warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs = neural_network.MLPRegressor(**start).fit(X, y, sample_weight=sw)
        ours = MLPRegressor(**start).fit(X, y, sample_weight=sw)
        ours.coefs_, ours.intercepts_ = theirs.coefs_, theirs.intercepts_
        theirs.set_params(max_iter=10).fit(X, y, sample_weight=sw)
        ours.set_params(max_iter=10).fit(X, y, sample_weight=sw)
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-12)


def test_a_small_lbfgs_fit_runs_its_blas_on_one_thread(monkeypatch):
    """As a fit's steps do: every evaluation of a small network's cost is a few MFLOP, where
    the BLAS's second thread costs more than it gives; the setting is given back after."""
    pytest.importorskip("threadpoolctl")
    import scipy.optimize

    from xpnet.backend import blas_controller

    for name in ("XPNET_BLAS_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                 "MKL_NUM_THREADS", "BLIS_NUM_THREADS"):
        monkeypatch.delenv(name, raising=False)

    def blas_threads():
        return {i["num_threads"] for i in blas_controller().info()}

    seen, real = [], scipy.optimize.minimize

    def spy(*args, **kwargs):
        seen.append(blas_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", spy)
    X, y = make_classification(150, random_state=0)
    before = blas_threads()
    MLPClassifier(solver="lbfgs", max_iter=20).fit(X, y)
    assert seen == [{1}] and blas_threads() == before


def test_the_same_random_state_starts_from_scikit_learns_weights():
    """The initial weights are scikit-learn's draw for draw, so a full-batch L-BFGS fit in
    float64 follows scikit-learn's to rounding."""
    X, y = make_classification(150, n_features=6, random_state=4)
    theirs, ours = both(solver="lbfgs", max_iter=15, hidden_layer_sizes=(7,), random_state=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        theirs.fit(X, y)
        ours.fit(X, y)
    for p, q in zip(theirs.coefs_ + theirs.intercepts_, ours.coefs_ + ours.intercepts_):
        np.testing.assert_allclose(q, p, rtol=1e-8, atol=1e-10)
    assert ours.n_iter_ == theirs.n_iter_


def test_coefs_items_are_assigned_and_changed_as_scikit_learns():
    X, y = make_classification(80, n_features=4, random_state=0)
    for backend in ("numpy", "array_api_strict"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = MLPClassifier(hidden_layer_sizes=(5,), max_iter=3, random_state=0,
                                backend=backend).fit(X, y)
        est.coefs_[1] = np.full((5, 1), 2.0)          # one layer's weights replaced
        assert np.all(est.coefs_[1] == 2.0)
        est.coefs_[0] *= 0                             # one layer's weights changed in place
        est.intercepts_[0] *= 0
        assert not np.any(est.coefs_[0]) and not np.any(est.intercepts_[0])
        # every hidden unit is now relu(0) = 0: the output is the output bias alone
        expected = 1 / (1 + np.exp(-est.intercepts_[1][0]))
        np.testing.assert_allclose(est.predict_proba(X)[:, 1], expected, rtol=1e-6)


def test_one_class_trains_and_predicts_it_as_scikit_learn_does():
    X = np.random.default_rng(0).normal(size=(12, 3))
    for labels in (np.full(12, 7), np.array(["only"] * 12)):
        theirs, ours = both(max_iter=5, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            theirs.fit(X, labels)
            ours.fit(X, labels)
        assert list(ours.classes_) == list(theirs.classes_)
        assert list(ours.predict(X)) == list(theirs.predict(X)) == list(labels)
        assert ours.predict_proba(X).shape == theirs.predict_proba(X).shape == (12, 2)


def test_a_saved_estimator_keeps_its_feature_names(tmp_path):
    pd = pytest.importorskip("pandas")
    X, y = make_classification(60, n_features=3, n_informative=2, n_redundant=0,
                               random_state=0)
    frame = pd.DataFrame(X, columns=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MLPClassifier(max_iter=3, random_state=0).fit(frame, y)
    est.save(tmp_path / "m.npz")
    back = xpnet.sklearn.load(tmp_path / "m.npz", backend="numpy")
    assert list(back.feature_names_in_) == ["a", "b", "c"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)   # no "fitted without feature names"
        np.testing.assert_array_equal(back.predict(frame), est.predict(frame))
    with pytest.raises(ValueError, match="feature names"):
        back.predict(frame.rename(columns={"a": "z"}))


def test_n_iter_counts_the_last_calls_epochs():
    X, y = make_classification(100, random_state=0)
    est = MLPClassifier(max_iter=4, warm_start=True, random_state=0, n_iter_no_change=np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        est.fit(X, y)
    assert est.n_iter_ == 4 and len(est.loss_curve_) == 8 and est.t_ == 800
    est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 9


def test_class_weight_is_the_matching_sample_weight_in_the_estimators():
    """xpnet's own keyword (scikit-learn's MLP has none: scikit-learn #9113): class weights in
    the labels' own terms, or "balanced", equal to the sample weights they stand for."""
    X, y = make_classification(120, n_classes=3, n_informative=4, weights=[0.6, 0.3, 0.1],
                               random_state=0)
    labels = np.array(["a", "b", "c"])[y]
    for spec, per_class in (({"a": 0.5, "c": 4.0}, np.array([0.5, 1.0, 4.0])),
                            ("balanced", 120 / (3 * np.bincount(y)))):
        for solver in ("adam", "lbfgs"):
            kw = dict(max_iter=5, random_state=0, solver=solver, dtype="float64")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                a = MLPClassifier(class_weight=spec, **kw).fit(X, labels)
                b = MLPClassifier(**kw).fit(X, labels, sample_weight=per_class[y])
            for p, q in zip(a.coefs_, b.coefs_):
                np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="class_weight names"):
        MLPClassifier(class_weight={"z": 2.0}, max_iter=1).fit(X, labels)
    with pytest.raises(ValueError, match="MLPRegressor has none"):
        MLPRegressor(class_weight="balanced", max_iter=1).fit(X, y.astype(float))
