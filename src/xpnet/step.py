"""The training step as one unit, and the batches of an epoch.

One step composes four parts, each behind a public contract:

1. gather the batch from the training set on the device (the backend's ``take_rows`` kernel);
2. ``model.loss_and_grads`` ([`xpnet.model.Model`][xpnet.model.Model]): forward, BP1-BP4, the
gradients
   already multiplied by the optimizer's ``gradient_scale`` and by this process's ``share`` of
   a data-parallel global batch (backprop is linear in the output error, so both factors cost
   one pass over a (batch x outputs) array; this is the one place they are folded in);
3. ``reduce(grads, C)``: the sum over the ranks of a data-parallel run
   ([`xpnet.comm.averaging`][xpnet.comm.averaging]), which makes the result the global batch's;
4. ``optimizer.update`` ([`xpnet.optim`][xpnet.optim]), which takes gradients so scaled.

[`TrainingStep.pure`][xpnet.step.TrainingStep.pure] is that composition as a function of explicit
state (parameters and optimizer state in, the same out), the form a backend can compile or capture
whole; calling the step runs it on the model's and the optimizer's own state and hands the results
back. It reads nothing back to the host and branches on no data, so a GPU never waits inside it.
Every [`FLUSH_EVERY`][xpnet.step.FLUSH_EVERY] steps the step zeroes the subnormal numbers in the
optimizer's state (velocities of weights whose gradient is always zero decay into them, and many
CPUs compute on them slowly); a velocity that small moves no weight, so the update is unchanged, and
the flush depends only on the step count, so a resumed run flushes where the original did.

Under a float16 policy the step also scales the loss ([`LossScale`][xpnet.precision.LossScale]):
the scale multiplies the gradient scale of part 2 above, the gradients are checked and divided by it
in float32 before the update, and a step with an inf or a NaN among them keeps the previous
parameters and state by a select on the device.

[`batches`][xpnet.step.batches] yields each step's indices: one seeded permutation per epoch, drawn
on the host (the same order on every backend) and moved once, sliced per batch; in a data-parallel
run each rank takes its share of every global batch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from .model import Model
from .optim import Optimizer, State
from .precision import LossScale
from .sparse_rows import SparseRows

Array = Any
FLUSH_EVERY = 100
"""Steps between flushes of subnormal optimizer state: a velocity decaying by 0.9 a step from
1e-4 needs about 750 steps to reach the subnormal range, so subnormals live at most this long,
and one pass over the state every 100 steps costs well under 1% of the steps."""
Reduce = Callable[[dict[str, Array], Array], tuple[dict[str, Array], Array]]


class TrainingStep:
    """One update of ``model`` by ``optimizer`` (bound here to the model's backend).

    ``X`` and ``Y`` are the whole training set, prepared on the device; calling the step with a
    batch's indices (and this process's ``share`` of the global batch) returns the batch cost,
    a 0-d device array, and for classifiers the per-example hits (decision == target class), a
    device array; else None. Each row's class is found once, here. ``n`` is the ``n`` of the
    L2 term ``lambda/2n``: the training set's size (the batch's when neither is given, or
    with ``n="batch"``).
    ``weights``, a column (n, 1) from ``model.example_weights``, weighs the examples: each
    batch's cost is then the weighted mean of its rows' costs, and the "size" in the L2 term's
    ``n`` is the total weight (of the training set, or with ``n="batch"`` of the batch).
    ``reduce`` sums gradients and cost over the ranks
    ([`xpnet.comm.averaging`][xpnet.comm.averaging]).
    """

    def __init__(self, model: Model, optimizer: Optimizer, X: Array = None, Y: Array = None,
                 *, n: int | str | None = None, reduce: Reduce | None = None,
                 compile: bool = False, weights: Array = None):
        self.model, self.optimizer = model, optimizer.bind(model.backend)
        self.xp, self.X, self.Y, self.reduce = model.backend.xp, X, Y, reduce
        self.weights = weights
        if weights is not None and reduce is not None:
            raise ValueError("weighted examples train in one process (a rank's share of a "
                             "global batch would be its share of the batch's weight)")
        # "batch": each batch's own size (scikit-learn's convention for the L2 term)
        self.n: Any = None if n == "batch" else (
            n if n is not None else None if X is None else
            int(X.shape[0]) if weights is None else float(self.xp.sum(weights)))
        self.take = model.backend.kernels.take_rows
        self.sparse = isinstance(X, SparseRows)   # batches gathered on the host
        if compile and self.sparse:
            raise ValueError("compile=True needs dense inputs on the device; sparse X is "
                             "gathered on the host")
        self.labels = model.target_classes(Y) if Y is not None and model.is_classifier \
            else None
        #: the dynamic loss scaling of a float16 policy (None otherwise)
        self.loss_scale = LossScale(self.xp) if model.precision.loss_scaling else None
        held = self.optimizer.state.get(LossScale.SLOT)   # a resumed run's
        self._skipped_seen = 0.0 if held is None else float(held["skipped"])
        #: the step's function of explicit state: [`pure`][xpnet.step.TrainingStep.pure], or the
        #: backend's compilation
        #: of it (``compile=True``:
        #: [`xpnet.backend.Backend.compile`][xpnet.backend.base.Backend.compile])
        self.run = model.backend.compile(self.pure) if compile else self.pure
        self._compiled = model.backend.compile(self.on_batch) if compile else None
        self._data: dict[str, tuple[float, Array]] = {}   # 0-d arrays for the compiled step
        self.compiled = compile
        #: seconds the first compiled step took (the compilation), once it has run
        self.compile_seconds: float | None = None
        #: keep each batch's ``(outputs, targets)`` as ``kept`` (for metrics; eager steps)
        self.keep_outputs = False
        self.kept: tuple[Array, Array] | None = None

    def epoch_order(self, shuffler: Any, n: int, shuffle: bool = True) -> Array:
        """The order of the ``n`` examples for one epoch (a permutation by ``shuffler``, or
        ``0..n-1``) where this step gathers with it: on the device, or for sparse rows, which
        are gathered on the host, a NumPy array (the same order), so that no batch's indices
        are ever read back from a GPU."""
        if self.sparse:
            return shuffler.permutation(n, on_host=True) if shuffle else np.arange(n)
        be = self.model.backend
        return shuffler.permutation(n) if shuffle else self.xp.arange(n, device=be.device)

    def __call__(self, idx: Array, share: float = 1.0) -> tuple[Array, Array | None]:
        """One step on the batch ``idx`` (indices into the training set, from
        [`epoch_order`][xpnet.step.TrainingStep.epoch_order]); its cost and, for a classifier, each
        example's hit."""
        if self.compiled:   # the gather and the hits inside the compiled graph too
            return self._compiled_batch(idx, share)
        xp, take = self.xp, self.take
        if self.sparse:   # host indices: the rows from the host, the rest with a copy of idx
            X, idx = self.X.take(idx), self.model.backend.asarray(idx)
        else:
            X = take(xp, self.X, idx)
        w = None if self.weights is None else take(xp, self.weights, idx)
        Yb = take(xp, self.Y, idx)
        C, out = self.update(X, Yb, share, w)
        if self.keep_outputs:   # for the epoch's metrics: the batch's outputs and targets
            self.kept = (out, Yb)
        if self.labels is None:
            return C, None
        return C, self.model.decide(out) == take(xp, self.labels, idx)

    def on_batch(self, params: Mapping[str, Array], state: State, idx: Array, t: int,
                 scale: Any, rate: Any = None
                 ) -> tuple[dict[str, Array], State, Array, Array | None]:
        """[`pure`][xpnet.step.TrainingStep.pure] on the batch ``idx`` of the training set, with its
        hits: the whole of a step, gather included, as one function of explicit state (what
        ``compile=True`` compiles)."""
        xp, take = self.xp, self.take
        w = None if self.weights is None else take(xp, self.weights, idx)
        params, state, C, out = self.pure(params, state, take(xp, self.X, idx),
                                          take(xp, self.Y, idx), t, scale, 1.0, w, rate)
        hits = None if self.labels is None else \
            self.model.decide(out) == take(xp, self.labels, idx)
        return params, state, C, hits

    def _compiled_batch(self, idx: Array, share: float) -> tuple[Array, Array | None]:
        assert self._compiled is not None
        scale, started = self._begin(share)
        params, self.optimizer.state, C, hits = self._compiled(
            self.model.named_parameters(), self.optimizer.state, idx, self.optimizer.t + 1,
            scale, self._rate_data())
        self._finish(params, started)
        return C, hits

    def update(self, X: Array, Y: Array, share: float = 1.0, weights: Array = None
               ) -> tuple[Array, Array]:
        """One update on a prepared batch (with its rows' ``weights``, a column, if any), on
        the model's and optimizer's own state; returns the cost and the outputs."""
        scale, started = self._begin(share)
        params, self.optimizer.state, C, out = self.run(
            self.model.named_parameters(), self.optimizer.state, X, Y, self.optimizer.t + 1,
            scale, share, weights)
        self._finish(params, started)
        return C, out

    def _begin(self, share: float) -> tuple[Any, float | None]:
        """The optimizer's state made on first use, and the step's gradient scale: a float,
        or for a compiled step a 0-d array (kept while the learning rate is the same), so that
        a new learning rate is new data, not a new graph; with the time a compilation starts."""
        model, opt = self.model, self.optimizer
        if opt.slots and opt.slots[0] not in opt.state:   # (a loss scale may be there already)
            opt.state = {**opt.state, **opt.init_state(model.named_parameters())}
        if self.loss_scale is not None and LossScale.SLOT not in opt.state:
            like = next(iter(model.named_parameters().values()))
            opt.state = {**opt.state,
                         LossScale.SLOT: self.loss_scale.initial(model.backend, like.dtype)}
        value = opt.gradient_scale * share
        if not self.compiled:
            return value, None
        return self._as_data("scale", value), \
            time.perf_counter() if self.compile_seconds is None else None

    def _rate_data(self) -> Any:
        """The learning rate as a 0-d array for the compiled step: a rate that changes (a
        schedule, ReduceLROnPlateau) is new data, not a new graph."""
        return self._as_data("rate", self.optimizer.learning_rate)

    def _as_data(self, name: str, value: float) -> Any:
        """``value`` as a 0-d array of the parameters' dtype on the device, made again only
        when the value changes."""
        held = self._data.get(name)
        if held is None or held[0] != value:
            dtype = next(iter(self.model.named_parameters().values())).dtype
            held = self._data[name] = (value, self.model.backend.scalar(value, dtype))
        return held[1]

    def _finish(self, params: dict[str, Array], started: float | None) -> None:
        """Hand the new parameters back, count the step, and flush subnormal optimizer state
        every [`FLUSH_EVERY`][xpnet.step.FLUSH_EVERY] steps."""
        if started is not None:
            self.compile_seconds = time.perf_counter() - started
        opt = self.optimizer
        opt.t += 1
        self.model.assign(params)
        if opt.t % FLUSH_EVERY == 0:
            opt.flush_subnormals()

    def pure(self, params: Mapping[str, Array], state: State, X: Array, Y: Array, t: int,
             scale: Any, share: float = 1.0, weights: Array = None, rate: Any = None
             ) -> tuple[dict[str, Array], State, Array, Array]:
        """Step ``t`` as a function of explicit state: ``(params, state, C, outputs)``, the
        gradients taken times ``scale``, the optimizer's gradient scale times this process's
        ``share`` of the global batch (a float, or a 0-d array for a compiled step); the
        batch's rows weighted by ``weights`` (a column) if given; ``rate`` the learning rate
        (the optimizer's own by default; a 0-d array for a compiled step)."""
        if self.loss_scale is not None:
            return self._scaled(params, state, X, Y, t, scale, share, weights, rate)
        C, grads, out = self.model.loss_and_grads(X, Y, n=self.n, scale=scale, training=True,
                                                  params=params, weights=weights)
        if self.reduce is not None:
            grads, C = self.reduce(grads, C * share)
        # the ranks' shares add up to 1: the gradients now carry scale / share (for clipping)
        new, state = self.optimizer.update(params, grads, state, t, scale / share, rate)
        return new, state, C, out

    def _scaled(self, params: Mapping[str, Array], state: State, X: Array, Y: Array, t: int,
                scale: Any, share: float, weights: Array, rate: Any
                ) -> tuple[dict[str, Array], State, Array, Array]:
        """[`pure`][xpnet.step.TrainingStep.pure] with dynamic loss scaling: the gradients taken
        times the loss scale ``S`` as well, checked for inf and NaN (after the ranks' sum, so
        that every rank decides alike), divided by ``S``; the update made on copies (the kernels
        update in place) and kept only when every gradient was finite; ``S`` then moves
        ([`LossScale.next`][xpnet.precision.LossScale.next])."""
        assert self.loss_scale is not None
        xp, held = self.xp, state[LossScale.SLOT]
        rest = {slot: arrays for slot, arrays in state.items() if slot != LossScale.SLOT}
        C, grads, out = self.model.loss_and_grads(X, Y, n=self.n, scale=scale * held["scale"],
                                                  training=True, params=params, weights=weights)
        if self.reduce is not None:
            grads, C = self.reduce(grads, C * share)
        finite = self.loss_scale.finite(grads)
        inverse = 1.0 / held["scale"]
        grads = {k: g * inverse for k, g in grads.items()}
        copies = {slot: {k: xp.asarray(a, copy=True) for k, a in arrays.items()}
                  for slot, arrays in rest.items()}
        new, updated = self.optimizer.update({k: xp.asarray(p, copy=True)
                                              for k, p in params.items()},
                                             grads, copies, t, scale / share, rate)
        kept = {k: xp.where(finite, new[k], p) for k, p in params.items()}
        state = {slot: {k: xp.where(finite, a, rest[slot][k]) for k, a in arrays.items()}
                 for slot, arrays in updated.items()}
        state[LossScale.SLOT] = self.loss_scale.next(held, finite)
        return kept, state, C, out

    def loss_scale_logs(self) -> dict[str, float]:
        """The loss scale and the steps skipped since the last call (read from the device: once
        an epoch), under a float16 policy; else nothing."""
        held = self.optimizer.state.get(LossScale.SLOT) if self.loss_scale else None
        if held is None:
            return {}
        total = float(held["skipped"])
        skipped, self._skipped_seen = total - self._skipped_seen, total
        return {"loss_scale": float(held["scale"]), "skipped_steps": skipped}


def gemm_flops(sizes: tuple[int, ...] | list[int], M: int) -> int:
    """Floating-point operations of a step's GEMMs at batch ``M`` for layer ``sizes`` (input to
    output): per layer the forward product and the weight gradient, and the input gradient for
    every layer but the first (2 per multiply-add)."""
    return sum(2 * M * a * b * (2 if i == 0 else 3)
               for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])))


def layer_sizes(params: Mapping[str, Array]) -> list[int]:
    """The layer sizes, input to output, of a model's weight matrices (n_in, n_out)."""
    shapes = [tuple(p.shape) for p in params.values() if len(p.shape) == 2]
    return [int(shapes[0][0]), *(int(b) for _, b in shapes)]


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
