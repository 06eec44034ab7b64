"""Bad input, as a new user meets it: every case ends in one clear sentence.

Each case runs through the command line (exit status 2, one line on stderr, no traceback, the
key words of the message) and, where the Python API has the same entry point, through the API
(ValueError/TypeError or xpnet's own subclasses, with the same words).
"""

from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest

import xpnet
from xpnet.cli import main

# ------------------------------------------------------------------ files the cases use


def idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    return bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape) + \
        arr.astype(">u1").tobytes()


def make_files(root):
    """Write every bad file once; return name -> path."""
    f = {}

    def put(name, content, mode="w"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if mode == "w":
            path.write_text(content)
        else:
            path.write_bytes(content)
        f[name] = path

    put("nan.csv", "1,2,0\n3,nan,1\n")
    put("inf.csv", "1,2,0\n3,-inf,1\n")
    put("ragged.csv", "1,2,0\n3,4,1\n5,1\n")
    put("text.csv", "1,2,0\n3,four,1\n")
    put("empty.csv", "")
    put("one_class.csv", "1,2,a\n3,4,a\n")
    images = np.zeros((4, 2, 2), np.uint8)
    labels = np.zeros(4, np.uint8)
    good_img, good_lab = idx_bytes(images), idx_bytes(labels)
    for name, img, lab in [
        ("truncated", good_img[:-2], good_lab),
        ("magic", b"\x08\x00" + good_img[2:], good_lab),
        ("header", good_img + b"\x00\x00", good_lab),
        ("count", good_img, idx_bytes(np.zeros(3, np.uint8))),
    ]:
        for split in ("train", "t10k"):
            put(f"idx_{name}/{split}-images-idx3-ubyte", img, "b")
            put(f"idx_{name}/{split}-labels-idx1-ubyte", lab, "b")
        f[f"idx_{name}"] = root / f"idx_{name}"
    put("idx_gz/train-images-idx3-ubyte.gz", gzip.compress(good_img)[:-10], "b")
    put("idx_gz/train-labels-idx1-ubyte", good_lab, "b")
    f["idx_gz"] = root / "idx_gz"
    put("model_garbage.npz", b"this is not a model", "b")
    put("rows5.csv", "1,2,3,4,5\n")
    return f


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return make_files(tmp_path_factory.mktemp("bad"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small saved model with 2 features and 3 classes."""
    path = tmp_path_factory.mktemp("model") / "m.npz"
    net = xpnet.Network([2, 4, 3], backend="numpy", seed=0)
    net.class_names = ["a", "b", "c"]
    net.save(path)
    return path


def cli(capsys, argv):
    try:
        code = main(argv)
    except SystemExit as exc:   # argparse's own refusals
        code = exc.code
    return code, capsys.readouterr().err


# (CLI argv with {placeholders}, words expected in the message, API call or None)
CASES = {
    "csv with NaN": (["train", "--dataset", "{nan.csv}"], ["nan.csv", "line 2", "column 2",
                     "not finite"], lambda f, m: xpnet.datasets.load_csv(f["nan.csv"])),
    "csv with inf": (["train", "--dataset", "{inf.csv}"], ["inf.csv", "line 2", "not finite"],
                     lambda f, m: xpnet.datasets.load_csv(f["inf.csv"])),
    "ragged csv row": (["train", "--dataset", "{ragged.csv}"],
                       ["ragged.csv", "line 3", "2 fields, expected 3"],
                       lambda f, m: xpnet.datasets.load_csv(f["ragged.csv"])),
    "non-numeric field": (["train", "--dataset", "{text.csv}"], ["text.csv", "line 2",
                          "'four' is not a number"],
                          lambda f, m: xpnet.datasets.load_csv(f["text.csv"])),
    "empty csv": (["train", "--dataset", "{empty.csv}"], ["empty.csv", "no data rows"],
                  lambda f, m: xpnet.datasets.load_csv(f["empty.csv"])),
    "single-class csv": (["train", "--dataset", "{one_class.csv}"], ["single class"],
                         lambda f, m: xpnet.datasets.load_csv(f["one_class.csv"])),
    "missing csv": (["train", "--dataset", "nowhere.csv"], ["nowhere.csv", "file not found"],
                    lambda f, m: xpnet.datasets.load_csv("nowhere.csv")),
    "truncated idx": (["train", "--dataset", "{idx_truncated}"], ["train-images-idx3-ubyte",
                      "truncated"], lambda f, m: xpnet.datasets.load(str(f["idx_truncated"]))),
    "idx wrong magic": (["train", "--dataset", "{idx_magic}"], ["not an IDX file",
                        "magic number"], lambda f, m: xpnet.datasets.load(str(f["idx_magic"]))),
    "idx longer than header": (["train", "--dataset", "{idx_header}"],
                               ["longer than its header says"],
                               lambda f, m: xpnet.datasets.load(str(f["idx_header"]))),
    "label count differs": (["train", "--dataset", "{idx_count}"], ["3 labels but",
                            "has 4 images"], lambda f, m: xpnet.datasets.load(str(f["idx_count"]))),
    "corrupt gzip": (["train", "--dataset", "{idx_gz}"], ["corrupt or truncated gzip"],
                     lambda f, m: xpnet.datasets.load(str(f["idx_gz"]))),
    "unknown activation": (["train", "--activation", "sigmod"], ["invalid choice", "relu"],
                           lambda f, m: xpnet.Network([2, 2], hidden="sigmod")),
    "unknown loss": (["train", "--loss", "xent"], ["invalid choice", "cross_entropy"],
                     lambda f, m: xpnet.Network([2, 2], loss="xent")),
    "unknown initialiser": (["train", "--init", "kaiming"], ["invalid choice", "he"],
                            lambda f, m: xpnet.Dense(2, 2, init="kaiming")),
    "unknown optimizer": (["train", "--optimizer", "lion"], ["invalid choice", "adam"],
                          lambda f, m: xpnet.optim.get("lion")),
    "batch size 0": (["train", "--batch-size", "0"], ["--batch-size", "must be >= 1"],
                     lambda f, m: xpnet.Network([2, 2], backend="numpy").fit(
                         np.zeros((2, 2)), [0, 1], batch_size=0)),
    "epochs negative": (["train", "--epochs", "-3"], ["--epochs", "must be >= 1"],
                        lambda f, m: xpnet.Network([2, 2], backend="numpy").fit(
                            np.zeros((2, 2)), [0, 1], epochs=-3)),
    "learning rate 0": (["train", "--lr", "0"], ["--lr", "must be a finite number > 0"],
                        lambda f, m: xpnet.SGD(0.0)),
    "learning rate nan": (["train", "--lr", "nan"], ["--lr", "must be a finite number > 0"],
                          lambda f, m: xpnet.SGD(float("nan"))),
    "dropout 1": (["train", "--dropout", "1"], ["--dropout", "must be in [0, 1)"],
                  lambda f, m: xpnet.Dropout(1.0)),
    "layer size 0": (["train", "--hidden", "0"], ["--hidden", "must be >= 1"],
                     lambda f, m: xpnet.Network([2, 0, 2])),
    "feature count differs": (["predict", "{model}", "--input", "{rows5.csv}"],
                              ["5 features", "expects 2"],
                              lambda f, m: xpnet.load(m, backend="numpy").forward(
                                  np.zeros((1, 5)))),
    "labels outside the model's classes": (
        ["evaluate", "{model}", "--dataset", "{idx_labels}"], ["labels go up to", "3 classes"],
        None),
    "unavailable backend": (["train", "--dataset", "xor", "--backend", "cupy"],
                            ["cupy", "pip install 'xpnet[gpu]'"],
                            lambda f, m: xpnet.Network([2, 2], backend="cupy")),
    "cupy without a driver": (["train", "--dataset", "xor", "--backend", "cupy"],
                              ["cupy is installed but no CUDA device can be used",
                               "no CUDA driver"],
                              lambda f, m: xpnet.Network([2, 2], backend="cupy")),
    "unknown backend": (["train", "--dataset", "xor", "--backend", "jax"], ["valid backends"],
                        lambda f, m: xpnet.resolve("jax")),
    "garbage model file": (["evaluate", "{model_garbage.npz}", "--dataset", "xor"],
                           ["not a readable xpnet model file"],
                           lambda f, m: xpnet.load(f["model_garbage.npz"])),
    "missing model file": (["predict", "none.npz", "--input", "{rows5.csv}"],
                           ["none.npz", "not found"], lambda f, m: xpnet.load("none.npz")),
}


def fake_cupy(case, monkeypatch):
    """Make the CuPy cases the same on every machine: not importable at all, or importable
    with no driver behind it (as where the GPU extra is installed on a machine without a GPU:
    the device count raises)."""
    import types

    if case == "unavailable backend":
        monkeypatch.setitem(sys.modules, "cupy", None)   # import cupy raises ImportError
    elif case == "cupy without a driver":
        def no_driver():
            raise RuntimeError("cudaErrorInsufficientDriver: no CUDA driver")

        runtime = types.SimpleNamespace(getDeviceCount=no_driver)
        fake = types.ModuleType("cupy")
        fake.cuda = types.SimpleNamespace(runtime=runtime)
        monkeypatch.setitem(sys.modules, "cupy", fake)


@pytest.mark.parametrize("case", list(CASES))
def test_cli(case, files, model, capsys, tmp_path, monkeypatch):
    argv, words, _ = CASES[case]
    fake_cupy(case, monkeypatch)
    if case == "labels outside the model's classes":
        for split, lab in (("train", [0, 1, 2, 5]), ("t10k", [0, 1, 2, 5])):
            (tmp_path / f"{split}-images-idx3-ubyte").write_bytes(
                idx_bytes(np.zeros((4, 1, 2), np.uint8)))
            (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(
                idx_bytes(np.array(lab, np.uint8)))
        files = {**files, "idx_labels": tmp_path}
    values = {**{k: str(v) for k, v in files.items()}, "model": str(model)}
    argv = [values[a[1:-1]] if a.startswith("{") else a for a in argv]
    code, err = cli(capsys, argv)
    assert code == 2, err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    for word in words:
        assert word in err, f"{word!r} not in {err!r}"


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][2] is not None])
def test_api(case, files, model, monkeypatch):
    _, words, call = CASES[case]
    fake_cupy(case, monkeypatch)
    with pytest.raises((ValueError, TypeError)) as info:
        call(files, model)
    message = str(info.value)
    api_words = [w for w in words if not w.startswith("--") and w != "invalid choice"
                 and not w.startswith("must be")]
    for word in api_words:
        assert word in message, f"{word!r} not in {message!r}"
