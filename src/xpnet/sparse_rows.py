"""Sparse inputs: the rows of a SciPy sparse matrix, kept on the host in CSR form. The whole
matrix is never densified, so a TF-IDF matrix of a million columns trains in the memory of its
batches.

Each batch reaches the first layer in one of two forms:

* on a backend whose arrays SciPy's sparse matrices multiply directly (NumPy:
  ``Backend.sparse_products``), and when the first layer is Dense, as the batch's CSR rows:
  ``Z = X W`` and ``dW = X^T dZ`` are then SciPy's sparse-dense products, whose cost follows
  the non-zeros rather than the features (``benchmarks/sparse_first_layer.py`` times both
  ways; the performance docs hold its figures);
* elsewhere (a GPU backend, array-api-strict, input dropout), densified and moved to the
  device: one host-to-device copy per step, which dense inputs avoid by moving once per fit
  (on a GPU the batch's indices also come back to the host).

A training step gathers its batch with :meth:`SparseRows.take`; evaluation and prediction take
one chunk of rows at a time (:meth:`SparseRows.rows`).
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
    """Rows of a sparse matrix (n, features) for a model on ``backend`` in ``dtype``; with
    ``direct``, batches stay sparse (CSR in ``dtype``) for the first layer's products."""

    ndim = 2

    def __init__(self, matrix: Any, backend: Backend, dtype: Any, direct: bool = False):
        self.direct = bool(direct and backend.sparse_products)
        matrix = matrix.tocsr()
        if self.direct and matrix.dtype != np.dtype(dtype):
            matrix = matrix.astype(dtype)   # a copy of the non-zeros, once
        self.matrix, self.backend, self.dtype = matrix, backend, dtype
        self.shape = tuple(int(d) for d in self.matrix.shape)

    def __getitem__(self, key: Any) -> SparseRows:
        """A block of rows, ``rows[s:e, :]`` (still sparse)."""
        rows = key[0] if isinstance(key, tuple) else key
        return SparseRows(self.matrix[rows], self.backend, self.dtype, self.direct)

    def dense(self) -> Array:
        """All these rows as a dense array on the device (for a chunk, not a training set)."""
        return self.backend.asarray(self.matrix.toarray(), self.dtype)

    def rows(self) -> Array:
        """All these rows as the first layer takes them: CSR when ``direct``, else dense on
        the device (for a chunk, not a training set)."""
        return self.matrix if self.direct else self.dense()

    def take(self, idx: Array) -> Array:
        """The rows ``idx`` (indices on the device) as the first layer takes them."""
        host = np.asarray(to_numpy(idx), dtype=np.int64)
        block = self.matrix[host]
        return block if self.direct else self.backend.asarray(block.toarray(), self.dtype)
