"""The training step as one unit, and the batches of an epoch.

:class:`TrainingStep` owns what one update touches for a network, an optimizer and a training
set already on the device (with each row's class, found once): ``cost, hits = step(indices)``
gathers the batch (the backend's ``take_rows`` kernel), runs forward and backward (BP1-BP4),
reduces the gradients over the ranks of a data-parallel run, and applies the update. It reads nothing back to the host and branches on no data, so a
GPU never waits inside it; the fit loop calls it, the benchmarks time it, and a GPU backend may
fuse or capture it whole.

:func:`batches` yields each step's indices: one seeded permutation per epoch, drawn on the host
(the same order on every backend) and moved once, sliced per batch; in a data-parallel run each
rank takes its share of every global batch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

Array = Any


class TrainingStep:
    """One update of ``net`` by ``optimizer`` on rows of (X, Y), device arrays of the whole
    training set (``n`` rows, the ``n`` of the L2 term ``lambda/2n``).

    Calling it with a batch's indices (and this process's ``share`` of the global batch in a
    data-parallel run) returns the batch cost, a 0-d device array, and for classifiers the
    per-example hits (predicted class == target class), a device array; else None.
    ``reduce(grads, C)`` sums gradients and cost over the ranks (:func:`xpnet.comm.averaging`).
    """

    def __init__(self, net: Any, optimizer: Any, X: Array, Y: Array, reduce: Any = None):
        self.net, self.optimizer, self.X, self.Y = net, optimizer, X, Y
        self.n = int(X.shape[0])
        self.reduce = reduce
        self.logits = net.fused
        self.take = net.backend.kernels.take_rows
        # each row's class, once (not an argmax of the targets at every step)
        self.labels = net._classes(Y) if net.is_classifier else None

    def __call__(self, idx: Array, share: float = 1.0) -> tuple[Array, Array | None]:
        net, xp, take = self.net, self.net.xp, self.take
        C, out = net._step(take(xp, self.X, idx), take(xp, self.Y, idx), self.optimizer,
                           self.n, self.reduce, share)
        if self.labels is None:
            return C, None
        return C, net._classes(out, self.logits) == take(xp, self.labels, idx)


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of each batch of an epoch over ``n`` rows; the last may be short."""
    return [(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def batches(order: Array, n: int, batch_size: int, rank: int = 0, size: int = 1
            ) -> Iterator[tuple[Array, float]]:
    """Each batch's indices into the training set, with this rank's share of it: all of it
    in one process; in a data-parallel run of ``size`` ranks, rank ``r`` takes the r-th of
    ``size`` nearly equal slices of every global batch ``order[s:e]``."""
    for s, e in batch_bounds(n, batch_size):
        if size > 1:
            m = e - s
            s, e = s + m * rank // size, s + m * (rank + 1) // size
            yield order[s:e], (e - s) / m
        else:
            yield order[s:e], 1.0
