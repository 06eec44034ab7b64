"""The model contract: what a trainer needs of a model, and nothing more.

The fit loop ([`xpnet.train`][xpnet.train]), the training step ([`xpnet.step`][xpnet.step]), the
callbacks, gradient checking and the benchmarks see a model only through
[`Model`][xpnet.model.Model]; they import no concrete model and touch none of its internals.
[`xpnet.Network`][xpnet.network.Network] implements it; so can any other model whose cost and
gradients come from backpropagation on one backend.

Parameters are named (``W1, b1, W2, b2, ...`` for a Network: the maths' names, one pair per
Dense layer), and the optimizer keeps its state under the same names. A batch's *outputs* are
what the model's last layer hands to the cost: its activations, or its logits ``Z_L`` when the
cost fuses with the output activation; [`Model.decide`][xpnet.model.Model.decide] turns either into
class decisions, so no caller needs to know which it was given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .backend import Backend, Generator
    from .precision import Policy

Array = Any


@runtime_checkable
class Model(Protocol):
    """A differentiable model on one backend (see the module docstring)."""

    #: the arrays' library, device and kernels
    backend: Backend
    #: the model's own random stream (dropout masks); checkpoints store its state
    rng: Generator
    #: the name of the parameters' dtype, ``"float32"`` or ``"float64"``
    dtype_name: str
    #: the precision policy ([`xpnet.precision.Policy`][xpnet.precision.Policy]): the training
    #: step scales the loss when it says so
    precision: Policy

    @property
    def is_classifier(self) -> bool:
        """Whether the outputs are class scores, so that [`decide`][xpnet.model.Model.decide] means
        something."""
        ...

    def config(self) -> dict[str, Any]:
        """The architecture as plain JSON values (``"layers"`` among them): what a file records
        and a checkpoint's resume compares."""
        ...

    def named_parameters(self) -> dict[str, Array]:
        """Every parameter by name, in a fixed order, as the model holds it (no copy)."""
        ...

    def assign(self, params: Mapping[str, Array]) -> None:
        """Take ``params`` (arrays of this backend, named as
        [`named_parameters`][xpnet.model.Model.named_parameters]) as the parameters, without copying
        or checking: the training step's hand-back."""
        ...

    def prepare(self, X: Any, y: Any) -> tuple[Array, Array]:
        """Inputs and targets as the model's arrays on its device, checked: ``X`` of shape
        (n, n_inputs) with n >= 1, targets ``Y`` of shape (n, n_outputs)."""
        ...

    def example_weights(self, weights: Any, n_examples: int) -> Array:
        """Per-example weights (n,) as the model's column (n, 1) on its device, checked."""
        ...

    def loss_and_outputs(self, X: Array, Y: Array, *, n: Any = None, training: bool = False,
                         params: Mapping[str, Array] | None = None, weights: Array = None
                         ) -> tuple[Array, Array]:
        """``(C, outputs)``: the cost (0-d array; with L2, for a training set of ``n`` rows)
        and the outputs of the batch (X, Y) prepared by [`prepare`][xpnet.model.Model.prepare]; with
        ``weights`` (a column of [`example_weights`][xpnet.model.Model.example_weights]), the cost
        is their weighted mean over the rows and ``n`` defaults to their sum."""
        ...

    def loss_and_grads(self, X: Array, Y: Array, *, n: Any = None, scale: float = 1.0,
                       training: bool = True, params: Mapping[str, Array] | None = None,
                       weights: Array = None) -> tuple[Array, dict[str, Array], Array]:
        """``(C, grads, outputs)``: the cost, ``scale`` times its gradient with respect to each
        parameter (by name), and the outputs; with ``params`` given, of those parameters
        instead of the model's own (the step as a function of explicit state); ``weights`` as
        for [`loss_and_outputs`][xpnet.model.Model.loss_and_outputs]."""
        ...

    def decide(self, outputs: Array) -> Array:
        """Class decisions (n,) from the outputs
        [`loss_and_outputs`][xpnet.model.Model.loss_and_outputs] and
        [`loss_and_grads`][xpnet.model.Model.loss_and_grads] return."""
        ...

    def scores(self, outputs: Array) -> Array:
        """Class probabilities, or regressed values, from the outputs
        [`loss_and_outputs`][xpnet.model.Model.loss_and_outputs] returns (which may be logits)."""
        ...

    def target_classes(self, Y: Array) -> Array:
        """The class (n,) of each target row of [`prepare`][xpnet.model.Model.prepare]'s ``Y``."""
        ...
