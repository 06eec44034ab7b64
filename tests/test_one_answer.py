"""One model, one answer: a model trained by the command line on a CSV answers the same raw
rows with the same labels, the CSV's own, through ``xpnet predict``, ``xpnet.load(path).predict``
and ONNX Runtime on its exported graph."""

from __future__ import annotations

import csv

import numpy as np
import pytest

import xpnet
from xpnet.cli import main

NAMES = {"1": "kama", "2": "rosa", "3": "canadian"}


def wheat_csv(path, labels):
    """The wheat seeds as a CSV with a header, the label last: the file's integers 1..3, or
    the varieties' names."""
    source = xpnet.datasets.packaged("wheat-seeds")
    rows = [r for r in csv.reader(source.read_text().splitlines()) if r]
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow([f"f{j}" for j in range(7)] + ["variety"])
        for r in rows:
            out.writerow(r[:7] + [NAMES[r[7]] if labels == "strings" else r[7]])
    features = np.array([[float(v) for v in r[:7]] for r in rows])
    truth = [NAMES[r[7]] if labels == "strings" else int(r[7]) for r in rows]
    return features, truth


@pytest.mark.parametrize("labels", ["strings", "integers"])
def test_the_cli_python_and_onnx_give_one_answer(tmp_path, capsys, labels):
    data, model = tmp_path / "seeds.csv", tmp_path / "seeds.npz"
    X, truth = wheat_csv(data, labels)
    assert main(["train", "--dataset", str(data), "--save", str(model), "--epochs", "60",
                 "--backend", "numpy", "--quiet"]) == 0, capsys.readouterr().err
    rows = tmp_path / "rows.csv"
    np.savetxt(rows, X, delimiter=",", header=",".join(f"f{j}" for j in range(7)), comments="")

    assert main(["predict", str(model), "--input", str(rows), "--out",
                 str(tmp_path / "answers.csv")]) == 0, capsys.readouterr().err
    with open(tmp_path / "answers.csv") as fh:
        from_cli = [r["prediction"] for r in csv.DictReader(fh)]
    from_python = xpnet.load(model, backend="numpy").predict(X)
    assert main(["export", str(model), str(tmp_path / "seeds.onnx")]) == 0
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "seeds.onnx"),
                                   providers=["CPUExecutionProvider"])
    from_onnx = session.run(["label"], {"features": X.astype(np.float32)})[0]

    assert [str(v) for v in from_python] == from_cli == [str(v) for v in from_onnx]
    if labels == "integers":   # integer labels come back as integers everywhere
        assert from_python.dtype.kind == "i" and from_onnx.dtype == np.int64
    assert set(from_python.tolist()) <= set(truth)
    assert np.mean(from_python == np.array(truth)) > 0.85   # and they are right, mostly
