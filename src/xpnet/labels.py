"""Class labels as a model answers with them: the names it records, typed as the data had them.

A classifier trained on labels of its own (a CSV's label column: ``cat``/``dog``, or ``1, 2,
3``) records them as ``class_names``. Its answers are those labels wherever it is asked, from
Python, the command line or its ONNX graph: integers when every name is an integer written
plainly (so a column of 1, 2, 3 answers 1, 2, 3, which compare equal to the data), else the
names as strings. A model without names answers class indices 0..k-1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .backend import to_numpy


def label_values(class_names: Sequence[str] | None) -> np.ndarray | None:
    """The label of each class index (an int64 or a string array), or None without names."""
    if not class_names:
        return None
    names = [str(n) for n in class_names]
    if all(re.fullmatch(r"-?\d+", n) and str(int(n)) == n for n in names):
        return np.array([int(n) for n in names], dtype=np.int64)
    return np.array(names)


def are_indices(values: np.ndarray | None) -> bool:
    """Whether labels are the class indices themselves (no names, or names ``0..k-1``)."""
    return values is None or (values.dtype.kind == "i" and
                              np.array_equal(values, np.arange(len(values))))


def answer_labels(index: Any, class_names: Sequence[str] | None) -> Any:
    """The answer for class indices ``index`` (a device array): the labels of
    [`label_values`][xpnet.labels.label_values] as a NumPy array, or the indices as they are
    where the names are the indices (or there are none)."""
    values = label_values(class_names)
    if values is None or are_indices(values):
        return index
    return values[to_numpy(index)]


def empty_answer(net: Any) -> Any:
    """A network's answer for no rows: an empty array of its labels, class indices (int64) or
    values ((0,) for one output, else (0, outputs)) on its device."""
    values = label_values(net.class_names) if net.is_classifier else None
    if values is not None and not are_indices(values):
        return values[:0]
    xp, dev = net.xp, net.backend.device
    if net.is_classifier:
        return xp.zeros((0,), dtype=xp.int64, device=dev)
    return xp.zeros((0,) if net.n_outputs == 1 else (0, net.n_outputs), dtype=net.dtype,
                    device=dev)
