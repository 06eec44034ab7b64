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

import numpy as np


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
