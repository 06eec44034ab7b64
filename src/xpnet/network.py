"""The Network: a stack of layers, a cost, and backpropagation over whole batches.

With rows as examples and ``M`` examples in a batch, for each Dense layer l:

* forward: ``Z_l = A_(l-1) @ W_l + b_l``, ``A_l = f_l(Z_l)``
* BP1: ``D_L = dC/dA_L * f'(Z_L)``, or ``(A_L - Y)/M`` for the fused cost/activation pairs
* BP2: ``D_(l-1) = (D_l @ W_l^T) * f'(Z_(l-1))``
* BP3: ``dC/db_l = sum over rows of D_l``
* BP4: ``dC/dW_l = A_(l-1)^T @ D_l``

The array namespace is resolved once, when the network is built, and passed down to every layer.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import edge, evaluation, export, io, losses, optim, train
from . import precision as precision_module
from .backend import Backend, on_its_device, resolve, to_numpy
from .labels import answer_labels, empty_answer
from .layers import Dense, Dropout, from_config, stack
from .sparse_rows import SparseRows

Array = Any
Layer = Dense | Dropout


class Network:
    """A dense feed-forward network on one backend, device and dtype.

    ``layers`` is either a list of sizes (``[784, 30, 10]``: Dense layers with ``hidden``
    activations and an ``output`` activation, optionally a Dropout of rate ``dropout`` after
    each hidden layer) or a list of layer objects (``Dense``, ``Dropout``).

    ``l2`` is the regularisation strength lambda of ``C = C0 + lambda/(2n) sum W^2`` (biases
    are not decayed); ``n`` is the training-set size, given to
    [`train_step`][xpnet.network.Network.train_step] by the fit loop, and the batch size where no
    ``n`` is given. ``seed`` fixes the initial weights and the dropout masks; with a given seed they
    are the same on every backend.

    ``precision`` is the policy the GEMMs compute by ([`xpnet.precision`][xpnet.precision]):
    ``"32"`` (the network's dtype throughout), ``"bf16-mixed"`` or ``"16-mixed"`` (float32
    parameters, bfloat16 or float16 GEMMs; Keras's ``"mixed_bfloat16"`` and ``"mixed_float16"``
    too), on a backend that has the compute dtype (torch; CuPy float16). It holds for training,
    the cost, evaluation and predictions alike.
    """

    def __init__(
        self,
        layers: list[int] | list[Layer],
        *,
        hidden: str = "relu",
        output: str = "softmax",
        loss: str | losses.Loss = "cross_entropy",
        init: str | None = None,
        bias_init: str = "zeros",
        dropout: float = 0.0,
        l2: float = 0.0,
        backend: str | Backend = "auto",
        device: Any = None,
        dtype: str = "float32",
        seed: int | None = None,
        precision: str = "32",
    ):
        self.backend = resolve(backend, device)
        self.xp = self.backend.xp
        self.dtype = self.backend.dtype(dtype)
        self.dtype_name = dtype
        self.precision = precision_module.get(precision)
        #: the casts of a mixed policy (None for "32")
        self.mixed = precision_module.bind(self.precision, self.backend, self.dtype)
        self.loss = losses.get(loss)
        self.l2 = float(l2)
        if not self.l2 >= 0.0:
            raise ValueError(f"l2 must be >= 0, not {l2}")
        self.seed = seed
        self.layers: list[Layer] = stack(layers, hidden, output, init, bias_init, dropout)
        self.rng = self.backend.generator(seed)
        # What the model file keeps beside the parameters (set by the fit loop or the CLI):
        self.preprocessing: Any = None      # a fitted xpnet.preprocess.Scaler, applied by users
        self.class_names: list[str] | None = None
        self.training_data: dict[str, Any] | None = None   # the dataset and split trained on
        for layer in self.layers:
            layer.build(self.backend, self.rng, self.dtype)
        # the parameters' names, W1, b1, W2, ..., with their layers, found once
        self._named = [((f"W{i}", f"b{i}"), d) for i, d in enumerate(self.dense_layers, 1)]

    # ------------------------------------------------------------------ structure
    @property
    def dense_layers(self) -> list[Dense]:
        return [layer for layer in self.layers if isinstance(layer, Dense)]

    @property
    def n_inputs(self) -> int:
        return self.dense_layers[0].fan_in

    @property
    def n_outputs(self) -> int:
        return self.dense_layers[-1].fan_out

    @property
    def output_activation(self) -> str:
        return self.dense_layers[-1].activation.name

    @property
    def is_classifier(self) -> bool:
        """Whether the outputs are class probabilities (a softmax or sigmoid output layer), so
        that predictions are classes; otherwise the network regresses real values."""
        return self.output_activation in ("softmax", "sigmoid")

    @property
    def n_params(self) -> int:
        return sum(d.fan_in * d.fan_out + d.fan_out for d in self.dense_layers)

    def parameters(self) -> list[Array]:
        """All parameters in order: [W_1, b_1, W_2, b_2, ...]."""
        return [p for layer in self.dense_layers for p in layer.params()]

    def named_parameters(self) -> dict[str, Array]:
        """Every parameter by name: ``{"W1": W_1, "b1": b_1, "W2": ...}`` (no copies)."""
        out = {}
        for (w, b), d in self._named:
            out[w], out[b] = d.W, d.b
        return out

    def assign(self, params: Mapping[str, Array]) -> None:
        """Take ``params`` (named as [`named_parameters`][xpnet.network.Network.named_parameters],
        arrays of this backend) as the parameters, as they are: the training step's hand-back,
        unchecked."""
        for (w, b), d in self._named:
            d.W, d.b = params[w], params[b]

    def set_parameters(self, params: list[Array]) -> None:
        """Replace every parameter (same order as [`parameters`][xpnet.network.Network.parameters]),
        moved to this backend."""
        dense = self.dense_layers
        if len(params) != 2 * len(dense):
            raise ValueError(f"expected {2 * len(dense)} parameter arrays, got {len(params)}")
        for i, layer in enumerate(dense):
            new = [self.backend.asarray(p, self.dtype, copy=True)
                   for p in params[2 * i : 2 * i + 2]]
            for old, p in zip(layer.params(), new):
                if tuple(p.shape) != tuple(old.shape):
                    raise ValueError(
                        f"parameter of layer {i + 1} has shape {tuple(p.shape)}, "
                        f"expected {tuple(old.shape)}"
                    )
            layer.set_params(new)

    # ------------------------------------------------------------------ data at the edge
    def inputs(self, X: Any) -> Array:
        """``X`` as this network's array (examples, n_inputs) on its device, checked
        ([`xpnet.edge.inputs`][xpnet.edge.inputs]); a SciPy sparse matrix stays sparse on the
        host."""
        return edge.inputs(self.backend, self.dtype, X, self.n_inputs,
                           isinstance(self.layers[0], Dense))

    def targets(self, Y: Any, n_examples: int) -> Array:
        """Targets as float rows (n, n_outputs), checked
        ([`xpnet.edge.targets`][xpnet.edge.targets])."""
        return edge.targets(self.backend, self.dtype, Y, n_examples, self.n_outputs)

    def prepare(self, X: Any, y: Any) -> tuple[Array, Array]:
        """Inputs and targets on the device, checked ([`inputs`][xpnet.network.Network.inputs],
        [`targets`][xpnet.network.Network.targets])."""
        X = self.inputs(X)
        return X, self.targets(y, X.shape[0])

    # ------------------------------------------------------------------ the maths
    @on_its_device
    def forward(self, X: Any) -> Array:
        """Output activations ``A_L`` (batch, n_outputs) in inference mode (no dropout); sparse
        ``X`` a chunk of rows at a time."""
        A = self.inputs(X)
        if isinstance(A, SparseRows):
            n, chunk = A.shape[0], 4096
            return self.xp.concat([self._forward(A[s:min(s + chunk, n)].rows())
                                   for s in range(0, n, chunk)])
        return self._forward(A)

    def _forward(self, A: Array) -> Array:
        xp, m = self.xp, self.mixed   # a mixed policy's casts: the input and each parameter once
        A = A if m is None else m.lower(xp, A)
        for layer in self.layers:
            if m is not None and isinstance(layer, Dense):
                A, _ = layer.forward(xp, A, W=m.lower(xp, layer.W), b=m.lower(xp, layer.b))
            else:
                A, _ = layer.forward(xp, A)
        return A if m is None else m.to_master(xp, A)

    def loss_and_outputs(self, X: Array, Y: Array, *, n: Any = None, training: bool = False,
                         params: Mapping[str, Array] | None = None, weights: Array = None
                         ) -> tuple[Array, Array]:
        """``(C, outputs)`` for a prepared batch: the cost ``C`` (0-d array, with the L2 term
        ``lambda/(2n) sum W^2``, ``n`` the batch size unless given) and the output layer's
        result, ``Z_L`` when the cost fuses with the output activation, else ``A_L``.
        ``weights`` (a column (M, 1), [`example_weights`][xpnet.network.Network.example_weights])
        makes ``C`` the weighted mean ``sum_i w_i C_i / sum_i w_i`` and ``sum_i w_i`` the default
        ``n``."""
        C, _, out = self._objective(X, Y, training, n, False, 1.0, params, weights)
        return C, out

    def loss_and_grads(self, X: Array, Y: Array, *, n: Any = None, scale: float = 1.0,
                       training: bool = True, params: Mapping[str, Array] | None = None,
                       weights: Array = None) -> tuple[Array, dict[str, Array], Array]:
        """``(C, grads, outputs)``: [`loss_and_outputs`][xpnet.network.Network.loss_and_outputs] and
        ``scale`` times its gradient by BP1-BP4, ``{"W1": dC/dW_1, "b1": dC/db_1, ...}``. ``scale``
        is folded into the output error (backprop is linear in it), so it costs one pass over a
        (batch x outputs) array; so are the ``weights`` (each row's error times its share ``w_i /
        sum w``)."""
        C, grads, out = self._objective(X, Y, training, n, True, scale, params, weights)
        assert grads is not None
        return C, grads, out

    def example_weights(self, weights: Any, n_examples: int) -> Array:
        """Per-example weights as a column (n, 1) on the device, checked
        ([`xpnet.edge.example_weights`][xpnet.edge.example_weights])."""
        return edge.example_weights(self.backend, self.dtype, weights, n_examples)

    def _objective(self, X: Array, Y: Array, training: bool, n: Any, grads: bool,
                   scale: float, params: Mapping[str, Array] | None, weights: Array = None
                   ) -> tuple[Array, dict[str, Array] | None, Array]:
        xp, loss, layers = self.xp, self.loss, self.layers
        Y = loss.targets(xp, Y)   # smoothed labels, when the cost asks for them
        P = self.named_parameters() if params is None else params
        fused = self.fused
        shares = None
        if weights is not None:
            shares, n = edge.shares(self.xp, weights, n)
        n = X.shape[0] if n is None else n
        names, mixed = iter(self._named), self.mixed
        # a mixed policy's casts: the batch and each parameter once, the output back to float32
        low = P if mixed is None else {k: mixed.lower(xp, p) for k, p in P.items()}
        backprops, A, last = [], X if mixed is None else mixed.lower(xp, X), len(layers) - 1
        for i, layer in enumerate(layers):
            if isinstance(layer, Dense):
                (w, b), _ = next(names)
                A, bp = layer.forward(xp, A, training, self.rng, not fused or i < last,
                                      low[w], low[b], mixed)
            else:
                A, bp = layer.forward(xp, A, training, self.rng)
            backprops.append(bp)
        A = A if mixed is None else mixed.to_master(xp, A)
        # BP1: the cost C and, when gradients are wanted, the output error D (times scale)
        kernels = self.backend.kernels
        if fused and grads:
            C, D = kernels.output_error(xp, loss, A, Y, scale, shares)
        elif fused:
            C = loss.from_logits(xp, A, Y, False, shares)[0]   # type: ignore[misc]
        else:
            C = loss.value(xp, A, Y, shares)
            if grads:
                D = loss.gradient(xp, A, Y, shares)
                D = D * scale if not isinstance(scale, float) or scale != 1.0 else D
        Ws = [P[w] for (w, _), _ in self._named]
        if self.l2:
            C = C + (self.l2 / (2 * n)) * sum(xp.sum(W * W) for W in Ws)
        if not grads:
            return C, None, A
        # BP2-BP4 layer by layer, down to the first Dense layer (whose input gradient nobody
        # needs, so its backprop skips that GEMM)
        first = next(i for i, layer in enumerate(layers) if isinstance(layer, Dense))
        pairs, k = [], len(Ws)
        for i in range(last, first - 1, -1):
            D, g = backprops[i](D, input_grad=i > first)
            if g:
                k -= 1
                dW, db = g
                if self.l2:   # the L2 term's gradient, (lambda/n) W, times the same scale
                    dW = dW + (scale * self.l2 / n) * Ws[k]
                pairs.append((self._named[k][0], dW, db))
        out: dict[str, Array] = {}
        for (w, b), dW, db in reversed(pairs):
            out[w], out[b] = dW, db
        return C, out, A

    def decide(self, outputs: Array) -> Array:
        """Class decisions from the outputs of
        [`loss_and_outputs`][xpnet.network.Network.loss_and_outputs]: the row argmax, or for a
        single output ``Z >= 0`` (logits) or ``A >= 0.5`` (probabilities), the same decision."""
        return self._classes(outputs, self.fused)

    def scores(self, outputs: Array) -> Array:
        """The output activations ``A_L`` from the outputs of
        [`loss_and_outputs`][xpnet.network.Network.loss_and_outputs]: ``f_L(Z_L)`` where the
        cost fused with the output layer and handed back its logits, else as they are."""
        return self.dense_layers[-1].activation(self.xp, outputs) if self.fused else outputs

    def target_classes(self, Y: Array) -> Array:
        """The class of each target row (one-hot or a 0/1 column)."""
        return self._classes(Y, False)

    def _classes(self, out: Array, logits: bool) -> Array:
        xp = self.xp
        if out.shape[1] == 1:
            return xp.astype(out[:, 0] >= (0.0 if logits else 0.5), xp.int64)
        return xp.argmax(out, axis=1)

    @property
    def fused(self) -> bool:
        """Whether the cost fuses with the output activation (the output layer then hands
        logits to the cost)."""
        return self.loss.fused(self.output_activation)

    @on_its_device
    def cost(self, X: Any, Y: Any, n: int | None = None) -> float:
        """The cost over (X, Y) as a Python float: the mean over the batch, plus
        ``lambda/(2n) sum W^2`` when ``l2`` is set (``n`` defaults to the batch size)."""
        X, Y = self.prepare(X, Y)
        return float(self.loss_and_outputs(X, Y, n=n)[0])

    @on_its_device
    def gradients(
        self, X: Any, Y: Any, n: int | None = None, training: bool = False
    ) -> list[tuple[Array, Array]]:
        """``[(dC/dW, dC/db), ...]``, one pair per Dense layer, each with the shape, dtype and
        device of its parameter: the gradient of [`cost`][xpnet.network.Network.cost] (with
        ``training=True``, of the cost with dropout active, as a training step sees it)."""
        X, Y = self.prepare(X, Y)
        g = list(self.loss_and_grads(X, Y, n=n, training=training)[1].values())
        return [(g[i], g[i + 1]) for i in range(0, len(g), 2)]

    @on_its_device
    def train_step(self, X: Any, Y: Any, optimizer: Any, n: int | None = None) -> Array:
        """One forward pass, backward pass and update on the batch (X, Y), in training mode:
        the fit loop's [`TrainingStep`][xpnet.step.TrainingStep] on one batch.

        Returns the batch cost as a 0-d array of the backend (not a Python float, so that a GPU
        need not wait for the step to finish); ``float(...)`` it when the value is needed.
        """
        from .step import TrainingStep

        X, Y = self.prepare(X, Y)
        return TrainingStep(self, optim.get(optimizer), n=n).update(X, Y)[0]

    @on_its_device
    def predict(self, X: Any) -> Any:
        """The model's answer for rows ``X`` as they come (the same answer as ``xpnet
        predict`` and the ONNX graph give): the input scaling the model carries
        (``preprocessing``) applied first, then for a classifier each row's label
        ([`xpnet.labels.label_values`][xpnet.labels.label_values] of ``class_names``, as a NumPy
        array; the class index where the model names no classes), for a regressor its predicted
        values ((n,) for one output). No rows give an empty answer. The engine's own index-level
        decision on inputs already scaled is
        [`predict_index`][xpnet.network.Network.predict_index]."""
        if self.preprocessing is not None:
            X = np.asarray(to_numpy(X))
            warning = self.preprocessing.range_warning(X)
            if warning:
                warnings.warn(warning, stacklevel=3)
            X = self.preprocessing.transform(X, np.float64 if self.dtype_name == "float64"
                                             else np.float32)
        if getattr(X, "shape", (1,))[0] == 0:
            return empty_answer(self)
        if not self.is_classifier:
            out = self.forward(X)
            return out[:, 0] if self.n_outputs == 1 else out
        return answer_labels(self.predict_index(X), self.class_names)

    @on_its_device
    def predict_index(self, X: Any) -> Array:
        """The engine's class decision for inputs as the first layer takes them (no input
        scaling): indices 0..k-1 (batch,) on the device, the argmax of the outputs, or
        ``output >= 0.5`` for a single (sigmoid) output."""
        return self._classes(self.forward(X), False)

    def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
        """Train on (X, y); see [`xpnet.train.fit`][xpnet.train.fit] for the options. Returns a
        History."""
        return train.fit(self, X, y, **kwargs)

    def evaluate(self, X: Any, y: Any, batch_size: int = 4096, n: Any = None,
                 sample_weight: Any = None) -> dict[str, float]:
        """Cost and accuracy over (X, y) in inference mode (weighted means with
        ``sample_weight``); see [`xpnet.evaluation.evaluate`][xpnet.evaluation.evaluate]."""
        return evaluation.evaluate(self, X, y, batch_size=batch_size, n=n,
                              sample_weight=sample_weight)

    # ------------------------------------------------------------------ copies
    def config(self) -> dict[str, Any]:
        """Everything but the parameters: enough to rebuild the architecture."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss.config(),
            "l2": self.l2,
            "dtype": self.dtype_name,
            "seed": self.seed,
            "precision": self.precision.name,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], backend: str | Backend = "auto", device: Any = None,
        dtype: str | None = None, precision: str | None = None,
    ) -> Network:
        """A network with [`config`][xpnet.network.Network.config]'s architecture and freshly
        initialised parameters (in its precision policy, or ``precision``)."""
        return cls(
            [from_config(c) for c in config["layers"]], loss=config["loss"],
            l2=config.get("l2", 0.0), backend=backend, device=device,
            dtype=dtype or config.get("dtype", "float32"), seed=config.get("seed"),
            precision=precision or config.get("precision", "32"),
        )

    def to(
        self, backend: str | Backend | None = None, device: Any = None, dtype: str | None = None,
        precision: str | None = None,
    ) -> Network:
        """A copy on another backend, device, dtype or precision policy (parameters copied)."""
        if backend is None:   # the same library, on this or another device
            target: str | Backend = self.backend if device is None else self.backend.name
        else:
            target = backend
        net = Network.from_config(self.config(), backend=target, device=device,
                                  dtype=dtype or self.dtype_name, precision=precision)
        net.set_parameters([to_numpy(p) for p in self.parameters()])
        net.preprocessing, net.class_names = self.preprocessing, self.class_names
        net.training_data = self.training_data
        return net

    def save(self, path: Any) -> Any:
        """Save to one file, ``.npz`` or, when the name ends so, ``.safetensors`` (see
        [`xpnet.io.save`][xpnet.io.save]); load either with ``xpnet.load``."""
        return io.save(self, path)

    def to_onnx(self, path: Any = None) -> Any:
        """This network in inference mode as an ONNX model, written to ``path`` when given
        (see [`xpnet.export`][xpnet.export]; needs ``pip install "xpnet[onnx]"``)."""
        return export.to_onnx(self, path)

    def summary(self) -> str:
        lines = [f"Network on {self.backend.describe()}, {self.dtype_name}, loss={self.loss.name}"
                 + (f", l2={self.l2}" if self.l2 else "")
                 + (f", precision={self.precision.name}" if self.mixed else "")]
        for layer in self.layers:
            lines.append(f"  {layer!r}")
        lines.append(f"  {self.n_params:,} parameters")
        return "\n".join(lines)

    def __repr__(self) -> str:
        sizes = [self.n_inputs] + [d.fan_out for d in self.dense_layers]
        return (f"<Network {'-'.join(map(str, sizes))} {self.backend.name} "
                f"{self.dtype_name} loss={self.loss.name}"
                + (f" precision={self.precision.name}>" if self.mixed else ">"))
