"""The backend package's promise: a new library is one module with its Backend subclass and one
registry line. The module in docs/adding-a-backend.md is run as written, registered, and trains a
network; and every library's class answers for its own arrays only."""

from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import xpnet
from xpnet.backend import REGISTRY, BackendError, resolve, to_numpy

DOC = Path(__file__).resolve().parents[1] / "docs" / "adding-a-backend.md"


def doc_module_source() -> str:
    """The Python block of the docs that is the whole of ``mylib_backend.py``."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return next(b for b in blocks if b.startswith('"""MyLib arrays'))


def test_the_documented_module_and_one_registry_line_make_a_working_backend(monkeypatch):
    from array_api_compat import numpy as standard_numpy

    monkeypatch.setitem(sys.modules, "mylib", standard_numpy)   # a library of the standard
    module = types.ModuleType("xpnet.backend.mylib_backend")
    module.__package__ = "xpnet.backend"
    exec(compile(doc_module_source(), "mylib_backend.py", "exec"), module.__dict__)
    monkeypatch.setitem(REGISTRY, "mylib", module.MyLibBackend)   # the registry line

    be = resolve("mylib")
    assert type(be) is module.MyLibBackend and be.device_name == "cpu"
    with pytest.raises(BackendError, match="CPU only"):
        resolve("mylib", device="cuda:0")
    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    net = xpnet.Network([3, 8, 2], backend="mylib", seed=0)
    net.fit(X, y, epochs=30, batch_size=10, optimizer="adam", learning_rate=0.01,
            progress=False)
    assert net.backend.name == "mylib"
    assert float(np.mean(to_numpy(net.predict(X)) == y)) > 0.9


def test_each_library_holds_its_own_arrays_only():
    """to_numpy asks each registered class in turn, so no two may claim one array."""
    samples = {"numpy": np.zeros(2)}
    for name in ("torch", "array_api_strict"):
        try:
            be = resolve(name)
        except BackendError:
            continue
        samples[name] = be.xp.zeros(2)
    for name, x in samples.items():
        claims = [other for other, cls in REGISTRY.items() if cls.holds(x)]
        assert claims == [name], (name, claims)
        assert to_numpy(x).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("value,shown", [("0", "off"), ("1", "on"), ("2", "on"), ("", "off"),
                                         ("yes", "off")])
def test_the_tf32_variable_allows_it_for_any_integer_above_zero(monkeypatch, value, shown):
    """CuPy takes any integer above 0 in CUPY_TF32 as TF32 allowed, and so does its backend."""
    from xpnet.backend import CupyBackend

    monkeypatch.setenv("CUPY_TF32", value)
    assert CupyBackend(None, None, None).tf32() == shown


def test_torch_reports_tf32_from_the_new_precision_api():
    """After the new ``fp32_precision`` API has set a value, reading the legacy ``allow_tf32``
    raises in PyTorch; the backend reads the new settings first (a CUDA backend is built by
    hand: the flags are the same on a CPU build)."""
    torch = pytest.importorskip("torch")
    from array_api_compat import torch as xp

    from xpnet.backend import TorchBackend

    matmul = torch.backends.cuda.matmul
    if not hasattr(matmul, "fp32_precision"):
        pytest.skip("this PyTorch predates the fp32_precision API")
    be = TorchBackend(xp, torch.device("cuda", 0), torch)
    before = matmul.fp32_precision
    try:
        matmul.fp32_precision = "ieee"
        assert be.tf32() == "off"
        matmul.fp32_precision = "tf32"
        assert be.tf32() == "on"
        with pytest.raises(RuntimeError, match="legacy and new"):
            _ = matmul.allow_tf32   # what the backend must not read
    finally:
        matmul.fp32_precision = before
