"""Model files: round trips across backends, and refusal of anything that is not a model."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest
from conftest import dtype_or_skip

import xpnet
from xpnet import io
from xpnet.backend import to_numpy

X = np.random.default_rng(0).normal(size=(5, 4))


def trained(tmp_path):
    net = xpnet.Network([4, 6, 3], hidden="elu", backend="numpy", l2=0.1, seed=0)
    net.preprocessing = xpnet.Scaler("standardize").fit(X)
    net.class_names = ["a", "b", "c"]
    path = net.save(tmp_path / "model.npz")
    return net, path


def test_round_trip_on_every_backend(tmp_path, backend):
    dtype_or_skip(backend, "float64")
    net, path = trained(tmp_path)
    again = xpnet.load(path, backend=backend)
    assert again.backend is backend and again.l2 == 0.1
    assert again.class_names == ["a", "b", "c"]
    assert again.dense_layers[0].activation.name == "elu"
    np.testing.assert_allclose(to_numpy(again.forward(X)), to_numpy(net.forward(X)), rtol=1e-6)
    np.testing.assert_array_equal(again.preprocessing.transform(X), net.preprocessing.transform(X))
    as64 = xpnet.load(path, backend=backend, dtype="float64")
    assert as64.parameters()[0].dtype == as64.xp.float64


def test_no_pickle_in_file(tmp_path):
    _, path = trained(tmp_path)
    with np.load(path, allow_pickle=False) as npz:   # every array loads without pickle
        assert all(npz[name].dtype != object for name in npz.files)


def rewrite(path, **changes):
    with np.load(path, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    header = json.loads(arrays["header"].tobytes())
    for key, value in changes.items():
        if key == "header":
            header.update(value)
        elif value is None:
            arrays.pop(key)
        else:
            arrays[key] = value
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), np.uint8)
    np.savez(path, **arrays)


@pytest.mark.parametrize(
    "tamper,match",
    [
        ({"header": {"format_version": 99}}, "newer xpnet"),
        ({"header": {"format": "other"}}, "not an xpnet model file"),
        ({"p0": np.zeros((3, 3), np.float32)}, r"parameter p0 is float32 \(3, 3\)"),
        ({"p1": None}, "parameter p1 is missing"),
        ({"p2": np.full((6, 3), np.nan, np.float32)}, "NaN or inf"),
        ({"header": {"network": {"layers": "x"}}}, "invalid architecture"),
    ],
)
def test_tampered_files_are_refused(tmp_path, tamper, match):
    _, path = trained(tmp_path)
    rewrite(path, **tamper)
    with pytest.raises(xpnet.ModelFileError, match=match):
        xpnet.load(path, backend="numpy")


def test_pickled_object_is_never_executed(tmp_path):
    """An object array needs pickle to load; with allow_pickle=False it is refused, and the
    payload (which would create a file) never runs."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, header=np.array([Payload()], dtype=object))
    with pytest.raises(xpnet.ModelFileError):
        xpnet.load(path, backend="numpy")
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"garbage" * 10, b"PK\x03\x04truncated"])
def test_garbage_files(tmp_path, content):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    with pytest.raises(xpnet.ModelFileError, match="not a readable xpnet model file"):
        xpnet.load(path, backend="numpy")


def test_truncated_model(tmp_path):
    _, path = trained(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(xpnet.ModelFileError):
        xpnet.load(path, backend="numpy")


def test_missing_file(tmp_path):
    with pytest.raises(xpnet.ModelFileError, match="model file not found"):
        xpnet.load(tmp_path / "none.npz")


def test_save_is_atomic_and_keeps_old_file_on_failure(tmp_path, monkeypatch):
    net, path = trained(tmp_path)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(io.np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == [
        "model.npz"]
    assert zipfile.is_zipfile(path)


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_written_files_follow_the_umask(tmp_path, umask):
    """Models, checkpoints and exports get the mode any new file of the user gets (0666 less
    the umask), so a model can be shared on a cluster; before, the atomic writer left 0600."""
    import os

    from xpnet.atomic import write_bytes

    old = os.umask(umask)
    try:
        net, _ = trained(tmp_path)
        paths = [net.save(tmp_path / "u.npz"), tmp_path / "u.json"]
        write_bytes(paths[1], b"{}")
        pytest.importorskip("safetensors")
        paths.append(net.save(tmp_path / "u.safetensors"))
    finally:
        os.umask(old)
    for path in paths:
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path.name
