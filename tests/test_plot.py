"""Pictures of training: written as readable PNGs, or a clear message without matplotlib."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from xpnet.cli import main


def idx_bytes(arr):
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + arr.tobytes()


@pytest.fixture
def tiny_images(tmp_path):
    """A 3-class set of 6x6 images: a bar in one of three rows, plus noise."""
    rng = np.random.default_rng(0)
    root = tmp_path / "bars"
    root.mkdir()
    for split, n in (("train", 150), ("t10k", 60)):
        y = rng.integers(0, 3, n).astype(np.uint8)
        X = rng.integers(0, 60, (n, 6, 6)).astype(np.uint8)
        X[np.arange(n), 1 + 2 * y, :] = 255
        (root / f"{split}-images-idx3-ubyte").write_bytes(idx_bytes(X))
        (root / f"{split}-labels-idx1-ubyte").write_bytes(idx_bytes(y))
    return root


def test_train_writes_the_figures(tmp_path, tiny_images, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "plots"
    code = main(["train", "--dataset", str(tiny_images), "--hidden", "8", "--epochs", "3",
                 "--validation-split", "0.2", "--backend", "numpy", "--plot", str(out)])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["confusion_matrix.png", "first_layer_weights.png", "misclassified.png",
                     "training_curves.png"]
    for p in out.iterdir():
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 5000


def test_missing_matplotlib_says_which_extra(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)   # import now raises ImportError
    code = main(["train", "--dataset", "xor", "--plot", str(tmp_path / "p")])
    err = capsys.readouterr().err
    assert code == 2 and 'pip install "xpnet[plot]"' in err and "Traceback" not in err
    assert not (tmp_path / "p").exists()   # refused before training, not after
