"""Datasets: MNIST-family IDX files, CSV tables and small synthetic sets.

[`load`][xpnet.datasets.load] turns what a user types (``mnist``, a directory of IDX files, a
``.csv`` path, ``xor``, ``spirals``, ``moons``) into a [`Dataset`][xpnet.datasets.dataset.Dataset]
of host arrays.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .dataset import Dataset, split
from .idx import find_split_files, load_split, read_idx
from .mnist_loader import mnist
from .synthetic import moons, spirals, xor
from .tabular import load_csv

SYNTHETIC = {"xor": xor, "spirals": spirals, "moons": moons}
PACKAGED = {"wheat-seeds": "wheat-seeds.csv"}
"""Small real data sets that ship inside the package (``datasets/data/``, with their source and
licence in its README), so that they work offline anywhere."""


def packaged(name: str) -> Path:
    """The path of a data set that ships with xpnet ([`PACKAGED`][xpnet.datasets.PACKAGED])."""
    from importlib.resources import files

    return Path(str(files(__package__) / "data" / PACKAGED[name]))


def load_idx_directory(directory: str | Path) -> Dataset:
    """A directory holding the four files of an MNIST-style IDX dataset (Fashion-MNIST, ...)."""
    X_tr, y_tr, shape = load_split(*find_split_files(directory, "train"))
    X_te, y_te, _ = load_split(*find_split_files(directory, "test"))
    k = int(max(y_tr.max(), y_te.max())) + 1
    return Dataset(Path(directory).name, X_tr, y_tr, X_te, y_te, [str(i) for i in range(k)],
                   shape, scaling="pixels" if X_tr.dtype.kind == "u" else "standardize")


def load(spec: str, data_dir: str | Path | None = None, label_column: int | str = -1,
         download: bool = True, progress: bool = True, task: str = "auto") -> Dataset:
    """The dataset a user names: ``mnist``, ``wheat-seeds`` (shipped with xpnet),
    ``xor``/``spirals``/``moons``, a ``.csv`` file or a directory of IDX files. ``task``
    ("auto", "classification", "regression") applies to CSV files, whose label column may hold
    a real-valued target."""
    if spec == "mnist":
        return mnist(data_dir, download=download, progress=progress)
    if spec in SYNTHETIC:
        return SYNTHETIC[spec]()
    if spec in PACKAGED:
        ds = load_csv(packaged(spec), label_column=-1, task=task)
        ds.name = spec
        return ds
    path = Path(spec)
    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        return load_csv(path, label_column=label_column,
                        delimiter="\t" if path.suffix.lower() == ".tsv" else ",", task=task)
    if path.is_dir():
        return load_idx_directory(path)
    raise DataError(
        f"{spec}: unknown dataset; use mnist, {', '.join([*PACKAGED, *SYNTHETIC])}, a .csv "
        "file or a directory of IDX files"
    )


__all__ = ["PACKAGED", "Dataset", "load", "load_csv", "load_idx_directory", "mnist", "moons",
           "packaged", "read_idx",
           "spirals", "split", "xor"]
