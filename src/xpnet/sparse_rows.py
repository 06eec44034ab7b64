"""Sparse inputs: the rows of a SciPy sparse matrix, kept on the host in CSR form, each batch
made dense on the model's device as it is taken. The whole matrix is never densified, so a
TF-IDF matrix of a million columns trains in the memory of its batches.

A training step gathers its batch with :meth:`SparseRows.take` (the batch's rows, densified,
moved to the device: one host-to-device copy per step, which dense inputs avoid by moving once
per fit; on a GPU the batch's indices also come back to the host). Evaluation and prediction
densify one chunk of rows at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend, to_numpy

Array = Any


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a SciPy sparse matrix or array (without importing SciPy)."""
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


class SparseRows:
    """Rows of a sparse matrix (n, features) for a model on ``backend`` in ``dtype``."""

    ndim = 2

    def __init__(self, matrix: Any, backend: Backend, dtype: Any):
        self.matrix = matrix.tocsr()
        self.backend, self.dtype = backend, dtype
        self.shape = tuple(int(d) for d in self.matrix.shape)

    def __getitem__(self, key: Any) -> SparseRows:
        """A block of rows, ``rows[s:e, :]`` (still sparse)."""
        rows = key[0] if isinstance(key, tuple) else key
        return SparseRows(self.matrix[rows], self.backend, self.dtype)

    def dense(self) -> Array:
        """All these rows as a dense array on the device (for a chunk, not a training set)."""
        return self.backend.asarray(self.matrix.toarray(), self.dtype)

    def take(self, idx: Array) -> Array:
        """The rows ``idx`` (indices on the device), dense on the device."""
        host = np.asarray(to_numpy(idx), dtype=np.int64)
        return self.backend.asarray(self.matrix[host].toarray(), self.dtype)
