"""MNIST: found in a data directory or downloaded from public mirrors, verified by checksum."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataError
from . import download as dl
from .dataset import Dataset
from .idx import pair, parse_idx, read_bytes

MIRRORS = [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
]
# md5 of the uncompressed IDX content (the values every MNIST loader checks); checking the
# content rather than the .gz wrapper accepts any faithful re-compression.
FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


def _check(name: str, content: bytes) -> str | None:
    digest = dl.md5_of(content)
    if digest != FILES[name]:
        return f"checksum mismatch (md5 of content {digest}, expected {FILES[name]})"
    return None


def _verify_gz(name: str):
    def verify(data: bytes) -> str | None:
        import gzip

        try:
            content = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            return f"not valid gzip data ({exc})"
        return _check(name, content)

    return verify


def _locate(name: str, dirs: list[Path]) -> Path | None:
    for d in dirs:
        for candidate in (d / "mnist" / f"{name}.gz", d / "mnist" / name):
            if candidate.is_file():
                return candidate
    return None


def load_verified(data_dir: str | Path | None = None, download: bool = True,
                  progress: bool = True) -> dict[str, np.ndarray]:
    """The four MNIST arrays by file name, each checked against its published md5 first,
    downloading any that are missing."""
    dirs = dl.search_dirs(data_dir)
    found = {name: _locate(name, dirs) for name in FILES}
    missing = [name for name, path in found.items() if path is None]
    if missing and not download:
        raise DataError(_missing_message(missing, dirs))
    out = {}
    for name, path in found.items():
        if path is None:
            target = dirs[0] / "mnist" / f"{name}.gz"
            try:
                dl.download([m + f"{name}.gz" for m in MIRRORS], target, _verify_gz(name),
                            progress=progress)
            except DataError as exc:
                raise DataError(f"{exc}\n{_missing_message(missing, dirs)}") from None
            path = target
        content = read_bytes(path)
        problem = _check(name, content)
        if problem:
            raise DataError(f"{path}: {problem}; delete it to download a fresh copy")
        out[name] = parse_idx(content, str(path))
    return out


def _missing_message(missing: list[str], dirs: list[Path]) -> str:
    """Which files are missing, where they were looked for, the layout they need, and both
    ways to point xpnet at them."""
    files = "\n".join(f"    {name}.gz" for name in missing)
    looked = "\n".join(f"    {d / 'mnist'}" for d in dirs)
    return (f"MNIST: {len(missing)} of the 4 files not found:\n{files}\n"
            f"looked in:\n{looked}\n"
            "to use a copy you have, put the four files (.gz or not) in a folder named mnist/ "
            "and point xpnet at the folder ABOVE it:\n"
            "    DATA/mnist/train-images-idx3-ubyte.gz (and the other three)\n"
            "    XPNET_DATA_DIR=DATA xpnet train     or     xpnet train --data-dir DATA")


def mnist(data_dir: str | Path | None = None, download: bool = True, progress: bool = True
          ) -> Dataset:
    """The MNIST training (60,000) and test (10,000) sets as uint8 pixels (n, 784).

    Looks in ``data_dir``, then ``$XPNET_DATA_DIR``, then the per-user cache, each holding an
    ``mnist/`` sub-directory; downloads missing files unless ``download=False``. Every file is
    checked against the published md5 of its content before use.
    """
    a = load_verified(data_dir, download, progress)
    X_train, y_train, shape = pair(a["train-images-idx3-ubyte"], a["train-labels-idx1-ubyte"],
                                   "train-images-idx3-ubyte", "train-labels-idx1-ubyte")
    X_test, y_test, _ = pair(a["t10k-images-idx3-ubyte"], a["t10k-labels-idx1-ubyte"],
                             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
    return Dataset("mnist", X_train, y_train, X_test, y_test, [str(i) for i in range(10)],
                   shape, scaling="pixels")


