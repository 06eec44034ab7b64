"""Scalers (fitted on the training split only) and metrics against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest

import xpnet
from xpnet import metrics


def test_standardize_uses_training_statistics_only():
    train = np.array([[1.0, 10.0], [3.0, 10.0]])
    test = np.array([[5.0, 12.0]])
    s = xpnet.Scaler("standardize").fit(train)
    np.testing.assert_allclose(s.transform(train, np.float64), [[-1, 0], [1, 0]])
    np.testing.assert_allclose(s.transform(test, np.float64), [[3, 2]])  # constant column: std 1


def test_minmax_pixels_none_and_round_trip():
    X = np.array([[0, 255], [255, 0], [51, 102]], dtype=np.uint8)
    np.testing.assert_allclose(xpnet.Scaler("pixels").fit_transform(X), X / 255.0, rtol=1e-6)
    mm = xpnet.Scaler("minmax").fit(X)
    np.testing.assert_allclose(mm.transform(X, np.float64)[:, 0], [0, 1, 0.2])
    again = xpnet.Scaler.from_config(mm.config())
    np.testing.assert_array_equal(again.transform(X), mm.transform(X))
    assert xpnet.Scaler("none").fit_transform(X).dtype == np.float32
    with pytest.raises(ValueError, match="valid: pixels, standardize, minmax, none"):
        xpnet.Scaler("zscore")
    with pytest.raises(ValueError, match="has 3 features per example but the model expects 2"):
        mm.transform(np.zeros((1, 3)))


def test_confusion_matrix_and_scores():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 2, 2]
    C = metrics.confusion_matrix(y_true, y_pred, 3)
    assert C.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    m = metrics.precision_recall_f1(C)
    np.testing.assert_allclose(m["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(m["recall"], [2 / 3, 0.5, 1.0])
    np.testing.assert_allclose(m["f1"], [0.8, 0.5, 2 / 3])
    assert metrics.accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    text = metrics.report(C, ["a", "b", "c"])
    assert "confusion matrix" in text and "macro" in text
    long = metrics.report(C, ["class_0", "class_1", "class_2"]).splitlines()
    assert long[1].split() == ["class_0", "class_1", "class_2"]   # the headers stay apart
    assert long[2].split() == ["class_0", "2", "1", "0"]


def test_kfold_partitions_every_example_once():
    folds = metrics.kfold(23, 5, seed=1)
    tests = np.concatenate([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(23))
    for tr, te in folds:
        assert not set(tr) & set(te) and len(tr) + len(te) == 23
    with pytest.raises(ValueError, match="needs 2 <= k"):
        metrics.kfold(3, 5)
