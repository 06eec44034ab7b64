"""Models as safetensors files, checked by the safetensors library itself: it reads what xpnet
writes (and a forward pass written here from the formulas gives xpnet's predictions), xpnet
reads what it writes, and malformed files are refused with one clear line, loading nothing."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xpnet
from xpnet.backend import to_numpy
from xpnet.cli import main

st_numpy = pytest.importorskip("safetensors.numpy")

X = np.random.default_rng(3).normal(2.0, 3.0, size=(200, 4))


def trained(dtype="float32", backend="numpy"):
    net = xpnet.Network([4, 6, 5, 3], hidden="elu", backend=backend, dtype=dtype, dropout=0.2,
                        l2=0.1, seed=0)
    net.preprocessing = xpnet.Scaler("standardize").fit(X)
    net.class_names = ["a", "b", "c"]
    y = np.random.default_rng(0).integers(0, 3, len(X))
    net.fit(net.preprocessing.transform(X), y, epochs=2, batch_size=32, progress=False)
    return net


def plain_numpy_forward(tensors, metadata, X_raw):
    """The network from the file alone, written out: scale, then Z = A W + b and f per layer."""
    pre = json.loads(metadata["preprocessing"])
    A = (X_raw - np.array(pre["shift"])) / np.array(pre["scale"])
    for i, layer in enumerate(json.loads(metadata["network"])["layers"]):
        if layer["type"] != "Dense":
            continue
        Z = A @ tensors[f"layers.{i}.W"].astype(np.float64) + tensors[f"layers.{i}.b"]
        act = layer["activation"]
        if act["name"] == "elu":
            A = np.where(Z > 0, Z, act["alpha"] * np.expm1(np.minimum(Z, 0)))
        elif act["name"] == "softmax":
            E = np.exp(Z - Z.max(axis=1, keepdims=True))
            A = E / E.sum(axis=1, keepdims=True)
        else:
            raise AssertionError(f"unexpected activation {act}")
    return A


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_safetensors_library_reads_what_xpnet_writes(tmp_path, dtype):
    net = trained(dtype)
    path = net.save(tmp_path / "model.safetensors")
    tensors = st_numpy.load_file(path)
    assert sorted(tensors) == ["layers.0.W", "layers.0.b", "layers.2.W", "layers.2.b",
                               "layers.4.W", "layers.4.b"]    # 1 and 3 are dropouts
    assert tensors["layers.0.W"].shape == (4, 6) and tensors["layers.0.W"].dtype == dtype
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata()
    assert metadata["format"] == "xpnet-model" and json.loads(metadata["class_names"]) == \
        ["a", "b", "c"]
    probs = plain_numpy_forward(tensors, metadata, X)
    expected = net.forward(net.preprocessing.transform(X, net.dtype))
    np.testing.assert_allclose(probs, expected, atol=1e-5 if dtype == "float32" else 1e-12)
    np.testing.assert_array_equal(probs.argmax(axis=1), net.predict_index(
        net.preprocessing.transform(X, net.dtype)))
    # the model's own answer on the raw rows: its class names
    np.testing.assert_array_equal(np.array(["a", "b", "c"])[probs.argmax(axis=1)],
                                  net.predict(X))


def test_round_trip_from_every_backend(tmp_path, backend):
    net = trained(backend=backend)
    path = net.save(tmp_path / "m.safetensors")
    again = xpnet.load(path, backend="numpy")
    for p, q in zip(net.parameters(), again.parameters()):
        np.testing.assert_array_equal(to_numpy(p), q)
    assert again.class_names == ["a", "b", "c"] and again.l2 == 0.1
    np.testing.assert_array_equal(again.preprocessing.shift, net.preprocessing.shift)
    back = xpnet.load(path, backend=backend)
    assert back.backend is backend
    np.testing.assert_array_equal(to_numpy(back.parameters()[-1]), again.parameters()[-1])


def test_xpnet_reads_a_file_the_library_wrote(tmp_path):
    """Tensors and metadata written by the safetensors library, following the documented
    layout, load as a network."""
    rng = np.random.default_rng(0)
    layers = [{"type": "Dense", "fan_in": 3, "fan_out": 2, "activation": {"name": "tanh"}},
              {"type": "Dense", "fan_in": 2, "fan_out": 1, "activation": {"name": "sigmoid"}}]
    tensors = {"layers.0.W": rng.normal(size=(3, 2)), "layers.0.b": np.zeros(2),
               "layers.1.W": rng.normal(size=(2, 1)), "layers.1.b": np.array([0.5])}
    metadata = {"format": "xpnet-model", "format_version": "1",
                "network": json.dumps({"layers": layers, "loss": "binary_cross_entropy",
                                       "dtype": "float64"}),
                "preprocessing": "null", "class_names": "null"}
    path = tmp_path / "by-hand.safetensors"
    st_numpy.save_file(tensors, str(path), metadata=metadata)
    net = xpnet.load(path, backend="numpy")
    assert net.dtype_name == "float64" and net.output_activation == "sigmoid"
    x = rng.normal(size=(5, 3))
    expected = 1 / (1 + np.exp(-(np.tanh(x @ tensors["layers.0.W"]) @ tensors["layers.1.W"]
                                 + 0.5)))
    np.testing.assert_allclose(net.forward(x), expected, rtol=1e-12)


def test_old_npz_models_and_checkpoints_still_load(tmp_path):
    net = trained()
    npz = net.save(tmp_path / "m.npz")
    assert xpnet.load(npz, backend="numpy").class_names == ["a", "b", "c"]
    with pytest.raises(ValueError, match="checkpoints hold training state and are .npz"):
        xpnet.train.save_checkpoint(net, tmp_path / "ck.safetensors", xpnet.SGD(0.1),
                                    xpnet.schedules.get(None), 0.1, xpnet.History(), 1)


def test_command_line_saves_and_converts(tmp_path, capsys):
    model = tmp_path / "m.safetensors"
    assert main(["train", "--dataset", "spirals", "--epochs", "2", "--save", str(model),
                 "--quiet"]) == 0, capsys.readouterr().err
    assert main(["evaluate", str(model), "--dataset", "spirals"]) == 0
    assert main(["export", str(model), str(tmp_path / "m.npz"), "--quiet"]) == 0
    assert main(["export", str(tmp_path / "m.npz"), str(tmp_path / "n.safetensors"),
                 "--quiet"]) == 0
    a, b = xpnet.load(model, backend="numpy"), xpnet.load(tmp_path / "n.safetensors",
                                                          backend="numpy")
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p, q)


# ------------------------------------------------------------------ malformed files
def parts(data: bytes) -> tuple[dict, bytes]:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def assemble(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    return struct.pack("<Q", len(raw)) + raw + body


def with_header(edit):
    def mutate(data):
        header, body = parts(data)
        edit(header)
        return assemble(header, body)
    return mutate


def set_meta(key, value):
    return with_header(lambda h: h["__metadata__"].__setitem__(key, value))


def network_meta(edit):
    def change(h):
        cfg = json.loads(h["__metadata__"]["network"])
        edit(cfg)
        h["__metadata__"]["network"] = json.dumps(cfg)
    return with_header(change)


def nan_body(data):
    header, body = parts(data)
    start = header["layers.0.b"]["data_offsets"][0]
    body = body[:start] + np.array([np.nan], np.float32).tobytes() + body[start + 4:]
    return assemble(header, body)


MUTATIONS = {
    "truncated": (lambda d: d[: len(d) // 2], "not a readable safetensors file"),
    "header cut": (lambda d: d[:20], "not a readable safetensors file"),
    "empty": (lambda d: b"", "not a readable safetensors file"),
    "oversized header": (lambda d: struct.pack("<Q", 2**40) + d[8:],
                         "not a readable safetensors file"),
    "offsets outside": (with_header(lambda h: h["layers.0.b"].__setitem__(
        "data_offsets", [0, 10**6])), "not a readable safetensors file"),
    "overlapping": (with_header(lambda h: h["layers.0.b"].__setitem__(
        "data_offsets", h["layers.0.W"]["data_offsets"][:1] * 1 + [
            h["layers.0.W"]["data_offsets"][0] + 24])), "not a readable safetensors file"),
    "unknown dtype": (with_header(lambda h: h["layers.0.b"].__setitem__("dtype", "Q9")),
                      "not a readable safetensors file"),
    "integer weights": (with_header(lambda h: h["layers.0.b"].__setitem__("dtype", "I32")),
                        "tensor layers.0.b is int32"),
    "no metadata": (with_header(lambda h: h.pop("__metadata__")), "not an xpnet model"),
    "other format": (set_meta("format", "keras"), "not an xpnet model"),
    "newer format": (set_meta("format_version", "9"), "written by a newer xpnet"),
    "corrupt json": (set_meta("network", "{not json"), "corrupt 'network'"),
    "unknown activation": (network_meta(lambda c: c["layers"][0]["activation"].update(
        name="swish")), "valid activations"),
    "shape disagrees": (network_meta(lambda c: (c["layers"][0].update(fan_out=7),
                                                c["layers"][2].update(fan_in=7))),
                        r"tensor layers.0.W is float32 \(4, 6\), the header's architecture "
                        r"needs float \(4, 7\)"),
    "missing tensor": (with_header(lambda h: h.pop("layers.4.b")),
                       "not a readable safetensors file|tensor 'layers.4.b' is missing"),
    "extra layer": (network_meta(lambda c: c["layers"].append(
        {"type": "Dense", "fan_in": 3, "fan_out": 2, "activation": {"name": "tanh"}})),
        "tensor 'layers.5.W' is missing"),
    "nan weight": (nan_body, "holds NaN or inf"),
}


@pytest.fixture(scope="module")
def valid_bytes(tmp_path_factory):
    path = trained().save(tmp_path_factory.mktemp("st") / "ok.safetensors")
    return path.read_bytes()


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_malformed_files_are_refused_with_one_line(tmp_path, valid_bytes, case, capsys):
    mutate, match = MUTATIONS[case]
    path = tmp_path / "bad.safetensors"
    path.write_bytes(mutate(valid_bytes))
    with pytest.raises(xpnet.ModelFileError, match=match):
        xpnet.load(path, backend="numpy")
    assert main(["evaluate", str(path), "--dataset", "spirals"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and str(path) in err


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                    HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_mutations_load_correctly_or_not_at_all(tmp_path, valid_bytes, data):
    """Flip, cut, insert or overwrite bytes anywhere: the result is a valid network (every
    parameter finite, of the architecture's shape) or a ModelFileError, nothing else."""
    raw = bytearray(valid_bytes)
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["flip", "cut", "insert", "overwrite"]))
        at = data.draw(st.integers(0, max(0, len(raw) - 1)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif kind == "cut":
            del raw[at:at + data.draw(st.integers(1, 64))]
        elif kind == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=16))
        else:
            chunk = data.draw(st.binary(min_size=1, max_size=16))
            raw[at:at + len(chunk)] = chunk
    path = tmp_path / "fuzz.safetensors"
    path.write_bytes(bytes(raw))
    try:
        net = xpnet.load(path, backend="numpy")
    except xpnet.ModelFileError:
        return
    for layer in net.dense_layers:
        assert layer.W.shape == (layer.fan_in, layer.fan_out) and np.isfinite(layer.W).all()
        assert layer.b.shape == (layer.fan_out,) and np.isfinite(layer.b).all()
