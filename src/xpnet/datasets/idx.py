"""The IDX file format (MNIST, Fashion-MNIST, KMNIST, EMNIST).

Layout: two zero bytes, a type code, the number of dimensions ``d``; then ``d`` big-endian
int32 sizes; then the data, big-endian, row-major. Files may be gzip-compressed.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from ..errors import DataError

# type code -> big-endian dtype
IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_bytes(path: str | Path) -> bytes:
    """The file's contents, gunzipped when it is gzip data (whatever its name)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupt or truncated gzip data ({exc})") from None
    return raw


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array, checking the magic number, dimensions and length."""
    if len(data) < 4:
        raise DataError(f"{name}: not an IDX file (only {len(data)} bytes)")
    if data[0] != 0 or data[1] != 0 or data[2] not in IDX_TYPES:
        raise DataError(
            f"{name}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000TTDD "
            "with a known type code TT)"
        )
    ndim = data[3]
    if ndim == 0:
        raise DataError(f"{name}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{name}: truncated IDX header ({len(data)} bytes, need {header})")
    shape = tuple(int(s) for s in np.frombuffer(data, ">i4", count=ndim, offset=4))
    if any(s < 0 for s in shape):
        raise DataError(f"{name}: IDX header has a negative dimension {shape}")
    dtype = np.dtype(IDX_TYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "longer than its header says"
        raise DataError(
            f"{name}: IDX data is {what}: header {shape} needs {expected} bytes, file has "
            f"{len(data)}"
        )
    arr = np.frombuffer(data, dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (raw or gzip)."""
    return parse_idx(read_bytes(path), str(path))


SPLITS = {"train": "train", "test": "t10k"}


def find_split_files(directory: str | Path, split: str) -> tuple[Path, Path]:
    """The images and labels files of ``split`` in ``directory``, in MNIST's naming
    (``train-images-idx3-ubyte[.gz]``; also ``train-images.idx3-ubyte``)."""
    directory = Path(directory)
    found = []
    for kind, nd in (("images", 3), ("labels", 1)):
        stem = f"{SPLITS[split]}-{kind}"
        names = [f"{stem}-idx{nd}-ubyte", f"{stem}.idx{nd}-ubyte"]
        hits = [directory / (n + gz) for n in names for gz in ("", ".gz")]
        hits = [h for h in hits if h.is_file()]
        if not hits:
            raise DataError(f"{directory}: no {stem}-idx{nd}-ubyte[.gz] file")
        found.append(hits[0])
    return found[0], found[1]


def pair(X: np.ndarray, y: np.ndarray, images: str, labels: str
         ) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """Images flattened to (n, rows*cols), labels as (n,) int64, checked against each other,
    and the shape of one image. ``images``/``labels`` name the files for error messages."""
    if X.ndim < 2:
        raise DataError(f"{images}: expected images with 2 or more dimensions, got {X.shape}")
    if y.ndim != 1:
        raise DataError(f"{labels}: expected a 1-D label file, got shape {y.shape}")
    if X.shape[0] != y.shape[0]:
        raise DataError(f"{labels}: {y.shape[0]} labels but {images} has {X.shape[0]} images")
    return X.reshape(X.shape[0], -1), y.astype(np.int64), tuple(X.shape[1:])


def load_split(images: Path, labels: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    """One split (images file, labels file) of an IDX dataset; see
    [`pair`][xpnet.datasets.idx.pair]."""
    return pair(read_idx(images), read_idx(labels), str(images), str(labels))
