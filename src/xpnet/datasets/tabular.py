"""CSV files of tabular data: numeric feature columns and one label column, holding classes
(integers or strings) or a real-valued target (regression)."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import Dataset


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _rows(path: Path, delimiter: str) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank line."""
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            return [(i, r) for i, r in enumerate(csv.reader(fh, delimiter=delimiter), start=1)
                    if r and any(f.strip() for f in r)]
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: cannot read as CSV ({exc})") from None


TASKS = ("auto", "classification", "regression")
MANY_CLASSES = 20
"""Whole-number labels with more distinct values than this read as a target, not as classes
(``task="auto"``); so do those where, from 20 rows on, over half the rows have a value of
their own (an age or a price written 151.0 is a quantity, not 214 classes)."""


def load_csv(path: str | Path, label_column: int | str = -1, header: bool | None = None,
             delimiter: str = ",", task: str = "auto") -> Dataset:
    """Read a CSV whose columns are numbers except the label column.

    ``label_column`` indexes the columns (negative from the end; the last by default) or names
    one by its header. Labels may be integers or strings (classes: their sorted distinct
    values, ``y`` holds indices into them) or real numbers (a regression target, ``y`` the
    float values). ``task`` "auto" decides by the labels: numbers with a fraction, or whole
    numbers taking many values (`MANY_CLASSES`, 20), make a regression target, anything
    else classes; "classification" or "regression" forces the choice. ``header`` None means:
    skip the first row if any feature field in it is not a number. Empty lines are skipped.
    Errors name the file and the line.
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; valid: {', '.join(TASKS)}")
    path = Path(path)
    rows = _rows(path, delimiter)
    if not rows:
        raise DataError(f"{path}: the file has no data rows")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{path}: line {rows[0][0]} has {width} column; need features and a label")
    col = _column(path, label_column, rows[0][1])
    if header is None:
        first = rows[0][1]
        header = any(_number(f) is None for j, f in enumerate(first) if j != col)
    if header:
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path}: the file has a header but no data rows")
    features, labels = [], []
    for line, row in rows:
        if len(row) != width:
            raise DataError(f"{path}: line {line} has {len(row)} fields, expected {width}")
        values = []
        for j, field in enumerate(row):
            if j == col:
                continue
            v = _number(field)
            where = f"{path}: line {line}, column {j + 1}: {field.strip()!r}"
            if v is None:
                raise DataError(f"{where} is not a number" + (
                    f"; if column {j + 1} holds the labels, name it: --label-column {j} (or "
                    f"label_column={j})" if line == rows[0][0] else ""))
            if not math.isfinite(v):
                raise DataError(f"{where} is not finite")
            values.append(v)
        features.append(values)
        labels.append(row[col].strip())
    X = np.array(features, dtype=np.float64)
    numbers = [_number(s) for s in labels]
    numeric = all(v is not None and math.isfinite(v) for v in numbers)
    if task == "auto":
        whole = all(v is not None and float(v).is_integer() for v in numbers)
        distinct = len(set(numbers))
        many = distinct > MANY_CLASSES or (len(numbers) >= 20 and distinct > len(numbers) / 2)
        task = "regression" if numeric and (not whole or many) else "classification"
    if task == "regression":
        if not numeric:
            bad = next(i for i, v in enumerate(numbers) if v is None or not math.isfinite(v))
            raise DataError(f"{path}: line {rows[bad][0]}, column {col + 1}: {labels[bad]!r} is "
                            "not a finite number, and regression needs real-valued targets")
        return Dataset(path.stem, X, np.array(numbers, dtype=np.float64), class_names=[],
                       scaling="standardize", task="regression")
    names = _class_names(labels)
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[label] for label in labels], dtype=np.int64)
    if len(names) < 2:
        raise DataError(f"{path}: the label column holds a single class {names!r}")
    return Dataset(path.stem, X, y, class_names=names, scaling="standardize")


def _column(path: Path, label_column: int | str, first: list[str]) -> int:
    """The label column's index among the first row's fields: ``label_column`` an index
    (negative from the end, given as a number or its text) or a header name."""
    width = len(first)
    text = str(label_column).strip()
    if isinstance(label_column, str) and not text.lstrip("-").isdigit():
        names = [f.strip() for f in first]
        if text not in names:
            raise DataError(f"{path}: no column named {text!r}; the first row holds "
                            f"{', '.join(repr(n) for n in names)}")
        return names.index(text)
    index = int(text)
    col = index if index >= 0 else width + index
    if not 0 <= col < width:
        raise DataError(f"{path}: label column {index} is out of range for {width} columns")
    return col


def _class_names(labels: list[str]) -> list[str]:
    distinct = set(labels)
    if all(_number(s) is not None and float(s).is_integer() for s in distinct):
        return [s for s in sorted(distinct, key=lambda s: float(s))]
    return sorted(distinct)


def read_matrix(path: str | Path, n_columns: int, delimiter: str = ",") -> np.ndarray:
    """A CSV of numeric rows with exactly ``n_columns`` fields each (a header row is skipped),
    for prediction inputs. Errors name the file and the line."""
    path = Path(path)
    rows = _rows(path, delimiter)
    if rows and any(_number(f) is None for f in rows[0][1]):
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path}: the file has no data rows")
    out = np.empty((len(rows), n_columns))
    for k, (line, row) in enumerate(rows):
        if len(row) != n_columns:
            raise DataError(f"{path}: line {line} has {len(row)} features but the model "
                            f"expects {n_columns}")
        for j, field in enumerate(row):
            v = _number(field)
            if v is None or not math.isfinite(v):
                raise DataError(f"{path}: line {line}, column {j + 1}: {field.strip()!r} is not "
                                "a finite number")
            out[k, j] = v
    return out
