"""Precision policies: the dtype the GEMMs compute in, apart from the dtype the parameters are kept
in.

``"32"`` (the default) computes everything in the network's dtype. The two mixed policies follow
PyTorch's automatic mixed precision, Keras's ``mixed_bfloat16``/``mixed_float16`` and Lightning's
``"bf16-mixed"``/``"16-mixed"``:

* **master weights**: the parameters and the optimizer's state stay float32. A bf16 weight
  cannot take an update smaller than 2^-8 of itself (bf16 keeps 8 significant bits), and a
  learning rate times a gradient usually is that small, so updates applied to bf16 weights would
  be rounded away.
* **one cast per step**: each weight matrix and bias, and the batch, are cast to the compute dtype
  once per step (or per inference call) before the forward pass, and the backward pass reuses
  those copies. A cast is one pass over an array; a GEMM on it reads it many times.
* **the GEMMs in the compute dtype**: ``Z = A W``, ``D W^T`` and ``A^T D`` take compute-dtype
  operands. The libraries accumulate such products in float32 and round the result once, so a
  product's relative error is about the compute dtype's unit roundoff (2^-8 for bf16, 2^-11 for
  fp16), not the inner dimension times it.
* **element-wise work in the compute dtype where it is safe**: the bias add and the hidden
  activations (ReLU is exact in any dtype; the smooth ones lose the dtype's epsilon, as their
  inputs already have) and their backward products.
* **float32 where it is not**: the output layer's result is cast to float32 before the cost, so
  softmax, the logarithms and every cost run in float32 (a probability of 0.999 is 1.0 in bf16,
  whose spacing near 1 is 2^-8, so a confident prediction's cost and output error ``A - Y``
  would be 0); the bias gradients, sums over the batch, are accumulated in float32 (a bf16
  running sum of 128 rows stops growing once it is 256 times a row's term); the weight gradients
  are cast to float32 as they leave the GEMM, so clipping, the L2 term and the optimizer's update
  all see float32.

``"16-mixed"`` adds **dynamic loss scaling** ([`LossScale`][xpnet.precision.LossScale]): float16's
smallest normal number is 6.1e-5, and backpropagated errors are often smaller, so the output error
is multiplied by a scale ``S`` (folded into the step's gradient scale, free) and the gradients
divided by it in float32. bfloat16 has float32's exponent range and needs none.

A policy is resolved once, when the network is built: the backend names its low-precision dtypes
([`xpnet.backend.Backend.low_precision`][xpnet.backend.base.Backend.low_precision]), and a backend
without the one asked for refuses with the backends that have it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .backend import Backend

Array = Any


@dataclass(frozen=True)
class Policy:
    """A precision policy by name: ``compute`` is the GEMMs' dtype (None: the network's own),
    ``loss_scaling`` whether training scales the loss ([`LossScale`][xpnet.precision.LossScale])."""

    name: str
    compute: str | None
    loss_scaling: bool

    @property
    def mixed(self) -> bool:
        return self.compute is not None


POLICIES = {
    "32": Policy("32", None, False),
    "bf16-mixed": Policy("bf16-mixed", "bfloat16", False),
    "16-mixed": Policy("16-mixed", "float16", True),
}
"""The policies by their names (Lightning's)."""

ALIASES = {"32-true": "32", "float32": "32", "mixed_bfloat16": "bf16-mixed",
           "mixed_float16": "16-mixed"}
"""Other names accepted for them: Lightning's ``"32-true"`` and Keras's policy names."""


def get(name: str | Policy) -> Policy:
    """The policy called ``name`` (or one of its [`ALIASES`][xpnet.precision.ALIASES]); a
    ValueError listing the valid names otherwise."""
    if isinstance(name, Policy):
        return name
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in POLICIES:
        valid = ", ".join([*POLICIES, *ALIASES])
        raise ValueError(f"unknown precision {name!r}; valid: {valid}")
    return POLICIES[key]


class Mixed:
    """A mixed policy bound to a backend: the casts a step makes, with the compute dtype
    ``compute`` and the master dtype ``master`` (the parameters')."""

    def __init__(self, compute: Any, master: Any):
        self.compute, self.master = compute, master

    def lower(self, xp: Any, A: Array) -> Array:
        """``A`` in the compute dtype (as it is when it already is)."""
        return A if A.dtype == self.compute else xp.astype(A, self.compute)

    def to_master(self, xp: Any, A: Array) -> Array:
        """``A`` in the master dtype (float32)."""
        return A if A.dtype == self.master else xp.astype(A, self.master)

    def backprop(self, xp: Any, X: Array, W: Array, dZ: Array, input_grad: bool
                 ) -> tuple[Array | None, list[Array]]:
        """A Dense layer's BP2-BP4 with compute-dtype ``X`` and ``W`` and the error ``dZ``:
        ``dC/db = sum over rows of dZ`` accumulated in float32 (from ``dZ`` as it comes: the
        output layer's is float32), then ``dZ`` in the compute dtype for the two GEMMs,
        ``dX = dZ W^T`` (left in the compute dtype for the layer below) and ``dC/dW = X^T dZ``
        (cast to float32 as it leaves)."""
        db = xp.sum(dZ, axis=0, dtype=self.master)
        dZ = self.lower(xp, dZ)
        dX = dZ @ W.T if input_grad else None
        return dX, [xp.astype(X.T @ dZ, self.master), db]


def bind(policy: Policy, backend: Backend, master: Any) -> Mixed | None:
    """The casts of ``policy`` on ``backend`` for parameters of dtype ``master``; None for
    ``"32"``. A [`BackendError`][xpnet.backend.base.BackendError] when the backend has no such
    compute dtype, and a ValueError unless the master dtype is float32 (the policies' master
    weights)."""
    if policy.compute is None:
        return None
    compute = backend.low_precision_dtype(policy.compute, policy.name)
    if master != backend.xp.float32:
        raise ValueError(f"precision={policy.name!r} keeps float32 master weights: use "
                         "dtype='float32'")
    return Mixed(compute, master)


class LossScale:
    """Dynamic loss scaling, with PyTorch's ``GradScaler`` semantics: the scale starts at
    [`INITIAL`][xpnet.precision.LossScale.INITIAL] (2^16); a step whose gradients (times the scale)
    hold an inf or a NaN is skipped and halves the scale; after
    [`INTERVAL`][xpnet.precision.LossScale.INTERVAL] finite steps in a row the scale doubles.

    Its state is three 0-d float32 arrays (the scale, the finite steps in a row, and the steps
    skipped so far) kept with the optimizer's state under the slot
    [`SLOT`][xpnet.precision.LossScale.SLOT], so that checkpoints hold it and a compiled step
    takes it as data. Everything happens on the device: the finite check is a reduction, the
    skip a select between the updated and the previous parameters and state, and the new scale a
    select; nothing is read back, so a GPU step never waits on the host.

    Two differences from the anchor follow. The optimizer's step count counts skipped steps too
    (the host cannot know which steps were skipped without waiting), which shifts Adam's bias
    correction by the few steps skipped at the start, when the scale finds its level. And the
    scale multiplies the gradient scale the optimizer asks for (SGD's ``-eta``,
    [`xpnet.optim`][xpnet.optim]) in the one pass over the output error that carries both, so the
    float16 values of an SGD step are ``S eta dC``: the scale finds its level as it would, from
    ``eta`` times its place.
    """

    SLOT = "loss_scale"
    INITIAL = 2.0 ** 16
    INTERVAL = 2000
    GROWTH, BACKOFF = 2.0, 0.5

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def initial(self, backend: Backend, dtype: Any) -> dict[str, Array]:
        """The state before the first step."""
        return {"scale": backend.scalar(self.INITIAL, dtype),
                "good": backend.scalar(0.0, dtype), "skipped": backend.scalar(0.0, dtype)}

    def finite(self, grads: dict[str, Array]) -> Array:
        """A 0-d boolean array: whether every gradient is finite."""
        xp = self.xp
        checks = [xp.all(xp.isfinite(g)) for g in grads.values()]
        ok = checks[0]
        for c in checks[1:]:
            ok = ok & c
        return ok

    def next(self, state: dict[str, Array], finite: Array) -> dict[str, Array]:
        """The state after a step that was finite or not (``finite`` a 0-d boolean)."""
        xp = self.xp
        S, good, skipped = state["scale"], state["good"], state["skipped"]
        good = good + 1.0
        grow = finite & (good >= self.INTERVAL)
        zero = xp.zeros_like(good)
        return {
            "scale": xp.where(finite, xp.where(grow, S * self.GROWTH, S), S * self.BACKOFF),
            "good": xp.where(finite & ~grow, good, zero),
            "skipped": skipped + xp.where(finite, zero, zero + 1.0),
        }
