"""Sparse inputs: the rows of a SciPy sparse matrix, kept on the host in CSR form. The whole
matrix is never densified, so a TF-IDF matrix of a million columns trains in the memory of its
batches.

Each batch reaches the first layer in one of two forms:

* as the batch's CSR rows, when the matrix is sparse enough (under
  [`SPARSE_BELOW`][xpnet.sparse_rows.SPARSE_BELOW] of its entries non-zero), the backend's arrays
  are what SciPy's sparse matrices multiply directly (NumPy: ``Backend.sparse_products``) and the
  first layer is Dense: ``Z = X W`` and ``dW = X^T dZ`` are then SciPy's sparse-dense products,
  whose cost follows the non-zeros rather than the features;
* otherwise (denser matrices, a GPU backend, array-api-strict, input dropout), densified and
  moved to the device: one host-to-device copy per step, which dense inputs avoid by moving
  once per fit, and then the BLAS. The epoch's order stays on the host for sparse rows
  ([`xpnet.step.TrainingStep.epoch_order`][xpnet.step.TrainingStep.epoch_order]), so no batch's
  indices are read back from a GPU; they go to the device with the batch.

A training step gathers its batch with [`SparseRows.take`][xpnet.sparse_rows.SparseRows.take];
evaluation and prediction take one chunk of rows at a time
([`SparseRows.rows`][xpnet.sparse_rows.SparseRows.rows]).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .backend import Backend, to_numpy

Array = Any
SPARSE_BELOW = 0.05
"""The fraction of non-zero entries under which a sparse batch's products beat densifying it
for the BLAS: ``benchmarks/sparse_first_layer.py`` times both ways over densities from 100% to
0.05%, and the performance docs give the crossover it found (between 5% and 10%)."""


def is_sparse(x: Any) -> bool:
    """Whether ``x`` is a SciPy sparse matrix or array (without importing SciPy)."""
    return type(x).__module__.startswith("scipy.sparse") and hasattr(x, "tocsr")


def stays_sparse(matrix: Any, backend: Backend) -> bool:
    """Whether batches of ``matrix`` reach a first Dense layer as CSR rows on ``backend``: where
    SciPy multiplies the backend's arrays and fewer than
    [`SPARSE_BELOW`][xpnet.sparse_rows.SPARSE_BELOW] of the entries are non-zero."""
    entries = max(1, int(matrix.shape[0]) * int(matrix.shape[1]))
    return backend.sparse_products and matrix.nnz / entries < SPARSE_BELOW


class SparseRows:
    """Rows of a sparse matrix (n, features) for a model on ``backend`` in ``dtype``; with
    ``direct`` ([`stays_sparse`][xpnet.sparse_rows.stays_sparse]), batches stay sparse (CSR in
    ``dtype``) for the first layer's products."""

    ndim = 2

    def __init__(self, matrix: Any, backend: Backend, dtype: Any, direct: bool = False):
        matrix = matrix.tocsr()
        self.direct = bool(direct and backend.sparse_products)
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
        """The rows ``idx`` (host indices; device ones are copied back) as the first layer
        takes them."""
        host = np.asarray(to_numpy(idx), dtype=np.int64)
        block = self.matrix[host]
        return block if self.direct else self.backend.asarray(block.toarray(), self.dtype)
