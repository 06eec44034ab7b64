"""IDX and CSV readers, the MNIST loader and downloader, synthetic sets."""

from __future__ import annotations

import gzip
import hashlib
import shutil
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xpnet
from xpnet.datasets import download as dl
from xpnet.datasets import idx
from xpnet.datasets import mnist_loader as mnist
from xpnet.errors import DataError


def idx_bytes(arr: np.ndarray) -> bytes:
    """An independent IDX writer, straight from the format description."""
    codes = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    big = arr.astype(arr.dtype.newbyteorder(">"))
    head = bytes([0, 0, codes[big.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}i", *arr.shape)
    return head + big.tobytes()


@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, dtype, compress):
    arr = (np.random.default_rng(0).normal(size=(3, 4, 5)) * 50).astype(dtype)
    data = idx_bytes(arr)
    path = tmp_path / ("x.idx" + (".gz" if compress else ""))
    path.write_bytes(gzip.compress(data) if compress else data)
    np.testing.assert_array_equal(idx.read_idx(path), arr)


@pytest.mark.parametrize(
    "mutate,match",
    [
        (lambda b: b"\x01" + b[1:], "not an IDX file"),
        (lambda b: b[:2] + b"\x07" + b[3:], "not an IDX file"),
        (lambda b: b[:-3], "truncated"),
        (lambda b: b + b"\x00", "longer than its header says"),
        (lambda b: b[:6], "truncated IDX header"),
        (lambda b: b[:3] + b"\x00" + b[4:], "0 dimensions"),
    ],
)
def test_idx_rejects_bad_files(tmp_path, mutate, match):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(mutate(idx_bytes(np.zeros((2, 3, 3), np.uint8))))
    with pytest.raises(DataError, match=match) as info:
        idx.read_idx(path)
    assert str(path) in str(info.value)


def test_label_count_must_match(tmp_path):
    (tmp_path / "train-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 2, 2), np.uint8)))
    (tmp_path / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(DataError, match="4 labels but .* has 3 images"):
        idx.load_split(*idx.find_split_files(tmp_path, "train"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64))
def test_idx_parser_on_random_bytes(data):
    """Random bytes either parse, or raise the library's own error, nothing else."""
    try:
        arr = idx.parse_idx(data)
    except DataError:
        return
    assert arr.size * arr.itemsize + 4 + 4 * arr.ndim == len(data)


def test_idx_directory_dataset(tmp_path):
    rng = np.random.default_rng(0)
    for split, n in (("train", 6), ("t10k", 4)):
        (tmp_path / f"{split}-images-idx3-ubyte.gz").write_bytes(
            gzip.compress(idx_bytes(rng.integers(0, 255, (n, 4, 4)).astype(np.uint8))))
        (tmp_path / f"{split}-labels-idx1-ubyte").write_bytes(
            idx_bytes(rng.integers(0, 3, n).astype(np.uint8)))
    ds = xpnet.datasets.load(str(tmp_path))
    assert ds.X_train.shape == (6, 16) and ds.X_test.shape == (4, 16)
    assert ds.image_shape == (4, 4) and ds.scaling == "pixels"


# ------------------------------------------------------------------ MNIST
def test_mnist_from_shared_data(data_dir):
    ds = xpnet.datasets.mnist(data_dir, download=False)
    assert ds.X_train.shape == (60000, 784) and ds.X_test.shape == (10000, 784)
    assert ds.X_train.dtype == np.uint8 and ds.image_shape == (28, 28)
    assert np.bincount(ds.y_test).tolist()[:3] == [980, 1135, 1032]  # the published counts


def test_mnist_missing_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(DataError, match="4 of the 4 files not found") as info:
        xpnet.datasets.mnist(tmp_path / "data", download=False)
    assert str(tmp_path / "data" / "mnist") in str(info.value)


def test_mnist_tampered_file_is_refused(tmp_path, data_dir, monkeypatch):
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    (tmp_path / "mnist").mkdir()
    for name in mnist.FILES:
        shutil.copy(data_dir / "mnist" / f"{name}.gz", tmp_path / "mnist")
    labels = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match="checksum mismatch"):
        xpnet.datasets.mnist(tmp_path, download=False)


def test_mnist_download_verifies_and_writes_atomically(tmp_path, data_dir, monkeypatch):
    """Mirrors are file:// URLs here: one serving a corrupt copy, one serving the real files."""
    monkeypatch.delenv("XPNET_DATA_DIR", raising=False)
    bad, good = tmp_path / "bad", tmp_path / "good"
    bad.mkdir()
    good.mkdir()
    for name in mnist.FILES:
        shutil.copy(data_dir / "mnist" / f"{name}.gz", good)
        (bad / f"{name}.gz").write_bytes(gzip.compress(b"not mnist"))
    monkeypatch.setattr(mnist, "MIRRORS", [bad.as_uri() + "/", (tmp_path / "none").as_uri() + "/",
                                           good.as_uri() + "/"])
    target = tmp_path / "data"
    ds = xpnet.datasets.mnist(target, download=True, progress=False)
    assert ds.X_train.shape == (60000, 784)
    assert sorted(p.name for p in (target / "mnist").iterdir()) == sorted(
        f"{n}.gz" for n in mnist.FILES)  # no temporary files left behind


def test_download_failure_leaves_nothing(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"abc")
    target = tmp_path / "out" / "file.bin"
    with pytest.raises(DataError, match="checksum"):
        dl.download([src.as_uri()], target, lambda b: "checksum mismatch", progress=False)
    assert list((tmp_path / "out").iterdir()) == []
    good = hashlib.md5(b"abc").hexdigest()
    dl.download([src.as_uri()], target,
                lambda b: None if dl.md5_of(b) == good else "bad", progress=False)
    assert target.read_bytes() == b"abc"


# ------------------------------------------------------------------ CSV
def write(tmp_path, text, name="data.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_csv_numeric_labels_and_header(tmp_path):
    ds = xpnet.datasets.load_csv(write(tmp_path, "a,b,label\n1,2,3\n4,5,1\n\n7,8,3\n"))
    np.testing.assert_array_equal(ds.X_train, [[1, 2], [4, 5], [7, 8]])
    assert ds.class_names == ["1", "3"] and ds.y_train.tolist() == [1, 0, 1]


def test_csv_string_labels_first_column(tmp_path):
    ds = xpnet.datasets.load_csv(write(tmp_path, "cat,0.5,1\ndog,1.5,2\ncat,2,3\n"),
                                 label_column=0)
    assert ds.class_names == ["cat", "dog"] and ds.X_train.shape == (3, 2)


def test_wheat_seeds():
    ds = xpnet.datasets.load_csv(xpnet.datasets.packaged("wheat-seeds"))
    assert ds.X_train.shape == (210, 7) and ds.class_names == ["1", "2", "3"]
    assert np.bincount(ds.y_train).tolist() == [70, 70, 70]


def test_the_shipped_wheat_seeds_are_the_canonical_copy(data_dir):
    shipped = xpnet.datasets.packaged("wheat-seeds").read_bytes()
    assert shipped == (data_dir / "wheat-seeds.csv").read_bytes()


@pytest.mark.parametrize(
    "text,match",
    [
        ("1,2,0\n3,0\n", "line 2 has 2 fields, expected 3"),
        ("1,2,0\n3,x,1\n", "line 2, column 2: 'x' is not a number"),
        ("1,nan,0\n3,4,1\n", "line 1, column 2: 'nan' is not finite"),
        ("1,2,0\n3,inf,1\n", "line 2, column 2: 'inf' is not finite"),
        ("", "no data rows"),
        ("1,2,0\n3,4,0\n", "single class"),
    ],
)
def test_csv_errors_name_file_and_line(tmp_path, text, match):
    path = write(tmp_path, text)
    with pytest.raises(DataError, match=match) as info:
        xpnet.datasets.load_csv(path)
    assert str(path) in str(info.value)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        xpnet.datasets.load_csv(tmp_path / "nope.csv")


def test_unknown_dataset_name():
    with pytest.raises(DataError,
                       match="unknown dataset; use mnist, wheat-seeds, xor, spirals, moons"):
        xpnet.datasets.load("cifar")


def test_synthetic_sets_and_split():
    assert xpnet.datasets.xor().X_train.shape == (4, 3)
    for ds in (xpnet.datasets.spirals(), xpnet.datasets.moons()):
        assert len(ds.X_train) + len(ds.X_test) == 600 or len(ds.X_train) + len(ds.X_test) == 600
        assert set(np.unique(ds.y_train)) == set(range(ds.n_classes))
    X = np.arange(20.0).reshape(10, 2)
    y = np.array([0] * 5 + [1] * 5)
    Xa, ya, Xb, yb = xpnet.datasets.split(X, y, 0.4, seed=0)
    assert len(yb) == 4 and np.bincount(yb).tolist() == [2, 2]
    assert sorted(np.concatenate([Xa[:, 0], Xb[:, 0]]).tolist()) == X[:, 0].tolist()


def test_whole_number_targets_taking_many_values_read_as_regression(tmp_path):
    """A price written 151.0 is a quantity: whole numbers taking more than 20 values train a
    regressor; a few whole-number labels stay classes; --task decides otherwise."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    many = tmp_path / "prices.csv"
    np.savetxt(many, np.c_[X, np.round(rng.uniform(25, 340, 60))], delimiter=",", fmt="%.1f")
    assert xpnet.datasets.load_csv(many).task == "regression"
    assert xpnet.datasets.load_csv(many, task="classification").n_classes > 20
    few = tmp_path / "grades.csv"
    np.savetxt(few, np.c_[X, rng.integers(1, 6, 60)], delimiter=",", fmt="%.3f")
    ds = xpnet.datasets.load_csv(few)
    assert ds.task == "classification" and ds.n_classes == 5


def test_the_label_column_by_header_name_or_index(tmp_path):
    path = tmp_path / "first.csv"
    path.write_text("label,a,b\nclass_0,1,2\nclass_1,3,4\nclass_0,5,6\n")
    with pytest.raises(DataError, match=r"'class_0' is not a number; if column 1 holds the "
                                        r"labels, name it: --label-column 0"):
        xpnet.datasets.load_csv(path)
    by_name = xpnet.datasets.load_csv(path, label_column="label")
    by_index = xpnet.datasets.load_csv(path, label_column="0")
    assert by_name.class_names == by_index.class_names == ["class_0", "class_1"]
    np.testing.assert_array_equal(by_name.X_train, [[1, 2], [3, 4], [5, 6]])
    with pytest.raises(DataError, match=r"no column named 'lable'; the first row holds 'label'"):
        xpnet.datasets.load_csv(path, label_column="lable")
