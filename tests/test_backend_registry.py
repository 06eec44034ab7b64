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
