"""The figures a fit logs each epoch against scikit-learn's own metrics, and in a fit: the last
epoch's held-out figures are those of the model it returns."""

from __future__ import annotations

import io

import numpy as np
import pytest

import xpnet
from xpnet import epoch_metrics

sk = pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference")

RNG = np.random.default_rng(7)


def onehot(labels, k):
    return np.eye(k)[labels]


@pytest.mark.parametrize("k", [2, 4])
def test_classifier_figures_equal_scikit_learns(k):
    n = 200
    labels = RNG.integers(0, k, n)
    scores = RNG.dirichlet(np.ones(k), n) + 0.3 * onehot(labels, k)   # better than chance
    scores[:20] = np.round(scores[:20], 1) + 0.05                       # ties among them
    scores = scores / scores.sum(axis=1, keepdims=True)
    if k == 2:   # one sigmoid column, as a binary network outputs
        Y, S = labels.reshape(-1, 1).astype(float), scores[:, 1:]
        auc = sk.roc_auc_score(labels, scores[:, 1])
    else:
        Y, S = onehot(labels, k), scores
        auc = sk.roc_auc_score(labels, scores, multi_class="ovr", average="macro")
    got = epoch_metrics.compute(["f1", "auc", "top_2"], Y, S)
    predicted = scores.argmax(axis=1) if k > 2 else (scores[:, 1] >= 0.5).astype(int)
    assert got["f1"] == pytest.approx(sk.f1_score(labels, predicted, average="macro"))
    assert got["auc"] == pytest.approx(auc, rel=1e-12)
    if k > 2:
        assert got["top_2"] == pytest.approx(sk.top_k_accuracy_score(labels, scores, k=2))


def test_regressor_figures_equal_scikit_learns():
    y = RNG.normal(size=(50, 1))
    p = y + 0.3 * RNG.normal(size=(50, 1))
    got = epoch_metrics.compute(["r2", "mae"], y, p)
    assert got["r2"] == pytest.approx(sk.r2_score(y, p))
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, p))


def test_a_fit_logs_them_and_the_last_are_the_returned_models(backend):
    rng = np.random.default_rng(0)
    centres = np.array([[2.0, 0.0], [-1.0, 1.7], [-1.0, -1.7]])
    y = rng.integers(0, 3, 120)
    X = centres[y] + 0.9 * rng.normal(size=(120, 2))
    net = xpnet.Network([2, 8, 3], backend=backend, seed=0)
    shown = io.StringIO()
    h = net.fit(X, y, epochs=4, batch_size=16, validation_split=0.25, stream=shown,
                metrics=["f1", "auc", "top_2"], learning_rate=0.3)
    for key in ("f1", "auc", "top_2", "val_f1", "val_auc", "val_top_2"):
        assert len(h[key]) == 4 and all(0.0 <= v <= 1.0 for v in h[key]), key
    Xv, yv = X[90:], y[90:]
    predicted = np.asarray(xpnet.backend.to_numpy(net.predict(Xv)))
    assert h["val_f1"][-1] == pytest.approx(sk.f1_score(yv, predicted, average="macro"))
    probs = xpnet.backend.to_numpy(net.forward(Xv))
    assert h["val_auc"][-1] == pytest.approx(
        sk.roc_auc_score(yv, probs, multi_class="ovr"), rel=1e-5)
    assert "val_f1 " in shown.getvalue().splitlines()[-1]   # and the progress line shows them


def test_a_figure_of_the_wrong_kind_is_refused():
    net = xpnet.Network([2, 3, 1], output="identity", loss="mse", backend="numpy")
    with pytest.raises(ValueError, match="f1 is not a figure of a regressor; a regressor "
                                         "reports r2, mae"):
        net.fit(np.zeros((4, 2)), np.zeros(4), metrics=["f1"], progress=False)
    with pytest.raises(ValueError, match="unknown metric 'precision'"):
        net.fit(np.zeros((4, 2)), np.zeros(4), metrics=["precision"], progress=False)


def test_held_out_figures_of_sparse_rows_come_from_the_same_pass():
    """A sparse held-out set is scored a chunk of rows at a time, its figures from the outputs
    of that same pass (the loss's)."""
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(1)
    X = rng.normal(size=(80, 6)) * (rng.random((80, 6)) < 0.3)
    y = (X[:, 0] > 0).astype(int)
    net = xpnet.Network([6, 8, 2], backend="numpy", seed=0)
    h = net.fit(sparse.csr_matrix(X), y, epochs=2, validation_split=0.25, metrics=["f1"],
                progress=False)
    predicted = np.asarray(net.predict(X[60:]))
    assert h["val_f1"][-1] == pytest.approx(sk.f1_score(y[60:], predicted, average="macro"))
