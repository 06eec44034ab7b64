"""ONNX export, checked by ONNX Runtime: for every activation, both kinds of output, float32
and float64, with and without input scaling, the runtime's probabilities equal xpnet's forward
pass and its labels equal xpnet's predictions, on a thousand rows and on a CLI-trained MNIST
model. The graph passes ``onnx.checker.check_model(full_check=True)``."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import xpnet
from xpnet import activations
from xpnet.cli import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (exp is an output for Poisson regression: as a hidden layer on raw features it overflows)
HIDDEN = [name for name in activations.NAMES if name not in ("softmax", "exp")]
HEADS = {  # output activation, loss, outputs
    "softmax": ("softmax", "cross_entropy", 4),
    "sigmoid1": ("sigmoid", "binary_cross_entropy", 1),
    "sigmoid3": ("sigmoid", "mse", 3),
    "regression": ("identity", "mse", 2),
    "poisson": ("exp", "poisson", 2),
}
ROWS = 1000
TOLERANCE = {"float32": 1e-5, "float64": 1e-12}


def session(model):
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


def rows(n=ROWS, d=5, seed=1, raw=True):
    """Raw, off-centre features (what a model with input scaling takes), or centred ones."""
    rng = np.random.default_rng(seed)
    return rng.normal(3.0, 2.0, size=(n, d)) if raw else rng.normal(size=(n, d))


def network(hidden, head, dtype, scaled, seed=0, **act):
    out, loss, k = HEADS[head]
    net = xpnet.Network([xpnet.Dense(5, 7, activations.get(hidden, **act)), xpnet.Dropout(0.3),
                         xpnet.Dense(7, 6, activations.get(hidden, **act)),
                         xpnet.Dense(6, k, out)], loss=loss, backend="numpy", dtype=dtype,
                        seed=seed)
    # trained weights differ from the initial ones; a few steps make them less symmetric
    X = rows(64, seed=seed + 10, raw=scaled)
    net.preprocessing = xpnet.Scaler("standardize").fit(X) if scaled else None
    Xs = net.preprocessing.transform(X, net.dtype) if scaled else X
    Y = np.random.default_rng(seed).random((64, k))
    if out == "softmax":
        Y = np.eye(k)[Y.argmax(axis=1)]
    for _ in range(3):
        net.train_step(Xs, Y, xpnet.SGD(0.1))
    return net


def assert_labels_agree(label, probs, predicted, margin):
    """Each label is xpnet's prediction, except where outputs tie within ``margin`` (the
    tolerance of the probabilities): there it must be one of the tied classes."""
    if probs.shape[1] == 1:
        p = probs[:, 0]
        allowed = np.stack([p < 0.5 + margin, p >= 0.5 - margin], axis=1)
    else:
        allowed = probs >= probs.max(axis=1, keepdims=True) - margin
    sure = allowed.sum(axis=1) == 1
    np.testing.assert_array_equal(label[sure], predicted[sure])
    assert allowed[np.arange(len(label)), label].all()
    return sure


def check_against_runtime(net, head, dtype, scaled):
    model = net.to_onnx()
    onnx.checker.check_model(model, full_check=True)
    X = rows(raw=scaled)
    np_dtype = np.float64 if dtype == "float64" else np.float32
    feeds = {"features": X.astype(np_dtype)}
    got = session(model).run(None, feeds)
    Xs = net.preprocessing.transform(X, np_dtype) if scaled else X
    expected = net.forward(Xs)
    out, _, k = HEADS[head]
    if out in ("identity", "exp"):
        (outputs,) = got
        assert outputs.dtype == np_dtype and outputs.shape == (ROWS, k)
        np.testing.assert_allclose(outputs, expected, rtol=TOLERANCE[dtype] * 10,
                                   atol=TOLERANCE[dtype] * 10)
        return
    label, probs = got
    assert probs.dtype == np_dtype and probs.shape == (ROWS, k)
    assert label.dtype == np.int64 and label.shape == (ROWS,)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=TOLERANCE[dtype])
    assert_labels_agree(label, expected, net.predict(X), TOLERANCE[dtype])   # the raw rows


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("hidden", HIDDEN)
def test_onnx_runtime_agrees_with_xpnet(hidden, head, dtype):
    scaled = HIDDEN.index(hidden) % 2 == 0   # half the cases carry input scaling
    check_against_runtime(network(hidden, head, dtype, scaled), head, dtype, scaled)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("hidden,alpha", [("elu", 0.3), ("leaky_relu", 0.2)])
def test_activation_parameters_survive_in_the_models_dtype(hidden, alpha, dtype):
    """0.3 has no exact float32 value: a float64 model keeps it exact (ONNX attributes are
    float32, so the graph carries it as a float64 tensor)."""
    net = network(hidden, "softmax", dtype, scaled=False, alpha=alpha)
    check_against_runtime(net, "softmax", dtype, scaled=False)


def test_class_names_come_out_as_labels():
    net = network("relu", "softmax", "float32", scaled=True)
    net.class_names = ["ant", "bee", "cat", "dog"]
    label, probs = session(net.to_onnx()).run(None, {"features": rows().astype(np.float32)})
    expected = np.array(net.class_names)[probs.argmax(axis=1)]
    assert len(set(label)) > 1
    assert label.dtype == object and list(label) == list(expected)
    binary = network("tanh", "sigmoid1", "float32", scaled=False)
    binary.class_names = ["no", "yes"]
    label, probs = session(binary.to_onnx()).run(None, {"features": rows(raw=False).astype(
        np.float32)})
    assert set(label) <= {"no", "yes"} and list(label == "yes") == list(probs[:, 0] >= 0.5)


def test_integer_class_names_come_out_as_integers():
    """Class names that are integers written plainly (integer labels: 0..k-1, or a CSV's
    1, 2, 3) come out as int64 labels, the same values xpnet's own predict answers with;
    other names as strings."""
    net = network("relu", "softmax", "float32", scaled=True)
    X = rows().astype(np.float32)
    net.class_names = ["0", "1", "2", "3"]
    label, probs = session(net.to_onnx()).run(None, {"features": X})
    assert label.dtype == np.int64 and list(label) == list(probs.argmax(axis=1))
    net.class_names = ["1", "2", "3", "4"]   # a CSV's integer labels: still integers
    label, probs = session(net.to_onnx()).run(None, {"features": X})
    assert label.dtype == np.int64 and list(label) == list(probs.argmax(axis=1) + 1)
    assert list(label) == list(net.predict(X))
    net.class_names = ["1.0", "2", "3", "4"]   # not plainly integers: the names, as strings
    label, _ = session(net.to_onnx()).run(None, {"features": X})
    assert label.dtype == object and list(label) == list(net.predict(X))


def test_graph_shape(tmp_path):
    net = network("elu", "softmax", "float32", scaled=True)
    path = tmp_path / "m.onnx"
    net.to_onnx(path)
    model = onnx.load(path)
    assert model.opset_import[0].version == xpnet.export.OPSET
    assert model.ir_version == xpnet.export.IR_VERSION
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("Gemm") == 3 and "Dropout" not in ops and ops[:2] == ["Sub", "Div"]
    assert [i.name for i in model.graph.input] == ["features"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "N" and dims[1].dim_value == 5     # dynamic batch
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    # any batch size runs, one row included
    for n in (1, 3, 257):
        label, probs = session(model).run(None, {"features": rows(n).astype(np.float32)})
        assert label.shape == (n,) and probs.shape == (n, 4)


@pytest.mark.slow
def test_cli_trained_mnist_model_exports_and_agrees(tmp_path, data_dir, capsys):
    model, exported = tmp_path / "mnist.npz", tmp_path / "mnist.onnx"
    assert main(["train", "--hidden", "64", "--epochs", "1", "--save", str(model),
                 "--quiet"]) == 0, capsys.readouterr().err
    assert main(["export", str(model), str(exported)]) == 0
    ds = xpnet.datasets.mnist(download=False)
    raw = ds.X_test.astype(np.float32)          # pixels 0..255: the scaling is in the graph
    label, probs = session(onnx.load(exported)).run(None, {"features": raw})
    net = xpnet.load(model, backend="numpy")
    scaled = net.preprocessing.transform(ds.X_test)
    expected = net.forward(scaled)
    np.testing.assert_allclose(probs, expected, rtol=0, atol=1e-5)
    assert list(net.class_names) == [str(d) for d in range(10)]
    assert label.dtype == np.int64   # class names that are 0..k-1 come out as the integers
    sure = assert_labels_agree(label, expected, net.predict(raw), 1e-5)
    assert sure.mean() > 0.99 and (label == ds.y_test).mean() > 0.9


def test_export_command_errors(tmp_path, capsys, monkeypatch):
    net = network("relu", "softmax", "float32", scaled=False)
    path = net.save(tmp_path / "m.npz")
    assert main(["export", str(path), str(tmp_path / "m.txt")]) == 2
    assert "name the output .onnx, .safetensors or .npz" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing.npz"), str(tmp_path / "m.onnx")]) == 2
    assert "not found" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "onnx", None)   # import now raises ImportError
    assert main(["export", str(path), str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert 'pip install "xpnet[onnx]"' in err and err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists()
