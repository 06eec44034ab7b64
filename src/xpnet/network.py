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

import numbers
from pathlib import Path
from typing import Any

from . import activations, export, io, losses, train
from .backend import Backend, BackendError, on_its_device, resolve, to_numpy
from .errors import ModelFileError
from .layers import Dense, Dropout, from_config

Array = Any
Layer = Dense | Dropout


class Network:
    """A dense feed-forward network on one backend, device and dtype.

    ``layers`` is either a list of sizes (``[784, 30, 10]``: Dense layers with ``hidden``
    activations and an ``output`` activation, optionally a Dropout of rate ``dropout`` after
    each hidden layer) or a list of layer objects (``Dense``, ``Dropout``).

    ``l2`` is the regularisation strength lambda of ``C = C0 + lambda/(2n) sum W^2`` (biases
    are not decayed); ``n`` is the training-set size, given to :meth:`train_step` by the fit
    loop, and the batch size where no ``n`` is given. ``seed`` fixes the initial weights and
    the dropout masks; with a given seed they are the same on every backend.
    """

    def __init__(
        self,
        layers: list[int] | list[Layer],
        *,
        hidden: str = "relu",
        output: str = "softmax",
        loss: str = "cross_entropy",
        init: str | None = None,
        bias_init: str = "zeros",
        dropout: float = 0.0,
        l2: float = 0.0,
        backend: str | Backend = "auto",
        device: Any = None,
        dtype: str = "float32",
        seed: int | None = None,
    ):
        self.backend = resolve(backend, device)
        self.xp = self.backend.xp
        self.dtype = self.backend.dtype(dtype)
        self.dtype_name = dtype
        self.loss = losses.get(loss)
        self.l2 = float(l2)
        if not self.l2 >= 0.0:
            raise ValueError(f"l2 must be >= 0, not {l2}")
        self.seed = seed
        self.layers: list[Layer] = _make_layers(layers, hidden, output, init, bias_init, dropout)
        self.rng = self.backend.generator(seed)
        # What the model file keeps beside the parameters (set by the fit loop or the CLI):
        self.preprocessing: Any = None      # a fitted xpnet.preprocess.Scaler, applied by users
        self.class_names: list[str] | None = None
        for layer in self.layers:
            layer.build(self.backend, self.rng, self.dtype)

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

    def set_parameters(self, params: list[Array]) -> None:
        """Replace every parameter (same order as :meth:`parameters`), moved to this backend."""
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
    def _inputs(self, X: Any) -> Array:
        X = self.backend.asarray(X, self.dtype)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (examples, features); got shape {tuple(X.shape)}")
        if X.shape[1] != self.n_inputs:
            raise ValueError(
                f"X has {X.shape[1]} features per example but the network expects {self.n_inputs}"
            )
        return X

    def _targets(self, Y: Any, n_examples: int) -> Array:
        """Targets as float rows (n, n_outputs): one-hot from integer labels (n,), a column
        from (n,) floats or labels when there is one output, else (n, k) as given."""
        xp, k = self.xp, self.n_outputs
        if not self.backend.owns(Y):  # float targets cross to the device in the network's dtype
            Y = to_numpy(Y)
            Y = self.backend.asarray(Y, self.dtype if Y.dtype.kind == "f" else None)
        Y = self.backend.asarray(Y)
        if Y.shape[0] != n_examples:
            raise ValueError(f"X has {n_examples} examples but Y has {Y.shape[0]}")
        integral = xp.isdtype(Y.dtype, ("integral", "bool"))
        if Y.ndim == 1 and integral and k > 1:
            lo, hi = int(xp.min(Y)), int(xp.max(Y))
            if lo < 0 or hi >= k:
                raise ValueError(
                    f"labels must be integers in [0, {k - 1}] for {k} outputs; found {lo}..{hi}"
                )
            import array_api_extra as xpx

            return xpx.one_hot(Y, k, dtype=self.dtype, xp=xp)
        Y = xp.astype(Y, self.dtype) if Y.dtype != self.dtype else Y
        if Y.ndim == 1 and k == 1:
            return xp.reshape(Y, (n_examples, 1))
        if Y.ndim != 2 or Y.shape[1] != k:
            raise ValueError(
                f"Y must be integer labels (n,) or an (n, {k}) array; got shape {tuple(Y.shape)}"
            )
        return Y

    def _batch(self, X: Any, Y: Any) -> tuple[Array, Array]:
        X = self._inputs(X)
        return X, self._targets(Y, X.shape[0])

    # ------------------------------------------------------------------ the maths
    @on_its_device
    def forward(self, X: Any) -> Array:
        """Output activations ``A_L`` (batch, n_outputs) in inference mode (no dropout)."""
        A = self._inputs(X)
        for layer in self.layers:
            A, _ = layer.forward(self.xp, A)
        return A

    def _objective(
        self, X: Array, Y: Array, *, training: bool, n: int | None, grads: bool,
        scale: float = 1.0,
    ) -> tuple[Array, list[tuple[Array, Array]] | None, Array]:
        """The cost ``C`` (0-d array), ``[(dW, db), ...]`` by BP1-BP4 if asked (else None),
        and the output layer's result: ``Z_L`` when the cost fuses with the output activation
        (see :meth:`_classes`), ``A_L`` otherwise. The gradients come multiplied by ``scale``,
        folded into the output error (backprop is linear in it), so scaling costs nothing."""
        xp, loss, kernels = self.xp, self.loss, self.backend.kernels
        layers = self.layers
        dense = [layer for layer in layers if isinstance(layer, Dense)]
        fused = loss.fused(dense[-1].activation.name)
        last = len(layers) - 1
        backprops = []
        A = X
        for i, layer in enumerate(layers):
            if i == last:  # the output layer is always Dense
                A, bp = dense[-1].forward(xp, A, training, self.rng, activate=not fused,
                                          kernels=kernels)
            else:
                A, bp = layer.forward(xp, A, training, self.rng, kernels=kernels)
            backprops.append(bp)
        # BP1: the cost C and, when gradients are wanted, the output error D (times scale:
        # backprop is linear in D, so this (batch x outputs) array is the cheapest place)
        D = None
        if fused and grads:
            C, D = kernels.output_error(xp, loss, A, Y, scale)
        elif fused:
            assert loss.from_logits is not None
            C = loss.from_logits(xp, A, Y, False)[0]
        else:
            C = loss.value(xp, A, Y)
            if grads:
                D = loss.gradient(xp, A, Y)
                D = D * scale if scale != 1.0 else D
        n = X.shape[0] if n is None else n
        if self.l2:
            C = C + (self.l2 / (2 * n)) * sum(xp.sum(d.W * d.W) for d in dense)
        if not grads:
            return C, None, A
        assert D is not None
        # BP2-BP4 layer by layer, down to the first Dense layer (whose input gradient nobody
        # needs, so its backprop skips that GEMM)
        first = layers.index(dense[0])
        out: list[tuple[Array, Array]] = []
        for i in range(last, first - 1, -1):
            D, g = backprops[i](D, input_grad=i > first)
            if g:
                out.append((g[0], g[1]))
        out.reverse()
        if self.l2:
            decay = scale * self.l2 / n
            out = [(dW + decay * d.W, db) for (dW, db), d in zip(out, dense)]
        return C, out, A

    def _classes(self, out: Array, logits: bool = False) -> Array:
        """Class decisions from outputs (or targets): the row argmax, or ``out >= 0.5`` for a
        single output (``Z >= 0`` when ``out`` holds logits, the same decision)."""
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
        X, Y = self._batch(X, Y)
        return float(self._objective(X, Y, training=False, n=n, grads=False)[0])

    @on_its_device
    def gradients(
        self, X: Any, Y: Any, n: int | None = None, training: bool = False
    ) -> list[tuple[Array, Array]]:
        """``[(dC/dW, dC/db), ...]``, one pair per Dense layer, each with the shape, dtype and
        device of its parameter: the gradient of :meth:`cost` (with ``training=True``, of the
        cost with dropout active, as a training step sees it)."""
        X, Y = self._batch(X, Y)
        grads = self._objective(X, Y, training=training, n=n, grads=True)[1]
        assert grads is not None
        return grads

    @on_its_device
    def train_step(self, X: Any, Y: Any, optimizer: Any, n: int | None = None) -> Array:
        """One forward pass, backward pass and update on the batch (X, Y), in training mode.

        Returns the batch cost as a 0-d array of the backend (not a Python float, so that a GPU
        need not wait for the step to finish); ``float(...)`` it when the value is needed.
        """
        X, Y = self._batch(X, Y)
        return self._step(X, Y, optimizer, n)[0]

    def _step(self, X: Array, Y: Array, optimizer: Any, n: int | None,
              reduce: Any = None, share: float = 1.0) -> tuple[Array, Array]:
        """One update on device arrays; returns the cost and the output (see _objective).

        The gradients are computed already multiplied by the optimizer's ``gradient_scale``
        and by ``share``, this process's fraction of a global batch; ``reduce(grads, C)`` then
        sums both over the processes before the update (data parallelism,
        :func:`xpnet.comm.averaging`)."""
        C, grads, out = self._objective(X, Y, training=True, n=n, grads=True,
                                        scale=optimizer.gradient_scale * share)
        assert grads is not None
        dense = self.dense_layers
        flat = [g for pair in grads for g in pair]
        if reduce is not None:
            flat, C = reduce(flat, C * share)
        new = optimizer.step(self.xp, [p for d in dense for p in (d.W, d.b)], flat, scaled=True,
                             kernels=self.backend.kernels)
        for i, layer in enumerate(dense):
            layer.W, layer.b = new[2 * i], new[2 * i + 1]
        return C, out

    @on_its_device
    def predict(self, X: Any) -> Array:
        """Class labels (batch,): the argmax of the outputs, or ``output >= 0.5`` when the
        network has a single (sigmoid) output."""
        return self._classes(self.forward(X))

    def fit(self, X: Any, y: Any, **kwargs: Any) -> Any:
        """Train on (X, y); see :func:`xpnet.train.fit` for the options. Returns a History."""
        return train.fit(self, X, y, **kwargs)

    def evaluate(self, X: Any, y: Any, batch_size: int = 4096) -> dict[str, float]:
        """Cost and accuracy over (X, y) in inference mode; see :func:`xpnet.train.evaluate`."""
        return train.evaluate(self, X, y, batch_size=batch_size)

    # ------------------------------------------------------------------ copies
    def config(self) -> dict[str, Any]:
        """Everything but the parameters: enough to rebuild the architecture."""
        return {
            "layers": [layer.config() for layer in self.layers],
            "loss": self.loss.name,
            "l2": self.l2,
            "dtype": self.dtype_name,
            "seed": self.seed,
        }

    @classmethod
    def from_config(
        cls, config: dict[str, Any], backend: str | Backend = "auto", device: Any = None,
        dtype: str | None = None,
    ) -> Network:
        """A network with :meth:`config`'s architecture and freshly initialised parameters."""
        return cls(
            [from_config(c) for c in config["layers"]], loss=config["loss"],
            l2=config.get("l2", 0.0), backend=backend, device=device,
            dtype=dtype or config.get("dtype", "float32"), seed=config.get("seed"),
        )

    def to(
        self, backend: str | Backend | None = None, device: Any = None, dtype: str | None = None
    ) -> Network:
        """A copy of this network on another backend, device or dtype (parameters copied)."""
        if backend is None:   # the same library, on this or another device
            target: str | Backend = self.backend if device is None else self.backend.name
        else:
            target = backend
        net = Network.from_config(self.config(), backend=target, device=device,
                                  dtype=dtype or self.dtype_name)
        net.set_parameters([to_numpy(p) for p in self.parameters()])
        net.preprocessing, net.class_names = self.preprocessing, self.class_names
        return net

    def save(self, path: Any) -> Any:
        """Save to one file, ``.npz`` or, when the name ends so, ``.safetensors`` (see
        :func:`xpnet.io.save`); load either with ``xpnet.load``."""
        return io.save(self, path)

    def to_onnx(self, path: Any = None) -> Any:
        """This network in inference mode as an ONNX model, written to ``path`` when given
        (see :mod:`xpnet.export`; needs ``pip install "xpnet[onnx]"``)."""
        return export.to_onnx(self, path)

    def summary(self) -> str:
        lines = [f"Network on {self.backend.describe()}, {self.dtype_name}, loss={self.loss.name}"
                 + (f", l2={self.l2}" if self.l2 else "")]
        for layer in self.layers:
            lines.append(f"  {layer!r}")
        lines.append(f"  {self.n_params:,} parameters")
        return "\n".join(lines)

    def __repr__(self) -> str:
        sizes = [self.n_inputs] + [d.fan_out for d in self.dense_layers]
        return (f"<Network {'-'.join(map(str, sizes))} {self.backend.name} "
                f"{self.dtype_name} loss={self.loss.name}>")


def _make_layers(
    spec: list[int] | list[Layer], hidden: str, output: str, init: str | None,
    bias_init: str, dropout: float,
) -> list[Layer]:
    if not isinstance(spec, (list, tuple)) or len(spec) == 0:
        raise TypeError("layers must be a non-empty list of sizes or of layer objects")
    if all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in spec):
        activations.get(hidden)  # a typo fails even where no hidden layer uses the name
        sizes = [int(s) for s in spec]   # type: ignore[arg-type]
        if len(sizes) < 2:
            raise ValueError("a list of sizes needs at least an input and an output size")
        layers: list[Layer] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
            is_output = i == len(sizes) - 2
            layers.append(Dense(a, b, output if is_output else hidden, init, bias_init))
            if dropout and not is_output:
                layers.append(Dropout(dropout))
        return layers
    layers = []
    for layer in spec:
        if not isinstance(layer, (Dense, Dropout)):
            raise TypeError(f"layers must be all sizes or all layer objects; got {layer!r}")
        layers.append(layer)
    if not isinstance(layers[-1], Dense):
        raise ValueError("the last layer must be Dense (it defines the outputs)")
    prev = None
    for layer in layers:
        if isinstance(layer, Dense):
            if prev is not None and layer.fan_in != prev.fan_out:
                raise ValueError(
                    f"{layer!r} takes {layer.fan_in} inputs but the layer before it has "
                    f"{prev.fan_out} outputs"
                )
            prev = layer
    return layers


# --------------------------------------------------------------------- networks from files
def load(path: str | Path, backend: str | Backend = "auto", device: Any = None,
         dtype: str | None = None) -> Network:
    """A network saved by :func:`xpnet.io.save` (``.npz`` or ``.safetensors``, told apart by
    content), on any backend/device, in its saved dtype or ``dtype``."""
    return load_with_state(path, backend, device, dtype)[0]


def load_with_state(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                    dtype: str | None = None
                    ) -> tuple[Network, dict[str, Any] | None, dict[str, Any]]:
    """Like :func:`load`, also returning the training state and the extra arrays."""
    net, header, arrays = _load(path, backend, device, dtype)
    return net, header.get("training"), arrays


def load_with_header(path: str | Path, backend: str | Backend = "auto", device: Any = None,
                     dtype: str | None = None) -> tuple[Network, dict[str, Any]]:
    """Like :func:`load`, also returning the file's header (its ``estimator`` record, say)."""
    net, header, _ = _load(path, backend, device, dtype)
    return net, header


def _load(path: str | Path, backend: str | Backend, device: Any, dtype: str | None
          ) -> tuple[Network, dict[str, Any], dict[str, Any]]:
    from .preprocess import Scaler

    header, arrays, shown = io.read_any(path)
    try:
        net = Network.from_config(header["network"], backend=backend, device=device, dtype=dtype)
    except BackendError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ModelFileError(f"{path}: invalid architecture in model header ({exc})") from None
    net.set_parameters(io.parameters(path, arrays, shown, net.parameters()))
    try:
        if header.get("preprocessing"):
            net.preprocessing = Scaler.from_config(header["preprocessing"])
        names = header.get("class_names")
        net.class_names = [str(n) for n in names] if names is not None else None
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid preprocessing or class names ({exc})") from None
    return net, header, arrays
